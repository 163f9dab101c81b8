"""The one rounding rule (duplexsim.timebase): half up, never to even, no carry."""

from __future__ import annotations

import math

import numpy as np

from duplexsim import timebase
from duplexsim.sim import clock


def test_round_half_up_takes_ties_up_and_nothing_under_a_half() -> None:
    assert [timebase.round_half_up(x) for x in (115.5, 116.5, 0.5, -0.5, -1.5, 2.4999, 7.0)] \
        == [116, 117, 1, 0, -1, 2, 7]
    # round() took 116.5 to 116 (ties to even); floor(x + 0.5) carried this one up to 1
    assert round(116.5) == 116 and math.floor(0.49999999999999994 + 0.5) == 1
    assert timebase.round_half_up(0.49999999999999994) == 0
    assert timebase.round_half_up(0.58 * 25) == 14  # as computed: no snapping


def test_frames_from_s_rounds_a_tie_of_whole_ms_up_whatever_the_float_error() -> None:
    """4.62 s is 115.5 frames of 40 ms (4.62 * 25 = 115.49999999999999): 116; 4.66 s is
    116.5 frames, which round() took to 116."""
    assert [timebase.frames_from_s(s, 40) for s in (4.62, 4.66, 0.5, 30.0, 90.0, 0.0199)] \
        == [116, 117, 13, 750, 2250, 0]
    assert timebase.frames_from_s(np.float64(0.1), 20) == 5
    assert round(4.66 * 1000 / 40) == 116


def test_the_simulator_rounds_by_the_same_functions() -> None:
    """duplexsim.sim.clock re-exports the rule: no second copy."""
    assert clock.round_ms is timebase.round_ms and clock.ms_from_s is timebase.ms_from_s
