"""What rl_turn_policy.py writes for a person to read: ``REPORT.md`` (the tables of
:mod:`rl_stats` as text, every mean with its 95% interval) and ``rl.png``. Must not compute
statistics or run episodes."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from duplexsim.atomic import write_png, write_text
from duplexsim.envs.baselines import RulePolicy

import numpy as np
import pandas as pd
from rl_stats import BASELINES

if TYPE_CHECKING:  # its Config is only a type here
    from rl_config import Config


def fmt(mean: float, lo: float, hi: float, digits: int = 2) -> str:
    if not np.isfinite(mean):
        return "-"
    if not np.isfinite(lo):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def paired_table(ver: pd.DataFrame) -> pd.DataFrame:
    """The paired differences of :func:`verdicts` against every baseline, one column each,
    as ``mean [lo, hi]`` (REPORT.md: twelve numeric columns would not read)."""
    table = ver[["set", "delay_ms", "dialogues"]].copy()
    for b in BASELINES:
        if f"paired_{b}" in ver:
            table[f"ppo - {b}"] = [fmt(m, lo, hi) for m, lo, hi in zip(
                ver[f"paired_{b}"], ver[f"paired_{b}_lo"], ver[f"paired_{b}_hi"], strict=True)]
    table["paired_beats_all"] = ver["paired_beats_all"]
    return table


def table(summary: pd.DataFrame, cols: Sequence[str]) -> str:
    lines = ["| set | delay ms | policy | n | dialogues | " + " | ".join(cols) + " |",
             "|---" * (len(cols) + 5) + "|"]
    for r in summary.itertuples():
        d = r._asdict()
        cells = [fmt(d[c], d[f"{c}_lo"], d[f"{c}_hi"], 0 if c.endswith("_ms") else 2)
                 for c in cols]
        lines.append(f"| {r.set} | {r.delay_ms:g} | {r.policy} | {r.episodes} | "
                     f"{r.dialogues} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def corpus_row(cfg: Config) -> str:
    from duplexsim.corpora import load_corpus
    from duplexsim.corpora.stats import corpus_stats

    st = corpus_stats(load_corpus(cfg.corpus), split="test")["units"]
    keys = ["overlap_share", "gap_median_ms", "fto_median_ms", "backchannels_per_min",
            "ipus_per_min", "speech_share"]
    return ("| corpus (test split, both sides pooled) | " + " | ".join(keys) + " |\n|"
            + "---|" * (len(keys) + 1) + "\n| " + Path(cfg.corpus).name + " | "
            + " | ".join(f"{st[k]:.3g}" for k in keys) + " |")


def test_corpus_text(cfg: Config) -> str:
    if not cfg.test_corpus:
        return ""
    return (f" Set `test-corpus`: every dialogue of `{cfg.test_corpus}`, another corpus of "
            "the same units that no training episode saw; against held-out agents the "
            "learner's lines come from its train split (none of them trained on either).")


GAP_NOTE = """

`gap_lo`, `gap_hi`: its 95% interval, each set's episodes resampled over its own dialogues
(none below 5 dialogues in either set). `within_1_5`: the gap itself within 1.5;
`ci_within_1_5`: the whole interval within +-1.5."""
"""What the generalisation table's columns are: under it, when it has rows."""


def rule_text(silence_ms: float, backchannel_ms: float) -> str:
    return f"{silence_ms:g} ms silence" + (f", backchannel after {backchannel_ms:g} ms"
                                           if backchannel_ms else "")


def tie_text(tuning: pd.DataFrame, winner: RulePolicy) -> str:
    """The settings of one latency's tuning (:func:`rl_train.tune_rule`'s rows) that its
    episodes cannot tell from the ``winner``: the paired interval of setting minus winner
    reaches 0 (a setting equal to the winner is one too; too few dialogues for an
    interval: said so)."""
    other = ((tuning["silence_ms"] != winner.silence_ms)
             | (tuning["backchannel_ms"] != winner.backchannel_after_ms))
    ties = tuning[other & ~(tuning["minus_best_hi"] < 0)]
    if not len(ties):
        return ""
    if ties["minus_best_hi"].isna().any():
        return " (no intervals: too few dialogues to tell the settings apart)"
    return " (tied with " + " and ".join(
        f"{rule_text(t.silence_ms, t.backchannel_ms)}, {t.minus_best:+.2f} "
        f"[{t.minus_best_lo:+.2f}, {t.minus_best_hi:+.2f}]" for t in ties.itertuples()) + ")"


