"""Training logs: ``train_log.csv``, ``train_log.json`` and the ``loss.png`` curve (atomic).

Owns only the files; rows come from :mod:`duplexsim.training.trainer`.
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
ends on and their validation loss (``[train] keep_best``); empty on the other rows.
``elapsed_s``: wall seconds the stage has trained so far, over every start (a resume goes on
from its checkpoint's count; the steps after that checkpoint that a kill lost are not in it)."""


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
    ``""``; e.g. to redraw ``loss.png`` with :func:`plot_losses`. A missing column or a cell
    that is not a number (a whole one in the whole columns) is an
    :class:`~duplexsim.errors.InputError` naming its line."""
    from duplexsim.errors import InputError

    whole = {"step", "tokens", "kept_step"}
    rows = []
    with Path(path).open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise InputError(str(path), "line 1", f"header lacks {', '.join(missing)}",
                             ", ".join(COLUMNS))
        for row in reader:
            out: dict[str, Any] = {}
            for key in COLUMNS:
                cell = row[key]
                try:
                    out[key] = (cell if key == "stage" or cell == "" else
                                _whole(cell) if key in whole else float(cell))
                except (TypeError, ValueError):
                    kind = "whole number" if key in whole else "number"
                    what = "missing (the row is cut short)" if cell is None else \
                        f"{cell!r} is not a {kind}"
                    raise InputError(str(path), f"line {reader.line_num}: {key}", what,
                                     f"a {kind} or empty") from None
            rows.append(out)
    return rows


def _whole(cell: str) -> int:
    """A whole-number cell (``"12"``, ``"12.0"``); ValueError for ``"2.5"``, ``"inf"``, ``"nan"``
    (int(float()) made 2.5 step 2 without a word, and inf an OverflowError)."""
    value = float(cell)
    if not value.is_integer():
        raise ValueError(cell)
    return int(value)


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
