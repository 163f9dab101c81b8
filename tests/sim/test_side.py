"""One side's checks: what its agent reports for a chunk (:mod:`duplexsim.sim.side`)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sim_scenarios import Reporting, scripted

from duplexsim.agents.base import ChunkReport
from duplexsim.config.scenario import ComputeConfig
from duplexsim.sim import run


@pytest.mark.parametrize("report,model,fragment", [
    (lambda c: ChunkReport(chunk=c, units=np.full(4, 3)), "none",
     "produce(0).units: 4 frames (allowed: 5)"),
    (lambda c: ChunkReport(chunk=c, units=np.full(5, 3.7)), "none",
     "produce(0).units: expected integer unit ids, got dtype float64"),
    (lambda c: ChunkReport(chunk=c, units=np.full(5, -2)), "none",
     "produce(0).units[0] = -2: not a unit id (allowed: 0..19); 5 bad value(s) in all"),
    (lambda c: ChunkReport(chunk=c, units=np.full(5, 20)), "none",
     "produce(0).units[0] = 20: not a unit id (allowed: 0..19); 5 bad value(s) in all"),
    (lambda c: ChunkReport(chunk=c + 1, units=np.full(5, 3)), "none",
     "produce(0) reported chunk 1 (allowed: 0, the chunk asked for)"),
    (lambda c: None, "none", "produce(0) returned NoneType (allowed: a ChunkReport)"),
    (lambda c: ChunkReport(chunk=c, units=np.full(5, 3), estimates={c: np.full(5, 1)}), "none",
     "produce(0).estimates: partner chunk 0 (allowed: partner chunks >= 0 and < 0)"),
    (lambda c: ChunkReport(chunk=c, units=np.full(5, 3),
                           estimates={k: np.full(3, 1) for k in range(c)}),
     "none", "produce(1).estimates[0]: 3 frames (allowed: 5)"),
    (lambda c: ChunkReport(chunk=c, units=np.full(5, 3), lookahead=None), "none",  # type: ignore[arg-type]
     "produce(0).lookahead = None (allowed: an integer >= 0)"),
    (lambda c: ChunkReport(chunk=c, units=np.full(5, 3), lookahead=1.5), "none",  # type: ignore[arg-type]
     "produce(0).lookahead = 1.5 (allowed: an integer >= 0)"),
    (lambda c: ChunkReport(chunk=c, units=np.full(5, 3), generated_tokens=-100), "profile",
     "produce(0).generated_tokens = -100 (allowed: an integer >= 0)"),
    (lambda c: ChunkReport(chunk=c, units=np.full(5, 3), compute_wall_ms=math.nan), "measured",
     "produce(0).compute_wall_ms = nan (allowed: a finite number of ms >= 0)"),
    (lambda c: ChunkReport(chunk=c, units=np.full(5, 3), compute_wall_ms=-500.0), "measured",
     "produce(0).compute_wall_ms = -500.0 (allowed: a finite number of ms >= 0)"),
    (lambda c: ChunkReport(chunk=c, units=np.full(5, 3), compute_wall_ms=True), "measured",
     "produce(0).compute_wall_ms = True (allowed: a finite number of ms >= 0)"),
    (lambda c: ChunkReport(chunk=c, units=np.full(5, 3), compute_wall_ms=10**400), "measured",
     f"produce(0).compute_wall_ms = {10**400} (allowed: a finite number of ms >= 0)"),
])
def test_a_bad_chunk_report_is_named_at_the_decision(report, model: str,  # noqa: ANN001
                                                     fragment: str) -> None:
    """What an agent reports is checked where the simulator takes it: a chunk of the wrong
    length used to fail at the end, in the trace, as a bare IndexError; float units were
    truncated (3.7 played as 3), negative or out-of-range ids played and sent, a None report
    played silence, negative token counts or wall time made a chunk ready before it was
    decided (ready_ms < decided_ms, never a miss), a NaN wall time a bare error in SimPy; a
    lookahead of None was a bare TypeError from int() and 1.5 was written as 1; a wall time
    of True was taken as 1 ms and 10**400 failed in the clock (OverflowError)."""
    compute = {"none": ComputeConfig(), "measured": ComputeConfig(model="measured"),
               "profile": ComputeConfig(model="profile", decode_ms_per_token=2.0)}[model]
    with pytest.raises(ValueError) as info:
        run(scripted(200, 1.0, delay_ms=0.0, compute=compute), agents={"b": Reporting(report)})
    assert str(info.value) == f"side b (odd): {fragment}"
