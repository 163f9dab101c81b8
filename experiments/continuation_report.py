"""What continuation.py writes for a person to read: ``REPORT.md`` of one training run
(:func:`write_outputs`, with the CSVs it shows) and its figures (``continuation.png``,
``sources.png``; over several runs ``runs.png``). Must not compute statistics
(:mod:`continuation_stats`) or generate."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from duplexsim.atomic import write_png, write_text

import numpy as np
import pandas as pd
from continuation_stats import AGENTS, ASR_COLUMNS, COMPARED, R_BOOT, in_distribution

if TYPE_CHECKING:  # the study's Plan is only a type here
    from continuation_plan import Plan


def correlation_table(corr: pd.DataFrame) -> str:
    """The markdown table of a correlations frame: ``avg`` with its CI as ``avg_ci``, the
    other ``_lo``/``_hi`` columns left to the CSV."""
    return (corr.assign(avg_ci=[f"[{lo:.2f}, {hi:.2f}]" for lo, hi
                                in zip(corr["avg_lo"], corr["avg_hi"], strict=True)])
            .drop(columns=[c for c in corr.columns if c.endswith(("_lo", "_hi"))])
            .to_markdown(index=False, floatfmt=".3f"))


def plot_sources(sources: pd.DataFrame, path: Path, caption: str = "") -> None:
    """Overlap share of every source with its 95% CI, one panel per prompt corpus: the
    ground truth and format toplines, continuation and interaction side by side."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    corpora = [c for c in AGENTS.values() if c in set(sources["prompts"])]
    fig, axes = plt.subplots(1, len(corpora), figsize=(7 * len(corpora), 4.2), squeeze=False)
    for ax, corpus in zip(axes[0], corpora, strict=True):
        t = sources[sources["prompts"] == corpus].reset_index(drop=True)
        colors = ["tab:gray" if s.startswith(("ground", "format", "resynth")) else
                  "tab:blue" if s.startswith("syncllm") else "tab:red" for s in t["source"]]
        v = t["overlap_share"].to_numpy(float)
        err = [v - t["overlap_share_lo"].to_numpy(float), t["overlap_share_hi"] - v]
        ax.bar(range(len(t)), v, color=colors, yerr=err, capsize=3)
        ax.set_xticks(range(len(t)), t["source"], rotation=45, ha="right", fontsize=8)
        ax.set_title(f"{corpus} prompts: gray reference, blue one model writes both "
                     "sides, red two agents", fontsize=9)
        ax.set_ylabel("overlap share (95% CI)")
    write_png(fig, path, caption=caption or None)


