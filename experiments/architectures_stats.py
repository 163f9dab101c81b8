"""How architectures.py scores its conversations: each one's ``block_s`` blocks
(:func:`blocks`), the statistics pooled over blocks (:func:`statistics`), their two-level
bootstrap (:func:`resampled`: the clusters, then the blocks within each), the summary rows
(:func:`score`), the paired TDM - SyncLLM differences (:func:`differences`) and "nearer own
corpus" (:func:`nearer`). Must not run conversations or write outputs."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from duplexsim.metrics.activity import vad_from_units
from duplexsim.metrics.interruptions import barge_ins, turn_ends
from duplexsim.metrics.intervals import percentile_intervals
from duplexsim.metrics.turntaking import detect_events, event_durations
from duplexsim.tokens import FRAME_MS

import numpy as np
import pandas as pd
from architectures_grid import ARCHS, CORPORA, PARTNERS, Plan, cluster_of, grid, scenario
from resample import (  # the two-level bootstrap: clusters, then blocks; each point's stream
    cluster_weights,
    point_rng,
)

STATS = ("fto_median_ms", "overlap_transition_share", "overlap_median_ms",
         "bc_per_speaker_min", "ipu_median_ms", "speech_share", "recovery_median_ms",
         "zombie_rate", "deaf_rate")
NEARER = ("bc_per_speaker_min", "fto_median_ms")


def blocks(vad: np.ndarray, agents: tuple[int, ...], plan: Plan) -> list[dict[str, Any]]:
    """The conversation's scored pieces, one dict per ``block_s`` block (by event time); a
    remainder shorter than half a block joins the last block (a side whose clock runs
    behind plays past the duration: its tail is no block of its own)."""
    events = detect_events(vad, FRAME_MS)
    bi, te = barge_ins(vad, FRAME_MS), turn_ends(vad, FRAME_MS)
    block_ms = plan.block_s * 1000
    total_ms = vad.shape[1] * FRAME_MS
    n = max(1, int(np.floor(total_ms / block_ms + 0.5)))
    out = []
    for k in range(n):
        lo, hi = k * block_ms, (k + 1) * block_ms if k < n - 1 else float(total_ms)
        ev = events[(events["start_ms"] >= lo) & (events["start_ms"] < hi)]
        mine = ev[ev["speaker"].isin(agents)]
        fto = mine["fto_ms"].dropna().to_numpy(float)
        frames = vad[list(agents), int(lo // FRAME_MS):int(hi // FRAME_MS)]
        b = bi[(bi["onset_ms"] >= lo) & (bi["onset_ms"] < hi) & bi["speaker"].isin(agents)]
        t = te[(te["end_ms"] >= lo) & (te["end_ms"] < hi) & te["speaker"].isin(agents)]
        out.append({
            "fto": fto, "overlap": event_durations(mine, "overlap"),
            "bc": int((mine["kind"] == "backchannel").sum()),
            "ipu": mine.loc[mine["kind"] == "ipu", "duration_ms"].to_numpy(float),
            "speaker_min": frames.shape[1] * frames.shape[0] * FRAME_MS / 60000.0,
            "speech": int(frames.sum()), "frames": int(frames.size),
            "recovery": b.loc[~b["recovery_censored"].astype(bool), "recovery_ms"].to_numpy(float),
            "recovery_censored": int(b["recovery_censored"].astype(bool).sum()),
            "zombie": b["zombie"].to_numpy(bool),
            "deaf": t["deaf"].to_numpy(bool)})
    return out


def _median(x: np.ndarray) -> float:
    return float(np.median(x)) if len(x) else float("nan")


def _mean(x: np.ndarray) -> float:
    return float(np.mean(x)) if len(x) else float("nan")


def statistics(parts: list[dict[str, Any]]) -> dict[str, float]:
    """Every statistic of STATS over a list of blocks (pooled)."""
    cat = {k: np.concatenate([p[k] for p in parts]) if parts else np.zeros(0)
           for k in ("fto", "overlap", "ipu", "recovery", "zombie", "deaf")}
    fto = cat["fto"]
    minutes = sum(p["speaker_min"] for p in parts)
    frames = sum(p["frames"] for p in parts)
    return {
        "fto_median_ms": _median(fto),
        "overlap_transition_share": _mean(fto < 0),
        "overlap_median_ms": _median(cat["overlap"]),
        "bc_per_speaker_min": sum(p["bc"] for p in parts) / minutes if minutes else float("nan"),
        "ipu_median_ms": _median(cat["ipu"]),
        "speech_share": sum(p["speech"] for p in parts) / frames if frames else float("nan"),
        "recovery_median_ms": _median(cat["recovery"]),
        "zombie_rate": _mean(cat["zombie"].astype(float)),
        "deaf_rate": _mean(cat["deaf"].astype(float)),
    }


Label = tuple[Hashable, int, int]
"""A block's label: (its cluster, its conversation (seed; a corpus's dialogue index), its
block index)."""


def clusters(parts: dict[Label, dict[str, Any]]) -> int:
    """How many clusters ``parts`` come from: the bootstrap's resampled units."""
    return len({label[0] for label in parts})


