"""One side of a session: its agent, clock, receive buffer, playout rule and running state.

Owns :class:`SideState` and the arithmetic that only needs one side: when its chunk ``j``
is decided, starts and plays (global ms, and the global frames it plays on, shifted by its
slip), when its last chunk ends, what a missed chunk plays, and the check of what its agent
reports. Must not run SimPy or touch the other side. The side keys themselves are
:mod:`duplexsim.sides`'s.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np

from duplexsim.agents.base import Agent, ChunkReport
from duplexsim.errors import finite_number
from duplexsim.sim.buffer import ReceiveBuffer
from duplexsim.sim.clock import ChunkClock, FramePlacement, place_frames
from duplexsim.sim.playout import PlayoutRule
from duplexsim.tokens import FRAME_MS
from duplexsim.unit_arrays import check_chunk

ANY_UNIT = int(np.iinfo(np.int64).max)
"""The unit-id bound of an agent that does not say how many units it speaks."""


@functools.cache
def _offsets(n: int) -> np.ndarray:
    out = np.arange(n, dtype=np.int64)
    out.flags.writeable = False
    return out


@functools.cache
def _own_frames(F: int, held: bool) -> np.ndarray:
    """A global-clock chunk's :attr:`FramePlacement.local`: its frames in order, the last
    once more when ``held``."""
    out = np.minimum(np.arange(F + held, dtype=np.int64), F - 1)
    out.flags.writeable = False
    return out


@functools.lru_cache(maxsize=8192)
def _global_placement(start_ms: int, F: int) -> FramePlacement:
    """:meth:`SideState.chunk_placement` of a chunk of ``F`` frames starting at ``start_ms``
    on the global clock (kept: every episode of an env places the same few hundred chunks).
    Frame ``i`` starts at ``start_ms + 40 i``, in global frame ``first + i``; the last frame
    is held on into the frame it ends in if it plays half of it."""
    first, held = divmod(start_ms, FRAME_MS)
    local = _own_frames(F, held >= FRAME_MS // 2)
    frames = first + _offsets(len(local))
    frames.flags.writeable = False  # (shared by every caller)
    return FramePlacement(frames, local, first + len(local), first + F)


def _unit_ids(units: list[int], n_units: int) -> bool:
    return not units or (min(units) >= 0 and max(units) < n_units)


@dataclass
class SideState:
    """A side of the conversation and what it has done so far."""

    key: str
    agent: Agent
    clock: ChunkClock
    buffer: ReceiveBuffer
    """Partner chunks arriving at this side."""
    rule: PlayoutRule
    silence_unit: int
    frames_per_chunk: int
    due_ms: int
    """Base one-way delay of this side's outgoing path (when a lost chunk was due)."""
    slip_ms: int = 0
    """Accumulated slip so far (only a waiting side slips)."""
    decided: int = 0
    """How many of its chunks have been decided."""
    next_decision_ms: int = 0
    """When its worker gets to its next undecided chunk."""
    chunk_slip_ms: dict[int, int] = field(default_factory=dict)
    """Chunk -> the slip it was played with."""
    n_units: int = ANY_UNIT
    """How many units its agent speaks (:func:`~duplexsim.agents.base.n_units_of`; an
    agent that does not say: any id >= 0)."""

    @property
    def waits(self) -> bool:
        return self.rule.waits

    def decision_ms(self, j: int) -> int:
        """Planned decision time of chunk ``j``: the clock's decision time shifted by the slip
        so far. A lower bound of the actual start (:meth:`Speaker.run
        <duplexsim.sim.speaker.Speaker.run>` starts at max(this, the previous decision's
        ready time), and a waiting side may stall on); exact for a
        side that never waits and whose previous decision is ready by then."""
        return self.clock.decision_time(j) + self.slip_ms

    def deadline_ms(self, j: int) -> int:
        """Planned start of chunk ``j`` (its deadline), shifted by the slip so far."""
        return self.clock.chunk_start(j) + self.slip_ms

    def chunk_placement(self, j: int) -> FramePlacement:
        """Where chunk ``j`` plays on the global 40 ms frames: its clock's frame starts and
        end shifted by the slip it was played with (not played yet: the slip so far),
        resampled by :func:`~duplexsim.sim.clock.place_frames`."""
        slip = self.chunk_slip_ms.get(j, self.slip_ms)
        clock, F = self.clock, self.frames_per_chunk
        if not clock.offset_ms and not clock.drift_ppm:
            return _global_placement(j * clock.chunk_ms + slip, F)
        starts = np.array([clock.frame_start(j, i, FRAME_MS) for i in range(F)], np.int64)
        return place_frames(starts + slip, clock.chunk_end(j) + slip, FRAME_MS)

    def end_ms(self, n_chunks: int, now: int) -> int:
        """When this side's last chunk is sent, as far as known at ``now`` (see
        :attr:`duplexsim.sim.session.Session.end_ms`)."""
        end = self.clock.chunk_end(n_chunks - 1) + self.slip_ms
        j = self.decided
        if self.waits and j < n_chunks:  # its undecided chunk j cannot start before now
            end += max(0, now - (self.clock.chunk_start(j) + self.slip_ms))
        elif j < n_chunks:  # the worker may reach its last chunks after they were sent
            end = max(end, self.next_decision_ms)
        return end

    def checked_units(self, j: int, report: object) -> np.ndarray:
        """The units ``[F]`` int64 of the agent's report for its chunk ``j``; a report that
        breaks the protocol (another chunk, frames of another length, non-integer or
        out-of-range unit ids, estimates of partner chunks not before ``j``, a lookahead or
        costs that are not counts, a non-finite wall time) is a ValueError naming the side,
        the agent and the field, here rather than as nonsense in the trace (a compute time
        below 0 made a chunk ready before it was decided, a float unit was truncated). A
        copy: an agent may reuse or write into the array it reported once it returns (it is
        played and sent later)."""
        if not isinstance(report, ChunkReport):
            raise ValueError(f"{self._produce(j)} returned {type(report).__name__} "
                             "(allowed: a ChunkReport)")
        if report.chunk != j:
            raise ValueError(f"{self._produce(j)} reported chunk {report.chunk} "
                             f"(allowed: {j}, the chunk asked for)")
        units, F = report.units, self.frames_per_chunk
        if not (type(units) is np.ndarray and units.dtype == np.int64  # the usual report:
                and units.shape == (F,) and _unit_ids(units.tolist(), self.n_units)):  # cheap
            units = check_chunk(units, f"{self._produce(j)}.units", self.n_units, F)
        for k, est in (report.estimates or {}).items():
            if not 0 <= k < j:
                raise ValueError(f"{self._produce(j)}.estimates: partner chunk {k} "
                                 f"(allowed: partner chunks >= 0 and < {j})")
            check_chunk(est, f"{self._produce(j)}.estimates[{k}]", self.n_units, F)
        lookahead, generated, prefill = (report.lookahead, report.generated_tokens,
                                         report.prefill_tokens)
        if not (type(lookahead) is int and type(generated) is int  # the usual report: cheap
                and type(prefill) is int and lookahead >= 0 and generated >= 0
                and prefill >= 0):
            for name in ("lookahead", "generated_tokens", "prefill_tokens"):
                value = getattr(report, name)
                if not isinstance(value, int | np.integer) or value < 0:
                    raise ValueError(f"{self._produce(j)}.{name} = {value!r} "
                                     "(allowed: an integer >= 0)")
        wall = report.compute_wall_ms
        if not (finite_number(wall) and wall >= 0):  # (True, 10**400 and complex were taken)
            raise ValueError(f"{self._produce(j)}.compute_wall_ms = {wall!r} "
                             "(allowed: a finite number of ms >= 0)")
        return units.copy()

    def _produce(self, j: int) -> str:
        return f"side {self.key} ({getattr(self.agent, 'name', self.key)}): produce({j})"

    def miss_units(self, j: int, on_miss: str, played: dict[int, np.ndarray]) -> np.ndarray:
        """What a missed chunk ``j`` plays: silence, or the last unit played (``repeat``)."""
        unit = self.silence_unit
        if on_miss == "repeat" and (j - 1) in played:
            unit = int(played[j - 1][-1])
        return np.full(self.frames_per_chunk, unit, dtype=np.int64)
