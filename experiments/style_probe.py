"""Does an agent use what it has heard of a speaker? Teacher-forced stop and start hazards
with a long and a short context (issue 16 diagnosis: why the agents carry no style).

The continuation study finds the agents' turn-taking uncorrelated with their prompt's
(r about 0 against a Prompt row of 0.5). This asks the model directly, on real
conversations of a corpus: at the ``[S0]`` of every chunk ``k`` (from ``--start-s`` on), for
each side as the agent's own, its probability that the side's first new unit is silence
when the side was speaking at the end of chunk ``k - 1`` (a *stop*), or speech when it was
silent (a *start*). Each decision is scored twice: with a **long** context (as many whole
chunks before ``k`` as fit in the agent's context: 18-19 s for the demo agents at 200 ms)
and a **short** one (the last ``--short-chunks`` chunks). A speaker's style (IPU and
pause lengths, drawn per speaker and recorded in the manifest) is only in the long
context; what is local (the units of the last second) is in both.

Per (agent, corpus): the binary log loss of each view at stops and starts and what the
long context gains (nats per decision); what the speaker's drawn style (log IPU and pause
medians, from the manifest) adds to a constant, to the short view and to the long view
(logistic regressions cross-fitted over dialogues): style the agent reads from its long
context adds nothing over the long view. The same with the *heard* style: the mean
durations of the speaker's IPUs and pauses (the definitions of ``duplexsim.metrics``) that
the long context holds whole, what the agent could have read there. And, across
speakers, the correlation of the observed stop (start) rate and of the agent's mean
long-context probability with the speaker's IPU (pause) median. 95% bootstrap CIs over
dialogues.

    python experiments/style_probe.py --pair runs/agents/fisher runs/corpora/fisher-like \\
        --out runs/style_probe
    python experiments/style_probe.py --smoke --out /tmp/style_probe     # tiny world

Outputs in ``--out``: ``decisions.csv`` (one row per decision and agent), ``speakers.csv``,
``summary.csv``, ``REPORT.md`` (command and commit), ``style_probe.png``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from duplexsim.atomic import atomic_path, write_png, write_text
from duplexsim.cli import ArgumentParser, number, run_reporting
from duplexsim.corpora.corpus import SPLITS

import pandas as pd
from handover import (  # the --pair flags, checks and labels of the hand-over probe
    check_pairs,
    pair_labels,
    pair_parser,
    smoke_pairs,
)
from outdir import check_out  # --out: writable, and not another folder's
from provenance import provenance  # the report line (command and commit)
from style_probe_decisions import probe_decisions, read_decisions  # the decisions scored
from style_probe_stats import summarize  # gains, correlations and their CIs

OUTPUTS = ("world", "decisions.csv", "speakers.csv", "summary.csv", "style_probe.png",
           "REPORT.md")
"""What style_probe.py writes in --out: a folder holding one of them is an earlier run's."""

