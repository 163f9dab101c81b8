"""The simulated conversation behind the environments, stepped one learner chunk at a time.

Owns: building a :class:`duplexsim.sim.Session` with learner agents on one or both sides
(and a partner agent built from a scenario side or given directly), the step schedule
(own chunk ``j`` is decided at the start of chunk ``j - lead`` of the side's clock, offset
and drift included, as the session says: ``Session.decision_ms``; a step runs the world up
to the next decision's ms, its arrivals included, its decisions not), and the alignment of
what both sides played for rewards. The embedded default scenario lives here too. Must not
touch the simulator's internals: it only uses ``Session(scenario, agents)``,
``run_program(t_ms, arrivals)``, ``hand_over(side)``, ``decision_ms(side, j)``,
``chunk_placement(side, j)`` and ``close()``.

Rewards are scored on the global timeline (:class:`PlayedStream`): each side's chunks are
placed where the simulator played them, so a partner whose playout slips
(``estimation = "wait"``, :mod:`duplexsim.sim.playout`) is heard where it spoke, its slip
gaps silent, not aligned with the learner by chunk index. A learner cannot wait: it is
asked for one chunk per step on its clock (:func:`check_learners`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from duplexsim.agents.base import Agent, n_units_of
from duplexsim.config.scenario import Scenario, SideConfig, load_scenario, scenario_from_dict
from duplexsim.envs.learner import LearnerAgent, RecordingAgent
from duplexsim.models.engine import Program, drive
from duplexsim.sides import SIDES, other
from duplexsim.sim.build import AGENT_BUILDERS, silence_unit_of
from duplexsim.sim.clock import FramePlacement
from duplexsim.timebase import ms_from_s
from duplexsim.tokens import FRAME_MS

DEFAULT_CHUNK_MS = 160
DEFAULT_DURATION_S = 30.0
DEFAULT_N_CHUNKS = -(-ms_from_s(DEFAULT_DURATION_S) // DEFAULT_CHUNK_MS)


def speaks_checked_units(partner: Agent, n_units: int) -> bool:
    """True when every unit ``partner`` sends is already checked to lie in
    ``0..n_units - 1`` before the learner hears it, which then need not look at each chunk
    again (:attr:`~duplexsim.envs.learner.LearnerAgent.partner_checked`): it says its
    ``n_units`` (:func:`~duplexsim.agents.base.n_units_of`), against which the simulator
    checks every chunk it produces (:meth:`~duplexsim.sim.side.SideState.checked_units`),
    and a chunk it misses plays its silence unit (checked here) or repeats one played. An
    agent that does not say its inventory is checked as it is heard."""
    return n_units_of(partner) == n_units and 0 <= silence_unit_of(partner) < n_units


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
        from duplexsim.config.cli import expect_kind

        expect_kind(scenario, "scenario")  # an agent card: one line, not each key unknown
        return load_scenario(scenario)
    if isinstance(scenario, Mapping):
        return scenario_from_dict(dict(scenario), file="<scenario kwarg>")
    raise TypeError(f"scenario: got {type(scenario).__name__} (allowed: None, a Scenario, a "
                    "path to a scenario TOML file, or a TOML-shaped dict)")


PARTNER_KINDS = AGENT_BUILDERS
"""Partner kinds, built exactly as the simulator builds a scenario side (sampling settings,
estimation, seed and name included)."""


def resolve_partner(scenario: Scenario, side: str,
                    partner: str | SideConfig | Agent | None) -> tuple[Scenario, Agent | None]:
    """The scenario with the partner's side filled in, and a given partner agent if any.

    ``partner``: None = the scenario's own side; a kind name (``replay``, ``scripted``,
    ``syncllm``, ``tdm``) = that kind with default settings; a :class:`SideConfig`; or an Agent.
    """
    if partner is None:
        return scenario, None
    if isinstance(partner, str):
        if partner not in PARTNER_KINDS:
            hint = (f"; an agent directory goes in a list: partner=[{partner!r}]"
                    if "/" in partner or Path(partner).is_dir() else "")
            raise ValueError(f"partner: unknown kind {partner!r} (allowed: "
                             f"{', '.join(PARTNER_KINDS)}, a SideConfig or an Agent{hint})")
        try:
            partner = SideConfig(kind=partner)  # type: ignore[arg-type]  # checked just above
        except ValueError as e:  # syncllm, tdm: a kind that needs an agent directory
            raise ValueError(f"partner: {partner!r}: {e}; an agent directory goes in a "
                             f"list: partner=[DIR] or {{'kind': {partner!r}, 'agent': DIR}}"
                             ) from None
    if isinstance(partner, SideConfig):
        # (side is "a" or "b": mypy checks a **dict against every field's type)
        return dataclasses.replace(scenario, **{side: partner}), None  # type: ignore[arg-type]
    if isinstance(partner, Agent):
        return scenario, partner
    raise TypeError(f"partner: got {type(partner).__name__} (allowed: None, "
                    f"{', '.join(PARTNER_KINDS)}, a SideConfig, or an Agent instance)")


def check_learners(scenario: Scenario, sides: Mapping[str, Any]) -> None:
    """A learner's side of the scenario must not wait: the env asks it for one chunk per step
    at its decision time, it cannot stall for its partner."""
    for side in sides:
        cfg = getattr(scenario, side)
        if cfg.waits:
            raise ValueError(
                f"scenario {side}.estimation: 'wait' on side {side}, which the learner plays: "
                "a learner is driven by actions one chunk per step and cannot stall for its "
                "partner (allowed: 'model' or 'silence' on a learner's side; a waiting "
                "syncllm can be the partner)")


@dataclass
class PlayedStream:
    """What one side played on the global 40 ms grid, grown as its chunks are played.

    ``units[f]``/``chunk[f]``: the unit played in frame ``f`` and the side's chunk it
    belongs to (-1: no chunk there, e.g. a slip gap: silence whatever ``units`` says).
    ``known``: the leading frames that are final (a side's chunks play in order and never
    move back, so everything before the end of its latest played chunk is).
    """

    units: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    chunk: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    known: int = 0
    placed: int = 0
    """Chunks 0..placed-1 are on the grid."""

    def extend(self, played: Mapping[int, np.ndarray],
               placement_of: Callable[[int], FramePlacement]) -> None:
        """Place the side's newly played chunks (in chunk order) where
        ``placement_of(chunk)`` says (:meth:`duplexsim.sim.Session.chunk_placement`)."""
        while self.placed in played:
            at = placement_of(self.placed)
            self._grow(at.end)  # a chunk's frames never go back: its end is the latest
            self.units[at.frames] = np.asarray(played[self.placed])[at.local]
            self.chunk[at.frames] = self.placed
            self.known = max(self.known, at.final)  # a later chunk may take its last frame
            self.placed += 1

    def _grow(self, n: int) -> None:
        """Room for ``n`` frames (allocated ahead, doubling; unplayed frames: chunk -1)."""
        if n > len(self.units):
            extra = max(n, 2 * len(self.units), 256) - len(self.units)
            self.units = np.concatenate([self.units, np.zeros(extra, np.int64)])
            self.chunk = np.concatenate([self.chunk, np.full(extra, -1, np.int64)])

    def frames(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        """(units, chunk) of frames ``start..stop-1`` (chunk -1 past what was played)."""
        self._grow(stop)
        return self.units[start:stop], self.chunk[start:stop]


def build_partner(scenario: Scenario, side: str) -> Agent:
    kind = getattr(scenario, side).kind
    if kind not in PARTNER_KINDS:
        raise ValueError(f"scenario {side}.kind: unknown partner kind {kind!r} "
                         f"(allowed: {', '.join(PARTNER_KINDS)})")
    return PARTNER_KINDS[kind](getattr(scenario, side), scenario, side)


class DuplexWorld:
    """One conversation: learners on ``learner_sides``, the other side (if any) an agent.

    ``partner``: the agent on the non-learner side (required when one side is not a
    learner). Call :meth:`reset` then, per step, queue each learner's units and
    :meth:`advance`.
    """

    def __init__(self, scenario: Scenario, learners: Mapping[str, LearnerAgent],
                 partner: Agent | None = None):
        check_learners(scenario, learners)
        self.scenario = scenario
        self.learners = dict(learners)
        self.partner = RecordingAgent(partner) if partner is not None else None
        self._tell_learners(partner)
        self.chunk = 0  # next own chunk to be decided (same index on both sides)
        self.session: Any = None
        self.streams: dict[str, PlayedStream] = {}
        self._window_start: dict[str, int] = {}
        self._window_end: dict[str, int] = {}
        self._decisions: dict[int, int] = {}
        self.ended = False

    @property
    def n_chunks(self) -> int:
        return self.scenario.n_chunks

    def set_partner(self, scenario: Scenario, partner: Agent) -> None:
        """Another partner (and the scenario with its side) from the next :meth:`reset` on:
        partner pools (:mod:`duplexsim.envs.partners`) draw one per episode."""
        check_learners(scenario, self.learners)
        self.scenario = scenario
        self.partner = RecordingAgent(partner)
        self._tell_learners(partner)

    def _tell_learners(self, partner: Agent | None) -> None:
        """Whether each learner must check the partner's chunks as it hears them
        (:attr:`~duplexsim.envs.learner.LearnerAgent.partner_checked`), for this partner."""
        for learner in self.learners.values():
            learner.partner_checked = (partner is not None and learner.n_units is not None
                                       and speaks_checked_units(partner, learner.n_units))

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
        self.close()  # the previous session: freed now, not by a full garbage collection later
        self.session = Session(scenario, agents)
        self.chunk = 0
        self.ended = False
        self.streams = {side: PlayedStream() for side in SIDES}
        self._window_start, self._window_end = {}, {}
        self._decisions = {}

    def close(self) -> None:
        """End the current conversation's session (freed at once; see ``Session.close``):
        :meth:`reset` starts the next."""
        if self.session is not None:
            self.session.close()

    @property
    def closed(self) -> bool:
        """True from :meth:`close` until the next :meth:`reset` (no session runs)."""
        return self.session is not None and self.session.closed

    def __getstate__(self) -> dict[str, Any]:
        """The world for ``copy.deepcopy`` and ``pickle``: before the first :meth:`reset`, or
        after :meth:`close` (without the closed session: a copy's :meth:`reset` starts its
        own). A running session cannot be copied: its SimPy processes are live generators,
        which Python cannot copy or pickle (nor rebuild: they are suspended mid-function)."""
        if self.session is not None and not self.closed:
            raise TypeError(
                "env: cannot be copied or pickled from reset() until close(): its simulation "
                "runs as live SimPy generators (allowed: copy it before reset() or after "
                "close(); to branch an episode, make a new env with the same arguments, "
                "reset it with the same seed and replay the actions: the same rollout)")
        return {**self.__dict__, "session": None}

    def stream(self, side: str) -> PlayedStream:
        """What ``side`` has played so far on the global timeline."""
        stream = self.streams[side]
        stream.extend(self.played(side), lambda j: self.session.chunk_placement(side, j))
        return stream

    def window_start(self, side: str) -> int:
        """The first frame of the global timeline a learner on ``side`` is scored over: where
        its chunk 0 plays (later than 0 when the partner's clock is ahead of its own: the
        frames before it are the partner's alone, not the learner's to score)."""
        if side not in self._window_start:
            at = self.session.chunk_placement(side, 0)
            self._window_start[side] = int(at.frames[0]) if len(at.frames) else at.end
        return self._window_start[side]

    def window_end(self, side: str) -> int:
        """Frames of the global timeline a learner on ``side`` is scored over: up to the end
        of its last chunk (a learner never slips)."""
        if side not in self._window_end:
            self._window_end[side] = self.session.chunk_placement(side, self.n_chunks - 1).end
        return self._window_end[side]

    def scorable(self, side: str) -> tuple[PlayedStream, PlayedStream, int, int]:
        """``side``'s stream, its partner's, the first frame of the side's window
        (:meth:`window_start`) and how many leading frames both are final on (up to the
        side's window end; all of it once the episode has ended)."""
        own, theirs = self.stream(side), self.stream(other(side))
        end = self.window_end(side)
        return (own, theirs, self.window_start(side),
                end if self.ended else min(own.known, theirs.known, end))

    def _decision_ms(self, chunk: int) -> int:
        """When the first learner decides its chunk ``chunk`` (global ms, from the session:
        each side's clock offset and drift included; a learner never slips, so the times
        are fixed and kept for the episode)."""
        t = self._decisions.get(chunk)
        if t is None:
            t = self._decisions[chunk] = min(self.session.decision_ms(side, chunk)
                                             for side in self.learners)
        return t

    def advance(self) -> bool:
        """Run the world to the next own decision's ms, its arrivals included and its decisions
        not (the learner is handed what that decision is handed); True at the episode end."""
        return drive(self.advance_program())

    def advance_program(self) -> Program[bool]:
        """:meth:`advance` as an engine program (:mod:`duplexsim.models.engine`): it yields
        the token requests of the partner's decisions on the way, so that many worlds can
        advance in lock step with batched forwards (the vector env)."""
        if self.session is None:
            raise RuntimeError("reset() the world before advancing it")
        self.chunk += 1
        if self.chunk >= self.n_chunks:
            # on past the end of the learners' last chunks: every partner chunk that starts
            # before then (slipped or not) has been played and told (a chunk skipped by a
            # busy worker is told by its end); later ones are outside the window
            end_ms = max(self.window_end(side) for side in self.learners) * FRAME_MS
            yield from self.session.run_program(max(self.scenario.duration_ms,
                                                    end_ms + self.scenario.chunk_ms) + 1)
            self.ended = True
            return True
        target = self._decision_ms(self.chunk)
        if target > self._decision_ms(self.chunk - 1):
            # stop at the decision's ms after its arrivals, before any decision: the learner
            # is handed what its decision will be handed (the observation), and the next
            # step's action is queued before the decision runs
            yield from self.session.run_program(target, arrivals=True)
            for side in self.learners:
                self.session.hand_over(side)
        for side, learner in self.learners.items():
            if learner.has_produced(self.chunk):
                raise RuntimeError(
                    f"simulator asked learner {side} for chunk {self.chunk} before its "
                    f"decision time {target} ms (decision_lead_chunks = "
                    f"{self.scenario.decision_lead_chunks}): the env's schedule and the "
                    "simulator disagree")
        return False
