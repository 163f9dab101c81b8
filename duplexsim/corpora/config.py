"""The schema of a synthetic corpus: :class:`SynthConfig`, the presets, and loading them.

A preset describes a *population* of conversations (DESIGN.md "Corpora"): the pooled
turn-taking distributions every corpus of it must realise, and how much speakers and
conversations differ from one another (their style, drawn by :mod:`duplexsim.corpora.style`).
Must not import anything heavy: ``duplexsim validate`` reads corpus configs through it.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from duplexsim.config.field_errors import FieldError, raise_errors
from duplexsim.config.field_values import plain_fields
from duplexsim.errors import MAX_DURATION_S, finite_in
from duplexsim.timebase import round_half_up
from duplexsim.tokens import FRAME_MS


def whole_frame_length(conversation_s: float) -> float:
    """``conversation_s`` when it is a whole number of ``FRAME_MS`` unit frames (to 1e-6 of a
    frame), else the nearest length that is (half up, the project's one rounding rule)."""
    frames = conversation_s * 1000 / FRAME_MS
    nearest = round_half_up(frames)
    return conversation_s if abs(frames - nearest) < 1e-6 else nearest * FRAME_MS / 1000


@dataclass(frozen=True)
class SynthConfig:
    """Turn-taking, style and audio parameters of a synthetic corpus (DESIGN.md "Corpora").

    The turn-taking distributions (``ipu_*``, ``pause_*``, ``fto_*``, ``p_yield``,
    ``backchannels_per_s``) are those of the whole corpus, pooled over speakers. Each
    speaker's own parameters scatter around them (the ``*_sd`` spreads below), so that the
    pooled distribution stays the configured one: a speaker's IPUs are lognormal with
    sigma ``sqrt(ipu_sigma**2 - ipu_median_log_sd**2)`` around its own median, and so on.
    """

    name: str = "fisher-like"
    conversation_s: float = 600.0  # Fisher calls are about 10 minutes
    sample_rate_hz: int = 8000
    telephone_band: bool = True  # 300-3400 Hz band-pass, as a landline
    ipu_median_s: float = 1.3
    ipu_sigma: float = 0.75  # pooled over speakers (natural-log units)
    pause_median_s: float = 0.45
    pause_sigma: float = 0.5  # pooled over speakers (natural-log units)
    p_yield: float = 0.45
    fto_mean_ms: float = 180.0
    fto_sd_ms: float = 450.0  # pooled over speakers
    backchannels_per_s: float = 0.12  # per second of partner speech (pooled mean)
    # --- style: how speakers and conversations differ (duplexsim.corpora.style) ---
    # The three spreads below are calibrated on 3000 simulated 120 s conversations so that
    # the mean IPU, pause and FTO of the first 30 s predict those of the next 90 s as much
    # as in the real corpus (SyncLLM paper, Table 7, GT rows; Fisher r = 0.72, 0.53, 0.31;
    # simulated 0.71, 0.57, 0.32). Pauses aim 0.035 high: in a built corpus the units'
    # voice activity also finds the TTS's gaps between words, which lowers the pause r by
    # about 0.07 against the annotations (3 corpora), so both views land within ~0.04.
    # tests/corpora/test_style.py checks it. A larger spread raises that r; 0: all alike.
    ipu_median_log_sd: float = 0.39  # sd of ln(speaker's IPU median) across speakers
    pause_median_log_sd: float = 0.21  # sd of ln(speaker's pause median) across speakers
    fto_mean_sd_ms: float = 128.0  # sd of a speaker's FTO mean (its responses) across speakers
    # speakers differ in how often they hand over, not just in durations (about +-0.07
    # around 0.45 at 1 sd); not calibrated against a target
    p_yield_logit_sd: float = 0.3
    # listeners differ a lot in how often they backchannel: 0.4 puts the 90th percentile
    # speaker at 2.8x the 10th (an assumption, not calibrated); lognormal, its mean at
    # backchannels_per_s
    backchannels_log_sd: float = 0.4
    # share of each style parameter's across-speaker variance that the conversation's
    # shared tempo sets (0: partners independent, 1: both identical); partners entrain in
    # rate and timing (Levitan & Hirschberg 2011), half is a middle assumption
    entrainment: float = 0.5
    # correlation time of the tempo's slow drift within a conversation (an Ornstein-
    # Uhlenbeck process that keeps its N(0, 1) spread); 0 = no drift. Off by default: the
    # paper's GT correlations are met by sampling noise alone
    tempo_drift_s: float = 0.0
    # whether the speaker's hand-over is audible before the gap: an IPU after which the
    # speaker yields ends in a question tag ("... you know?", question intonation), one
    # after which it goes on ends with a comma (continuing intonation). Real speakers signal
    # a turn's end by syntax and prosody before they stop, and listeners project it; without
    # a cue the hand-over is a coin no listener can hear (an agent's hand-over AUC 0.51).
    # Off in the presets: agents trained with it hear it (AUC 0.70) but overlap as much in
    # self-play (docs/results/selfplay/diagnosis.md, finding 12); for studies of projection
    yield_cue: bool = False
    # how an overlapping hand-over ends. 0: the outgoing speaker finishes the IPU it planned,
    # so an overlap lasts as long as the incoming speaker started early and always ends at
    # a pre-planned IPU end: no speaker in the corpus ever stops *because* it is overlapped.
    # > 0: the outgoing speaker drops out this long (median ms; lognormal, sigma 0.3) after
    # the incoming one starts, when that comes >= 50 ms before its planned end; its speech
    # is cut there (10 ms fade) and its words in proportion. People resolve overlap within
    # a syllable or two (Schegloff 2000, "Overlapping talk and the organization of
    # turn-taking"). It truncates the FTO's negative tail: the population centre moves to
    # keep the FTO mean (realised within ~15 ms of the off value at the presets' spread,
    # ~30 ms at fto_sd_ms = 900), but the FTO spread (fisher-like 380 against 445 ms) and
    # the overlap share fall below DESIGN.md's targets: off in the presets; for studies of
    # how agents learn to resolve overlap (docs/results/selfplay/diagnosis.md, finding 16)
    overlap_dropout_ms: float = 0.0
    # --- audio ---
    noise_db: float = -60.0  # background noise floor (dBFS rms)
    level_db: float = -20.0  # speech level (dBFS rms), +-3 dB per speaker
    rate_wpm: tuple[int, int] = (150, 190)  # espeak-ng speech rate range; faster tempo, faster
    pitch: tuple[int, int] = (25, 75)
    val_share: float = 0.1
    test_share: float = 0.1

    def __post_init__(self) -> None:
        # NumPy scalars (a sweep's np.linspace) as the Python ones; a list (keywords, a
        # manifest's JSON) for rate_wpm or pitch as the tuple its type says: the config is
        # hashed (synth's caches)
        plain_fields(self)
        checks = _FieldChecks(self)
        self._check_length_and_types(checks)
        self._check_ranges(checks)
        checks.need(isinstance(self.name, str)
                    and re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", self.name) is not None,
                    "name", f"{self.name!r} (dialogue ids and file names are made from it)",
                    "letters, digits, '.', '_', '-', starting with a letter or digit")
        self._check_style(checks)
        self._check_voice(checks)
        checks.need(bool({"val_share", "test_share"} & checks.not_numbers)
                    or 0 <= self.val_share + self.test_share < 1, "test_share",
                    "val_share + test_share must be in [0, 1)", "[0, 1)", depends=("val_share",))
        raise_errors(checks.errors)

    def _check_length_and_types(self, checks: _FieldChecks) -> None:
        """``conversation_s`` (in range, whole unit frames), the sample rate and the switches."""
        need = checks.need
        need(finite_in(self.conversation_s, 5, MAX_DURATION_S), "conversation_s",
             f"{self.conversation_s} is out of range", f"5 .. {MAX_DURATION_S:g} s")
        if finite_in(self.conversation_s, 5, MAX_DURATION_S):
            # whole unit frames: 20.01 s gave units of 500 frames under a manifest whose
            # duration_s said 500.25
            nearest = whole_frame_length(self.conversation_s)
            need(nearest == self.conversation_s, "conversation_s",
                 f"{self.conversation_s} s is not a whole number of {FRAME_MS} ms unit frames",
                 f"a multiple of {FRAME_MS / 1000:g} s, e.g. {nearest:g}")
        # the types too where a TOML file's are checked by its reader but keywords are not:
        # yield_cue="no" switched the cue on, sample_rate_hz=8000.0 wrote 8000.0 to the manifest
        need(type(self.sample_rate_hz) is int
             and self.sample_rate_hz in (8000, 16000, 22050, 24000, 44100, 48000),
             "sample_rate_hz", f"unsupported rate {self.sample_rate_hz!r}",
             "8000, 16000, 22050, 24000, 44100, 48000")
        for f in ("telephone_band", "yield_cue"):
            need(isinstance(getattr(self, f), bool), f, f"{getattr(self, f)!r}", "true or false")

    def _check_ranges(self, checks: _FieldChecks) -> None:
        """The pooled turn-taking distributions, audio levels and split shares: finite and in
        the range the synthesis realises, ``p_yield`` a probability >= 0.01."""
        need, value = checks.need, checks.value
        # finite and in range: a nan or inf here would loop forever or write silence
        # an IPU is at most 12 s (synth), backchannels saturate near 0.45/s (a listener's
        # own silence and the owed-backchannel cap), speech over -12 dBFS rms clips: a value
        # past these validated and the corpus quietly missed it (ipu_median_s 20 and 60 both
        # gave 12.0 s, backchannels_per_s 1 and 5 both 0.44/s, level_db -6 clipped 7.9 %).
        # The low ends likewise (measured on 300 x 120 s timelines against the fisher-like
        # targets): IPUs and pauses last at least 0.25 s (synth), and IPUs under 0.5 s leave
        # no room to backchannel in (ipu_median_s 0.3 gave 0.34 s and 0.02 backchannels/s
        # for 0.12; 0.001 calibrated a centre of 6e-11 s); the calibration runs on 120 s
        # conversations (calibration.population_centres), so a longer pause is never drawn there
        # (pause_median_s 600 calibrated to nan: every pause came out 0.25 s); an FTO far
        # below 0 needs IPUs longer than the median (fto_mean_ms -1000 gave IPUs 10 % long
        # and half the backchannels, -3000 none, -60000 a traceback), a wide FTO spread the
        # same for its negative tail (fto_sd_ms 3000 moved the FTO mean 75 ms, 60000
        # calibrated a centre of -19 s)
        low: float
        high: float
        for f, low, high in (("ipu_sigma", 0, 10), ("pause_median_s", 0.25, 60),
                             ("pause_sigma", 0, 10), ("fto_sd_ms", 0, 1500)):
            need(finite_in(value(f), low, high, low_open=True), f,
                 f"{value(f)} is out of range", f"> {low} and <= {high}")
        for f, low, high in (("ipu_median_s", 0.5, 12), ("fto_mean_ms", -750, 60_000),
                             ("backchannels_per_s", 0, 0.45),
                             ("overlap_dropout_ms", 0, 5000),
                             ("noise_db", -200, 0), ("level_db", -100, -12),
                             ("val_share", 0, 1), ("test_share", 0, 1)):
            need(finite_in(value(f), low, high), f, f"{value(f)} is out of range",
                 f"{low} .. {high}")
        # >= 0.01: the calibration (20 h of 120 s timelines) needs floor transfers to set
        # the FTO centre; at 1e-6 it met none, the centre was nan, and the first hand-over
        # of a build raised "Segment: start_s nan" after rendering up to it
        need(finite_in(self.p_yield, 0.01, 1), "p_yield",
             f"must be a probability >= 0.01, got {self.p_yield}", "[0.01, 1]")

    def _check_style(self, checks: _FieldChecks) -> None:
        """The spreads across speakers (each below the pooled spread that contains it) and
        ``entrainment``."""
        need, value = checks.need, checks.value
        # spreads in units where more is no longer a population (e^5 = 150x on a log scale)
        for f, high in (("ipu_median_log_sd", 5.0), ("pause_median_log_sd", 5.0),
                        ("fto_mean_sd_ms", 60_000.0), ("p_yield_logit_sd", 20.0),
                        ("backchannels_log_sd", 5.0), ("tempo_drift_s", MAX_DURATION_S)):
            need(finite_in(value(f), 0, high), f,
                 f"a spread must be >= 0, got {value(f)}"
                 if f not in checks.not_numbers and not value(f) >= 0 else
                 f"{value(f)} is out of range", f"0 .. {high:g}")
        for spread, pooled in (("ipu_median_log_sd", "ipu_sigma"),
                               ("pause_median_log_sd", "pause_sigma"),
                               ("fto_mean_sd_ms", "fto_sd_ms")):
            if (not {spread, pooled} & checks.not_numbers and value(spread) >= 0
                    and value(pooled) > 0):
                # the pooled spread contains it
                need(value(spread) < value(pooled), spread,
                     f"must be below {pooled} = {value(pooled)}, got {value(spread)}",
                     f"[0, {value(pooled)})", depends=(pooled,))
        # a number (a keyword "0.5" raised TypeError from '<=', True passed as 1)
        need(finite_in(self.entrainment, 0, 1), "entrainment",
             f"a correlation between partners, got {self.entrainment!r}", "[0, 1]")

    def _check_voice(self, checks: _FieldChecks) -> None:
        """``rate_wpm`` and ``pitch``: pairs of whole numbers in espeak-ng's ranges."""
        # each of a pair a whole number, as a TOML file's reader has it ("rate_wpm[0]: wrong
        # type string (allowed: integer)"): a keyword ["1", 2] was "['1', 2]" with the range,
        # a bare 150 a TypeError, [25.5, 70] drawn as 25 .. 70
        for f, low, high in (("rate_wpm", 80, 450), ("pitch", 0, 99)):  # espeak-ng's -s, -p
            given, allowed = getattr(self, f), f"[low, high] with {low} <= low <= high <= {high}"
            if not isinstance(given, tuple) or len(given) != 2:
                shown = list(given) if isinstance(given, tuple) else given
                checks.need(False, f, f"must be a pair, got {shown!r}", allowed)
            elif not all(type(x) is int for x in given):
                checks.need(False, f, f"must be whole numbers, got {list(given)!r}", allowed)
            else:
                checks.need(all(low <= x <= high for x in given) and given[0] <= given[1], f,
                            f"{list(given)}", allowed)


class _FieldChecks:
    """The errors :class:`SynthConfig`'s checks find, in the order they find them."""

    def __init__(self, config: SynthConfig) -> None:
        self.config = config
        self.errors: list[FieldError] = []
        # a TOML file's types are checked by its reader, keywords are not: a number given
        # as a string (ipu_median_s="1.3") was "out of range", and fto_sd_ms="3" a TypeError
        # from a comparison below. Such a field is named once, as no number, with its range;
        # the checks that compare it with another field are skipped.
        self.not_numbers = {f.name for f in dataclasses.fields(config) if f.type == "float"
                            and (isinstance(getattr(config, f.name), bool)
                                 or not isinstance(getattr(config, f.name), int | float))}
        self._named: set[str] = set()

    def need(self, ok: bool, field: str, message: str, allowed: str,
             depends: tuple[str, ...] = ()) -> None:
        """Record a :class:`FieldError` for ``field`` unless ``ok`` (a field that is no
        number: once, saying so)."""
        if ok or field in self._named:
            return
        if field in self.not_numbers:
            message = f"must be a number, got {getattr(self.config, field)!r}"
            self._named.add(field)
        self.errors.append(FieldError(field, message, allowed, depends))

    def value(self, field: str) -> float:
        """The value of the float field ``field`` (mypy cannot see which field it is)."""
        return getattr(self.config, field)


PRESETS = {
    "fisher-like": SynthConfig(),
    "candor-like": SynthConfig(
        name="candor-like", conversation_s=1800.0, sample_rate_hz=16000, telephone_band=False,
        ipu_median_s=1.5, ipu_sigma=0.8, pause_median_s=0.5, p_yield=0.35, fto_mean_ms=80.0,
        fto_sd_ms=450.0, backchannels_per_s=0.33,
        # CANDOR's prompt predicts its continuation less than Fisher's (paper Table 7 GT:
        # 0.54, 0.30, 0.12; simulated as above: 0.54, 0.34, 0.13): video calls between
        # strangers, styles closer together
        ipu_median_log_sd=0.32, pause_median_log_sd=0.13, fto_mean_sd_ms=96.0),
}


def load_config(preset: str | None = None, toml_path: str | Path | None = None,
                **overrides: object) -> SynthConfig:
    """A preset, its fields overridden by a TOML file (SynthConfig keys), then by keywords.
    Without ``preset``: the file's ``name`` when it names one (as ``duplexsim validate`` and
    ``corpus build`` read it), else fisher-like."""
    from duplexsim.config.loader import from_dict
    from duplexsim.config.readers import read_toml
    from duplexsim.errors import InputError

    if preset is not None and preset not in PRESETS:
        raise InputError("preset", "", f"unknown {preset!r}", ", ".join(PRESETS))
    data = read_toml(toml_path) if toml_path is not None else {}
    named = data.get("name")  # a wrong type is reported by from_dict below
    base = PRESETS[preset or (named if isinstance(named, str) and named in PRESETS
                              else "fisher-like")]
    if toml_path is not None:
        base = from_dict(SynthConfig, {**dataclasses.asdict(base), **data}, file=str(toml_path))
    # each value is of the type of the field it names (mypy cannot see which); __post_init__
    # checks their ranges
    fields: dict[str, Any] = {k: v for k, v in overrides.items() if v is not None}
    return replace(base, **fields)


def load_synth_toml(path: str | Path) -> SynthConfig:
    """A corpus config file's keys as ``duplexsim validate`` checks them: SynthConfig keys
    over the preset named by its ``name`` key (``fisher-like`` when absent). Validate then
    calibrates it too (``calibration.validate_synth_toml``, which needs numpy)."""
    from duplexsim.config.readers import read_toml
    from duplexsim.errors import ConfigError, Problem

    data = read_toml(path)
    name = data.get("name", "fisher-like")
    if not isinstance(name, str) or name not in PRESETS:  # a custom name (or a wrong type,
        name = "fisher-like"  # reported by load_config): start from the fisher-like defaults
    try:
        return load_config(name, path)
    except ValueError as e:
        if isinstance(e, ConfigError):
            raise
        raise ConfigError([Problem(str(path), "", str(e))]) from None


SYNTH_KEYS = frozenset(f.name for f in dataclasses.fields(SynthConfig)) - {"name"}
"""The keys only a corpus config has: SynthConfig's fields but ``name``."""


def is_synth_config(data: dict) -> bool:
    """Does a parsed TOML file look like a corpus config (flat SynthConfig keys)?"""
    return not any(isinstance(v, dict) for v in data.values()) and bool(SYNTH_KEYS & data.keys())
