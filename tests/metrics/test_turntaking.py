"""Turn-taking events on hand-made timelines with known answers (10 ms frames)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from duplexsim.config.loader import FieldError
from duplexsim.metrics.activity import vad_from_units
from duplexsim.metrics.turntaking import (
    EVENT_COLUMNS,
    SUMMARY_KEYS,
    TurnTakingParams,
    detect_events,
    event_columns,
    event_durations,
    listener_onsets,
    summarize_events,
)

FRAME = 10  # ms; lets tests place events at any multiple of 10 ms


def timeline(n_ms: int, a: list[tuple[int, int]], b: list[tuple[int, int]]) -> np.ndarray:
    """VAD [2, T] with speech for speaker A / B in the given [start_ms, end_ms) spans."""
    vad = np.zeros((2, n_ms // FRAME), dtype=bool)
    for s, spans in enumerate((a, b)):
        for start, end in spans:
            vad[s, start // FRAME : end // FRAME] = True
    return vad


def kinds(events, kind):
    return events[events["kind"] == kind].reset_index(drop=True)


def test_two_ipus_300ms_apart_by_different_speakers_give_one_gap_and_fto_plus_300():
    ev = detect_events(timeline(4000, [(0, 1000)], [(1300, 2500)]), FRAME)
    assert list(ev.columns) == EVENT_COLUMNS
    gaps = kinds(ev, "gap")
    assert len(gaps) == 1
    assert gaps.loc[0, "duration_ms"] == 300
    assert gaps.loc[0, "fto_ms"] == 300
    assert gaps.loc[0, "speaker"] == 1 and gaps.loc[0, "transition"]
    assert len(kinds(ev, "ipu")) == 2 and len(kinds(ev, "pause")) == 0


def test_overlapping_transition_gives_negative_fto_and_transition_overlap():
    ev = detect_events(timeline(4000, [(0, 1500)], [(1200, 3000)]), FRAME)
    ov = kinds(ev, "overlap")
    assert len(ov) == 1
    assert ov.loc[0, "duration_ms"] == 300 and ov.loc[0, "transition"]
    assert ov.loc[0, "fto_ms"] == -300 and ov.loc[0, "speaker"] == 1
    assert len(kinds(ev, "gap")) == 0


def test_pause_within_a_speaker_is_a_pause_not_a_gap():
    ev = detect_events(timeline(5000, [(0, 1000), (1500, 2500)], [(3000, 4000)]), FRAME)
    pauses = kinds(ev, "pause")
    assert len(pauses) == 1
    assert (pauses.loc[0, "start_ms"], pauses.loc[0, "duration_ms"]) == (1000, 500)
    assert pauses.loc[0, "speaker"] == 0 and not pauses.loc[0, "transition"]
    assert math.isnan(pauses.loc[0, "fto_ms"])
    assert kinds(ev, "gap")["fto_ms"].tolist() == [500]


def test_silence_shorter_than_min_pause_is_bridged_into_one_ipu():
    ev = detect_events(timeline(3000, [(0, 1000), (1150, 2000)], []), FRAME)
    ipus = kinds(ev, "ipu")
    assert len(ipus) == 1 and ipus.loc[0, "duration_ms"] == 2000
    # exactly min_pause_ms is a pause
    ev = detect_events(timeline(3000, [(0, 1000), (1200, 2000)], []), FRAME)
    assert kinds(ev, "pause")["duration_ms"].tolist() == [200]
    ev = detect_events(timeline(3000, [(0, 1000), (1150, 2000)], []), FRAME,
                       TurnTakingParams(min_pause_ms=100))
    assert kinds(ev, "pause")["duration_ms"].tolist() == [150]


def test_backchannel_inside_partner_speech_is_not_a_turn_transition():
    ev = detect_events(timeline(5000, [(0, 4000)], [(1500, 1900)]), FRAME)
    bc = kinds(ev, "backchannel")
    assert len(bc) == 1 and bc.loc[0, "speaker"] == 1 and bc.loc[0, "duration_ms"] == 400
    assert not ev["transition"].any() and ev["fto_ms"].isna().all()
    assert len(kinds(ev, "ipu")) == 1  # the backchannel is not an IPU
    ov = kinds(ev, "overlap")  # its double talk is a within-turn overlap
    assert ov["duration_ms"].tolist() == [400] and not ov["transition"].any()


def test_an_ipu_cut_at_the_window_start_is_no_backchannel_or_listener_onset():
    """A window cut from a dialogue: B's short IPU at its first frame may be the end of a
    long turn before the cut, so B's silence before it is unknown. It was a backchannel
    (own silence taken as >= 1 s; about 1% of those in 90 s continuation windows)."""
    vad = timeline(5000, [(0, 4000)], [(0, 400)])
    ev = detect_events(vad, FRAME)
    assert len(kinds(ev, "backchannel")) == 0
    assert kinds(ev, "ipu")["speaker"].tolist() == [0, 1]
    # the same IPU 1.5 s into the window, after observed silence: a backchannel
    later = detect_events(timeline(5000, [(0, 4000)], [(1500, 1900)]), FRAME)
    assert len(kinds(later, "backchannel")) == 1
    assert listener_onsets(vad, FRAME)[0] == 0


def test_backchannel_in_partner_pause_leaves_the_pause_intact():
    ev = detect_events(timeline(6000, [(0, 2000), (2600, 5000)], [(2150, 2400)]), FRAME)
    assert kinds(ev, "backchannel")["start_ms"].tolist() == [2150]
    assert kinds(ev, "pause")["duration_ms"].tolist() == [600]
    assert len(kinds(ev, "gap")) == 0 and len(kinds(ev, "overlap")) == 0


def test_short_ipu_that_takes_the_floor_is_not_a_backchannel():
    # B says something short, then A stays silent and B continues: a floor change
    ev = detect_events(timeline(8000, [(0, 2000)], [(2300, 2800), (3200, 6000)]), FRAME)
    assert len(kinds(ev, "backchannel")) == 0
    assert kinds(ev, "gap")["fto_ms"].tolist() == [300]


def test_a_backchannel_needs_a_partner_on_the_floor_not_a_partner_backchannel():
    """Six 0.8 s turns traded with 0.4 s gaps: each short turn had the other's short turns
    around it, so all but the first and last were backchannels of each other and the rest
    was one 5.2 s gap (an audit). Decided in time order, B backchannels A's floor."""
    turns = [(k * 1200, k * 1200 + 800) for k in range(7)]
    ev = detect_events(timeline(9000, turns[0::2], turns[1::2]), FRAME)
    assert kinds(ev, "ipu")["speaker"].tolist() == [0, 0, 0, 0]  # A holds the floor
    assert kinds(ev, "backchannel")["speaker"].tolist() == [1, 1, 1]
    assert kinds(ev, "pause")["duration_ms"].tolist() == [1600] * 3
    assert len(kinds(ev, "gap")) == 0
    # one turn shorter than a backchannel each, with nothing longer around: no backchannel
    ev = detect_events(timeline(3000, [(0, 600)], [(900, 1500)]), FRAME)
    assert len(kinds(ev, "backchannel")) == 0 and kinds(ev, "gap")["fto_ms"].tolist() == [300]


