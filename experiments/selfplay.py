"""Self-play at 0 ms (issue 16): does each agent turn-take like its own corpus?

Each agent (``--agents`` with ``fisher/`` and ``candor/``) talks to itself over an ideal
network (0 ms one way, no jitter, no loss), ``--chunk-ms`` chunks (200), ``--conversations``
conversations of ``--duration-s`` seconds (12 x 60 s), sampling at ``--temperature`` (1.0);
the conversations of one agent run batched (:func:`duplexsim.sim.batch.run_batch`).
Diagnostics (not the issue's protocol, which is the default): ``--decision-lead-chunks 0``
decides own chunk ``j`` at its start, with the partner's chunk ``j - 1`` already received
(lookahead 0 instead of the paper's 1: nothing is estimated at 0 ms);
``--estimation silence`` estimates every missing partner chunk as silence instead of by
the model; ``--top-p`` / ``--top-k`` truncate the agents' sampling (finding 27 of
``docs/results/selfplay/diagnosis.md``).

Scored on both sides, pooled over the conversations: overlap share (both talk, share of the
time), backchannels per minute, listener onsets per listening second and the FTO median
(:mod:`duplexsim.metrics.turntaking`), with 95% percentile bootstrap CIs resampling whole
conversations. The reference is each corpus (all its dialogues) passed through the SyncLLM
token format at the same chunk size: what a perfect agent could play (the format puts
onsets and offsets on the chunk grid). Verdicts, as the issue states them:

- overlap share, backchannels/min and listener onsets/s each within 30% of the agent's own
  corpus; FTO median within 80 ms of it;
- the CANDOR agent above the Fisher agent on backchannels/min and on overlap share (with a
  CI of the difference), as the CANDOR-like corpus is above the Fisher-like one.

Beside the verdicts, a coordination table (point values, frame-level voice activity, both
sides pooled): speech share per side, the share of frames where both speak
(``frame_overlap_share``: raw activity, no pauses bridged, so not the verdicts'
``overlap_share`` of IPUs), overlap episodes per minute and their mean length,
and the share of speech onsets made while the partner speaks. Two speakers who each talk
a share ``p`` of the time and ignore each other overlap ``p**2`` of it; alternation keeps
it far below that. Who ends an overlap episode that one side started over the other: the
side that was speaking first (``holder``: a turn handed over) or the one that came in
(``incomer``: mostly backchannels), the share and mean length of each.

Training runs: one trained agent per card is one draw from a wide distribution (the same
card on another seed or processor plays differently: ``docs/results/selfplay/diagnosis.md``,
findings 1 and 6). ``--agents`` takes several folders, each a training run of both cards
(e.g. ``duplexsim train CARD --seed K``); each plays ``--conversations``, the statistics pool
them all, the CIs resample runs and then conversations within each (two levels), and
``OUT/runs.csv`` gives each run alone.

Writes ``OUT/per_conversation.csv``, ``OUT/summary.csv``, ``OUT/verdicts.csv``,
``OUT/coordination.csv``, ``OUT/REPORT.md`` and ``OUT/selfplay.png`` (and, with several
training runs, ``OUT/runs.csv`` and ``OUT/run_variance.csv``: how much of the runs' spread
is the runs themselves rather than their conversations).

    python experiments/selfplay.py --agents runs/agents --corpora runs/corpora --out runs/selfplay
    python experiments/selfplay.py --agents runs/agents runs/agents-seed1 runs/agents-seed2 \
        --corpora runs/corpora --out runs/selfplay-3runs                      # three training runs
    python experiments/selfplay.py --smoke --out /tmp/selfplay     # tiny world, seconds
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
from cached import conversation_path  # the conversation cache, keyed by its inputs
from continuation_stats import (  # one dialogue's events, pooled
    Scored,
    pooled_stats,
)
from outdir import check_out  # --out: writable, and not another folder's
from provenance import provenance  # the report line (command and commit)

from duplexsim.atomic import atomic_path, write_png, write_text
from duplexsim.cli import ArgumentParser, chunk_ms_arg, number, path_arg, run_reporting
from duplexsim.frame_runs import runs
from duplexsim.metrics.activity import vad_from_units
from duplexsim.metrics.intervals import MIN_BOOT_UNITS, percentile_interval
from duplexsim.tokens import FRAME_MS, format_roundtrip

OUTPUTS = ("world", "conversations", "summary.csv", "verdicts.csv", "per_conversation.csv",
           "coordination.csv", "runs.csv", "run_variance.csv", "selfplay.png", "REPORT.md")
"""What selfplay.py writes in --out: a folder holding one of them is an earlier run's."""

