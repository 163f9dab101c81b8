"""Synthetic conversations: presets, the turn-taking process, and rendering with TTS.

A conversation is generated left to right. The floor holder speaks an IPU whose duration
is drawn from a lognormal; text is taken from the chitchat-dataset word stream to fit it
(the espeak-ng rate is adjusted and the realised duration is what gets annotated, so the
annotations match the audio exactly). After each IPU the holder yields with ``p_yield``
(the partner starts after a normal floor-transfer offset; negative = overlap) or pauses
(lognormal). The listener backchannels during the holder's IPUs (Poisson, rate per second
of partner speech), only after >= 1 s of own silence and only inside the partner's IPU.
Must not know about tokenizers or the corpus directory layout.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from scipy.signal import butter, sosfiltfilt

from duplexsim.config.loader import check
from duplexsim.corpora.tts import Voice, speak, trim
from duplexsim.corpora.types import Segment

BACKCHANNELS = ("yeah", "mhm", "uh huh", "right", "okay", "yes", "oh", "sure", "i see", "wow")
VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5")
LANGS = ("en-us", "en-gb", "en-us", "en-gb-scotland")


@dataclass(frozen=True)
class SynthConfig:
    """Turn-taking and audio parameters of a synthetic corpus (DESIGN.md "Corpora")."""

    name: str = "fisher-like"
    conversation_s: float = 600.0  # Fisher calls are about 10 minutes
    sample_rate_hz: int = 8000
    telephone_band: bool = True  # 300-3400 Hz band-pass, as a landline
    ipu_median_s: float = 1.3
    ipu_sigma: float = 0.75
    pause_median_s: float = 0.45
    pause_sigma: float = 0.5
    p_yield: float = 0.45
    fto_mean_ms: float = 180.0
    fto_sd_ms: float = 450.0
    backchannels_per_s: float = 0.12  # per second of partner speech
    noise_db: float = -60.0  # background noise floor (dBFS rms)
    level_db: float = -20.0  # speech level (dBFS rms), +-3 dB per speaker
    rate_wpm: tuple[int, int] = (150, 190)
    pitch: tuple[int, int] = (25, 75)
    val_share: float = 0.1
    test_share: float = 0.1

    def __post_init__(self) -> None:
        check(self.conversation_s >= 5, "conversation_s", "too short", ">= 5")
        check(self.sample_rate_hz in (8000, 16000, 22050, 24000, 44100, 48000), "sample_rate_hz",
              f"unsupported rate {self.sample_rate_hz}", "8000, 16000, 22050, 24000, 44100, 48000")
        for f in ("ipu_median_s", "ipu_sigma", "pause_median_s", "pause_sigma", "fto_sd_ms"):
            check(getattr(self, f) > 0, f, "must be > 0", "> 0")
        check(0 < self.p_yield <= 1, "p_yield", "must be a probability", "(0, 1]")
        check(self.backchannels_per_s >= 0, "backchannels_per_s", "must be >= 0", ">= 0")
        check(0 <= self.val_share + self.test_share < 1, "test_share",
              "val_share + test_share must be in [0, 1)", "[0, 1)")


PRESETS = {
    "fisher-like": SynthConfig(),
    "candor-like": SynthConfig(
        name="candor-like", conversation_s=1800.0, sample_rate_hz=16000, telephone_band=False,
        ipu_median_s=1.5, ipu_sigma=0.8, pause_median_s=0.5, p_yield=0.35, fto_mean_ms=80.0,
        fto_sd_ms=450.0, backchannels_per_s=0.33),
}


def load_config(preset: str | None = None, toml_path: str | Path | None = None,
                **overrides: object) -> SynthConfig:
    """A preset, its fields overridden by a TOML file (SynthConfig keys), then by keywords."""
    import dataclasses
    import tomllib

    from duplexsim.config.loader import ConfigError, Problem, from_dict

    if preset is not None and preset not in PRESETS:
        raise ValueError(f"preset: unknown {preset!r} (allowed: {', '.join(PRESETS)})")
    base = PRESETS[preset or "fisher-like"]
    if toml_path is not None:
        try:
            data = tomllib.loads(Path(toml_path).read_text())
        except (OSError, tomllib.TOMLDecodeError) as e:
            raise ConfigError([Problem(str(toml_path), "", str(e))]) from None
        base = from_dict(SynthConfig, {**dataclasses.asdict(base), **data}, file=str(toml_path))
    return replace(base, **{k: v for k, v in overrides.items() if v is not None})


class TextStream:
    """Words of chitchat-dataset messages, read on from a seeded starting conversation."""

    def __init__(self, rng: np.random.Generator):
        import chitchat_dataset as ccc

        self.data = ccc.Dataset()
        self.keys = sorted(self.data.keys())
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


def pick_voices(rng: np.random.Generator, cfg: SynthConfig) -> tuple[Voice, Voice]:
    """Two distinct espeak-ng voices (variant, pitch, rate varied per conversation)."""
    va, vb = rng.choice(len(VARIANTS), size=2, replace=False)
    la, lb = rng.integers(len(LANGS), size=2)
    return tuple(  # type: ignore[return-value]
        Voice(f"{LANGS[lang]}+{VARIANTS[v]}", int(rng.integers(cfg.pitch[0], cfg.pitch[1] + 1)),
              int(rng.integers(cfg.rate_wpm[0], cfg.rate_wpm[1] + 1)))
        for lang, v in ((la, va), (lb, vb)))


class _Speaker:
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
            sos = butter(4, [300.0, 3400.0], btype="bandpass", fs=self.cfg.sample_rate_hz,
                         output="sos")
            wave = trim(sosfiltfilt(sos, wave).astype(np.float32))
        return wave

    def ipu(self, target_s: float, text: TextStream) -> tuple[str, np.ndarray]:
        """Speech close to ``target_s``: words sized by rate, one re-try at an adjusted rate."""
        n = max(1, int(round(target_s / self.s_per_word)))
        words = text.take(n)
        wave = self.say(words)
        got = len(wave) / self.cfg.sample_rate_hz
        self.s_per_word = 0.9 * self.s_per_word + 0.1 * got / n
        if got > 0 and abs(got / target_s - 1) > 0.1:
            rate = int(np.clip(self.voice.rate_wpm * got / target_s, 80, 450))
            wave = self.say(words, rate)
        return words, wave * self.gain / max(_rms(wave), 1e-6)


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if x.size else 0.0


def _lognormal(rng: np.random.Generator, median: float, sigma: float) -> float:
    return float(np.exp(rng.normal(np.log(median), sigma)))


class _Timeline:
    """Audio buffer + segments + each side's last speech end."""

    def __init__(self, cfg: SynthConfig):
        self.sr = cfg.sample_rate_hz
        self.audio = np.zeros((2, int(round(cfg.conversation_s * self.sr))), dtype=np.float32)
        self.segments: list[Segment] = []
        self.last_end = [-10.0, -10.0]

    def place(self, speaker: int, start_s: float, wave: np.ndarray, text: str, kind: str) -> None:
        i = int(round(start_s * self.sr))
        w = wave[: max(0, self.audio.shape[1] - i)]
        self.audio[speaker, i : i + len(w)] += w
        end = start_s + len(w) / self.sr
        self.segments.append(Segment(speaker, round(start_s, 4), round(end, 4), text, kind))
        self.last_end[speaker] = max(self.last_end[speaker], end)


