"""Architectures (issue 17): SyncLLM vs TDM agents trained on the same corpus, across delay.

Two duplex architectures on the same units, model size and corpus: SyncLLM (``--agents``
``fisher/``, ``candor/``: interleaved chunks, estimates the partner ahead) and the
time-division-multiplexing agent (``fisher-tdm/``, ``candor-tdm/``: 1.2 s slices with
``<idle>``/``<eos>``, :mod:`duplexsim.agents.tdm`). For each corpus and architecture, two
partners: the agent itself (self-play) and a replay of a held-out corpus dialogue (its
channel 1, which never yields: every barge-in is a test of the agent), at one-way delays
``--delays`` (0 160 240 480 ms, ideal network otherwise), ``--seeds`` conversations of
``--duration-s`` each, 200 ms chunks, decision lead 1. Two agents of one kind share their
clocks, so two TDM agents in self-play decide their slices at the same instants; a third
partner, ``self-offset`` (0 ms only), shifts side B's clock by half a slice (-600 ms), as
two independent systems would be.

Scored on the agent speakers (both sides in self-play, side A against a replay):
- turn-taking against the corpus: FTO median of transitions into them (their response
  latency), share of those transitions made in overlap and the median transition overlap
  (their double talk, :func:`duplexsim.metrics.turntaking.event_durations`, as
  ``summarize_events`` reports it), backchannels per speaker-minute, IPU median, speech share;
- interruption recovery (:mod:`duplexsim.metrics.interruptions`): time from a barge-in
  (partner IPU >= 1 s starting while the agent is 0.4 s into an IPU) to the end of the
  agent's IPU, in ms, chunks and slices (a recovery cut off by the conversation's end, the
  agent's IPU running to the last frame, is left out of the median: only a lower bound;
  the report counts these beside each median);
- the failure signatures: zombie output (talks through the whole barge-in) and deafness
  (a partner IPU >= 1 s ends and nobody speaks for 2 s).
The corpora's test splits (all dialogues of a corpus with none, and the report says so)
are scored the same way (both channels as agents). Statistics
are pooled over ``--block-s`` blocks (15 s) of every conversation; 95% CIs by a two-level
bootstrap (:func:`resampled`) within a grid point: the clusters with replacement, then the
blocks of each drawn cluster with replacement. A cluster is a conversation (its seed), and
against a replay the replayed dialogue: with more ``--seeds`` than test dialogues, seeds
replay one dialogue again (``seed % dialogues``) and are one cluster; a corpus row's
clusters are its dialogues. The resampled units are the clusters: below
``intervals.MIN_BOOT_UNITS`` of them there is no CI (the value alone). (Blocks resampled as
if independent gave intervals too narrow: a conversation's blocks are alike.) TDM - SyncLLM
differences are paired: the two architectures play the same seeds (against a replay, the
same dialogues), so a cluster, and within it the block of one seed and position, is drawn
for both at once. "Nearer own corpus": in self-play at 0 ms, ``|x - other corpus| - |x -
own corpus|`` for backchannels/min and FTO median, with its CI (resampling the agent's
clusters and each corpus's dialogues).

Writes ``OUT/conversations/*.npz`` (the played units, reused on rerun while the
scenario and its agents' and corpora's files are the same), ``OUT/
per_conversation.csv``, ``OUT/summary.csv``, ``OUT/differences.csv`` (TDM - SyncLLM),
``OUT/nearer.csv``, ``OUT/REPORT.md`` and ``OUT/architectures.png``.

    python experiments/architectures.py --out runs/architectures             # full
    python experiments/architectures.py --smoke --out /tmp/architectures     # tiny, seconds

Smoke mode builds a tiny world (:mod:`tiny_world`: two small corpora, tiny SyncLLM agents)
and trains tiny TDM agents through ``duplexsim train`` on cards it writes, then runs delays
0 and 480 ms, one seed, 8 s conversations.
"""

