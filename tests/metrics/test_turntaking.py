"""Turn-taking events on hand-made timelines with known answers (10 ms frames)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from duplexsim.metrics.turntaking import (
    EVENT_COLUMNS,
    SUMMARY_KEYS,
    TurnTakingParams,
    detect_events,
    event_columns,
    event_durations,
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
