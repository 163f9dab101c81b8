"""A TDM side in the simulator: against SyncLLM and replay, same seed same trace, named errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from duplexsim.cli import main
from duplexsim.config.link import LinkConfig
from duplexsim.config.network import NetworkConfig
from duplexsim.config.scenario import Scenario, SideConfig
from duplexsim.errors import ConfigError
from duplexsim.sim import run


@pytest.fixture(scope="module")
def tdm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tdm_fixtures import train_tiny_tdm_agent

    return train_tiny_tdm_agent(tmp_path_factory.mktemp("tdm") / "tiny-tdm", steps=2)


@pytest.fixture(scope="module")
def sync_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from duplexsim.bench.bench_envs import train_tiny_agent

    return train_tiny_agent(tmp_path_factory.mktemp("sync") / "tiny-sync", steps=2)


def scenario(a: SideConfig, b: SideConfig, delay_ms: float = 80.0, seed: int = 0,
             **kw: object) -> Scenario:
    link = LinkConfig(delay_ms=delay_ms)
    return Scenario(chunk_ms=160, duration_s=6.4, seed=seed, a=a, b=b,
                    network=NetworkConfig(preset="ideal", a_to_b=link, b_to_a=link),
                    **kw)  # type: ignore[arg-type]


def test_tdm_against_syncllm_same_seed_same_trace(tdm_dir: Path, sync_dir: Path) -> None:
    tdm = SideConfig(kind="tdm", agent=str(tdm_dir), slice_ms=640)
    sync = SideConfig(kind="syncllm", agent=str(sync_dir))
    first, again = run(scenario(tdm, sync)), run(scenario(tdm, sync))
    other = run(scenario(tdm, sync, seed=1))
    assert np.array_equal(first.units, again.units)
    wall = ["compute_wall_ms"]  # the only wall-clock column
    pd.testing.assert_frame_equal(first.decisions.drop(columns=wall),
                                  again.decisions.drop(columns=wall))
    pd.testing.assert_frame_equal(first.network, again.network)
    assert not np.array_equal(first.units, other.units)
    a = first.decisions[first.decisions["agent"] == "a"].set_index("chunk")
    assert len(a) == 40 and a["name"].iloc[0] == "a:tiny-tdm"
    # tokens are sampled as the slice plays; a new slice (every 4 chunks from chunk 1, the
    # lead) re-feeds the context
    assert (a.loc[(a.index % 4 == 1) & (a.index > 1), "prefill_tokens"] > 0).all()
    assert a.loc[0, "generated_tokens"] == 0 and not first.units[0, :4].any()
    assert a["generated_tokens"].sum() > 0
    assert first.units[0].any() and first.units[1].any()  # both sides spoke


def test_tdm_against_tdm_with_compute_and_a_replay_partner(tdm_dir: Path) -> None:
    from duplexsim.config.scenario import ComputeConfig

    tdm = SideConfig(kind="tdm", agent=str(tdm_dir), slice_ms=800, temperature=0.8)
    trace = run(scenario(tdm, tdm, compute=ComputeConfig(model="profile",
                                                         decode_ms_per_token=2.0)))
    assert (trace.decisions["compute_ms"] > 0).any()
    replay = run(scenario(tdm, SideConfig(kind="replay"), delay_ms=240.0))
    b = replay.decisions[replay.decisions["agent"] == "b"]
    assert (b["generated_tokens"] == 0).all() and replay.units[0].any()


def test_simulate_cli_runs_a_tdm_scenario(tdm_dir: Path, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "tdm-replay.toml"
    path.write_text(f'name = "tdm-replay"\nchunk_ms = 160\nduration_s = 4.0\n'
                    f'[a]\nkind = "tdm"\nagent = "{tdm_dir}"\nslice_ms = 640\n'
                    '[b]\nkind = "replay"\n[network]\npreset = "continental"\n'
                    '[output]\naudio = false\n')
    assert main(["simulate", str(path), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["agents"]["a"]["name"] == "a:tiny-tdm"
    capsys.readouterr()
    bad = tmp_path / "bad.toml"
    bad.write_text(path.read_text().replace("slice_ms = 640", "slice_ms = 960"))
    assert main(["simulate", str(bad), "--out", str(tmp_path / "bad"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"{bad}: a.slice_ms: 960: the agent '{tdm_dir}' was not trained for it " \
           "(allowed: 640, 800, 1200)" in err  # refused before anything loads
    assert main(["validate", "--check-files", str(bad)]) == 1  # and validate says the same


def test_a_syncllm_side_pointed_at_a_tdm_agent_is_named(tdm_dir: Path) -> None:
    wrong = SideConfig(kind="syncllm", agent=str(tdm_dir))
    with pytest.raises(ValueError, match=r"a tdm agent, not a syncllm agent \(scenario a\.agent\)"):
        run(scenario(wrong, SideConfig(kind="replay")))


def test_slices_that_are_not_whole_chunks_are_scenario_errors() -> None:
    from duplexsim.config.loader import from_dict

    with pytest.raises(ConfigError) as info:
        from_dict(Scenario, {"chunk_ms": 160,
                             "a": {"kind": "tdm", "agent": "x", "slice_ms": 1200},
                             "b": {"kind": "tdm", "agent": "y", "slice_ms": 1280}},
                  file="s.toml")
    assert str(info.value) == ("s.toml: a.slice_ms: 1200 is not a whole number of chunk_ms = "
                               "160 chunks (allowed: multiples of 160, e.g. 1120 or 1280)")
    with pytest.raises(ConfigError, match="s.toml: b.agent: a tdm side needs its trained agent "
                                          "directory"):
        from_dict(Scenario, {"b": {"kind": "tdm"}}, file="s.toml")


def test_tdm_conversation_same_bytes_alone_or_in_a_batch(tdm_dir: Path, sync_dir: Path,
                                                         tmp_path: Path) -> None:
    """TDM sides run as engine programs: batched with other conversations (TDM rows of one
    agent directory in one forward), a conversation's tokens and trace files are those it
    gives alone."""
    import dataclasses

    from duplexsim.config.scenario import OutputConfig
    from duplexsim.sim.batch import run_batch

    tdm640 = SideConfig(kind="tdm", agent=str(tdm_dir), slice_ms=640)
    tdm800 = SideConfig(kind="tdm", agent=str(tdm_dir), slice_ms=800, temperature=0.8)
    target = dataclasses.replace(scenario(tdm640, tdm800, delay_ms=120.0, seed=7),
                                 output=OutputConfig(audio=False))
    others = [scenario(tdm800, SideConfig(kind="replay"), delay_ms=0.0, seed=1),
              scenario(tdm640, SideConfig(kind="syncllm", agent=str(sync_dir)), seed=2)]
    alone = run(target).save(tmp_path / "alone")
    batched = run_batch([others[0], target, others[1]])[1].save(tmp_path / "batched")
    names = sorted(p.name for p in alone.iterdir())
    assert {"decisions.parquet", "timeline.parquet"} <= set(names)
    for name in names:
        assert (batched / name).read_bytes() == (alone / name).read_bytes(), name


def test_batched_tdm_sides_of_one_agent_share_forwards(tdm_dir: Path) -> None:
    from duplexsim.agents.tdm import TdmAgent
    from duplexsim.models.engine import run_lockstep
    from duplexsim.sim.build import build_agents, shared_model_agents
    from duplexsim.sim.session import Session

    tdm = SideConfig(kind="tdm", agent=str(tdm_dir), slice_ms=640)
    scenarios = [scenario(tdm, SideConfig(kind="replay"), seed=s) for s in range(3)]
    alone, forwards = [], []
    for s in scenarios:
        session = Session(s)
        alone.append(session.finish())
        agent = session.agents["a"]
        assert isinstance(agent, TdmAgent)
        forwards.append(agent.lm.n_forwards)
        session.close()
    given = shared_model_agents(scenarios)
    lm = given[0]["a"].lm  # type: ignore[attr-defined]
    assert all(g["a"].lm is lm for g in given)  # type: ignore[attr-defined]
    sessions = [Session(s, build_agents(s, g)) for s, g in zip(scenarios, given, strict=True)]
    try:
        together = run_lockstep([s.finish_program() for s in sessions])
    finally:
        for session in sessions:
            session.close()
    for trace, single in zip(together, alone, strict=True):
        np.testing.assert_array_equal(trace.units, single.units)
    # one forward serves every conversation's row of a round: no more rounds than the
    # longest conversation needs alone, far fewer forwards than one by one
    assert max(forwards) <= lm.n_forwards < sum(forwards)
    assert lm.n_forwards < 0.5 * sum(forwards)
