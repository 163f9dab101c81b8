"""Links: one per direction, a chain of hops; each owns its delay, loss, ordering, rate.

Owns :class:`Hop` (netem-like: delay model, loss model, fifo/reorder, serialisation at a
bandwidth) and :class:`Link` (SimPy: ``put`` a packet at send time; at its arrival time the
link hands it to its ``deliver`` callback, one ``ARRIVE`` event per packet copy, scheduled
when it is sent or, on a path with a queueing hop past the first, when it leaves the last
such hop; senders and receivers know nothing of the delay). Every copy of every packet
appends one plain dict to ``Link.records`` when it is sent (its ``arrival_ms``, the time
it is scheduled to arrive, filled in once known: NaN for a copy still before a queueing hop
when the simulation ends; the trace calls that ``due_ms`` and keeps ``arrival_ms`` for the
copies that did arrive). Must not know about agents or receive buffers.

Path semantics: a packet crosses the hops in order; per-hop delays add; loss on any hop
loses it there, after it crossed the hops before it (it held their fifo order and took its
turn on their wire, as in a chain of netem qdiscs; a hop's own loss drops it on entry, as
netem's does, before its queue). Duplication is decided once per packet (probability
``1 - prod(1 - d_i)``); the copy crosses the path on its own draws. ``fifo`` on a hop means
that hop's exit time is ``max(entry + delay, exits of the packets that entered the hop
before it)``: packets leave
in the order they *entered that hop*, so a packet that overtook another on an earlier
``reorder`` hop stays ahead on a fifo hop after it (exact for a constant-delay hop such as
an ``ideal`` edge; the entries are compared with the last 64 packets'). ``reorder`` draws
each packet independently. Each hop draws its delay and loss for every packet, also for
one lost on an earlier hop, so a loss never shifts another packet's draws (common random
numbers across scenarios that differ in loss); every hop's draws for a packet are made
when it is sent, in send order. Exit times are rounded to integer ms at the end of the
path, half a ms up (:func:`~duplexsim.sim.clock.round_ms`). Serialisation at a bandwidth
queues packets in the order they reach that hop, as a real link (or a chain of netem
qdiscs) does: on the first hop that is send order; a hop past the first with a bandwidth
(a *queueing hop*) takes a packet only once every packet
that could reach it earlier is known, at a ``QUEUE`` event of the ms it reaches the hop
(after that ms's sends), so a packet that overtook another on an earlier ``reorder`` hop
(or a duplicate ahead of its original) is serialised before it, not behind it.

Where it is not netem: a hop serialises a packet when it enters and then adds its own delay
draw, so a ``reorder`` hop with a bandwidth still reorders (netem's ``rate`` sends each
packet after the one before it, never reordering, and after a jitter hold spaces the packets
it releases by their serialisation time); the queue is unbounded (no ``limit``); a packet is
its 40 header bytes plus payload, with no Ethernet header in the rate; there is no loss
correlation, 4-state loss model or ``reorder ... gap``. A duplicate copy draws its delay and
loss from the hop's streams, so ``duplicate > 0`` shifts the draws of the packets after it; each
copy is lost on its own draw (netem draws loss once for a packet and its duplicate: a
duplicated packet it loses still sends one copy).
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import simpy

from duplexsim.config.link import LinkConfig
from duplexsim.sim.clock import ARRIVE, QUEUE, at
from duplexsim.sim.delay import DelayModel
from duplexsim.sim.loss import make_loss
from duplexsim.timebase import round_ms

FIFO_MEMORY = 64
"""Packets a fifo hop remembers to place one that entered it out of send order."""
HEADER_BYTES = 40  # IPv4 + UDP + RTP headers of one chunk packet
BYTES_PER_FRAME = 2  # one int16 unit id per 40 ms frame


class Hop:
    """One netem-like hop: delay, loss, ordering, serialisation."""

    def __init__(self, link: LinkConfig, seed: np.random.SeedSequence, spike_phase: float = 0.0):
        jitter_seed, loss_seed = seed.spawn(2)
        self.config = link
        self.delay = DelayModel(link, np.random.default_rng(jitter_seed), spike_phase)
        self.loss = make_loss(link, np.random.default_rng(loss_seed))
        self.fifo = link.ordering == "fifo"
        self.kbps = float(link.bandwidth_kbps)  # type: ignore[arg-type]
        self.last_entry = -math.inf
        self.last_exit = -math.inf
        self.crossed: deque[tuple[float, float]] = deque(maxlen=FIFO_MEMORY)
        """fifo: (entry, exit) of the latest packets, for one that entered out of order."""
        self.busy_until = 0.0

    def draw(self) -> float | None:
        """This hop's draws for one packet (made for every packet, in send order, also one
        lost on an earlier hop: a loss never shifts another packet's draws): its delay
        draw, or None if this hop loses it."""
        drawn = self.delay.draw_ms()
        return None if self.loss.lost() else drawn

    def cross(self, t_ms: float, size_bytes: int, drawn: float) -> float:
        """Exit time of a packet (not lost, delay draw ``drawn``) entering at ``t_ms``,
        after the packets that entered before it."""
        if self.kbps > 0:  # kbit/s = bit/ms: serialise after the packets before it
            start = max(t_ms, self.busy_until)
            self.busy_until = start + size_bytes * 8 / self.kbps
            t_ms = self.busy_until
        exit_ms = t_ms + self.delay.delay_ms(t_ms, drawn)
        if self.fifo:
            if t_ms >= self.last_entry:  # the usual case: behind every packet before it
                exit_ms = max(exit_ms, self.last_exit)
                self.last_entry = t_ms
            else:  # it overtook on an earlier hop: behind those that entered before it only
                exit_ms = max([exit_ms] + [e for t, e in self.crossed if t <= t_ms])
            self.last_exit = max(self.last_exit, exit_ms)
            self.crossed.append((t_ms, exit_ms))
        return exit_ms


@dataclass
class Packet:
    """One copy of a chunk on the wire; ``record`` is its row in the network trace."""

    chunk: int
    units: np.ndarray
    record: dict[str, Any]


@dataclass(order=True)
class _Queued:
    """A copy on its way: where it is (entering hop ``hop`` at ``t_ms``) and what it carries;
    ordered by entry time, then send order (``seq``)."""

    t_ms: float
    seq: int
    hop: int = field(compare=False)
    packet: Packet = field(compare=False)
    draws: list[float | None] = field(compare=False)
    """Each hop's delay draw, None where that hop loses it."""
    size_bytes: int = field(compare=False)


