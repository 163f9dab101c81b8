"""The paper's continuation protocol (SyncLLM section 5, Tables 2, 6 and 7).

A ground-truth dialogue is cut into a prompt (first 30 s) and a continuation (next
90 s). A model continues the prompt; for each prompt we take the *mean* duration of each
turn-taking event (IPU, pause, floor-transfer offset; gap and overlap as extras) in the
generated continuation, in the ground-truth continuation and in the prompt itself. The
score is the Pearson correlation across prompts between the generated means and the
ground-truth means, per event and averaged over the paper's events (Table 2 / 6), and
between the generated means and the prompt's means (Table 7: does the model follow the
prompt's style). Pure functions of voice activity; must not run models.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from duplexsim.metrics.intervals import percentile_interval
from duplexsim.metrics.turntaking import TurnTakingParams, detect_events

PAPER_EVENTS = ("ipu", "pause", "fto")
"""The events of the paper's correlation tables; their mean is the ``avg`` column."""
ALL_EVENTS = ("ipu", "pause", "gap", "overlap", "fto")
PROMPT_S = 30.0
CONTINUATION_S = 90.0


def window_frames(prompt_s: float = PROMPT_S, continuation_s: float = CONTINUATION_S,
                  frame_ms: int = 40) -> tuple[int, int]:
    """Frames of the prompt and of the continuation (each rounded on its own)."""
    return round(prompt_s * 1000 / frame_ms), round(continuation_s * 1000 / frame_ms)


def split_prompt(
    stream: np.ndarray, prompt_s: float = PROMPT_S, continuation_s: float = CONTINUATION_S,
    frame_ms: int = 40,
) -> tuple[np.ndarray, np.ndarray]:
    """Cut ``[2, T]`` units or VAD into the prompt and the continuation that follows it.

    Raises if the stream is shorter than the prompt plus the continuation
    (:func:`window_frames`).
    """
    n_prompt, n_cont = window_frames(prompt_s, continuation_s, frame_ms)
    if stream.shape[-1] < n_prompt + n_cont:
        have = stream.shape[-1] * frame_ms / 1000
        raise ValueError(f"stream of {have:.1f} s is shorter than prompt + continuation "
                         f"({prompt_s} + {continuation_s} s)")
    return stream[..., :n_prompt], stream[..., n_prompt : n_prompt + n_cont]


def mean_durations(
    vad: np.ndarray, frame_ms: int = 40, params: TurnTakingParams | None = None
) -> dict[str, float]:
    """Mean duration (ms) of each event of :data:`ALL_EVENTS` in a ``[2, T]`` VAD (NaN if none).

    ``fto`` is the mean floor-transfer offset over transitions (negative = overlap).
    """
    events = detect_events(vad, frame_ms, params)
    out = {}
    for kind in ("ipu", "pause", "gap", "overlap"):
        d = events.loc[events["kind"] == kind, "duration_ms"]
        out[kind] = float(d.mean()) if len(d) else float("nan")
    fto = events["fto_ms"].dropna()
    out["fto"] = float(fto.mean()) if len(fto) else float("nan")
    return out


def per_prompt_means(
    vads: Mapping[tuple[str, str], np.ndarray], frame_ms: int = 40,
    params: TurnTakingParams | None = None,
) -> pd.DataFrame:
    """One row per (prompt id, source) with the mean event durations of that VAD.

    ``vads`` maps ``(prompt_id, source)`` to a ``[2, T]`` VAD, where source is e.g.
    ``ground_truth``, ``prompt``, ``resynth`` or ``syncllm-f-160``.
    """
    rows = [{"prompt": p, "source": s, **mean_durations(v, frame_ms, params)}
            for (p, s), v in vads.items()]
    return pd.DataFrame(rows, columns=["prompt", "source", *ALL_EVENTS])


