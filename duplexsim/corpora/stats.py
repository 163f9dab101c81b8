"""Turn-taking statistics of a corpus, from its units' voice activity and from annotations.

Uses ``duplexsim.metrics.turntaking`` (vad_from_units, detect_events, summarize_events) on
every dialogue, pooling events over the corpus, and puts the numbers beside the preset's
targets (DESIGN.md "Corpora"); :func:`segment_stats` does the same for bare segments (a
simulated timeline). Must not write anything but what the caller asks.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
from scipy.special import ndtr

from duplexsim.audio.framing import FRAME_MS, FRAME_RATE_HZ
from duplexsim.corpora.synth import PRESETS
from duplexsim.corpora.types import Dialogue
from duplexsim.errors import InputError

KEYS = ("ipu_median_ms", "ipu_mean_ms", "pause_median_ms", "gap_median_ms",
        "overlap_median_ms", "fto_median_ms", "fto_mean_ms", "fto_sd_ms",
        "overlap_transition_share", "backchannels_per_min", "backchannels_per_partner_s",
        "ipus_per_min", "speech_share", "silence_share", "overlap_share")


def targets(preset: str) -> dict[str, float]:
    """What the preset's generative parameters aim at, in summary-key units."""
    cfg = PRESETS.get(preset)
    if cfg is None:
        return {}
    return {"ipu_median_ms": cfg.ipu_median_s * 1000,
            "ipu_mean_ms": cfg.ipu_median_s * 1000 * float(np.exp(cfg.ipu_sigma**2 / 2)),
            "pause_median_ms": cfg.pause_median_s * 1000, "fto_median_ms": cfg.fto_mean_ms,
            "fto_mean_ms": cfg.fto_mean_ms, "fto_sd_ms": cfg.fto_sd_ms,
            "overlap_transition_share": float(ndtr(-cfg.fto_mean_ms / cfg.fto_sd_ms)),
            "backchannels_per_partner_s": cfg.backchannels_per_s}


def summarize(events: pd.DataFrame, total_ms: float) -> dict[str, float]:
    """``metrics.turntaking.summarize_events`` plus backchannels per second of partner
    speech (the rate DESIGN.md sets: backchannels / seconds of the other side's IPUs)."""
    from duplexsim.metrics.turntaking import summarize_events

    out = summarize_events(events, total_ms)
    # each side's floor IPUs are the other side's partner speech: pooled, all of them
    n_bc = int((events["kind"] == "backchannel").sum())
    partner_s = float(events.loc[events["kind"] == "ipu", "duration_ms"].sum()) / 1000
    out["backchannels_per_partner_s"] = n_bc / partner_s if partner_s else float("nan")
    return out


def segment_stats(dialogues: Iterable[Dialogue]) -> dict[str, float]:
    """Pooled statistics of the annotated segments alone (no units, no audio): what
    :func:`corpus_stats` reports as ``annotations``, for any dialogues or timelines."""
    from duplexsim.metrics.turntaking import detect_events

    events, total_ms = [], 0.0
    for d in dialogues:
        ev = detect_events(d.segment_vad(), FRAME_MS)
        ev[["start_ms", "end_ms"]] += total_ms  # dialogues side by side on one time axis
        events.append(ev)
        total_ms += int(round(d.duration_s * FRAME_RATE_HZ)) * FRAME_MS
    if not events:
        raise InputError("segment_stats", "", "no dialogues", "at least one dialogue")
    return summarize(pd.concat(events, ignore_index=True), total_ms)


def corpus_stats(corpus, split: str | None = None) -> dict[str, dict[str, float]]:
    """``{"units": summary, "annotations": summary, "target": targets}`` for a Corpus."""
    from duplexsim.metrics.turntaking import detect_events, vad_from_units

    silence = corpus.tokenizer().silence_units
    views: dict[str, list[pd.DataFrame]] = {"units": [], "annotations": []}
    total_ms = 0.0
    offset = 0.0
    for d in corpus.dialogues(split=split):
        t = d.units.shape[1]
        for view, vad in (("units", vad_from_units(d.units, silence)),
                          ("annotations", d.segment_vad(t))):
            ev = detect_events(vad, FRAME_MS)
            ev[["start_ms", "end_ms"]] += offset  # dialogues side by side on one time axis
            views[view].append(ev)
        total_ms += t * FRAME_MS
        offset += t * FRAME_MS
    out = {view: summarize(pd.concat(evs, ignore_index=True), total_ms)
           for view, evs in views.items() if evs}
    out["target"] = targets(corpus.preset)
    out["hours"] = {"audio_hours": total_ms / 3.6e6,
                    "dialogues": float(len(views["units"])),
                    "frames_per_s": float(FRAME_RATE_HZ)}
    return out


def format_table(stats: dict[str, dict[str, float]]) -> str:
    """Plain-text table: one row per statistic, columns units / annotations / target."""
    cols = ("units", "annotations", "target")
    lines = [f"{'statistic':<26}" + "".join(f"{c:>14}" for c in cols)]
    for k in KEYS:
        cells = []
        for c in cols:
            v = stats.get(c, {}).get(k)
            cells.append(f"{'-' if v is None or v != v else f'{v:.3f}':>14}")
        lines.append(f"{k:<26}" + "".join(cells))
    h = stats.get("hours", {})
    lines.append(f"({h.get('dialogues', 0):.0f} dialogues, {h.get('audio_hours', 0):.3f} h)")
    return "\n".join(lines)