def resampled(sides: list[dict[Label, dict[str, Any]]], n_boot: int,
              rng: np.random.Generator) -> np.ndarray:
    """``[len(sides), n_boot, len(STATS)]`` statistics of each side's blocks in two-level
    resamples (:func:`resample.cluster_weights`): the clusters with replacement, then the
    blocks of each drawn cluster, each statistic pooled over the drawn blocks as the point
    estimate is over all of them. One draw over the labels any side has serves every side
    (a label several sides have is drawn for all at once: paired; a block only one side
    has, of a conversation that ran longer, counts on that side only)."""
    labels = list(dict.fromkeys(label for side in sides for label in side))
    weights = cluster_weights([label[0] for label in labels], n_boot, rng).astype(int)
    out = np.full((len(sides), n_boot, len(STATS)), np.nan)
    for s, side in enumerate(sides):
        have = [j for j, label in enumerate(labels) if label in side]
        parts = [side[labels[j]] for j in have]
        for i in range(n_boot):
            pick = np.repeat(np.arange(len(have)), weights[i, have])
            out[s, i] = list(statistics([parts[j] for j in pick]).values())
    return out


def bootstrap(parts: dict[Label, dict[str, Any]], n_boot: int, rng: np.random.Generator,
              ) -> np.ndarray:
    """``[n_boot, len(STATS)]`` statistics of two-level resamples (:func:`resampled`)."""
    return resampled([parts], n_boot, rng)[0]


