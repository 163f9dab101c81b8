"""The simulated conversation: two speakers, two links, two receive buffers, one SimPy world.

Owns :class:`Session` (build from a scenario, step with :meth:`Session.run_until` /
:meth:`Session.advance_chunk`, finish into a :class:`~duplexsim.sim.trace.Trace`) and
:func:`run`: it wires each side's :class:`~duplexsim.sim.speaker.Speaker` (the SimPy process
that decides, plays and sends the side's chunks: the per-chunk rules, misses and lookahead
are documented there), the links between them and the
:class:`~duplexsim.sim.delivery.Delivery` of their packets into the receive buffers, and it
steps the world. Per-side state is :class:`~duplexsim.sim.side.SideState`, the deadline /
wait rules are :mod:`duplexsim.sim.playout` (a syncllm side with ``estimation = "wait"``
stalls instead of estimating and its playout slips instead of missing), and everything the
trace needs is written to a :class:`~duplexsim.sim.recorder.TraceRecorder`. Must not know
how agents think (protocol only) or how links draw delays.

Model work: an agent that offers ``produce_steps`` (the SyncLLM and TDM agents) is asked for its
chunk as an engine program (:mod:`duplexsim.models.engine`): the speaker process waits on
an event while the program runs, and the session's own program (:meth:`Session.run_program`)
hands the program's token requests to whoever drives it: :func:`~duplexsim.models.engine.drive`
for one session (``run_until``, ``finish``), :func:`~duplexsim.models.engine.run_lockstep`
for many (:func:`duplexsim.sim.batch.run_batch`). Simulated time does not move while a
program runs (the event that resumes the speaker fires at the same ms, before any other
event left at that ms), so a session computes exactly the same thing either way.

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

from duplexsim.agents.base import Agent, ChunkReport, n_units_of, whole
from duplexsim.closing import call_each, close_each
from duplexsim.config.scenario import Scenario
from duplexsim.models.engine import AnyProgram, Program, drive, gather
from duplexsim.sides import SIDES
from duplexsim.sim.buffer import ReceiveBuffer
from duplexsim.sim.build import build_agents, silence_unit_of
from duplexsim.sim.clock import DECIDE, SETTLED, At, ChunkClock, FramePlacement
from duplexsim.sim.delivery import Delivery
from duplexsim.sim.link import Link
from duplexsim.sim.playout import playout_rule
from duplexsim.sim.recorder import TraceRecorder
from duplexsim.sim.side import ANY_UNIT, SideState
from duplexsim.sim.speaker import Speaker, hand_over
from duplexsim.timebase import round_ms

if TYPE_CHECKING:
    from duplexsim.sim.trace import Trace

DIRECTION = {"a": "A->B", "b": "B->A"}
LINK_KEY = {"a": "a_to_b", "b": "b_to_a"}


@dataclass
class _Blocked:
    """A speaker waiting for its agent's program: run it, then fire ``resume`` with its report."""

    program: Program[ChunkReport]
    resume: Event


@dataclass
class _Until:
    """The stop event of the current ``run_program`` target (as ``env.run(until=...)``)."""

    target: int
    reached: bool = False


