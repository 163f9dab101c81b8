"""The statistics of rl_turn_policy.py's report, from its episodes table: each cell's means
with 95% intervals over its dialogues (the two-level bootstrap of :mod:`resample`: episodes
of one dialogue are not independent), whether PPO beats every baseline (non-overlapping
intervals, and paired episode by episode), and the generalisation gap with its interval.
Must not run episodes or format the report (:mod:`rl_report`)."""

from __future__ import annotations

from typing import Any

from duplexsim.metrics.intervals import percentile_interval

import numpy as np
import pandas as pd
from resample import (  # the two-level bootstrap over dialogues, then episodes
    cluster_weights,
    point_rng,
)

STATS = ["overlap_share", "gap_median_ms", "fto_median_ms", "learner_fto_median_ms",
         "learner_backchannels_per_min", "learner_ipus_per_min", "speech_share"]
"""An episode's turn-taking statistics (the env's ``info["turntaking"]``), summarised."""
COUNTS = ["overlap_ms", "gap_ms", "transitions", "interruptions", "backchannels_good",
          "backchannels_bad"]
"""An episode's event counts (the env's ``info["events"]``), summarised."""
BASELINES = ["rule", "random", "always-speak", "silent"]
"""The policies PPO must beat (the corpus reference is not one)."""
N_BOOT = 2000
"""Bootstrap resamples per cell (:func:`cluster_weights`)."""
HELD_OUT_REPLAY = ("test-dialogues", "test-corpus")
"""The replay sets of held-out dialogues (compared with ``train-dialogues``)."""


def ci95(values: pd.Series, dialogues: pd.Series, weights: np.ndarray | None = None
         ) -> tuple[float, float, float, int]:
    """Mean of the finite values, its 95% bootstrap interval over the dialogues
    (``weights``: :func:`cluster_weights` of ``dialogues``, computed here if None; none
    below ``intervals.MIN_BOOT_UNITS`` dialogues), and the number of dialogues with a
    finite value: NaN episodes (e.g. no transition) are left out of the mean and of each
    resample's mean."""
    v = values.to_numpy(dtype=float)
    ok = np.isfinite(v)
    if not ok.any():
        return float("nan"), float("nan"), float("nan"), 0
    if weights is None:
        weights = cluster_weights(dialogues.tolist(), N_BOOT)
    draws = boot_means(v, weights)
    n = dialogues[ok].nunique()
    lo, hi = percentile_interval(draws, n)
    return float(v[ok].mean()), lo, hi, n


def boot_means(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``[n_boot]``: each resample's weighted mean of the finite ``values`` (``weights``
    ``[n_boot, items]``: :func:`cluster_weights`); NaN in a resample that drew none."""
    ok = np.isfinite(values)
    w = weights[:, ok]
    total = w.sum(axis=1)
    return np.divide(w @ values[ok], total, out=np.full(len(w), np.nan), where=total > 0)


def summarize(df: pd.DataFrame) -> pd.DataFrame:
    """One row per cell and policy: each column's mean and 95% interval over the cell's
    dialogues, ``{col}_n`` its finite episodes, ``{col}_dialogues`` their dialogues."""
    rows = []
    for (set_name, delay, policy), g in df.groupby(["set", "delay_ms", "policy"], sort=False):
        row: dict[str, Any] = {"set": set_name, "delay_ms": delay, "policy": policy,
                               "episodes": len(g), "dialogues": g["dialogue"].nunique()}
        # the same draws for every column
        weights = cluster_weights(g["dialogue"].tolist(), N_BOOT)
        for col in ["reward", *STATS, *COUNTS, "bc_placed_share"]:
            mean, lo, hi, n = ci95(g[col], g["dialogue"], weights)
            row.update({col: mean, f"{col}_lo": lo, f"{col}_hi": hi,
                        f"{col}_n": int(np.isfinite(g[col].to_numpy(float)).sum()),
                        f"{col}_dialogues": n})
        rows.append(row)
    return pd.DataFrame(rows)


def verdicts(summary: pd.DataFrame, episodes: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per cell: PPO against the best baseline, non-overlapping 95% CIs over the cell's
    ``dialogues`` or not (not met where there are too few dialogues for an interval).
    With the ``episodes`` also the paired difference PPO minus that baseline, episode by
    episode (the same seeds: the same dialogue, start and network), its 95% interval over
    the dialogues: a sharper test than two intervals that must not overlap
    (``paired_gap``, ``paired_lo``, ``paired_hi``); the same against every baseline of the
    cell (``paired_{baseline}``, ``_lo``, ``_hi``), and ``paired_beats_all``: every one's
    lower bound above 0 (issue 18 asks PPO to beat each baseline, and the best mean need
    not be the hardest to beat: a baseline of lower mean and wide spread can be above PPO
    on enough dialogues that its paired interval reaches below 0)."""
    rows = []
    for (set_name, delay), g in summary.groupby(["set", "delay_ms"], sort=False):
        g = g.set_index("policy")
        if "ppo" not in g.index:
            continue
        base = g.loc[[b for b in BASELINES if b in g.index]]
        best = base["reward"].idxmax()
        # a baseline without an upper bound (too few dialogues) was not beaten: NaN, not met
        baseline_hi = base["reward_hi"].max(skipna=False)
        rows.append({"set": set_name, "delay_ms": delay,
                     "dialogues": int(g.loc["ppo", "reward_dialogues"]),
                     "ppo": g.loc["ppo", "reward"],
                     "ppo_lo": g.loc["ppo", "reward_lo"], "best_baseline": best,
                     "baseline": base.loc[best, "reward"],
                     "baseline_hi": baseline_hi,
                     "beats_all": bool(g.loc["ppo", "reward_lo"] > baseline_hi)})
        if episodes is not None:
            paired = {b: paired_gap(episodes, set_name, delay, str(b)) for b in base.index}
            rows[-1].update(paired[best])
            for b, p in paired.items():
                rows[-1].update({f"paired_{b}": p["paired_gap"], f"paired_{b}_lo": p["paired_lo"],
                                 f"paired_{b}_hi": p["paired_hi"]})
            # a NaN lower bound (too few dialogues) was not checked: not met
            rows[-1]["paired_beats_all"] = all(p["paired_lo"] > 0 for p in paired.values())
    return pd.DataFrame(rows)