def test_long_ipu_inside_partner_speech_is_a_within_turn_overlap():
    # B talks 1.5 s (too long for a backchannel) inside A's turn: overlap within A's turn
    ev = detect_events(timeline(6000, [(0, 5000)], [(1000, 2500)]), FRAME)
    ov = kinds(ev, "overlap")
    assert ov["duration_ms"].tolist() == [1500]
    assert ov.loc[0, "speaker"] == 1 and not ov.loc[0, "transition"]
    assert ev["fto_ms"].isna().all()


def test_fto_of_a_transition_with_silence_then_double_talk_is_negative():
    """A talks, both are silent 300 ms, then B starts and A starts again over B for 500 ms
    before yielding: the FTO was +300 (from A's speech before the silence), with a 500 ms
    transition overlap beside it; bridging A's silence (150 ms) gave -650. The outgoing IPU
    is A's last before B holds the floor alone: -500."""
    ev = detect_events(timeline(4000, [(0, 1000), (1300, 1800)], [(1300, 3000)]), FRAME)
    assert ev["fto_ms"].dropna().tolist() == [-500]
    assert kinds(ev, "overlap")["transition"].tolist() == [True]
    # it sits on the overlap row: the transition's 300 ms gap row, first in time, carried a
    # negative FTO
    assert ev.loc[ev["fto_ms"].notna(), "kind"].tolist() == ["overlap"]
    assert kinds(ev, "gap")["duration_ms"].tolist() == [300]
    assert summarize_events(ev, 4000)["overlap_transition_share"] == 1.0
    # the mirror: B talks over A's end, both stop, B resumes after 300 ms: B's turn began
    # over A (B's IPU at 0-100 ms keeps its 400-1000 ms IPU from being a backchannel)
    ev = detect_events(timeline(4000, [(0, 1000)], [(0, 100), (400, 1000), (1300, 3000)]), FRAME)
    assert ev["fto_ms"].dropna().tolist() == [-600]
    assert ev.loc[ev["fto_ms"].notna(), "kind"].tolist() == ["overlap"]
    # silence alone: the FTO is the gap
    ev = detect_events(timeline(4000, [(0, 1000), (1300, 1800)], [(1900, 3000)]), FRAME)
    assert ev["fto_ms"].dropna().tolist() == [100]


