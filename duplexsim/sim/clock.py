"""Chunk clocks and the deterministic order of simultaneous events.

Owns :class:`ChunkClock` (a speaker's clock: offset and drift against the global clock,
chunk boundaries and decision times in global integer ms), :func:`place_frames` (which of
a chunk's frames plays in each 40 ms frame of the global grid) and :func:`at` (an event at
a given time with an explicit priority). Must not know about agents or the network.

A side's clock reads ``local = global * (1 + drift_ppm * 1e-6) + offset_ms``; so
``global = (local - offset_ms) / (1 + drift_ppm * 1e-6)``, rounded to whole ms and
clamped at 0 (the simulation starts at global time 0). Every time the simulator rounds to
whole ms (these instants, link arrivals, a path's base delay, a heard chunk's span) goes
through :func:`round_ms`: half a ms rounds up, never to even; a time or length given in
seconds (``duration_s``) becomes ms through :func:`ms_from_s`, by the same rule. Both live in
:mod:`duplexsim.timebase` (corpora, models and metrics round by them too) and are
re-exported here.

Order of events at the same simulated ms (SimPy orders by time, then priority, then
creation): ``SEND`` (a finished chunk enters its link; what was played is told to its
agent) < ``QUEUE`` (a link's queueing hops past the first take the packets that reached
them in this ms, in the order they reached them: every send of the ms is known by then)
< ``ARRIVE`` (packets leave links into receive buffers; give-up timers) < ``DECIDE`` (an
agent decides a chunk). So a chunk that arrives at time t is available to a decision at
time t, which makes zero network delay give lookahead 1 (the paper). Events of one
priority at one ms run in the order they were scheduled: packet arrivals (scheduled when
the packet is sent, or when it leaves a queueing hop past the first) and give-up timers
(when set) interleave that way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from heapq import heappush
from typing import NamedTuple

import numpy as np
import simpy
from simpy.events import Event

from duplexsim.timebase import ms_from_s as ms_from_s  # re-exported (module doc)
from duplexsim.timebase import round_ms as round_ms

SEND = 0
QUEUE = 0.5  # between SEND and ARRIVE; SimPy's own events (NORMAL = 1) stay beside ARRIVE
ARRIVE = 1
SETTLED = 1.5  # a stop between ARRIVE and DECIDE: this ms's arrivals are in, no decision ran
DECIDE = 2


class At(Event):
    """An event that fires at absolute time ``t_ms`` with ``priority`` (lower first)."""

    def __init__(self, env: simpy.Environment, t_ms: int, priority: float):
        # Event.__init__ and Environment.schedule inlined, already triggered (a session makes
        # several per chunk): the heap entry schedule() pushes for a delay of
        # max(0, t_ms - now), as the time max(t_ms, now) (a session's times are whole ms)
        self.env = env
        self.callbacks = []
        self._ok = True
        self._value = None
        now, t = env._now, int(t_ms)
        # simpy orders the heap by (time, priority, event id): SETTLED = 1.5 sits between
        # ARRIVE and DECIDE
        heappush(env._queue, (t if t > now else now, priority,  # type: ignore[misc]
                              next(env._eid), self))


def at(env: simpy.Environment, t_ms: int, priority: float) -> At:
    return At(env, t_ms, priority)


class FramePlacement(NamedTuple):
    """Where a chunk plays on the global frame grid (:func:`place_frames`)."""

    frames: np.ndarray
    """The global frames ``[G]`` int64 it plays on, ascending and contiguous."""
    local: np.ndarray
    """Which of its own frames plays on each ``[G]`` int64 (0 .. F-1, non-decreasing)."""
    end: int
    """The global frame after its span (``frames[-1] + 1`` when it has any)."""
    final: int
    """The global frames before this one are final: a chunk played after it starts no
    earlier than this chunk ends, so it can only take frames from here on (``<= end``)."""


def place_frames(starts_ms: np.ndarray, end_ms: int, frame_ms: int) -> FramePlacement:
    """Resample a chunk played on a clock of its own onto the global frame grid.

    ``starts_ms`` ``[F]``: when each of its frames starts (global ms, ascending); ``end_ms``:
    when its last frame ends. Each global frame gets the latest of its frames that started
    in it; a global frame in which none started gets the frame still playing, if that plays
    for at least half of it (sample and hold). On the global clock that is frame ``i`` on
    the global frame it starts in, ``first + i``, and, when the chunk starts 20-39 ms into
    a frame, its last frame once more on the frame where it ends (a chunk played back to
    back takes that frame: its first frame starts in it). A slow clock's frames last longer
    than a global frame: now and then one covers two (it used to leave the second silent
    inside continuous speech); a fast clock's are shorter: now and then one is dropped (the
    later of two that start in one global frame plays there). Chunks heard back to back
    with a 1 ms gap (a partner's clock rounds to whole ms) no longer leave a silent frame."""
    first = np.asarray(starts_ms, np.int64) // frame_ms
    start = int(first[0])
    end = max(start, (int(end_ms) + frame_ms // 2) // frame_ms)
    frames = np.arange(start, end, dtype=np.int64)
    local = (np.searchsorted(first, frames, side="right") - 1).astype(np.int64)
    return FramePlacement(frames, local, end, min(end, max(start, int(end_ms) // frame_ms)))


@dataclass(frozen=True)
class ChunkClock:
    """One speaker's chunk clock in global ms."""

    chunk_ms: int
    offset_ms: int = 0
    drift_ppm: float = 0.0
    lead_chunks: int = 1
    _global_ms: dict[float, int] = field(default_factory=dict, init=False, repr=False,
                                         compare=False, hash=False)
    """Memo of :meth:`to_global` (a session asks for the same few instants many times)."""

    @property
    def rate(self) -> float:
        """Local ms per global ms (``1 + drift_ppm * 1e-6``): a fast clock is above 1."""
        return 1.0 + self.drift_ppm * 1e-6

    def to_global(self, local_ms: float) -> int:
        t = self._global_ms.get(local_ms)
        if t is None:
            t = max(0, round_ms((local_ms - self.offset_ms) / self.rate))
            self._global_ms[local_ms] = t
        return t

    def chunk_start(self, k: int) -> int:
        """Global time chunk ``k`` starts being spoken (its deadline)."""
        return self.to_global(k * self.chunk_ms)

    def chunk_end(self, k: int) -> int:
        """Global time chunk ``k`` is complete and sent."""
        return self.to_global((k + 1) * self.chunk_ms)

    def frame_start(self, k: int, frame: int, frame_ms: int) -> int:
        return self.to_global(k * self.chunk_ms + frame * frame_ms)

    def decision_time(self, k: int) -> int:
        """Global time own chunk ``k`` is decided: start of chunk ``k - lead`` (>= 0)."""
        return self.to_global(max(0, k - self.lead_chunks) * self.chunk_ms)
