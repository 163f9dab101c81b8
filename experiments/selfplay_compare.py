"""One figure over several self-play reports: an agent's statistics per report, with CIs.

Reads ``summary.csv`` of each report folder written by ``experiments/selfplay.py`` and plots,
for ``--agent`` (default ``fisher``), every statistic of each report beside its own corpus
(the last bar, from the first report). Writes ``OUT`` (a PNG).

    D=docs/results/selfplay/diagnosis
    python experiments/selfplay_compare.py $D/{default,lead0,silence,t08,seed1,seed2,tw3,tw10} \\
        --out $D/compare.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from selfplay import AGENTS, STATS

from duplexsim.atomic import write_png


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reports", type=Path, nargs="+", help="selfplay.py output folders")
    parser.add_argument("--agent", default="fisher", choices=sorted(AGENTS))
    parser.add_argument("--out", type=Path, required=True, help="the PNG to write")
    args = parser.parse_args(argv)
    missing = [str(r) for r in args.reports if not (r / "summary.csv").is_file()]
    if missing:
        parser.error(f"no summary.csv in: {', '.join(missing)} (allowed: selfplay.py output "
                     "folders)")
    tables = [pd.read_csv(r / "summary.csv") for r in args.reports]
    labels = [r.name for r in args.reports] + [AGENTS[args.agent]]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(STATS), figsize=(4.2 * len(STATS), 3.6))
    for ax, stat in zip(axes, STATS, strict=True):
        rows = [t[(t.source == args.agent) & (t.stat == stat)].iloc[0] for t in tables]
        first = tables[0]
        rows.append(first[(first.source == AGENTS[args.agent]) & (first.stat == stat)].iloc[0])
        value = np.array([r.value for r in rows], float)
        err = np.vstack([value - [r.ci_lo for r in rows], [r.ci_hi for r in rows] - value])
        colors = ["tab:blue"] * (len(rows) - 1) + ["lightsteelblue"]
        ax.bar(range(len(rows)), value, yerr=err, color=colors, capsize=3)
        ax.set_xticks(range(len(rows)), labels, rotation=60, fontsize=8)
        ax.set_title(f"{args.agent}: {stat}", fontsize=9)
    write_png(fig, args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
