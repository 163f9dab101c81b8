"""Turn-taking statistics of a corpus, from its units' voice activity and from annotations.

Uses ``duplexsim.metrics.turntaking`` (vad_from_units, detect_events, summarize_events) on
every dialogue, pooling events over the corpus, and puts the numbers beside the preset's
targets (DESIGN.md "Corpora"); :func:`segment_stats` does the same for bare segments (a
simulated timeline). :func:`prompt_continuation_r` measures how much a conversation's
first 30 s predict its next 90 s (the paper's Table 7 GT rows), with bootstrap CIs. Must
not write anything but what the caller asks.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import ndtr

from duplexsim.audio.framing import FRAME_RATE_HZ
from duplexsim.corpora.config import PRESETS, SynthConfig
from duplexsim.corpora.types import Dialogue
from duplexsim.errors import InputError
from duplexsim.metrics.intervals import percentile_interval
from duplexsim.tokens import FRAME_MS

KEYS = ("ipu_median_ms", "ipu_mean_ms", "pause_median_ms", "gap_median_ms",
        "overlap_median_ms", "fto_median_ms", "fto_mean_ms", "fto_sd_ms",
        "overlap_transition_share", "backchannels_per_min", "backchannels_per_partner_s",
        "ipus_per_min", "speech_share", "silence_share", "overlap_share")


PAPER_PROMPT_R = {
    "fisher": {"ipu": 0.72, "pause": 0.53, "fto": 0.31},
    "candor": {"ipu": 0.54, "pause": 0.30, "fto": 0.12},
}
"""Prompt (30 s) -> continuation (90 s) Pearson r of the real corpora: SyncLLM paper, Table 7,
"GT" rows. The synthetic presets are calibrated to these (``fisher-like`` -> ``fisher``)."""
R_EVENTS = ("ipu", "pause", "fto")


def paper_prompt_r(preset: str) -> dict[str, float]:
    """The paper's GT row for a preset or real corpus name (``fisher-like``, ``candor``...)."""
    return PAPER_PROMPT_R.get(preset.removesuffix("-like"), {})


def targets(preset: str, params: object = None) -> dict[str, float]:
    """What a synthetic corpus's generative parameters aim at, in summary-key units: those
    recorded in its manifest (``params``: a build's ``--config`` changes them), else its
    preset's; none for a real corpus."""
    cfg = PRESETS.get(preset)
    if isinstance(params, dict) and params:
        with contextlib.suppress(TypeError, ValueError):  # another version's: the preset's
            cfg = SynthConfig(**params)
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
        vad = d.segment_vad()
        ev = detect_events(vad, FRAME_MS)
        ev[["start_ms", "end_ms"]] += total_ms  # dialogues side by side on one time axis
        events.append(ev)
        total_ms += vad.shape[1] * FRAME_MS
    if not events:
        raise InputError("segment_stats", "", "no dialogues", "at least one dialogue")
    return summarize(pd.concat(events, ignore_index=True), total_ms)


def prompt_continuation_r(vads: Iterable[np.ndarray], prompt_s: float = 30.0,
                          continuation_s: float = 90.0, n_boot: int = 2000,
                          seed: int = 0) -> dict[str, dict[str, float]]:
    """Pearson r across dialogues between the prompt's and the continuation's mean IPU,
    pause and FTO durations, each with a bootstrap 95% CI.

    Each ``[2, T]`` VAD (40 ms frames) is cut as ``metrics.protocol.split_prompt`` does:
    the prompt is frames ``[0, prompt_s)``, the continuation the ``continuation_s`` right
    after it, ``[prompt_s, prompt_s + continuation_s)``; the rest is not used. Events are
    detected on each window alone (``metrics.protocol.mean_durations``, the definitions of
    ``metrics.turntaking``): speech across the cut is split there (a straddling IPU counts
    in both windows, each with its part), silence at a window's edge is no event. Dialogues
    shorter than both windows are skipped; an event without an occurrence in a window drops
    that dialogue from that event's r. CI: percentile bootstrap over dialogues (pairs kept
    together), ``n_boot`` resamples from ``seed``: deterministic; NaN over fewer than
    ``metrics.intervals.MIN_BOOT_UNITS`` dialogues (over 3 it was [r, r]). Returns
    ``{event: {"r", "ci_low", "ci_high", "n"}}`` for ``ipu``, ``pause``, ``fto``."""
    from duplexsim.metrics.correlation import pearson_rows
    from duplexsim.metrics.protocol import mean_durations, split_prompt, window_frames

    pairs, n_frames = [], sum(window_frames(prompt_s, continuation_s, FRAME_MS))
    for vad in vads:
        if vad.shape[1] >= n_frames:
            prompt, cont = split_prompt(vad, prompt_s, continuation_s, FRAME_MS)
            pairs.append((mean_durations(prompt, FRAME_MS), mean_durations(cont, FRAME_MS)))
    rng = np.random.default_rng(seed)
    out = {}
    for ev in R_EVENTS:
        xy = np.array([(p[ev], c[ev]) for p, c in pairs], dtype=float).reshape(-1, 2)
        xy = xy[np.isfinite(xy).all(axis=1)]
        n = len(xy)
        r = pearson_rows(xy[None, :, 0], xy[None, :, 1])[0] if n >= 3 else float("nan")
        lo = hi = float("nan")
        if n >= 3:
            idx = rng.integers(n, size=(n_boot, n))  # [n_boot, n] resampled dialogues
            lo, hi = percentile_interval(pearson_rows(xy[idx, 0], xy[idx, 1]), n)
        out[ev] = {"r": float(r), "ci_low": lo, "ci_high": hi, "n": float(n)}
    return out


