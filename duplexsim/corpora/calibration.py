"""Calibrating the turn-taking process to a preset: the central speaker and the checks.

A pooled corpus counts events, and speakers differ in how many they make, so the central
speaker that makes a corpus realise the preset's statistics is found by a fixed-point
iteration on simulated timelines (:func:`population_centres`); a config whose calibrated
process misses its targets is refused (:func:`check_realisable`). Constants of the config,
cached. Must not know about audio, tokenizers or the corpus directory layout.
"""
from __future__ import annotations

import functools
from dataclasses import replace
from pathlib import Path

import numpy as np

from duplexsim.corpora.config import SynthConfig
from duplexsim.corpora.style import Centres
from duplexsim.corpora.turn_process import flat_config, ipu_draw_scale_for, timeline
from duplexsim.corpora.types import Segment


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
    scale = ipu_draw_scale_for(flat_config(cfg))
    # with overlap_dropout_ms the realised FTO mean follows the centre's with a slope well
    # below 1 (the negative tail is cut), so the fixed point needs more steps
    for _ in range(3 if cfg.overlap_dropout_ms == 0 else 8):
        got = _pooled([timeline(cfg, np.random.SeedSequence(1, spawn_key=(i,)), scale, centres)
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
    from duplexsim.config.field_errors import FieldError, raise_errors

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