AGENTS = {"fisher": "fisher-like", "candor": "candor-like"}
STATS = ("overlap_share", "backchannels_per_min", "listener_onsets_per_s", "fto_median_ms")
RELATIVE = {"overlap_share": 0.30, "backchannels_per_min": 0.30, "listener_onsets_per_s": 0.30}
"""Allowed relative distance to the own corpus (through the format)."""
ABSOLUTE = {"fto_median_ms": 80.0}
"""Allowed absolute distance (ms)."""


@dataclass(frozen=True)
class Plan:
    agents: Path
    corpora: Path
    out: Path
    conversations: int = 12
    duration_s: float = 60.0
    chunk_ms: int = 200
    temperature: float = 1.0
    n_boot: int = 1000
    decision_lead_chunks: int = 1
    estimation: str = "model"
    estimate_temperature: float | None = None
    top_p: float = 1.0
    """Nucleus sampling of the agents' own units and estimates (1 = off)."""
    top_k: int = 0
    """Top-k sampling (0 = off)."""
    first_seed: int = 0
    """Conversation ``i`` is seeded ``first_seed + i`` (and named ``...-s<seed>``)."""
    replicates: tuple[Path, ...] = ()
    """Further training runs of the same cards (folders with ``fisher/`` and ``candor/``,
    e.g. trained with ``duplexsim train --seed``), each playing ``conversations`` more."""

    @property
    def roots(self) -> tuple[Path, ...]:
        """Every training run played: ``agents`` first, then the ``replicates``."""
        return (self.agents, *self.replicates)


def pooled(parts: list[Scored]) -> dict[str, float]:
    """The :data:`STATS` over several conversations pooled (events concatenated)."""
    s = pooled_stats(parts)
    return {k: s[k] for k in STATS}


def coordination(vads: list[np.ndarray]) -> dict[str, float]:
    """Frame-level coordination of several conversations pooled (see the module docstring);
    ``vads``: voice activity ``bool [2, T]`` each."""
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


def scenarios(plan: Plan, agent: str, root: Path | None = None) -> list:
    """The self-play conversations of ``agent`` of one training run (``root``; default
    ``plan.agents``)."""
    from duplexsim.config.link import LinkConfig
    from duplexsim.config.network import NetworkConfig
    from duplexsim.config.scenario import OutputConfig, Scenario, SideConfig

    side = SideConfig(kind="syncllm", agent=str((root or plan.agents) / agent),
                      temperature=plan.temperature,
                      estimation=plan.estimation,  # type: ignore[arg-type]
                      estimate_temperature=plan.estimate_temperature,
                      top_p=plan.top_p, top_k=plan.top_k)
    link = LinkConfig(delay_ms=0.0, jitter_ms=0.0, jitter_dist="none", loss_model="none",
                      loss=0.0)
    base = Scenario(name=f"{agent}-selfplay", chunk_ms=plan.chunk_ms,
                    duration_s=plan.duration_s, seed=0, a=side, b=side,
                    decision_lead_chunks=plan.decision_lead_chunks,
                    network=NetworkConfig(preset="ideal", a_to_b=link, b_to_a=link),
                    output=OutputConfig(audio=False))
    seeds = range(plan.first_seed, plan.first_seed + plan.conversations)
    return [replace(base, name=f"{agent}-selfplay-s{i}", seed=i) for i in seeds]


def simulate(plan: Plan, agent: str) -> list[np.ndarray]:
    """Played units ``[2, T]`` of each self-play conversation of ``agent``, run by run in
    :attr:`Plan.roots` order (cached in OUT/conversations)."""
    from duplexsim.sim.batch import run_batch

    todo = [s for root in plan.roots for s in scenarios(plan, agent, root)]
    paths = [conversation_path(plan.out, s) for s in todo]
    missing = [(s, p) for s, p in zip(todo, paths, strict=True) if not p.is_file()]
    if missing:
        traces = run_batch([s for s, _ in missing], progress=True)
        for (_, path), trace in zip(missing, traces, strict=True):
            with atomic_path(path) as tmp, open(tmp, "wb") as f:
                np.savez_compressed(f, units=np.asarray(trace.units, np.int64))
    return [np.load(p)["units"] for p in paths]