class Session:
    """One simulated conversation, steppable (for the envs) or run to the end (:func:`run`)."""

    def __init__(self, scenario: Scenario, agents: Mapping[str, Agent] | None = None,
                 *, progress: bool = False):
        check_scenario(scenario)
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
                      lambda packet: self._delivery.arrive("b", packet), phase),
            "b": Link(self.env, DIRECTION["b"], net.hops("b_to_a"), link_b,
                      lambda packet: self._delivery.arrive("a", packet), phase),
        }
        for key, seed in (("a", seed_a), ("b", seed_b)):
            self.agents[key].reset(int(seed.generate_state(1)[0]))
        self.sides = {key: self._side(key) for key in SIDES}
        self._delivery = Delivery(self.env, self.sides, self.links)
        self.n_chunks = scenario.n_chunks
        self._end_floor_ms = max(side.clock.chunk_end(self.n_chunks - 1)
                                 for side in self.sides.values())
        """:attr:`end_ms` without slips or a worker behind: never above it (a slip only grows),
        so a target up to it needs no reading of the end."""
        self.recorder = TraceRecorder()
        self._blocked: list[_Blocked] = []
        self._until: _Until | None = None
        self.join_simultaneous = scenario.compute.model != "measured"
        """Run both sides' decisions of the same ms side by side (see
        :meth:`_join_simultaneous`); False: one after the other (same trace). Off under
        ``compute.model = "measured"``: a decision's wall time would include the partner's
        forwards of the shared rounds (about twice its own), as in a batch
        (:func:`duplexsim.sim.batch.run_batch` refuses it)."""
        self._progress = _progress_bar(progress, self.end_ms, scenario.name)
        self._speakers = [Speaker(self.env, scenario, self.sides[key], self.recorder,
                                  self._delivery, self._block).run() for key in SIDES]
        """The speakers' processes."""
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
        return self._side_of(key, "decision_ms").decision_ms(self._chunk(j, "decision_ms"))

    def chunk_placement(self, key: str, j: int) -> FramePlacement:
        """Where chunk ``j`` of side ``key`` plays on the global 40 ms frames, as in
        ``Trace.units`` (:meth:`duplexsim.sim.side.SideState.chunk_placement`: its clock's
        frames resampled to the grid, shifted by the slip it was played with; a chunk not
        played yet: the side's slip so far, final for a side that never waits)."""
        return self._side_of(key, "chunk_placement").chunk_placement(
            self._chunk(j, "chunk_placement"))

    def _side_of(self, key: str, call: str) -> SideState:
        """Side ``key``'s state, else a one-line error naming ``call`` (was a bare KeyError)."""
        if key not in SIDES:
            raise ValueError(f"{call}: no side {key!r} (allowed: 'a', 'b')")
        return self.sides[key]

    @staticmethod
    def _chunk(j: int, call: str) -> int:
        """Chunk index ``j`` as an int, else a one-line error naming ``call``: 1.5 was
        placed between chunks 1 and 2, -1 before the conversation, without a word."""
        try:
            return whole(j, "j", 0)
        except ValueError as e:
            raise ValueError(f"{call}: {e}") from None

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
        if type(t_ms) is not int:  # (int() ran 1500.5 as 1500, and nan was a bare ValueError)
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
        until = _Until(target)  # (target is later than now: the heap entry schedule() pushes)
        At(self.env, target, priority).callbacks.append(lambda _e: setattr(until, "reached", True))
        return until

    def _check_not_stuck(self) -> None:
        """A waiting side with nothing left to simulate would wait forever: say so."""
        if self._delivery.no_side_waits:
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
        (torch's alone are ~170k). Each of these is done even if one before it raises (a
        speaker too: :func:`~duplexsim.closing.call_each`), then the first error is raised."""
        owned, speakers = self._owned, self._speakers
        self._owned, self._speakers = [], []
        call_each([lambda: close_each(speakers), self._let_go, lambda: close_each(owned)])

    def _let_go(self) -> None:
        """:meth:`close` past the speakers: drop the queued events and what refers back."""
        self.closed = True
        self.env._queue.clear()
        self._delivery.close()
        self._blocked.clear()
        self._until = None

    # ------------------------------------------------------------------ speakers
    def hand_over(self, key: str) -> None:
        """Give side ``key``'s agent the partner chunks its receive buffer has released
        (``observe_partner``), now rather than at its next decision, which then finds none
        of them again (the envs, after ``run_program(t, arrivals=True)``: the learner
        observes what its decision at ``t`` is given)."""
        hand_over(self._side_of(key, "hand_over"), self.recorder, self.now)

    def _block(self, program: Program[ChunkReport]) -> Event:
        """A speaker's decision program, for :meth:`run_program` to run: the event that it
        fires with the program's report, once run (the speaker waits on it)."""
        resume = self.env.event()
        self._blocked.append(_Blocked(program, resume))
        return resume


def check_scenario(scenario: Any, key: str = "scenario") -> None:
    """A one-line TypeError unless ``scenario`` is a :class:`Scenario` (a path or a dict
    failed deep inside the build as ``'str' object has no attribute 'a'``)."""
    if not isinstance(scenario, Scenario):
        raise TypeError(f"{key}: got {type(scenario).__name__} (allowed: a Scenario; a "
                        "scenario file is read with duplexsim.config.load_scenario(path))")


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
