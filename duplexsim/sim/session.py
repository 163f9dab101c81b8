"""The simulated conversation: two speakers, two links, two receive buffers, one SimPy world.

Owns :class:`Session` (build from a scenario, step with :meth:`Session.run_until` /
:meth:`Session.advance_chunk`, finish into a :class:`~duplexsim.sim.trace.Trace`) and
:func:`run`: the SimPy process of each side's speaker, the links between them and the
arrivals they deliver into the receive buffers. Per-side state is
:class:`~duplexsim.sim.side.SideState`, the deadline / wait rules are
:mod:`duplexsim.sim.playout`, and everything the trace needs is written to a
:class:`~duplexsim.sim.recorder.TraceRecorder`. Must not know how agents think (protocol
only) or how links draw delays.

Model work: an agent that offers ``produce_steps`` (the SyncLLM and TDM agents) is asked for its
chunk as an engine program (:mod:`duplexsim.models.engine`): the speaker process waits on
an event while the program runs, and the session's own program (:meth:`Session.run_program`)
hands the program's token requests to whoever drives it: :func:`~duplexsim.models.engine.drive`
for one session (``run_until``, ``finish``), :func:`~duplexsim.models.engine.run_lockstep`
for many (:func:`duplexsim.sim.batch.run_batch`). Simulated time does not move while a
program runs (the event that resumes the speaker fires at the same ms, before any other
event left at that ms), so a session computes exactly the same thing either way.

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

A syncllm side with ``estimation = "wait"`` stalls instead of estimating and its playout
slips instead of missing: :mod:`duplexsim.sim.playout` has the rules (``deadline`` |
``wait``) and what they imply for constant delays.

Lookahead (recorded per decision): partner chunks after the latest released one and
before ``j`` (a chunk given up long ago does not inflate it). With a constant one-way
delay ``d``, lead ``l`` and chunk ``C``: ``L = l + ceil(d / C)`` (``min(j, ...)`` for the
first chunks); zero delay gives the paper's ``L = 1``.

Seeds: ``SeedSequence(scenario.seed).spawn(5)`` -> link A->B, link B->A, agent a, agent b,
the phase of the delay-spike schedule.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import simpy
from simpy.core import URGENT
from simpy.events import Event

from duplexsim.agents.base import Agent, ChunkReport, n_units_of
from duplexsim.closing import close_each
from duplexsim.config.scenario import Scenario
from duplexsim.models.engine import AnyProgram, Program, drive, gather
from duplexsim.sim.buffer import ReceiveBuffer
from duplexsim.sim.build import SIDES, build_agents, compute_ms, silence_unit_of
from duplexsim.sim.clock import (
    ARRIVE,
    DECIDE,
    SEND,
    SETTLED,
    ChunkClock,
    FramePlacement,
    at,
    round_ms,
)
from duplexsim.sim.link import Link, Packet
from duplexsim.sim.playout import playout_rule
from duplexsim.sim.recorder import DecisionRow, TraceRecorder
from duplexsim.sim.side import ANY_UNIT, SideState

if TYPE_CHECKING:
    from duplexsim.sim.trace import Trace

DIRECTION = {"a": "A->B", "b": "B->A"}
LINK_KEY = {"a": "a_to_b", "b": "b_to_a"}


def other(side: str) -> str:
    return "b" if side == "a" else "a"


@dataclass
class _Blocked:
    """A speaker waiting for its agent's program: run it, then fire ``resume`` with its report."""

    program: Program[ChunkReport]
    resume: Event


@dataclass(slots=True)
class _Before:
    """What a decision row records from before its agent ran."""

    now: int
    prologue: bool
    lookahead: int
    missing: int
    skipped: bool


@dataclass
class _Until:
    """The stop event of the current ``run_program`` target (as ``env.run(until=...)``)."""

    target: int
    reached: bool = False


