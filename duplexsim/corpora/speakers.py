"""What synthetic speakers say and how it sounds: chitchat words spoken with espeak-ng.

:class:`TextStream` reads words on from a seeded chitchat-dataset conversation;
:class:`Speaker` speaks them in one voice at one level, sized to a target length (a running
seconds-per-word estimate, one re-try at an adjusted rate), telephone-band filtered when the
config asks. Used by :func:`duplexsim.corpora.synth.generate`. Must not know about the
turn-taking process, tokenizers or the corpus directory layout.
"""
from __future__ import annotations

import functools
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from duplexsim.corpora.config import SynthConfig
from duplexsim.corpora.tts import Voice, speak, trim
from duplexsim.errors import InputError


@functools.lru_cache(maxsize=1)
def _chitchat() -> tuple[Any, list[str]]:
    """chitchat-dataset's conversations and their sorted keys, read once per process (0.8 s
    a read; only read from)."""
    import chitchat_dataset as ccc

    data = ccc.Dataset()
    return data, sorted(data.keys())


class TextStream:
    """Words of chitchat-dataset messages, read on from a seeded starting conversation."""

    def __init__(self, rng: np.random.Generator):
        self.data, self.keys = _chitchat()
        self.pos = int(rng.integers(len(self.keys)))
        self.words: list[str] = []

    def take(self, n: int) -> str:
        while len(self.words) < n:
            convo = self.data[self.keys[self.pos % len(self.keys)]]
            self.pos += 1
            for group in convo["messages"]:
                for msg in group:
                    clean = re.sub(r"[^A-Za-z0-9' ]+", " ", msg["text"]).lower().split()
                    self.words.extend(w for w in clean if len(w) < 20)
        out, self.words = self.words[:n], self.words[n:]
        return " ".join(out)


MAX_SILENT_WORDS = 32
"""Words added to an IPU that espeak-ng says as no sound before the build gives up."""


class Speaker:
    """One side: voice, level, and a running seconds-per-word estimate to size texts."""

    def __init__(self, voice: Voice, gain: float, cfg: SynthConfig, cache_dir: Path | None):
        self.voice, self.gain, self.cfg, self.cache = voice, gain, cfg, cache_dir
        self.s_per_word = 60.0 / voice.rate_wpm * 1.1

    def say(self, text: str, rate: int | None = None) -> np.ndarray:
        """Speech for ``text``; telephone-band filtered *before* the final trim, so that the
        annotated edges are those of what is heard (no filter ringing outside them)."""
        voice = self.voice if rate is None else replace(self.voice, rate_wpm=rate)
        wave = speak(text, voice, self.cfg.sample_rate_hz, self.cache)
        if self.cfg.telephone_band and wave.size > 64:
            from scipy.signal import sosfiltfilt  # here: slow to import (~1 s)

            sos = _telephone_band(self.cfg.sample_rate_hz).copy()  # the cache's stays intact
            wave = trim(sosfiltfilt(sos, wave).astype(np.float32))
        return wave

    def ipu(self, target_s: float, text: TextStream, tag: str = "",
            end: str = "") -> tuple[str, np.ndarray]:
        """Speech close to ``target_s``: words sized by rate, one re-try at an adjusted rate.
        ``tag`` (words) ends the IPU and counts towards its length; ``end`` is its final
        punctuation (espeak-ng's intonation: ``?`` rises, ``,`` continues)."""
        n = max(1, int(round(target_s / self.s_per_word)))
        n_tag = len(tag.split())
        body, tail = text.take(max(1, n - n_tag)), (f" {tag}" if tag else "") + end
        words = body + tail
        wave = self.say(words)
        for _ in range(MAX_SILENT_WORDS):
            if wave.size:
                break
            # only words espeak-ng says as nothing (chitchat has "'"): one more, not an IPU
            # of 0 s annotated without sound
            body += f" {text.take(1)}"
            words = body + tail
            wave = self.say(words)
        if not wave.size:  # espeak-ng says nothing for any text: no corpus to build
            raise InputError("espeak-ng", "", f"gave no sound for {words!r} (voice "
                             f"{self.voice.key()})", "an espeak-ng that speaks: check "
                             "that `espeak-ng 'hello'` is heard")
        got = len(wave) / self.cfg.sample_rate_hz
        self.s_per_word = 0.9 * self.s_per_word + 0.1 * got / n
        if got > 0 and abs(got / target_s - 1) > 0.1:
            rate = int(np.clip(self.voice.rate_wpm * got / target_s, 80, 450))
            wave = self.say(words, rate)
        return words, wave * self.gain / max(rms(wave), 1e-6)


@functools.lru_cache(maxsize=4)
def _telephone_band(sample_rate_hz: int) -> np.ndarray:
    """300-3400 Hz, 4th-order Butterworth band-pass (second-order sections), designed once."""
    from scipy.signal import butter

    return butter(4, [300.0, 3400.0], btype="bandpass", fs=sample_rate_hz, output="sos")


def rms(x: np.ndarray) -> float:
    """Root mean square of ``x`` (0 when empty)."""
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if x.size else 0.0
