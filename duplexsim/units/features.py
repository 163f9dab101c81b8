"""Spectral frame features on the 40 ms grid at 16 kHz: power spectra, log-mel, band energy.

Every input is resampled to 16 kHz and only 60 Hz-4 kHz enters the mel features and the
energy used for voice activity, so 8 kHz telephone audio (Fisher) and 16 kHz audio (CANDOR)
land in one shared feature space. Frame t covers samples [t*640, (t+1)*640) and is analysed
with a 1024-point Hann window centred on it. Pure numpy; must not know about k-means.
"""

from __future__ import annotations

import numpy as np

from duplexsim.audio.framing import n_frames
from duplexsim.audio.io import MAX_FLOAT_PEAK, as_float, first_over_full_scale, resample

FEATURE_SR_HZ = 16000
HOP = 640  # 40 ms at 16 kHz
N_FFT = 1024
BAND_HZ = (60.0, 4000.0)
_BLOCK = 4096  # frames per block: bounds memory on hour-long inputs


def to_feature_rate(wave: np.ndarray, sample_rate: int) -> np.ndarray:
    """Mono float32 at 16 kHz cut to whole 40 ms frames (``T = N * 25 // sample_rate``).

    Float waves are full scale at +-1; integer PCM is scaled as soundfile reads it
    (:func:`~duplexsim.audio.io.as_float`), so the same audio gives the same units
    whichever way it was read."""
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, int | np.integer) \
            or sample_rate <= 0:
        raise ValueError(f"sample_rate: {sample_rate!r} (allowed: a positive integer, Hz)")
    raw = np.asarray(wave)
    arr = as_float(raw)
    if arr.ndim != 1:
        raise ValueError(f"wave must be one channel [N], got shape {arr.shape}")
    bad = np.flatnonzero(~np.isfinite(arr))
    if len(bad):  # NaN spreads through the resampler; NaN energy read as silence
        raise ValueError(f"wave[{bad[0]}]: not finite ({len(bad)} such sample"
                         f"{'s' if len(bad) > 1 else ''}) (allowed: finite samples)")
    over = first_over_full_scale(arr)
    if over is not None:  # int16-scale floats: every frame read as loud speech
        raise ValueError(f"wave[{over}] = {float(raw[over]):g}: far past full scale +-1 "
                         f"(allowed: float samples at full scale +-1, peaks up to "
                         f"{MAX_FLOAT_PEAK:g}; integer PCM as float? divide it by 32768, or "
                         "pass the integer array)")
    t = n_frames(arr.shape[0], sample_rate)
    out = resample(arr, sample_rate, FEATURE_SR_HZ)
    out = out[: t * HOP]
    if out.shape[0] < t * HOP:
        out = np.pad(out, (0, t * HOP - out.shape[0]))
    return out


def mel_filterbank(n_mels: int, n_fft: int = N_FFT, sr: int = FEATURE_SR_HZ,
                   fmin: float = BAND_HZ[0], fmax: float = BAND_HZ[1]) -> np.ndarray:
    """HTK-style triangular mel filters ``[n_mels, n_fft//2+1]``."""
    def hz_to_mel(f: np.ndarray | float) -> np.ndarray:
        return 2595.0 * np.log10(1.0 + np.asarray(f) / 700.0)

    mels = np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2)
    hz = 700.0 * (10 ** (mels / 2595.0) - 1.0)
    bins = np.fft.rfftfreq(n_fft, 1.0 / sr)
    lo, mid, hi = hz[:-2, None], hz[1:-1, None], hz[2:, None]
    up = (bins[None] - lo) / (mid - lo)
    down = (hi - bins[None]) / (hi - mid)
    return np.maximum(0.0, np.minimum(up, down)).astype(np.float32)


def power_frames(wave16k: np.ndarray) -> np.ndarray:
    """Power spectra ``[T, N_FFT//2+1]`` of the 40 ms frames of a 16 kHz signal."""
    t = wave16k.shape[0] // HOP
    pad = (N_FFT - HOP) // 2
    x = np.pad(wave16k.astype(np.float32), (pad, pad))
    window = np.hanning(N_FFT + 1)[:-1].astype(np.float32)
    out = np.empty((t, N_FFT // 2 + 1), dtype=np.float32)
    for b in range(0, t, _BLOCK):
        e = min(t, b + _BLOCK)
        idx = (np.arange(b, e) * HOP)[:, None] + np.arange(N_FFT)[None]
        spec = np.fft.rfft(x[idx] * window, axis=1)
        out[b:e] = (spec.real**2 + spec.imag**2).astype(np.float32)
    return out


SUBFRAMES = 4  # voice activity is decided on 10 ms sub-frames, then by majority per frame


def band_energy_db(wave16k: np.ndarray) -> np.ndarray:
    """Energy (dB) inside BAND_HZ of each 10 ms sub-frame: ``[T, SUBFRAMES]``.

    Rectangular windows inside the frame's own 640 samples, so a frame's voice activity
    depends only on its own 40 ms (a frame is speech when most of it is: see energy_vad.py).
    """
    t = wave16k.shape[0] // HOP
    sub = HOP // SUBFRAMES
    bins = np.fft.rfftfreq(sub, 1.0 / FEATURE_SR_HZ)
    band = (bins >= BAND_HZ[0]) & (bins <= BAND_HZ[1])
    frames = wave16k[: t * HOP].reshape(t * SUBFRAMES, sub)
    out = np.empty(t * SUBFRAMES, dtype=np.float32)
    for b in range(0, t * SUBFRAMES, _BLOCK * SUBFRAMES):
        spec = np.fft.rfft(frames[b : b + _BLOCK * SUBFRAMES], axis=1)[:, band]
        power = (spec.real**2 + spec.imag**2).sum(axis=1) / sub**2
        out[b : b + _BLOCK * SUBFRAMES] = 10.0 * np.log10(power + 1e-10)
    return out.reshape(t, SUBFRAMES)


def log_mel(power: np.ndarray, filters: np.ndarray) -> np.ndarray:
    """Log-mel features ``[T, n_mels]`` (natural log, floored at 1e-6)."""
    return np.log(power @ filters.T + 1e-6).astype(np.float32)
