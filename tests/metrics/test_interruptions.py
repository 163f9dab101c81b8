"""Barge-ins (recovery, zombie output) and unanswered turns (deafness) on hand-made activity."""

from __future__ import annotations

import numpy as np
import pytest

from duplexsim.metrics.interruptions import (
    InterruptionParams,
    barge_ins,
    interruption_summary,
    turn_ends,
)


def vad(n: int, runs0: list[tuple[int, int]], runs1: list[tuple[int, int]]) -> np.ndarray:
    out = np.zeros((2, n), bool)
    for s, runs in enumerate((runs0, runs1)):
        for a, b in runs:
            out[s, a:b] = True
    return out


def test_barge_ins_recovery_and_zombies():
    # A talks 0-100; B barges in at 50 for 40 frames (1.6 s): A talks on to 100 (zombie)
    v = vad(200, [(0, 100)], [(50, 90)])
    (row,) = barge_ins(v).itertuples()
    assert (row.speaker, row.onset_ms, row.recovery_ms, row.barge_in_ms, row.zombie) == (
        0, 2000.0, 2000.0, 1600.0, True)
    # A stops 10 frames after the onset: recovered in 400 ms, no zombie
    (row,) = barge_ins(vad(200, [(0, 60)], [(50, 90)])).itertuples()
    assert row.recovery_ms == 400.0 and not row.zombie
    assert barge_ins(vad(200, [(0, 100)], [(5, 60)])).empty  # A had just begun: a clash
    assert barge_ins(vad(200, [(0, 100)], [(50, 70)])).empty  # 0.8 s: too short to barge in
    assert barge_ins(vad(200, [(0, 40)], [(50, 90)])).empty  # A had stopped: no barge-in
    # the other way round, and pauses under 200 ms do not end an IPU
    (row,) = barge_ins(vad(200, [(80, 120)], [(0, 50), (53, 100)])).itertuples()
    assert row.speaker == 1 and row.recovery_ms == 800.0 and not row.zombie
    with pytest.raises(ValueError, match="min_held_ms: -1.0 is negative"):
        InterruptionParams(min_held_ms=-1.0)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), "1000", None, True,
                                   pytest.param(10**400, id="10**400")])
def test_a_threshold_that_is_no_finite_number_is_a_one_line_error(value: object) -> None:
    """NaN was reported as "nan is negative"; a string or None was a bare TypeError from
    '>='; True passed as 1 ms; 10**400 (no float holds it) was an OverflowError traceback."""
    with pytest.raises(ValueError, match=r"min_turn_ms: .* is not a finite number \(allowed: "
                       "a finite number >= 0"):
        InterruptionParams(min_turn_ms=value)  # type: ignore[arg-type]


def test_turn_ends_and_deafness():
    # B speaks 2 s then nobody speaks for 2.4 s: deaf; then B speaks 2 s, A answers after
    # 0.8 s, talks 1.6 s and nobody answers A in the 3.2 s left (B is deaf)
    v = vad(300, [(180, 220)], [(0, 50), (110, 160)])
    ends = turn_ends(v)
    assert ends[["speaker", "end_ms", "silence_ms", "deaf"]].values.tolist() == [
        [0, 2000.0, 2400.0, True], [0, 6400.0, 800.0, False], [1, 8800.0, 3200.0, True]]
    # B's IPU under min_turn_ms expects no answer; A still talking at B's end is no turn end
    assert turn_ends(vad(300, [], [(0, 20)])).empty
    assert turn_ends(vad(300, [(40, 60)], [(0, 50)])).empty
    # an IPU ending just before the conversation does is censored, not deaf
    assert turn_ends(vad(100, [], [(40, 90)])).empty
    assert turn_ends(vad(150, [], [(40, 90)]))["deaf"].tolist() == [True]
    summary = interruption_summary(v, speakers=(0,))
    assert summary["turn_ends"] == 2 and summary["deaf_rate"] == 0.5
    assert summary["barge_ins"] == 0 and np.isnan(summary["zombie_rate"])


def test_a_barge_in_both_talk_through_to_the_end_has_no_outcome():
    """A talks from 0 and B barges in at frame 50; both still talk when the window ends.
    Whether A would have yielded is unknown, but the row said zombie=False (a yield) with a
    recovery of the time left: a replay partner that never yields at the end of each
    conversation added a yield per conversation."""
    assert barge_ins(vad(100, [(0, 100)], [(50, 100)])).empty
    assert np.isnan(interruption_summary(vad(100, [(0, 100)], [(50, 100)]))["zombie_rate"])
    # one side stopped before the cut: the outcome is known
    # (A's recovery is cut off: 2000 ms is the time left, a lower bound, flagged censored)
    (row,) = barge_ins(vad(100, [(0, 100)], [(50, 90)])).itertuples()
    assert row.zombie and row.recovery_ms == 2000.0 and row.recovery_censored
    (row,) = barge_ins(vad(100, [(0, 80)], [(50, 100)])).itertuples()
    assert not row.zombie and row.recovery_ms == 1200.0 and not row.recovery_censored