def plot(corr: pd.DataFrame, comp: pd.DataFrame, path: Path, caption: str = "") -> None:
    """Left: r vs ground truth (pooled prompts) per source; right: agents vs corpora on each
    statistic of :data:`COMPARED`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 1 + len(COMPARED), figsize=(5 * (1 + len(COMPARED)), 4.2))
    t = corr[(corr["reference"] == "ground_truth") & (corr["prompts"] == "all")]
    events = ["ipu", "pause", "fto", "avg"]
    x = np.arange(len(t))
    for k, ev in enumerate(events):
        axes[0].bar(x + (k - 1.5) * 0.2, t[ev].to_numpy(float), 0.2, label=ev)
    axes[0].set_xticks(x, t["source"], rotation=45, ha="right", fontsize=8)
    axes[0].axhline(0, color="k", lw=0.5)
    axes[0].set_ylabel("Pearson r vs ground truth")
    axes[0].legend(fontsize=7)
    for ax, key in zip(axes[1:], COMPARED, strict=True):
        c = comp[(comp["metric"] == key) & comp["source"].str.endswith("-all")]
        for i, row in enumerate(c.itertuples()):
            ax.errorbar(i, row.value, yerr=[[row.value - row.ci_lo], [row.ci_hi - row.value]],
                        fmt="o", capsize=4, label=f"{row.source} (95% CI)")
        for preset, color in zip(AGENTS.values(), ("tab:blue", "tab:orange"), strict=True):
            for cols, style, what in ((("own_value", "other_value"), "--", "corpus"),
                                      (("own_format", "other_format"), ":", "through format")):
                ref = c[cols[0]].where(c["own_corpus"] == preset, c[cols[1]]).iloc[0]
                ax.axhline(ref, ls=style, color=color, lw=1, label=f"{preset} {what}")
        ax.set_xticks(range(len(c)), c["source"])
        ax.set_title(key)
        ax.legend(fontsize=7)
    write_png(fig, path, caption=caption or None)


def write_outputs(plan: Plan, per_prompt: pd.DataFrame, corr: pd.DataFrame,
                  comp: pd.DataFrame, persistence: pd.DataFrame,
                  sources: pd.DataFrame, command: str = "") -> Path:
    for name, df in (("per_prompt", per_prompt), ("correlations", corr),
                     ("corpus_comparison", comp), ("persistence", persistence),
                     ("sources", sources)):
        write_text(plan.out / f"{name}.csv", df.to_csv(index=False, float_format="%.4g"))
    plot(corr, comp, plan.out / "continuation.png", command)  # the figures name it too
    plot_sources(sources, plan.out / "sources.png", command)
    text = [*_study_sections(plan, per_prompt, corr, command),
            *_comparison_sections(plan, comp, sources, persistence),
            *asr_section(per_prompt),
            "\n\n![continuation](continuation.png)\n"]
    write_text(plan.out / "REPORT.md", "\n".join(text))
    return plan.out / "REPORT.md"


def _study_sections(plan: Plan, per_prompt: pd.DataFrame, corr: pd.DataFrame,
                    command: str) -> list[str]:
    """REPORT.md's head, the r tables (against the ground truth and in distribution) and
    the mean event durations."""
    means = per_prompt.groupby("source", sort=False)[["ipu", "pause", "fto", "gap",
                                                      "overlap"]].mean()
    return [f"# Continuation study\n\n{command}\n\nprompt {plan.prompt_s:g} s -> continuation "
            f"{plan.continuation_s:g} s; seeds {list(plan.seeds)}; "
            f"sampling temperature {plan.temperature:g}; "
            f"{per_prompt['prompt'].nunique()} prompts from splits {list(plan.splits)}. "
            "Every source is scored on the same frames, those of the ground-truth "
            "continuation; an agent sees the prompt cut to whole chunks (at 160 ms a 30 s "
            "prompt ends at 29.92 s) and its chunks before the prompt's end are not scored.\n",
            "## Pearson r across prompts (Table 2/6: vs ground truth; Table 7: vs prompt)\n",
            "`avg_ci`: 95% percentile bootstrap CI of `avg` over prompts "
            f"({R_BOOT} resamples; every event's CI is in `correlations.csv`). `n_prompts`: "
            "prompts with all three events on both sides; `n_ipu`, `n_pause`, `n_fto`: the "
            "prompts each event's r is over. Several seeds: r per seed (one continuation "
            "per prompt, as the paper), `avg` the mean over the `n_seeds` seeds, its CI "
            "resampling prompts, then seeds; `sd_seeds` their spread.\n",
            correlation_table(corr),
            "\n\n### In distribution: each agent on its own corpus's prompts\n",
            "Average r over ipu / pause / fto against the ground truth, beside the Prompt "
            "row's over the same prompts (paired: per event, the `n_ipu`, `n_pause`, `n_fto` "
            "prompts where both have a value, so `prompt_avg_r` can differ from the Prompt "
            "row above); `ratio` = agent / Prompt (issue 16's bar: >= 0.6).\n",
            in_distribution([per_prompt]).to_markdown(index=False, floatfmt=".3f"),
            "\n\n## Mean event durations (ms), averaged over prompts and seeds\n",
            means.to_markdown(floatfmt=".0f")]


def _comparison_sections(plan: Plan, comp: pd.DataFrame, sources: pd.DataFrame,
                         persistence: pd.DataFrame) -> list[str]:
    """REPORT.md's agents-vs-corpora table, every source's turn-taking and the style
    persistence per window."""
    return ["\n\n## Agents vs corpora (each agent on its own corpus's prompts, pooled; 95% "
            "bootstrap CI over prompts, each with all its continuations)\n",
            "`truth_format`: the ground truth of the same prompts through the token format, "
            "what a perfect agent reaches on them. Two references per corpus: as recorded "
            "(`own_value`, `other_value`, `nearer_own`) and passed through the SyncLLM "
            "token format at the source's chunk sizes (`own_format`, `other_format`, "
            "`nearer_own_format`; the `format-C` rows above): deduplication and "
            "interpolation move onsets to the chunk grid, so a perfect agent reaches the "
            "second, not the first.\n",
            comp.to_markdown(index=False, floatfmt=".3g"),
            "\n\n## Turn-taking of every source (pooled; 95% bootstrap CI over prompts, "
            "each with all its continuations)\n",
            "Per prompt corpus and both pooled (`prompts`). `syncllm-x-C`: one model writes "
            "both sides (continuation); `inter-xy-C`: agent x on channel 0 and agent y on "
            f"channel 1 continue the prompt together (interaction, lookahead {plan.lead} "
            "chunk(s)). "
            "On the same prompts, the only difference between `syncllm-f-C` and "
            "`inter-ff-C` is whether the two sides' chunks are decided together or apart.\n",
            sources.drop(columns=[c for c in sources.columns
                                  if c.endswith(("_lo", "_hi"))]).to_markdown(
                index=False, floatfmt=".3g"),
            "\n\n![overlap share of every source](sources.png)\n",
            "\n\n## Style persistence: r against the prompt, per window of the continuation\n",
            "Each window's own mean durations against the prompt's (both corpora's prompts "
            "pooled). The ground truth's rows are how much of the prompt's style a real "
            "continuation keeps at that distance; an agent that reads its prompt and drifts "
            "to its own habits starts near them and falls off. `n_short`: continuations "
            "that end before the window does (no values there; all of them: no r).\n",
            persistence.to_markdown(index=False, floatfmt=".3f")]


def asr_section(per_prompt: pd.DataFrame) -> list[str]:
    """The report's ASR table (only when ``--asr`` added the columns)."""
    if "asr_ppl" not in per_prompt.columns:
        return []
    table = per_prompt.dropna(subset=["asr_words"]).groupby("source", sort=False)
    table = table[list(ASR_COLUMNS)]
    return ["\n\n## ASR semantic proxy (Whisper tiny.en -> en-us trigram LM)\n",
            "Means over prompts and seeds; per row both channels pooled. ground_truth = "
            "corpus audio, resynth = ground-truth units vocoded, agents = their units "
            "vocoded (Griffin-Lim: expect high WER). A low perplexity with a high repeat "
            "rate is a Whisper hallucination loop, not fluent speech. WER against the "
            "corpus transcript; transcripts in asr_transcripts.csv.\n",
            table.mean().to_markdown(floatfmt=".3g")]


