"""The learner as an :class:`~duplexsim.agents.base.Agent`, plus a recorder for partners.

Owns :class:`LearnerAgent`: the side of the conversation an RL policy controls. The
simulator treats it like any other agent (it is asked for its chunks at decision time and
told which partner chunks arrived), so the policy sees the partner exactly as late as a
real system would. Its ``produce`` plays whatever units the env queued from the current
action. Also owns :class:`RecordingAgent`, a transparent wrapper that remembers what an agent
actually played, so rewards can be computed on the global timeline while the session runs
(placed there by :class:`duplexsim.envs.world.PlayedStream`). Must not touch the simulator's
internals or the network.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from duplexsim.agents.base import Agent, AgentWrapper, ChunkReport, missing_before


@dataclass
class LearnerAgent:
    """An agent whose chunks come from outside (the env's current action).

    ``model``: optional inner agent (the learner's own SyncLLM). It sees every partner
    chunk and every played chunk, and is asked for a proposal each chunk; the env decides
    whether the proposal is played (turn action SPEAK) or not.
    """

    name: str
    frames_per_chunk: int
    silence_unit: int = 0
    model: Agent | None = None
    n_units: int | None = None
    """The learner's unit inventory (its observation space's): a partner unit outside it is
    refused as it is heard (None: not checked)."""
    partner_checked: bool = False
    """The partner's units are checked before they are sent (it says its inventory, the
    learner's: :func:`~duplexsim.envs.world.speaks_checked_units`), so its chunks are
    not looked at again as they are heard; False: each one is."""
    received: dict[int, np.ndarray] = field(default_factory=dict)
    """Partner chunk index -> units, as delivered by the simulator."""
    played_chunks: dict[int, np.ndarray] = field(default_factory=dict)
    produced: list[int] = field(default_factory=list)
    """Own chunk indices in the order the simulator asked for them."""
    _produced_set: set[int] = field(default_factory=set, repr=False)
    latest_received: int = -1
    proposal: np.ndarray | None = None
    """The inner model's proposal for the chunk being produced (when a model is given)."""
    plan: dict[int, np.ndarray | None] = field(default_factory=dict)
    """Own chunk index -> units queued by the env (None = play the model's proposal)."""
    decided: dict[int, np.ndarray] = field(default_factory=dict)
    """Own chunk index -> the units ``produce`` gave for it (played unless it misses)."""

    def reset(self, seed: int) -> None:
        self.received = {}
        self.latest_received = -1
        self.played_chunks = {}
        self.produced = []
        self._produced_set = set()
        self.proposal = None
        self.plan = {}
        self.decided = {}
        if self.model is not None:
            self.model.reset(seed)

    def queue(self, chunk: int, units: np.ndarray | None) -> None:
        """Units for own chunk ``chunk`` when the simulator asks; ``None`` = model proposal."""
        if units is None and self.model is None:
            raise ValueError("queue(None) plays the model's proposal, but the learner has none")
        self.plan[chunk] = None if units is None else np.asarray(units, np.int64).reshape(
            self.frames_per_chunk)

    def _check_inventory(self, units: np.ndarray, whose: str) -> np.ndarray:
        """``units``, or a ValueError if one is outside :attr:`n_units` (an agent that does
        not say its inventory, taken as it is when the env was made, sent it)."""
        if self.n_units is not None and units.size and not (
                units.min() >= 0 and units.max() < self.n_units):
            bad = int(units[(units < 0) | (units >= self.n_units)][0])
            raise ValueError(
                f"{self.name}: {whose} has unit {bad}, outside the learner's unit inventory "
                f"0..{self.n_units - 1} (allowed: an agent in the learner's units; one that "
                "says its n_units is checked when the env is made)")
        return units

    def observe_partner(self, chunk: int, units: np.ndarray) -> None:
        heard = np.asarray(units, np.int64).copy()
        if not self.partner_checked:
            self._check_inventory(heard, f"partner chunk {chunk}")
        self.received[chunk] = heard
        self.latest_received = max(self.latest_received, chunk)
        if self.model is not None:
            self.model.observe_partner(chunk, units)

    def has_produced(self, chunk: int) -> bool:
        """``chunk in self.produced``, without scanning the list."""
        return chunk in self._produced_set

    def produce(self, chunk: int) -> ChunkReport:
        self.produced.append(chunk)
        self._produced_set.add(chunk)
        report = None
        if self.model is not None:  # the model keeps its context whatever is played
            report = self.model.produce(chunk)
            self.proposal = self._check_inventory(np.asarray(report.units, np.int64),
                                                  f"its model's chunk {chunk}")
        # unplanned chunks (never asked) are silent
        planned = self.plan.pop(chunk) if chunk in self.plan else self._silence()
        units = self.proposal if planned is None and self.proposal is not None else planned
        if units is None:
            units = self._silence()
        self.decided[chunk] = units
        lookahead = missing_before(chunk, self.received, self.latest_received)
        if report is None:
            return ChunkReport(chunk=chunk, units=units, lookahead=lookahead)
        return ChunkReport(chunk=chunk, units=units, lookahead=report.lookahead,
                           estimates=report.estimates, generated_tokens=report.generated_tokens,
                           prefill_tokens=report.prefill_tokens,
                           compute_wall_ms=report.compute_wall_ms)

    def _silence(self) -> np.ndarray:
        return np.full(self.frames_per_chunk, self.silence_unit, np.int64)

    def played(self, chunk: int, units: np.ndarray) -> None:
        self.played_chunks[chunk] = np.asarray(units, np.int64).copy()
        if self.model is not None:
            self.model.played(chunk, units)


class RecordingAgent(AgentWrapper):
    """Wraps an agent and remembers every chunk it played (global-timeline rewards)."""

    def __init__(self, inner: Agent) -> None:
        super().__init__(inner)
        self.played_chunks: dict[int, np.ndarray] = {}

    def reset(self, seed: int) -> None:
        self.played_chunks = {}
        self.inner.reset(seed)

    @property
    def produce_steps(self) -> Any:
        """The inner agent's decision as an engine program, where it has one (None else): the
        session runs it as a program, so a vector env can batch it with other worlds'."""
        return getattr(self.inner, "produce_steps", None)

    def played(self, chunk: int, units: np.ndarray) -> None:
        self.played_chunks[chunk] = np.asarray(units, np.int64).copy()
        self.inner.played(chunk, units)
