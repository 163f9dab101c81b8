"""The simulated conversation: two speakers, two links, two receive buffers, one SimPy world.

Owns :class:`Session` (build from a scenario, step with :meth:`Session.run_until` /
:meth:`Session.advance_chunk`, finish into a :class:`~duplexsim.sim.trace.Trace`) and
:func:`run`. Must not know how agents think (protocol only) or how links draw delays.

Per side and own chunk ``j`` (times in global ms from the side's :class:`ChunkClock`):
- the decision starts at ``max(decision_time(j), busy_until)`` (one worker per agent); with
  ``estimation = "wait"`` it then waits until every partner chunk ``< j`` is released or
  given up, or the deadline (the start of chunk ``j``) comes;
- released partner chunks are handed over in order (``observe_partner``), the agent
  ``produce``s chunk ``j``; compute time comes from the compute model; the chunk misses its
  deadline if ``start + compute > deadline``; a decision that starts after its deadline is
  skipped (no ``produce``) and counts as a miss; a miss plays silence or repeats the last
  unit (``compute.on_miss``);
- at the deadline the agent is told what was played (``played``); at the chunk's end the
  chunk is sent on the side's link.
The first ``decision_lead_chunks`` chunks are prepared before the conversation starts:
their deadline is not enforced and their compute time does not delay later decisions.

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
from duplexsim.config.scenario import Scenario
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
        self.wait = {key: getattr(scenario, key).estimation == "wait"
                     and getattr(scenario, key).kind == "syncllm" for key in SIDES}
        self.n_chunks = scenario.n_chunks
        self.silence = {key: silence_unit_of(self.agents[key]) for key in SIDES}
        self.decisions: list[dict[str, Any]] = []
        self.played: dict[str, dict[int, np.ndarray]] = {key: {} for key in SIDES}
        self.used_ms: dict[str, dict[int, int]] = {key: {} for key in SIDES}
        self.estimated_ms: dict[str, dict[int, int]] = {key: {} for key in SIDES}
        self._signal = {key: self.env.event() for key in SIDES}
        self.end_ms = max(self.clocks[k].chunk_end(self.n_chunks - 1) for k in SIDES)
        self._progress = _progress_bar(progress, self.end_ms, scenario.name)
        for key in SIDES:
            self.env.process(self._speaker(key))
            self.env.process(self._receiver(key))

    # ------------------------------------------------------------------ stepping
    @property
    def now(self) -> int:
        return int(self.env.now)

    def run_until(self, t_ms: int) -> None:
        """Process every event before ``t_ms`` (events at ``t_ms`` itself are not run yet)."""
        t_ms = min(int(t_ms), self.end_ms + 1)
        if t_ms > self.env.now:
            self.env.run(until=t_ms)
            if self._progress is not None:
                self._progress.update(int(self.env.now) - self._progress.n)

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

        if self._progress is not None:  # step chunk by chunk so the bar moves (same events)
            while self.now < self.end_ms:
                self.advance_chunk()
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

    def _hand_over(self, key: str) -> None:
        agent = self.agents[key]
        for chunk, units, _ in self.buffers[key].take():
            agent.observe_partner(chunk, units)
            self.used_ms[key][chunk] = self.now

    def _speaker(self, key: str):  # noqa: ANN202 - SimPy process
        clock = self.clocks[key]
        busy_until = 0
        for j in range(self.n_chunks):
            planned = clock.decision_time(j)
            deadline = clock.chunk_start(j)
            yield at(self.env, max(planned, busy_until), DECIDE)
            if self.wait[key]:
                while self.buffers[key].next_chunk < j and self.now < deadline:
                    yield self.env.any_of([self._signal[key], at(self.env, deadline, DECIDE)])
            row, units = self._decide(key, j, planned, deadline)
            if not row["prologue"]:
                busy_until = row["ready_ms"]
            self.played[key][j] = units
            self.decisions.append(row)
            at(self.env, deadline, SEND).callbacks.append(
                lambda _e, k=key, c=j, u=units: self.agents[k].played(c, u))
            at(self.env, clock.chunk_end(j), SEND).callbacks.append(
                lambda _e, k=key, c=j, u=units: self.links[k].put(c, u))

    def _decide(self, key: str, j: int, planned: int, deadline: int,
                ) -> tuple[dict[str, Any], np.ndarray]:
        """Hand over arrivals, produce chunk ``j`` (unless hopelessly late), apply deadline."""
        self._hand_over(key)
        agent, buffer, now = self.agents[key], self.buffers[key], self.now
        prologue = j < self.scenario.decision_lead_chunks
        row: dict[str, Any] = {
            "agent": key, "name": str(getattr(agent, "name", key)), "chunk": j,
            "planned_ms": planned, "decided_ms": now, "deadline_ms": deadline,
            "waited_ms": now - planned, "prologue": prologue,
            "lookahead": max(0, min(j, j - 1 - buffer.max_released)),
            "missing": j - sum(1 for k in self.used_ms[key] if k < j),
        }
        skipped = now > deadline and not prologue
        if skipped:
            report = None
            cost, ready, miss = 0, now, True
        else:
            report = agent.produce(j)
            cost = compute_ms(report, self.scenario.compute)
            ready = now + cost
            miss = ready > deadline and not prologue
        estimates = {} if report is None else dict(report.estimates)
        for k in estimates:
            self.estimated_ms[key].setdefault(k, now)
        est_chunks = sorted(estimates)
        units = self._miss_units(key, j) if miss else np.asarray(report.units, np.int64)  # type: ignore[union-attr]
        row.update({
            "ready_ms": ready, "compute_ms": cost, "deadline_miss": miss, "skipped": skipped,
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


def _progress_bar(progress: bool, total_ms: int, name: str) -> Any:
    if not progress:
        return None
    from tqdm import tqdm

    return tqdm(total=total_ms + 1, unit="ms", desc=f"simulate {name}", unit_scale=True)


def run(scenario: Scenario, *, agents: Mapping[str, Agent] | None = None,
        progress: bool = False) -> Any:
    """Simulate ``scenario`` to the end and return its :class:`~duplexsim.sim.trace.Trace`."""
    return Session(scenario, agents, progress=progress).finish()
