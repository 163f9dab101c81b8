"""Synthetic conversations: the turn-taking process, and rendering it with TTS.

Each conversation first draws its style (:mod:`duplexsim.corpora.style`: both speakers'
turn-taking parameters and a shared tempo). :func:`turn_taking` then generates it left to
right, independent of how utterances are made (an ``Utter`` callback returns each one's
realised duration): the floor holder speaks an IPU (lognormal around its own median), then
yields with its ``p_yield`` (the partner starts after a normal floor-transfer offset around
the partner's FTO mean; negative = overlap) or pauses (lognormal). The FTO is drawn first
and never clipped; IPUs are drawn conditioned on being long enough for it, with a draw
median scaled so the realised IPU median is the drawn one. The listener backchannels inside
the holder's IPUs (Poisson, its own rate per second of partner speech, deficits carried
over), only after >= 1 s of own silence. Every draw is independent of the conversation's
earlier draws beyond its style. With ``yield_cue`` the words say what comes next: an IPU
before a hand-over ends in a question tag (``YIELD_TAGS``, question intonation), one before
a pause with a comma; the timeline is the same draw for draw. With ``overlap_dropout_ms``
the outgoing speaker of an overlapping hand-over stops a reaction time after the incoming
one starts (its speech and words cut there) instead of finishing the IPU it planned. The
process is built so that the event definitions of ``metrics.turntaking`` read back what was
generated (tests/corpora/test_synth_turntaking.py).
:func:`generate` renders it with espeak-ng (text from the chitchat-dataset word stream; the
realised duration is what gets annotated, so the annotations match the audio exactly);
:func:`simulate_timeline` without any TTS. Must not know about tokenizers or the corpus
directory layout.
"""
from __future__ import annotations

import functools
import re
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from scipy.special import ndtr, ndtri

from duplexsim.corpora.config import PRESETS, SynthConfig, load_config
from duplexsim.corpora.style import (
    Centres,
    ConversationStyle,
    TempoDrift,
    draw_style,
    within_spread,
)
from duplexsim.corpora.tts import Voice, speak, trim
from duplexsim.corpora.types import Segment
from duplexsim.errors import InputError

# PRESETS, SynthConfig and load_config are re-exported for callers of this module
__all__ = ["PRESETS", "SynthConfig", "conversation_style", "generate", "load_config",
           "population_centres", "simulate_timeline", "turn_taking"]

BACKCHANNELS = ("yeah", "mhm", "uh huh", "right", "okay", "yes", "oh", "sure", "i see", "wow")
# question tags that end an IPU after which the speaker hands over (``yield_cue``)
YIELD_TAGS = ("you know", "right", "don't you think", "what about you", "isn't it",
              "how about you", "you see", "do you")


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
        return words, wave * self.gain / max(_rms(wave), 1e-6)


@functools.lru_cache(maxsize=4)
def _telephone_band(sample_rate_hz: int) -> np.ndarray:
    """300-3400 Hz, 4th-order Butterworth band-pass (second-order sections), designed once."""
    from scipy.signal import butter

    return butter(4, [300.0, 3400.0], btype="bandpass", fs=sample_rate_hz, output="sos")


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
# ``overlap_dropout_ms``: spread of the reaction time (natural-log units), the shortest cut
# that counts as dropping out (a speaker this close to its planned end just finishes), and
# the fade that ends cut speech without a click
_DROPOUT_SIGMA, _DROPOUT_MIN_CUT_S, _CUT_FADE_S = 0.3, 0.05, 0.01


class Utter(Protocol):
    """Makes one utterance: ``(speaker, kind, target_s) -> (text, realised_s, payload)``.

    ``kind``: ``"backchannel"``, ``"ipu"`` (the speaker goes on after it) or ``"turn-end"``
    (an IPU after which the speaker hands over)."""

    def __call__(self, speaker: int, kind: str, target_s: float) -> tuple[str, float, object]: ...


def _cut_words(text: str, share: float) -> str:
    """The words of an IPU cut to ``share`` of its length, marked as broken off (``-``)."""
    words = text.split()
    if not words:
        return text
    return " ".join(words[: max(1, int(round(len(words) * share)))]) + "-"


def _cut(wave: np.ndarray, n: int, fade: int) -> np.ndarray:
    """The first ``n`` samples of ``wave``, faded out over the last ``fade``."""
    out = wave[:n].copy()
    k = min(fade, n)
    out[n - k:] *= np.linspace(1.0, 0.0, k, dtype=out.dtype)
    return out