def paired_bootstrap(x: dict[Label, dict[str, Any]], y: dict[Label, dict[str, Any]],
                     n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """``[n_boot, len(STATS)]`` differences ``statistics(x) - statistics(y)`` of paired
    two-level resamples (:func:`resampled`): the clusters both played are drawn for both
    at once, and within a drawn cluster the blocks of the same seed and position."""
    first, second = resampled([x, y], n_boot, rng)
    return first - second


def score(plan: Plan, units: dict[str, np.ndarray], silence: set[int],
          corpus_vads: dict[str, list[np.ndarray]], dialogues: dict[str, list[str]],
          ) -> tuple[pd.DataFrame, dict, dict]:
    """Summary rows (point, CI) per grid point and corpus; the bootstrap draws by key; the
    blocks by key, each labelled (cluster, seed, block index) (:data:`Label`; corpus
    blocks: (dialogue, dialogue index, block index)). ``dialogues``: each corpus's test
    dialogue ids, the replays' (:func:`architectures_grid.replayed`); ``corpus_vads[c]``:
    their VAD."""
    labelled: dict[tuple, dict[Label, dict[str, Any]]] = {}
    for cell in grid(plan):
        name = scenario(plan, cell["corpus"], cell["arch"], cell["partner"], cell["delay_ms"],
                        cell["seed"], "").name
        agents = (0,) if cell["partner"] == "replay" else (0, 1)
        vad = vad_from_units(units[name], silence)
        key = (cell["corpus"], cell["arch"], cell["partner"], cell["delay_ms"])
        cluster = cluster_of(cell, dialogues)
        labelled.setdefault(key, {}).update(
            ((cluster, cell["seed"], k), b) for k, b in enumerate(blocks(vad, agents, plan)))
    for corpus, vads in corpus_vads.items():
        labelled[(corpus, "corpus", "corpus", -1)] = {
            (("dialogue", i), i, k): b for i, v in enumerate(vads)
            for k, b in enumerate(blocks(v, (0, 1), plan))}
    rows, draws = [], {}
    for key, labelled_parts in labelled.items():
        parts = list(labelled_parts.values())
        point = statistics(parts)
        # each key's own stream: one for all moved every interval when --delays or
        # --seeds added a grid point
        draws[key] = bootstrap(labelled_parts, plan.n_boot,
                               point_rng(0, ["corpus", "arch", "partner", "delay_ms"], key))
        n_clusters = clusters(labelled_parts)
        lo, hi = percentile_intervals(draws[key], n_clusters)
        row = dict(zip(("corpus", "arch", "partner", "delay_ms"), key, strict=True))
        row.update({"clusters": n_clusters, "blocks": len(parts),
                    "transitions": sum(len(p["fto"]) for p in parts),
                    "barge_ins": sum(len(p["zombie"]) for p in parts),
                    "recovery_censored": sum(p["recovery_censored"] for p in parts),
                    "turn_ends": sum(len(p["deaf"]) for p in parts)})
        for i, stat in enumerate(STATS):
            row.update({stat: point[stat], f"{stat}_lo": lo[i], f"{stat}_hi": hi[i]})
        row["recovery_median_chunks"] = point["recovery_median_ms"] / plan.chunk_ms
        row["recovery_median_slices"] = point["recovery_median_ms"] / plan.slice_ms
        rows.append(row)
    return pd.DataFrame(rows), draws, labelled


def differences(plan: Plan, labelled: dict, summary: pd.DataFrame) -> pd.DataFrame:
    """TDM - SyncLLM per corpus, partner and delay, CIs from paired two-level resamples
    (:func:`paired_bootstrap`: the two architectures played the same seeds, against a
    replay the same dialogues); NaN where a side has fewer than
    ``intervals.MIN_BOOT_UNITS`` clusters, as in :func:`score`."""
    rows = []
    point = summary.set_index(["corpus", "arch", "partner", "delay_ms"])
    for corpus in CORPORA:
        for partner in PARTNERS:
            for delay in (plan.delays if partner != "self-offset" else plan.delays[:1]):
                t, s = (corpus, "tdm", partner, delay), (corpus, "syncllm", partner, delay)
                # resampled units: the clusters of the side with fewer (paired ones
                # count once)
                # its own stream (not score's, not another point's)
                rng = point_rng(1, ["corpus", "partner", "delay_ms"], (corpus, partner, delay))
                lo, hi = percentile_intervals(paired_bootstrap(labelled[t], labelled[s],
                                                               plan.n_boot, rng),
                                              min(clusters(labelled[t]), clusters(labelled[s])))
                row = {"corpus": corpus, "partner": partner, "delay_ms": delay}
                for i, stat in enumerate(STATS):
                    row[f"d_{stat}"] = point.loc[t, stat] - point.loc[s, stat]
                    row[f"d_{stat}_lo"], row[f"d_{stat}_hi"] = lo[i], hi[i]
                rows.append(row)
    return pd.DataFrame(rows)


def nearer(draws: dict, summary: pd.DataFrame) -> pd.DataFrame:
    """Self-play at 0 ms: is each agent nearer its own corpus than the other one? The
    margin's CI (each draw: the agent's clusters, and each corpus's dialogues, resampled on
    their own) is NaN where the agent or a corpus has fewer than
    ``intervals.MIN_BOOT_UNITS`` clusters, as in :func:`score`."""
    point = summary.set_index(["corpus", "arch", "partner", "delay_ms"])
    rows = []
    for corpus in CORPORA:
        other = next(c for c in CORPORA if c != corpus)
        own_key, other_key = (corpus, "corpus", "corpus", -1), (other, "corpus", "corpus", -1)
        for arch, partner in ((a, p) for p in ("self", "self-offset") for a in ARCHS):
            key = (corpus, arch, partner, 0)
            if key not in draws:
                continue
            for stat in NEARER:
                i = STATS.index(stat)
                x, own, oth = (point.loc[k, stat] for k in (key, own_key, other_key))
                d = draws[key][:, i]
                margin = np.abs(d - draws[other_key][:, i]) - np.abs(d - draws[own_key][:, i])
                # resampled units: the clusters of the agent or corpus with the fewest
                n = min(int(point.loc[k, "clusters"]) for k in (key, own_key, other_key))
                lo, hi = percentile_intervals(margin[:, None], n)
                rows.append({"agent": f"{corpus}{ARCHS[arch]}", "arch": arch,
                             "partner": partner, "statistic": stat,
                             "value": x, "own_corpus": own, "other_corpus": oth,
                             "margin": abs(x - oth) - abs(x - own), "margin_lo": lo[0],
                             "margin_hi": hi[0], "nearer_own": bool(abs(x - own) < abs(x - oth)),
                             "ci_excludes_0": bool(lo[0] > 0 or hi[0] < 0)})
    return pd.DataFrame(rows)