from __future__ import annotations

import json
from collections.abc import Hashable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from cached import conversation_path  # the conversation cache, keyed by its inputs
from outdir import check_out  # --out: writable, and not another folder's
from provenance import provenance  # the report line (command and commit)
from resample import (  # the two-level bootstrap: clusters, then blocks; each point's stream
    cluster_weights,
    point_rng,
)
from tqdm import tqdm

from duplexsim.atomic import atomic_path, write_png, write_text
from duplexsim.cli import ArgumentParser, number, path_arg, run_reporting
from duplexsim.metrics.activity import vad_from_units
from duplexsim.metrics.interruptions import barge_ins, turn_ends
from duplexsim.metrics.intervals import MIN_BOOT_UNITS, percentile_intervals
from duplexsim.metrics.turntaking import detect_events, event_durations
from duplexsim.tokens import FRAME_MS

OUTPUTS = ("world", "conversations", "summary.csv", "differences.csv", "nearer.csv",
           "architectures.png", "REPORT.md")
"""What architectures.py writes in --out: a folder holding one of them is an earlier run's."""

CORPORA = {"fisher": "fisher-like", "candor": "candor-like"}
ARCHS = {"syncllm": "", "tdm": "-tdm"}
"""Architecture -> suffix of its agent directory (``fisher``, ``fisher-tdm``)."""
STATS = ("fto_median_ms", "overlap_transition_share", "overlap_median_ms",
         "bc_per_speaker_min", "ipu_median_ms", "speech_share", "recovery_median_ms",
         "zombie_rate", "deaf_rate")
NEARER = ("bc_per_speaker_min", "fto_median_ms")


@dataclass(frozen=True)
class Plan:
    agents: Path
    corpora: Path
    out: Path
    delays: tuple[int, ...] = (0, 160, 240, 480)
    seeds: int = 6
    """Conversations per grid point: 6, as an interval needs ``intervals.MIN_BOOT_UNITS``
    (5) clusters (with 3, the default until 2026-12-07, no agent row had one)."""
    duration_s: float = 60.0
    chunk_ms: int = 200
    slice_ms: int = 1200
    block_s: float = 15.0
    n_boot: int = 1000
    temperature: float = 1.0


# ---------------------------------------------------------------------- simulation
def agent_dir(plan: Plan, corpus: str, arch: str) -> Path:
    return plan.agents / f"{corpus}{ARCHS[arch]}"


