"""Chunks between the two sides: onto the sender's link, off it into the receiver's buffer.

Owns :class:`Delivery`: a finished chunk enters its side's link (:meth:`Delivery.send`), a
packet the link delivers enters the other side's receive buffer (:meth:`Delivery.arrive`),
the give-up timers (a chunk waiting behind a gap: ``buffer.give_up_ms`` after it arrived;
a chunk lost on the wire, for a receiver that waits: its path's base delay plus
``give_up_ms`` after it was sent) and the signal that wakes a speaker waiting for partner
chunks. Must not decide or play chunks, or know how a link draws its delays.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import simpy
from simpy.events import Event

from duplexsim.sides import other
from duplexsim.sim.clock import ARRIVE, at
from duplexsim.sim.link import Link, Packet
from duplexsim.sim.side import SideState


class Delivery:
    """The chunks in transit between the ``sides`` of one session, on its ``links`` (keyed
    by the sending side)."""

    def __init__(self, env: simpy.Environment, sides: Mapping[str, SideState],
                 links: Mapping[str, Link]):
        self.env, self.sides, self.links = env, sides, links
        self.no_side_waits = not any(side.waits for side in sides.values())
        """No speaker ever waits for partner chunks: no wake-up signal is fired."""
        self.signal: dict[str, Event] = {key: env.event() for key in sides}
        """Side -> the event its speaker waits on for partner chunks (a new one once fired)."""

    def arrive(self, key: str, packet: Packet) -> None:
        """A packet from the partner's link arrives in side ``key``'s receive buffer."""
        buffer = self.sides[key].buffer
        before, now = len(buffer.released), int(self.env.now)
        status = buffer.arrive(packet.chunk, packet.units, now)
        packet.record["status"] = status
        packet.record["arrived"] = True
        if status == "waiting" and buffer.give_up_ms > 0:
            timer = at(self.env, now + buffer.give_up_ms, ARRIVE)
            timer.callbacks.append(lambda _e: self._expire(key))
        if len(buffer.released) > before:
            self._wake(key)

    def _expire(self, key: str) -> None:
        buffer = self.sides[key].buffer
        before = len(buffer.released)
        buffer.expire(int(self.env.now))
        if len(buffer.released) > before:
            self._wake(key)

    def _wake(self, key: str) -> None:
        """Resume ``key``'s speaker if it waits for partner chunks.

        Without a waiting side nobody ever waits on a signal: firing one would only queue an
        empty event, so none is fired. With one, every signal fires, waited on or not: an
        empty one at the head of the queue is what stops
        :meth:`Session._join_simultaneous <duplexsim.sim.session.Session._join_simultaneous>`,
        so dropping it could change which decisions share a forward.
        """
        if self.no_side_waits:
            return
        signal, self.signal[key] = self.signal[key], self.env.event()
        signal.succeed()

    def send(self, key: str, chunk: int, units: np.ndarray) -> None:
        """Chunk ``chunk`` enters ``key``'s link; a waiting receiver learns of its loss."""
        link, receiver = self.links[key], self.sides[other(key)]
        first = len(link.records)
        link.put(chunk, units)
        give_up_ms = receiver.buffer.give_up_ms
        if receiver.waits and give_up_ms >= 0 \
                and all(rec["lost"] for rec in link.records[first:]):
            timer = at(self.env, int(self.env.now) + self.sides[key].due_ms + give_up_ms,
                       ARRIVE)
            receiver_key = receiver.key
            timer.callbacks.append(lambda _e: self._give_up_lost(receiver_key, chunk))

    def _give_up_lost(self, key: str, chunk: int) -> None:
        """Side ``key``'s buffer gives up partner chunk ``chunk`` (lost on the wire), not the
        chunks before it still in flight (it gave those up too: a chunk delayed past the lost
        one's give-up time arrived "late")."""
        buffer = self.sides[key].buffer
        if buffer.next_chunk <= chunk:
            buffer.give_up_lost(chunk, int(self.env.now))
            if buffer.next_chunk > chunk:
                self._wake(key)

    def close(self) -> None:
        """Deliver nowhere from now on and drop the signals (a closed session's speakers
        wait for nothing)."""
        for link in self.links.values():
            link.deliver = _closed
        self.signal.clear()


def _closed(packet: Packet) -> None:
    """A closed session's links deliver nowhere."""
    raise RuntimeError(f"packet of chunk {packet.chunk} arrived after its session was closed")
