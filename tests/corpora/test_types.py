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
