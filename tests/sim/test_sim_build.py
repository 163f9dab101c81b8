"""Building a session's agents: given or from the scenario, checked against it, and the
compute-time model (:mod:`duplexsim.sim.build`)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from sim_scenarios import CostlyEcho, Reporting, scripted

from duplexsim.agents.base import ChunkReport
from duplexsim.config.scenario import ComputeConfig
from duplexsim.sim import Session, run


@pytest.mark.parametrize("wall_ms", [0.0, 0.02, 7.5])
def test_a_profile_charges_no_overhead_for_a_decision_without_tokens(wall_ms: float) -> None:
    from duplexsim.sim.build import compute_ms

    # a TDM chunk after its slice's <idle>: no tokens, a few us of wall time; the profile
    # charged its overhead_ms only when that wall time was not exactly 0.0
    profile = ComputeConfig(model="profile", overhead_ms=50.0, decode_ms_per_token=1.0)
    idle = ChunkReport(chunk=3, units=np.zeros(5, np.int64), compute_wall_ms=wall_ms)
    assert compute_ms(idle, profile) == 0
    spoke = dataclasses.replace(idle, generated_tokens=4)
    assert compute_ms(spoke, profile) == 54
    measured = ComputeConfig(model="measured", scale=2.0)
    assert compute_ms(idle, measured) == math.ceil(2 * wall_ms)  # measured reads wall time


def test_a_given_agent_that_is_falsy_is_still_the_one_used() -> None:
    """``given.get(key) or built.get(key) or ...``: an agent defining ``__len__`` (0 before its
    first chunk) was silently replaced by the scenario's own agent."""
    from duplexsim.agents.scripted import ScriptedAgent

    class Counting(ScriptedAgent):
        def __init__(self, *args: object, **kw: object) -> None:
            super().__init__(*args, **kw)  # type: ignore[arg-type]
            self.produced: list[int] = []

        def __len__(self) -> int:
            return len(self.produced)

        def produce(self, chunk: int) -> ChunkReport:
            self.produced.append(chunk)
            return super().produce(chunk)

    scenario = scripted(200, 1.0)
    mine = Counting("fixed-turns", scenario.frames_per_chunk, scenario.n_chunks, name="mine")
    trace = run(scenario, agents={"a": mine})
    assert mine.produced == list(range(scenario.n_chunks))
    assert set(trace.decisions[trace.decisions.agent == "a"].name) == {"mine"}


def test_a_scripted_side_speaks_the_inventory_of_the_agent_object_it_faces() -> None:
    """A scripted side facing an agent object given in Python (the scenario's own side
    names no inventory) took the default 501 units, silence 0: a 20-unit agent heard ids
    up to 500 and the one-vocabulary check was skipped. It now speaks the given agent's
    n_units, silence unit and silence units."""
    from duplexsim.agents.base import silence_units_of
    from duplexsim.sim.build import build_agents

    class Small(Reporting):
        silence_unit = 3
        silence_units = frozenset({3, 4})

    scenario = scripted(200, 6.0, delay_ms=0.0)
    mine = Small(lambda c: ChunkReport(chunk=c, units=np.full(5, 3)))
    for side, other in (("a", "b"), ("b", "a")):
        agents = build_agents(scenario, {side: mine})
        assert (agents[other].n_units, agents[other].silence_unit,  # type: ignore[attr-defined]
                silence_units_of(agents[other])) == (20, 3, frozenset({3, 4}))
    played = run(scenario, agents={"b": mine}).units[0]  # a: a random talker
    assert played.max() < 20 and 4 not in played and (played == 3).any()
    assert len(set(played.tolist()) - {3}) > 5  # it speaks


def test_one_agent_object_on_both_sides_is_refused(tiny_agent_dir) -> None:  # noqa: ANN001
    """An agent holds one conversation (``reset`` starts it): given for both sides, it was
    reset twice and fed both streams; a SyncLLM agent then failed deep in torch
    ("Expected tensor for argument #1 'indices' ..."), a scripted one made both sides play
    one stream, without a word. Wrapped, it is still the same agent."""
    from duplexsim.agents.base import AgentWrapper
    from duplexsim.agents.scripted import ScriptedAgent
    from duplexsim.agents.syncllm import load_agent

    scenario = scripted(200, 2.0, delay_ms=0.0)
    scripted_agent = ScriptedAgent.from_side(scenario.a, scenario, "a")
    syncllm = load_agent(tiny_agent_dir, chunk_ms=200)
    for a, b in ((scripted_agent, scripted_agent), (syncllm, syncllm),
                 (scripted_agent, AgentWrapper(scripted_agent))):
        with pytest.raises(ValueError) as info:
            run(scenario, agents={"a": a, "b": b})
        assert str(info.value) == (
            f"agents: a and b are one agent object ({a.name!r}) (allowed: one agent per "
            "side; an agent holds one side of one conversation: make a second one)")
    other = ScriptedAgent.from_side(scenario.a, scenario, "b")
    run(scenario, agents={"a": scripted_agent, "b": other})  # two agents: fine


@pytest.mark.parametrize("frames", [5.5, 4, "5", None])
def test_a_given_agent_of_another_chunk_size_is_one_line(frames: object) -> None:
    """int() took an agent's 5.5 frames per chunk as the scenario's 5."""
    from duplexsim.errors import InputError

    agent = CostlyEcho()
    agent.frames_per_chunk = frames  # type: ignore[assignment]
    with pytest.raises(InputError, match=r"^a: agent 'costly' speaks .* frames per chunk "
                       r"\(allowed: 5 = chunk_ms 200 / 40\)$"):
        Session(scripted(200, 1.0), {"a": agent})


@pytest.mark.parametrize(("agents", "expected"), [
    ({"a": None}, "agents: a: got NoneType (allowed: an Agent"),
    ({"b": "runs/agents/fisher"}, "agents: b: got str (allowed: an Agent"),
    ([1], "agents: got list (allowed: None, or a dict of side -> Agent"),
    ("x", "agents: got str (allowed: None, or a dict of side -> Agent"),
    ({"c": CostlyEcho(), 0: CostlyEcho()}, "agents: unknown side(s) ['c', 0] (allowed: a, b)"),
])
def test_given_agents_of_the_wrong_kind_are_one_line(agents: object, expected: str) -> None:
    """``{"a": None}`` or a path string for a side was an AttributeError inside the build,
    ``[1]`` and ``"x"`` a TypeError or ValueError of ``dict()``, sides of mixed key types a
    TypeError of ``sorted``."""
    with pytest.raises((TypeError, ValueError)) as info:
        run(scripted(200, 1.0), agents=agents)  # type: ignore[arg-type]
    assert str(info.value).startswith(expected), str(info.value)
    assert "\n" not in str(info.value)
