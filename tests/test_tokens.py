"""The SyncLLM token format: DESIGN.md example, properties, errors, streaming pieces."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from duplexsim.tokens import SyncFormat

FMT = SyncFormat()  # 160 ms chunks, 4 frames, 501 units
S0, S1 = FMT.S0, FMT.S1

DESIGN_A = [75, 75, 75, 75, 17, 17, 338, 338, 338, 338, 338, 338]
DESIGN_B = [89, 89, 89, 89, 89, 89, 89, 89, 89, 12, 12, 40]
DESIGN_TEXT = "[S0] 75 [S1] 89 [S0] 17 338 [S0] [S1] 12 40"


def test_design_example_exact() -> None:
    ids = FMT.encode(DESIGN_A, DESIGN_B)
    assert FMT.render(ids) == DESIGN_TEXT
    assert ids == [S0, 75, S1, 89, S0, 17, 338, S0, S1, 12, 40]
    assert FMT.parse(DESIGN_TEXT) == ids
    u0, u1 = FMT.decode(ids)
    assert u0.tolist() == DESIGN_A  # speaker 0 is exactly recoverable here
    assert u1.tolist() == [89] * 8 + [12, 12, 40, 40]  # 2 novel units over 4 frames


def test_ids_and_frames() -> None:
    assert (FMT.S0, FMT.S1, FMT.frames_per_chunk) == (501, 502, 4)
    fmt = SyncFormat(chunk_ms=240, n_units=100)
    assert (fmt.S0, fmt.S1, fmt.frames_per_chunk, fmt.n_ids) == (100, 101, 6, 102)
    assert SyncFormat(chunk_ms=200).frames_per_chunk == 5


@pytest.mark.parametrize("chunk_ms", [150, 0, -40, 20])
def test_chunk_ms_must_be_multiple_of_frame(chunk_ms: int) -> None:
    with pytest.raises(ValueError, match=r"chunk_ms.*multiple of frame_ms=40"):
        SyncFormat(chunk_ms=chunk_ms)


def test_bad_silence_unit() -> None:
    with pytest.raises(ValueError, match="silence_unit"):
        SyncFormat(n_units=10, silence_unit=10)


def test_partial_last_chunk_is_padded_by_repeating() -> None:
    ids = FMT.encode([1, 2, 3, 4, 5], [7, 7, 7, 7, 8])
    assert FMT.render(ids) == "[S0] 1 2 3 4 [S1] 7 [S0] 5 [S1] 8"
    u0, u1 = FMT.decode(ids)
    assert u0.tolist() == [1, 2, 3, 4, 5, 5, 5, 5]
    assert u1.tolist() == [7, 7, 7, 7, 8, 8, 8, 8]
    assert FMT.encode([], []) == []
    assert [x.size for x in FMT.decode([])] == [0, 0]


def test_interpolation_rule_and_start_of_stream() -> None:
    fmt = SyncFormat(chunk_ms=200, n_units=10, silence_unit=3)  # F = 5
    # 3 units over 5 frames: unit i covers floor(i*5/3) .. floor((i+1)*5/3)-1 -> 0 | 1,2 | 3,4
    assert fmt.decode_stream_chunk([4, 5, 6], prev_unit=None).tolist() == [4, 5, 5, 6, 6]
    assert fmt.decode_stream_chunk([], prev_unit=None).tolist() == [3] * 5  # silence at start
    assert fmt.decode_stream_chunk([], prev_unit=7).tolist() == [7] * 5
    # more than F: keep F evenly spaced ones, the last one included
    assert fmt.decode_stream_chunk(list(range(10)), prev_unit=None).tolist() == [1, 3, 5, 7, 9]
    # a first chunk without [S1] gives the partner silence
    u0, u1 = fmt.decode(fmt.parse("[S0] 1 [S0] 2 [S1] 8"))
    assert u1.tolist() == [3] * 5 + [8] * 5
    assert u0.tolist() == [1] * 5 + [2] * 5


def test_decode_prev_continues_a_stream() -> None:
    ids = FMT.parse("[S0] [S1] 9")
    u0, u1 = FMT.decode(ids, prev=(42, 5))
    assert u0.tolist() == [42] * 4 and u1.tolist() == [9] * 4


def test_streaming_pieces() -> None:
    assert FMT.encode_stream_chunk([5, 5, 6, 6], prev=5) == [6]
    assert FMT.encode_stream_chunk([5, 5, 6, 6], prev=None) == [5, 6]
    assert FMT.encode_chunk([17, 17, 338, 338], [89] * 4, prev_own=75, prev_partner=89) == [
        S0, 17, 338,
    ]
    with pytest.raises(ValueError, match="allowed: 4"):
        FMT.encode_stream_chunk([1, 2, 3], prev=None)


# ---------------------------------------------------------------- malformed input
@pytest.mark.parametrize(
    ("ids", "pattern"),
    [
        ([75, S0, 3], r"position 0: expected \[S0\]"),
        ([S0, 3, -1], r"position 2: id -1 is out of range"),
        ([S0, 3, S1, 4, S0, 600], r"position 5: id 600 is text/special id inside a duplex"),
        ([S0, 3, S1, 4, S1, 5], r"position 4: second \[S1\]"),
    ],
)
def test_malformed_ids_raise_naming_position(ids: list[int], pattern: str) -> None:
    with pytest.raises(ValueError, match=pattern):
        FMT.decode(ids)


def test_bad_units_in_encode() -> None:
    with pytest.raises(ValueError, match=r"units1\[2\] = 501: not a unit id \(allowed: 0..500\)"):
        FMT.encode([1, 2, 3], [1, 2, 501])
    with pytest.raises(ValueError, match=r"units0\[1\] = -3"):
        FMT.encode([1, -3, 3], [1, 2, 3])
    with pytest.raises(ValueError, match="units0 has 3 frames, units1 has 2"):
        FMT.encode([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="integer"):
        FMT.encode([1.5], [2.0])


def test_lenient_repairs_and_counts() -> None:
    raw = [7, 8, S0, 3, 600, S1, 4, -2, S1, 5, S0, 1, 2]
    with pytest.raises(ValueError):
        FMT.decode(raw)
    res = FMT.decode_lenient(raw)
    assert res.repairs == {
        "before_s0": 2, "out_of_range": 1, "text_in_segment": 1, "repeated_s1": 1,
    }
    assert res.n_repairs == 5
    assert res.units0.tolist() == [3, 3, 3, 3, 1, 1, 2, 2]
    assert res.units1.tolist() == [4, 4, 5, 5, 5, 5, 5, 5]
    u0, u1 = FMT.decode(raw, lenient=True)
    assert np.array_equal(u0, res.units0) and np.array_equal(u1, res.units1)
    assert FMT.decode_lenient(FMT.encode(DESIGN_A, DESIGN_B)).n_repairs == 0
    assert FMT.decode_lenient([1, 2, 600]).units0.size == 0  # no [S0] at all: nothing to decode


def test_parse_errors_name_the_word() -> None:
    with pytest.raises(ValueError, match=r"word 2 '501'"):
        FMT.parse("[S0] 1 501")
    with pytest.raises(ValueError, match=r"word 1 '\[S2\]'"):
        FMT.parse("[S0] [S2]")
    assert FMT.parse(FMT.render([S0, 1, 700])) == [S0, 1, 700]


# ---------------------------------------------------------------- properties
def _runs(u: np.ndarray) -> list[int]:
    return [int(x) for i, x in enumerate(u) if i == 0 or x != u[i - 1]]


Case = tuple[SyncFormat, np.ndarray, np.ndarray]


@st.composite
def streams(draw: st.DrawFn) -> Case:
    frames = draw(st.integers(1, 6))
    n_units = draw(st.integers(1, 6))  # few units -> long runs and repeats
    fmt = SyncFormat(chunk_ms=40 * frames, n_units=n_units, silence_unit=n_units - 1)
    length = draw(st.integers(0, 40))
    unit = st.integers(0, n_units - 1)
    u0 = draw(st.lists(unit, min_size=length, max_size=length))
    u1 = draw(st.lists(unit, min_size=length, max_size=length))
    return fmt, np.array(u0, dtype=np.int64), np.array(u1, dtype=np.int64)


@settings(max_examples=200, deadline=None)
@given(streams())
def test_encode_decode_properties(case: Case) -> None:
    fmt, u0, u1 = case
    ids = fmt.encode(u0, u1)
    n_chunks = fmt.n_chunks(len(u0))
    assert ids.count(fmt.S0) == n_chunks  # one [S0] per chunk
    d0, d1 = fmt.decode(ids)
    assert len(d0) == len(d1) == n_chunks * fmt.frames_per_chunk  # whole chunks
    assert _runs(d0) == _runs(u0) and _runs(d1) == _runs(u1)  # run-collapsed units survive
    assert fmt.encode(d0, d1) == ids  # encode . decode . encode == encode
    assert fmt.parse(fmt.render(ids)) == ids


@settings(max_examples=150, deadline=None)
@given(streams())
def test_vectorised_matches_streaming_pieces(case: Case) -> None:
    """The vectorised whole-stream encoder equals chunk-by-chunk streaming encoding."""
    fmt, u0, u1 = case
    F = fmt.frames_per_chunk
    ids = fmt.encode(u0, u1)
    if len(u0):
        pad = fmt.n_chunks(len(u0)) * F - len(u0)
        u0 = np.concatenate([u0, np.repeat(u0[-1:], pad)])
        u1 = np.concatenate([u1, np.repeat(u1[-1:], pad)])
    expected: list[int] = []
    p0 = p1 = None
    for k in range(fmt.n_chunks(len(u0))):
        c0, c1 = u0[k * F:(k + 1) * F], u1[k * F:(k + 1) * F]
        expected += fmt.encode_chunk(c0, c1, p0, p1)
        p0, p1 = int(c0[-1]), int(c1[-1])
    assert ids == expected


@settings(max_examples=150, deadline=None)
@given(
    frames=st.integers(1, 6),
    chunks=st.lists(st.tuples(st.lists(st.integers(0, 9), max_size=8), st.booleans()), max_size=6),
)
def test_decode_matches_spec_interpolation(frames: int, chunks: list) -> None:
    """Any well-formed sequence (also > F units a chunk) decodes chunk by chunk as the spec says."""
    fmt = SyncFormat(chunk_ms=40 * frames, n_units=10)
    ids: list[int] = []
    want0: list[int] = []
    prev0 = None
    for units, with_s1 in chunks:
        ids += [fmt.S0, *units] + ([fmt.S1] if with_s1 else [])
        want0 += _spec_chunk(units, frames, prev0, fmt.silence_unit)
        prev0 = want0[-1]
    u0, u1 = fmt.decode(ids)
    assert u0.tolist() == want0
    assert set(u1.tolist()) <= {fmt.silence_unit}


def _spec_chunk(units: list[int], F: int, prev: int | None, silence: int) -> list[int]:
    """DESIGN.md's rule, written independently: unit i covers floor(i*F/n)..floor((i+1)*F/n)-1."""
    n = len(units)
    if n == 0:
        return [silence if prev is None else prev] * F
    if n > F:  # keep F evenly spaced, ending with the last
        units = [units[-(-(f + 1) * n // F) - 1] for f in range(F)]
        n = F
    out = [0] * F
    for i, u in enumerate(units):
        for f in range(i * F // n, (i + 1) * F // n):
            out[f] = u
    return out


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(-3, 510), max_size=40))
def test_lenient_never_raises_and_yields_whole_chunks(ids: list[int]) -> None:
    res = FMT.decode_lenient(ids)
    s0 = [i for i, x in enumerate(ids) if x == S0]
    assert len(res.units0) == len(res.units1) == len(s0) * FMT.frames_per_chunk
    if res.n_repairs == 0:
        u0, u1 = FMT.decode(ids)  # nothing repaired -> strict decoding agrees
        assert np.array_equal(u0, res.units0) and np.array_equal(u1, res.units1)
    else:
        with pytest.raises(ValueError, match="position"):
            FMT.decode(ids)


def test_hour_of_units_round_trips() -> None:
    rng = np.random.default_rng(0)
    runs = rng.integers(1, 12, size=20_000)
    u0 = np.repeat(rng.integers(0, 501, size=runs.size), runs)[:90_000]  # 1 h at 25 Hz
    u1 = np.roll(u0, 777)
    ids = FMT.encode(u0, u1)
    d0, d1 = FMT.decode(ids)
    assert _runs(d0) == _runs(u0) and _runs(d1) == _runs(u1)
    assert FMT.encode(d0, d1) == ids
