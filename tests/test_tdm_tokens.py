"""The TDM slice format: encode -> decode round trips, <idle> and <eos> where they belong."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from duplexsim.models.vocab import TdmVocab, Vocab
from duplexsim.tdm_tokens import TdmFormat

N_UNITS = 12


@st.composite
def streams(draw, n_units: int = N_UNITS, silences: tuple[int, ...] = (0,)):  # noqa: ANN001, ANN201
    """Two equal-length unit streams made of speech runs and silence runs (any lengths)."""
    n = draw(st.integers(0, 80))
    out = []
    for _ in range(2):
        frames: list[int] = []
        while len(frames) < n:
            run = draw(st.integers(1, 20))
            if draw(st.booleans()):
                frames += [draw(st.sampled_from(silences)) for _ in range(run)]
            else:
                frames += draw(st.lists(st.integers(1, n_units - 1), min_size=run,
                                        max_size=run))
        out.append(np.array(frames[:n], dtype=np.int64))
    return out


@settings(max_examples=200, deadline=None)
@given(streams(), st.sampled_from([40, 160, 200, 400, 1200]))
def test_round_trip_gives_back_the_slices(pair, slice_ms):
    fmt = TdmFormat(slice_ms=slice_ms, n_units=N_UNITS)
    own, partner = pair
    ids = fmt.encode(own, partner)
    S = fmt.slice_frames
    back_own, back_partner = fmt.decode(ids)
    n = fmt.n_slices(len(own))
    assert len(back_own) == len(back_partner) == n * S
    assert np.array_equal(back_own[: len(own)], own)
    assert np.array_equal(back_partner[: len(partner)], partner)
    assert not back_own[len(own):].any() and not back_partner[len(partner):].any()
    # one [S0] and one [S1] per slice; <idle> exactly where a side is silent for a slice
    pieces = fmt.slices(ids)
    assert [sp for sp, _ in pieces] == [0, 1] * n
    padded = [np.concatenate([x, np.zeros(n * S - len(x), np.int64)]) for x in (own, partner)]
    tags = [i for i, t in enumerate(ids) if t in (fmt.S0, fmt.S1)] + [len(ids)]
    for k in range(2 * n):
        piece = ids[tags[k] + 1: tags[k + 1]]
        frames = padded[k % 2][(k // 2) * S: (k // 2 + 1) * S]
        silent = not frames.any()
        assert (piece == [fmt.idle]) == silent
        # <eos> closes a piece exactly when the speaker stops inside the slice
        assert (piece[-1] == fmt.eos) == (not silent and frames[-1] == 0)
        if piece[-1] == fmt.eos:
            assert piece[-2] != 0 and len(piece) - 1 == np.flatnonzero(frames)[-1] + 1


@settings(max_examples=100, deadline=None)
@given(streams(silences=(0, 3, 7)))
def test_several_silence_units_keep_voice_activity(pair):
    fmt = TdmFormat(slice_ms=200, n_units=N_UNITS, silence_units=frozenset({3, 7}))
    own, partner = pair
    back = fmt.decode(fmt.encode(own, partner))
    for orig, got in zip((own, partner), back, strict=True):
        got = got[: len(orig)]
        assert np.array_equal(fmt.is_silence(orig), fmt.is_silence(got))
        speech = np.flatnonzero(~fmt.is_silence(orig))
        # every frame up to a slice's last speech frame comes back as it was
        for m in range(fmt.n_slices(len(orig))):
            in_slice = speech[(speech >= m * 5) & (speech < (m + 1) * 5)]
            if len(in_slice):
                end = in_slice[-1] + 1
                assert np.array_equal(orig[m * 5: end], got[m * 5: end])


def test_a_worked_example():
    fmt = TdmFormat(slice_ms=160, n_units=N_UNITS)  # 4 frames a slice
    own = [5, 5, 6, 0, 0, 0, 0, 0, 1, 2, 3, 4]
    partner = [0, 0, 0, 0, 0, 9, 9, 9, 0, 0, 0, 0]
    ids = fmt.encode(own, partner)
    assert fmt.render(ids) == ("[S0] 5 5 6 <eos> [S1] <idle> [S0] <idle> [S1] 0 9 9 9 "
                               "[S0] 1 2 3 4 [S1] <idle>")
    own_back, partner_back = fmt.decode(ids)
    assert own_back.tolist() == own and partner_back.tolist() == partner


@pytest.mark.parametrize(("ids", "match"), [
    ([1, 12, 1, 2, 3, 4], r"position 0: .*starts with \[S0\]"),
    ([12, 1, 2, 15, 12, 1], r"position 4: \[S0\] where \[S1\] belongs"),
    ([12, 1, 2], r"position 3: piece of 2 units without <eos>"),
    ([12, 1, 2, 3, 4, 15], r"position 5: <eos> after a full slice"),
    ([12, 1, 2, 3, 4, 5], r"position 5: piece of 5 units"),
    ([12, 14, 14], r"position 1: id 14 inside a piece"),
    ([12, 15], r"position 1: empty piece"),
    ([12, 1, 99, 15], r"position 2: id 99"),
])
def test_malformed_sequences_name_the_position(ids, match):
    fmt = TdmFormat(slice_ms=160, n_units=N_UNITS)  # [S0]=12 [S1]=13 <idle>=14 <eos>=15
    with pytest.raises(ValueError, match=match):
        fmt.decode(ids)


def test_bad_config_and_units_are_named():
    with pytest.raises(ValueError, match="slice_ms: 1020 is not a positive multiple"):
        TdmFormat(slice_ms=1020)
    fmt = TdmFormat(slice_ms=160, n_units=N_UNITS)
    with pytest.raises(ValueError, match=r"own\[2\] = 99: not a unit id"):
        fmt.encode([1, 2, 99, 0], [0, 0, 0, 0])
    # the same checks as the SyncLLM format: no silent truncation of float units
    with pytest.raises(ValueError, match="own: expected integer unit ids, got dtype float64"):
        fmt.encode([5.7, 6, 0, 0], [0, 0, 0, 0])
    with pytest.raises(ValueError, match="token ids: expected integers"):
        fmt.decode(["a"])
    with pytest.raises(ValueError, match="TdmFormat.slice_ms: must be an integer, got 1200.0"):
        TdmFormat(slice_ms=1200.0)


def test_ids_match_the_tdm_vocabulary():
    fmt, vocab = TdmFormat(n_units=501), TdmVocab(501, 300)
    assert (fmt.S0, fmt.S1, fmt.idle, fmt.eos) == (vocab.S0, vocab.S1, vocab.idle,
                                                   vocab.eos_speech)
    specials = {vocab.pad, vocab.bos, vocab.eos}
    assert min(specials) == fmt.n_ids and vocab.text_offset == fmt.n_ids + 3
    assert vocab.size == Vocab(501, 300).size + 2