def corpus_reference(plan: Plan, preset: str) -> tuple[list[np.ndarray], set[int]]:
    """Voice activity of every dialogue of the corpus through the token format at
    ``plan.chunk_ms``, and the corpus's silence units, which are its agent's too: every
    training run of the agent (``plan.roots``) must hold the corpus's unit tokenizer
    (:func:`~duplexsim.units.shared_tokenizer`; another one is an error naming both)."""
    from duplexsim.corpora import load_corpus
    from duplexsim.corpora.corpus import tokenizer_dir
    from duplexsim.units import shared_tokenizer

    agent = next(a for a, p in AGENTS.items() if p == preset)
    shared_tokenizer([(str(plan.corpora / preset), tokenizer_dir(plan.corpora / preset))]
                     + [(str(root / agent), root / agent / "tokenizer") for root in plan.roots])
    corpus = load_corpus(plan.corpora / preset)
    tokenizer = corpus.tokenizer()
    silence = set(int(u) for u in tokenizer.silence_units)  # every one, not the canonical
    vads = [vad_from_units(format_roundtrip(corpus.units(i), plan.chunk_ms, int(corpus.n_units),
                                            int(tokenizer.silence_unit)), silence)
            for i in corpus.ids()]
    return vads, silence


def source_vads(plan: Plan) -> dict[str, list[np.ndarray]]:
    """Voice activity ``bool [2, T]`` of each conversation, by source: each agent's self-play
    (read with its own corpus's silence units) and each corpus through the format."""
    vads: dict[str, list[np.ndarray]] = {}
    silence: dict[str, set[int]] = {}
    for agent, preset in AGENTS.items():  # every tokenizer is checked before simulating
        vads[preset], silence[agent] = corpus_reference(plan, preset)
    for agent in AGENTS:
        vads[agent] = [vad_from_units(u, silence[agent]) for u in simulate(plan, agent)]
    return vads


def run_plan(plan: Plan, command: str) -> Path:
    vads = source_vads(plan)
    run_of = [k for k in range(len(plan.roots)) for _ in range(plan.conversations)]
    parts = {name: [Scored.of(v) for v in vads[name]] for name in [*AGENTS, *AGENTS.values()]}
    played = {a: parts[a] for a in AGENTS}
    refs = {p: parts[p] for p in AGENTS.values()}
    coord = pd.DataFrame([{"source": name, **coordination(vads[name])}
                          for agent, preset in AGENTS.items() for name in (agent, preset)])
    draws = {name: boot_draws(parts, plan.n_boot, i, run_of if name in AGENTS else None)
             for i, (name, parts) in enumerate([*played.items(), *refs.items()])}
    summary = summarize(played, refs, draws, runs=len(plan.roots))
    verdicts = verdict_table(summary, draws)
    per_conv = pd.DataFrame([{"agent": a, "run": str(plan.roots[run_of[i]]), "conversation": i,
                              **pooled([p])}
                             for a, parts in played.items() for i, p in enumerate(parts)])
    per_run = run_table(plan, played, refs, {p: draws[p] for p in refs}, run_of) \
        if len(plan.roots) > 1 else None
    plan.out.mkdir(parents=True, exist_ok=True)
    tables = {"summary": summary, "verdicts": verdicts, "per_conversation": per_conv,
              "coordination": coord}
    if per_run is not None:
        tables["runs"] = per_run
        tables["run_variance"] = run_variance(per_run)
    for name, table in tables.items():
        write_text(plan.out / f"{name}.csv", table.to_csv(index=False))
    plot(summary, plan.out / "selfplay.png", per_run, command)  # the figure names it too
    report = plan.out / "REPORT.md"
    write_text(report, render(plan, summary, verdicts, coord, command, per_run))
    return report


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


