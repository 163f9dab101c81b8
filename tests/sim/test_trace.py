"""The trace a simulation leaves: what it counts as silence."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from sim_scenarios import scripted

from duplexsim.config.scenario import SideConfig
from duplexsim.metrics.turntaking import vad_from_units
from duplexsim.sim import run


def test_every_silence_unit_of_an_agent_is_silence_in_the_trace_and_to_a_scripted_partner(
    tiny_agent_dir: Path, tmp_path: Path
) -> None:
    """An agent whose tokenizer has two silence units (agent.json ``silence_units``): the
    scripted partner speaks none of them and the trace counts both as silence. Before, the
    set stopped at the single ``silence_unit``: the scripted side spoke unit 1 (32 of its
    250 speech frames here) and the trace's ``silence_units`` was {0}."""
    agent = tmp_path / "agent"
    agent.mkdir()
    (agent / "model").symlink_to(tiny_agent_dir / "model")
    info = json.loads((tiny_agent_dir / "agent.json").read_text())
    (agent / "agent.json").write_text(json.dumps({**info, "silence_units": [0, 1]}))
    side = SideConfig(kind="syncllm", agent=str(agent), temperature=0.0)
    trace = run(dataclasses.replace(scripted(200, 20.0, delay_ms=0.0), a=side))
    assert trace.silence_units == frozenset({0, 1})
    partner = trace.units[1]
    assert (partner != 0).sum() > 100 and not (partner == 1).any()
    assert (
        vad_from_units(trace.units, trace.silence_units)
        == ~((trace.units == 0) | (trace.units == 1))
    ).all()