def pearson_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Row-wise Pearson r of ``[B, n]`` arrays over the columns where both are finite
    (NaN for a row with fewer than 3 distinct such pairs, as in a bootstrap draw that
    repeats two prompts, or no spread, also when rounding leaves a constant row a spread of
    1e-17)."""
    x, y = np.atleast_2d(np.asarray(x, float)), np.atleast_2d(np.asarray(y, float))
    ok = np.isfinite(x) & np.isfinite(y)
    n = ok.sum(axis=1)
    distinct = _distinct_pairs(np.where(ok, x, np.inf), np.where(ok, y, np.inf), ok)
    x, y = np.where(ok, x, 0.0), np.where(ok, y, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mx = x.sum(axis=1, keepdims=True) / n[:, None]
        my = y.sum(axis=1, keepdims=True) / n[:, None]
        dx, dy = np.where(ok, x - mx, 0.0), np.where(ok, y - my, 0.0)
        sx, sy = (dx * dx).sum(axis=1), (dy * dy).sum(axis=1)
        r = (dx * dy).sum(axis=1) / np.sqrt(sx * sy)
    # no spread: zero up to rounding (a constant 0.1 left 1e-34, and r came out 2e-16)
    flat_x = sx <= 1e-20 * (x * x).sum(axis=1)
    flat_y = sy <= 1e-20 * (y * y).sum(axis=1)
    return np.where((distinct >= 3) & ~flat_x & ~flat_y, r, np.nan)


def _distinct_pairs(x: np.ndarray, y: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Distinct finite (x, y) pairs per row. A bootstrap draw repeats prompts: one with two
    distinct prompts gave r = +-1 (67 % of the draws over 3 prompts, 14 % over 5), not
    NaN, and pulled every CI over few prompts to the edges."""
    order = np.lexsort((y, x), axis=-1)
    xs, ys = np.take_along_axis(x, order, -1), np.take_along_axis(y, order, -1)
    oks = np.take_along_axis(ok, order, -1)
    new = np.ones_like(oks)
    new[:, 1:] = (xs[:, 1:] != xs[:, :-1]) | (ys[:, 1:] != ys[:, :-1])
    return (new & oks).sum(axis=1)


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    return float(pearson_rows(x[None], y[None])[0])


def correlations(
    per_prompt: pd.DataFrame, reference: str = "ground_truth",
    events: Iterable[str] = PAPER_EVENTS, extra: Iterable[str] = ("gap", "overlap"),
    n_boot: int = 0, seed: int = 0,
) -> pd.DataFrame:
    """Pearson r across prompts between each source's means and ``reference``'s means.

    Returns one row per source other than the reference with a column per event of
    ``events`` and ``extra``, ``avg`` (mean r over ``events``, the paper's average; over
    those with an r when some have none, e.g. a source that never pauses),
    ``avg_events`` (how many events ``avg`` averages: fewer than ``events`` flags a partial
    average) and ``n_prompts`` (prompts where both sides have a value for every one of
    ``events``). r needs 3 prompts, else NaN.
    ``reference="prompt"`` gives the Table 7 analogue. With ``n_boot`` > 0, each of
    ``events`` and ``avg`` also gets a 95% CI (columns ``<name>_lo``, ``<name>_hi``):
    percentile bootstrap over prompts, the same ``n_boot`` resamples (from ``seed``) for
    every event and source, so ``avg``'s CI is that of the average.
    """
    events, extra = list(events), [e for e in extra if e not in events]
    sources = [s for s in dict.fromkeys(per_prompt["source"]) if s != reference]
    if reference not in set(per_prompt["source"]):
        raise ValueError(f"reference source {reference!r} not in the table "
                         f"(sources: {', '.join(map(str, dict.fromkeys(per_prompt['source'])))})")
    wide = per_prompt.pivot_table(index="prompt", columns="source", values=events + extra,
                                  aggfunc="mean", dropna=False)
    idx = np.random.default_rng(seed).integers(len(wide), size=(n_boot, len(wide)))
    rows = []
    for source in sources:
        row: dict[str, float | str] = {"source": source}
        for ev in events + extra:
            row[ev] = _pearson(wide[(ev, source)].to_numpy(float),
                               wide[(ev, reference)].to_numpy(float))
        r_events = np.array([[row[e] for e in events]], float)
        row["avg"] = float(_mean_r(r_events)[0])
        row["avg_events"] = int(np.isfinite(r_events).sum())
        both = np.logical_and.reduce([wide[(ev, side)].notna().to_numpy()
                                      for ev in events for side in (source, reference)])
        row["n_prompts"] = int(both.sum())
        if n_boot > 0:
            boot = np.stack([pearson_rows(wide[(ev, source)].to_numpy(float)[idx],
                                          wide[(ev, reference)].to_numpy(float)[idx])
                             for ev in events], axis=1)  # [n_boot, events]
            avg_boot = _mean_r(boot, np.isfinite(r_events[0]))
            for name, values in (*zip(events, boot.T, strict=True), ("avg", avg_boot)):
                row[f"{name}_lo"], row[f"{name}_hi"] = percentile_interval(values)
        rows.append(row)
    ci = [f"{name}_{end}" for name in (*events, "avg") for end in ("lo", "hi")] \
        if n_boot > 0 else []
    return pd.DataFrame(rows, columns=["source", *events, *extra, "avg", "avg_events",
                                       "n_prompts", *ci])


