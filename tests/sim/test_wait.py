"""estimation = "wait": the side stalls for the real partner chunks and its playout slips."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sim_scenarios import scripted
from syncllm_fixtures import synthetic_dialogues

from duplexsim.agents.replay import ReplayAgent
from duplexsim.config.link import LinkConfig
from duplexsim.config.link_presets import resolve_link
from duplexsim.config.loader import from_dict
from duplexsim.config.network import NetworkConfig
from duplexsim.config.scenario import BufferConfig, ComputeConfig, Scenario, SideConfig
from duplexsim.errors import ConfigError
from duplexsim.metrics.latency import trace_metrics
from duplexsim.sim import Session, run
from duplexsim.sim.delivery import Delivery

C = 160  # ms per chunk (4 frames)
F = C // 40


def wait_side(agent_dir: Path) -> SideConfig:
    return SideConfig(kind="syncllm", agent=str(agent_dir), temperature=0.0, estimation="wait")


def replay_partner() -> ReplayAgent:
    """Replays one channel of a synthetic dialogue in the tiny agent's 20-unit inventory."""
    return ReplayAgent(synthetic_dialogues(1, seconds=10.0)[0].units[1], F, name="replay")


def constant(delay_ms: float, **kw: object) -> NetworkConfig:
    link = LinkConfig(delay_ms=delay_ms, **kw)  # type: ignore[arg-type]
    return NetworkConfig(preset="ideal", a_to_b=link, b_to_a=link)


def of(trace, key: str) -> pd.DataFrame:  # noqa: ANN001
    return trace.decisions[trace.decisions["agent"] == key].reset_index(drop=True)