def _lognormal_above(u: float, median: float, sigma: float, lo: float) -> float:
    """The ``u`` quantile of a lognormal conditioned on ``>= lo`` (inverse CDF)."""
    p_lo = float(ndtr((np.log(max(lo, 1e-9)) - np.log(median)) / sigma))
    z = float(ndtri(min(p_lo + u * (1.0 - p_lo), 1.0 - 1e-12)))
    return float(np.exp(np.log(median) + sigma * z))


class _Process:
    """State of the turn-taking process: placed utterances and each side's last speech end."""

    def __init__(self, cfg: SynthConfig, rng: np.random.Generator, utter: Utter,
                 styles: TempoDrift, ipu_draw_scale: float):
        self.cfg, self.rng, self.utter, self.styles = cfg, rng, utter, styles
        self.ipu_scale = ipu_draw_scale
        self.placed: list[tuple[Segment, object]] = []
        self.last_end = [-10.0, -10.0]
        self.owed = [0, 0]  # backchannels each listener owes
        self.carried: float | None = None
        # the last IPU cut for an incoming speaker: (its index in ``placed``, uncut
        # segment), until that speaker's IPU is placed (none fits at the conversation's end:
        # the cut is undone, as no one overlapped it)
        self.cut: tuple[int, Segment] | None = None

    def place(self, speaker: int, start_s: float, dur_s: float, text: str, kind: str,
              payload: object) -> None:
        seg = Segment(speaker, round(start_s, 4), round(start_s + dur_s, 4), text, kind)
        self.placed.append((seg, payload))
        self.last_end[speaker] = max(self.last_end[speaker], start_s + dur_s)

    def backchannels(self, who: int, start: float, end: float, dur: float) -> None:
        """Backchannels by ``who`` inside the partner IPU [start, end) (ends before ``end``).

        Owed backchannels (Poisson, the listener's rate per second of partner speech) carry
        over to its later listening when this IPU has no room, so the realised rate follows
        the drawn one (measured: the carry-over does not couple a conversation's prompt to
        its continuation)."""
        rate = self.styles.speaker(who, start).backchannels_per_s
        self.owed[who] = min(_BC_OWED_MAX, self.owed[who] + int(self.rng.poisson(rate * dur)))
        while self.owed[who] > 0:
            lo = max(start + 0.15, self.last_end[who] + _BC_PRE_S)
            if end - 0.1 - lo < 0.3:  # no room for even a short one
                return
            text, bc_dur, payload = self.utter(who, "backchannel", 0.0)
            hi = end - 0.1 - bc_dur
            if bc_dur > 0.9 or hi < lo:
                return
            # early in the free stretch: leaves room for the rest that is owed
            at = lo + (hi - lo) * float(self.rng.random()) / self.owed[who]
            self.place(who, at, bc_dur, text, "backchannel", payload)
            self.owed[who] -= 1

    def last(self, holder: int, t: float, dur: float, text: str, payload: object) -> None:
        """The IPU at ``t`` would outlast the conversation: it ends before it. A conversation
        shorter than its first IPU (``conversation_s`` of 5 s left 6-9 % of them silent,
        12 s 0.2-0.6 %) has that IPU cut at its end instead, as a recording that stops
        mid-utterance: none is silent (one of over ~13 s never gets here: an IPU lasts at
        most about 12 s)."""
        if not self.placed:
            room = self.cfg.conversation_s - 0.2 - t
            self.place(holder, t, room, _cut_words(text, room / dur), "ipu", payload)

    def next_ipu(self, holder: int, t: float, floor_from: float) -> tuple[float, float] | None:
        """Place the holder's IPU at ``t``; returns (next start, fto or nan for a pause).

        Every draw is independent (no stratification within a conversation: that made a
        prompt that drew short IPUs force long ones on its continuation). The holder's
        style sets p_yield, pause and IPU; the partner's its FTO (how fast it responds).
        The FTO is drawn first, unconstrained, from N(mean, sd); the IPU is then drawn from
        its lognormal conditioned on being long enough that the partner's start is feasible
        (after the IPU's start and after the partner's own last speech, by ``_MARGIN_S``).
        That keeps the realised FTO normal (a clipped FTO biases its mean upwards) at the
        cost of slightly longer IPUs before overlapping transitions."""
        cfg, rng, other = self.cfg, self.rng, 1 - holder
        me, you = self.styles.speaker(holder, t), self.styles.speaker(other, t)
        yields, fto = bool(rng.random() < me.p_yield), float("nan")
        if self.carried is not None:  # a yield put off from the previous IPU
            yields, fto, self.carried = True, self.carried, None
        elif yields:
            fto = (you.fto_mean_ms + you.fto_sd_ms * float(rng.standard_normal())) / 1000.0
        pause = max(0.25, _lognormal(rng, me.pause_median_s, me.pause_sigma))
        lo = max(0.25, floor_from + _MARGIN_S - t)  # outlast the outgoing speaker
        if yields:
            lo = max(lo, _MARGIN_S - fto, self.last_end[other] + _MARGIN_S - t - fto)
        target = min(12.0, _lognormal_above(float(rng.random()),
                                            me.ipu_median_s * self.ipu_scale, me.ipu_sigma, lo))
        text, dur, payload = self.utter(holder, "turn-end" if yields else "ipu",
                                        max(target, lo))
        if t + dur > cfg.conversation_s - 0.2:
            self.last(holder, t, dur, text, payload)
            return None
        if (yields and dur < _BC_MAX_S and fto < _BC_CONTEXT_S
                and t - self.last_end[holder] > _BC_PRE_S - 0.1):
            # a short isolated IPU that the partner answers within 1 s reads as a
            # backchannel (metrics.turntaking), not a turn: the holder goes on and yields
            # after its next IPU with this FTO (dropping it would bias the FTOs). Said
            # again as an IPU the holder goes on after (its hand-over cue would lie)
            yields, self.carried = False, fto
            if cfg.yield_cue:
                text, dur, payload = self.utter(holder, "ipu", max(target, lo))
                if t + dur > cfg.conversation_s - 0.2:
                    self.last(holder, t, dur, text, payload)
                    return None
        self.cut = None  # the IPU that overlapped the last cut one is placed: the cut stands
        if not yields:
            self.place(holder, t, dur, text, "ipu", payload)
            self.backchannels(other, t, t + dur, dur)
            return t + dur + pause, float("nan")
        # the realised duration may fall short of the target: stay feasible
        end = t + dur
        fto = max(fto, _MARGIN_S - dur, self.last_end[other] + _MARGIN_S - end)
        nxt = end + fto
        if cfg.overlap_dropout_ms > 0 and fto < 0:  # overlapped: stop a reaction time in
            stop = _lognormal(rng, cfg.overlap_dropout_ms / 1000.0, _DROPOUT_SIGMA)
            if -fto - stop >= _DROPOUT_MIN_CUT_S:
                cut_dur = nxt + stop - t
                self.cut = (len(self.placed),
                            Segment(holder, round(t, 4), round(t + dur, 4), text, "ipu"))
                text, dur, fto = _cut_words(text, cut_dur / dur), cut_dur, -stop
        self.place(holder, t, dur, text, "ipu", payload)
        # the listener's backchannels end >= 1 s before it takes the floor (else they are the
        # start of its turn, not backchannels)
        self.backchannels(other, t, min(t + dur, nxt - 1.0), dur)
        return nxt, fto


