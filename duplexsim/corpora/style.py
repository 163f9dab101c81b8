"""Conversation style: each speaker's turn-taking parameters and the pair's shared tempo.

Real conversations differ: a fast pair stays fast, a pair that overlaps keeps overlapping.
A synthetic conversation draws its style once, from its own seed, before anything is said:

- a **tempo** ``T ~ N(0, 1)`` shared by both speakers (> 0: faster: shorter IPUs and
  pauses, earlier floor transfers, more hand-overs, fewer backchannels, faster speech);
- for each speaker and style parameter ``k`` an own deviation ``e_k ~ N(0, 1)``, mixed
  with the tempo as ``z_k = sqrt(rho) * sign_k * T + sqrt(1 - rho) * e_k`` where ``rho`` is
  ``SynthConfig.entrainment`` (so each ``z_k`` is N(0, 1) and partners correlate by rho);
- the parameter is the population centre moved by ``z_k`` times its population spread
  (:func:`speaker_style`), the within-speaker spread what is left of the preset's, so that
  the pooled distribution over speakers stays the preset's (the centre corrects for fast
  speakers making more events: ``calibration.population_centres``).

With ``tempo_drift_s > 0`` the tempo wanders slowly within the conversation
(:class:`TempoDrift`); the recorded style is then the one at t = 0. The voice (espeak-ng
variant, language, pitch) is drawn here too, and the speech rate follows ``z_rate``.
Must not know about TTS rendering, corpora on disk or metrics.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy.special import expit, logit, ndtr

from duplexsim.corpora.config import SynthConfig
from duplexsim.corpora.tts import Voice

VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5")
LANGS = ("en-us", "en-gb", "en-us", "en-gb-scotland")
# How a faster tempo moves each parameter: -1 lowers it, +1 raises it. Backchannels go
# down: a quick exchange of short turns leaves less to backchannel (and less room to).
TEMPO_SIGN = {"ipu": -1.0, "pause": -1.0, "fto": -1.0, "p_yield": 1.0, "backchannels": -1.0,
              "rate": 1.0}
PARAMS = tuple(TEMPO_SIGN)


@dataclass(frozen=True)
class Centres:
    """The population's central speaker: the preset's values, or those that make a pooled
    corpus realise the preset's (``calibration.population_centres``: pooled statistics weight
    each speaker by how many events it makes, and fast speakers make more)."""

    ipu_median_s: float
    pause_median_s: float
    fto_mean_ms: float
    backchannels_per_s: float

    @classmethod
    def of(cls, cfg: SynthConfig) -> Centres:
        return cls(cfg.ipu_median_s, cfg.pause_median_s, cfg.fto_mean_ms,
                   cfg.backchannels_per_s)


@dataclass(frozen=True)
class SpeakerStyle:
    """One speaker's turn-taking parameters (what the manifest records per channel).

    ``fto_mean_ms`` is the mean offset of the transitions *into* this speaker's turns (how
    fast it responds); ``backchannels_per_s`` is per second of partner speech. The
    ``*_sigma`` / ``fto_sd_ms`` spreads are within the speaker (the same for every speaker
    of a preset)."""

    ipu_median_s: float
    ipu_sigma: float
    pause_median_s: float
    pause_sigma: float
    fto_mean_ms: float
    fto_sd_ms: float
    p_yield: float
    backchannels_per_s: float
    voice: str
    pitch: int
    rate_wpm: int

    def tts_voice(self) -> Voice:
        return Voice(self.voice, self.pitch, self.rate_wpm)


@dataclass(frozen=True)
class ConversationStyle:
    """The drawn style of one conversation: tempo at t = 0, each speaker's own deviations
    (standard normal, one per :data:`PARAMS`) and voice (name, pitch)."""

    tempo: float
    own: tuple[tuple[float, ...], tuple[float, ...]]
    voices: tuple[tuple[str, int], tuple[str, int]]

    def speaker(self, cfg: SynthConfig, centres: Centres, who: int,
                tempo: float | None = None) -> SpeakerStyle:
        """Speaker ``who``'s parameters at ``tempo`` (default: the drawn one, t = 0)."""
        t = self.tempo if tempo is None else tempo
        rho = cfg.entrainment
        z = {k: math.sqrt(rho) * TEMPO_SIGN[k] * t + math.sqrt(1 - rho) * e
             for k, e in zip(PARAMS, self.own[who], strict=True)}
        return speaker_style(cfg, centres, z, *self.voices[who])

    def record(self, cfg: SynthConfig, centres: Centres) -> dict:
        """What the manifest stores: ``{"tempo", "entrainment", "speakers": [..., ...]}``."""
        return {"tempo": round(self.tempo, 6), "entrainment": cfg.entrainment,
                "tempo_drift_s": cfg.tempo_drift_s,
                "speakers": [{k: round(v, 6) if isinstance(v, float) else v
                              for k, v in asdict(self.speaker(cfg, centres, w)).items()}
                             for w in (0, 1)]}


