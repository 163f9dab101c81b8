"""Griffin-Lim vocoder: streams up to one block decode as before blocks existed, longer
streams in bounded blocks crossfaded without a click, same seed same bytes."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from duplexsim.units.features import HOP, N_FFT
from duplexsim.units.vocoder import BLOCK_FRAMES, griffin_lim

F = N_FFT // 2 + 1
B, O = 50, 10  # blocks of 50 frames overlapping by 10: starts 0, 40, 80, 120


def noise(t: int) -> np.ndarray:
    return np.random.default_rng(7).random((t, F), dtype=np.float32) * 4


def tone(t: int) -> np.ndarray:
    """One bin (156 Hz) at constant magnitude: a smooth wave, where a seam would show."""
    mag = np.zeros((t, F), np.float32)
    mag[:, 10] = 1.0
    return mag


def test_every_shipped_stream_is_one_block() -> None:
    assert BLOCK_FRAMES * 40 >= 120_000  # the demo's and corpora's 120 s conversations


def test_a_stream_of_one_block_has_the_bytes_it_had_before_blocks() -> None:
    # sha256 recorded with the whole-stream griffin_lim of commit 0f41ba1
    wave = griffin_lim(noise(75), n_iter=8, seed=11)
    assert hashlib.sha256(wave.tobytes()).hexdigest() == (
        "7c702b1ff06c198abb3594447b6cfc49975c46cd95b05a3bf655afd831a07231")
    assert griffin_lim(noise(0)).shape == (0,)


def test_a_long_stream_is_decoded_block_by_block() -> None:
    mag = noise(137)
    wave = griffin_lim(mag, n_iter=8, block_frames=B, overlap_frames=O)
    assert wave.shape == (137 * HOP,) and wave.dtype == np.float32
    # Block 0 sees its own 50 frames only: up to the first crossfade it is their decoding.
    alone = griffin_lim(mag[:B], n_iter=8, block_frames=B, overlap_frames=O)
    assert np.array_equal(wave[: (B - O) * HOP], alone[: (B - O) * HOP])
    # A block does not depend on what follows: a shorter stream (blocks 0, 40, 80 to 100)
    # agrees up to where its last block starts.
    short = griffin_lim(mag[:100], n_iter=8, block_frames=B, overlap_frames=O)
    assert np.array_equal(wave[: 80 * HOP], short[: 80 * HOP])
    assert not np.array_equal(wave[80 * HOP: 100 * HOP], short[80 * HOP:])


def test_seams_have_no_click() -> None:
    wave = griffin_lim(tone(137), block_frames=B, overlap_frames=O)
    step = np.abs(np.diff(wave))
    seams = np.zeros(step.shape, bool)
    for start in (40, 80, 120):  # each crossfade and a frame either side of it
        seams[(start - 1) * HOP: (start + O + 1) * HOP] = True
    # A cut from one block to the next jumps 5-18x the tone's largest step; the crossfade
    # stays within the sqrt(2) an equal-power fade allows where two blocks are in phase.
    assert step[seams].max() <= 1.5 * step[~seams].max()


def test_seams_keep_the_level_of_broadband_sound() -> None:
    """Independently phased blocks of broadband sound are uncorrelated: their powers add,
    so an equal-power crossfade keeps the level (a linear one would dip 3 dB mid-seam)."""
    wave = griffin_lim(noise(137), block_frames=B, overlap_frames=O)
    rms = np.sqrt(np.mean(wave.reshape(137, HOP) ** 2, axis=1))
    level = rms / np.median(rms)
    for start in (40, 80, 120):
        assert level[start: start + O].min() > 0.85 and level[start: start + O].max() < 1.15


def test_long_streams_are_deterministic_and_follow_the_seed() -> None:
    mag = noise(137)
    one = griffin_lim(mag, n_iter=4, seed=3, block_frames=B, overlap_frames=O)
    assert np.array_equal(one, griffin_lim(mag, n_iter=4, seed=3, block_frames=B,
                                           overlap_frames=O))
    other = griffin_lim(mag, n_iter=4, seed=4, block_frames=B, overlap_frames=O)
    for start in (0, 45, 85, 125):  # every block's phase comes from the seed
        assert not np.array_equal(one[start * HOP: (start + 5) * HOP],
                                  other[start * HOP: (start + 5) * HOP])


@pytest.mark.parametrize(("block", "overlap"), [(50, 0), (50, 50), (10, 20)])
def test_block_sizes_that_cannot_crossfade_are_refused(block: int, overlap: int) -> None:
    with pytest.raises(ValueError, match="allowed: 0 < overlap_frames < block_frames"):
        griffin_lim(noise(3), block_frames=block, overlap_frames=overlap)


def test_float64_magnitudes_decode_as_their_float32() -> None:
    """float64 magnitudes (a user's own spectra) reached torch.polar beside a float32 phase:
    a raw RuntimeError. They are cast to float32 at entry; the recorded float32 stream of
    test_a_stream_of_one_block_has_the_bytes_it_had_before_blocks keeps its bytes."""
    mag = noise(12)
    wave = griffin_lim(mag.astype(np.float64), n_iter=4, seed=3)
    assert wave.dtype == np.float32
    assert wave.tobytes() == griffin_lim(mag, n_iter=4, seed=3).tobytes()
    assert griffin_lim(mag.astype(np.float64), n_iter=4, seed=3, block_frames=5,
                       overlap_frames=1).tobytes() == griffin_lim(
        mag, n_iter=4, seed=3, block_frames=5, overlap_frames=1).tobytes()


def test_units_and_their_spectra_decode_as_the_magnitudes_they_index() -> None:
    """``units=`` builds the [T, F] magnitudes one block at a time (KMeansTokenizer.decode
    built all of them first: 31 MB per 10 minutes); the bytes are those of
    ``griffin_lim(table[units])``, for a stream of three blocks and of one."""
    table = noise(20)  # 20 units' spectra
    units = np.random.default_rng(3).integers(0, 20, 120).astype(np.int16)  # blocks 0, 40, 80
    for t in (120, 37):
        whole = griffin_lim(table[units[:t]], n_iter=4, seed=5, block_frames=B,
                            overlap_frames=O)
        lazy = griffin_lim(table, n_iter=4, seed=5, block_frames=B, overlap_frames=O,
                           units=units[:t])
        assert lazy.tobytes() == whole.tobytes() and lazy.shape == (t * HOP,)
    assert griffin_lim(table, units=np.zeros(0, np.int64)).shape == (0,)


@pytest.mark.parametrize(("units", "message"), [
    (np.array([0, -1]), r"units\[1\] = -1 out of range \(allowed: 0..19\)"),
    (np.array([3, 20]), r"units\[1\] = 20 out of range \(allowed: 0..19\)"),
    (np.array([1.7]), r"units: dtype float64 \(allowed: integer unit ids 0..19"),
    (np.zeros((2, 3), np.int64), r"units must be one stream \[T\], got shape \(2, 3\)"),
])
def test_units_that_index_no_spectrum_are_refused(units: np.ndarray, message: str) -> None:
    """A negative id took a spectrum from the end of the table without a word."""
    with pytest.raises(ValueError, match=message):
        griffin_lim(noise(20), units=units)
