"""The simulated conversation behind the environments, stepped one learner chunk at a time.

Owns: building a :class:`duplexsim.sim.Session` with learner agents on one or both sides
(and a partner agent built from a scenario side or given directly), the step schedule
(own chunk ``j`` is decided at ``max(0, j - lead) * chunk_ms`` of the side's clock, so a
step runs the world up to the next decision), and the alignment of what both sides played
for rewards. The embedded default scenario lives here too. Must not touch the simulator's
internals: it only uses ``Session(scenario, agents)`` and ``run_until(t_ms)``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from duplexsim.agents.base import Agent
from duplexsim.config.scenario import Scenario, SideConfig, load_scenario, scenario_from_dict
from duplexsim.envs.learner import LearnerAgent, RecordingAgent

SIDES = ("a", "b")
DEFAULT_CHUNK_MS = 160
DEFAULT_DURATION_S = 30.0
DEFAULT_N_CHUNKS = -(-round(DEFAULT_DURATION_S * 1000) // DEFAULT_CHUNK_MS)


def default_scenario() -> Scenario:
    """The embedded default: replay of the shipped dialogue on both sides, default network."""
    return Scenario(name="turntaking-default", chunk_ms=DEFAULT_CHUNK_MS,
                    duration_s=DEFAULT_DURATION_S, seed=0,
                    a=SideConfig(kind="replay"), b=SideConfig(kind="replay"))


def as_scenario(scenario: Scenario | str | Path | Mapping[str, Any] | None) -> Scenario:
    """A Scenario from an object, a TOML path or a TOML-shaped dict (None = the default)."""
    if scenario is None:
        return default_scenario()
    if isinstance(scenario, Scenario):
        return scenario
    if isinstance(scenario, str | Path):
        return load_scenario(scenario)
    if isinstance(scenario, Mapping):
        return scenario_from_dict(dict(scenario), file="<scenario kwarg>")
    raise TypeError(f"scenario: got {type(scenario).__name__} (allowed: None, a Scenario, a "
                    "path to a scenario TOML file, or a TOML-shaped dict)")


def other(side: str) -> str:
    return "b" if side == "a" else "a"


def _replay(scenario: Scenario, side: str) -> Agent:
    from duplexsim.agents.replay import ReplayAgent

    return ReplayAgent.from_side(getattr(scenario, side), scenario, side)


def _scripted(scenario: Scenario, side: str) -> Agent:
    from duplexsim.agents.scripted import ScriptedAgent

    return ScriptedAgent.from_side(getattr(scenario, side), scenario, side)


def _syncllm(scenario: Scenario, side: str) -> Agent:
    from duplexsim.agents import load

    cfg = getattr(scenario, side)
    return load(cfg.agent, chunk_ms=scenario.chunk_ms, seed=scenario.seed)


PARTNER_KINDS: dict[str, Callable[[Scenario, str], Agent]] = {
    "replay": _replay, "scripted": _scripted, "syncllm": _syncllm,
}


def resolve_partner(scenario: Scenario, side: str,
                    partner: str | SideConfig | Agent | None) -> tuple[Scenario, Agent | None]:
    """The scenario with the partner's side filled in, and a given partner agent if any.

    ``partner``: None = the scenario's own side; a kind name (``replay``, ``scripted``,
    ``syncllm``) = that kind with default settings; a :class:`SideConfig`; or an Agent.
    """
    if partner is None:
        return scenario, None
    if isinstance(partner, str):
        if partner not in PARTNER_KINDS:
            raise ValueError(f"partner: unknown kind {partner!r} (allowed: "
                             f"{', '.join(PARTNER_KINDS)}, a SideConfig or an Agent)")
        partner = SideConfig(kind=partner)  # type: ignore[arg-type]  # checked just above
    if isinstance(partner, SideConfig):
        return dataclasses.replace(scenario, **{side: partner}), None
    if isinstance(partner, Agent):
        return scenario, partner
    raise TypeError(f"partner: got {type(partner).__name__} (allowed: None, "
                    f"{', '.join(PARTNER_KINDS)}, a SideConfig, or an Agent instance)")


def build_partner(scenario: Scenario, side: str) -> Agent:
    kind = getattr(scenario, side).kind
    if kind not in PARTNER_KINDS:
        raise ValueError(f"scenario {side}.kind: unknown partner kind {kind!r} "
                         f"(allowed: {', '.join(PARTNER_KINDS)})")
    return PARTNER_KINDS[kind](scenario, side)


class DuplexWorld:
    """One conversation: learners on ``learner_sides``, the other side (if any) an agent.

    ``partner``: the agent on the non-learner side (required when one side is not a
    learner). Call :meth:`reset` then, per step, queue each learner's units and
    :meth:`advance`.
    """

    def __init__(self, scenario: Scenario, learners: Mapping[str, LearnerAgent],
                 partner: Agent | None = None):
        self.scenario = scenario
        self.learners = dict(learners)
        self.partner = RecordingAgent(partner) if partner is not None else None
        self.chunk = 0  # next own chunk to be decided (same index on both sides)
        self.session: Any = None

    @property
    def n_chunks(self) -> int:
        return self.scenario.n_chunks

    def played(self, side: str) -> Mapping[int, np.ndarray]:
        if side in self.learners:
            return self.learners[side].played_chunks
        assert self.partner is not None
        return self.partner.played_chunks

    def reset(self, seed: int) -> None:
        from duplexsim.sim import Session

        scenario = dataclasses.replace(self.scenario, seed=seed)
        agents: dict[str, Agent] = dict(self.learners)
        if self.partner is not None:
            agents[next(s for s in SIDES if s not in self.learners)] = self.partner
        self.session = Session(scenario, agents)
        self.chunk = 0

    def _decision_ms(self, chunk: int) -> int:
        return max(0, chunk - self.scenario.decision_lead_chunks) * self.scenario.chunk_ms

    def advance(self) -> bool:
        """Run the world until just before the next own decision; True at the episode end."""
        if self.session is None:
            raise RuntimeError("reset() the world before advancing it")
        self.chunk += 1
        if self.chunk >= self.n_chunks:
            self.session.run_until(round(self.scenario.duration_s * 1000) + 1)
            return True
        target = self._decision_ms(self.chunk)
        if target > self._decision_ms(self.chunk - 1):
            # stop 1 ms short of the decision: right under exclusive and inclusive
            # run_until alike (times are integer ms); the next step's action is queued first
            self.session.run_until(target - 1)
        for side, learner in self.learners.items():
            if self.chunk in learner.produced:
                raise RuntimeError(
                    f"simulator asked learner {side} for chunk {self.chunk} before its "
                    f"decision time {target} ms (decision_lead_chunks = "
                    f"{self.scenario.decision_lead_chunks}): the env's schedule and the "
                    "simulator disagree")
        return False