@pytest.mark.parametrize("delay_ms", [0, 80, 200, 450])
def test_wait_side_against_a_replay_partner_slips_by_the_delay(
        tiny_agent_dir: Path, delay_ms: int) -> None:
    scenario = Scenario(chunk_ms=C, duration_s=2.4, a=wait_side(tiny_agent_dir),
                        b=SideConfig(kind="replay"), network=constant(float(delay_ms)))
    n = scenario.n_chunks
    trace = run(scenario, agents={"b": replay_partner()})
    a = of(trace, "a")
    # never estimates: every partner chunk < j is there when chunk j is produced
    assert (a["lookahead"] == 0).all() and (a["agent_lookahead"] == 0).all()
    assert not any(len(e) for e in a["estimated_units"])
    assert not a["deadline_miss"].any() and not a["skipped"].any()
    # Partner chunk j-1 is sent at the end of its chunk (j C) and arrives d later, so own
    # chunk j (due at j C + slip) is ready at j C + d: chunk 1 stalls d, then it keeps pace.
    j = np.arange(n)
    assert a["stall_ms"].tolist() == [0, delay_ms] + [0] * (n - 2)
    assert a["slip_ms"].tolist() == [0] + [delay_ms] * (n - 1)
    start = j * C + np.where(j >= 1, delay_ms, 0)
    assert (a["deadline_ms"] == start).all()
    assert (a.loc[1:, "decided_ms"] == start[1:]).all()  # decided when the chunk arrives
    sent = trace.network.query("direction == 'A->B' and copy == 0")["sent_ms"]
    assert (sent.to_numpy() == start + C).all()
    # the partner hears every chunk C + d after it started (slip included)
    used = trace.network.query("direction == 'A->B' and status == 'used'")
    assert (used["mouth_to_ear_ms"] == C + delay_ms).all()
    # the global timeline: chunk 0, a silent slip gap, then chunks 1.. shifted by d
    T = round(scenario.duration_s * 1000) // 40 + -(-delay_ms // 40)
    assert trace.units.shape == (2, T)
    played = np.stack(a["played_units"].map(np.asarray).to_list())  # [n, F]
    want = np.zeros(T, np.int64)
    for k in range(n):
        idx = (start[k] + 40 * np.arange(F)) // 40
        want[idx] = played[k]
    assert np.array_equal(trace.units[0], want)
    gap = trace.units[0][F:(C + delay_ms) // 40]
    assert (gap == 0).all() and len(gap) == delay_ms // 40
    assert trace.extra["end_ms"] == n * C + delay_ms + 1  # the run ends at the last send
    assert trace.summary()["agents"]["a"]["stall_total_ms"] == delay_ms
    row = trace_metrics(trace, C)
    assert row["stall_total_ms_a"] == delay_ms and row["stall_total_ms_b"] == 0
    assert row["deadline_miss_rate"] == 0


@pytest.mark.parametrize("delay_ms,compute_ms", [(0, 0), (120, 0), (80, 30)])
def test_both_sides_wait_like_walkie_talkies(tiny_agent_dir: Path, delay_ms: int,
                                             compute_ms: int) -> None:
    compute = (ComputeConfig(model="profile", overhead_ms=float(compute_ms)) if compute_ms
               else ComputeConfig())
    side = wait_side(tiny_agent_dir)
    scenario = Scenario(chunk_ms=C, duration_s=2.4, a=side, b=side, compute=compute,
                        network=constant(float(delay_ms)))
    n = scenario.n_chunks
    trace = run(scenario)
    # chunk j of either side waits for the partner's chunk j-1, which ends C after it
    # started and arrives d later; + compute c: chunk j >= 1 starts at j (C + d + c)
    period = C + delay_ms + compute_ms
    for key in ("a", "b"):
        d = of(trace, key)
        assert d["chunk"].tolist() == list(range(n))
        assert (d["deadline_ms"] == d["chunk"] * period).all()
        assert (d["lookahead"] == 0).all() and not d["deadline_miss"].any()
        assert d["slip_ms"].iloc[-1] == (n - 1) * (period - C)
    assert trace.extra["end_ms"] == (n - 1) * period + C + 1
    for _direction, g in trace.network.groupby("direction"):
        assert sorted(g.loc[g["copy"] == 0, "chunk"]) == list(range(n))  # every chunk sent
        in_flight = (g["status"] == "in-flight").sum()
        assert len(g) == g["arrival_ms"].notna().sum() + g["lost"].sum() + in_flight
    assert all(v["accounted"] for v in trace.summary()["directions"].values())


def test_same_seed_same_bytes_with_a_wait_side(tiny_agent_dir: Path, tmp_path: Path) -> None:
    scenario = Scenario(chunk_ms=C, duration_s=2.4, seed=3, a=wait_side(tiny_agent_dir),
                        b=SideConfig(kind="syncllm", agent=str(tiny_agent_dir)),
                        network=NetworkConfig(preset="mobile-lte"),
                        buffer=BufferConfig(give_up_ms=200))
    outs = [run(scenario).save(tmp_path / name, audio=True) for name in ("one", "two")]
    files = sorted(p.name for p in outs[0].iterdir())
    assert "audio.wav" in files and "decisions.parquet" in files
    for name in files:
        assert (outs[0] / name).read_bytes() == (outs[1] / name).read_bytes(), name
    columns = pd.read_parquet(outs[0] / "decisions.parquet").columns
    assert {"stall_ms", "slip_ms"} <= set(columns)


def test_stall_columns_stay_out_of_files_without_a_wait_side(tmp_path: Path) -> None:
    trace = run(scripted(200, 2.0, delay_ms=60.0))
    assert (trace.decisions[["stall_ms", "slip_ms"]] == 0).all().all()
    columns = pd.read_parquet(trace.save(tmp_path, audio=False) / "decisions.parquet").columns
    assert "stall_ms" not in columns and "slip_ms" not in columns


@pytest.mark.parametrize("give_up_ms", [0, 100])
def test_loss_with_waiting_sides_finishes(tiny_agent_dir: Path, give_up_ms: int) -> None:
    # 30 % loss both ways: chunks lost in both directions at once would stall two waiting
    # sides for each other forever without the lost-chunk give-up (seed 0 does that)
    link = LinkConfig(delay_ms=80.0, jitter_ms=30.0, jitter_dist="normal", loss=0.3,
                      loss_model="bernoulli", ordering="reorder", duplicate=0.1)
    side = wait_side(tiny_agent_dir)
    scenario = Scenario(chunk_ms=C, duration_s=3.2, seed=0, a=side, b=side,
                        network=NetworkConfig(a_to_b=link, b_to_a=link),
                        buffer=BufferConfig(give_up_ms=give_up_ms))
    trace = run(scenario)
    summary = trace.summary()
    assert all(v["accounted"] for v in summary["directions"].values())
    assert (trace.network["status"] == "lost").sum() > 5
    for key, direction in (("a", "B->A"), ("b", "A->B")):
        d = of(trace, key)
        assert d["chunk"].tolist() == list(range(scenario.n_chunks))
        assert not d["deadline_miss"].any() and d["stall_ms"].sum() > 0
        # only chunks the buffer gave up (lost or too late) are estimated
        net = trace.network[trace.network["direction"] == direction]
        used = set(net.loc[net["status"].isin(["used", "released"]), "chunk"])
        estimated = {k for ks in d["estimated_chunks"] for k in ks}
        assert estimated and not estimated & used


SPIKY = LinkConfig(delay_ms=80.0, loss=0.2, loss_model="bernoulli", spike_period_s=1.0,
                  spike_ms=300.0, spike_duration_ms=200.0)
GIVE_UP = 100


def spiked_before_a_loss(net: pd.DataFrame) -> list[int]:
    """B->A chunks ``k`` that arrived still in flight when lost chunk ``k + 1`` was given up
    (at its send + the base delay + ``GIVE_UP``): a spike's +300 ms is on ``k``."""
    lost = set(net.loc[net["lost"], "chunk"])
    due = net[~net["lost"]].set_index("chunk")["due_ms"]
    sent = net.set_index("chunk")["sent_ms"]
    return [k for k in due.index if k + 1 in lost
            and due[k] > sent[k + 1] + SPIKY.delay_ms + GIVE_UP]


def seed_spiking_before_a_loss(duration_s: float) -> int:
    """The first seed whose B->A link has such a chunk early enough to be used. Loss draws
    and the spike phase come from the scenario seed alone and the partner sends at (k + 1) C
    either way, so two scripted talkers find it; the test checks it in its own run."""
    network = NetworkConfig(preset="ideal", b_to_a=SPIKY)
    for seed in range(200):
        trace = run(scripted(C, duration_s, seed=seed, network=network))
        net = trace.network[trace.network["direction"] == "B->A"]
        if any(k + 3 < trace.scenario.n_chunks for k in spiked_before_a_loss(net)):
            return seed
    raise AssertionError("no seed in 0..199 spikes a B->A chunk just before a lost one")


def test_a_lost_chunk_gives_up_no_chunk_still_in_flight(tiny_agent_dir: Path) -> None:
    """Chunk k, sent in a delay spike (80 + 300 ms), is still in flight when chunk k + 1,
    lost, is given up (at its send + 80 + give_up_ms, 40 ms before k arrives): only k + 1 is
    given up, k waits and is used (it was given up with it and arrived "late", its units
    never reaching the agent). The seed is searched for such a pair."""
    scenario = Scenario(chunk_ms=C, duration_s=3.2, seed=seed_spiking_before_a_loss(3.2),
                        a=wait_side(tiny_agent_dir), b=SideConfig(kind="replay"),
                        network=NetworkConfig(preset="ideal", b_to_a=SPIKY),
                        buffer=BufferConfig(give_up_ms=GIVE_UP))
    trace = run(scenario, agents={"b": replay_partner()})
    net = trace.network[trace.network["direction"] == "B->A"]
    spiked = [k for k in spiked_before_a_loss(net) if k + 3 < scenario.n_chunks]
    assert spiked  # the case this test is about happened in this run
    status = net.set_index("chunk")["status"]
    estimated = {k for ks in of(trace, "a")["estimated_chunks"] for k in ks}
    for k in spiked:
        assert status[k] == "used" and k not in estimated, k
        assert k + 1 in estimated, k  # the lost one was given up and estimated


def test_a_stuck_wait_is_reported_not_hung(tiny_agent_dir: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    link = LinkConfig(delay_ms=80.0, loss=0.3, loss_model="bernoulli")
    side = wait_side(tiny_agent_dir)
    scenario = Scenario(chunk_ms=C, duration_s=3.2, a=side, b=side,
                        network=NetworkConfig(a_to_b=link, b_to_a=link),
                        buffer=BufferConfig(give_up_ms=100))
    monkeypatch.setattr(Delivery, "_give_up_lost", lambda *_: None)  # no lost-chunk give-up
    with pytest.raises(RuntimeError, match="waits for partner chunk"):
        run(scenario)


def test_stepping_a_waiting_session_equals_run(tiny_agent_dir: Path) -> None:
    scenario = Scenario(chunk_ms=C, duration_s=1.6, a=wait_side(tiny_agent_dir),
                        b=SideConfig(kind="replay"), network=constant(200.0))
    session = Session(scenario, {"b": replay_partner()})
    nominal_end = session.end_ms
    assert nominal_end == scenario.n_chunks * C
    while not session.done:
        session.advance_chunk()
    assert session.end_ms == nominal_end + 200 and session.now == session.end_ms + 1
    stepped, whole = session.finish(), run(scenario, agents={"b": replay_partner()},
                                           progress=True)
    assert stepped.network.equals(whole.network)
    assert stepped.decisions.drop(columns="compute_wall_ms").equals(
        whole.decisions.drop(columns="compute_wall_ms"))


def test_never_giving_up_over_a_lossy_link_is_refused() -> None:
    data = {"a": {"kind": "syncllm", "agent": "x", "estimation": "wait"},
            "network": {"preset": "continental"}, "buffer": {"give_up_ms": -1}}
    with pytest.raises(ConfigError) as info:
        from_dict(Scenario, data, file="s.toml")
    text = str(info.value)
    assert text.startswith("s.toml: buffer.give_up_ms: -1 (never give up)")
    assert "b_to_a can lose chunks" in text and "(allowed: >= 0" in text
    # fine: nothing can be lost, or nobody waits
    from_dict(Scenario, {**data, "network": {"preset": "lan"}})
    from_dict(Scenario, {**data, "a": {"kind": "syncllm", "agent": "x"}})
    lossy_back = {"preset": "ideal", "a_to_b": {"loss": 0.1, "loss_model": "bernoulli"}}
    from_dict(Scenario, {**data, "network": lossy_back})  # a's incoming link is lossless
    assert dataclasses.replace(Scenario(), buffer=BufferConfig(give_up_ms=-1))


def test_a_gilbert_elliott_chain_without_a_mean_loss_counts_as_lossy() -> None:
    """ge_p / ge_r with loss = 0: make_loss built a lossy chain but the scenario check looked
    at ``loss`` only, so a never-giving-up waiting side validated and the run stalled, then
    raised a RuntimeError with a traceback."""
    from duplexsim.sim.loss import NoLoss, make_loss

    chain = {"delay_ms": 40.0, "loss_model": "gilbert-elliott", "ge_p": 0.2, "ge_r": 0.5}
    data = {"a": {"kind": "syncllm", "agent": "x", "estimation": "wait"},
            "network": {"preset": "ideal", "b_to_a": chain}, "buffer": {"give_up_ms": -1}}
    with pytest.raises(ConfigError, match=r"^s.toml: buffer.give_up_ms: -1 \(never give up\) "
                       r".* b_to_a can lose chunks \(gilbert-elliott ge_p 0.2, ge_r 0.5\)"):
        from_dict(Scenario, data, file="s.toml")
    # the check and the simulator's loss process agree, link by link
    for preset in ("ideal", "lan", "continental", "mobile-lte"):
        for given in ({}, chain, {"loss": 0.1}, {"loss": 0.0},
                      {"loss_model": "none", "loss": 0.0}):
            link = NetworkConfig(preset=preset, b_to_a=LinkConfig(**given)).hops("b_to_a")[0]
            built = make_loss(link, np.random.default_rng(0))
            assert link.can_lose() == (not isinstance(built, NoLoss)), (preset, given)


def test_a_gilbert_elliott_chain_whose_states_lose_nothing_is_not_lossy() -> None:
    """ge_p / ge_r with loss_bad = loss_good = 0 loses nothing (0 of 100000 packets), but
    can_lose said True, so a never-giving-up waiting side behind it was refused."""
    from duplexsim.sim.loss import GilbertElliottLoss, NoLoss, make_loss

    chain = {"delay_ms": 40.0, "loss_model": "gilbert-elliott", "ge_p": 0.2, "ge_r": 0.5,
             "loss_bad": 0.0, "loss_good": 0.0}
    link = NetworkConfig(preset="ideal", b_to_a=LinkConfig(**chain)).hops("b_to_a")[0]
    assert not link.can_lose() and isinstance(make_loss(link, np.random.default_rng(0)), NoLoss)
    data = {"a": {"kind": "syncllm", "agent": "x", "estimation": "wait"},
            "network": {"preset": "ideal", "b_to_a": chain}, "buffer": {"give_up_ms": -1}}
    from_dict(Scenario, data, file="s.toml")  # nothing can be lost: waiting forever is fine
    # the chain replaces loss: a mean loss beside it does not make it lossy (and a scenario
    # refuses it: it would change nothing) ...
    assert not resolve_link("ideal", LinkConfig(**chain, loss=0.1)).can_lose()
    with pytest.raises(ValueError, match=r"b_to_a\.loss: 0\.1 beside ge_p"):
        NetworkConfig(b_to_a=LinkConfig(**chain, loss=0.1))
    # ... and either state's loss does
    for state in ("loss_bad", "loss_good"):
        lossy = NetworkConfig(b_to_a=LinkConfig(**{**chain, state: 0.3})).hops("b_to_a")[0]
        built = make_loss(lossy, np.random.default_rng(0))
        assert lossy.can_lose() and isinstance(built, GilbertElliottLoss), state
        assert sum(built.lost() for _ in range(2000)) > 0, state