def scenario(plan: Plan, corpus: str, arch: str, partner: str, delay: int, seed: int,
             dialogue: str) -> Any:
    from duplexsim.config.link import LinkConfig
    from duplexsim.config.network import NetworkConfig
    from duplexsim.config.scenario import OutputConfig, Scenario, SideConfig

    path = str(agent_dir(plan, corpus, arch))
    me = (SideConfig(kind="tdm", agent=path, slice_ms=plan.slice_ms,
                     temperature=plan.temperature) if arch == "tdm"
          else SideConfig(kind="syncllm", agent=path, temperature=plan.temperature))
    if partner == "replay":
        other = SideConfig(kind="replay", corpus=str(plan.corpora / CORPORA[corpus]),
                           dialogue=dialogue, channel=1)
    else:  # self-play; self-offset: B's slices (and chunks) half a slice after A's
        other = replace(me, clock_offset_ms=-(plan.slice_ms // 2) if partner == "self-offset"
                        else 0)
    link = LinkConfig(delay_ms=float(delay), jitter_ms=0.0, jitter_dist="none",
                      loss_model="none", loss=0.0)
    return Scenario(name=f"{corpus}-{arch}-{partner}-{delay}ms-s{seed}",
                    chunk_ms=plan.chunk_ms, duration_s=plan.duration_s, seed=seed, a=me,
                    b=other, network=NetworkConfig(preset="ideal", a_to_b=link, b_to_a=link),
                    output=OutputConfig(audio=False))


PARTNERS = ("self", "replay", "self-offset")


def grid(plan: Plan) -> list[dict[str, Any]]:
    return [{"corpus": c, "arch": a, "partner": p, "delay_ms": d, "seed": s}
            for c in CORPORA for a in ARCHS for p in PARTNERS
            for d in (plan.delays if p != "self-offset" else plan.delays[:1])
            for s in range(plan.seeds)]


def held_out(plan: Plan) -> dict[str, tuple[list[str], str]]:
    """Each corpus's test dialogue ids (all of them where it has no test split): the replay
    partners' dialogues and the corpus rows' conversations; with what they are, for the
    report's corpus rows ("test split", or "all N dialogues: no test split")."""
    from duplexsim.corpora import load_corpus

    out = {}
    for c, p in CORPORA.items():
        corpus = load_corpus(plan.corpora / p)
        tests = corpus.ids("test")
        out[c] = (tests, "test split") if tests else \
            (corpus.ids(), f"all {len(corpus.ids())} dialogues: no test split")
    return out


def held_out_dialogues(plan: Plan) -> dict[str, list[str]]:
    """Each corpus's held-out dialogue ids (:func:`held_out`)."""
    return {c: ids for c, (ids, _) in held_out(plan).items()}


def replayed(dialogues: dict[str, list[str]], corpus: str, seed: int) -> str:
    """The test dialogue a replay partner plays at ``seed``: with more seeds than test
    dialogues, seeds share one (one bootstrap cluster, :func:`cluster_of`)."""
    return dialogues[corpus][seed % len(dialogues[corpus])]


def cluster_of(cell: dict[str, Any], dialogues: dict[str, list[str]]) -> Hashable:
    """A conversation's bootstrap cluster: against a replay the replayed dialogue (seeds
    that replay the same one are not independent), otherwise its seed."""
    if cell["partner"] == "replay":
        return ("dialogue", replayed(dialogues, cell["corpus"], cell["seed"]))
    return ("seed", cell["seed"])


def simulate_all(plan: Plan) -> dict[str, np.ndarray]:
    """Every conversation's played units ``[2, T]`` (cached in OUT/conversations)."""
    from duplexsim.sim import run

    tests = held_out_dialogues(plan)
    units = {}
    cells = grid(plan)
    for cell in tqdm(cells, desc="conversations", unit="conv"):
        s = scenario(plan, cell["corpus"], cell["arch"], cell["partner"], cell["delay_ms"],
                     cell["seed"], replayed(tests, cell["corpus"], cell["seed"]))
        path = conversation_path(plan.out, s)
        if not path.is_file():
            trace = run(s)
            with atomic_path(path) as tmp, open(tmp, "wb") as f:
                np.savez_compressed(f, units=np.asarray(trace.units, np.int64))
        units[s.name] = np.load(path)["units"]
    return units


# ---------------------------------------------------------------------- scoring
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
    dialogue ids, the replays' (:func:`replayed`); ``corpus_vads[c]``: their VAD."""
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


# ---------------------------------------------------------------------- outputs
def _cell(row: pd.Series, stat: str, digits: int = 0) -> str:
    v, lo, hi = row[stat], row[f"{stat}_lo"], row[f"{stat}_hi"]
    if not np.isfinite(v):
        return "-"
    if not np.isfinite(lo):  # no CI (fewer than MIN_BOOT_UNITS clusters): not "[nan, nan]"
        return f"{v:.{digits}f}"
    return f"{v:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def report(plan: Plan, summary: pd.DataFrame, diffs: pd.DataFrame, near: pd.DataFrame,
           command: str, held: dict[str, str]) -> str:
    """REPORT.md's text; ``held``: corpus -> what its corpus rows scored (:func:`held_out`)."""
    cols = [("fto_median_ms", "FTO median ms", 0), ("overlap_transition_share",
            "overlapping transitions", 2), ("bc_per_speaker_min", "backchannels / speaker-min", 1),
            ("recovery_median_ms", "recovery ms", 0), ("zombie_rate", "zombie rate", 2),
            ("deaf_rate", "deaf rate", 2)]
    recovery = [c[0] for c in cols].index("recovery_median_ms")
    lines = ["# Architectures: SyncLLM vs TDM", "", command, "",
             f"{plan.seeds} seed(s) x {plan.duration_s:g} s per grid point, chunk "
             f"{plan.chunk_ms} ms, TDM slice {plan.slice_ms} ms, temperature {plan.temperature:g}, "
             f"ideal network with the one-way delay both ways, decision lead 1. 95% CIs: two-level "
             f"bootstrap, {plan.n_boot} resamples of the conversations (against a replay: "
             f"the replayed dialogues, seeds that replay one dialogue count once; corpus: "
             f"its dialogues), then of the {plan.block_s:g} s blocks within each; TDM - "
             f"SyncLLM resamples paired by conversation and block. No CI (the value alone) "
             f"over fewer than {MIN_BOOT_UNITS} conversations or dialogues. Recovery in chunks "
             f"= ms / {plan.chunk_ms}, in slices = ms / {plan.slice_ms}; 'censored': the "
             "barge-ins whose interrupted IPU ran to the end of the conversation, left out "
             "of the recovery median (their recovery is only a lower bound).", ""]
    for partner, title in (("self", "Self-play"), ("replay", "Against a replay of the corpus"),
                           ("self-offset", "Self-play, B's clock half a slice later")):
        heads = [c[1] for c in cols]
        heads.insert(recovery + 1, "censored")
        lines += [f"## {title}", "", "| corpus | arch | delay ms | " + " | ".join(heads)
                  + " | barge-ins | turn ends |", "|" + "---|" * (len(heads) + 5)]
        part = summary[summary["partner"].isin([partner, "corpus"])]
        for _, r in part.sort_values(["corpus", "arch", "delay_ms"]).iterrows():
            label = f"corpus ({held[r['corpus']]})" if r["arch"] == "corpus" else r["arch"]
            delay = "" if r["delay_ms"] < 0 else str(r["delay_ms"])
            cells = [_cell(r, s, d) for s, _, d in cols]
            cells.insert(recovery + 1, str(r["recovery_censored"]))
            lines.append(f"| {r['corpus']} | {label} | {delay} | " + " | ".join(cells)
                         + f" | {r['barge_ins']} | {r['turn_ends']} |")
        lines.append("")
    lines += ["## TDM - SyncLLM", "", "| corpus | partner | delay ms | d FTO median ms | "
              "d recovery ms | censored TDM / SyncLLM | d zombie rate | d deaf rate |",
              "|---|---|---|---|---|---|---|---|"]
    censored = summary.set_index(["corpus", "arch", "partner", "delay_ms"])["recovery_censored"]
    for _, r in diffs.iterrows():
        vals = [_cell(r, f"d_{s}", d) for s, d in (("fto_median_ms", 0),
                ("recovery_median_ms", 0), ("zombie_rate", 2), ("deaf_rate", 2))]
        vals.insert(2, " / ".join(str(censored[(r["corpus"], arch, r["partner"], r["delay_ms"])])
                                  for arch in ("tdm", "syncllm")))
        lines.append(f"| {r['corpus']} | {r['partner']} | {r['delay_ms']} | " + " | ".join(vals)
                     + " |")
    lines += ["", "## Nearer its own corpus? (self-play, 0 ms)", "",
              "margin = |x - other corpus| - |x - own corpus| (> 0: nearer its own).", "",
              "| agent | partner | statistic | value | own corpus | other corpus | "
              "margin [95% CI] | nearer own |", "|---|---|---|---|---|---|---|---|"]
    for _, r in near.iterrows():
        lines.append(f"| {r['agent']} | {r['partner']} | {r['statistic']} | {r['value']:.1f} | "
                     f"{r['own_corpus']:.1f} | {r['other_corpus']:.1f} | "
                     f"{_cell(r, 'margin', 1)} | "
                     f"{'yes' if r['nearer_own'] else 'no'}"
                     f"{' (CI > 0)' if r['margin_lo'] > 0 else ''} |")
    lines += ["", "![FTO, overlap, recovery, zombie and deaf rates, backchannels against delay, "
              "with 95% CIs](architectures.png)"]
    return "\n".join(lines) + "\n"


