"""Turn-taking metrics refuse bad input in one line: a VAD that is not voice activity,
non-finite frame durations and thresholds, params and events of the wrong kind."""

from __future__ import annotations

import numpy as np
import pytest
from test_turntaking import FRAME, timeline

from duplexsim.config.loader import FieldError
from duplexsim.metrics.activity import vad_from_units
from duplexsim.metrics.turntaking import (
    TurnTakingParams,
    detect_events,
    event_columns,
    listener_onsets,
    summarize_events,
)


def test_vad_from_units_and_params_validation():
    units = np.array([[0, 5, 5, 1], [3, 0, 1, 1]])
    assert vad_from_units(units, {0, 1}).tolist() == [[False, True, True, False],
                                                      [True, False, False, False]]
    with pytest.raises(FieldError, match="min_pause_ms"):
        TurnTakingParams(min_pause_ms=-1)
    with pytest.raises(ValueError, match=r"\[2, T\]"):
        detect_events(np.zeros((3, 10), dtype=bool))


@pytest.mark.parametrize("bad", [[[0.1, 0.9, 0.2], [0.8, 0.1, 0.0]],  # speech probabilities
                                 [[np.nan, 0, 1], [0, 1, 0]], [[2, 0, 1], [0, 1, 0]],
                                 [["a", "b", "c"], ["d", "e", "f"]]])
def test_a_vad_that_is_not_zero_or_one_is_an_error_not_all_speech(bad):
    """A plain bool cast made every non-zero frame speech: a probability VAD of 0.1 and
    0.2 was 'talk' and NaN frames were talk, without a word."""
    for f in (detect_events, listener_onsets):
        with pytest.raises(ValueError, match=r"vad must be voice activity, bool or 0/1"):
            f(np.array(bad), FRAME)
    # 0/1 numbers (an annotation's int8, a float mask) are voice activity
    as_ints = detect_events(np.array([[1, 1, 0, 0], [0, 0, 1, 1]], dtype=np.int8), FRAME)
    assert as_ints.equals(detect_events(np.array([[1, 1, 0, 0], [0, 0, 1, 1]], bool), FRAME))
    assert len(detect_events(np.array([[1.0, 0.0], [0.0, 1.0]]), FRAME)) > 0


def test_non_finite_frame_duration_and_thresholds_are_one_line_errors():
    """frame_ms NaN passed 'frame_ms <= 0' and died in int() ('cannot convert float NaN to
    integer'), inf gave NaN times; summarize_events over a NaN duration gave NaN rates and
    over inf zero ones; a threshold of inf passed '>= 0' and died as an OverflowError, and
    one of 10**400 (past a float's range) in the finiteness check itself."""
    vad = timeline(1000, [(0, 400)], [(600, 1000)])
    for frame_ms in (float("nan"), float("inf"), "40", 0, 10**400):
        with pytest.raises(ValueError, match="frame_ms must be a finite number > 0"):
            detect_events(vad, frame_ms)
    events = detect_events(vad, FRAME)
    for duration_ms in (float("nan"), float("inf"), 0):
        with pytest.raises(ValueError, match="duration_ms must be a finite number > 0"):
            summarize_events(events, duration_ms)
    for value in (float("inf"), float("nan"), "200", 10**400):
        with pytest.raises(FieldError, match="bc_max_ms: must be a finite number >= 0"):
            TurnTakingParams(bc_max_ms=value)
    assert TurnTakingParams(min_pause_ms=np.int64(200), bc_max_ms=np.float64(800.0))


def test_params_and_events_of_the_wrong_kind_are_one_line() -> None:
    """params=dict (or a dict of thresholds) was an AttributeError, an empty dict silently
    the defaults; summarize_events of event_columns' dict an AttributeError of to_numpy and
    a table without an fto_ms column a KeyError."""
    vad = timeline(1000, [(0, 400)], [(600, 1000)])
    for params in (dict, {"min_pause_ms": 180}, {}):
        for f in (detect_events, listener_onsets):
            with pytest.raises(TypeError, match=r"^params must be a TurnTakingParams or None, "
                               r"got (type|dict) \(e\.g\. TurnTakingParams"):
                f(vad, FRAME, params)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^events must be the DataFrame of detect_events, got "
                       r"dict \(summarize_columns reads event_columns' dict\)$"):
        summarize_events(event_columns(vad, FRAME), 1000)  # type: ignore[arg-type]
    events = detect_events(vad, FRAME)
    with pytest.raises(ValueError, match=r"^events must have the columns of detect_events, "
                       r"missing fto_ms$"):
        summarize_events(events.drop(columns="fto_ms"), 1000)
    assert detect_events(vad, FRAME, TurnTakingParams()).equals(events)
    assert summarize_events(events, 1000)["ipus_per_min"] == 120.0