def report(summary: pd.DataFrame, speakers: pd.DataFrame, out: Path, line: str, *,
           chunk_ms: int, short_chunks: int, start_s: float) -> Path:
    _plot_rates(summary, speakers, out, line)

    def ci(key: str, fmt: str = "{:+.4f}") -> pd.Series:
        return summary.apply(lambda r: f"{fmt.format(r[key])} [{fmt.format(r[key + '_lo'])}, "
                                       f"{fmt.format(r[key + '_hi'])}]", axis=1)

    counts = summary[["label", "n_dialogues", "history_s", "n_stops", "stop_rate", "n_starts",
                      "start_rate"]]
    tables = [counts.to_markdown(index=False, floatfmt=".3f")]
    for event, style in (("stop", "ipu"), ("start", "pause")):
        gains = summary[["label"]].assign(**{
            f"{event}s: long context over short": ci(f"{event}_context"),
            "style alone over pooled": ci(f"{event}_style_alone"),
            "style over short context": ci(f"{event}_style_short"),
            "style over long context": ci(f"{event}_style_long"),
            "heard style over short": ci(f"{event}_heard_short"),
            "heard style over long": ci(f"{event}_heard_long"),
            f"r(observed rate, log {style} median)": ci(f"r_{event}_rate_{style}", "{:+.2f}"),
            f"r(agent long, log {style} median)": ci(f"r_{event}_long_{style}", "{:+.2f}")})
        tables.append(gains.to_markdown(index=False))
    text = "\n".join([
        "# Does the agent use what it has heard of a speaker?", "", line, "",
        f"Teacher-forced on real conversations at {chunk_ms} ms chunks, every chunk from "
        f"{start_s:g} s on, each side as the agent's own: P(the side's first new unit in the "
        "chunk is silence) when it was speaking at the end of the chunk before (a stop), "
        "P(speech) when it was silent (a start). Long context: as many whole chunks as fit "
        "in the agent's context (mean history `history_s`, seconds); short: the last "
        f"{short_chunks} chunks. Gains in nats per decision: the long context's over the "
        "short one (binary log loss), and what the speaker's drawn style (log IPU and pause "
        "medians from the manifest) adds to a constant, to the short and to the long view "
        "(logistic regressions cross-fitted over dialogues, 2 folds); *heard* style: "
        "the same with the mean durations of the speaker's IPUs and pauses that the long "
        "context holds whole instead (what the agent could have read). Style the "
        "agent has read from the long context adds nothing over it; style it has not read "
        "adds what it adds over the short one. Correlations across speakers (rates per "
        "speaker). 95% bootstrap CIs over dialogues.", "",
        *[t + "\n" for t in tables],
        "![rates per speaker against its style](style_probe.png)", ""])
    write_text(out / "REPORT.md", text)
    return out / "REPORT.md"


