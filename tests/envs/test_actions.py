"""Turn actions -> unit chunks: utterances resume, stop drops them, backchannels are short."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest

from duplexsim.corpora import Dialogue, Segment
from duplexsim.envs.actions import TurnAction, TurnSpeaker, UtteranceBank


@dataclass
class Seg:
    speaker: int
    start_s: float
    end_s: float
    text: str = ""
    kind: str = "ipu"
    count: int = 1  # as duplexsim.corpora.types.Segment


@dataclass
class Dlg:
    units: np.ndarray
    segments: list = field(default_factory=list)
    id: str = "hand-made"


def dialogue() -> Dlg:
    units = np.zeros((2, 100), np.int64)
    units[0, 0:10] = np.arange(1, 11)  # IPU 0: 400 ms
    units[0, 20:26] = 50  # IPU 1: 240 ms
    units[1, 40:48] = 7
    units[0, 60:63] = 99  # backchannel
    segs = [Seg(0, 0.0, 0.4), Seg(0, 0.8, 1.04), Seg(1, 1.6, 1.92),
            Seg(0, 2.4, 2.52, kind="backchannel")]
    return Dlg(units, segs)


def test_bank_cuts_the_learner_channel() -> None:
    bank = UtteranceBank.from_dialogue(dialogue(), 0, {0})
    assert [len(u) for u in bank.utterances] == [10, 6]
    assert [u.tolist() for u in bank.backchannels] == [[99, 99, 99]]
    # no annotations: speech runs stand in
    plain = UtteranceBank.from_dialogue(Dlg(dialogue().units), 1, {0})
    assert [u.tolist() for u in plain.utterances] == [[7] * 8]


def test_bank_without_speech_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="no speech"):
        UtteranceBank.from_dialogue(Dlg(np.zeros((2, 50), np.int64)), 0, {0})


def test_speak_pause_resume_and_stop() -> None:
    bank = UtteranceBank([np.arange(1, 11), np.full(6, 50)], [np.array([99, 99, 99])])
    sp = TurnSpeaker(bank, 4)
    sp.reset(np.random.default_rng(0))
    first = sp._current()
    a = sp.chunk(TurnAction.SPEAK)
    assert a.tolist() == first[:4].tolist() and sp.speaking
    assert sp.chunk(TurnAction.SILENT).tolist() == [0, 0, 0, 0]
    b = sp.chunk(TurnAction.SPEAK)  # resumes where it paused
    assert b.tolist() == first[4:8].tolist()
    assert sp.chunk(TurnAction.STOP).tolist() == [0, 0, 0, 0]
    assert not sp.speaking
    c = sp.chunk(TurnAction.SPEAK)  # next utterance from its start
    assert c.tolist() == sp._current()[:4].tolist() and sp._current() is not first


def test_utterance_end_pads_with_silence_then_moves_on() -> None:
    bank = UtteranceBank([np.full(6, 5)], [np.array([9])])
    sp = TurnSpeaker(bank, 4)
    sp.reset(np.random.default_rng(1))
    assert sp.chunk(TurnAction.SPEAK).tolist() == [5, 5, 5, 5]
    assert sp.chunk(TurnAction.SPEAK).tolist() == [5, 5, 0, 0]
    assert not sp.speaking


def test_backchannel_keeps_the_utterance() -> None:
    bank = UtteranceBank([np.arange(1, 13)], [np.array([99, 99])])
    sp = TurnSpeaker(bank, 4)
    sp.reset(np.random.default_rng(0))
    sp.chunk(TurnAction.SPEAK)
    assert sp.chunk(TurnAction.BACKCHANNEL).tolist() == [99, 99, 0, 0]
    assert sp.chunk(TurnAction.SPEAK).tolist() == [5, 6, 7, 8]


def test_an_utterance_of_whole_chunks_ends_with_its_last_chunk() -> None:
    """An 8-frame utterance in 4-frame chunks is done after two SPEAKs (no silent third
    chunk): the next SPEAK starts the next utterance."""
    bank = UtteranceBank([np.arange(1, 9), np.arange(1, 9)], [np.array([99, 99])])
    speaker = TurnSpeaker(bank, 4)
    speaker.reset(np.random.default_rng(0))
    assert speaker.chunk(TurnAction.SPEAK).tolist() == [1, 2, 3, 4]
    assert speaker.chunk(TurnAction.SPEAK).tolist() == [5, 6, 7, 8]
    assert not speaker.speaking
    assert speaker.chunk(TurnAction.SPEAK).tolist() == [1, 2, 3, 4]


def test_a_silent_chunk_ends_the_backchannel_in_progress() -> None:
    """BACKCHANNEL, SILENT, BACKCHANNEL: the silence ends the first backchannel, so the
    second BACKCHANNEL starts a new one from its first frame (and the utterance is kept)."""
    bank = UtteranceBank([np.arange(1, 9)], [np.arange(10, 18), np.arange(20, 28)])
    speaker = TurnSpeaker(bank, 4)
    speaker.reset(np.random.default_rng(0))
    first = speaker.chunk(TurnAction.BACKCHANNEL).tolist()
    assert first[0] in (10, 20) and speaker.backchanneling
    assert speaker.chunk(TurnAction.SILENT).tolist() == [0, 0, 0, 0]
    assert not speaker.backchanneling
    second = speaker.chunk(TurnAction.BACKCHANNEL).tolist()
    assert second[0] in (10, 20) and second[0] != first[0]


def test_an_ipu_of_exactly_the_minimum_length_is_an_utterance() -> None:
    """MIN_UTTERANCE_FRAMES (5 frames, 200 ms) is long enough to carry a turn."""
    units = np.zeros((2, 40), np.int64)
    units[0, 10:15] = 3
    units[0, 20:30] = 4
    bank = UtteranceBank.from_dialogue(Dlg(units, [Seg(0, 0.4, 0.6), Seg(0, 0.8, 1.2)]), 0, {0})
    assert [u.tolist() for u in bank.utterances] == [[3] * 5, [4] * 10]


def test_bank_cuts_segments_on_the_corpus_frame_rule() -> None:
    """A piece is the frames segment_vad marks (corpora.types.edge_frame): the tie 1.3 s =
    32.5 frames starts at frame 33, 77.1 s (1927.4999999999998 frames) ends at 1927.
    round() went to even (32) and round(77.1 * 1000 / 40) gave 1928: a frame of silence
    at the front, a frame of the next word at the back."""
    units = np.zeros((2, 2000), np.int64)
    units[0, 33:41] = 5
    units[0, 1920:1927] = 6
    units[0, 1927] = 7  # the frame after the IPU
    d = Dlg(units, [Seg(0, 1.3, 1.62), Seg(0, 76.82, 77.1)])
    bank = UtteranceBank.from_dialogue(d, 0, {0})
    assert [u.tolist() for u in bank.utterances] == [[5] * 8, [6] * 7]
    vad = Dialogue("d", [Segment(0, s.start_s, s.end_s) for s in d.segments],
                   duration_s=80.0).segment_vad()
    assert sum(len(u) for u in bank.utterances) == vad[0].sum()
