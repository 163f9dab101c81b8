"""Dialogue and Segment types: a segment edge lands on one frame, by one rule."""

from __future__ import annotations

import numpy as np
import pytest

from duplexsim.corpora import Dialogue, Segment, default_dialogue
from duplexsim.corpora.types import edge_frame


@pytest.mark.parametrize(("seconds", "frame"), [
    (77.1, 1927),  # 1927.4999999999998 frames: round(77.1 * 1000 / 40) gave 1928
    (1.3, 33),  # the tie 32.5 goes up: round() went to even, 32
    (0.02, 1),  # the tie 0.5: round() gave 0
    (0.58, 14),  # 14.499999999999998 as computed: not snapped up to the tie
    (0.0, 0),
    (2.0, 50),
])
def test_an_edge_is_its_frame_half_up_as_computed(seconds: float, frame: int) -> None:
    assert edge_frame(seconds) == frame


def test_segment_vad_marks_each_segment_from_its_start_frame_to_its_end_frame() -> None:
    """The voice activity of a segment is [edge_frame(start), edge_frame(end)) of its
    speaker's row: 1.3 .. 1.62 s is frames 33 .. 40 (41 excluded)."""
    d = Dialogue("d", [Segment(0, 1.3, 1.62), Segment(1, 0.02, 0.58)], duration_s=2.0)
    vad = d.segment_vad()
    assert vad.shape == (2, 50)
    assert np.flatnonzero(vad[0]).tolist() == list(range(33, 41))
    assert np.flatnonzero(vad[1]).tolist() == list(range(1, 14))


def test_segment_vad_of_the_default_dialogue_is_its_segments_edge_frames() -> None:
    d = default_dialogue()
    expected = np.zeros_like(d.segment_vad())
    for s in d.segments:
        expected[s.speaker, edge_frame(s.start_s):edge_frame(s.end_s)] = True
    assert (d.segment_vad() == expected).all()


@pytest.mark.parametrize(("kwargs", "error"), [
    ({"segments": [(0, 0.0, 1.0)]},
     "Dialogue d: segments[0]: got tuple (allowed: a Segment(speaker, start_s, end_s, ...))"),
    ({"segments": None}, "Dialogue d: segments: got NoneType (allowed: a list of Segment)"),
    ({"units": [[0, 1], [1, 0]]},
     "Dialogue d: units must be a NumPy array [2, ...], got list (np.asarray it first)"),
    ({"duration_s": float("nan")}, "Dialogue d: duration_s: nan (allowed: finite seconds >= 0; "
                                   "0 = from the audio, units or segments)"),
    ({"duration_s": -1.0}, "Dialogue d: duration_s: -1.0 (allowed: finite seconds >= 0; "
                           "0 = from the audio, units or segments)"),
    ({"duration_s": 10**400}, f"Dialogue d: duration_s: {10**400} (allowed: finite seconds "
                              ">= 0; 0 = from the audio, units or segments)"),
    ({"sample_rate_hz": "16000"}, "Dialogue d: sample_rate_hz: '16000' (allowed: None or a "
                                  "whole number of Hz >= 1)"),
    ({"sample_rate_hz": 16000.0}, "Dialogue d: sample_rate_hz: 16000.0 (allowed: None or a "
                                  "whole number of Hz >= 1)"),
    ({"sample_rate_hz": True}, "Dialogue d: sample_rate_hz: True (allowed: None or a whole "
                               "number of Hz >= 1)"),
])
def test_a_dialogue_of_the_wrong_parts_is_one_line(kwargs: dict, error: str) -> None:
    """A tuple for a segment or a list for units was an AttributeError ('no end_s', 'no
    ndim'), a NaN duration was kept (segment_vad then failed in NumPy)."""
    with pytest.raises(ValueError) as info:
        Dialogue("d", **kwargs)
    assert str(info.value) == error


def test_a_dialogue_id_that_is_not_a_string_is_one_line() -> None:
    """``Dialogue(id=5)`` was kept (a name that is a number, written as one); a NumPy rate
    (a reader's parsed header) is still a rate."""
    with pytest.raises(ValueError) as info:
        Dialogue(5)  # type: ignore[arg-type]
    assert str(info.value) == "Dialogue.id: 5 (allowed: a string, the dialogue's name)"
    d = Dialogue("d", audio=np.zeros((2, 800), np.float32), sample_rate_hz=np.int64(8000))
    assert d.duration_s == 0.1


@pytest.mark.parametrize(("args", "error"), [
    ((True, 0.0, 1.0), "Segment.speaker: True (allowed: 0, 1)"),
    ((0.0, 0.0, 1.0), "Segment.speaker: 0.0 (allowed: 0, 1)"),
    ((0, "0", 1.0), "Segment: start_s 0, end_s 1.0 (allowed: finite seconds, 0 <= start_s "
                    "<= end_s <= 86400.0)"),
    ((0, 0.0, 10**400), f"Segment: start_s 0.0, end_s {10**400} (allowed: finite seconds, "
                        "0 <= start_s <= end_s <= 86400.0)"),
])
def test_a_segment_of_the_wrong_kind_is_one_line(args: tuple, error: str) -> None:
    """speaker=True was speaker 1 and speaker=0.0 failed as an array index in segment_vad;
    a start of "0" was a TypeError of math.isfinite, an end of 10**400 an OverflowError."""
    with pytest.raises(ValueError) as info:
        Segment(*args)
    assert str(info.value) == error
    # NumPy numbers (a reader's parsed columns) are still numbers
    seg = Segment(np.int64(1), np.float64(0.5), np.float32(1.0))
    vad = Dialogue("d", (seg,), duration_s=np.float64(2.0)).segment_vad()
    assert np.flatnonzero(vad[1]).tolist() == list(range(13, 25))