def plot_runs(pooled: pd.DataFrame, per_run: pd.DataFrame, path: Path,
              caption: str = "") -> None:
    """Each agent's in-distribution average r: every run alone (dots), the mean over runs
    with its two-level CI, its corpus's Prompt row and issue 16's bar (0.6x of it)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(2.2 + 2.2 * len(pooled), 4.2))
    for i, row in enumerate(pooled.itertuples()):
        lo, hi = (float(v) for v in row.avg_r_ci.strip("[]").split(","))
        ax.errorbar(i, row.avg_r, yerr=[[row.avg_r - lo], [hi - row.avg_r]], fmt="s",
                    color="k", capsize=6, label="mean over runs (95% CI)" if i == 0 else None)
        runs = per_run.loc[per_run["source"] == row.source, "avg_r"].to_numpy(float)
        ax.plot(np.full(len(runs), i + 0.15), runs, "o", color="tab:blue", alpha=0.7,
                label="each run alone" if i == 0 else None)
        ax.hlines(row.prompt_avg_r, i - 0.35, i + 0.35, color="tab:green",
                  label="corpus Prompt row" if i == 0 else "")  # "": not in the legend
        ax.hlines(0.6 * row.prompt_avg_r, i - 0.35, i + 0.35, color="tab:red", ls="--",
                  label="bar: 0.6x Prompt row" if i == 0 else "")
    ax.axhline(0, color="k", lw=0.5)
    top = np.nanmax(np.r_[pooled["prompt_avg_r"].to_numpy(float), per_run["avg_r"], 0.0])
    ax.set_ylim(top=top + 0.25)  # room for the legend above the Prompt rows
    ax.set_xticks(range(len(pooled)), [f"{r.agent}\n{r.source}" for r in pooled.itertuples()])
    ax.set_ylabel("average r (ipu, pause, fto) vs ground truth")
    ax.set_title(f"in distribution, {per_run['run'].nunique()} training runs")
    ax.legend(fontsize=7, loc="upper center", ncol=2)
    write_png(fig, path, caption=caption or None)


def write_runs_report(plan: Plan, roots: list[Path], pooled: pd.DataFrame, corr: pd.DataFrame,
                      n_prompts: int, command: str = "") -> Path:
    """``OUT/REPORT.md`` of the study over several training runs (``roots``): each agent's
    in-distribution r over the runs beside its bar (``pooled``: ``in_distribution`` with
    each run's own r, the bar and the verdict) and every r as the mean over runs (``corr``:
    ``runs_correlation_tables``), over ``n_prompts`` prompts; returns its path."""
    text = [f"# Continuation study over {len(roots)} training runs\n\n{command}\n\n"
            f"prompt {plan.prompt_s:g} s -> continuation {plan.continuation_s:g} s; seeds "
            f"{list(plan.seeds)}; sampling temperature {plan.temperature:g}; "
            f"{n_prompts} prompts from splits {list(plan.splits)}; the "
            "same prompts for every run.\n",
            "Runs (each run's full report in `runs/runK/REPORT.md`):\n",
            *[f"- run{k}: `{root}`" for k, root in enumerate(roots)],
            "\n## In distribution: each agent on its own corpus's prompts (Table 2)\n",
            "`avg_r`: the mean over runs of each run's average r over ipu / pause / fto "
            "against the ground truth; `avg_r_ci`: 95% CI of a two-level bootstrap (prompts, "
            f"then runs; {R_BOOT} resamples), so it includes how much another training run "
            "would differ; `sd_runs`: the runs' standard deviation; `runs_alone`: each run's "
            "own average r; `bar`: 0.6x the corpus's Prompt row (issue 16); `met`: `avg_r` "
            ">= `bar`.\n",
            pooled.to_markdown(index=False, floatfmt=".3f"),
            "\n\n## Pearson r across prompts, mean over runs (Table 2/6: vs ground truth; "
            "Table 7: vs prompt)\n",
            "`avg_ci`: two-level bootstrap CI of `avg` (every event's CI is in "
            "`runs_correlations.csv`); `n_ipu`, `n_pause`, `n_fto`: the prompts each "
            "event's r is over (the fewest of any run). Prompt, format and resynthesis "
            "rows do not depend on the agents: the same in every run.\n",
            correlation_table(corr), "", "![each run and their mean](runs.png)",
            ""]
    write_text(plan.out / "REPORT.md", "\n".join(text))
    return plan.out / "REPORT.md"
