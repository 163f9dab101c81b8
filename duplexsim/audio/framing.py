"""The 40 ms unit-frame grid: conversions between ms, frames, chunks and samples.

Simulated time is integer milliseconds; a unit frame is ``FRAME_MS`` = 40 ms (25 Hz,
as in the SyncLLM paper); a chunk is a whole number of frames. Pure arithmetic.
"""

from __future__ import annotations

import math

from duplexsim.tokens import FRAME_MS

FRAME_RATE_HZ = 1000 // FRAME_MS


def ms_to_frames(ms: float, *, rounding: str = "floor") -> int:
    """Frames in ``ms`` milliseconds; ``rounding`` is floor | round | ceil."""
    x = ms / FRAME_MS
    if rounding == "floor":
        return int(math.floor(x + 1e-9))
    if rounding == "ceil":
        return int(math.ceil(x - 1e-9))
    if rounding == "round":
        return int(math.floor(x + 0.5))
    raise ValueError(f"rounding: unknown value {rounding!r} (allowed: floor, round, ceil)")


def frames_to_ms(frames: int) -> int:
    """Start time (ms) of frame ``frames`` = duration of that many frames."""
    return int(frames) * FRAME_MS


def frames_per_chunk(chunk_ms: int) -> int:
    """Frames in a chunk; ``chunk_ms`` must be a positive multiple of FRAME_MS."""
    if chunk_ms <= 0 or chunk_ms % FRAME_MS:
        raise ValueError(
            f"chunk_ms: {chunk_ms} is not a positive multiple of {FRAME_MS} "
            f"(allowed: 160, 200, 240, ...)"
        )
    return chunk_ms // FRAME_MS


def chunks_to_frames(chunks: int, chunk_ms: int) -> int:
    """Frames covered by ``chunks`` chunks of ``chunk_ms``."""
    return int(chunks) * frames_per_chunk(chunk_ms)


def samples_per_frame(sample_rate_hz: int) -> int:
    """Samples in one 40 ms frame; the rate must give a whole number (8k, 16k, 22.05k...)."""
    spf = sample_rate_hz * FRAME_MS / 1000
    if spf != int(spf):
        raise ValueError(
            f"sample_rate_hz: {sample_rate_hz} gives {spf} samples per {FRAME_MS} ms frame "
            f"(allowed: a multiple of {1000 // math.gcd(1000, FRAME_MS)} Hz)"
        )
    return int(spf)


def n_frames(n_samples: int, sample_rate_hz: int) -> int:
    """Whole frames in ``n_samples`` samples: ``T = N * 25 // sample_rate``."""
    return int(n_samples) * FRAME_RATE_HZ // int(sample_rate_hz)


def frames_to_samples(frames: int, sample_rate_hz: int) -> int:
    """Samples covered by ``frames`` frames at ``sample_rate_hz``."""
    return int(frames) * int(sample_rate_hz) // FRAME_RATE_HZ
