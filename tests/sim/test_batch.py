"""run_batch: many conversations, model calls batched across them, each as if run alone."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sim_scenarios import scripted

from duplexsim.config.link import LinkConfig
from duplexsim.config.network import NetworkConfig
from duplexsim.config.scenario import ComputeConfig, Scenario, SideConfig
from duplexsim.models.engine import TokenRequest, drive, run_lockstep
from duplexsim.models.rows import LMRows
from duplexsim.models.sampling import CounterRNG, SamplingConfig
from duplexsim.sim import run
from duplexsim.sim.batch import run_batch


def _pair(agent: Path, seed: int, delay_ms: float, partner: str = "syncllm",
          chunk_ms: int = 160, **kw: object) -> Scenario:
    link = LinkConfig(delay_ms=delay_ms)
    b = (SideConfig(kind="syncllm", agent=str(agent)) if partner == "syncllm"
         else SideConfig(kind="scripted", policy="silent"))
    return Scenario(name=f"s{seed}-{delay_ms:.0f}-{partner}", chunk_ms=chunk_ms, duration_s=4.0,
                    seed=seed, a=SideConfig(kind="syncllm", agent=str(agent)), b=b,
                    network=NetworkConfig(preset="ideal", a_to_b=link, b_to_a=link),
                    **kw)  # type: ignore[arg-type]


def _same(a: Any, b: Any) -> None:
    """Everything a trace holds: both tables, the played and heard timelines, the summary
    and the run's end (the tables alone left a timeline built from other slips unchecked)."""
    for name in ("decisions", "network"):
        x, y = getattr(a, name), getattr(b, name)
        assert x.drop(columns=["compute_wall_ms"], errors="ignore").equals(
            y.drop(columns=["compute_wall_ms"], errors="ignore")), name
    np.testing.assert_array_equal(a.units, b.units)
    assert a.heard.keys() == b.heard.keys()
    for key in a.heard:
        np.testing.assert_array_equal(a.heard[key], b.heard[key])
    assert a.summary() == b.summary() and a.extra == b.extra
    assert a.silence_units == b.silence_units and a.tokenizer_dir == b.tokenizer_dir


def test_batch_equals_each_conversation_run_alone(tiny_agent_dir: Path) -> None:
    # different seeds, delays (so different lookaheads per round), chunk sizes and partners
    scenarios = [_pair(tiny_agent_dir, 0, 0.0), _pair(tiny_agent_dir, 1, 350.0),
                 _pair(tiny_agent_dir, 2, 90.0, partner="scripted"),
                 _pair(tiny_agent_dir, 3, 200.0, chunk_ms=200)]
    batched = run_batch(scenarios)
    for scenario, trace in zip(scenarios, batched, strict=True):
        _same(trace, run(scenario))
        assert trace.scenario.name == scenario.name


def test_batch_is_reproducible_and_keeps_order(tiny_agent_dir: Path) -> None:
    scenarios = [_pair(tiny_agent_dir, s, 100.0 * s) for s in range(3)]
    first, second = run_batch(scenarios), run_batch(scenarios)
    for a, b in zip(first, second, strict=True):
        _same(a, b)
    assert [t.scenario.seed for t in first] == [0, 1, 2]


def test_batch_without_model_sides_and_with_profile_compute(tiny_agent_dir: Path) -> None:
    plain = [scripted(seed=s, duration_s=3.0) for s in range(2)]
    for scenario, trace in zip(plain, run_batch(plain), strict=True):
        _same(trace, run(scenario))
    profile = ComputeConfig(model="profile", decode_ms_per_token=4.0, prefill_ms_per_token=0.5)
    s = _pair(tiny_agent_dir, 5, 0.0, compute=profile)
    (trace,) = run_batch([s])
    _same(trace, run(s))
    assert trace.decisions["compute_ms"].max() > 0


def test_batch_refuses_measured_compute_and_names_failures(tiny_agent_dir: Path) -> None:
    measured = _pair(tiny_agent_dir, 0, 0.0, compute=ComputeConfig(model="measured"))
    with pytest.raises(ValueError, match="compute.model: 'measured' cannot be batched"):
        run_batch([measured])
    bad = dataclasses.replace(_pair(tiny_agent_dir, 0, 0.0), chunk_ms=120, name="odd-chunk")
    with pytest.raises(ValueError, match=r"not trained for chunk_ms=120 \(scenario a.agent\) "
                                         r"\(run_batch scenario 1 'odd-chunk'\)"):
        run_batch([_pair(tiny_agent_dir, 1, 0.0), bad])


def test_batch_model_side_error_names_the_scenario_by_index(tiny_agent_dir: Path,
                                                            tmp_path: Path) -> None:
    """A syncllm side's error (built by the shared-model path) named the scenario only
    ("scenario cell: b.agent"): sweep cells share one name, so the index, as other build
    errors do."""
    from duplexsim.errors import MissingInputError

    cell = dataclasses.replace(_pair(tiny_agent_dir, 0, 0.0), name="cell")
    broken = dataclasses.replace(cell, seed=1, b=SideConfig(kind="syncllm",
                                                            agent=str(tmp_path / "gone")))
    with pytest.raises(MissingInputError) as info:
        run_batch([cell, cell, broken])
    text = str(info.value)
    assert "\n" not in text and "(scenario b.agent) (run_batch scenario 2 'cell')" in text