class Link:
    """One direction: hops in order; ``deliver(packet)`` is called at each arrival."""

    def __init__(self, env: simpy.Environment, direction: str, hops: list[LinkConfig],
                 seed: np.random.SeedSequence, deliver: Callable[[Packet], None],
                 spike_phase: float = 0.0):
        """``spike_phase``: where in their period the hops' delay spikes are at time 0 (a
        fraction in [0, 1), :class:`~duplexsim.sim.delay.DelayModel`)."""
        hop_seeds = seed.spawn(len(hops) + 1)
        self.env = env
        self.direction = direction
        self.hops = [Hop(h, s, spike_phase) for h, s in zip(hops, hop_seeds[1:], strict=True)]
        self.dup_rng = np.random.default_rng(hop_seeds[0])
        keep = math.prod((1.0 - float(h.duplicate) for h in hops),  # type: ignore[arg-type]
                         start=1.0)
        self.duplicate_p = 1.0 - keep
        self.deliver = deliver
        self.records: list[dict[str, Any]] = []
        self._queued: dict[int, list[_Queued]] = {
            i: [] for i, hop in enumerate(self.hops) if i > 0 and hop.kbps > 0}
        """Queueing hop -> heap of the copies that reach it, by (entry time, send order)."""
        self._ticks: set[int] = set()
        """The ms of the ``QUEUE`` events scheduled and not yet run."""
        self._sent = 0

    def put(self, chunk: int, units: np.ndarray) -> None:
        """Send chunk ``chunk`` now; each copy not lost is delivered at its arrival time."""
        copies = 1
        if self.duplicate_p > 0 and self.dup_rng.random() < self.duplicate_p:
            copies = 2
        size = HEADER_BYTES + BYTES_PER_FRAME * len(units)
        now = self.env.now
        for copy in range(copies):
            draws = [hop.draw() for hop in self.hops]
            lost = None in draws  # (a draw is a float or None)
            record = {
                "direction": self.direction, "chunk": chunk, "copy": copy, "sent_ms": now,
                "arrival_ms": math.nan, "delay_ms": math.nan, "lost": lost,
                "duplicate": copy > 0,
            }
            self.records.append(record)
            if draws[0] is not None:  # (lost on a later hop: it crosses those before it)
                self._sent += 1
                self._travel(float(now), self._sent, 0, Packet(chunk, units, record), draws,
                             size)

    def _travel(self, t_ms: float, seq: int, hop: int, packet: Packet,
                draws: list[float | None], size_bytes: int) -> None:
        """Cross the hops from ``hop`` on (entering it at ``t_ms``; ``seq``: the copy's send
        order), up to the next queueing hop (where it waits, a :class:`_Queued`, for that
        ms's ``QUEUE`` event), the hop that loses it (dropped on entry) or the end of the
        path (its arrival). (No _Queued on the way: most paths have no queueing hop.)"""
        t = t_ms
        for i in range(hop, len(self.hops)):
            drawn = draws[i]
            if drawn is None:
                return
            if i > hop and i in self._queued:
                self._queue_at(_Queued(t, seq, i, packet, draws, size_bytes))
                return
            t = self.hops[i].cross(t, size_bytes, drawn)
        arrival = round_ms(t)  # half a ms up, as every simulated time
        record = packet.record
        record["arrival_ms"] = float(arrival)
        record["delay_ms"] = float(arrival - record["sent_ms"])
        at(self.env, arrival, ARRIVE).callbacks.append(lambda _e: self.deliver(packet))

    def _queue_at(self, item: _Queued) -> None:
        heapq.heappush(self._queued[item.hop], item)
        tick = math.floor(item.t_ms)
        if tick not in self._ticks:
            self._ticks.add(tick)
            at(self.env, tick, QUEUE).callbacks.append(lambda _e: self._tick(tick))

    def _tick(self, ms: int) -> None:
        """The queueing hops, in path order, take the copies that reach them before
        ``ms + 1`` in the order they reach them (every one is known now: later sends
        reach them later, and earlier hops hand theirs on first)."""
        for heap in self._queued.values():
            while heap and heap[0].t_ms < ms + 1:
                item = heapq.heappop(heap)
                self._travel(item.t_ms, item.seq, item.hop, item.packet, item.draws,
                             item.size_bytes)
        self._ticks.discard(ms)
