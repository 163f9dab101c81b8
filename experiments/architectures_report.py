"""What architectures.py writes for a person to read: ``REPORT.md``'s text
(:func:`report`, every value with its 95% CI) and ``architectures.png`` (:func:`plot`). Must
not run conversations or compute statistics (:mod:`architectures_stats`)."""

from __future__ import annotations

from pathlib import Path

from duplexsim.atomic import write_png
from duplexsim.metrics.intervals import MIN_BOOT_UNITS

import numpy as np
import pandas as pd
from architectures_grid import Plan


def _cell(row: pd.Series, stat: str, digits: int = 0) -> str:
    v, lo, hi = row[stat], row[f"{stat}_lo"], row[f"{stat}_hi"]
    if not np.isfinite(v):
        return "-"
    if not np.isfinite(lo):  # no CI (fewer than MIN_BOOT_UNITS clusters): not "[nan, nan]"
        return f"{v:.{digits}f}"
    return f"{v:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def report(plan: Plan, summary: pd.DataFrame, diffs: pd.DataFrame, near: pd.DataFrame,
           command: str, held: dict[str, str]) -> str:
    """REPORT.md's text; ``held``: corpus -> what its corpus rows scored
    (:func:`architectures_grid.held_out`)."""
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
