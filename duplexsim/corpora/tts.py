"""Local text-to-speech (espeak-ng) with an on-disk cache; other modules may use ``speak``.

``speak(text, voice, sample_rate_hz)`` returns float32 mono speech with leading and
trailing silence trimmed (so annotations can match the audio exactly). Results are
cached under ``~/.cache/duplexsim/tts`` (or ``cache_dir``), keyed by text and every
voice parameter. Requires the ``espeak-ng`` binary; nothing is downloaded.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from duplexsim.atomic import atomic_path
from duplexsim.audio.io import resample
from duplexsim.errors import MissingInputError

ESPEAK_SR_HZ = 22050
TRIM_LEVEL = 0.02  # samples below 2% of the peak at either end are silence


@dataclass(frozen=True)
class Voice:
    """espeak-ng voice: language+variant (``en-us+f3``), pitch 0-99, rate in words/minute."""

    name: str = "en-us"
    pitch: int = 50
    rate_wpm: int = 175

    def key(self) -> str:
        return f"{self.name}|p{self.pitch}|s{self.rate_wpm}"


def default_cache_dir() -> Path:
    return Path(os.environ.get("DUPLEXSIM_TTS_CACHE", Path.home() / ".cache/duplexsim/tts"))


def _espeak(text: str, voice: Voice) -> np.ndarray:
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise MissingInputError("espeak-ng", "", "not found on PATH",
                                "install it: apt-get install espeak-ng")
    cmd = [exe, "-v", voice.name, "-p", str(voice.pitch), "-s", str(voice.rate_wpm),
           "--stdout", text]
    out = subprocess.run(cmd, capture_output=True, check=False)
    if out.returncode != 0 or not out.stdout:
        raise RuntimeError(f"espeak-ng failed for voice {voice.key()}: "
                           f"{out.stderr.decode(errors='replace').strip()}")
    wave, sr = sf.read(io.BytesIO(out.stdout), dtype="float32")
    if sr != ESPEAK_SR_HZ:
        wave = resample(wave, sr, ESPEAK_SR_HZ)
    return wave


def trim(wave: np.ndarray) -> np.ndarray:
    """Cut leading/trailing samples quieter than TRIM_LEVEL x peak."""
    if wave.size == 0:
        return wave
    loud = np.flatnonzero(np.abs(wave) > TRIM_LEVEL * np.abs(wave).max())
    return wave[loud[0] : loud[-1] + 1] if loud.size else wave[:0]


def speak(text: str, voice: Voice | str = "en-us", sample_rate_hz: int = 16000,
          cache_dir: str | Path | None = None) -> np.ndarray:
    """Trimmed speech for ``text`` at ``sample_rate_hz`` (float32 mono), cached on disk."""
    if isinstance(voice, str):
        voice = Voice(voice)
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    digest = hashlib.sha1(f"{voice.key()}|{text}".encode()).hexdigest()
    path = cache / digest[:2] / f"{digest}.npy"
    if path.is_file():
        try:
            raw = np.load(path)
        except (ValueError, OSError):  # a corrupt entry is rebuilt, not trusted
            raw = None
    else:
        raw = None
    if raw is None:
        wave = trim(_espeak(text, voice))
        raw = np.round(np.clip(wave, -1, 1) * 32767).astype(np.int16)
        with atomic_path(path) as tmp, tmp.open("wb") as fh:
            np.save(fh, raw)
    return resample(raw.astype(np.float32) / 32767.0, ESPEAK_SR_HZ, sample_rate_hz)
