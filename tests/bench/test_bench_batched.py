"""``python -m duplexsim.bench.bench_batched``: its in-memory agent is described as training
describes an agent."""

from __future__ import annotations

from pathlib import Path

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
