"""The turn-taking process of a synthetic conversation: who speaks when, draw by draw.

Each conversation first draws its style (:mod:`duplexsim.corpora.style`: both speakers'
turn-taking parameters and a shared tempo). :func:`turn_taking` then generates it left to
right, independent of how utterances are made (an ``Utter`` callback returns each one's
realised duration): the floor holder speaks an IPU (lognormal around its own median), then
yields with its ``p_yield`` (the partner starts after a normal floor-transfer offset around
the partner's FTO mean; negative = overlap) or pauses (lognormal). The FTO is drawn first
and never clipped; IPUs are drawn conditioned on being long enough for it, with a draw
median scaled so the realised IPU median is the drawn one (:func:`ipu_draw_scale_for`). The
listener backchannels inside the holder's IPUs (Poisson, its own rate per second of partner
speech, deficits carried over), only after >= 1 s of own silence. Every draw is independent
of the conversation's earlier draws beyond its style. With ``overlap_dropout_ms`` the
outgoing speaker of an overlapping hand-over stops a reaction time after the incoming one
starts (its words cut there) instead of finishing the IPU it planned. The process is built
so that the event definitions of ``metrics.turntaking`` read back what was generated
(tests/corpora/test_synth_turntaking.py).

Also each conversation's seed streams (:func:`conversation_streams`) and its timeline without
TTS (:func:`timeline`). Rendering with TTS is :func:`duplexsim.corpora.synth.generate`;
calibrating to a preset's pooled statistics is :mod:`duplexsim.corpora.calibration`. Must
not know about audio, tokenizers or the corpus directory layout.
"""
from __future__ import annotations

import functools
from dataclasses import replace
from typing import Protocol

import numpy as np
from scipy.special import ndtr, ndtri

from duplexsim.corpora.config import SynthConfig
from duplexsim.corpora.style import Centres, TempoDrift, draw_style, within_spread
from duplexsim.corpora.types import Segment


def _lognormal(rng: np.random.Generator, median: float, sigma: float) -> float:
    return float(np.exp(rng.normal(np.log(median), sigma)))


# A constraint margin: the incoming speaker starts at least this long after the outgoing IPU
# starts and after its own last speech ends (> the 200 ms pause bridging of the metrics, so
# the measured IPU starts where it was placed and the outgoing IPU has a sole-speaker run).
_MARGIN_S = 0.3
_BC_PRE_S = 1.05  # own silence before a backchannel (the metrics require >= 1 s)
_BC_OWED_MAX = 8
_BC_MAX_S, _BC_CONTEXT_S = 1.1, 1.1  # the metrics' backchannel limits (1 s) plus a frame
# ``overlap_dropout_ms``: spread of the reaction time (natural-log units), and the shortest
# cut that counts as dropping out (a speaker this close to its planned end just finishes)
_DROPOUT_SIGMA, _DROPOUT_MIN_CUT_S = 0.3, 0.05


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
            text, dur, fto = self.drop_out(holder, t, dur, text, fto, nxt)
        self.place(holder, t, dur, text, "ipu", payload)
        # the listener's backchannels end >= 1 s before it takes the floor (else they are the
        # start of its turn, not backchannels)
        self.backchannels(other, t, min(t + dur, nxt - 1.0), dur)
        return nxt, fto

    def drop_out(self, holder: int, t: float, dur: float, text: str, fto: float,
                 nxt: float) -> tuple[str, float, float]:
        """``overlap_dropout_ms``: the holder's IPU at ``t`` (``dur`` long, ``text``), which the
        partner starts into at ``nxt`` (``fto`` < 0), stops a reaction time after that: its
        ``(text, dur, fto)`` cut there (the uncut IPU kept in :attr:`cut`), or as they were
        when it would stop too close to its planned end to count as dropping out."""
        stop = _lognormal(self.rng, self.cfg.overlap_dropout_ms / 1000.0, _DROPOUT_SIGMA)
        if -fto - stop >= _DROPOUT_MIN_CUT_S:
            cut_dur = nxt + stop - t
            self.cut = (len(self.placed),
                        Segment(holder, round(t, 4), round(t + dur, 4), text, "ipu"))
            text, dur, fto = _cut_words(text, cut_dur / dur), cut_dur, -stop
        return text, dur, fto