def test_a_recovery_cut_off_at_the_end_is_flagged_and_left_out_of_the_median():
    """A talks to the last frame through B's 1.6 s barge-in: a zombie for sure, but A's
    recovery is unseen; the row's 2000 ms is only the time left (kept, as a lower bound, and
    flagged). The median took it as a recovery: here 2000 ms against the 400 ms of the one
    barge-in whose end was seen, so a later cut (more conversation left) raised it."""
    v = vad(200, [(0, 60), (110, 200)], [(50, 90), (150, 190)])
    b = barge_ins(v)
    assert b[["recovery_ms", "zombie", "recovery_censored"]].values.tolist() == [
        [400.0, False, False], [2000.0, True, True]]
    s = interruption_summary(v)
    assert s["barge_ins"] == 2 and s["zombie_rate"] == 0.5
    assert s["recovery_median_ms"] == 400.0 and s["recovery_censored"] == 1
    # only censored ones: no median, still counted
    s = interruption_summary(vad(100, [(0, 100)], [(50, 90)]))
    assert np.isnan(s["recovery_median_ms"]) and s["recovery_censored"] == 1
    assert s["zombie_rate"] == 1.0
    assert interruption_summary(vad(100, [], []))["recovery_censored"] == 0
    # A stops one frame before the end: its recovery was seen, not censored
    assert barge_ins(vad(100, [(0, 99)], [(50, 90)]))[
        ["recovery_ms", "recovery_censored"]].values.tolist() == [[1960.0, False]]


def test_barge_in_boundaries_follow_the_definitions():
    """At least / after, frame-exact: a partner onset in the frame the speaker's IPU ended is
    no barge-in (a transition); a speaker who began exactly min_held_ms (400 ms) before is
    barged in on; ending in the same frame as the barge-in is a yield, not a zombie."""
    assert barge_ins(vad(200, [(0, 50)], [(50, 90)])).empty
    (row,) = barge_ins(vad(200, [(0, 100)], [(10, 60)])).itertuples()
    assert (row.speaker, row.onset_ms) == (0, 400.0)
    (row,) = barge_ins(vad(200, [(0, 90)], [(50, 90)])).itertuples()
    assert row.recovery_ms == row.barge_in_ms == 1600.0 and not row.zombie


def test_a_silence_of_exactly_deaf_ms_is_deaf():
    """Deafness is nobody speaking for the next deaf_ms (2000 ms = 50 frames): exactly that
    long counts, one frame less does not."""
    (row,) = turn_ends(vad(200, [(80, 100)], [(0, 30)])).itertuples()
    assert (row.speaker, row.end_ms, row.silence_ms, row.deaf) == (0, 1200.0, 2000.0, True)
    (row,) = turn_ends(vad(200, [(79, 100)], [(0, 30)])).itertuples()
    assert row.silence_ms == 1960.0 and not row.deaf


def test_the_summary_takes_the_turntaking_thresholds_its_tables_take():
    """interruption_summary(turntaking=...) counts what barge_ins and turn_ends count with
    those IPU thresholds (it took none: a summary always bridged 200 ms pauses, whatever
    the tables beside it were given)."""
    from duplexsim.metrics.turntaking import TurnTakingParams

    # A talks 0-100 with a 240 ms pause at 60; B barges in at 50 for 1.6 s
    v = vad(200, [(0, 60), (66, 100)], [(50, 90)])
    bridged = TurnTakingParams(min_pause_ms=400.0)
    default, wide = interruption_summary(v), interruption_summary(v, turntaking=bridged)
    # 200 ms bridged: B barges in on A, who yields at 60; A's IPU from 66 barges in on B
    assert (default["barge_ins"], default["zombie_rate"]) == (2.0, 0.0)
    assert (wide["barge_ins"], wide["zombie_rate"]) == (1.0, 1.0)  # one IPU to 100: zombie
    for p in (None, bridged):
        b, t = barge_ins(v, turntaking=p), turn_ends(v, turntaking=p)
        s = interruption_summary(v, turntaking=p)
        assert (s["barge_ins"], s["turn_ends"]) == (len(b), len(t))
        assert s["zombie_rate"] == b["zombie"].mean()


def test_speakers_and_thresholds_of_the_wrong_kind_are_one_line():
    """``speakers=(2,)`` summed no one (zero barge-ins, without a word) and ``0`` failed in
    pandas; a dict of thresholds failed as "'dict' object has no attribute ..."."""
    v = vad(200, [(0, 100)], [(50, 90)])
    for speakers in ((2,), (), "ab", (True,)):
        with pytest.raises(ValueError, match=r"^speakers: .* \(allowed: speakers 0 and/or 1, "
                                             r"e.g. \(0, 1\) or \(0,\)\)$"):
            interruption_summary(v, speakers=speakers)  # type: ignore[arg-type]
    one = interruption_summary(v, speakers=(np.int64(0),))
    assert interruption_summary(v, speakers=0) == pytest.approx(  # type: ignore[arg-type]
        one, nan_ok=True)
    assert interruption_summary(v, speakers=(0,))["barge_ins"] == 1.0
    for key, cls in (("params", "InterruptionParams"), ("turntaking", "TurnTakingParams")):
        for call in (barge_ins, turn_ends, interruption_summary):
            with pytest.raises(TypeError, match=rf"^{key}: got dict \(allowed: None or "
                                                rf"{cls}\(\*\*thresholds\)\)$"):
                call(v, **{key: {"deaf_ms": 1.0}})  # type: ignore[arg-type]