def test_batch_build_error_names_the_scenario(tmp_path: Path) -> None:
    """A side that failed to build said which side ("scenario a.corpus") but not which of
    the batch's scenarios; sweep cells share their scenario's name, so the index too."""
    from duplexsim.errors import MissingInputError

    fine = scripted(seed=0, duration_s=2.0)
    broken = dataclasses.replace(fine, name="broken", a=SideConfig(
        kind="replay", corpus=str(tmp_path / "missing"), channel=0))
    with pytest.raises(MissingInputError) as info:
        run_batch([fine, broken])
    text = str(info.value)
    assert "\n" not in text and "(scenario a.corpus / a.dialogue)" in text
    assert "(run_batch scenario 1 'broken')" in text


def test_batch_of_what_is_no_list_of_scenarios_is_one_line() -> None:
    """A path in the list failed as ``'str' object has no attribute 'compute'``, and one
    Scenario given alone as ``'Scenario' object is not iterable``; nothing runs."""
    fine = scripted(seed=0, duration_s=2.0)
    with pytest.raises(TypeError, match=r"^scenarios\[1\]: got str \(allowed: a Scenario; "
                                        r"a scenario file is read with duplexsim.config"):
        run_batch([fine, "scenarios/replay-lan.toml"])  # type: ignore[list-item]
    for alone in (fine, "scenarios/replay-lan.toml"):
        with pytest.raises(TypeError, match=r"^scenarios: got (Scenario|str) \(allowed: a "
                                            r"list of Scenarios; run\(scenario\) simulates "
                                            r"one\)$"):
            run_batch(alone)  # type: ignore[arg-type]


@pytest.mark.parametrize("backend", ["x", "Lean", None])
def test_batch_refuses_an_unknown_backend_though_no_side_uses_a_model(backend: object) -> None:
    """Only a model side's LMRows read ``backend``: with replay and scripted sides a typo
    (or a backend of another tool) was accepted and did nothing."""
    with pytest.raises(ValueError, match=r"^backend=.* \(allowed: auto, lean, hf\)$"):
        run_batch([scripted(seed=0, duration_s=2.0)], backend=backend)  # type: ignore[arg-type]
    assert len(run_batch([scripted(seed=0, duration_s=2.0)], backend="hf")) == 1


def test_batch_build_error_closes_the_sessions_built_before_it(tmp_path: Path) -> None:
    """Scenario 2 failing to build left the sessions of 0 and 1 open (their speakers' frames
    in cycles, left to the cyclic collector)."""
    import gc

    from duplexsim.errors import MissingInputError
    from duplexsim.sim import Session

    fine = scripted(seed=0, duration_s=2.0)
    broken = dataclasses.replace(fine, name="broken", a=SideConfig(
        kind="replay", corpus=str(tmp_path / "missing"), channel=0))
    gc.collect()
    gc.disable()
    try:
        with pytest.raises(MissingInputError):
            run_batch([fine, fine, broken])
        left_open = [o for o in gc.get_objects() if type(o) is Session and not o.closed]
    finally:
        gc.enable()
    assert left_open == []  # (closed, they were freed at once)


def test_lockstep_runs_one_forward_per_round_for_all_live_programs(tiny_agent_dir: Path,
                                                                    ) -> None:
    from duplexsim.models.agentdir import load_agent_files

    files = load_agent_files(tiny_agent_dir)
    calls = [2, 5, 3]  # programs ask different numbers of times, then leave

    def program(lm: LMRows, b: int):  # noqa: ANN202 - an engine program
        row, rng, got = lm.add_row(), CounterRNG(b), []
        lm.append(row, [b + 1])
        for _ in range(calls[b]):
            token = yield TokenRequest(lm, row, SamplingConfig(), rng)
            got.append(token)
            lm.append(row, [token])
        return got

    lm = LMRows(files.model, files.vocab.n_units, 64)
    together = run_lockstep([program(lm, b) for b in range(3)])
    assert lm.n_forwards == max(calls)  # every live program's request shares its round
    alone = [drive(program(LMRows(files.model, files.vocab.n_units, 64), b)) for b in range(3)]
    assert together == alone and [len(t) for t in together] == calls


def test_scripted_partner_speaks_the_trained_agents_unit_vocabulary(tiny_agent_dir: Path) -> None:
    import json

    n_units = json.loads((tiny_agent_dir / "agent.json").read_text())["n_units"]
    scenario = _pair(tiny_agent_dir, 0, 0.0, partner="scripted")
    scenario = dataclasses.replace(scenario, b=SideConfig(kind="scripted", policy="random-talker"))
    played = run(scenario).timeline()["b_played"].to_numpy()
    assert (played != 0).any() and played.max() < n_units < 501


