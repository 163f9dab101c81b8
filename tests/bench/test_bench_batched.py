"""``python -m duplexsim.bench.bench_batched``: its in-memory agent is described as training
describes an agent."""

from __future__ import annotations

from pathlib import Path

import pytest

from duplexsim.atomic import write_json
from duplexsim.bench.bench_batched import bench_agent
from duplexsim.models.agentdir import read_agent_json


def test_the_bench_agent_is_the_agent_json_training_writes(tmp_path: Path) -> None:
    """Its info was written by hand: no ``format``, ``card`` or ``silence_units`` (the key
    agent.json gained with multi-silence tokenizers), so it was no agent.json
    ``read_agent_json`` accepts; now it is :func:`agent_info` of its card."""
    files = bench_agent("tiny")
    write_json(tmp_path / "agent.json", files.info)
    info = read_agent_json(tmp_path)
    assert info["silence_units"] == [0] and info["card"]["model"]["size"] == "tiny"
    assert files.chunk_ms == [160, 200, 240] and files.context_tokens == 256
    assert files.name == "bench-tiny" and files.silence_units == frozenset({0})


def test_both_ways_are_timed_in_turn_and_compared_in_every_repeat() -> None:
    """Batched ran once and then one at a time once (the second always ran second, no
    spread); now the order rotates per repeat and the speedup is min / median / max."""
    from duplexsim.bench.bench_batched import run
    from duplexsim.bench.measure import interleaved

    order: list[str] = []
    runs = interleaved([lambda: order.append("a") or 1, lambda: order.append("b") or 2], 3)
    assert order == ["a", "b", "b", "a", "a", "b"]
    assert [[out for _, out in variant] for variant in runs] == [[1, 1, 1], [2, 2, 2]]
    (row,) = run(bench_agent("tiny"), [2], 0.32, 1.0, 160, repeats=2)
    assert row["identical_units"] is True and row["repeats"] == 2
    assert row["speedup_min"] <= row["speedup"] <= row["speedup_max"]


def test_simulated_seconds_are_the_frames_generated() -> None:
    """0.2 s past a 1 s prompt at 160 ms chunks is generated as 2 chunks from the prompt's
    last whole chunk (frames 24-31: 0.32 s a prompt); the speeds were computed from 0.16 s
    (seconds rounded down to whole chunks), half of what was generated."""
    from duplexsim.bench.bench_batched import run

    (row,) = run(bench_agent("tiny"), [2], 0.2, 1.0, 160, repeats=1)
    assert row["sim_s"] == pytest.approx(2 * 0.32)
