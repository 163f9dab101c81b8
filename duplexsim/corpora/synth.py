"""Synthetic conversations: presets, the turn-taking process, and rendering with TTS.

:func:`turn_taking` generates a conversation left to right, independent of how utterances
are made (an ``Utter`` callback returns each one's realised duration): the floor holder
speaks an IPU (lognormal), then yields with ``p_yield`` (the partner starts after a normal
floor-transfer offset; negative = overlap) or pauses (lognormal). The FTO is drawn first
and never clipped; IPUs are drawn conditioned on being long enough for it, with a draw
median calibrated so the realised IPU median is the target. The listener backchannels
inside the holder's IPUs (Poisson, rate per second of partner speech, deficits carried
over), only after >= 1 s of own silence. The process is built so that the event
definitions of ``metrics.turntaking`` read back what was generated (see
tests/corpora/test_turntaking.py). :func:`generate` renders it with espeak-ng (text from
the chitchat-dataset word stream; the realised duration is what gets annotated, so the
annotations match the audio exactly); :func:`simulate_timeline` without any TTS.
Must not know about tokenizers or the corpus directory layout.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

import numpy as np
from scipy.special import ndtr, ndtri

from duplexsim.config.loader import check
from duplexsim.corpora.tts import Voice, speak, trim
from duplexsim.corpora.types import Segment
from duplexsim.errors import MAX_DURATION_S, finite_in

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
        check(finite_in(self.conversation_s, 5, MAX_DURATION_S), "conversation_s",
              f"{self.conversation_s} is out of range", f"5 .. {MAX_DURATION_S:g} s")
        check(self.sample_rate_hz in (8000, 16000, 22050, 24000, 44100, 48000), "sample_rate_hz",
              f"unsupported rate {self.sample_rate_hz}", "8000, 16000, 22050, 24000, 44100, 48000")
        # finite and in range: a nan or inf here would loop forever or write silence
        for f, low, high in (("ipu_median_s", 0, 600), ("ipu_sigma", 0, 10),
                             ("pause_median_s", 0, 600), ("pause_sigma", 0, 10),
                             ("fto_sd_ms", 0, 60_000)):
            check(finite_in(getattr(self, f), low, high, low_open=True), f,
                  f"{getattr(self, f)} is out of range", f"> {low} and <= {high}")
        for f, low, high in (("fto_mean_ms", -60_000, 60_000), ("backchannels_per_s", 0, 10),
                             ("noise_db", -200, 0), ("level_db", -100, 0),
                             ("val_share", 0, 1), ("test_share", 0, 1)):
            check(finite_in(getattr(self, f), low, high), f, f"{getattr(self, f)} is out of range",
                  f"{low} .. {high}")
        check(finite_in(self.p_yield, 0, 1, low_open=True), "p_yield",
              "must be a probability", "(0, 1]")
        for f, low, high in (("rate_wpm", 80, 450), ("pitch", 0, 99)):  # espeak-ng's -s, -p
            pair = tuple(getattr(self, f))
            check(len(pair) == 2 and low <= pair[0] <= pair[1] <= high, f,
                  f"{list(getattr(self, f))}", f"[low, high] with {low} <= low <= high <= {high}")
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

    from duplexsim.config.loader import from_dict, read_toml
    from duplexsim.errors import InputError

    if preset is not None and preset not in PRESETS:
        raise InputError("preset", "", f"unknown {preset!r}", ", ".join(PRESETS))
    base = PRESETS[preset or "fisher-like"]
    if toml_path is not None:
        data = read_toml(toml_path)
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
            from scipy.signal import butter, sosfiltfilt  # here: slow to import (~1 s)

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


# A constraint margin: the incoming speaker starts at least this long after the outgoing IPU
# starts and after its own last speech ends (> the 200 ms pause bridging of the metrics, so
# the measured IPU starts where it was placed and the outgoing IPU has a sole-speaker run).
_MARGIN_S = 0.3
_BC_PRE_S = 1.05  # own silence before a backchannel (the metrics require >= 1 s)
_BC_OWED_MAX = 8
_BC_MAX_S, _BC_CONTEXT_S = 1.1, 1.1  # the metrics' backchannel limits (1 s) plus a frame


class Utter(Protocol):
    """Makes one utterance: ``(speaker, kind, target_s) -> (text, realised_s, payload)``."""

    def __call__(self, speaker: int, kind: str, target_s: float) -> tuple[str, float, object]: ...


class _Strata:
    """Stratified uniforms: each block of ``k`` draws has one in each [j/k, (j+1)/k), in a
    random order. Every draw is still U(0, 1), but the empirical distribution of an hour
    of draws matches the target far more closely than independent draws (a corpus median
    lands within a few ms of its target instead of +-25 ms)."""

    def __init__(self, rng: np.random.Generator, k: int = 32):
        self.rng, self.k, self.block = rng, k, np.empty(0)

    def __call__(self) -> float:
        if not self.block.size:
            self.block = (self.rng.permutation(self.k) + self.rng.random(self.k)) / self.k
        u, self.block = float(self.block[0]), self.block[1:]
        return u


def _lognormal_above(u: float, median: float, sigma: float, lo: float) -> float:
    """The ``u`` quantile of a lognormal conditioned on ``>= lo`` (inverse CDF)."""
    p_lo = float(ndtr((np.log(max(lo, 1e-9)) - np.log(median)) / sigma))
    z = float(ndtri(min(p_lo + u * (1.0 - p_lo), 1.0 - 1e-12)))
    return float(np.exp(np.log(median) + sigma * z))


class _Process:
    """State of the turn-taking process: placed utterances and each side's last speech end."""

    def __init__(self, cfg: SynthConfig, rng: np.random.Generator, utter: Utter,
                 ipu_draw_median_s: float):
        self.cfg, self.rng, self.utter, self.ipu_m = cfg, rng, utter, ipu_draw_median_s
        self.placed: list[tuple[Segment, object]] = []
        self.last_end = [-10.0, -10.0]
        self.owed = 0
        self.carried: float | None = None
        self.u_ipu, self.u_fto = _Strata(rng), _Strata(rng)

    def place(self, speaker: int, start_s: float, dur_s: float, text: str, kind: str,
              payload: object) -> None:
        seg = Segment(speaker, round(start_s, 4), round(start_s + dur_s, 4), text, kind)
        self.placed.append((seg, payload))
        self.last_end[speaker] = max(self.last_end[speaker], start_s + dur_s)

    def backchannels(self, who: int, start: float, end: float, dur: float) -> None:
        """Backchannels by ``who`` inside the partner IPU [start, end) (ends before ``end``).

        Owed backchannels (Poisson, rate per second of partner speech) carry over to later
        IPUs when this one has no room, so the realised rate follows the configured one."""
        self.owed = min(_BC_OWED_MAX, self.owed + int(self.rng.poisson(
            self.cfg.backchannels_per_s * dur)))
        while self.owed > 0:
            lo = max(start + 0.15, self.last_end[who] + _BC_PRE_S)
            if end - 0.1 - lo < 0.3:  # no room for even a short one
                return
            text, bc_dur, payload = self.utter(who, "backchannel", 0.0)
            hi = end - 0.1 - bc_dur
            if bc_dur > 0.9 or hi < lo:
                return
            # early in the free stretch: leaves room for the rest that is owed
            at = lo + (hi - lo) * float(self.rng.random()) / self.owed
            self.place(who, at, bc_dur, text, "backchannel", payload)
            self.owed -= 1

    def next_ipu(self, holder: int, t: float, floor_from: float) -> tuple[float, float] | None:
        """Place the holder's IPU at ``t``; returns (next start, fto or nan for a pause).

        The FTO is drawn first, unconstrained, from N(mean, sd); the IPU is then drawn from
        its lognormal conditioned on being long enough that the partner's start is feasible
        (after the IPU's start and after the partner's own last speech, by ``_MARGIN_S``).
        That keeps the realised FTO normal (a clipped FTO biases its mean upwards) at the
        cost of slightly longer IPUs before overlapping transitions."""
        cfg, rng, other = self.cfg, self.rng, 1 - holder
        yields, fto = bool(rng.random() < cfg.p_yield), float("nan")
        if self.carried is not None:  # a yield put off from the previous IPU
            yields, fto, self.carried = True, self.carried, None
        elif yields:  # drawn only for transitions, so that their FTOs are the strata
            fto = (cfg.fto_mean_ms + cfg.fto_sd_ms * float(ndtri(self.u_fto()))) / 1000.0
        pause = max(0.25, _lognormal(rng, cfg.pause_median_s, cfg.pause_sigma))
        lo = max(0.25, floor_from + _MARGIN_S - t)  # outlast the outgoing speaker
        if yields:
            lo = max(lo, _MARGIN_S - fto, self.last_end[other] + _MARGIN_S - t - fto)
        target = min(12.0, _lognormal_above(self.u_ipu(), self.ipu_m, cfg.ipu_sigma, lo))
        text, dur, payload = self.utter(holder, "ipu", max(target, lo))
        if t + dur > cfg.conversation_s - 0.2:
            return None
        if (yields and dur < _BC_MAX_S and fto < _BC_CONTEXT_S
                and t - self.last_end[holder] > _BC_PRE_S - 0.1):
            # a short isolated IPU that the partner answers within 1 s reads as a
            # backchannel (metrics.turntaking), not a turn: the holder goes on and yields
            # after its next IPU with this FTO (dropping it would bias the FTOs)
            yields, self.carried = False, fto
        self.place(holder, t, dur, text, "ipu", payload)
        end = t + dur
        if yields:  # the realised duration may fall short of the target: stay feasible
            fto = max(fto, _MARGIN_S - dur, self.last_end[other] + _MARGIN_S - end)
            nxt = end + fto
            # the listener's backchannels end >= 1 s before it takes the floor (else they
            # are the start of its turn, not backchannels)
            self.backchannels(other, t, min(end, nxt - 1.0), dur)
            return nxt, fto
        self.backchannels(other, t, end, dur)
        return end + pause, float("nan")


