"""Units -> waveform: per-unit mean magnitude spectra, interpolated, phase by Griffin-Lim.

A deliberately simple, dependency-free vocoder (torch.stft/istft, no torchaudio): it makes
unit streams audible and keeps voice activity (silence units decode to near silence), not
speaker identity or intelligibility. Deterministic: the initial phase comes from a seeded
torch Generator. Memory is bounded: a stream is decoded in blocks of at most
``BLOCK_FRAMES`` frames, crossfaded over ``OVERLAP_FRAMES``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from duplexsim.units.features import FEATURE_SR_HZ, HOP, N_FFT

GL_HOP = HOP // 4  # 10 ms: enough overlap for Griffin-Lim to converge
# 120 s: every stream the project ships or tests (the demo's and the corpora's 120 s
# conversations) is one block, decoded as before blocks existed, to the byte. One block
# peaks at about +435 MB (+310 MB for 60 s); a whole 10-minute stream peaked at +1.7 GB.
BLOCK_FRAMES = 3000
OVERLAP_FRAMES = 50  # 2 s between blocks, crossfaded: no click at a seam
VOCODER_VERSION = "2026-12-07 blocks"
"""Changes whenever :func:`griffin_lim` makes other audio from the same magnitudes (caches of
vocoded audio and of what is measured on it key on it: the continuation study's resynthesis
and ASR rows). ``"2026-12-07 blocks"``: streams over ``BLOCK_FRAMES`` are decoded in blocks."""


def _upsample(mag: np.ndarray) -> np.ndarray:
    """``[T, F]`` frame magnitudes -> ``[4T, F]`` at GL_HOP, linear between frame centres."""
    t = mag.shape[0]
    fine = np.arange(t * (HOP // GL_HOP))
    pos = (fine * GL_HOP - HOP / 2) / HOP  # fine frame centre in coarse-frame index units
    pos = np.clip(pos, 0.0, t - 1)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, t - 1)
    w = (pos - lo)[:, None].astype(np.float32)
    return (1.0 - w) * mag[lo] + w * mag[hi]


def griffin_lim(mag: np.ndarray, n_iter: int = 32, momentum: float = 0.99, seed: int = 0,
                block_frames: int = BLOCK_FRAMES, overlap_frames: int = OVERLAP_FRAMES,
                units: np.ndarray | None = None) -> np.ndarray:
    """Waveform (16 kHz float32, ``T * 640`` samples) whose 40 ms frames have magnitudes ``mag``.

    ``mag``: ``[T, N_FFT//2+1]`` linear magnitudes, taken as float32 (the tokenizer's
    spectra are; float64 met torch's float32 phase as a raw RuntimeError). With ``units``
    (``[T]`` integer ids, each a row of ``mag``), ``mag`` is a table of per-unit spectra and
    frame t has magnitudes ``mag[units[t]]``: the same bytes as ``griffin_lim(mag[units])``,
    but the ``[T, F]`` magnitudes are built one block at a time (31 MB per 10 minutes). Fast
    Griffin-Lim (Perraudin et al. 2013) on blocks of at most ``block_frames`` frames:
    block k covers frames from ``k * (block_frames - overlap_frames)``, and its first
    ``overlap_frames`` are an equal-power crossfade from block k - 1 (independent phases:
    their powers add). Block k depends only on its own frames and ``(seed, k)``; a stream of
    ``block_frames`` or fewer is one block with the phase of ``seed``, as it was before
    blocks.
    """
    if not 0 < overlap_frames < block_frames:
        raise ValueError(f"griffin_lim: overlap_frames {overlap_frames}, block_frames "
                         f"{block_frames} (allowed: 0 < overlap_frames < block_frames)")
    mag = np.asarray(mag, dtype=np.float32)  # (float32 as given: no copy, same bytes)
    frames = _frames(mag, units)
    t = mag.shape[0] if units is None else len(units)
    if t == 0:
        return np.zeros(0, dtype=np.float32)
    if t <= block_frames:
        return _griffin_lim_block(frames(0, t), n_iter, momentum, seed)
    out = np.empty(t * HOP, np.float32)
    n = overlap_frames * HOP
    angle = (np.arange(n, dtype=np.float64) + 0.5) * (np.pi / 2 / n)
    fade_in, fade_out = np.sin(angle).astype(np.float32), np.cos(angle).astype(np.float32)
    start, k = 0, 0
    while True:
        end = min(start + block_frames, t)
        # Block 0 keeps ``seed`` itself; the others draw theirs from (seed, k) alone.
        block_seed = seed if k == 0 else int(
            np.random.SeedSequence(seed, spawn_key=(k,)).generate_state(1, np.uint64)[0])
        wave = _griffin_lim_block(frames(start, end), n_iter, momentum, block_seed)
        a = start * HOP
        if k == 0:
            out[: end * HOP] = wave
        else:
            out[a: a + n] = out[a: a + n] * fade_out + wave[:n] * fade_in
            out[a + n: end * HOP] = wave[n:]
        if end == t:
            return out
        start, k = start + block_frames - overlap_frames, k + 1


def _frames(mag: np.ndarray, units: np.ndarray | None) -> Callable[[int, int], np.ndarray]:
    """``(start, end) -> [end - start, F]`` magnitudes of those frames: a view of ``mag``, or
    with ``units``, their rows of the table ``mag``. The units are checked here, for every
    caller (KMeansTokenizer.decode among them): a negative id indexed from the end without
    a word, a float id was truncated, ``[2, T]`` units were broadcast."""
    if units is None:
        return lambda start, end: mag[start:end]
    raw, n_units = np.asarray(units), mag.shape[0]
    if raw.size and raw.dtype.kind not in "iu":  # (load_units refuses float units too)
        raise ValueError(f"units: dtype {raw.dtype} (allowed: integer unit ids "
                         f"0..{n_units - 1}; float ids are not truncated)")
    if raw.ndim != 1:
        raise ValueError(f"units must be one stream [T], got shape {raw.shape} "
                         "(allowed: decode each channel on its own)")
    u = raw.astype(np.int64, copy=False)
    if u.size and (u.min() < 0 or u.max() >= n_units):
        bad = int(np.flatnonzero((u < 0) | (u >= n_units))[0])
        raise ValueError(f"units[{bad}] = {u[bad]} out of range (allowed: 0..{n_units - 1})")
    return lambda start, end: mag[u[start:end]]


def _griffin_lim_block(mag: np.ndarray, n_iter: int, momentum: float, seed: int) -> np.ndarray:
    """:func:`griffin_lim` of one block ``[T, F]``, ``T >= 1``, whole: memory grows with T."""
    target = torch.from_numpy(np.ascontiguousarray(_upsample(mag).T))  # [F, 4T]
    window = torch.hann_window(N_FFT)
    length = mag.shape[0] * HOP
    gen = torch.Generator().manual_seed(seed)
    phase = torch.rand(target.shape, generator=gen) * 2 * torch.pi
    # torch.polar(r, a) is r * exp(1j * a) to the bit (checked on random spectra and the
    # demo's conversations), without the complex exp: 3.5x faster, 2.5x less memory traffic
    spec = torch.polar(target, phase)
    prev = torch.zeros_like(spec)

    def stft(x: torch.Tensor) -> torch.Tensor:
        return torch.stft(x, N_FFT, GL_HOP, window=window, center=True, return_complex=True)[
            :, : target.shape[1]]

    for _ in range(n_iter):
        wave = torch.istft(spec, N_FFT, GL_HOP, window=window, center=True, length=length)
        rebuilt = stft(wave)
        accel = rebuilt - (momentum / (1 + momentum)) * prev
        prev = rebuilt
        spec = torch.polar(target, torch.angle(accel))
    wave = torch.istft(spec, N_FFT, GL_HOP, window=window, center=True, length=length)
    return wave.numpy().astype(np.float32)


SAMPLE_RATE_HZ = FEATURE_SR_HZ