def within_spread(pooled: float, between: float) -> float:
    """The spread left inside one speaker when speakers differ by ``between``."""
    return math.sqrt(max(pooled**2 - between**2, 0.0))


def speaker_style(cfg: SynthConfig, centres: Centres, z: dict[str, float], voice: str,
                  pitch: int) -> SpeakerStyle:
    """Parameters of a speaker ``z`` population standard deviations from the centre."""
    s_bc = cfg.backchannels_log_sd
    lo, hi = cfg.rate_wpm
    return SpeakerStyle(
        ipu_median_s=centres.ipu_median_s * math.exp(cfg.ipu_median_log_sd * z["ipu"]),
        ipu_sigma=within_spread(cfg.ipu_sigma, cfg.ipu_median_log_sd),
        pause_median_s=centres.pause_median_s * math.exp(cfg.pause_median_log_sd * z["pause"]),
        pause_sigma=within_spread(cfg.pause_sigma, cfg.pause_median_log_sd),
        fto_mean_ms=centres.fto_mean_ms + cfg.fto_mean_sd_ms * z["fto"],
        fto_sd_ms=within_spread(cfg.fto_sd_ms, cfg.fto_mean_sd_ms),
        # spread on the logit scale; p_yield 1 (allowed: [0.01, 1]) is its limit, every
        # speaker yields after every IPU (it was clipped to 1 - 1e-6 and came out 0.999999)
        p_yield=cfg.p_yield if cfg.p_yield_logit_sd == 0 or cfg.p_yield == 1 else float(
            expit(logit(cfg.p_yield) + cfg.p_yield_logit_sd * z["p_yield"])),
        # lognormal with its mean (not median) at the preset's rate: the pooled rate holds
        backchannels_per_s=centres.backchannels_per_s * math.exp(s_bc * z["backchannels"]
                                                             - s_bc**2 / 2),
        voice=voice, pitch=pitch,
        rate_wpm=int(round(lo + (hi - lo) * float(ndtr(z["rate"])))),
    )


def draw_style(cfg: SynthConfig, rng: np.random.Generator) -> ConversationStyle:
    """A conversation's style from its own generator (same draws whatever the config)."""
    tempo = float(rng.standard_normal())
    own = tuple(tuple(float(x) for x in rng.standard_normal(len(PARAMS))) for _ in range(2))
    va, vb = rng.choice(len(VARIANTS), size=2, replace=False)  # two distinct voices
    langs = rng.integers(len(LANGS), size=2)
    pitches = rng.integers(cfg.pitch[0], cfg.pitch[1] + 1, size=2)
    voices = tuple((f"{LANGS[int(lang)]}+{VARIANTS[int(v)]}", int(p))
                   for lang, v, p in zip(langs, (va, vb), pitches, strict=True))
    return ConversationStyle(tempo, own, voices)  # type: ignore[arg-type]


class TempoDrift:
    """The tempo over time: constant, or an Ornstein-Uhlenbeck process with correlation
    time ``tempo_drift_s`` that starts at the drawn tempo and keeps its N(0, 1) spread."""

    def __init__(self, cfg: SynthConfig, centres: Centres, style: ConversationStyle,
                 rng: np.random.Generator):
        self.cfg, self.centres, self.style, self.rng = cfg, centres, style, rng
        self.t_s, self.tempo = 0.0, style.tempo
        self.start = tuple(style.speaker(cfg, centres, w) for w in (0, 1))

    def speaker(self, who: int, t_s: float) -> SpeakerStyle:
        """Speaker ``who``'s parameters at time ``t_s`` (calls in non-decreasing time)."""
        if self.cfg.tempo_drift_s <= 0:
            return self.start[who]
        if t_s > self.t_s:
            a = math.exp(-(t_s - self.t_s) / self.cfg.tempo_drift_s)
            self.tempo = a * self.tempo + math.sqrt(1 - a * a) * float(self.rng.standard_normal())
            self.t_s = t_s
        return self.style.speaker(self.cfg, self.centres, who, self.tempo)