def _views(corpus, split: str | None) -> Iterator[dict[str, np.ndarray]]:  # noqa: ANN001
    """Per dialogue, ``{view: [2, T] VAD}``: ``units`` and ``annotations`` for a built
    corpus, ``annotations`` alone for a real one read without audio (Fisher, CANDOR)."""
    from duplexsim.metrics.activity import vad_from_units

    if hasattr(corpus, "tokenizer"):  # a duplexsim corpus: units on disk
        silence = corpus.tokenizer().silence_units
        for d in corpus.dialogues(split=split):
            yield {"units": vad_from_units(d.units, silence),
                   "annotations": d.segment_vad(d.units.shape[1])}
    else:
        for d in corpus.dialogues(split=split, audio=False):
            yield {"annotations": d.segment_vad()}


def corpus_stats(corpus, split: str | None = None, prompt_s: float = 30.0,  # noqa: ANN001
                 continuation_s: float = 90.0) -> dict[str, dict[str, Any]]:
    """``{"units": summary, "annotations": summary, "target": targets, "hours": ...,
    "prompt_continuation": ...}`` for a built corpus (``load_corpus``) or a real Fisher /
    CANDOR one (``open_corpus``: annotations only). ``prompt_continuation`` holds
    :func:`prompt_continuation_r` per view, the windows, and the paper's GT row (the other
    sections map a statistic to a float)."""
    from duplexsim.metrics.turntaking import detect_events

    if not hasattr(corpus, "dialogues"):  # a path failed as "'str' object has no attribute"
        raise TypeError(f"corpus: got {type(corpus).__name__} (allowed: a corpus object: "
                        "duplexsim.corpora.load_corpus(dir) or open_corpus(dir))")
    views: dict[str, list[pd.DataFrame]] = {}
    vads: dict[str, list[np.ndarray]] = {}
    total_ms = 0.0
    n = 0
    for by_view in _views(corpus, split):
        t = next(iter(by_view.values())).shape[1]
        for view, vad in by_view.items():
            ev = detect_events(vad, FRAME_MS)
            ev[["start_ms", "end_ms"]] += total_ms  # dialogues side by side on one time axis
            views.setdefault(view, []).append(ev)
            vads.setdefault(view, []).append(vad)
        total_ms += t * FRAME_MS
        n += 1
    where = str(getattr(corpus, "root", corpus))
    if not n:
        raise InputError(where, "", "no dialogues" + (f" in split {split!r}" if split else ""),
                         "at least one dialogue")
    if not total_ms:
        raise InputError(where, "", f"{n} dialogue(s) without a single annotated segment",
                         "transcripts with timed segments")
    out: dict[str, dict[str, Any]] = {view: summarize(pd.concat(evs, ignore_index=True), total_ms)
                            for view, evs in views.items()}
    manifest = getattr(corpus, "manifest", None) or {}
    out["target"] = targets(corpus.preset, manifest.get("params"))
    out["hours"] = {"audio_hours": total_ms / 3.6e6, "dialogues": float(n),
                    "frames_per_s": float(FRAME_RATE_HZ)}
    from duplexsim.metrics.protocol import window_frames

    n_frames = sum(window_frames(prompt_s, continuation_s, FRAME_MS))
    out["prompt_continuation"] = {
        "prompt_s": prompt_s, "continuation_s": continuation_s,
        # long enough for both windows: each r is over those with its event in both
        "dialogues": float(sum(v.shape[1] >= n_frames for v in next(iter(vads.values())))),
        "window_frames": float(n_frames),
        "paper": paper_prompt_r(corpus.preset),
        **{view: prompt_continuation_r(v, prompt_s, continuation_s) for view, v in vads.items()}}
    return out


def format_table(stats: dict[str, dict[str, Any]]) -> str:
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
    pc = stats.get("prompt_continuation")
    if pc:
        lines += ["", f"prompt -> continuation Pearson r across dialogues of mean durations "
                  f"(first {pc['prompt_s']:g} s -> next {pc['continuation_s']:g} s; "
                  "bootstrap 95% CI)",
                  f"{'event':<8}" + "".join(f"{c:>22}" for c in ("units", "annotations"))
                  + f"{'paper GT':>10}"]
        for ev in R_EVENTS:
            cells = []
            for view in ("units", "annotations"):
                v = pc.get(view, {}).get(ev)
                cells.append(f"{'-' if v is None or v['r'] != v['r'] else _r_cell(v):>22}")
            paper = pc.get("paper", {}).get(ev)
            lines.append(f"{ev:<8}" + "".join(cells)
                         + f"{'-' if paper is None else f'{paper:.2f}':>10}")
        views = {k: v for k, v in pc.items() if k in ("units", "annotations")}
        # the dialogues long enough for both windows (a table made before this was
        # recorded: those with an IPU in both, which is all of them at the paper's windows)
        most = int(pc.get("dialogues", max((int(v["ipu"]["n"]) for v in views.values()),
                                           default=0)))
        window_s = (pc["window_frames"] * FRAME_MS / 1000 if "window_frames" in pc
                    else pc["prompt_s"] + pc["continuation_s"])
        lines.append(f"({most} dialogues of at least {window_s:g} s"
                     + ("; an r needs at least 3" if most < 3 else "") + ")")
        fewer = [f"{ev} {view} {int(v[ev]['n'])}" for view, v in views.items()
                 for ev in R_EVENTS if ev in v and int(v[ev]["n"]) < most]
        if fewer:  # each r is over the dialogues with that event in both windows
            lines.append(f"(r over fewer dialogues, an event missing from a window: "
                         f"{', '.join(fewer)})")
    return "\n".join(lines)


def _r_cell(v: dict[str, float]) -> str:
    return f"{v['r']:+.2f} [{v['ci_low']:+.2f}, {v['ci_high']:+.2f}]"
