"""Training logs: ``train_log.csv``, ``train_log.json`` and the ``loss.png`` curve (atomic).

Owns only the files; rows come from :mod:`duplexsim.training.recipe`.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from duplexsim.atomic import write_json, write_png, write_text

COLUMNS = ("stage", "step", "tokens", "loss", "val_loss", "lr", "elapsed_s", "kept_step",
           "kept_val_loss")
"""``kept_step`` / ``kept_val_loss``: on a stage's last row, the step whose weights the stage
ends on and their validation loss (``[train] keep_best``); empty on the other rows."""


def write_logs(out: Path, rows: list[dict[str, Any]], plot: bool = False) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, extrasaction="ignore", lineterminator="\n",
                            restval="")
    writer.writeheader()
    writer.writerows(rows)
    write_text(out / "train_log.csv", buf.getvalue())
    write_json(out / "train_log.json", rows)
    if plot and rows:
        plot_losses(rows, out / "loss.png")


def read_log(path: Path) -> list[dict[str, Any]]:
    """The rows of a ``train_log.csv`` as :func:`write_logs` had them: ``stage`` a string,
    every other column a number (``step``, ``tokens`` and ``kept_step`` whole), empty cells
    ``""``; e.g. to redraw ``loss.png`` with :func:`plot_losses`."""
    whole = {"step", "tokens", "kept_step"}

    def value(key: str, cell: str) -> Any:
        if key == "stage" or cell == "":
            return cell
        return int(float(cell)) if key in whole else float(cell)

    with Path(path).open(newline="", encoding="utf-8") as fh:
        return [{k: value(k, v) for k, v in row.items()} for row in csv.DictReader(fh)]


def plot_losses(rows: list[dict[str, Any]], path: Path) -> None:
    """Training (mean per log row) and validation loss per stage, steps laid end to end."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    offset, x_end = 0, 0
    for stage in dict.fromkeys(r["stage"] for r in rows):
        part = [r for r in rows if r["stage"] == stage]
        train = [(offset + r["step"], r["loss"]) for r in part if r["loss"] != ""]
        val = [(offset + r["step"], r["val_loss"]) for r in part if r["val_loss"] != ""]
        if train:
            ax.plot(*zip(*train, strict=True), lw=0.8, label=f"{stage} train")
        if val:
            ax.plot(*zip(*val, strict=True), "o-", ms=3, label=f"{stage} val")
        kept = [(offset + r["kept_step"], r["kept_val_loss"]) for r in part
                if r.get("kept_step", "") != "" and r["kept_step"] != r["step"]]
        if kept:  # the stage went back to earlier weights
            ax.plot(*zip(*kept, strict=True), "k*", ms=9,
                    label=f"{stage} kept (step {part[-1]['kept_step']})")
        x_end = offset + max(r["step"] for r in part)
        offset = x_end
        ax.axvline(x_end, color="grey", lw=0.5, ls=":")
    ax.set_xlabel("optimizer step (stages end to end)")
    ax.set_ylabel("cross-entropy (nats/token)")
    ax.legend(fontsize=7)
    write_png(fig, path, dpi=100)