def _backchannels(rng: np.random.Generator, tl: _Timeline, listener: _Speaker, who: int,
                  start: float, end: float, owed: int) -> int:
    """Place up to ``owed`` backchannels by ``who`` inside the partner IPU [start, end)."""
    placed = 0
    for _ in range(owed):
        text = BACKCHANNELS[int(rng.integers(len(BACKCHANNELS)))]
        wave = listener.say(text)
        wave = wave * listener.gain / max(_rms(wave), 1e-6)
        dur = len(wave) / tl.sr
        lo = max(start + 0.15, tl.last_end[who] + 1.05)  # >= 1 s own silence before
        hi = end - 0.1 - dur
        if dur > 0.9 or hi <= lo:
            break
        tl.place(who, float(rng.uniform(lo, hi)), wave, text, "backchannel")
        placed += 1
    return placed


def generate(cfg: SynthConfig, seed: np.random.SeedSequence,
             cache_dir: str | Path | None = None) -> tuple[np.ndarray, list[Segment], dict]:
    """One conversation: ``(audio [2, N] float32, segments, meta)``; deterministic in seed."""
    rng = np.random.default_rng(seed)
    text = TextStream(rng)
    voices = pick_voices(rng, cfg)
    cache = Path(cache_dir) if cache_dir is not None else None
    spk = [_Speaker(v, 10 ** ((cfg.level_db + rng.uniform(-3, 3)) / 20), cfg, cache)
           for v in voices]
    tl = _Timeline(cfg)
    holder, t, min_dur, owed = int(rng.integers(2)), float(rng.uniform(0.3, 0.8)), 0.0, 0
    while True:
        target = max(min_dur, _lognormal(rng, cfg.ipu_median_s, cfg.ipu_sigma))
        words, wave = spk[holder].ipu(float(np.clip(target, 0.25, 12.0)), text)
        dur = len(wave) / tl.sr
        if t + dur > cfg.conversation_s - 0.2:
            break
        t = max(t, tl.last_end[holder] + 0.25)  # never start inside one's own speech
        tl.place(holder, t, wave, words, "ipu")
        end = t + dur
        yields = bool(rng.random() < cfg.p_yield)
        if yields:
            fto = max(rng.normal(cfg.fto_mean_ms, cfg.fto_sd_ms) / 1000.0, -(dur - 0.2))
            nxt = end + fto
        else:
            nxt = end + max(0.25, _lognormal(rng, cfg.pause_median_s, cfg.pause_sigma))
        # the listener's backchannels end >= 1 s before it takes the floor (else they are
        # the start of its turn, not backchannels)
        bc_end = min(end, nxt - 1.0) if yields else end
        owed = min(6, owed + int(rng.poisson(cfg.backchannels_per_s * dur)))
        owed -= _backchannels(rng, tl, spk[1 - holder], 1 - holder, t, bc_end, owed)
        if yields:
            holder, t, min_dur = 1 - holder, nxt, (-fto + 0.4 if fto < 0 else 0.0)
        else:
            t, min_dur = nxt, 0.0
    audio = tl.audio + rng.normal(0.0, 10 ** (cfg.noise_db / 20), tl.audio.shape)
    segments = sorted(tl.segments, key=lambda s: (s.start_s, s.speaker))
    meta = {"voices": [v.key() for v in voices]}
    return np.clip(audio, -1, 1).astype(np.float32), segments, meta