def turn_taking(cfg: SynthConfig, rng: np.random.Generator, utter: Utter,
                ipu_draw_median_s: float | None = None) -> list[tuple[Segment, object]]:
    """The turn-taking process of one conversation: segments (time order) and payloads.

    ``utter`` makes each utterance (TTS for a corpus, a duration model for
    :func:`simulate_timeline`); its realised duration is what gets placed. IPUs are drawn
    around ``ipu_draw_median_s`` (default: :func:`ipu_draw_median_s_for`)."""
    m = ipu_draw_median_s if ipu_draw_median_s is not None else ipu_draw_median_s_for(cfg)
    proc = _Process(cfg, rng, utter, m)
    holder, t, floor_from = int(rng.integers(2)), float(rng.uniform(0.3, 0.8)), -10.0
    while (step := proc.next_ipu(holder, t, floor_from)) is not None:
        nxt, fto = step
        if fto == fto:  # a floor transfer
            floor_from, holder = proc.last_end[holder], 1 - holder
        else:
            floor_from = -10.0
        t = nxt
    return sorted(proc.placed, key=lambda p: (p[0].start_s, p[0].speaker))


@functools.lru_cache(maxsize=32)
def ipu_draw_median_s_for(cfg: SynthConfig) -> float:
    """The lognormal median to draw IPUs from so the *realised* IPU median is the target.

    Overlapping transitions need long enough IPUs on both sides, so some IPUs are drawn
    conditioned on a minimum, which raises the median by 5-10 %. A fixed-point iteration on
    2 h of simulated timeline (fixed seed, ~0.1 s each) scales the draw median down to
    compensate; deterministic, and cached per config."""
    long = replace(cfg, conversation_s=7200.0)
    m = cfg.ipu_median_s
    for _ in range(3):
        segs = _timeline(long, np.random.SeedSequence(0), m)
        got = float(np.median([s.end_s - s.start_s for s in segs if s.kind == "ipu"]))
        m *= cfg.ipu_median_s / got
    return m


