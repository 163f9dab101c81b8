"""Voice activity from audio (silero-vad, or an energy detector) and its agreement with unit VAD.

Unit streams give voice activity exactly (silence units are known to the tokenizer:
:func:`duplexsim.metrics.activity.vad_from_units`); audio VAD is the cross-check that
the units and the vocoded audio say the same thing. silero-vad ships its weights inside
the ``silero-vad`` package (nothing is downloaded); where it is not installed the energy
detector is used and :func:`audio_vad` says so in its ``method`` result. Must not touch
models, the simulator or files.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from duplexsim.audio.io import as_float
from duplexsim.frame_runs import mask_of_runs
from duplexsim.metrics.activity import as_vad
from duplexsim.tokens import FRAME_MS


@dataclass(frozen=True)
class AudioVAD:
    """Frame-level voice activity of one or more channels and how it was computed."""

    active: np.ndarray
    """``bool [C, T]`` at ``frame_ms``."""
    method: str
    """``silero`` or ``energy``."""
    frame_ms: int = FRAME_MS


def silero_available() -> bool:
    """Whether the silero-vad package (with bundled weights) can be imported."""
    try:
        import silero_vad  # noqa: F401
    except ImportError:
        return False
    return True


@lru_cache(maxsize=1)
def _silero_model():  # noqa: ANN202 - a TorchScript module
    import warnings

    from silero_vad import load_silero_vad

    with warnings.catch_warnings():  # silero-vad's own deprecations (importlib.resources.path,
        # torch.jit.load): nothing we can change; they would be printed on every run
        warnings.filterwarnings("ignore", category=DeprecationWarning, module="silero_vad")
        warnings.filterwarnings("ignore", category=DeprecationWarning, module="torch.jit")
        return load_silero_vad()


def _to_frames(n_samples: int, sample_rate: int, frame_ms: int) -> int:
    return n_samples * 1000 // (sample_rate * frame_ms)


def _silero_channel(
    wave: np.ndarray, sample_rate: int, frame_ms: int, threshold: float
) -> np.ndarray:
    import torch
    from silero_vad import get_speech_timestamps

    sr = sample_rate if sample_rate in (8000, 16000) else 16000
    if sr != sample_rate:
        from math import gcd

        from scipy.signal import resample_poly

        g = gcd(sr, sample_rate)
        wave = resample_poly(wave, sr // g, sample_rate // g)
    stamps = get_speech_timestamps(
        torch.from_numpy(np.ascontiguousarray(wave, dtype=np.float32)), _silero_model(),
        threshold=threshold, sampling_rate=sr, min_speech_duration_ms=frame_ms,
        min_silence_duration_ms=frame_ms, speech_pad_ms=0,
    )
    return stamps_to_frames(stamps, sr, frame_ms, _to_frames(len(wave), sr, frame_ms))


def stamps_to_frames(
    stamps: Iterable[Mapping[str, int]], sample_rate: int, frame_ms: int, n_frames: int
) -> np.ndarray:
    """``bool [n_frames]`` voice activity of speech stamps (``start`` / ``end`` in samples,
    silero's ``get_speech_timestamps``): edges rounded to the nearest frame, half up, as
    ``Dialogue.segment_vad`` rounds annotated segments. Flooring the start and ceiling the
    end lit every frame a stamp touched: about a frame more speech per stamp (32-64 ms of
    speech became 80 ms): on six espeak-ng utterances silero said 251 speech frames for
    239 true ones (now 244; kappa 0.93 -> 0.96)."""
    per_frame = sample_rate * frame_ms  # samples * 1000 per frame; integer half-up rounding
    edges = np.array([[min((2000 * int(s[key]) + per_frame) // (2 * per_frame), n_frames)
                       for key in ("start", "end")] for s in stamps], dtype=np.int64)
    starts, ends = edges.reshape(-1, 2).T
    return mask_of_runs(starts, ends, n_frames)


def energy_vad(
    wave: np.ndarray, sample_rate: int, frame_ms: int = FRAME_MS, floor_db: float = -40.0,
    min_dbfs: float = -50.0,
) -> np.ndarray:
    """Frames whose RMS is within ``floor_db`` dB of the channel's loudest frame and above
    ``min_dbfs`` (dB relative to full scale).

    The absolute floor keeps a channel that never speaks silent: relative to its own
    loudest frame alone, its noise floor (the corpora's -60 dB, vocoded silence at about
    -61 dBFS) would be all speech. Speech in the corpora and the simulator's audio sits
    at -40 to -15 dBFS.
    """
    n = _to_frames(len(wave), sample_rate, frame_ms)
    hop = sample_rate * frame_ms // 1000
    frames = np.asarray(wave[: n * hop], dtype=np.float64).reshape(n, hop)
    rms = np.sqrt(np.mean(frames**2, axis=1))
    peak = rms.max() if n else 0.0
    if peak <= 0:
        return np.zeros(n, dtype=bool)
    return rms > max(peak * 10 ** (floor_db / 20), 10 ** (min_dbfs / 20))


def audio_vad(
    audio: np.ndarray, sample_rate: int, frame_ms: int = FRAME_MS, method: str = "auto",
    threshold: float = 0.5,
) -> AudioVAD:
    """Voice activity of ``audio`` (``[N]`` or ``[C, N]``; float at +-1, or integer PCM,
    scaled as soundfile reads it) at ``frame_ms`` frames.

    ``method``: ``silero`` (error if not installed), ``energy``, or ``auto`` (silero when
    installed, otherwise energy). ``threshold`` is silero's speech probability threshold.
    """
    if method not in ("auto", "silero", "energy"):
        raise ValueError(f"method {method!r} unknown (allowed: auto, silero, energy)")
    chans = np.atleast_2d(as_float(audio))  # integer PCM scaled to +-1, as silero expects
    use = "silero" if method == "silero" or (method == "auto" and silero_available()) else "energy"
    if use == "silero" and not silero_available():
        raise ImportError("method='silero' needs the silero-vad package: pip install silero-vad")
    if use == "silero":
        active = np.stack([_silero_channel(c, sample_rate, frame_ms, threshold) for c in chans])
    else:
        active = np.stack([energy_vad(c, sample_rate, frame_ms) for c in chans])
    return AudioVAD(active=active, method=use, frame_ms=frame_ms)


def vad_agreement(reference: np.ndarray, other: np.ndarray) -> dict[str, float]:
    """Frame agreement of two boolean VADs (same frame rate and channels, ``[T]`` or
    ``[C, T]``; the shorter length is used, channels pooled).

    Returns ``accuracy``, Cohen's ``kappa``, ``precision`` and ``recall`` of ``other``
    against ``reference``, and ``frames``. Different channel counts are an error (a ``[T]``
    reference against ``[2, T]`` used to be scored against channel 0 alone).
    """
    ref2, oth2 = as_vad(reference, "reference"), as_vad(other, "other")
    if ref2.ndim not in (1, 2) or ref2.shape[:-1] != oth2.shape[:-1]:
        raise ValueError(f"vad_agreement: reference {ref2.shape} and other {oth2.shape} "
                         "must both be [T] or [C, T] with the same C")
    n = min(ref2.shape[-1], oth2.shape[-1])
    ref, oth = ref2[..., :n].ravel(), oth2[..., :n].ravel()
    if len(ref) == 0:
        raise ValueError("vad_agreement: no frames to compare")
    acc = float((ref == oth).mean())
    p_ref, p_oth = ref.mean(), oth.mean()
    chance = p_ref * p_oth + (1 - p_ref) * (1 - p_oth)
    kappa = float((acc - chance) / (1 - chance)) if chance < 1 else float("nan")
    tp = float((ref & oth).sum())
    return {
        "accuracy": acc,
        "kappa": kappa,
        "precision": tp / oth.sum() if oth.sum() else float("nan"),
        "recall": tp / ref.sum() if ref.sum() else float("nan"),
        "frames": float(len(ref)),
    }