def correlations_over_runs(
    runs: Sequence[pd.DataFrame], reference: str = "ground_truth",
    events: Iterable[str] = PAPER_EVENTS, n_boot: int = 0, seed: int = 0,
) -> pd.DataFrame:
    """:func:`correlations` for several training runs of the same agents, each of which
    continued the same prompts (``runs``: one per-prompt table each, the reference's values
    the same in all).

    Each source's r per event is the mean over runs of that run's r across prompts (its
    ``avg``: the mean of the runs' averages), the r of the average training run rather than
    of one draw of the training seed; ``sd_runs`` is the runs' standard deviation of
    ``avg``, ``n_runs`` the number of runs. With ``n_boot`` > 0 the 95% CIs come
    from a two-level bootstrap: the prompts with replacement (the same draw for every run:
    they continued the same prompts), then the runs with replacement, so a CI includes how
    much another training run would differ. One run gives :func:`correlations`'s numbers
    and CIs (the same prompt draws from ``seed``).
    """
    events = list(events)
    if not runs:
        raise ValueError("no runs (allowed: one per-prompt table per training run)")
    wides = [t.pivot_table(index="prompt", columns="source", values=events, aggfunc="mean",
                           dropna=False) for t in runs]
    prompts = wides[0].index
    for k, wide in enumerate(wides):
        if reference not in set(runs[k]["source"]):
            raise ValueError(f"run {k}: reference source {reference!r} not in the table")
        if not wide.index.equals(prompts) or not all(
                np.allclose(wide[(ev, reference)], wides[0][(ev, reference)], equal_nan=True)
                for ev in events):
            raise ValueError(f"run {k}: other prompts or other {reference} values than run 0 "
                             "(allowed: runs that continued the same prompts)")
    sources = [s for s in dict.fromkeys(runs[0]["source"]) if s != reference]
    for k, table in enumerate(runs):
        if set(table["source"]) != set(runs[0]["source"]):
            raise ValueError(f"run {k}: sources {sorted(set(table['source']))} against run "
                             f"0's {sorted(set(runs[0]['source']))} (allowed: runs with the "
                             "same sources)")
    rng = np.random.default_rng(seed)
    idx = rng.integers(len(prompts), size=(n_boot, len(prompts)))
    run_idx = rng.integers(len(runs), size=(n_boot, len(runs)))
    rows = []
    for source in sources:
        point = np.array([[_pearson(w[(ev, source)].to_numpy(float),
                                    w[(ev, reference)].to_numpy(float)) for ev in events]
                          for w in wides])  # [runs, events]
        avg = _mean_r(point)  # [runs]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # an event without an r: NaN
            row: dict[str, float | str] = {
                "source": source, **dict(zip(events, np.nanmean(point, axis=0), strict=True)),
                "avg": float(np.nanmean(avg)),
                "sd_runs": float(np.nanstd(avg, ddof=1)) if len(runs) > 1 else np.nan,
                "n_runs": len(runs)}
            if n_boot > 0:
                boot = np.stack([np.stack([pearson_rows(w[(ev, source)].to_numpy(float)[idx],
                                                        w[(ev, reference)].to_numpy(float)[idx])
                                           for ev in events], axis=1)
                                 for w in wides])  # [runs, n_boot, events]
                draw = np.arange(n_boot)[:, None]  # run_idx[b]: the runs draw b takes
                per_event = np.nanmean(boot[run_idx, draw], axis=1)  # [n_boot, events]
                per_avg = np.nanmean(np.stack([_mean_r(b, np.isfinite(p)) for b, p in zip(
                    boot, point, strict=True)])[run_idx, draw], axis=1)
                for name, values in (*zip(events, per_event.T, strict=True), ("avg", per_avg)):
                    row[f"{name}_lo"], row[f"{name}_hi"] = percentile_interval(values)
        rows.append(row)
    ci = [f"{name}_{end}" for name in (*events, "avg") for end in ("lo", "hi")] \
        if n_boot > 0 else []
    return pd.DataFrame(rows, columns=["source", *events, "avg", "sd_runs", "n_runs", *ci])


def _mean_r(r: np.ndarray, over: np.ndarray | None = None) -> np.ndarray:
    """Row means of ``[B, events]`` r over the finite entries (NaN for none). ``over``
    (``[events]`` bool): bootstrap draws of an average over these events: a row missing one
    of them is NaN, not the average of the others (a different statistic: ipu and pause
    alone pulled a CI's top from 0.45 to 0.995)."""
    ok = np.isfinite(r)
    if over is not None:
        return np.where(ok[:, over].all(axis=1) & over.any(),
                        np.where(ok & over, r, 0.0).sum(axis=1) / max(1, over.sum()), np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(ok.any(axis=1), np.where(ok, r, 0.0).sum(axis=1) / ok.sum(axis=1),
                        np.nan)