def test_same_seed_same_bytes_alone_or_in_any_batch(tiny_agent_dir: Path, tmp_path: Path,
                                                    ) -> None:
    # fp32, tiny agent: the conversation's tokens and every trace file are identical
    # whatever it is batched with (other seeds, delays, chunk sizes, partners)
    target = dataclasses.replace(_pair(tiny_agent_dir, 7, 120.0), output=_no_audio())
    others = [_pair(tiny_agent_dir, 1, 0.0), _pair(tiny_agent_dir, 2, 300.0, chunk_ms=200),
              _pair(tiny_agent_dir, 3, 40.0, partner="scripted")]
    alone = run(target).save(tmp_path / "alone")
    first = run_batch([others[0], target, others[1]])[1].save(tmp_path / "first")
    second = run_batch([target, others[2]])[0].save(tmp_path / "second")
    names = sorted(p.name for p in alone.iterdir())
    assert {"decisions.parquet", "network.parquet", "timeline.parquet"} <= set(names)
    for name in names:
        data = (alone / name).read_bytes()
        assert (first / name).read_bytes() == data, name
        assert (second / name).read_bytes() == data, name


def _no_audio():  # noqa: ANN202
    from duplexsim.config.scenario import OutputConfig

    return OutputConfig(audio=False)


def test_batches_leave_no_token_rows_behind(tiny_agent_dir: Path) -> None:
    """Each run_batch holds its own token rows (a row per syncllm side) only while it runs:
    after several batches none is left, without the cyclic garbage collector (the rows' KV
    caches would otherwise add up over a sweep's batches until a full collection)."""
    import gc

    def alive() -> list[LMRows]:
        # type(), not isinstance: isinstance reads every object's __class__, and a deprecated
        # torch attribute among them warns
        return [o for o in gc.get_objects() if type(o) is LMRows]

    gc.collect()
    before = alive()  # (another test's, e.g. held by a failure's traceback)
    gc.disable()
    try:
        for first in range(0, 6, 2):
            traces = run_batch([_pair(tiny_agent_dir, s, 100.0 * s) for s in (first, first + 1)])
            assert len(traces) == 2
            assert not [o for o in alive() if not any(o is b for b in before)]
    finally:
        gc.enable()


def test_a_batch_closes_every_agent_it_built_once(tiny_agent_dir: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The model sides run_batch builds (a row each of one shared model) and the sides each
    session builds were never closed; now each once, also when a scenario fails to build."""
    from duplexsim.agents.scripted import ScriptedAgent
    from duplexsim.agents.syncllm import SyncLLMAgent
    from duplexsim.errors import MissingInputError

    closed: list[tuple[str, int]] = []
    original = SyncLLMAgent.close

    def counting(self: SyncLLMAgent) -> None:
        closed.append((self.name, id(self)))
        original(self)

    monkeypatch.setattr(SyncLLMAgent, "close", counting)
    monkeypatch.setattr(ScriptedAgent, "close", lambda self: closed.append((self.name, id(self))),
                        raising=False)
    run_batch([_pair(tiny_agent_dir, 0, 0.0), _pair(tiny_agent_dir, 1, 0.0, partner="scripted")])
    assert len(set(closed)) == len(closed) == 4
    assert sorted(name for name, _ in closed) == ["a:" + tiny_agent_dir.name] * 2 + [
        "b:" + tiny_agent_dir.name, "scripted:silent:b"]
    closed.clear()  # scenario 1's replay side fails to build: the 3 model sides still close
    broken = dataclasses.replace(_pair(tiny_agent_dir, 1, 0.0), b=SideConfig(
        kind="replay", corpus=str(tiny_agent_dir / "missing"), channel=0))
    with pytest.raises(MissingInputError, match="run_batch scenario 1"):
        run_batch([_pair(tiny_agent_dir, 0, 0.0), broken])
    assert len(set(closed)) == len(closed) == 3


def test_a_batch_closes_every_session_and_agent_even_if_a_close_raises(
        tiny_agent_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each session, then each model side built here, is closed even if an earlier close
    raises, and the first error is raised (a failing model side's close replaced it)."""
    from duplexsim.agents.syncllm import SyncLLMAgent
    from duplexsim.sim import Session

    closed: list[str] = []
    session_close, agent_close = Session.close, SyncLLMAgent.close

    def failing_session(self: Session) -> None:
        closed.append(f"session {self.scenario.seed}")
        session_close(self)
        raise RuntimeError(f"session {self.scenario.seed} failed")

    def failing_agent(self: SyncLLMAgent) -> None:
        closed.append(self.name)
        agent_close(self)
        raise RuntimeError(f"{self.name} failed")

    monkeypatch.setattr(Session, "close", failing_session)
    monkeypatch.setattr(SyncLLMAgent, "close", failing_agent)
    with pytest.raises(RuntimeError, match="^session 0 failed"):
        run_batch([_pair(tiny_agent_dir, 0, 0.0, partner="scripted"),
                   _pair(tiny_agent_dir, 1, 0.0, partner="scripted")])
    assert closed == ["session 0", "session 1"] + ["a:" + tiny_agent_dir.name] * 2