def turn_taking(cfg: SynthConfig, rng: np.random.Generator, utter: Utter,
                styles: TempoDrift, ipu_draw_scale: float | None = None,
                ) -> list[tuple[Segment, object]]:
    """The turn-taking process of one conversation: segments (time order) and payloads.

    ``utter`` makes each utterance (TTS for a corpus, a duration model for
    :func:`simulate_timeline`); its realised duration is what gets placed. ``styles`` gives
    each speaker's parameters over time. IPUs are drawn around the speaker's median times
    ``ipu_draw_scale`` (default: :func:`ipu_draw_scale_for`)."""
    scale = ipu_draw_scale if ipu_draw_scale is not None else ipu_draw_scale_for(_flat(cfg))
    proc = _Process(cfg, rng, utter, styles, scale)
    holder, t, floor_from = int(rng.integers(2)), float(rng.uniform(0.3, 0.8)), -10.0
    while (step := proc.next_ipu(holder, t, floor_from)) is not None:
        nxt, fto = step
        if fto == fto:  # a floor transfer
            floor_from, holder = proc.last_end[holder], 1 - holder
        else:
            floor_from = -10.0
        t = nxt
    if proc.cut is not None:  # the incoming IPU did not fit before the end: not overlapped
        i, uncut = proc.cut
        proc.placed[i] = (uncut, proc.placed[i][1])
    return sorted(proc.placed, key=lambda p: (p[0].start_s, p[0].speaker))


