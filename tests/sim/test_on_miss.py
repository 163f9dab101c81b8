"""``compute.on_miss``: what a missed chunk plays (:meth:`SideState.miss_units`)."""

from __future__ import annotations

import numpy as np

from duplexsim.agents.replay import ReplayAgent
from duplexsim.sim.buffer import ReceiveBuffer
from duplexsim.sim.clock import ChunkClock
from duplexsim.sim.playout import DeadlineRule
from duplexsim.sim.side import SideState

F = 4


def test_a_missed_chunk_repeats_the_last_unit_played() -> None:
    """``repeat`` holds the *last* unit of the chunk played before (1 2 3 4 -> 4 4 4 4),
    not its first; ``silence``, or nothing played before, plays the silence unit."""
    side = SideState(key="a", agent=ReplayAgent(np.arange(8, dtype=np.int64), F, name="a"),
                     clock=ChunkClock(160), buffer=ReceiveBuffer(), rule=DeadlineRule(),
                     silence_unit=9, frames_per_chunk=F, due_ms=0)
    played = {0: np.array([1, 2, 3, 4], np.int64)}
    assert side.miss_units(1, "repeat", played).tolist() == [4, 4, 4, 4]
    assert side.miss_units(1, "silence", played).tolist() == [9, 9, 9, 9]
    assert side.miss_units(3, "repeat", played).tolist() == [9, 9, 9, 9]
