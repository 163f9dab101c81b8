"""One side's speaker: the SimPy process that decides, plays and sends the side's chunks.

Owns :class:`Speaker` (its process, :meth:`Speaker.run`, started by the session) and
:func:`hand_over` (released partner chunks to the side's agent). Per own chunk ``j`` (times
in global ms from the side's :class:`~duplexsim.sim.clock.ChunkClock`):
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
(:attr:`Session.end_ms <duplexsim.sim.session.Session.end_ms>`): every chunk has one
decision row and one played chunk. The first ``decision_lead_chunks`` chunks are prepared
before the conversation starts: their deadline is not enforced and their compute time does
not delay later decisions.

A syncllm side with ``estimation = "wait"`` stalls instead of estimating and its playout
slips instead of missing: :mod:`duplexsim.sim.playout` has the rules (``deadline`` |
``wait``) and what they imply for constant delays.

Lookahead (recorded per decision): partner chunks after the latest released one and
before ``j`` (a chunk given up long ago does not inflate it). With a constant one-way
delay ``d``, lead ``l`` and chunk ``C``: ``L = l + ceil(d / C)`` (``min(j, ...)`` for the
first chunks); zero delay gives the paper's ``L = 1``.

An agent that offers ``produce_steps`` is asked for its chunk as an engine program: the
speaker waits on the event its ``block`` callback returns, which the session fires with the
report (see :mod:`duplexsim.sim.session`). Must not know how agents think (protocol only),
touch the other side or the links (a finished chunk goes to
:meth:`Delivery.send <duplexsim.sim.delivery.Delivery.send>`).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

import numpy as np
import simpy
from simpy.events import Event

from duplexsim.agents.base import ChunkReport
from duplexsim.config.scenario import Scenario
from duplexsim.models.engine import Program
from duplexsim.sim.build import compute_ms
from duplexsim.sim.clock import DECIDE, SEND, at
from duplexsim.sim.delivery import Delivery
from duplexsim.sim.recorder import DecisionRow, TraceRecorder
from duplexsim.sim.side import SideState


@dataclass(slots=True)
class _Before:
    """What a decision row records from before its agent ran."""

    now: int
    prologue: bool
    lookahead: int
    missing: int
    skipped: bool


def hand_over(side: SideState, recorder: TraceRecorder, now: int) -> None:
    """Give ``side``'s agent the partner chunks its receive buffer has released
    (``observe_partner``, in order), recorded as used at ``now``."""
    for chunk, units, _ in side.buffer.take():  # a copy: the agent may write into it
        side.agent.observe_partner(chunk, units.copy())
        recorder.use(side.key, chunk, now)


class Speaker:
    """The speaker of ``side`` (see the module docstring)."""

    def __init__(self, env: simpy.Environment, scenario: Scenario, side: SideState,
                 recorder: TraceRecorder, delivery: Delivery,
                 block: Callable[[Program[ChunkReport]], Event]):
        self.env, self.scenario, self.side = env, scenario, side
        self.recorder, self.delivery = recorder, delivery
        self.block = block
        """Hands a decision program to the session; returns the event fired with its report."""

    @property
    def now(self) -> int:
        return int(self.env.now)

    def run(self) -> Generator[Event, Any, None]:
        """The SimPy process: every chunk of the side, decided, played and sent."""
        side, played = self.side, self.recorder.played[self.side.key]
        busy_until = 0
        for j in range(self.scenario.n_chunks):
            planned, deadline = side.decision_ms(j), side.deadline_ms(j)
            start = side.next_decision_ms = planned if planned > busy_until else busy_until
            yield at(self.env, start, DECIDE)
            while side.rule.blocked(side.buffer, j):  # only the real chunks (or give-ups)
                yield self.delivery.signal[side.key]
            settled = j in played
            before = self._before_produce(j, deadline)
            report: ChunkReport | None = None
            produced = None
            if not before.skipped:  # the agent's decision: directly, or as an engine program
                steps = getattr(side.agent, "produce_steps", None)
                report = side.agent.produce(j) if steps is None \
                    else (yield self.block(steps(j)))
                produced = side.checked_units(j, report)
            row, units = self._decision_row(j, planned, deadline, before, report, produced)
            if not row["prologue"]:
                busy_until = row["ready_ms"]
            self.recorder.decision(row)
            side.decided = j + 1
            if not settled:
                self._play(j, units, row["deadline_ms"])
            if side.rule.settles_misses_on_clock:
                self._settle_misses(j + 1, busy_until)

    def _play(self, j: int, units: np.ndarray, start_ms: int) -> None:
        """Chunk ``j`` plays ``units`` from ``start_ms`` (the agent is told then, or now if
        later) and is sent at its end (both shifted by the side's slip). The recorded
        ``units`` are never handed to an agent: each gets a copy, so no agent can change
        what was played or sent."""
        side = self.side
        slip = side.slip_ms
        side.chunk_slip_ms[j] = slip
        self.recorder.play(side.key, j, units, slip)
        agent, key, send = side.agent, side.key, self.delivery.send
        at(self.env, start_ms, SEND).callbacks.append(  # a copy, as for observe_partner
            lambda _e: agent.played(j, units.copy()))
        at(self.env, side.clock.chunk_end(j) + slip, SEND).callbacks.append(
            lambda _e: send(key, j, units))

    def _settle_misses(self, first: int, busy_until: int) -> None:
        """Chunks from ``first`` on that end before (or when) the worker is free are misses
        now.

        The worker would reach them (and skip them) only at or after their end: their
        playout and send cannot wait for it (a send from the worker's decision at the very
        ms of the chunk's end would come after that ms's arrivals and the partner's
        decisions, which a chunk sent at its end sees). Chunks it reaches before their end
        are left to it, as the skip is recorded then (the same units either way).
        """
        side = self.side
        if side.clock.chunk_end(first) > busy_until:  # the usual case: nothing to settle
            return
        played = self.recorder.played[side.key]
        for j in range(first, self.scenario.n_chunks):
            if side.clock.chunk_end(j) > busy_until:
                break
            if j not in played:
                self._play(j, self._miss_units(j), side.clock.chunk_start(j))

    def _before_produce(self, j: int, deadline: int) -> _Before:
        """Hand over arrivals and read what the decision row needs from before the agent
        runs (events at this same ms may be processed while a program runs, see
        :mod:`duplexsim.sim.session`; none of them before this point); skipped: hopelessly
        late, no produce."""
        side, now = self.side, self.now  # (the hand-over runs no event: the same ms after it)
        hand_over(side, self.recorder, now)
        prologue = j < self.scenario.decision_lead_chunks
        return _Before(now=now, prologue=prologue,
                       lookahead=max(0, min(j, j - 1 - side.buffer.max_released)),
                       missing=j - self.recorder.used_before(side.key, j),
                       skipped=side.rule.skips(now, deadline, prologue))

    def _decision_row(self, j: int, planned: int, deadline: int, before: _Before,
                      report: ChunkReport | None,
                      produced: np.ndarray | None) -> tuple[DecisionRow, np.ndarray]:
        """Place chunk ``j`` by the side's playout rule (deadline: a late chunk misses; wait:
        it slips); its decision row and the units it plays (``produced``: the report's,
        checked; None when skipped)."""
        side = self.side
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
            units = self._miss_units(j)
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

    def _miss_units(self, j: int) -> np.ndarray:
        side = self.side
        return side.miss_units(j, self.scenario.compute.on_miss, self.recorder.played[side.key])


_NO_UNITS = np.zeros(0, np.int64)
_NO_UNITS.flags.writeable = False
_NO_CHUNKS = np.zeros(0, np.int64)  # (one shared empty array: most decisions estimate none)
_NO_CHUNKS.flags.writeable = False