@functools.lru_cache(maxsize=32)
def ipu_draw_scale_for(cfg: SynthConfig) -> float:
    """Draw median / speaker median, so that *realised* IPU medians are the drawn ones.

    Overlapping transitions need long enough IPUs on both sides, so some IPUs are drawn
    conditioned on a minimum, which raises the median by 5-10 %. A fixed-point iteration on
    2 h of simulated timeline (fixed seed, ~0.1 s each) scales the draw median down to
    compensate. It runs on the central speaker (``_flat``: both speakers alike, with the
    within-speaker spreads), so that the factor carries no sampling noise of a few drawn
    speakers; a constant of the config, the same for every conversation (so it cannot
    couple one part of a conversation to another). Cached."""
    flat = _flat(cfg)
    scale = 1.0
    for _ in range(3):
        segs = _timeline(replace(flat, conversation_s=7200.0), np.random.SeedSequence(0),
                         scale, Centres.of(flat))
        got = float(np.median([s.end_s - s.start_s for s in segs if s.kind == "ipu"]))
        scale *= cfg.ipu_median_s / got
    return scale


def _flat(cfg: SynthConfig) -> SynthConfig:
    """Every speaker the central one: no spreads across speakers, the within-speaker ones."""
    return replace(cfg, ipu_sigma=within_spread(cfg.ipu_sigma, cfg.ipu_median_log_sd),
                   pause_sigma=within_spread(cfg.pause_sigma, cfg.pause_median_log_sd),
                   fto_sd_ms=within_spread(cfg.fto_sd_ms, cfg.fto_mean_sd_ms),
                   ipu_median_log_sd=0.0, pause_median_log_sd=0.0, fto_mean_sd_ms=0.0,
                   p_yield_logit_sd=0.0, backchannels_log_sd=0.0, tempo_drift_s=0.0)


def population_centres(cfg: SynthConfig) -> Centres:
    """The central speaker that makes a pooled corpus realise the preset's statistics.

    Pooled statistics count events, and speakers differ in how many they make: one with
    short IPUs and early responses (a fast tempo) makes more IPUs and transitions, which
    pulls the pooled IPU median and FTO mean below the central speaker's (by 10 % and 30 ms
    for fisher-like). A fixed-point iteration on 20 h of timeline (600 conversations of
    120 s, fixed seed, ~2 s) moves the centre until the pooled IPU and pause medians, the
    FTO mean and the backchannel rate are the preset's. A constant of the config, cached;
    audio, length and drift do not enter (the drifting tempo keeps its N(0, 1) spread)."""
    return _centres(replace(cfg, name="centres", conversation_s=120.0, sample_rate_hz=8000,
                            telephone_band=True, noise_db=-60.0, level_db=-20.0,
                            val_share=0.1, test_share=0.1, tempo_drift_s=0.0))


@functools.lru_cache(maxsize=32)
def _centres(cfg: SynthConfig) -> Centres:
    centres = Centres.of(cfg)
    scale = ipu_draw_scale_for(_flat(cfg))
    # with overlap_dropout_ms the realised FTO mean follows the centre's with a slope well
    # below 1 (the negative tail is cut), so the fixed point needs more steps
    for _ in range(3 if cfg.overlap_dropout_ms == 0 else 8):
        got = _pooled([_timeline(cfg, np.random.SeedSequence(1, spawn_key=(i,)), scale, centres)
                       for i in range(600)])
        # an event the process never makes (no pause when every IPU hands over and the FTO
        # is too long to read as a backchannel: p_yield 1, fto_mean_ms 60000) has nothing
        # to calibrate: its centre stays (it was nan, a null in every manifest's style)
        centres = Centres(
            ipu_median_s=centres.ipu_median_s * cfg.ipu_median_s / got["ipu_median_s"],
            pause_median_s=centres.pause_median_s * cfg.pause_median_s / got["pause_median_s"]
            if got["pause_median_s"] == got["pause_median_s"] else centres.pause_median_s,
            fto_mean_ms=centres.fto_mean_ms + cfg.fto_mean_ms - got["fto_mean_ms"]
            if got["fto_mean_ms"] == got["fto_mean_ms"] else centres.fto_mean_ms,
            backchannels_per_s=centres.backchannels_per_s * cfg.backchannels_per_s
            / max(got["backchannels_per_s"], 1e-9) if cfg.backchannels_per_s > 0 else 0.0)
    _check_realised(cfg, got)
    return centres


