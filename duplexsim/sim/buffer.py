"""The receive (jitter) buffer: partner chunks released in order, with a give-up policy.

Owns :class:`ReceiveBuffer`. Policy: chunks are released strictly in increasing order.
A chunk that arrives after a gap waits; once any waiting chunk has waited ``give_up_ms``
(``0`` = at once, ``-1`` = never), every missing chunk before it is given up and the
in-order run up to it and on from it is released (chunks that overtook each other do not
restart the wait for the gap in front of them). A chunk arriving below the release point (a
duplicate of a released chunk, or a chunk already given up) is not released; its status
says which. :meth:`ReceiveBuffer.give_up_lost` gives up a chunk known to be lost on the
wire (for a side that waits, see :mod:`duplexsim.sim.delivery`): that
chunk only, once the chunks before it are released or given up (one still in flight is
not given up for it). Must not know about agents, links or SimPy.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class ReceiveBuffer:
    give_up_ms: int = 400
    next_chunk: int = 0
    """The next chunk to release; everything below was released or given up."""
    waiting: dict[int, tuple[np.ndarray, int]] = field(default_factory=dict)
    """chunk -> (units, arrival ms) for chunks held behind a gap."""
    released: list[tuple[int, np.ndarray, int]] = field(default_factory=list)
    """(chunk, units, release ms) not yet handed to the agent."""
    given_up: set[int] = field(default_factory=set)
    lost: set[int] = field(default_factory=set)
    """Chunks known lost on the wire and not reached yet: given up when the release point
    gets to them (:meth:`give_up_lost`)."""
    seen: set[int] = field(default_factory=set)
    max_released: int = -1
    release_ms: dict[int, int] = field(default_factory=dict)
    """chunk -> time it was released (delivered to the agent side)."""

    def arrive(self, chunk: int, units: np.ndarray, now: int) -> str:
        """A copy arrived; returns its status: released | waiting | duplicate | late."""
        if chunk in self.seen:
            return "duplicate"
        if chunk < self.next_chunk:  # its gap was given up before it came
            self.seen.add(chunk)
            return "late"
        self.seen.add(chunk)
        self.waiting[chunk] = (units, now)
        self._release_run(now)
        if self.give_up_ms == 0:
            self.expire(now)
        return "released" if chunk < self.next_chunk else "waiting"

    def _release_run(self, now: int) -> None:
        """Release the in-order run from ``next_chunk``, passing chunks known lost."""
        while True:
            if self.next_chunk in self.waiting:
                units, _ = self.waiting.pop(self.next_chunk)
                self.released.append((self.next_chunk, units, now))
                self.release_ms[self.next_chunk] = now
                self.max_released = self.next_chunk
            elif self.next_chunk in self.lost:
                self.lost.discard(self.next_chunk)
                self.given_up.add(self.next_chunk)
            else:
                return
            self.next_chunk += 1

    def expire(self, now: int) -> None:
        """Give up gaps in front of chunks that have waited ``give_up_ms``."""
        if self.give_up_ms < 0:
            return
        due = [k for k, (_, t) in self.waiting.items() if now - t >= self.give_up_ms]
        if due:  # every gap below the latest of them is given up, the rest released
            self.give_up_through(max(due), now)

    def give_up_lost(self, chunk: int, now: int) -> None:
        """Chunk ``chunk`` is known lost: give it up (now if every chunk before it is
        released or given up, else once they are) and release the run after it. Chunks
        before it still in flight are not given up for it (they wait as before)."""
        if chunk >= self.next_chunk and chunk not in self.waiting:
            self.lost.add(chunk)
            self._release_run(now)

    def give_up_through(self, chunk: int, now: int) -> None:
        """Give up every missing chunk up to ``chunk``; release what follows."""
        while self.next_chunk <= chunk:
            if self.next_chunk in self.waiting:
                self._release_run(now)
            else:
                self.lost.discard(self.next_chunk)
                self.given_up.add(self.next_chunk)
                self.next_chunk += 1
        self._release_run(now)

    def take(self) -> list[tuple[int, np.ndarray, int]]:
        """Released chunks not yet handed over, in order (and forget them)."""
        out, self.released = self.released, []
        return out
