"""Pearson r across prompts, per replicate and averaged, with its nested bootstrap.

The estimator behind :func:`~duplexsim.metrics.protocol.correlations` and
:func:`~duplexsim.metrics.protocol.correlations_over_runs`: r of each source's per-prompt
means against a reference's, per replicate table (a sampling seed, a training run's
seed), averaged over the replicates of a group and then over the groups; 95% CIs by
resampling the prompts, then the groups, then each drawn group's replicates. Works on
per-prompt tables; knows no events, windows or VAD.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from duplexsim.metrics.intervals import percentile_interval


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


def over_replicates(
    tables: Sequence[pd.DataFrame], groups: Sequence[int], reference: str,
    events: Iterable[str], extra: Iterable[str], n_boot: int, seed: int,
) -> pd.DataFrame:
    """r of every source against ``reference`` per replicate table (a seed, or a run's
    seed; the same prompts in all), averaged over each of ``groups`` (a label per table: its
    seed, or its run) and then over the groups; ``sd_groups``: standard deviation over the
    groups of their mean ``avg``. CI: prompts with replacement (one draw for every
    replicate), then groups with replacement, then each drawn group's replicates with
    replacement (:func:`_replicate_draws`), each draw averaged as the estimate is; one
    replicate: the plain bootstrap over prompts."""
    events = list(events)
    extra = [e for e in extra if e not in events and all(e in t.columns for t in tables)]
    if reference not in set(tables[0]["source"]):
        raise ValueError(f"reference source {reference!r} not in the table (sources: "
                         f"{', '.join(map(str, dict.fromkeys(tables[0]['source'])))})")
    wides = [t.pivot_table(index="prompt", columns="source", values=events + extra,
                           aggfunc="mean", dropna=False) for t in tables]
    prompts = wides[0].index
    wides = [w.reindex(prompts) for w in wides]
    sources = [s for s in dict.fromkeys(tables[0]["source"]) if s != reference]
    rng = np.random.default_rng(seed)
    idx = rng.integers(len(prompts), size=(n_boot, len(prompts)))
    rep_idx = _replicate_draws(rng, groups, n_boot)  # [n_boot, groups, replicates]
    labels = np.asarray(groups)
    members = [labels == g for g in dict.fromkeys(groups)]
    nan = np.full(len(prompts), np.nan)

    def values(w: pd.DataFrame, ev: str, side: str) -> np.ndarray:
        return w[(ev, side)].to_numpy(float) if (ev, side) in w.columns else nan

    rows = []
    for source in sources:
        pairs = [[(values(w, ev, source), values(w, ev, reference)) for ev in events + extra]
                 for w in wides]  # [replicates][events + extra] -> (x, y)
        row, point = _source_row(source, pairs, events, extra, members)
        if n_boot > 0:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # an event without an r: NaN
                row.update(_source_intervals(pairs, point, row, events, idx, rep_idx))
        rows.append(row)
    ci = [f"{name}_{end}" for name in (*events, "avg") for end in ("lo", "hi")] \
        if n_boot > 0 else []
    return pd.DataFrame(rows, columns=["source", *events, *extra, "avg", "avg_events",
                                       "n_prompts", *[f"n_{ev}" for ev in events],
                                       "sd_groups", "n_groups", "n_replicates", *ci])


_Pairs = list[list[tuple[np.ndarray, np.ndarray]]]
"""[replicates][events] -> (a source's per-prompt means, the reference's)."""


def _source_row(source: str, pairs: _Pairs, events: list[str], extra: list[str],
                members: list[np.ndarray]) -> tuple[dict[str, float | str], np.ndarray]:
    """:func:`over_replicates`'s row of ``source`` without its CIs (``pairs``: of
    ``events`` then ``extra``; ``members``: each group's replicates), and its per-replicate
    r of each of ``events`` (``[replicates, events]``)."""
    r_all = np.array([[_pearson(x, y) for x, y in rep] for rep in pairs])
    point, r_extra = r_all[:, : len(events)], r_all[:, len(events):]  # [replicates, .]
    avg = _mean_r(point)  # [replicates]
    has = np.array([[np.isfinite(x) & np.isfinite(y) for x, y in rep[: len(events)]]
                    for rep in pairs])  # [replicates, events, prompts]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an event without an r: NaN
        by_group = np.array([np.nanmean(avg[m]) for m in members])
        per_event = np.nanmean([np.nanmean(point[m], axis=0) for m in members], axis=0)
        row: dict[str, float | str] = {
            "source": source, **dict(zip(events, per_event, strict=True)),
            **dict(zip(extra, np.nanmean([np.nanmean(r_extra[m], axis=0)
                                          for m in members], axis=0), strict=True)),
            "avg": float(np.nanmean(by_group)),
            "avg_events": int(np.isfinite(per_event).sum()),
            "n_prompts": int(has.all(axis=1).sum(axis=1).min()),
            **{f"n_{ev}": int(has[:, i].sum(axis=1).min()) for i, ev in enumerate(events)},
            "sd_groups": float(np.nanstd(by_group, ddof=1)) if len(by_group) > 1 else np.nan,
            "n_groups": len(by_group), "n_replicates": len(pairs)}
    return row, point


def _source_intervals(pairs: _Pairs, point: np.ndarray, row: dict[str, float | str],
                      events: list[str], idx: np.ndarray, rep_idx: np.ndarray
                      ) -> dict[str, float]:
    """The 95% CI columns (``<event>_lo``, ``<event>_hi``, ``avg_lo``, ``avg_hi``) of one
    source's ``row``: r over the prompt draws ``idx`` (``[n_boot, prompts]``, the same in
    every replicate), averaged over the replicates ``rep_idx`` picks for each draw
    (:func:`_replicate_draws`) as the estimate is; ``point`` (the source's r, ``[replicates,
    events]``) says which events each replicate's average is over."""
    n_boot = len(idx)
    boot = np.stack([np.stack([pearson_rows(x[idx], y[idx]) for x, y in rep[: len(events)]],
                              axis=1) for rep in pairs])  # [replicates, n_boot, events]
    boot_avg = np.stack([_mean_r(b, np.isfinite(p)) for b, p in zip(
        boot, point, strict=True)])  # [replicates, n_boot]
    # a NaN replicate at index len(pairs): the padding of _replicate_draws
    boot = np.concatenate([boot, np.full((1, *boot.shape[1:]), np.nan)])
    boot_avg = np.concatenate([boot_avg, np.full((1, n_boot), np.nan)])
    draw = np.arange(n_boot)[:, None, None]  # rep_idx[b]: draw b's replicates
    # the mean over each drawn group's replicates, then over the drawn groups
    per_ev = np.nanmean(np.nanmean(boot[rep_idx, draw], axis=2), axis=1)
    per_avg = np.nanmean(np.nanmean(boot_avg[rep_idx, draw], axis=2), axis=1)
    units = [row[f"n_{ev}"] for ev in events] + [row["n_prompts"]]
    intervals: dict[str, float] = {}
    for (name, v), n in zip((*zip(events, per_ev.T, strict=True), ("avg", per_avg)), units,
                            strict=True):
        intervals[f"{name}_lo"], intervals[f"{name}_hi"] = percentile_interval(v, int(n))
    return intervals


def _replicate_draws(rng: np.random.Generator, groups: Sequence[int],
                     n_boot: int) -> np.ndarray:
    """``[n_boot, groups, most replicates of a group]`` replicate indices of the bootstrap's
    second level: the groups (runs) with replacement, then each drawn group's replicates
    (its seeds) with replacement; ``len(groups)`` pads a group with fewer replicates than
    another (a NaN replicate). One replicate per group: the replicates drawn directly (the
    same draws as ever). Drawing every (run, seed) on its own counted a run's seeds as
    independent runs: 3 runs of 4 near-identical seeds had a CI half as wide as the 3 runs
    of one seed."""
    labels = np.asarray(groups)
    members = [np.flatnonzero(labels == g) for g in dict.fromkeys(groups)]
    if all(len(m) == 1 for m in members):
        return rng.integers(len(labels), size=(n_boot, len(labels)))[:, :, None]
    out = np.full((n_boot, len(members), max(len(m) for m in members)), len(labels),
                  dtype=np.int64)
    for b in range(n_boot):
        for slot, g in enumerate(rng.integers(len(members), size=len(members))):
            m = members[g]
            out[b, slot, : len(m)] = m[rng.integers(len(m), size=len(m))]
    return out


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