# how far the calibrated process may land from a target before the config is refused: the
# range edges each key allows on its own land within 15 % (backchannels_per_s 0.45: 0.39/s,
# fto_mean_ms -750: 14 % fewer backchannels), the presets within 1.5 %
_REALISED_TOLERANCE = 0.25


def _check_realised(cfg: SynthConfig, got: dict[str, float]) -> None:
    """Refuse a config whose calibrated process misses a target by more than a quarter: each
    key in its range, together they can ask for what the process cannot make (ipu_sigma 10:
    a 12 s IPU median for 1.3 s, as every IPU stops at 12 s; pause_sigma 10: a 0.25 s pause
    median for 0.45 s; ipu_median_s 0.5 with backchannels_per_s 0.45: 0.15/s, no room to
    backchannel in) and built a corpus that silently was not the configured one."""
    from duplexsim.config.loader import FieldError, raise_errors

    errors = []
    for key, unit in (("ipu_median_s", "s"), ("pause_median_s", "s"),
                      ("backchannels_per_s", "/s"), ("fto_mean_ms", "ms")):
        want, real = float(getattr(cfg, key)), got[key]
        if real != real:  # never made (see _centres): nothing to miss
            continue
        scale = cfg.fto_sd_ms if key == "fto_mean_ms" else want  # FTO: against its spread
        if abs(real - want) > _REALISED_TOLERANCE * scale:
            errors.append(FieldError(
                key, f"the process makes {real:.3g} {unit} for {want:g} with the other "
                "parameters", f"a combination it realises within {_REALISED_TOLERANCE:.0%} "
                "(narrower ipu_sigma or pause_sigma; longer IPUs leave room for backchannels)"))
    raise_errors(errors)


def check_realisable(cfg: SynthConfig, where: str) -> None:
    """Calibrate now (seconds; cached for a build that follows): a config the process cannot
    realise (:func:`population_centres`) is refused, each problem naming ``where`` (its file,
    or the preset). What ``corpus build`` refuses before writing anything, and ``duplexsim
    validate`` reports for a corpus config (:func:`validate_synth_toml`)."""
    from duplexsim.errors import ConfigError

    try:
        population_centres(cfg)
    except ConfigError as e:
        raise ConfigError([replace(p, file=p.file or where) for p in e.problems]) from None


def validate_synth_toml(path: str | Path) -> SynthConfig:
    """A corpus config file as ``duplexsim validate`` checks it: its keys
    (:func:`~duplexsim.corpora.config.load_synth_toml`), then whether the process realises
    them (:func:`check_realisable`), as ``corpus build --config`` checks it."""
    from duplexsim.corpora.config import load_synth_toml

    cfg = load_synth_toml(path)
    check_realisable(cfg, str(path))
    return cfg


def _pooled(timelines: list[list[Segment]]) -> dict[str, float]:
    """Pooled IPU and pause medians, FTO mean and backchannels per second of partner speech
    of timelines, read off the placed segments (as ``metrics.turntaking`` reads them back:
    tests/corpora/test_synth_turntaking.py)."""
    ipus: list[float] = []
    pauses: list[float] = []
    ftos: list[float] = []
    n_bc = 0
    for segs in timelines:
        floor = [s for s in segs if s.kind == "ipu"]
        n_bc += len(segs) - len(floor)
        ipus += [s.end_s - s.start_s for s in floor]
        for a, b in zip(floor, floor[1:], strict=False):
            (pauses if a.speaker == b.speaker else ftos).append(b.start_s - a.end_s)
    nan = float("nan")  # none of them: nan, without numpy's "Mean of empty slice" warning
    return {"ipu_median_s": float(np.median(ipus)),
            "pause_median_s": float(np.median(pauses)) if pauses else nan,
            "fto_mean_ms": 1000 * float(np.mean(ftos)) if ftos else nan,
            "backchannels_per_s": n_bc / sum(ipus)}


def conversation_style(cfg: SynthConfig, seed: int | np.random.SeedSequence) -> ConversationStyle:
    """The style conversation ``seed`` is drawn with (what :func:`generate` and
    :func:`simulate_timeline` use; cheap: no process, no TTS). Its speakers' parameters:
    ``style.speaker(cfg, population_centres(cfg), who)``; for the manifest
    ``style.record(cfg, population_centres(cfg))``."""
    ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    return draw_style(cfg, np.random.default_rng(_children(ss)[2]))