def test_switch_with_no_silence_gives_zero_length_gap_and_fto_zero():
    ev = detect_events(timeline(3000, [(0, 1000)], [(1000, 2000)]), FRAME)
    gaps = kinds(ev, "gap")
    assert gaps["duration_ms"].tolist() == [0] and gaps["fto_ms"].tolist() == [0]


def test_a_zero_length_gap_row_carries_an_fto_but_is_no_gap():
    """A 300 ms gap, then a switch on the same frame (no silence): the gap median was
    150 ms, the 0 ms carrier row of the second FTO counted as a gap; the FTOs are 300 and 0."""
    ev = detect_events(timeline(4000, [(0, 1000), (2500, 3500)], [(1300, 2500)]), FRAME)
    assert kinds(ev, "gap")["duration_ms"].tolist() == [300, 0]
    s = summarize_events(ev, 4000)
    assert s["gap_median_ms"] == 300 and s["fto_median_ms"] == 150
    assert event_durations(ev, "gap").tolist() == [300]
    # 50 ms of double talk below min_overlap_ms: an FTO of -50 on a 0 ms row, no 0 ms gap
    ev = detect_events(timeline(3000, [(0, 1050)], [(1000, 2000)]), FRAME,
                       TurnTakingParams(min_overlap_ms=100))
    assert math.isnan(summarize_events(ev, 3000)["gap_median_ms"])


