"""The statistics of ``selfplay.py``: the pooled turn-taking statistics (:data:`STATS`), the
frame-level coordination table, the bootstrap (one or two levels), the summary with its CIs,
the verdicts against the agents' own corpora, and each training run alone with the spread
between runs. Imported by the self-play scripts."""

from __future__ import annotations

from duplexsim.frame_runs import runs
from duplexsim.metrics.intervals import percentile_interval
from duplexsim.tokens import FRAME_MS

import numpy as np
import pandas as pd
from continuation_stats import (  # one dialogue's events, pooled
    Scored,
    pooled_stats,
)
from selfplay_plan import AGENTS, Plan

STATS = ("overlap_share", "backchannels_per_min", "listener_onsets_per_s", "fto_median_ms")
RELATIVE = {"overlap_share": 0.30, "backchannels_per_min": 0.30, "listener_onsets_per_s": 0.30}
"""Allowed relative distance to the own corpus (through the format)."""
ABSOLUTE = {"fto_median_ms": 80.0}
"""Allowed absolute distance (ms)."""


def pooled(parts: list[Scored]) -> dict[str, float]:
    """The :data:`STATS` over several conversations pooled (events concatenated)."""
    s = pooled_stats(parts)
    return {k: s[k] for k in STATS}


def coordination(vads: list[np.ndarray]) -> dict[str, float]:
    """Frame-level coordination of several conversations pooled (see ``selfplay.py``'s
    docstring); ``vads``: voice activity ``bool [2, T]`` each."""
    frames = episodes = episode_frames = onsets = onsets_over = 0
    speech = 0.0
    ended: dict[str, list[int]] = {"holder": [], "incomer": []}
    for vad in vads:
        vad = np.asarray(vad, bool)
        starts, ends = runs(vad[0] & vad[1])
        episodes += len(starts)
        episode_frames += int((ends - starts).sum())
        for who, length in ended_by(vad, starts, ends):
            ended[who].append(length)
        for s in (0, 1):
            on = np.flatnonzero(vad[s][1:] & ~vad[s][:-1]) + 1
            onsets += len(on)
            onsets_over += int(vad[1 - s][on].sum())
        speech += float(vad.sum()) / 2
        frames += vad.shape[1]
    minutes = frames * FRAME_MS / 60000
    n_ended = len(ended["holder"]) + len(ended["incomer"])
    return {"speech_share_per_side": _ratio(speech, frames),
            "frame_overlap_share": _ratio(episode_frames, frames),
            "overlap_episodes_per_min": _ratio(episodes, minutes),
            "overlap_episode_mean_s": _ratio(episode_frames * FRAME_MS / 1000, episodes),
            "onsets_over_partner_share": _ratio(onsets_over, onsets),
            "ended_by_holder_share": _ratio(len(ended["holder"]), n_ended),
            "holder_ended_mean_s": _mean_s(ended["holder"]),
            "incomer_ended_mean_s": _mean_s(ended["incomer"])}


def _ratio(part: float, whole: float) -> float:
    """``part / whole``; NaN when there is nothing to divide by (no overlap episode, onset
    or ended episode: a mean or share of nothing is undefined, not 0)."""
    return part / whole if whole else float("nan")