def turn_taking(cfg: SynthConfig, rng: np.random.Generator, utter: Utter,
                styles: TempoDrift, ipu_draw_scale: float | None = None,
                ) -> list[tuple[Segment, object]]:
    """The turn-taking process of one conversation: segments (time order) and payloads.

    ``utter`` makes each utterance (TTS for a corpus, a duration model for
    :func:`~duplexsim.corpora.synth.simulate_timeline`); its realised duration is what gets
    placed. ``styles`` gives each speaker's parameters over time. IPUs are drawn around the
    speaker's median times ``ipu_draw_scale`` (default: :func:`ipu_draw_scale_for`)."""
    scale = ipu_draw_scale if ipu_draw_scale is not None else ipu_draw_scale_for(flat_config(cfg))
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
    compensate. It runs on the central speaker (``flat_config``: both speakers alike, with the
    within-speaker spreads), so that the factor carries no sampling noise of a few drawn
    speakers; a constant of the config, the same for every conversation (so it cannot
    couple one part of a conversation to another). Cached."""
    flat = flat_config(cfg)
    scale = 1.0
    for _ in range(3):
        segs = timeline(replace(flat, conversation_s=7200.0), np.random.SeedSequence(0),
                        scale, Centres.of(flat))
        got = float(np.median([s.end_s - s.start_s for s in segs if s.kind == "ipu"]))
        scale *= cfg.ipu_median_s / got
    return scale


def flat_config(cfg: SynthConfig) -> SynthConfig:
    """Every speaker the central one: no spreads across speakers, the within-speaker ones."""
    return replace(cfg, ipu_sigma=within_spread(cfg.ipu_sigma, cfg.ipu_median_log_sd),
                   pause_sigma=within_spread(cfg.pause_sigma, cfg.pause_median_log_sd),
                   fto_sd_ms=within_spread(cfg.fto_sd_ms, cfg.fto_mean_sd_ms),
                   ipu_median_log_sd=0.0, pause_median_log_sd=0.0, fto_mean_sd_ms=0.0,
                   p_yield_logit_sd=0.0, backchannels_log_sd=0.0, tempo_drift_s=0.0)


def tempo_drift(cfg: SynthConfig, ss: np.random.SeedSequence, centres: Centres) -> TempoDrift:
    """Both speakers' parameters over conversation ``ss`` (its style and tempo drift)."""
    _, _, style_ss, drift_ss = conversation_streams(ss)
    style = draw_style(cfg, np.random.default_rng(style_ss))
    return TempoDrift(cfg, centres, style, np.random.default_rng(drift_ss))


def timeline(cfg: SynthConfig, ss: np.random.SeedSequence, ipu_draw_scale: float | None,
             centres: Centres) -> list[Segment]:
    """Conversation ``ss``'s segments without TTS (what
    :func:`~duplexsim.corpora.synth.simulate_timeline` gives, at any ``centres`` and IPU
    draw scale: the calibrations run it)."""
    proc_ss, dur_ss, _, _ = conversation_streams(ss)
    proc_rng, dur_rng = np.random.default_rng(proc_ss), np.random.default_rng(dur_ss)

    def utter(speaker: int, kind: str, target_s: float) -> tuple[str, float, object]:
        if kind == "backchannel":
            return "", float(dur_rng.uniform(0.25, 0.6)), None
        return "", float(np.clip(target_s, 0.25, 12.0)), None

    placed = turn_taking(cfg, proc_rng, utter, tempo_drift(cfg, ss, centres), ipu_draw_scale)
    return [seg for seg, _ in placed]


def conversation_streams(seed: np.random.SeedSequence) -> tuple[np.random.SeedSequence, ...]:
    """Independent streams (process, rendering, style, tempo drift), without mutating
    ``seed``."""
    return tuple(np.random.SeedSequence(seed.entropy, spawn_key=(*seed.spawn_key, k))
                 for k in (0, 1, 2, 3))

