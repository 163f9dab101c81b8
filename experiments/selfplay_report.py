"""The report of ``selfplay.py``: ``REPORT.md``'s text and the ``selfplay.png`` figure."""

from __future__ import annotations

from pathlib import Path

from duplexsim.atomic import write_png
from duplexsim.metrics.intervals import MIN_BOOT_UNITS

import numpy as np
import pandas as pd
from selfplay_plan import AGENTS, Plan
from selfplay_tables import STATS, run_variance


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