def ended_by(vad: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> list[tuple[str, int]]:
    """``(who, frames)`` per overlap episode that one side started over the other and that
    exactly one side ends before the conversation does: ``holder`` when the side that was
    speaking first stops, ``incomer`` when the one that came in does."""
    out = []
    for s, e in zip(starts, ends, strict=True):
        if e >= vad.shape[1]:
            continue
        began = [s - _run_back(vad[side], s) for side in (0, 1)]  # each side's run start
        stops = [side for side in (0, 1) if not vad[side][e]]
        if began[0] == began[1] or len(stops) != 1:
            continue  # started together, or both stop at once
        holder = int(np.argmin(began))
        out.append(("holder" if stops[0] == holder else "incomer", int(e - s)))
    return out


def _run_back(active: np.ndarray, at: int) -> int:
    """Frames of activity right before ``at`` (0 when ``active[at - 1]`` is off)."""
    before = np.flatnonzero(~active[:at])
    return at - (int(before[-1]) + 1 if before.size else 0)


def _mean_s(frames: list[int]) -> float:
    return float(np.mean(frames)) * FRAME_MS / 1000 if frames else float("nan")


def boot_draws(parts: list[Scored], n_boot: int, seed: int,
               runs: list[int] | None = None, stream: tuple[int, ...] = ()) -> pd.DataFrame:
    """``n_boot`` bootstrap resamples: one row of :data:`STATS` each, drawn from
    ``SeedSequence(seed, spawn_key=stream)`` (``stream``: e.g. the training run, so that
    the runs of :func:`run_table` resample independently).

    One training run (``runs`` None or all equal): whole conversations are resampled. Several
    (``runs[i]``: the run that played conversation ``i``): two levels, the runs with
    replacement, then the conversations of each drawn run (the hierarchical bootstrap of
    Saravanan et al. 2020, "Application of the hierarchical bootstrap to multi-level data in
    neuroscience"), so the CI covers how much another training run of the card would
    differ, not only another set of its conversations. With few runs it is coarse (3 runs
    give 10 distinct draws of the upper level) and conservative."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=stream))
    n = len(parts)
    if runs is None or len(set(runs)) < 2:
        return pd.DataFrame([pooled([parts[i] for i in rng.integers(0, n, n)])
                             for _ in range(n_boot)])
    if len(runs) != n:
        raise ValueError(f"{len(runs)} run labels for {n} conversations")
    labels = np.asarray(runs)
    groups = [np.flatnonzero(labels == r) for r in sorted(set(runs))]
    rows = []
    for _ in range(n_boot):
        drawn = [groups[g] for g in rng.integers(0, len(groups), len(groups))]
        rows.append(pooled([parts[i] for g in drawn for i in g[rng.integers(0, len(g), len(g))]]))
    return pd.DataFrame(rows)


def summarize(played: dict[str, list[Scored]], refs: dict[str, list[Scored]],
              draws: dict[str, pd.DataFrame], runs: int) -> pd.DataFrame:
    """One row per source and statistic: the pooled value, its 95% bootstrap CI, the
    conversations ``n`` and the training ``runs`` they come from (corpora: 1)."""
    rows = []
    for name, parts in [*played.items(), *refs.items()]:
        point = pooled(parts)
        n_runs = runs if name in AGENTS else 1
        for stat in STATS:
            lo, hi = percentile_interval(draws[name][stat], resampled_units(len(parts), n_runs))
            rows.append({"source": name, "kind": "agent" if name in AGENTS else "corpus",
                         "stat": stat, "value": point[stat], "ci_lo": lo, "ci_hi": hi,
                         "n": len(parts), "runs": n_runs})
    return pd.DataFrame(rows)


def resampled_units(conversations: int, runs: int) -> int:
    """The units :func:`boot_draws` resamples at its top level: the training runs when there
    are several (two levels; their number bounds how far the draws spread, 3 runs give 10
    distinct draws of the upper level), else the conversations."""
    return runs if runs > 1 else conversations


def run_table(plan: Plan, played: dict[str, list[Scored]], refs: dict[str, list[Scored]],
              ref_draws: dict[str, pd.DataFrame], run_of: list[int]) -> pd.DataFrame:
    """Each training run alone: both agents' statistics (its conversations pooled), how many
    of its own corpus checks each agent meets, and how many of all the verdicts the run
    meets by itself (CIs over its own conversations, each run's resamples its own stream:
    with one seed for all, the runs' standard errors were correlated; the corpora's
    ``ref_draws`` are the pooled report's)."""
    rows = []
    for k, root in enumerate(plan.roots):
        mine = {a: [p for p, r in zip(parts, run_of, strict=True) if r == k]
                for a, parts in played.items()}
        draws = {**{a: boot_draws(parts, plan.n_boot, i, stream=(k,)) for i, (a, parts)
                    in enumerate(mine.items())}, **ref_draws}
        summary = summarize(mine, refs, draws, runs=1)
        verdicts = verdict_table(summary, draws)
        for agent in AGENTS:
            own = verdicts[verdicts.check.str.startswith(f"{agent}: ")].met
            rows.append({"run": str(root), "agent": agent,
                         **{stat: value(summary, agent, stat) for stat in STATS},
                         "own_checks_met": f"{int(own.sum())} of {len(own)}",
                         "run_verdicts_met": f"{int(verdicts.met.sum())} of {len(verdicts)}",
                         **{f"se_{stat}": float(draws[agent][stat].std(ddof=1))
                            for stat in STATS}})
    return pd.DataFrame(rows)


def run_variance(per_run: pd.DataFrame) -> pd.DataFrame:
    """How much of the spread between training runs is the runs themselves: per agent and
    statistic, the standard deviation of the runs' values, the root mean square of their
    standard errors over conversations (``se_<stat>`` of :func:`run_table`), and what is left
    for the runs, ``sqrt(max(0, sd**2 - se**2))`` (a method-of-moments estimate). Where it is
    larger than the standard error, more conversations per run cannot narrow a claim about
    the card: more runs can."""
    rows = []
    for agent, table in per_run.groupby("agent", sort=False):
        for stat in STATS:
            values = table[stat].to_numpy(float)
            values = values[np.isfinite(values)]
            sd = float(np.std(values, ddof=1)) if len(values) > 1 else float("nan")
            se = float(np.sqrt(np.nanmean(table[f"se_{stat}"].to_numpy(float) ** 2)))
            rows.append({"agent": agent, "stat": stat, "runs": len(values),
                         "sd_between_runs": sd, "se_within_run": se,
                         "sd_of_runs_themselves": float(np.sqrt(max(0.0, sd**2 - se**2)))
                         if np.isfinite(sd) else float("nan")})
    return pd.DataFrame(rows)


def value(summary: pd.DataFrame, source: str, stat: str) -> float:
    return float(summary[(summary.source == source) & (summary.stat == stat)].value.iloc[0])


def verdict_table(summary: pd.DataFrame, draws: dict[str, pd.DataFrame]) -> pd.DataFrame:
    rows = []
    for agent, own in AGENTS.items():
        for stat in STATS:
            x, ref = value(summary, agent, stat), value(summary, own, stat)
            if stat in RELATIVE:
                dist, limit, unit = abs(x / ref - 1) if ref else float("inf"), RELATIVE[stat], "x"
            else:
                dist, limit, unit = abs(x - ref), ABSOLUTE[stat], "ms"
            rows.append({"check": f"{agent}: {stat} near {own}", "agent": value_str(x),
                         "reference": value_str(ref), "distance": dist, "limit": limit,
                         "unit": "relative" if unit == "x" else unit, "met": bool(dist <= limit)})
    for stat in ("backchannels_per_min", "overlap_share"):
        diff = draws["candor"][stat] - draws["fisher"][stat]
        # two independent resamples: one agent's single conversation has no spread to add
        units = min(resampled_units(*summary.loc[summary.source == a, ["n", "runs"]]
                                    .iloc[0].astype(int)) for a in AGENTS)
        lo, hi = percentile_interval(diff, units)
        point = value(summary, "candor", stat) - value(summary, "fisher", stat)
        rows.append({"check": f"candor agent above fisher agent: {stat}",
                     "agent": f"{point:+.3g} [{lo:+.3g}, {hi:+.3g}]" if np.isfinite(lo)
                     else f"{point:+.3g} (no CI over {units} units: not met)",
                     "reference": value_str(value(summary, "candor-like", stat)
                                            - value(summary, "fisher-like", stat)),
                     "distance": point, "limit": 0.0, "unit": "difference",
                     "met": bool(lo > 0)})
    return pd.DataFrame(rows)


def value_str(x: float) -> str:
    return f"{x:.3g}"
