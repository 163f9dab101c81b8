"""``python -m duplexsim.bench.bench_sim``: a ratio between two ways that should play the same
conversations says whether they did."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from duplexsim.bench.bench_sim import _ratios, _scenario
from duplexsim.sim import run


def test_a_ratio_says_whether_both_ways_played_the_same_conversations(capsys) -> None:
    """'lean vs HF forward' and 'batched vs one by one' printed a speed-up without looking at
    what either played; a candidate that changed the conversation read as plain speed."""
    first, other = (dataclasses.replace(_scenario(200, 2.0), seed=s) for s in (0, 1))
    assert (run(first).units != run(other).units).any()  # scripted sides: the seed tells
    ratios, runs = _ratios("same", lambda: run(first), lambda: [run(first)], 2, 2.0, "-",
                           same=True)
    assert len(ratios) == 2 and len(runs) == 2
    assert capsys.readouterr().out.rstrip().endswith("same conversations: yes")
    _ratios("other", lambda: run(first), lambda: run(other), 2, 2.0, "-", same=True)
    assert capsys.readouterr().out.splitlines()[0].endswith("same conversations: NO")



def test_the_runs_close_the_agents_they_build_also_when_the_run_fails(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """run_backend and run_today built both agents, gave them to run() and never closed them
    (a SyncLLM's row stayed taken). Now each is closed once after the run, also on error."""
    import duplexsim.sim
    from duplexsim.agents.syncllm import SyncLLMAgent
    from duplexsim.bench.baseline_today import TodayAgent
    from duplexsim.bench.bench_envs import train_tiny_agent
    from duplexsim.bench.bench_sim import run_backend, run_today
    from duplexsim.models.agentdir import load_agent_files

    closed: list[object] = []
    close = SyncLLMAgent.close

    def counting(self: SyncLLMAgent) -> None:
        closed.append(self)
        close(self)

    monkeypatch.setattr(SyncLLMAgent, "close", counting)
    monkeypatch.setattr(TodayAgent, "close", lambda self: closed.append(self), raising=False)
    files = load_agent_files(train_tiny_agent(tmp_path / "tiny"))
    scenario = _scenario(160, 0.8)  # the tiny agent's chunks
    trace = run_backend(scenario, files, "auto")
    assert len(trace.units[0]) and [a.name for a in closed] == ["a", "b"]
    assert all(isinstance(a, SyncLLMAgent) and a.closed for a in closed)
    closed.clear()
    run_today(scenario, files)
    assert [a.name for a in closed] == ["a", "b"]
    assert all(isinstance(a, TodayAgent) for a in closed)

    def failing(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the run failed")

    closed.clear()
    monkeypatch.setattr(duplexsim.sim, "run", failing)
    with pytest.raises(RuntimeError, match="the run failed"):
        run_backend(scenario, files, "auto")
    assert [a.name for a in closed] == ["a", "b"]