def simulate_timeline(cfg: SynthConfig, seed: int | np.random.SeedSequence) -> list[Segment]:
    """Segments of one conversation without TTS: IPUs last their target (0.25..12 s),
    backchannels 0.25-0.6 s (espeak-ng's range for the words used). For testing the
    process's statistics over many hours in well under a second."""
    ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    return _timeline(cfg, ss, None)


def _timeline(cfg: SynthConfig, ss: np.random.SeedSequence,
              ipu_draw_median_s: float | None) -> list[Segment]:
    proc_rng, dur_rng = (np.random.default_rng(s) for s in _children(ss))

    def utter(speaker: int, kind: str, target_s: float) -> tuple[str, float, object]:
        if kind == "backchannel":
            return "", float(dur_rng.uniform(0.25, 0.6)), None
        return "", float(np.clip(target_s, 0.25, 12.0)), None

    return [seg for seg, _ in turn_taking(cfg, proc_rng, utter, ipu_draw_median_s)]


def _children(seed: np.random.SeedSequence) -> tuple[np.random.SeedSequence, ...]:
    """Two independent streams (process, rendering), without mutating ``seed``."""
    return tuple(np.random.SeedSequence(seed.entropy, spawn_key=(*seed.spawn_key, k))
                 for k in (0, 1))


def generate(cfg: SynthConfig, seed: np.random.SeedSequence,
             cache_dir: str | Path | None = None) -> tuple[np.ndarray, list[Segment], dict]:
    """One conversation: ``(audio [2, N] float32, segments, meta)``; deterministic in seed."""
    proc_ss, render_ss = _children(seed)
    rng = np.random.default_rng(render_ss)
    text = TextStream(rng)
    voices = pick_voices(rng, cfg)
    cache = Path(cache_dir) if cache_dir is not None else None
    spk = [_Speaker(v, 10 ** ((cfg.level_db + rng.uniform(-3, 3)) / 20), cfg, cache)
           for v in voices]
    sr = cfg.sample_rate_hz

    def utter(speaker: int, kind: str, target_s: float) -> tuple[str, float, object]:
        if kind == "backchannel":
            words = BACKCHANNELS[int(rng.integers(len(BACKCHANNELS)))]
            wave = spk[speaker].say(words)
            wave = wave * spk[speaker].gain / max(_rms(wave), 1e-6)
        else:
            words, wave = spk[speaker].ipu(target_s, text)
        return words, len(wave) / sr, wave

    placed = turn_taking(cfg, np.random.default_rng(proc_ss), utter)
    audio = np.zeros((2, int(round(cfg.conversation_s * sr))), dtype=np.float32)
    for seg, wave in placed:
        i = int(round(seg.start_s * sr))
        w = wave[: max(0, audio.shape[1] - i)]
        audio[seg.speaker, i : i + len(w)] += w
    segments = [seg for seg, _ in placed]
    audio += rng.normal(0.0, 10 ** (cfg.noise_db / 20), audio.shape)
    meta = {"voices": [v.key() for v in voices]}
    return np.clip(audio, -1, 1).astype(np.float32), segments, meta
