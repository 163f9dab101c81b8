"""Backchannels and listener onsets on hand-made timelines with known answers (10 ms
frames): a short IPU inside or around the partner's turn, cut by the window, at the
thresholds' edges; listening time and onsets after it."""

from __future__ import annotations

import numpy as np
import pytest
from test_turntaking import FRAME, kinds, timeline

from duplexsim.metrics.turntaking import (
    TurnTakingParams,
    detect_events,
    listener_onsets,
)


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