def test_context_frames_are_heard_but_not_reported() -> None:
    """Frames before the window (``context_frames``) decide who holds the floor in it:
    B spoke 0-700 ms, A's window starts at 500 ms; A speaking from 600 ms is a takeover
    with FTO -100 ms (B's IPU cut at the window's start), and A from 900 ms one with
    FTO +200 ms whose gap, before the window starts at 900, is a zero-length row at 0.
    Without the context each was A's first sole run: no transition."""
    def window(vad: np.ndarray, lead: int) -> dict[str, list]:
        cols = event_columns(vad, FRAME, context_frames=lead // FRAME)
        return {k: cols[k].tolist() for k in ("kind", "speaker", "start_ms", "end_ms",
                                               "fto_ms")}

    ev = window(timeline(2000, [(600, 1500)], [(0, 700)]), 500)
    assert ev["kind"] == ["ipu", "ipu", "overlap"] and ev["speaker"] == [1, 0, 0]
    assert ev["start_ms"] == [0.0, 100.0, 100.0] and ev["end_ms"] == [200.0, 1000.0, 200.0]
    assert np.isnan(ev["fto_ms"][:2]).all() and ev["fto_ms"][2] == -100.0
    ev = window(timeline(2000, [(900, 1500)], [(0, 700)]), 900)
    assert ev["kind"] == ["ipu", "gap"] and ev["start_ms"] == [0.0, 0.0]
    assert ev["end_ms"] == [600.0, 0.0] and ev["fto_ms"][1] == 200.0
    assert np.isnan(event_columns(timeline(1100, [(0, 600)], [(0, 0)]), FRAME)[
        "fto_ms"]).all()  # the same window alone: A's first sole run
    assert window(timeline(1000, [], []), 1000)["kind"] == []
    with pytest.raises(ValueError, match=r"context_frames must be an int in 0\.\.100"):
        event_columns(timeline(1000, [], []), FRAME, context_frames=101)


def test_overlap_median_is_of_transition_overlaps_and_overlap_share_of_all_double_talk():
    """A 400 ms backchannel, a transition made in 200 ms of overlap and a 1.5 s within-turn
    overlap: overlap_median_ms pooled the three (400), though a gap (its counterpart) is
    only ever at a transition; now the transition's 200. overlap_share keeps all 2.1 s."""
    ev = detect_events(timeline(12000, [(0, 4000), (6000, 11000)],
                                [(1500, 1900), (3800, 5800), (7000, 8500)]), FRAME)
    assert sorted(kinds(ev, "overlap")["duration_ms"]) == [200, 400, 1500]
    assert event_durations(ev, "overlap").tolist() == [200]
    s = summarize_events(ev, 12000)
    assert s["overlap_median_ms"] == 200
    assert s["overlap_share"] == pytest.approx(2100 / 12000)


def test_short_overlap_below_min_overlap_keeps_exact_fto():
    params = TurnTakingParams(min_overlap_ms=100)
    ev = detect_events(timeline(3000, [(0, 1050)], [(1000, 2000)]), FRAME, params)
    assert len(kinds(ev, "overlap")) == 0
    assert ev["fto_ms"].dropna().tolist() == [-50]


def test_an_empty_recording_has_no_events():
    assert len(detect_events(np.zeros((2, 0), bool))) == 0


def test_summary_of_a_known_dialogue():
    # A 0-1500, gap 300, B 1800-3300, overlap 200 (A from 3100), A 3100-4600, pause 500,
    # A 5100-5500; total 6 s
    ev = detect_events(timeline(6000, [(0, 1500), (3100, 4600), (5100, 5500)],
                                [(1800, 3300)]), FRAME)
    summary = summarize_events(ev, 6000)
    assert set(summary) == set(SUMMARY_KEYS)
    assert summary["fto_mean_ms"] == pytest.approx((300 - 200) / 2)
    assert summary["overlap_transition_share"] == pytest.approx(0.5)
    assert summary["pause_median_ms"] == 500
    assert summary["ipus_per_min"] == pytest.approx(4 / 0.1)
    assert summary["overlap_share"] == pytest.approx(200 / 6000)
    assert summary["speech_share"] == pytest.approx((1500 + 1500 + 1500 + 400 - 200) / 6000)
    assert summary["silence_share"] == pytest.approx(1 - summary["speech_share"])


def test_vad_from_units_and_params_validation():
    units = np.array([[0, 5, 5, 1], [3, 0, 1, 1]])
    assert vad_from_units(units, {0, 1}).tolist() == [[False, True, True, False],
                                                      [True, False, False, False]]
    with pytest.raises(FieldError, match="min_pause_ms"):
        TurnTakingParams(min_pause_ms=-1)
    with pytest.raises(ValueError, match=r"\[2, T\]"):
        detect_events(np.zeros((3, 10), dtype=bool))


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 300), st.integers(0, 2**31 - 1))
def test_overlap_rows_add_up_to_double_talk_and_shares_to_one(n_runs, seed):
    rng = np.random.default_rng(seed)
    # blocky random timelines: runs of 50-1500 ms; min_pause 0 so IPU activity = raw VAD
    a = np.repeat(rng.random(n_runs) < 0.5, rng.integers(5, 150, n_runs))
    b = np.repeat(rng.random(n_runs) < 0.4, rng.integers(5, 150, n_runs))
    n = min(len(a), len(b))
    a, b = a[:n], b[:n]
    ev = detect_events(np.stack([a, b]), FRAME, TurnTakingParams(min_pause_ms=0.0))
    both = float((a & b).sum() * FRAME)
    assert ev.loc[ev["kind"] == "overlap", "duration_ms"].sum() == pytest.approx(both)
    s = summarize_events(ev, n * FRAME)
    assert s["speech_share"] == pytest.approx((a | b).mean())
    # FTOs only on transition rows; one per switch of the sole (non-backchannel) speaker
    assert not (ev["fto_ms"].notna() & ~ev["transition"]).any()
    assert (ev.loc[ev["kind"] == "gap", "duration_ms"] >= 0).all()


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 200), st.integers(0, 2**31 - 1))
def test_one_fto_per_switch_of_the_sole_speaker(n_runs, seed):
    rng = np.random.default_rng(seed)
    a = np.repeat(rng.random(n_runs) < 0.5, rng.integers(2, 80, n_runs))
    b = np.repeat(rng.random(n_runs) < 0.5, rng.integers(2, 80, n_runs))
    n = min(len(a), len(b))
    a, b = a[:n], b[:n]
    params = TurnTakingParams(min_pause_ms=0.0, bc_max_ms=0.0)  # no bridging, no backchannels
    ev = detect_events(np.stack([a, b]), FRAME, params)
    code = a.astype(int) + 2 * b.astype(int)
    sole = code[(code == 1) | (code == 2)]
    switches = int((np.diff(sole) != 0).sum()) if len(sole) else 0
    ftos = ev["fto_ms"].dropna()
    assert len(ftos) == switches
    # an FTO is negative exactly when its transition has double talk
    runs_code = code[np.r_[True, code[1:] != code[:-1]]]
    sole_pos = np.flatnonzero((runs_code == 1) | (runs_code == 2))
    with_overlap = [bool((runs_code[i + 1 : j] == 3).any()) for i, j in
                    zip(sole_pos[:-1], sole_pos[1:], strict=True) if runs_code[i] != runs_code[j]]
    assert (ftos.to_numpy() < 0).tolist() == with_overlap
    # FTO = incoming IPU start - outgoing IPU end, so it is never below -(incoming IPU length)
    assert (ftos.to_numpy() > -n * FRAME).all()