def plot(plan: Plan, summary: pd.DataFrame, path: Path, caption: str) -> None:
    """Each statistic against delay per corpus, architecture and partner; ``caption``: the
    command and commit."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stats = [("fto_median_ms", "FTO median (ms)"), ("overlap_transition_share",
             "overlapping transitions"), ("recovery_median_ms", "barge-in recovery (ms)"),
             ("zombie_rate", "zombie rate"), ("deaf_rate", "deaf rate"),
             ("bc_per_speaker_min", "backchannels / speaker-min")]
    fig, axes = plt.subplots(2, 3, figsize=(13, 7))
    for ax, (stat, label) in zip(axes.ravel(), stats, strict=True):
        for (corpus, arch, partner), part in summary[summary["arch"] != "corpus"].groupby(
                ["corpus", "arch", "partner"]):
            part = part.sort_values("delay_ms")
            ax.errorbar(part["delay_ms"], part[stat],
                        yerr=[part[stat] - part[f"{stat}_lo"], part[f"{stat}_hi"] - part[stat]],
                        marker="o" if arch == "tdm" else "s", capsize=2,
                        linestyle="-" if partner == "self" else ":",
                        label=f"{corpus} {arch} {partner}")
        ax.set_xlabel("one-way delay (ms)")
        ax.set_title(label)
    axes[0, 0].legend(fontsize=7)
    write_png(fig, path, caption=caption)


def run_plan(plan: Plan, command: str) -> Path:
    from duplexsim.corpora import load_corpus

    units = simulate_all(plan)
    first = load_corpus(plan.corpora / CORPORA["fisher"])
    silence = set(first.tokenizer().silence_units)
    held = held_out(plan)
    dialogues = {c: ids for c, (ids, _) in held.items()}
    corpus_vads = {}
    for c, p in CORPORA.items():
        corpus = load_corpus(plan.corpora / p)
        corpus_vads[c] = [vad_from_units(corpus.units(i), silence)
                          for i in dialogues[c]]
    summary, draws, labelled = score(plan, units, silence, corpus_vads, dialogues)
    diffs, near = differences(plan, labelled, summary), nearer(draws, summary)
    for name, table in (("summary", summary), ("differences", diffs), ("nearer", near)):
        with atomic_path(plan.out / f"{name}.csv") as tmp:
            table.to_csv(tmp, index=False, float_format="%.6g")
    write_text(plan.out / "REPORT.md", report(plan, summary, diffs, near, command,
                                              {c: what for c, (_, what) in held.items()}))
    plot(plan, summary, plan.out / "architectures.png", command)
    return plan.out / "REPORT.md"


# ---------------------------------------------------------------------- smoke world
def smoke_world(root: Path) -> tuple[Path, Path]:
    """Tiny corpora and SyncLLM agents (:mod:`tiny_world`) plus tiny TDM agents trained with
    ``duplexsim train`` on cards written here."""
    from tiny_world import build_tiny_world

    from duplexsim.cli import main as cli
    from duplexsim.corpora import load_corpus

    agents, corpora = build_tiny_world(root)
    for corpus, preset in CORPORA.items():
        out = agents / f"{corpus}-tdm"
        if (out / "agent.json").is_file():
            continue
        n_units = load_corpus(corpora / preset).n_units
        card = root / "cards" / f"{corpus}-tdm.toml"
        stage = "steps = 3\nbatch_tokens = 512\nseq_len = 128\nwarmup_steps = 1\nlr = 3e-3\n"
        write_text(card, f'[agent]\nname = "{corpus}-tdm"\ncorpus_preset = "{preset}"\n'
                         f'kind = "tdm"\n[model]\nsize = "tiny"\nn_units = {n_units}\n'
                         'text_vocab_size = 300\n[train]\nbf16 = false\nval_every = 3\n'
                         'val_batches = 1\ncheckpoint_every = 3\n[stage1]\nenabled = false\n'
                         f'[stage2]\n{stage}[stage3]\n{stage}[tdm]\nslice_ms = [1200]\n'
                         'window_slices = 6\ninterruption_prob = 0.5\n')
        code = cli(["train", str(card), "--corpus", str(corpora / preset), "--out", str(out),
                    "--no-progress"])
        if code:
            raise SystemExit(f"training {card} failed ({code})")
    return agents, corpora


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=path_arg, default=Path("runs/architectures"),
                        help="output folder (new or empty, or an earlier run's of this script) "
                             "(default: %(default)s)")
    parser.add_argument("--agents", type=Path, default=Path("runs/agents"),
                        help="trained agents' folder, with fisher/, candor/, fisher-tdm/ and "
                             "candor-tdm/ (default: %(default)s)")
    parser.add_argument("--corpora", type=Path, default=Path("runs/corpora"),
                        help="built corpora's folder, with fisher-like/ and candor-like/ "
                             "(default: %(default)s)")
    parser.add_argument("--smoke", action="store_true", help="tiny world built in OUT/world")
    parser.add_argument("--delays", type=number(0, 600_000, integer=True), nargs="+",
                        default=[0, 160, 240, 480],
                        help="one-way delays (ms, distinct); the first is self-offset's"
                             " (default: %(default)s)")
    # fewer than MIN_BOOT_UNITS conversations give no interval at all
    parser.add_argument("--seeds", type=number(MIN_BOOT_UNITS, 100_000, integer=True),
                        default=Plan.seeds,
                        help=f"conversations per grid point (seeds 0..N-1; at least "
                             f"{MIN_BOOT_UNITS}, as an interval needs) (default: %(default)s)")
    parser.add_argument("--duration-s", type=number(0, 86_400, low_open=True), default=60.0,
                        help="length of each conversation in s (default: %(default)s)")
    parser.add_argument("--block-s", type=number(0, 86_400, low_open=True), default=15.0,
                        help="block length (s): the inner level of the bootstrap"
                             " (default: %(default)s)")
    parser.add_argument("--n-boot", type=number(1, 1_000_000, integer=True), default=1000,
                        help="bootstrap resamples of the 95%% CIs (default: %(default)s)")
    parser.add_argument("--temperature", type=number(0, 100), default=1.0,
                        help="sampling temperature of the agents (1.0: the model's own "
                             "distribution) (default: %(default)s)")
    parser.add_threads()
    args = parser.parse_args(argv)
    check_out(args.out, OUTPUTS, "architectures.py")  # before any work or world is made
    from duplexsim.threads import use_threads

    use_threads(args.threads)
    parser.require_distinct("--delays", args.delays)  # one cell's blocks would count twice
    command = provenance("architectures.py", argv)
    plan = Plan(agents=args.agents, corpora=args.corpora, out=args.out,
                delays=tuple(args.delays), seeds=args.seeds, duration_s=args.duration_s,
                block_s=args.block_s, n_boot=args.n_boot, temperature=args.temperature)
    if args.smoke:
        agents, corpora = smoke_world(args.out / "world")
        plan = replace(plan, agents=agents, corpora=corpora, delays=(0, 480), seeds=1,
                       duration_s=8.0, block_s=4.0, n_boot=100)
    parser.require_trained("--agents", [agent_dir(plan, c, a) for c in CORPORA for a in ARCHS])
    path = run_plan(plan, command)
    print(json.dumps({"report": str(path)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(run_reporting(main, "architectures.py"))