def write_report(out: Path, cfg: Config, command: str, summary: pd.DataFrame,
                 ver: pd.DataFrame, gen: pd.DataFrame, farm: pd.DataFrame,
                 tuned: dict[float, RulePolicy], tuning: pd.DataFrame, seconds: float) -> None:
    def md(df: pd.DataFrame) -> str:
        return df.to_markdown(index=False, floatfmt=".2f") if len(df) else "(none)"

    rules = "; ".join(f"{d:g} ms: {rule_text(r.silence_ms, r.backchannel_after_ms)}"
                      + tie_text(tuning[tuning["delay_ms"] == d], r) for d, r in tuned.items())
    met = ver[ver["delay_ms"].isin([0, 240]) & (ver["set"] != "train-dialogues")]
    source = f" (the policy of `{cfg.policy}`, evaluated here)" if cfg.policy else ""
    text = f"""# RL turn policy: PPO against held-out dialogues and partners

{command}  ({seconds / 60:.0f} min)

Config: `config.json`. PPO trained {cfg.timesteps} steps{source} on train-split replay dialogues
of `{cfg.corpus}` (random starts, both channels){' + SyncLLM partners ' +
', '.join(cfg.train_agents) if cfg.train_agents else ''}, {cfg.envs_per_latency} envs per latency
{cfg.latencies_ms} ms one way. Evaluated at {cfg.evaluated()} ms one way, on {cfg.episodes}
episodes per replay cell and {cfg.agent_episodes} per held-out agent cell ({cfg.duration_s:g} s
each; every policy on the same seeds, so the same dialogues, starts and networks). Rule
baseline tuned per latency on {cfg.tune_episodes} episodes of train dialogues per setting
(`rule_tuning.csv`): {rules}. Intervals: 95% bootstrap over the
cell's dialogues (two levels: the dialogues, then each drawn dialogue's episodes; `n`:
episodes, `dialogues`: the dialogues they come from; none below 5 dialogues). Against a
held-out agent the dialogues are those of the learner's lines: the one agent is not
resampled, so its intervals do not cover another agent.{test_corpus_text(cfg)}

## Does PPO beat every baseline (non-overlapping 95% CIs)?
{md(ver.drop(columns=[c for c in ver if c.startswith("paired_")
                       and c not in ("paired_gap", "paired_lo", "paired_hi")]))}

Held-out cells at 0 and 240 ms: {int(met['beats_all'].sum())} of {len(met)} met (each on the
intervals over its `dialogues`; a cell of fewer than 5 has none and is not met).
`paired_gap`: PPO minus the best baseline episode by episode (the same seeds), with its
95% interval over the dialogues (`paired_lo`, `paired_hi`).

Paired against every baseline: PPO minus each, episode by episode, with its 95% interval
over the dialogues; `paired_beats_all`: every lower bound above 0. Held-out cells at 0 and
240 ms: {int(met['paired_beats_all'].sum())} of {len(met)} met.

{md(paired_table(ver))}

## Generalisation: PPO reward on held-out minus train dialogues (target within 1.5)
{md(gen)}{GAP_NOTE if len(gen) else ""}

![episode reward per policy against delay, one panel per evaluation set, 95% CIs](rl.png)

## Reward and turn-taking statistics
{table(summary, ["reward", "overlap_share", "gap_median_ms", "learner_fto_median_ms",
                 "learner_backchannels_per_min", "bc_placed_share", "interruptions"])}

{corpus_row(cfg)}

The corpus-reference rows are the corpus's own turn-taking through the env (the learner's
channel of each test dialogue replayed as actions); FTO and gap are medians per episode
(NaN episodes without a transition are left out: see `summary.csv`, `*_n`); `bc_placed_share`:
the learner's backchannels that the reward counts as well placed (partner holding the floor,
spaced out), a measure of backchannel timing.

## Reward farming: fixed policies against the corpus reference (test dialogues, paired)
{md(farm)}
"""
    write_text(out / "REPORT.md", text)


def plot(summary: pd.DataFrame, path: Path, caption: str = "") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sets = list(dict.fromkeys(summary["set"]))
    fig, axes = plt.subplots(1, len(sets), figsize=(4 * len(sets), 3.6), squeeze=False)
    for ax, set_name in zip(axes[0], sets, strict=True):
        g = summary[summary["set"] == set_name]
        for policy, h in g.groupby("policy", sort=False):
            ax.errorbar(h["delay_ms"], h["reward"],
                        yerr=[h["reward"] - h["reward_lo"], h["reward_hi"] - h["reward"]],
                        marker="o", capsize=3, label=policy)
        ax.set_title(set_name)
        ax.set_xlabel("one-way delay (ms)")
    axes[0][0].set_ylabel("episode reward (95% CI)")
    axes[0][-1].legend(fontsize=7)
    write_png(fig, path, caption=caption or None)