def test_listener_onsets_count_speaking_up_after_a_second_of_listening():
    # B listens from the start, speaks up at 2.0 s (an onset), again at 2.8 s after only
    # 0.5 s of silence (not one); A talks throughout 0-5 s, so A never listens.
    vad = timeline(5000, [(0, 5000)], [(2000, 2300), (2800, 3100)])
    onsets, seconds = listener_onsets(vad, FRAME)
    assert onsets == 1
    # listening: 0-2.0 s, then every frame that ends 1.0 s or more after B's last speech
    # (ends at 3.1 s): the frames 4.09-5.0 s
    assert seconds == pytest.approx(2.0 + 0.91)
    assert listener_onsets(timeline(3000, [], []), FRAME) == (0, 0.0)  # nobody talks
    with pytest.raises(ValueError, match="shape"):
        listener_onsets(np.zeros((3, 10), dtype=bool), FRAME)


def test_listening_time_never_includes_the_listeners_own_speech():
    """With ``bc_pre_silence_ms = 0`` a speaker is listening wherever it is silent and the
    partner talks, not where both talk: two speakers talking 0-400 ms had 0.8 s of
    listening between them."""
    zero = TurnTakingParams(bc_pre_silence_ms=0)
    assert listener_onsets(timeline(400, [(0, 400)], [(0, 400)]), FRAME, zero) == (0, 0.0)
    # A 0-1000 ms, B 500-2000 ms: B listens 0-500 ms, A 1000-2000 ms; B's onset at 500 ms
    onsets, seconds = listener_onsets(timeline(2000, [(0, 1000)], [(500, 2000)]), FRAME, zero)
    assert (onsets, seconds) == (1, pytest.approx(1.5))


