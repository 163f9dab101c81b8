"""Stage data: what the card says a sample holds is what it holds."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "models"))
from syncllm_fixtures import Dlg, Seg, synthetic_dialogues, tiny_card  # noqa: E402

from duplexsim.errors import InputError  # noqa: E402
from duplexsim.training.datasets import StageData, _truncated_normal, prepare  # noqa: E402
from duplexsim.training.recipe import make_vocab  # noqa: E402


@pytest.mark.parametrize(("mean", "sd"), [(0.2, 0.2), (0.9, 0.2), (0.5, 0.05), (0.05, 0.3)])
def test_the_stage1_speech_share_has_the_cards_mean(mean: float, sd: float) -> None:
    """The card's speech_share_start/end are the mean share of a sample: truncating
    N(0.2, 0.2) to [0, 1] as it is gave 0.258, N(0.9, 0.2) 0.798."""
    rng = np.random.default_rng(0)
    draws = np.array([_truncated_normal(rng, mean, sd) for _ in range(8_000)])
    assert draws.mean() == pytest.approx(mean, abs=0.006)
    assert draws.min() >= 0.0 and draws.max() <= 1.0
    again = np.random.default_rng(0)
    assert _truncated_normal(again, mean, sd) == draws[0]  # one uniform a draw, reproducible


def _overlapping_without_segments() -> Dlg:
    """20 s in which both channels speak throughout, and no segment annotation."""
    units = np.stack([np.repeat(np.arange(1, 11), 50), np.repeat(np.arange(11, 21), 50) % 20])
    units[1][units[1] == 0] = 19
    return Dlg("no-segments", units, [])


def test_stage2_has_no_overlap_from_a_dialogue_without_segments() -> None:
    """Stage 2 is the segments laid out one after another; a dialogue without segments went
    in as recorded: 500 of its 500 frames overlapping, at a sampling weight of 0.46."""
    card = tiny_card()
    dialogues = synthetic_dialogues()
    vocab, tok = make_vocab(card, dialogues)
    prep = prepare([_overlapping_without_segments(), dialogues[0]], vocab, tok)
    data = StageData("stage2", card, prep, vocab)
    assert data.weights.tolist() == [0.0, 1.0]
    for stream in data.streams:
        assert not ((stream[0] != 0) & (stream[1] != 0)).any()
    assert StageData("stage3", card, prep, vocab).weights[0] > 0.4  # stage 3 keeps it
    only = prepare([_overlapping_without_segments()], vocab, tok)
    with pytest.raises(InputError, match=r"the train split: stage2: no dialogue has segments "
                                         r"that lay out to one chunk \(160 ms\) of units"):
        StageData("stage2", card, only, vocab)


def test_stage2_gaps_are_uniform_over_whole_frames() -> None:
    """A gap was a uniform whole-ms value floored to 40 ms frames: (200, 800) averaged 480 ms
    and drew 800 ms once in 601 gaps (reported by the training review helper)."""
    from duplexsim.training.datasets import sequential_layout

    dialogue = synthetic_dialogues()[0]
    card = tiny_card()
    vocab, tok = make_vocab(card, [dialogue])
    prep = prepare([dialogue], vocab, tok)[0]
    rng = np.random.default_rng(0)
    gaps = []
    for _ in range(300):
        stream = sequential_layout(prep, 0, (200, 800), rng)
        quiet = (stream == 0).all(axis=0)
        edges = np.flatnonzero(np.diff(np.r_[0, quiet.astype(int), 0]))
        gaps += (np.diff(edges)[::2] * 40).tolist()
    counts = np.bincount(np.array(gaps) // 40)[5:21]
    assert len(counts) == 16 and counts.min() > 0.6 * counts.mean()  # 200 .. 800 ms alike
    assert abs(np.mean(gaps) - 500) < 15


def test_a_unit_outside_the_vocabulary_is_the_one_named() -> None:
    """A negative unit was reported as the largest unit of the dialogue ('unit 5 outside
    the model's unit vocabulary 0..19', 5 being in it)."""
    card = tiny_card()
    vocab, tok = make_vocab(card, synthetic_dialogues())
    bad = Dlg("neg", np.array([[1, 2, 3, 4], [5, -1, 5, 5]]), [])
    with pytest.raises(InputError, match=r"^dialogue neg: units: unit -1 \(channel 1, frame 1\) "
                                         r"outside the model's unit vocabulary \(allowed: "
                                         r"0\.\.19\)$"):
        prepare([bad], vocab, tok)


@pytest.mark.parametrize("units", [None, np.zeros((3, 8), dtype=np.int64)])
def test_a_dialogue_without_units_of_two_channels_is_an_input_error(units) -> None:
    """prepare raised a plain ValueError for these (and for no dialogue at all): Python
    callers catching the project's InputError missed them (review)."""
    card = tiny_card()
    vocab, tok = make_vocab(card, synthetic_dialogues())
    with pytest.raises(InputError, match=r"^dialogue odd: units: .*\(allowed: .*\[2, T\]\)$"):
        prepare([Dlg("odd", units, [])], vocab, tok)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="no dialogues to train on"):
        prepare([], vocab, tok)


def test_a_dialogue_shorter_than_some_chunks_gives_windows_of_those_it_holds() -> None:
    """A 200 ms dialogue holds a 160 ms chunk but no 240 ms one: a window that drew 240 ms
    was an all-[PAD] row (half the rows), a batch of them a loss of nan (review)."""
    card = tiny_card(chunk_ms=(160, 240))
    vocab, tok = make_vocab(card, synthetic_dialogues())
    short = Dlg("short", np.stack([np.array([1, 1, 2, 2, 3]), np.array([0, 0, 0, 4, 4])]))
    data = StageData("stage3", card, prepare([short], vocab, tok), vocab)
    rows = np.concatenate([data.batch(step).numpy() for step in range(20)])
    assert not (rows[:, 0] == vocab.pad).any()
    assert (rows[:, 0] == vocab.S0).all()


def test_segments_are_placed_on_the_corpus_frame_rule() -> None:
    """Stages 1-2 cut a segment on the frames segment_vad marks (corpora.types.edge_frame):
    round(s / 0.04) sent the ties 0.02 s and 1.3 s to even (0 and 32, not 1 and 33) and
    1.62 s to 40 (40.5: 41)."""
    card = tiny_card()
    vocab, tok = make_vocab(card, synthetic_dialogues())
    units = np.ones((2, 50), dtype=np.int64)
    d = Dlg("ties", units, [Seg(0, 1.3, 1.62, "yeah"), Seg(1, 0.02, 0.58, "right")])
    assert [(s, a, b) for s, a, b, _ in prepare([d], vocab, tok)[0].segs] == [(1, 1, 14),
                                                                               (0, 33, 41)]


def test_stage3_batches_do_not_depend_on_the_segments() -> None:
    """Stage 3 is the recording itself: its streams, weights and windows are read off the
    units only, so where segments land (or whether there are any) changes nothing."""
    card = tiny_card()
    dialogues = synthetic_dialogues()
    vocab, tok = make_vocab(card, dialogues)
    bare = [Dlg(d.id, d.units, []) for d in dialogues]
    moved = [Dlg(d.id, d.units, [Seg(s.speaker, s.start_s + 0.02, s.end_s + 0.02, s.text)
                                 for s in d.segments]) for d in dialogues]
    batches = [StageData("stage3", card, prepare(ds, vocab, tok), vocab).batch(3, 1)
               for ds in (dialogues, bare, moved)]
    assert (batches[0] == batches[1]).all() and (batches[0] == batches[2]).all()
