"""Links: one per direction, a chain of hops; each owns its delay, loss, ordering, rate.

Owns :class:`Hop` (netem-like: delay model, loss model, fifo/reorder, serialisation at a
bandwidth) and :class:`Link` (SimPy: ``put`` a packet at send time; at its arrival time the
link hands it to its ``deliver`` callback, one ``ARRIVE`` event per packet copy scheduled
when it is sent; senders and receivers know nothing of the delay). Every copy of every
packet appends one plain dict to ``Link.records``. Must not know about agents or receive
buffers.

Path semantics: a packet crosses the hops in order; per-hop delays add; loss on any hop
loses it. Duplication is decided once per packet (probability ``1 - prod(1 - d_i)``); the
copy crosses the path on its own draws. ``fifo`` on a hop means that hop's exit time is
``max(entry + delay, exits of the packets that entered the hop before it)``: packets leave
in the order they *entered that hop*, so a packet that overtook another on an earlier
``reorder`` hop stays ahead on a fifo hop after it (exact for a constant-delay hop such as
an ``ideal`` edge; the entries are compared with the last 64 packets'). ``reorder`` draws
each packet independently. Each hop draws its delay and loss for every packet, also for
one lost on an earlier hop, so a loss never shifts another packet's draws (common random
numbers across scenarios that differ in loss). Exit times are rounded to integer ms at
the end of the path. Serialisation at a bandwidth queues packets in send order.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import simpy

from duplexsim.config.network import LinkConfig
from duplexsim.sim.clock import ARRIVE, at
from duplexsim.sim.delay import DelayModel
from duplexsim.sim.loss import make_loss

FIFO_MEMORY = 64
"""Packets a fifo hop remembers to place one that entered it out of send order."""
HEADER_BYTES = 40  # IPv4 + UDP + RTP headers of one chunk packet
BYTES_PER_FRAME = 2  # one int16 unit id per 40 ms frame


class Hop:
    """One netem-like hop: delay, loss, ordering, serialisation."""

    def __init__(self, link: LinkConfig, seed: np.random.SeedSequence):
        jitter_seed, loss_seed = seed.spawn(2)
        self.config = link
        self.delay = DelayModel(link, np.random.default_rng(jitter_seed))
        self.loss = make_loss(link, np.random.default_rng(loss_seed))
        self.fifo = link.ordering == "fifo"
        self.kbps = float(link.bandwidth_kbps)  # type: ignore[arg-type]
        self.last_entry = -math.inf
        self.last_exit = -math.inf
        self.crossed: deque[tuple[float, float]] = deque(maxlen=FIFO_MEMORY)
        """fifo: (entry, exit) of the latest packets, for one that entered out of order."""
        self.busy_until = 0.0

    def traverse(self, t_ms: float, size_bytes: int) -> float | None:
        """Exit time of a packet entering at ``t_ms``; None if this hop loses it."""
        drawn = self.delay.draw_ms()  # drawn even if lost: loss never shifts the delays
        if self.loss.lost():
            return None
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

    def skip(self) -> None:
        """A packet lost before this hop: its draws are made all the same (module doc)."""
        self.delay.draw_ms()
        self.loss.lost()


@dataclass
class Packet:
    """One copy of a chunk on the wire; ``record`` is its row in the network trace."""

    chunk: int
    units: np.ndarray
    record: dict[str, Any]


class Link:
    """One direction: hops in order; ``deliver(packet)`` is called at each arrival."""

    def __init__(self, env: simpy.Environment, direction: str, hops: list[LinkConfig],
                 seed: np.random.SeedSequence, deliver: Callable[[Packet], None]):
        hop_seeds = seed.spawn(len(hops) + 1)
        self.env = env
        self.direction = direction
        self.hops = [Hop(h, s) for h, s in zip(hops, hop_seeds[1:], strict=True)]
        self.dup_rng = np.random.default_rng(hop_seeds[0])
        keep = math.prod(1.0 - float(h.duplicate) for h in hops)  # type: ignore[arg-type]
        self.duplicate_p = 1.0 - keep
        self.deliver = deliver
        self.records: list[dict[str, Any]] = []

    def put(self, chunk: int, units: np.ndarray) -> None:
        """Send chunk ``chunk`` now; each copy not lost is delivered at its arrival time."""
        copies = 1
        if self.duplicate_p > 0 and self.dup_rng.random() < self.duplicate_p:
            copies = 2
        size = HEADER_BYTES + BYTES_PER_FRAME * len(units)
        now = self.env.now
        for copy in range(copies):
            t: float | None = float(now)
            for hop in self.hops:
                if t is None:
                    hop.skip()
                else:
                    t = hop.traverse(t, size)
            arrival = None if t is None else math.floor(t + 0.5)  # half-ms up, not to even
            record = {
                "direction": self.direction, "chunk": chunk, "copy": copy, "sent_ms": now,
                "arrival_ms": math.nan if arrival is None else float(arrival),
                "delay_ms": math.nan if arrival is None else float(arrival - now),
                "lost": arrival is None, "duplicate": copy > 0,
            }
            self.records.append(record)
            if arrival is not None:
                packet = Packet(chunk, units, record)
                at(self.env, arrival, ARRIVE).callbacks.append(
                    lambda _e, p=packet: self.deliver(p))