def test_an_ipu_cut_at_the_window_end_is_no_backchannel():
    """B's 300 ms IPU runs into the window's last frame: it may go on past the cut, so it is
    not known to be short (right-censored, as an IPU at the first frame is left-censored).
    It was a backchannel (12 per minute in this 5 s window)."""
    ev = detect_events(timeline(5000, [(0, 5000)], [(4700, 5000)]), FRAME)
    assert len(kinds(ev, "backchannel")) == 0
    assert kinds(ev, "ipu")["speaker"].tolist() == [0, 1]
    # the same IPU ending 10 ms before the cut, with A still talking: a backchannel
    ev = detect_events(timeline(5000, [(0, 5000)], [(4690, 4990)]), FRAME)
    assert kinds(ev, "backchannel")["start_ms"].tolist() == [4690]


def test_a_short_ipu_ending_with_the_partners_turn_is_no_backchannel():
    """B's 200 ms IPU over the end of A's turn, both stopping on the same frame, A never
    speaking again, B taking the floor 300 ms later: A does not go on after it, so it gave a
    floor change, not a backchannel. It was one (the partner's speech on its own last frame
    counted as the partner speaking again)."""
    ev = detect_events(timeline(4000, [(0, 1000)], [(800, 1000), (1300, 3000)]), FRAME)
    assert len(kinds(ev, "backchannel")) == 0
    assert kinds(ev, "overlap")["transition"].tolist() == [True]  # B came in over A's end
    assert ev["fto_ms"].dropna().tolist() == [-200]
    # A going on after it, within bc_context_ms: a backchannel as before
    ev = detect_events(timeline(4000, [(0, 1000), (1500, 3000)], [(800, 1000)]), FRAME)
    assert kinds(ev, "backchannel")["start_ms"].tolist() == [800]


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


