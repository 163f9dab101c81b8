"""What a session writes down as it runs, for the trace: plain records, nothing computed.

Owns :class:`DecisionRow` (one row per side and chunk, the ``decisions`` table) and
:class:`TraceRecorder` (decision rows, what each side played and with which slip, when
each received partner chunk was used or estimated). The session writes here and reads
back only what it played; :func:`duplexsim.sim.trace.build_trace` turns the records into
tables once, at the end. The links keep their own per-copy records. Must not run the
simulation.
"""

from __future__ import annotations

from bisect import bisect_left
from typing import TypedDict

import numpy as np

from duplexsim.sides import SIDES


class DecisionRow(TypedDict):
    """One decision of one side (the ``decisions`` table; ``real_units`` is added at the end).

    The unit and chunk lists are int64 arrays here (the table has lists): a session keeps a
    row per decision, and a dict of numbers, strings and arrays is never tracked by Python's
    cyclic garbage collector, while one holding a fresh tuple is, and stays so until a full
    collection (CPython untracks dicts only there). Tracked rows of the sessions running in
    a process (a vector env) were what kept filling the collector's oldest generation, whose
    full passes walk every object of the process.
    """

    agent: str
    name: str
    chunk: int
    planned_ms: int
    decided_ms: int
    waited_ms: int
    prologue: bool
    lookahead: int
    missing: int
    deadline_ms: int
    ready_ms: int
    compute_ms: int
    deadline_miss: bool
    skipped: bool
    stall_ms: int
    slip_ms: int
    agent_lookahead: int
    estimated_chunks: np.ndarray
    estimated_units: np.ndarray
    generated_tokens: int
    prefill_tokens: int
    compute_wall_ms: float
    played_units: np.ndarray


class TraceRecorder:
    """The records of one session (see the module docstring)."""

    def __init__(self) -> None:
        self.decisions: list[DecisionRow] = []
        self.played: dict[str, dict[int, np.ndarray]] = {k: {} for k in SIDES}
        """Side -> chunk -> the frames it played."""
        self.chunk_slip_ms: dict[str, dict[int, int]] = {k: {} for k in SIDES}
        """Side -> chunk -> the slip its start and end were shifted by."""
        self.used_ms: dict[str, dict[int, int]] = {k: {} for k in SIDES}
        """Receiving side -> partner chunk -> when it was handed to the agent."""
        self._used_order: dict[str, list[int]] = {k: [] for k in SIDES}
        """Receiving side -> the partner chunks handed over, in the (increasing) order the
        receive buffer releases them."""
        self.estimated_ms: dict[str, dict[int, int]] = {k: {} for k in SIDES}
        """Receiving side -> partner chunk -> when the agent first estimated it."""

    def decision(self, row: DecisionRow) -> None:
        self.decisions.append(row)

    def play(self, side: str, chunk: int, units: np.ndarray, slip_ms: int) -> None:
        self.played[side][chunk] = units
        self.chunk_slip_ms[side][chunk] = slip_ms

    def use(self, side: str, chunk: int, t_ms: int) -> None:
        order = self._used_order[side]
        if order and chunk <= order[-1]:
            raise ValueError(f"side {side}: partner chunk {chunk} handed over after chunk "
                             f"{order[-1]} (the receive buffer releases in increasing order)")
        order.append(chunk)
        self.used_ms[side][chunk] = t_ms

    def used_before(self, side: str, j: int) -> int:
        """How many partner chunks below ``j`` were handed to side ``side`` so far."""
        return bisect_left(self._used_order[side], j)

    def estimate(self, side: str, chunk: int, t_ms: int) -> None:
        self.estimated_ms[side].setdefault(chunk, t_ms)