def _plot_rates(summary: pd.DataFrame, speakers: pd.DataFrame, out: Path, line: str) -> None:
    """``style_probe.png``: per pair, each speaker's observed and predicted stop and start
    rates against its drawn style."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = list(summary.label)
    fig, axes = plt.subplots(2, len(labels), figsize=(4 * len(labels), 6.4), squeeze=False)
    for col, label in enumerate(labels):
        s = speakers[speakers.label == label]
        for row, (event, style) in enumerate((("stop", "ipu_median_s"),
                                              ("start", "pause_median_s"))):
            ax = axes[row][col]
            ax.scatter(s[style], s[f"{event}_rate"], s=10, color="black", label="observed")
            ax.scatter(s[style], s[f"p_{event}_long"], s=10, color="tab:blue",
                       label="agent, long context")
            ax.scatter(s[style], s[f"p_{event}_short"], s=10, color="tab:orange", marker="x",
                       label="agent, short context")
            ax.set_xlabel(f"speaker's drawn {style.replace('_s', ' (s)').replace('_', ' ')}")
            ax.set_ylabel(f"{event}s per decision")
            ax.set_title(label, fontsize=8)
    axes[0][0].legend(fontsize=7)
    write_png(fig, out / "style_probe.png", caption=line)  # the command and commit


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    check_out(args.out, OUTPUTS, "style_probe.py")  # before any work or world is made
    # (they were replaced without a word: --smoke --chunk-ms 240 probed 160 ms chunks, and
    # --decisions took its settings from the file whatever --pair or --chunk-ms said)
    probe = ("pair", "chunk_ms", "short_chunks", "start_s", "split", "max_dialogues")
    parser.refuse_unread(args, "--smoke", (*probe, "n_boot", "decisions"),
                         "smoke mode takes the tiny world's agents and corpora, 160 ms chunks, "
                         "2 short chunks from 3 s, 4 dialogues of every split, 50 resamples")
    parser.refuse_unread(args, "--decisions", probe,
                         "the decisions' agents and settings are those of the run that wrote "
                         "them")
    command = provenance("style_probe.py", argv)  # the code as it is when the run starts
    from duplexsim.threads import use_threads

    use_threads(args.threads)
    pairs, split = args.pair or [], None if args.split == "all" else args.split
    chunk_ms, short, start_s, n_boot = args.chunk_ms, args.short_chunks, args.start_s, args.n_boot
    max_dialogues = args.max_dialogues
    if args.smoke:
        pairs = smoke_pairs(args.out)
        chunk_ms, short, start_s, n_boot, max_dialogues = 160, 2, 3.0, 50, 4
    if not pairs and args.decisions is None:
        parser.error("give at least one --pair AGENT CORPUS (or --smoke, or --decisions)")
    check_pairs(parser, pairs)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.decisions is not None:
        runs, (chunk_ms, short, start_s) = _earlier_runs(parser, args.decisions)
    else:
        runs = []
        for (agent, corpus), label in zip(pairs, pair_labels(pairs), strict=True):
            runs.append((label, probe_decisions(
                agent, corpus, chunk_ms=chunk_ms, short_chunks=short, start_s=start_s,
                split=split, max_dialogues=max_dialogues).assign(label=label)))
    summary, all_spk = _summarize_runs(runs, n_boot, args.out)
    path = report(summary, all_spk, args.out, command, chunk_ms=chunk_ms,
                  short_chunks=short, start_s=start_s)
    print(f"wrote {path}")
    return 0


def _parser() -> ArgumentParser:
    """The probe's flags (:func:`pair_parser`'s and this script's), in ``--help``'s order."""
    parser = pair_parser(__doc__, "runs/style_probe", "probe")
    parser.add_argument("--short-chunks", type=number(1, 100_000, integer=True), default=5,
                        help="chunks of the short context (default: %(default)s: 1 s at 200 ms)")
    parser.add_argument("--start-s", type=number(0, 86_400), default=15.0,
                        help="score chunks from here on (so the long context is long)"
                             " (default: %(default)s)")
    parser.add_argument("--split", default="all", choices=[*SPLITS, "all"],
                        help="corpus split ('all': every one) (default: %(default)s)")
    parser.add_argument("--max-dialogues", type=number(1, 1_000_000, integer=True), default=40,
                        help="dialogues probed per pair: the split's first N "
                             "(default: %(default)s)")
    parser.add_argument("--n-boot", type=number(1, 1_000_000, integer=True), default=1000,
                        help="bootstrap resamples of the 95%% CIs (default: %(default)s)")
    parser.add_argument("--decisions", type=Path, default=None,
                        help="analyse the decisions.csv of an earlier run instead of running "
                             "the agents again (--pair then not needed)")
    parser.add_threads()
    return parser


def _earlier_runs(parser: ArgumentParser, path: Path
                  ) -> tuple[list[tuple[str, pd.DataFrame]], tuple[Any, ...]]:
    """``--decisions``: an earlier run's decisions per label, and its chunk ms, short chunks
    and start s (one line when the file is missing)."""
    if not path.is_file():
        parser.error(f"--decisions {path}: file not found (allowed: the "
                     "decisions.csv of an earlier run)")
    earlier = read_decisions(path)
    runs = [(label, earlier[earlier.label == label].reset_index(drop=True))
            for label in earlier.label.unique()]
    return runs, tuple(earlier[c].iloc[0] for c in ("chunk_ms", "short_chunks", "start_s"))


def _summarize_runs(runs: list[tuple[str, pd.DataFrame]], n_boot: int, out: Path
                    ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each run's summary (printed as it comes) and per-speaker rates, written with the
    decisions to OUT's ``decisions.csv``, ``speakers.csv`` and ``summary.csv``; the summary
    and the speakers."""
    decisions, speakers, rows = [], [], []
    for label, dec in runs:
        stats, spk = summarize(dec, n_boot)
        decisions.append(dec)
        speakers.append(spk.assign(label=label))
        row = {"label": label, **stats}
        rows.append(row)
        print({k: round(float(v), 4) if isinstance(v, float) else v for k, v in row.items()},
              flush=True)
    all_dec, all_spk, summary = (pd.concat(decisions, ignore_index=True),
                                 pd.concat(speakers, ignore_index=True), pd.DataFrame(rows))
    for name, frame in (("decisions", all_dec), ("speakers", all_spk), ("summary", summary)):
        with atomic_path(out / f"{name}.csv") as tmp:
            frame.to_csv(tmp, index=False)
    return summary, all_spk


if __name__ == "__main__":
    raise SystemExit(run_reporting(main, "style_probe.py"))
