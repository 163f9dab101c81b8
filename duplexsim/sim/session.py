"""The simulated conversation: two speakers, two links, two receive buffers, one SimPy world.

Owns :class:`Session` (build from a scenario, step with :meth:`Session.run_until` /
:meth:`Session.advance_chunk`, finish into a :class:`~duplexsim.sim.trace.Trace`) and
:func:`run`. Must not know how agents think (protocol only) or how links draw delays.

Per side and own chunk ``j`` (times in global ms from the side's :class:`ChunkClock`):
- the decision starts at ``max(decision_time(j), busy_until)`` (one worker per agent);
- released partner chunks are handed over in order (``observe_partner``), the agent
  ``produce``s chunk ``j``; compute time comes from the compute model; the chunk misses its
  deadline (the start of chunk ``j``) if ``start + compute > deadline``; a decision that
  starts after its deadline is skipped (no ``produce``) and counts as a miss; a miss plays
  silence or repeats the last unit (``compute.on_miss``);
- at the deadline the agent is told what was played (``played``); at the chunk's end the
  chunk is sent on the side's link.
Playout runs on the clock, not on the worker: when a decision's compute ends after the end
of later chunks (compute per chunk above about two chunks), those chunks are settled as
misses right away (played at their deadline, sent at their end). Their rows are still
written, skipped, when the worker gets to them, and the session runs on until it has
(:attr:`Session.end_ms`): every chunk has one decision row and one played chunk.
The first ``decision_lead_chunks`` chunks are prepared before the conversation starts:
their deadline is not enforced and their compute time does not delay later decisions.

A syncllm side with ``estimation = "wait"`` *stalls* instead of estimating:
- its decision for chunk ``j`` starts as above, then waits, with no deadline, until every
  partner chunk ``< j`` has been released or given up (``buffer.next_chunk >= j``), so its
  lookahead is 0 unless a chunk was given up (then the model estimates that one);
- playout slips instead of missing: when chunk ``j`` is ready (decision + compute; a
  prologue chunk's compute is not counted) after its start, the side's slip grows by the
  difference (``stall_ms``) so chunk ``j`` starts exactly when ready. Chunk ``j`` and every
  later chunk of the side (decision time, start = ``deadline_ms``, end = send time) are
  shifted by the accumulated slip (``slip_ms``), which never shrinks. Slip gaps are
  silence on the global timeline. A waiting side never misses a deadline or skips;
- a partner chunk lost on the wire (every copy) is given up ``buffer.give_up_ms`` after it
  was due (its send time + the path's base delay, the sum of the hops' ``delay_ms``), if
  the buffer has not given it up before: a waiting side may be the very reason no later
  chunk comes (both sides wait, or the stream ended), so the gap rule alone could stall it
  forever. (``give_up_ms = -1`` with a waiting side and a lossy incoming link is refused by
  the scenario.)
With a constant one-way delay ``d``, lead 1 and no compute, a waiting side against a
partner that does not wait slips by ``d`` once (at chunk 1) and then keeps pace; when both
sides wait, each chunk after the first takes ``C + d`` (chunk ``j >= 1`` starts at
``j (C + d)``). The end of the conversation (:attr:`Session.end_ms`) moves with the slip.

Lookahead (recorded per decision): partner chunks after the latest released one and
before ``j`` (a chunk given up long ago does not inflate it). With a constant one-way
delay ``d``, lead ``l`` and chunk ``C``: ``L = l + ceil(d / C)`` (``min(j, ...)`` for the
first chunks); zero delay gives the paper's ``L = 1``.

Seeds: ``SeedSequence(scenario.seed).spawn(4)`` -> link A->B, link B->A, agent a, agent b.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import simpy

from duplexsim.agents.base import Agent
from duplexsim.config.scenario import FRAME_MS, Scenario
from duplexsim.sim.buffer import ReceiveBuffer
from duplexsim.sim.build import SIDES, build_agents, compute_ms, silence_unit_of
from duplexsim.sim.clock import ARRIVE, DECIDE, SEND, ChunkClock, at
from duplexsim.sim.link import Link

DIRECTION = {"a": "A->B", "b": "B->A"}
LINK_KEY = {"a": "a_to_b", "b": "b_to_a"}


def other(side: str) -> str:
    return "b" if side == "a" else "a"


class Session:
    """One simulated conversation, steppable (for the envs) or run to the end (:func:`run`)."""

    def __init__(self, scenario: Scenario, agents: Mapping[str, Agent] | None = None,
                 *, progress: bool = False):
        self.scenario = scenario
        self.agents = build_agents(scenario, agents)
        self.env = simpy.Environment()
        link_a, link_b, seed_a, seed_b = np.random.SeedSequence(scenario.seed).spawn(4)
        net = scenario.network
        self.links = {  # keyed by the sending side
            "a": Link(self.env, DIRECTION["a"], net.hops("a_to_b"), link_a),
            "b": Link(self.env, DIRECTION["b"], net.hops("b_to_a"), link_b),
        }
        for key, seed in (("a", seed_a), ("b", seed_b)):
            self.agents[key].reset(int(seed.generate_state(1)[0]))
        self.clocks = {
            key: ChunkClock(scenario.chunk_ms, getattr(scenario, key).clock_offset_ms,
                            getattr(scenario, key).clock_drift_ppm,
                            scenario.decision_lead_chunks)
            for key in SIDES
        }
        self.buffers = {key: ReceiveBuffer(scenario.buffer.give_up_ms) for key in SIDES}
        self.wait = {key: getattr(scenario, key).waits for key in SIDES}
        self.n_chunks = scenario.n_chunks
        self.silence = {key: silence_unit_of(self.agents[key]) for key in SIDES}
        self.decisions: list[dict[str, Any]] = []
        self.played: dict[str, dict[int, np.ndarray]] = {key: {} for key in SIDES}
        self.used_ms: dict[str, dict[int, int]] = {key: {} for key in SIDES}
        self.estimated_ms: dict[str, dict[int, int]] = {key: {} for key in SIDES}
        self.slip_ms = {key: 0 for key in SIDES}
        """Accumulated slip of each side so far (only a waiting side slips)."""
        self.chunk_slip_ms: dict[str, dict[int, int]] = {key: {} for key in SIDES}
        """Side -> chunk -> the slip its start and end were shifted by."""
        self.decided = {key: 0 for key in SIDES}
        """Side -> how many of its chunks have been decided."""
        self._next_decision_ms = {key: 0 for key in SIDES}
        """Side -> when its worker gets to its next undecided chunk."""
        self._due_ms = {key: _base_delay_ms(net.hops(LINK_KEY[key])) for key in SIDES}
        """Base one-way delay of each side's outgoing path (when a lost chunk was due)."""
        self._signal = {key: self.env.event() for key in SIDES}
        self._progress = _progress_bar(progress, self.end_ms, scenario.name)
        for key in SIDES:
            self.env.process(self._speaker(key))
            self.env.process(self._receiver(key))

    # ------------------------------------------------------------------ stepping
    @property
    def now(self) -> int:
        return int(self.env.now)

    @property
    def end_ms(self) -> int:
        """When the last chunk is sent (the simulation runs to here, inclusive), or later
        when a side's worker gets to its last (skipped) decisions only after that.

        Fixed without a waiting side or a worker that far behind. Otherwise a lower bound
        that grows as a waiting side slips (its undecided chunk ``j`` cannot start before
        now) or a worker's backlog becomes known, final once every chunk is decided.
        """
        return max(self._side_end_ms(key) for key in SIDES)

    def _side_end_ms(self, key: str) -> int:
        clock, slip, j = self.clocks[key], self.slip_ms[key], self.decided[key]
        end = clock.chunk_end(self.n_chunks - 1) + slip
        if self.wait[key] and j < self.n_chunks:
            end += max(0, self.now - (clock.chunk_start(j) + slip))
        elif j < self.n_chunks:  # the worker may reach its last chunks after they were sent
            end = max(end, self._next_decision_ms[key])
        return end

    def chunk_frames(self, key: str, j: int) -> np.ndarray:
        """The global 40 ms frames ``[F]`` chunk ``j`` of side ``key`` plays on, as in
        ``Trace.units``: its clock's frame starts shifted by the slip it was played with (a
        chunk not played yet: the side's slip so far, final for a side that never waits)."""
        clock = self.clocks[key]
        slip = self.chunk_slip_ms[key].get(j, self.slip_ms[key])
        return np.array([(clock.frame_start(j, i, FRAME_MS) + slip) // FRAME_MS
                         for i in range(self.scenario.frames_per_chunk)], np.int64)

    def run_until(self, t_ms: int) -> None:
        """Process every event before ``t_ms`` (events at ``t_ms`` itself are not run yet),
        never past the end (:attr:`end_ms` + 1, re-read as a waiting side slips)."""
        t_ms = int(t_ms)
        while True:
            target = min(t_ms, self.end_ms + 1)
            if target <= self.env.now:
                break
            self.env.run(until=target)
            self._check_not_stuck()
        if self._progress is not None:
            self._progress.total = max(self._progress.total, self.end_ms + 1)
            self._progress.update(int(self.env.now) - self._progress.n)

    def _check_not_stuck(self) -> None:
        """A waiting side with nothing left to simulate would wait forever: say so."""
        # SimPy (4.1) keeps the stopped ``until`` event queued with no callbacks, so peek()
        # is never inf after run(until=...): only events with callbacks can move anything
        if any(event.callbacks for *_, event in self.env._queue):
            return
        for key in SIDES:
            if self.decided[key] < self.n_chunks:
                raise RuntimeError(
                    f"{self.scenario.name}: side {key} waits for partner chunk "
                    f"{self.buffers[key].next_chunk} at {self.now} ms, and nothing left to "
                    "simulate can deliver or give it up (buffer.give_up_ms = "
                    f"{self.scenario.buffer.give_up_ms})")

    def advance_chunk(self) -> None:
        """Run to the next chunk boundary of the global clock."""
        C = self.scenario.chunk_ms
        self.run_until((self.now // C + 1) * C)

    @property
    def done(self) -> bool:
        return self.env.now > self.end_ms

    def finish(self) -> Any:
        """Run to the end (the last chunk sent; what is still on the wire stays in flight)."""
        from duplexsim.sim.trace import build_trace

        while not self.done:  # with a bar: chunk by chunk so it moves (same events)
            if self._progress is not None:
                self.advance_chunk()
            else:
                self.run_until(self.end_ms + 1)
        if self._progress is not None:
            self._progress.close()
        return build_trace(self)

    # ------------------------------------------------------------------ processes
    def _receiver(self, key: str):  # noqa: ANN202 - SimPy process
        """Packets from the partner's link into this side's receive buffer."""
        link, buffer = self.links[other(key)], self.buffers[key]
        while True:
            packet = yield link.out.get()
            before = len(buffer.released)
            status = buffer.arrive(packet.chunk, packet.units, self.now)
            packet.record["status"] = status
            packet.record["arrived"] = True
            if status == "waiting" and buffer.give_up_ms > 0:
                timer = at(self.env, self.now + buffer.give_up_ms, ARRIVE)
                timer.callbacks.append(lambda _e, k=key: self._expire(k))
            if len(buffer.released) > before:
                self._wake(key)

    def _expire(self, key: str) -> None:
        buffer = self.buffers[key]
        before = len(buffer.released)
        buffer.expire(self.now)
        if len(buffer.released) > before:
            self._wake(key)

    def _wake(self, key: str) -> None:
        signal, self._signal[key] = self._signal[key], self.env.event()
        signal.succeed()

    def _send(self, key: str, chunk: int, units: np.ndarray) -> None:
        """Chunk ``chunk`` enters ``key``'s link; a waiting receiver learns of its loss."""
        link, receiver = self.links[key], other(key)
        first = len(link.records)
        link.put(chunk, units)
        give_up_ms = self.buffers[receiver].give_up_ms
        if self.wait[receiver] and give_up_ms >= 0 \
                and all(rec["lost"] for rec in link.records[first:]):
            timer = at(self.env, self.now + self._due_ms[key] + give_up_ms, ARRIVE)
            timer.callbacks.append(lambda _e, k=receiver, c=chunk: self._give_up_lost(k, c))

    def _give_up_lost(self, key: str, chunk: int) -> None:
        buffer = self.buffers[key]
        if buffer.next_chunk <= chunk:
            buffer.give_up_through(chunk, self.now)
            self._wake(key)

    def _hand_over(self, key: str) -> None:
        agent = self.agents[key]
        for chunk, units, _ in self.buffers[key].take():
            agent.observe_partner(chunk, units)
            self.used_ms[key][chunk] = self.now

    def _speaker(self, key: str):  # noqa: ANN202 - SimPy process
        clock = self.clocks[key]
        busy_until = 0
        for j in range(self.n_chunks):
            planned = clock.decision_time(j) + self.slip_ms[key]
            deadline = clock.chunk_start(j) + self.slip_ms[key]
            self._next_decision_ms[key] = max(planned, busy_until)
            yield at(self.env, max(planned, busy_until), DECIDE)
            if self.wait[key]:  # stall: no deadline, only the real chunks (or give-ups)
                while self.buffers[key].next_chunk < j:
                    yield self._signal[key]
            settled = j in self.played[key]
            row, units = self._decide(key, j, planned, deadline)
            if not row["prologue"]:
                busy_until = row["ready_ms"]
            self.decisions.append(row)
            self.decided[key] = j + 1
            if not settled:
                self._play(key, j, units, row["deadline_ms"])
            if not self.wait[key]:
                self._settle_misses(key, j + 1, busy_until)

    def _play(self, key: str, j: int, units: np.ndarray, start_ms: int) -> None:
        """Chunk ``j`` of ``key`` plays ``units`` from ``start_ms`` (the agent is told then,
        or now if later) and is sent at its end (both shifted by the side's slip)."""
        slip = self.slip_ms[key]
        self.chunk_slip_ms[key][j] = slip
        self.played[key][j] = units
        at(self.env, start_ms, SEND).callbacks.append(
            lambda _e, k=key, c=j, u=units: self.agents[k].played(c, u))
        at(self.env, self.clocks[key].chunk_end(j) + slip, SEND).callbacks.append(
            lambda _e, k=key, c=j, u=units: self._send(k, c, u))

    def _settle_misses(self, key: str, first: int, busy_until: int) -> None:
        """Chunks from ``first`` on that end before the worker is free are misses now.

        The worker would reach them (and skip them) only after their end: their playout
        and send cannot wait for it. Chunks it reaches by their end are left to it, as
        the skip is recorded then (the same units either way).
        """
        clock = self.clocks[key]
        for j in range(first, self.n_chunks):
            if clock.chunk_end(j) >= busy_until:
                break
            if j not in self.played[key]:
                self._play(key, j, self._miss_units(key, j), clock.chunk_start(j))

    def _decide(self, key: str, j: int, planned: int, deadline: int,
                ) -> tuple[dict[str, Any], np.ndarray]:
        """Hand over arrivals, produce chunk ``j`` (unless hopelessly late), apply deadline
        (or, for a waiting side, stall: move the start to when the chunk is ready)."""
        self._hand_over(key)
        agent, buffer, now = self.agents[key], self.buffers[key], self.now
        prologue = j < self.scenario.decision_lead_chunks
        row: dict[str, Any] = {
            "agent": key, "name": str(getattr(agent, "name", key)), "chunk": j,
            "planned_ms": planned, "decided_ms": now, "waited_ms": now - planned,
            "prologue": prologue,
            "lookahead": max(0, min(j, j - 1 - buffer.max_released)),
            "missing": j - sum(1 for k in self.used_ms[key] if k < j),
        }
        skipped = now > deadline and not prologue and not self.wait[key]
        report = None if skipped else agent.produce(j)
        cost = 0 if report is None else compute_ms(report, self.scenario.compute)
        ready = now + cost
        stall = 0
        if self.wait[key]:  # the chunk starts when it is ready: never a miss
            stall = max(0, (now if prologue else ready) - deadline)
            self.slip_ms[key] += stall
            deadline += stall
        miss = skipped or (ready > deadline and not prologue)
        estimates = {} if report is None else dict(report.estimates)
        for k in estimates:
            self.estimated_ms[key].setdefault(k, now)
        est_chunks = sorted(estimates)
        if j in self.played[key]:  # settled as a miss while the worker was busy
            assert skipped, f"{key}: chunk {j} settled before its decision, yet not skipped"
            units = self.played[key][j]
        else:
            units = self._miss_units(key, j) if miss else np.asarray(report.units, np.int64)  # type: ignore[union-attr]
        row.update({
            "deadline_ms": deadline, "ready_ms": ready, "compute_ms": cost,
            "deadline_miss": miss, "skipped": skipped,
            "stall_ms": stall, "slip_ms": self.slip_ms[key],
            "agent_lookahead": -1 if report is None else int(report.lookahead),
            "estimated_chunks": est_chunks,
            "estimated_units": [int(u) for k in est_chunks for u in np.ravel(estimates[k])],
            "generated_tokens": 0 if report is None else int(report.generated_tokens),
            "prefill_tokens": 0 if report is None else int(report.prefill_tokens),
            "compute_wall_ms": 0.0 if report is None else float(report.compute_wall_ms),
            "played_units": [int(u) for u in units],
        })
        return row, units

    def _miss_units(self, key: str, j: int) -> np.ndarray:
        F = self.scenario.frames_per_chunk
        unit = self.silence[key]
        if self.scenario.compute.on_miss == "repeat" and (j - 1) in self.played[key]:
            unit = int(self.played[key][j - 1][-1])
        return np.full(F, unit, dtype=np.int64)


def _base_delay_ms(hops: list[Any]) -> int:
    """A path's base one-way delay: the sum of its hops' ``delay_ms`` (no jitter, spikes)."""
    return round(sum(float(hop.delay_ms or 0.0) for hop in hops))


def _progress_bar(progress: bool, total_ms: int, name: str) -> Any:
    if not progress:
        return None
    from tqdm import tqdm

    return tqdm(total=total_ms + 1, unit="ms", desc=f"simulate {name}", unit_scale=True)


def run(scenario: Scenario, *, agents: Mapping[str, Agent] | None = None,
        progress: bool = False) -> Any:
    """Simulate ``scenario`` to the end and return its :class:`~duplexsim.sim.trace.Trace`."""
    return Session(scenario, agents, progress=progress).finish()
