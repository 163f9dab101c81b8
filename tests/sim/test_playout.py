"""The playout rules at their boundaries (module docstring of :mod:`duplexsim.sim.playout`)."""

from __future__ import annotations

from duplexsim.sim.playout import MISSED, ON_TIME, DeadlineRule, WaitRule


def test_a_chunk_ready_exactly_at_its_start_is_on_time() -> None:
    """Deadline rule: a miss is compute ending *after* the chunk's start; ready at the start
    plays (one ms later misses). The wait rule slips by nothing at the start, 1 ms after."""
    rule = DeadlineRule()
    assert rule.place(now=0, ready=160, deadline=160, prologue=False) == ON_TIME
    assert rule.place(now=0, ready=161, deadline=160, prologue=False) == MISSED
    assert rule.place(now=0, ready=400, deadline=160, prologue=True) == ON_TIME
    wait = WaitRule()
    assert wait.place(now=0, ready=160, deadline=160, prologue=False).stall_ms == 0
    assert wait.place(now=0, ready=161, deadline=160, prologue=False).stall_ms == 1