def paired_gap(episodes: pd.DataFrame, set_name: str, delay: float, baseline: str
               ) -> dict[str, float]:
    """PPO minus ``baseline`` in one cell, seed by seed, and its interval over dialogues."""
    cell = episodes[(episodes["set"] == set_name) & (episodes["delay_ms"] == delay)]
    ppo = cell[cell["policy"] == "ppo"].set_index("seed")
    other = cell[cell["policy"] == baseline].set_index("seed")
    seeds = ppo.index.intersection(other.index)
    gap = ppo.loc[seeds, "reward"] - other.loc[seeds, "reward"]
    mean, lo, hi, _ = ci95(gap.reset_index(drop=True),
                           ppo.loc[seeds, "dialogue"].reset_index(drop=True))
    return {"paired_gap": mean, "paired_lo": lo, "paired_hi": hi}


GAP_TARGET = 1.5
"""Issue 18: PPO's held-out reward within this of its reward on training dialogues."""


def generalisation(episodes: pd.DataFrame) -> pd.DataFrame:
    """Per held-out replay set and delay: PPO's mean reward there minus on train dialogues
    (``gap``), its 95% interval (``gap_lo``, ``gap_hi``): each set's episodes resampled over
    its own dialogues (:func:`cluster_weights`, the two sets drawn independently, one stream
    per row), the difference of the two resampled means, the expanded percentile interval
    over the fewer of the two sets' dialogues (none below 5). ``within_1_5``: the point
    within :data:`GAP_TARGET`; ``ci_within_1_5``: the whole interval (not met without one)."""
    ppo = episodes[episodes["policy"] == "ppo"]
    cells = dict(iter(ppo.groupby(["set", "delay_ms"])))
    rows = []
    for held_out in HELD_OUT_REPLAY:
        for delay in sorted(set(ppo["delay_ms"])):
            if ("train-dialogues", delay) not in cells or (held_out, delay) not in cells:
                continue
            rng = point_rng(0, ("set", "delay_ms"), (held_out, delay))
            means, draws, dialogues = [], [], []
            for g in (cells[("train-dialogues", delay)], cells[(held_out, delay)]):
                reward = g["reward"].to_numpy(dtype=float)
                ok = np.isfinite(reward)
                means.append(float(reward[ok].mean()) if ok.any() else float("nan"))
                draws.append(boot_means(reward, cluster_weights(g["dialogue"].tolist(),
                                                                N_BOOT, rng)))
                dialogues.append(g.loc[ok, "dialogue"].nunique())
            train, test = means
            lo, hi = percentile_interval(draws[1] - draws[0], min(dialogues))
            rows.append({"set": held_out, "delay_ms": delay, "train": train, "test": test,
                         "gap": test - train, "gap_lo": lo, "gap_hi": hi,
                         "within_1_5": bool(abs(test - train) <= GAP_TARGET),
                         "ci_within_1_5": bool(lo >= -GAP_TARGET and hi <= GAP_TARGET)})
    return pd.DataFrame(rows)
