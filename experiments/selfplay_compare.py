"""One figure over several self-play reports: an agent's statistics per report, with CIs.

Reads ``summary.csv`` of each report folder written by ``experiments/selfplay.py`` and plots,
for ``--agent`` (default ``fisher``), every statistic of each report beside its own corpus
(the last bar, from the first report). Writes ``OUT`` (a PNG, captioned with the command
and commit that made it).

    D=docs/results/selfplay/diagnosis
    python experiments/selfplay_compare.py $D/{default,lead0,silence,t08,seed1,seed2,tw3,tw10} \\
        --out $D/compare.png
"""

from __future__ import annotations

from pathlib import Path

from duplexsim.atomic import write_png
from duplexsim.cli import ArgumentParser, path_arg, run_reporting
from duplexsim.config.readers import read_csv
from duplexsim.errors import InputError

import numpy as np
import pandas as pd
from provenance import provenance  # the figure's caption (command and commit)
from selfplay_plan import AGENTS
from selfplay_tables import STATS


def read_summary(report: Path, agent: str) -> pd.DataFrame:
    """``report/summary.csv``, checked: the columns the figure reads, a row for ``agent``
    and for its corpus for every statistic, numbers (or empty: no events to measure) with
    ``ci_lo <= ci_hi``. Indexed by (source, stat). A value outside its own CI is kept: a
    percentile bootstrap of a median over few distinct values can leave the estimate out."""
    path = report / "summary.csv"
    table = read_csv(path, what="the summary.csv of a selfplay.py report",
                     columns=("source", "stat"), numbers=("value", "ci_lo", "ci_hi"))
    swapped = table.ci_lo > table.ci_hi + 1e-9
    if swapped.any():
        row = table[swapped].iloc[0]
        raise InputError(str(path), f"row {int(np.flatnonzero(swapped)[0]) + 2}",
                         f"CI [{row.ci_lo}, {row.ci_hi}] has its low end above its high end",
                         "ci_lo <= ci_hi")
    twice = np.flatnonzero(table.duplicated(["source", "stat"]).to_numpy())
    if len(twice):
        row = table.iloc[twice[0]]
        raise InputError(str(path), f"row {twice[0] + 2}", f"source {row.source!r}, stat "
                         f"{row.stat!r} a second time", "one row per source and stat")
    table = table.set_index(["source", "stat"])
    for source in (agent, AGENTS[agent]):
        absent = [s for s in STATS if (source, s) not in table.index]
        if absent:
            raise InputError(str(path), "", f"no row for source {source!r}, stat "
                             f"{', '.join(absent)}", f"the summary.csv of a selfplay.py "
                             f"report with the {agent} agent and its corpus")
    return table


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reports", type=Path, nargs="+", help="selfplay.py output folders")
    parser.add_argument("--agent", default="fisher", choices=sorted(AGENTS),
                        help="the agent whose statistics are plotted, beside its own corpus "
                             "(default: %(default)s)")
    parser.add_argument("--out", type=path_arg, required=True, help="the PNG to write")
    args = parser.parse_args(argv)
    line = provenance("selfplay_compare.py", argv)  # the code of the moment it starts
    missing = [str(r) for r in args.reports if not (r / "summary.csv").is_file()]
    if missing:
        parser.error(f"no summary.csv in: {', '.join(missing)} (allowed: selfplay.py output "
                     "folders)")
    tables = [read_summary(r, args.agent) for r in args.reports]
    labels = [r.name for r in args.reports] + [AGENTS[args.agent]]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(STATS), figsize=(4.2 * len(STATS), 3.6))
    for ax, stat in zip(axes, STATS, strict=True):
        rows = [t.loc[(args.agent, stat)] for t in tables]
        rows.append(tables[0].loc[(AGENTS[args.agent], stat)])
        value = np.array([r.value for r in rows], float)
        # (an estimate outside its percentile CI gets no bar on that side: matplotlib
        # refuses negative lengths)
        err = np.maximum(0.0, np.vstack([value - [r.ci_lo for r in rows],
                                         [r.ci_hi for r in rows] - value]))
        colors = ["tab:blue"] * (len(rows) - 1) + ["lightsteelblue"]
        ax.bar(range(len(rows)), value, yerr=err, color=colors, capsize=3)
        ax.set_xticks(range(len(rows)), labels, rotation=60, fontsize=8)
        ax.set_title(f"{args.agent}: {stat}", fontsize=9)
    write_png(fig, args.out, caption=line)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_reporting(main, "selfplay_compare.py"))
