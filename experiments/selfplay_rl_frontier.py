"""Overlap against listener onsets over self-play training runs: does a reward move the agent
along the line its runs share, or off it towards its corpus?

Reads ``iterations.csv`` of each ``selfplay_rl.py`` output folder (one row per iteration:
the rollouts' pooled overlap share and listener onsets per second) and fits, by least
squares over the rows of the ``--baseline`` runs (an iteration 0 they share, the same
untrained rollouts, counted once), ``overlap = a x onsets + b``. Every run
is then summarised by its rows' mean residual from that line (negative: less overlap for
the same onset rate, towards the corpus; the corpus's own point is printed as a residual
too) and the figure shows every row, the line and the corpus. Writes ``OUT/frontier.csv``
(every row with its run and residual), ``OUT/REPORT.md`` and ``OUT/frontier.png``.

    T=docs/results/selfplay/diagnosis/selfplay-rl/training
    python experiments/selfplay_rl_frontier.py $T/* --baseline fisher-s0.3-kl0.5 \\
        fisher-s0.3-kl0.1 --corpus-overlap 0.0754 --corpus-onsets 0.329 \\
        --out docs/results/selfplay/diagnosis/selfplay-rl/frontier
"""

from __future__ import annotations

from pathlib import Path

from duplexsim.atomic import write_png, write_text
from duplexsim.cli import ArgumentParser, number, path_arg, run_reporting
from duplexsim.config.readers import read_csv, refuse_cell

import numpy as np
import pandas as pd
from outdir import check_out  # --out: writable, and not another folder's
from provenance import provenance  # the report line (command and commit)

OUTPUTS = ("frontier.csv", "frontier.png", "REPORT.md")
"""What selfplay_rl_frontier.py writes in --out: a folder holding one of them is an
earlier run's."""

COLUMNS = ("overlap_share", "listener_onsets_per_s")


def read_runs(folders: list[Path]) -> pd.DataFrame:
    """Every row of every run's ``iterations.csv`` with a measured onset rate, named by run."""
    parts = []
    for folder in folders:
        path = folder / "iterations.csv"
        table = read_csv(path, what="a selfplay_rl.py iterations.csv",
                         numbers=("iteration", *COLUMNS))
        whole = table["iteration"].notna() & (table["iteration"] % 1 == 0)
        if not whole.all():
            refuse_cell(path, table, "iteration", ~whole, "a whole number")
        table["iteration"] = table["iteration"].astype(int)  # (the report prints it as one)
        table = table.dropna(subset=list(COLUMNS))  # iterations without a measured rate
        parts.append(table.assign(run=folder.name)[["run", "iteration", *COLUMNS]])
    return pd.concat(parts, ignore_index=True)


def distinct_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows without repeats of one measurement: an iteration-0 row equal in both numbers
    to an earlier run's is the same untrained agent's same rollouts (runs of one base agent
    and ``--first-seed`` start alike), kept once. Later rows are left as they are."""
    repeat = (rows["iteration"] == 0) & rows.duplicated(subset=["iteration", *COLUMNS])
    return rows[~repeat]


def fit_line(rows: pd.DataFrame) -> tuple[float, float, float]:
    """``(a, b, r)``: least-squares ``overlap = a x onsets + b`` and Pearson r of the rows."""
    x, y = rows["listener_onsets_per_s"].to_numpy(), rows["overlap_share"].to_numpy()
    a, b = np.polyfit(x, y, 1)
    return float(a), float(b), float(np.corrcoef(x, y)[0, 1])


def summarise(rows: pd.DataFrame) -> pd.DataFrame:
    """Per run: its rows' residuals from the line (count, mean, sd, min, max)."""
    out = rows.groupby("run", sort=False)["residual"].agg(["count", "mean", "std", "min", "max"])
    return out.rename(columns={"count": "rows"}).reset_index()