def simulate_timeline(cfg: SynthConfig, seed: int | np.random.SeedSequence) -> list[Segment]:
    """Segments of one conversation without TTS: IPUs last their target (0.25..12 s),
    backchannels 0.25-0.6 s (espeak-ng's range for the words used). For testing the
    process's statistics over many hours in well under a second. Same style as
    :func:`generate` draws for ``seed`` (:func:`conversation_style`)."""
    ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    return _timeline(cfg, ss, None, population_centres(cfg))


def _styles(cfg: SynthConfig, ss: np.random.SeedSequence, centres: Centres) -> TempoDrift:
    _, _, style_ss, drift_ss = _children(ss)
    style = draw_style(cfg, np.random.default_rng(style_ss))
    return TempoDrift(cfg, centres, style, np.random.default_rng(drift_ss))


def _timeline(cfg: SynthConfig, ss: np.random.SeedSequence, ipu_draw_scale: float | None,
              centres: Centres) -> list[Segment]:
    proc_ss, dur_ss, _, _ = _children(ss)
    proc_rng, dur_rng = np.random.default_rng(proc_ss), np.random.default_rng(dur_ss)

    def utter(speaker: int, kind: str, target_s: float) -> tuple[str, float, object]:
        if kind == "backchannel":
            return "", float(dur_rng.uniform(0.25, 0.6)), None
        return "", float(np.clip(target_s, 0.25, 12.0)), None

    placed = turn_taking(cfg, proc_rng, utter, _styles(cfg, ss, centres), ipu_draw_scale)
    return [seg for seg, _ in placed]


def _children(seed: np.random.SeedSequence) -> tuple[np.random.SeedSequence, ...]:
    """Independent streams (process, rendering, style, tempo drift), without mutating
    ``seed``."""
    return tuple(np.random.SeedSequence(seed.entropy, spawn_key=(*seed.spawn_key, k))
                 for k in (0, 1, 2, 3))


def generate(cfg: SynthConfig, seed: np.random.SeedSequence,
             cache_dir: str | Path | None = None) -> tuple[np.ndarray, list[Segment], dict]:
    """One conversation: ``(audio [2, N] float32, segments, meta)``; deterministic in seed.

    ``meta``: ``{"voices": [...], "style": ConversationStyle.record}``."""
    proc_ss, render_ss, _, _ = _children(seed)
    rng = np.random.default_rng(render_ss)
    text = TextStream(rng)
    styles = _styles(cfg, seed, population_centres(cfg))
    voices = [styles.speaker(w, 0.0).tts_voice() for w in (0, 1)]
    cache = Path(cache_dir) if cache_dir is not None else None
    spk = [_Speaker(v, 10 ** ((cfg.level_db + rng.uniform(-3, 3)) / 20), cfg, cache)
           for v in voices]
    sr = cfg.sample_rate_hz

    def utter(speaker: int, kind: str, target_s: float) -> tuple[str, float, object]:
        if kind == "backchannel":
            words = BACKCHANNELS[int(rng.integers(len(BACKCHANNELS)))]
            wave = spk[speaker].say(words)
            wave = wave * spk[speaker].gain / max(_rms(wave), 1e-6)
        elif cfg.yield_cue and kind == "turn-end":
            tag = YIELD_TAGS[int(rng.integers(len(YIELD_TAGS)))]
            words, wave = spk[speaker].ipu(target_s, text, tag, "?")
        else:
            words, wave = spk[speaker].ipu(target_s, text, end="," if cfg.yield_cue else "")
        return words, len(wave) / sr, wave

    placed = turn_taking(cfg, np.random.default_rng(proc_ss), utter, styles)
    audio = np.zeros((2, int(round(cfg.conversation_s * sr))), dtype=np.float32)
    for seg, wave in placed:
        if not isinstance(wave, np.ndarray):  # utter's payload: its wave
            raise TypeError(f"generate: a placed utterance holds {type(wave).__name__}, "
                            "not its wave")
        i = int(round(seg.start_s * sr))
        n = int(round((seg.end_s - seg.start_s) * sr))
        if n < len(wave) - int(_CUT_FADE_S * sr):  # dropped out when overlapped
            wave = _cut(wave, n, int(_CUT_FADE_S * sr))
        w = wave[: max(0, audio.shape[1] - i)]
        audio[seg.speaker, i : i + len(w)] += w
    segments = [seg for seg, _ in placed]
    audio += rng.normal(0.0, 10 ** (cfg.noise_db / 20), audio.shape)
    meta = {"voices": [v.key() for v in voices], "style": styles.style.record(cfg, styles.centres)}
    return np.clip(audio, -1, 1).astype(np.float32), segments, meta