def render(plan: Plan, summary: pd.DataFrame, verdicts: pd.DataFrame, coord: pd.DataFrame,
           command: str, per_run: pd.DataFrame | None = None) -> str:
    wide = summary.assign(cell=[f"{v:.3g} [{lo:.3g}, {hi:.3g}]" if np.isfinite(lo)
                                else f"{v:.3g}"  # no CI (too few units): not "[nan, nan]"
                                for v, lo, hi in
                                zip(summary.value, summary.ci_lo, summary.ci_hi, strict=True)])
    table = wide.pivot(index="source", columns="stat", values="cell")[list(STATS)]
    met = int(verdicts.met.sum())
    return "\n".join([
        "# Self-play at 0 ms against the agents' own corpora",
        "",
        command,
        "",
        f"{plan.conversations} self-play conversations of {plan.duration_s:g} s per agent, "
        f"{plan.chunk_ms} ms chunks, ideal network at 0 ms, temperature "
        f"{plan.temperature:g}, decision lead {plan.decision_lead_chunks} chunk(s) "
        f"(lookahead {plan.decision_lead_chunks} at 0 ms), partner estimation "
        f"'{plan.estimation}'"
        + ("" if plan.estimate_temperature is None else
           f" at estimate temperature {plan.estimate_temperature:g}")
        + ("" if plan.top_p == 1.0 else f", top-p {plan.top_p:g}")
        + ("" if plan.top_k == 0 else f", top-k {plan.top_k}")
        + f". Corpora: every dialogue through the token format at "
        f"{plan.chunk_ms} ms. 95% bootstrap CIs over conversations ({plan.n_boot} resamples)"
        + ("." if per_run is None else
           f"; the agents' over {len(plan.roots)} training runs of each card "
           f"({plan.conversations} conversations each: {', '.join(map(str, plan.roots))}), "
           "resampling runs, then conversations within each (two levels), so they include "
           "how much another training run would differ (none under "
           f"{MIN_BOOT_UNITS} runs). Each run alone: 'Training runs' below."),
        "",
        "## Statistics (both sides pooled)",
        "",
        table.to_markdown(),
        "",
        f"## Verdicts ({met} of {len(verdicts)} met)",
        "",
        verdicts.to_markdown(index=False, floatfmt=".3g"),
        "",
        *([] if per_run is None else [
            "## Training runs (each alone: its conversations pooled; verdicts with CIs over "
            "its own conversations)",
            "",
            per_run[[c for c in per_run.columns if not c.startswith("se_")]].to_markdown(
                index=False, floatfmt=".3g"),
            "",
            "Spread between the runs: the runs' standard deviation, their mean standard "
            "error over conversations, and what is left for the runs themselves "
            "(`sqrt(max(0, sd^2 - se^2))`; larger than the standard error: more runs, not "
            "more conversations, narrow a claim about the card):",
            "",
            run_variance(per_run).to_markdown(index=False, floatfmt=".3g"),
            ""]),
        "## Coordination (point values, frame level, both sides pooled)",
        "",
        coord.to_markdown(index=False, floatfmt=".3g"),
        "",
        "![self-play](selfplay.png)",
        "",
    ])