def plot(rows: pd.DataFrame, a: float, b: float, corpus: tuple[float, float] | None,
         path: Path, caption: str) -> None:
    """Every row, the line and the corpus; ``caption``: the command and commit."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    for run, part in rows.groupby("run", sort=False):
        ax.plot(part["listener_onsets_per_s"], part["overlap_share"], "o-", ms=4, lw=0.6,
                alpha=0.8, label=run)
    x = np.linspace(0, max(rows["listener_onsets_per_s"].max(), 0.4), 50)
    ax.plot(x, a * x + b, "k--", lw=1, label=f"baseline line: {a:.3f} x + {b:.3f}")
    if corpus is not None:
        ax.plot(corpus[1], corpus[0], "k*", ms=14, label="corpus through the format")
    ax.set_xlabel("listener onsets per second (rollouts)")
    ax.set_ylabel("overlap share (rollouts)")
    ax.legend(fontsize=6, loc="upper left")
    write_png(fig, path, caption=caption)


def report_lines(runs: int, baseline: list[str], fitted: int, shared: int,
                 line: tuple[float, float, float], corpus: tuple[float, float] | None,
                 table: pd.DataFrame, command: str) -> list[str]:
    """REPORT.md's lines: the line ``(a, b, r)`` fitted on ``fitted`` rows of the
    ``baseline`` runs (``shared`` repeats of their iteration 0 left out), the corpus's point
    (``(overlap, onsets)``) against it, and every run's residuals (``table``)."""
    a, b, r = line
    lines = [f"# Overlap against listener onsets over {runs} training runs", "",
             command, "",
             f"Line fitted on the {fitted} rows of {', '.join(baseline)}"
             + (f" (their shared iteration 0, the untrained agent's same rollouts, once: "
                f"{shared} repeat{'s' if shared > 1 else ''} left out)" if shared else "")
             + f": overlap = {a:.3f} x onsets/s + {b:.3f} (r = {r:.2f}). Residual: a row's "
             "overlap minus the line's at its onset rate (negative: less overlap for the same "
             "onsets).", ""]
    if corpus is not None:
        overlap, onsets = corpus
        at = a * onsets + b
        lines += [f"Corpus through the format: overlap {overlap:.4f} at {onsets:.3f} onsets/s; "
                  f"the line gives {at:.4f} there ({at / overlap:.2f}x), a residual of "
                  f"{overlap - at:+.4f}.", ""]
    return lines + [table.to_markdown(index=False, floatfmt="+.4f"), "",
                    "![overlap against onsets](frontier.png)", ""]


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=Path, nargs="+", help="selfplay_rl.py output folders")
    parser.add_argument("--baseline", nargs="+", required=True,
                        help="names of the runs whose rows fit the line")
    parser.add_argument("--corpus-overlap", type=number(0, 1, low_open=True), default=None,
                        help="the corpus's overlap share (the report divides by it)")
    parser.add_argument("--corpus-onsets", type=number(0, 25), default=None,
                        help="the corpus's listener onsets per second (at most one a 40 ms "
                             "frame)")
    parser.add_argument("--out", type=path_arg, required=True,
                        help="folder to write frontier.csv, frontier.png and REPORT.md to")
    args = parser.parse_args(argv)
    check_out(args.out, OUTPUTS, "selfplay_rl_frontier.py")  # before any work or world is made
    command = provenance("selfplay_rl_frontier.py", argv)  # the code of the moment it starts
    missing = [str(r) for r in args.runs if not (r / "iterations.csv").is_file()]
    if missing:
        parser.error(f"no iterations.csv in: {', '.join(missing)} (allowed: selfplay_rl.py "
                     "output folders)")
    # rows are named by folder: two of one name would pool as one run
    parser.require_distinct("runs", args.runs, "a folder name",
                            "runs with distinct folder names", key=lambda r: r.name)
    names = {r.name for r in args.runs}
    unknown = [b for b in args.baseline if b not in names]
    if unknown:
        parser.error(f"--baseline: {unknown[0]!r} is not one of the runs (allowed: "
                     f"{', '.join(sorted(names))})")
    if (args.corpus_overlap is None) != (args.corpus_onsets is None):
        parser.error("--corpus-overlap and --corpus-onsets: give both or neither")
    rows = read_runs(args.runs)
    base = distinct_rows(rows[rows["run"].isin(args.baseline)])
    shared = int(rows["run"].isin(args.baseline).sum()) - len(base)
    if len(base) < 3:
        parser.error(f"--baseline: {len(base)} rows with an onset rate (allowed: 3 or more)")
    a, b, r = fit_line(base)
    rows["residual"] = rows["overlap_share"] - (a * rows["listener_onsets_per_s"] + b)
    table = summarise(rows)
    args.out.mkdir(parents=True, exist_ok=True)
    write_text(args.out / "frontier.csv", rows.to_csv(index=False, float_format="%.4f"))
    corpus = (None if args.corpus_overlap is None
              else (args.corpus_overlap, args.corpus_onsets))
    lines = report_lines(len(args.runs), args.baseline, len(base), shared, (a, b, r), corpus,
                         table, command)
    plot(rows, a, b, corpus, args.out / "frontier.png", command)
    write_text(args.out / "REPORT.md", "\n".join(lines))
    print(f"wrote {args.out / 'REPORT.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_reporting(main, "selfplay_rl_frontier.py"))