class Session:
    """One simulated conversation, steppable (for the envs) or run to the end (:func:`run`)."""

    def __init__(self, scenario: Scenario, agents: Mapping[str, Agent] | None = None,
                 *, progress: bool = False):
        self.scenario = scenario
        self.agents = build_agents(scenario, agents)
        self._owned = [agent for key, agent in self.agents.items() if key not in (agents or {})]
        """The agents this session built (not given): :meth:`close` closes them."""
        self.closed = False
        try:
            self._start(progress)
        except BaseException:  # a session not made cannot be closed: its agents are now
            close_each(self._owned)
            raise

    def _start(self, progress: bool) -> None:
        """The rest of ``__init__``: links, agents reset, sides, the speakers' processes."""
        scenario = self.scenario
        self.env = simpy.Environment()
        link_a, link_b, seed_a, seed_b, spikes = np.random.SeedSequence(scenario.seed).spawn(5)
        # a conversation starts at a moment of the spike schedule (satellite handovers run on
        # the wall clock) drawn from its seed, the same for every link: it began in a spike
        # at every seed, and a 10-14 s episode saw that one only
        phase = float(np.random.default_rng(spikes).random())
        net = scenario.network
        self.links = {  # keyed by the sending side; each delivers to the other side
            "a": Link(self.env, DIRECTION["a"], net.hops("a_to_b"), link_a,
                      lambda packet: self._arrive("b", packet), phase),
            "b": Link(self.env, DIRECTION["b"], net.hops("b_to_a"), link_b,
                      lambda packet: self._arrive("a", packet), phase),
        }
        for key, seed in (("a", seed_a), ("b", seed_b)):
            self.agents[key].reset(int(seed.generate_state(1)[0]))
        self.sides = {key: self._side(key) for key in SIDES}
        self._no_side_waits = not any(side.waits for side in self.sides.values())
        self.n_chunks = scenario.n_chunks
        self._end_floor_ms = max(side.clock.chunk_end(self.n_chunks - 1)
                                 for side in self.sides.values())
        """:attr:`end_ms` without slips or a worker behind: never above it (a slip only grows),
        so a target up to it needs no reading of the end."""
        self.recorder = TraceRecorder()
        self._signal = {key: self.env.event() for key in SIDES}
        self._blocked: list[_Blocked] = []
        self._until: _Until | None = None
        self.join_simultaneous = scenario.compute.model != "measured"
        """Run both sides' decisions of the same ms side by side (see
        :meth:`_join_simultaneous`); False: one after the other (same trace). Off under
        ``compute.model = "measured"``: a decision's wall time would include the partner's
        forwards of the shared rounds (about twice its own), as in a batch
        (:func:`duplexsim.sim.batch.run_batch` refuses it)."""
        self._progress = _progress_bar(progress, self.end_ms, scenario.name)
        self._speakers = [self._speaker(key) for key in SIDES]
        for speaker in self._speakers:
            self.env.process(speaker)

    def _side(self, key: str) -> SideState:
        cfg, agent = getattr(self.scenario, key), self.agents[key]
        n_units = n_units_of(agent)
        # only the sides' offset against each other matters: shifted alike so that the clock
        # furthest ahead starts its chunk 0 at global 0 and no chunk starts before it (a
        # clock ahead of global time would otherwise squeeze its first chunks into 0 ms;
        # both behind, nobody would speak until the later of them)
        ahead = max(getattr(self.scenario, k).clock_offset_ms for k in SIDES)
        clock = ChunkClock(self.scenario.chunk_ms, cfg.clock_offset_ms - ahead,
                           cfg.clock_drift_ppm, self.scenario.decision_lead_chunks)
        return SideState(key=key, agent=agent, clock=clock,
                         buffer=ReceiveBuffer(self.scenario.buffer.give_up_ms),
                         rule=playout_rule(cfg), silence_unit=silence_unit_of(agent),
                         frames_per_chunk=self.scenario.frames_per_chunk,
                         n_units=ANY_UNIT if n_units is None else n_units,
                         due_ms=_base_delay_ms(self.scenario.network.hops(LINK_KEY[key])))

    # ------------------------------------------------------------------ stepping
    @property
    def now(self) -> int:
        return int(self.env.now)

    @property
    def end_ms(self) -> int:
        """When the last chunk is sent (the simulation runs to here, inclusive), or later
        when a side's worker gets to its last (skipped) decisions only after that. A
        finished run stops at the ms after it: a trace's ``extra["end_ms"]`` is this + 1.

        Fixed without a waiting side or a worker that far behind. Otherwise a lower bound
        that grows as a waiting side slips (its undecided chunk ``j`` cannot start before
        now) or a worker's backlog becomes known, final once every chunk is decided.
        """
        return max(side.end_ms(self.n_chunks, self.now) for side in self.sides.values())

    def decision_ms(self, key: str, j: int) -> int:
        """When side ``key`` plans to decide its chunk ``j`` (global ms, the trace's
        ``planned_ms``): its clock's decision time (offset, drift, ``decision_lead_chunks``)
        shifted by its slip so far. The decision starts at max(this, the previous decision's
        ``ready_ms``) (a compute model slower than the chunk) and a waiting side may stall
        on: exact only for a side that never waits and whose decisions are ready in time
        (always under ``compute.model = "none"``), else a lower bound."""
        return self.sides[key].decision_ms(j)

    def chunk_placement(self, key: str, j: int) -> FramePlacement:
        """Where chunk ``j`` of side ``key`` plays on the global 40 ms frames, as in
        ``Trace.units`` (:meth:`duplexsim.sim.side.SideState.chunk_placement`: its clock's
        frames resampled to the grid, shifted by the slip it was played with; a chunk not
        played yet: the side's slip so far, final for a side that never waits)."""
        return self.sides[key].chunk_placement(j)

    def run_until(self, t_ms: int) -> None:
        """Process every event before ``t_ms`` (events at ``t_ms`` itself are not run yet),
        never past the end (:attr:`end_ms` + 1, re-read as a waiting side slips)."""
        drive(self.run_program(t_ms))

    def run_program(self, t_ms: int, arrivals: bool = False) -> AnyProgram[None]:
        """:meth:`run_until` as an engine program: it yields the token requests of the
        agents' decisions it meets on the way (see the module docstring). ``arrivals``: also
        run the events at ``t_ms`` that come before its decisions (sends, link queues,
        arrivals, give-ups), so that :meth:`hand_over` gives a side what its decision at
        ``t_ms`` would be given (the envs' observation)."""
        if self.closed:
            raise RuntimeError(f"{self.scenario.name}: the session was closed at "
                               f"{self.now} ms; it cannot run further (make a new Session)")
        # (int() ran 1500.5 as 1500, and nan was a bare ValueError)
        if isinstance(t_ms, bool) or not isinstance(t_ms, int | np.integer):
            raise ValueError(f"run_until: t_ms={t_ms!r} (allowed: a whole number of ms)")
        t_ms = int(t_ms)
        while True:
            if self._until is None:
                if t_ms <= self.env.now:  # (the end needs no reading then)
                    break
                target = t_ms if t_ms <= self._end_floor_ms + 1 \
                    else min(t_ms, self.end_ms + 1)
                if target <= self.env.now:
                    break
                self._until = self._schedule_until(target, SETTLED if arrivals else URGENT)
            until, step, waiting = self._until, self.env.step, self._blocked
            while not until.reached and not waiting:  # (waiting: filled by a blocked decision)
                step()
            if self._blocked:  # a decision asks for model work: time stands still
                if self.join_simultaneous:
                    self._join_simultaneous(until)
                blocked, self._blocked = self._blocked, []
                if len(blocked) == 1:
                    reports = [(yield from blocked[0].program)]
                else:  # both sides decide at this ms: their forwards share rounds
                    reports = yield from gather([b.program for b in blocked])
                for b, report in zip(blocked, reports, strict=True):
                    b.resume.succeed(report)  # in the order they blocked
                continue
            self._until = None
            self._check_not_stuck()
        if self._progress is not None:
            self._progress.total = max(self._progress.total, self.end_ms + 1)
            self._progress.update(int(self.env.now) - self._progress.n)

    def _join_simultaneous(self, until: _Until) -> None:
        """Start the other side's decisions due at this same ms before running the blocked
        program, so both sides' forwards share rounds (one forward of two rows).

        Exact: the decisions of the two sides at one ms read and write only their own side
        (agent, receive buffer, records), and what one schedules reaches the other only
        through its link, later; so running the other's start (or, for an agent without
        ``produce_steps``, its whole decision) before this one's end changes nothing either
        side sees (tested against ``join_simultaneous = False``).
        """
        queue = self.env._queue
        while not until.reached and queue and queue[0][0] == self.env.now \
                and queue[0][1] == DECIDE:
            self.env.step()

    def _schedule_until(self, target: int, priority: float) -> _Until:
        """Stop at ``target``: with ``URGENT`` exactly as ``env.run(until=target)`` does
        (events already queued at ``target`` with priority 0 still run first), with
        ``SETTLED`` after that ms's arrivals and before its decisions."""
        until = _Until(target)
        event = Event(self.env)
        event._ok, event._value = True, None
        event.callbacks.append(lambda _e: setattr(until, "reached", True))
        # simpy types priority as EventPriority (an int NewType) but only orders by it
        self.env.schedule(event, priority, target - self.env.now)  # type: ignore[arg-type]
        return until

    def _check_not_stuck(self) -> None:
        """A waiting side with nothing left to simulate would wait forever: say so."""
        if self._no_side_waits:
            return  # a side that never waits has its next decision queued until its last
        if any(event.callbacks for *_, event in self.env._queue):
            return
        for key, side in self.sides.items():
            if side.decided < self.n_chunks:
                raise RuntimeError(
                    f"{self.scenario.name}: side {key} waits for partner chunk "
                    f"{side.buffer.next_chunk} at {self.now} ms, and nothing left to "
                    "simulate can deliver or give it up (buffer.give_up_ms = "
                    f"{self.scenario.buffer.give_up_ms})")

    def advance_chunk(self) -> None:
        """Run to the next chunk boundary of the global clock."""
        C = self.scenario.chunk_ms
        self.run_until((self.now // C + 1) * C)

    @property
    def done(self) -> bool:
        return self.env.now > self.end_ms

    def finish(self) -> Trace:
        """Run to the end (the last chunk sent; what is still on the wire stays in flight)."""
        return drive(self.finish_program())

    def finish_program(self) -> AnyProgram[Trace]:
        """:meth:`finish` as an engine program."""
        from duplexsim.sim.trace import build_trace

        C = self.scenario.chunk_ms
        while not self.done:  # with a bar: chunk by chunk so it moves (same events)
            if self._progress is not None:
                yield from self.run_program((self.now // C + 1) * C)
            else:
                yield from self.run_program(self.end_ms + 1)
        if self._progress is not None:
            self._progress.close()
        return build_trace(self)

    def close(self) -> None:
        """Let the session go without the cyclic garbage collector: close the speakers'
        processes (their frames refer back here), drop the events still queued and the
        links' hand-over into this session; and close the agents it built (once: closing it
        again does nothing), not those it was given (their owner closes them; see
        :mod:`duplexsim.agents.base`). Its records and trace stay readable, and the agents it
        was given stay usable (those it built are closed); running it further is an error. A
        vector env ends thousands of sessions: freed at once, their objects never reach the
        collector's oldest generation, whose full passes walk every object of the process
        (torch's alone are ~170k)."""
        owned, self._owned = self._owned, []
        try:
            for speaker in self._speakers:
                speaker.close()
            self._speakers = []
            self.closed = True
            self.env._queue.clear()
            for link in self.links.values():
                link.deliver = _closed
            self._signal.clear()
            self._blocked.clear()
            self._until = None
        finally:
            close_each(owned)

    # ------------------------------------------------------------------ processes
    def _arrive(self, key: str, packet: Packet) -> None:
        """A packet from the partner's link arrives in side ``key``'s receive buffer."""
        buffer = self.sides[key].buffer
        before, now = len(buffer.released), self.now
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
        buffer.expire(self.now)
        if len(buffer.released) > before:
            self._wake(key)

    def _wake(self, key: str) -> None:
        """Resume ``key``'s speaker if it waits for partner chunks.

        Without a waiting side nobody ever waits on a signal: firing one would only queue an
        empty event, so none is fired. With one, every signal fires, waited on or not: an
        empty one at the head of the queue is what stops :meth:`_join_simultaneous`, so
        dropping it could change which decisions share a forward.
        """
        if self._no_side_waits:
            return
        signal, self._signal[key] = self._signal[key], self.env.event()
        signal.succeed()

    def _send(self, key: str, chunk: int, units: np.ndarray) -> None:
        """Chunk ``chunk`` enters ``key``'s link; a waiting receiver learns of its loss."""
        link, receiver = self.links[key], self.sides[other(key)]
        first = len(link.records)
        link.put(chunk, units)
        give_up_ms = receiver.buffer.give_up_ms
        if receiver.waits and give_up_ms >= 0 \
                and all(rec["lost"] for rec in link.records[first:]):
            timer = at(self.env, self.now + self.sides[key].due_ms + give_up_ms, ARRIVE)
            receiver_key = receiver.key
            timer.callbacks.append(lambda _e: self._give_up_lost(receiver_key, chunk))

    def _give_up_lost(self, key: str, chunk: int) -> None:
        """Side ``key``'s buffer gives up partner chunk ``chunk`` (lost on the wire), not the
        chunks before it still in flight (it gave those up too: a chunk delayed past the lost
        one's give-up time arrived "late")."""
        buffer = self.sides[key].buffer
        if buffer.next_chunk <= chunk:
            buffer.give_up_lost(chunk, self.now)
            if buffer.next_chunk > chunk:
                self._wake(key)

    def hand_over(self, key: str) -> None:
        """Give side ``key``'s agent the partner chunks its receive buffer has released
        (``observe_partner``), now rather than at its next decision, which then finds none
        of them again (the envs, after ``run_program(t, arrivals=True)``: the learner
        observes what its decision at ``t`` is given)."""
        self._hand_over(self.sides[key])

    def _hand_over(self, side: SideState) -> None:
        now = self.now
        for chunk, units, _ in side.buffer.take():  # a copy: the agent may write into it
            side.agent.observe_partner(chunk, units.copy())
            self.recorder.use(side.key, chunk, now)

    def _speaker(self, key: str):  # noqa: ANN202 - SimPy process
        side, played = self.sides[key], self.recorder.played[key]
        busy_until = 0
        for j in range(self.n_chunks):
            planned, deadline = side.decision_ms(j), side.deadline_ms(j)
            start = side.next_decision_ms = planned if planned > busy_until else busy_until
            yield at(self.env, start, DECIDE)
            while side.rule.blocked(side.buffer, j):  # only the real chunks (or give-ups)
                yield self._signal[key]
            settled = j in played
            before = self._before_produce(side, j, deadline)
            report: ChunkReport | None = None
            produced = None
            if not before.skipped:  # the agent's decision: directly, or as an engine program
                steps = getattr(side.agent, "produce_steps", None)
                report = side.agent.produce(j) if steps is None \
                    else (yield from self._run_program(steps(j)))
                produced = side.checked_units(j, report)
            row, units = self._decision_row(side, j, planned, deadline, before, report,
                                            produced)
            if not row["prologue"]:
                busy_until = row["ready_ms"]
            self.recorder.decision(row)
            side.decided = j + 1
            if not settled:
                self._play(side, j, units, row["deadline_ms"])
            if side.rule.settles_misses_on_clock:
                self._settle_misses(side, j + 1, busy_until)

    def _play(self, side: SideState, j: int, units: np.ndarray, start_ms: int) -> None:
        """Chunk ``j`` of ``side`` plays ``units`` from ``start_ms`` (the agent is told then,
        or now if later) and is sent at its end (both shifted by the side's slip). The
        recorded ``units`` are never handed to an agent: each gets a copy, so no agent can
        change what was played or sent."""
        slip = side.slip_ms
        side.chunk_slip_ms[j] = slip
        self.recorder.play(side.key, j, units, slip)
        agent, key = side.agent, side.key
        at(self.env, start_ms, SEND).callbacks.append(  # a copy, as for observe_partner
            lambda _e: agent.played(j, units.copy()))
        at(self.env, side.clock.chunk_end(j) + slip, SEND).callbacks.append(
            lambda _e: self._send(key, j, units))

    def _settle_misses(self, side: SideState, first: int, busy_until: int) -> None:
        """Chunks from ``first`` on that end before (or when) the worker is free are misses
        now.

        The worker would reach them (and skip them) only at or after their end: their
        playout and send cannot wait for it (a send from the worker's decision at the very
        ms of the chunk's end would come after that ms's arrivals and the partner's
        decisions, which a chunk sent at its end sees). Chunks it reaches before their end
        are left to it, as the skip is recorded then (the same units either way).
        """
        played = self.recorder.played[side.key]
        for j in range(first, self.n_chunks):
            if side.clock.chunk_end(j) > busy_until:
                break
            if j not in played:
                self._play(side, j, self._miss_units(side, j), side.clock.chunk_start(j))

    def _run_program(self, program: Program[ChunkReport]):  # noqa: ANN202 - SimPy sub-process
        """The report of an agent's decision program: the speaker waits on an event that
        :meth:`run_program` fires with the report once the program has run."""
        resume = self.env.event()
        self._blocked.append(_Blocked(program, resume))
        report = yield resume
        return report

    def _before_produce(self, side: SideState, j: int, deadline: int) -> _Before:
        """Hand over arrivals and read what the decision row needs from before the agent
        runs (events at this same ms may be processed while a program runs, see the module
        docstring; none of them before this point); skipped: hopelessly late, no produce."""
        self._hand_over(side)
        now = self.now
        prologue = j < self.scenario.decision_lead_chunks
        return _Before(now=now, prologue=prologue,
                       lookahead=max(0, min(j, j - 1 - side.buffer.max_released)),
                       missing=j - self.recorder.used_before(side.key, j),
                       skipped=side.rule.skips(now, deadline, prologue))

    def _decision_row(self, side: SideState, j: int, planned: int, deadline: int,
                      before: _Before, report: ChunkReport | None,
                      produced: np.ndarray | None) -> tuple[DecisionRow, np.ndarray]:
        """Place chunk ``j`` by the side's playout rule (deadline: a late chunk misses; wait:
        it slips); its decision row and the units it plays (``produced``: the report's,
        checked; None when skipped)."""
        key, agent, now, prologue = side.key, side.agent, before.now, before.prologue
        lookahead, missing, skipped = before.lookahead, before.missing, before.skipped
        cost = 0 if report is None else compute_ms(report, self.scenario.compute)
        ready = now + cost
        placement = side.rule.place(now, ready, deadline, prologue)
        side.slip_ms += placement.stall_ms
        deadline += placement.stall_ms
        miss = skipped or placement.miss
        estimates = {} if report is None or not report.estimates else dict(report.estimates)
        for k in estimates:
            self.recorder.estimate(key, k, now)
        est_chunks = sorted(estimates) if estimates else []
        played = self.recorder.played[key]
        if j in played:  # settled as a miss while the worker was busy
            assert skipped, f"{key}: chunk {j} settled before its decision, yet not skipped"
            units = played[j]
        elif miss or produced is None:
            units = self._miss_units(side, j)
        else:
            units = produced
        row: DecisionRow = {
            "agent": key, "name": str(getattr(agent, "name", key)), "chunk": j,
            "planned_ms": planned, "decided_ms": now, "waited_ms": now - planned,
            "prologue": prologue,
            "lookahead": lookahead, "missing": missing,
            "deadline_ms": deadline, "ready_ms": ready, "compute_ms": cost,
            "deadline_miss": miss, "skipped": skipped,
            "stall_ms": placement.stall_ms, "slip_ms": side.slip_ms,
            "agent_lookahead": -1 if report is None else int(report.lookahead),
            "estimated_chunks": np.array(est_chunks, np.int64) if est_chunks else _NO_CHUNKS,
            "estimated_units": (np.concatenate([np.ravel(estimates[k]) for k in est_chunks])
                                .astype(np.int64) if est_chunks else _NO_UNITS),
            "generated_tokens": 0 if report is None else int(report.generated_tokens),
            "prefill_tokens": 0 if report is None else int(report.prefill_tokens),
            "compute_wall_ms": 0.0 if report is None else float(report.compute_wall_ms),
            "played_units": units,  # (the array recorded as played)
        }
        return row, units

    def _miss_units(self, side: SideState, j: int) -> np.ndarray:
        return side.miss_units(j, self.scenario.compute.on_miss, self.recorder.played[side.key])


_NO_UNITS = np.zeros(0, np.int64)
_NO_UNITS.flags.writeable = False
_NO_CHUNKS = np.zeros(0, np.int64)  # (one shared empty array: most decisions estimate none)
_NO_CHUNKS.flags.writeable = False


def _closed(packet: Packet) -> None:
    """A closed session's links deliver nowhere."""
    raise RuntimeError(f"packet of chunk {packet.chunk} arrived after its session was closed")


def _base_delay_ms(hops: list[Any]) -> int:
    """A path's base one-way delay: the sum of its hops' ``delay_ms`` (no jitter, spikes)."""
    return round_ms(sum(float(hop.delay_ms or 0.0) for hop in hops))  # as a link rounds


def _progress_bar(progress: bool, total_ms: int, name: str) -> Any:
    if not progress:
        return None
    from tqdm import tqdm

    return tqdm(total=total_ms + 1, unit="ms", desc=f"simulate {name}", unit_scale=True)


def run(scenario: Scenario, *, agents: Mapping[str, Agent] | None = None,
        progress: bool = False) -> Trace:
    """Simulate ``scenario`` to the end and return its :class:`~duplexsim.sim.trace.Trace`."""
    session = Session(scenario, agents, progress=progress)
    try:
        return session.finish()
    finally:
        session.close()