def plot(summary: pd.DataFrame, path: Path, per_run: pd.DataFrame | None = None,
         caption: str = "") -> None:
    """Bars with 95% CIs per statistic; with several training runs, each run's own value
    as a dot on its agent's bar. ``caption``: the command and commit, under the plot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(STATS), figsize=(4 * len(STATS), 3.4))
    order = ["fisher", "fisher-like", "candor", "candor-like"]
    colors = ["tab:blue", "lightsteelblue", "tab:orange", "navajowhite"]
    for ax, stat in zip(axes, STATS, strict=True):
        rows = summary[summary.stat == stat].set_index("source").reindex(order)
        err = np.vstack([rows.value - rows.ci_lo, rows.ci_hi - rows.value])
        ax.bar(range(len(order)), rows.value, yerr=err, color=colors, capsize=3)
        if per_run is not None:
            for agent in AGENTS:
                y = per_run[per_run.agent == agent][stat].to_numpy(dtype=float)
                ax.plot(np.full(len(y), order.index(agent)), y, "k.", ms=5,
                        label="one training run" if agent == "fisher" else None)
            if stat == STATS[0]:
                ax.legend(fontsize=7, loc="best")
        ax.set_xticks(range(len(order)), ["F agent", "F corpus", "C agent", "C corpus"])
        ax.set_title(stat, fontsize=9)
    write_png(fig, path, caption=caption or None)


def check_roots(parser: ArgumentParser, roots: list[Path]) -> None:
    """Each ``--agents`` folder once, each holding both agents (one line otherwise)."""
    seen: set[Path] = set()
    for root in roots:
        if root.resolve() in seen:
            parser.error(f"--agents: {root} given twice (allowed: each training run once)")
        seen.add(root.resolve())
        parser.require_trained("--agents", [root / a for a in AGENTS])


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    check_out(args.out, OUTPUTS, "selfplay.py")  # before any work or world is made
    from duplexsim.threads import use_threads

    use_threads(args.threads)
    roots, corpora = list(args.agents), args.corpora
    if args.smoke:
        from tiny_world import build_tiny_world

        agents, corpora = build_tiny_world(args.out / "world")
        roots = [agents]
    check_roots(parser, roots)
    plan = Plan(agents=roots[0], replicates=tuple(roots[1:]), corpora=corpora, out=args.out,
                conversations=2 if args.smoke else args.conversations,
                duration_s=6.0 if args.smoke else args.duration_s,
                chunk_ms=160 if args.smoke else args.chunk_ms, temperature=args.temperature,
                n_boot=50 if args.smoke else args.n_boot,
                decision_lead_chunks=args.decision_lead_chunks, estimation=args.estimation,
                estimate_temperature=args.estimate_temperature, top_p=args.top_p,
                top_k=args.top_k)
    print(f"wrote {run_plan(plan, provenance('selfplay.py', argv))}")
    return 0


def _parser() -> ArgumentParser:
    """The flags, in ``--help``'s order."""
    parser = ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=path_arg, default=Path("runs/selfplay"),
                        help="output folder (new or empty, or an earlier run's of this script) "
                             "(default: %(default)s)")
    parser.add_argument("--agents", type=Path, nargs="+", default=[Path("runs/agents")],
                        help="one folder with fisher/ and candor/ per training run of the "
                        "cards (several: replicates, e.g. `duplexsim train --seed`; CIs "
                        "then resample runs too) (default: %(default)s)")
    parser.add_argument("--corpora", type=Path, default=Path("runs/corpora"),
                        help="built corpora's folder, with fisher-like/ and candor-like/ "
                             "(default: %(default)s)")
    parser.add_argument("--smoke", action="store_true", help="tiny world built in OUT/world")
    parser.add_argument("--conversations", type=number(1, 100_000, integer=True), default=12,
                        help="self-play conversations per agent and training run (seeds 0..N-1) "
                             "(default: %(default)s)")
    parser.add_argument("--duration-s", type=number(0, 86_400, low_open=True), default=60.0,
                        help="length of each conversation in s (default: %(default)s)")
    parser.add_argument("--chunk-ms", type=chunk_ms_arg, default=200,
                        help="chunk length in ms (default: %(default)s)")
    parser.add_argument("--temperature", type=number(0, 100), default=1.0,
                        help="sampling temperature of the agents (1.0: the model's own "
                             "distribution) (default: %(default)s)")
    parser.add_argument("--n-boot", type=number(1, 1_000_000, integer=True), default=1000,
                        help="bootstrap resamples of the 95%% CIs (default: %(default)s)")
    parser.add_argument("--decision-lead-chunks", type=int, default=1, choices=(0, 1),
                        help="1: the paper's set-up (lookahead 1 at 0 ms); 0: a diagnostic"
                             " (default: %(default)s)")
    parser.add_argument("--estimation", default="model", choices=("model", "silence"),
                        help="how a missing partner chunk is estimated (diagnostic)"
                             " (default: %(default)s)")
    parser.add_argument("--estimate-temperature", type=number(0, 100), default=None,
                        help="temperature of the model's partner estimates (default: "
                        "--temperature; 0: the most likely continuation)")
    parser.add_argument("--top-p", type=number(0, 1, low_open=True), default=1.0,
                        help="nucleus sampling of the agents' units and estimates "
                             "(default: %(default)s: off)")
    parser.add_argument("--top-k", type=number(0, 1_000_000, integer=True), default=0,
                        help="top-k sampling (default: %(default)s: off)")
    parser.add_threads()
    return parser


if __name__ == "__main__":
    raise SystemExit(run_reporting(main, "selfplay.py"))