@pytest.mark.parametrize("side", ["before", "after"])
def test_bc_context_ms_that_the_frame_does_not_divide_is_at_most_that_long(side):
    """With 40 ms frames, bc_context_ms = 500 is 12.5 frames: the partner's speech may end
    480 ms before B's short IPU (or resume 480 ms after it), not 520 ms (13 frames, the
    threshold rounded up as if it were a minimum)."""
    frame, params = 40, TurnTakingParams(bc_context_ms=500)

    def b_backchannels(silence_ms: int) -> int:
        vad = np.zeros((2, 4000 // frame), dtype=bool)
        if side == "before":  # A stops, silence, B's 200 ms, A goes straight on
            spans_a, b = [(0, 1000), (1200 + silence_ms, 4000)], (1000 + silence_ms,
                                                                    1200 + silence_ms)
        else:  # A stops, B's 200 ms at once, silence, A goes on
            spans_a, b = [(0, 1000), (1200 + silence_ms, 4000)], (1000, 1200)
        for start, end in spans_a:
            vad[0, start // frame : end // frame] = True
        vad[1, b[0] // frame : b[1] // frame] = True
        return len(kinds(detect_events(vad, frame, params), "backchannel"))

    assert b_backchannels(480) == 1
    assert b_backchannels(520) == 0


def test_a_switch_with_fto_exactly_zero_is_not_made_in_overlap():
    """A hands to B on the same frame (FTO 0, no double talk), then B (1.5 s, no
    backchannel) hands back to A in 200 ms of overlap (FTO -200): one of the two
    transitions is made in overlap (FTO < 0 strictly), so the share is 1/2, not 2/2 (a
    mutation counting FTO <= 0 passed)."""
    ev = detect_events(timeline(4000, [(0, 1000), (2300, 3500)], [(1000, 2500)]), FRAME)
    assert sorted(ev["fto_ms"].dropna().tolist()) == [-200, 0]
    s = summarize_events(ev, 4000)
    assert s["overlap_transition_share"] == pytest.approx(0.5)
    assert s["fto_mean_ms"] == pytest.approx(-100)
    # the FTO SD is the sample SD (n - 1): |0 - (-200)| / sqrt(2)
    assert s["fto_sd_ms"] == pytest.approx(200 / math.sqrt(2))


def test_a_backchannel_of_exactly_bc_max_ms_is_one_and_a_frame_longer_is_not():
    """bc_max_ms is the longest backchannel (<=): B's 1000 ms inside A's turn is one, its
    1010 ms is a within-turn IPU (a mutation making the bound strict passed)."""
    for b_end, n_bc in ((2500, 1), (2510, 0)):
        ev = detect_events(timeline(5000, [(0, 5000)], [(1500, b_end)]), FRAME)
        assert len(kinds(ev, "backchannel")) == n_bc
        assert len(kinds(ev, "ipu")) == 2 - n_bc


def test_a_backchannel_after_exactly_bc_pre_silence_ms_of_own_silence_is_one():
    """bc_pre_silence_ms = 1000 is the least own silence before a backchannel: B's second
    400 ms inside A's turn, 1000 ms after B's first ends, is a backchannel; 990 ms after, it
    is not (a mutation requiring more than 1000 ms passed every test)."""
    for second_start, n_bc in ((2400, 2), (2390, 1)):
        ev = detect_events(timeline(6000, [(0, 6000)],
                                    [(1000, 1400), (second_start, 2800)]), FRAME)
        bc = kinds(ev, "backchannel")
        assert len(bc) == n_bc and bc.loc[0, "start_ms"] == 1000


def test_min_pause_that_the_frame_does_not_divide_is_at_least_that_long():
    """Heldner & Edlund's 180 ms with 40 ms frames is 4.5 frames: a 160 ms silence inside
    A's speech is shorter than a pause and is bridged (one IPU), a 200 ms one is a pause (a
    mutation rounding the threshold down, so 160 ms made a pause, passed every test)."""
    params = TurnTakingParams(min_pause_ms=180)
    for silence_frames, n_pauses in ((4, 0), (5, 1)):
        vad = np.zeros((2, 60), dtype=bool)
        vad[0, :20] = True
        vad[0, 20 + silence_frames : 40] = True
        ev = detect_events(vad, 40, params)
        assert len(kinds(ev, "pause")) == n_pauses
        assert len(kinds(ev, "ipu")) == 1 + n_pauses


def test_a_short_ipu_followed_by_more_own_speech_before_the_partner_resumes_takes_the_floor():
    """B's 400 ms from 1800 ms overlaps A's end; B speaks again at 2500 ms, before A resumes
    at 2700 ms: no floor was left to A, so B's short IPU starts B's turn (FTO -200), not a
    backchannel (the partner must resume before the backchanneller does; a mutation
    dropping that condition passed every test)."""
    ev = detect_events(timeline(6000, [(0, 2000), (2700, 5000)],
                                [(1800, 2200), (2500, 4000)]), FRAME)
    assert len(kinds(ev, "backchannel")) == 0
    assert ev["fto_ms"].dropna().tolist() == [-200, -1300]
    assert kinds(ev, "pause")["duration_ms"].tolist() == [300]


def test_partner_speech_starting_during_a_short_ipu_counts_as_holding_the_floor():
    """Partner speech *during* the IPU counts ("within bc_context_ms before/during it"): A
    starts at 1200 ms inside B's 1000-1400 ms and goes on, so B's IPU is a backchannel and
    there is no transition (a mutation that looked only before the IPU's start passed every
    test)."""
    ev = detect_events(timeline(6000, [(1200, 5000)], [(1000, 1400)]), FRAME)
    bc = kinds(ev, "backchannel")
    assert len(bc) == 1 and bc.loc[0, "speaker"] == 1
    assert not ev["transition"].any() and ev["fto_ms"].isna().all()


def test_summary_ipu_mean_and_backchannel_rate_by_hand():
    """IPUs of 1500, 1500, 1500 and 400 ms: mean 1225, median 1500. Two backchannels in
    A's 6 s turn: 20 per minute (mutations giving the median as the mean, and a rate per
    second, passed every test)."""
    ev = detect_events(timeline(6000, [(0, 1500), (3100, 4600), (5100, 5500)],
                                [(1800, 3300)]), FRAME)
    s = summarize_events(ev, 6000)
    assert s["ipu_mean_ms"] == pytest.approx(1225) and s["ipu_median_ms"] == 1500
    ev = detect_events(timeline(6000, [(0, 6000)], [(1500, 1900), (3500, 3900)]), FRAME)
    s = summarize_events(ev, 6000)
    assert len(kinds(ev, "backchannel")) == 2
    assert s["backchannels_per_min"] == pytest.approx(20.0)
    assert s["ipus_per_min"] == pytest.approx(10.0)
