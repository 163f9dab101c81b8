"""Training logs: ``train_log.csv`` read back gives the rows that were written, and the
loss curve redraws from it."""

from __future__ import annotations

from pathlib import Path

import pytest

from duplexsim.errors import InputError
from duplexsim.training.logs import COLUMNS, plot_losses, read_log, write_logs

ROOT = Path(__file__).resolve().parents[2]


def test_a_written_log_reads_back_as_it_was(tmp_path: Path) -> None:
    rows = [
        {"stage": "stage2", "step": 10, "tokens": 2560, "loss": 5.25, "val_loss": "",
         "lr": 0.001, "elapsed_s": 1.5, "kept_step": "", "kept_val_loss": ""},
        {"stage": "stage2", "step": 20, "tokens": 5120, "loss": 4.5, "val_loss": 4.75,
         "lr": 0.0005, "elapsed_s": 3.0, "kept_step": 10, "kept_val_loss": 4.625},
        {"stage": "stage3", "step": 5, "tokens": 1280, "loss": 4.0, "val_loss": 4.25,
         "lr": 0.001, "elapsed_s": 4.5, "kept_step": 5, "kept_val_loss": 4.25},
    ]
    write_logs(tmp_path, rows, plot=True)
    assert read_log(tmp_path / "train_log.csv") == rows
    assert (tmp_path / "loss.png").stat().st_size > 0


def test_the_shipped_training_logs_redraw(tmp_path: Path) -> None:
    """The logs under docs/results/agents (their README gives this command)."""
    rows = read_log(ROOT / "docs/results/agents/fisher/train_log.csv")
    assert rows[-1]["kept_step"] == 1000 and isinstance(rows[-2]["loss"], float)
    plot_losses(rows, tmp_path / "loss.png")
    assert (tmp_path / "loss.png").read_bytes()[:4] == b"\x89PNG"


def test_a_damaged_log_is_one_line_naming_where(tmp_path: Path) -> None:
    log = tmp_path / "train_log.csv"
    log.write_text(",".join(COLUMNS) + "\nstage3,1,4096,7.0,,0.001,0.8,,\n"
                   "stage3,2,8192,oops,,0.001,1.6,,\n")
    with pytest.raises(InputError, match=r"train_log\.csv: line 3: loss: 'oops' is not a number"):
        read_log(log)
    log.write_text("stage,step\nstage3,1\n")
    with pytest.raises(InputError, match=r"line 1: header lacks tokens, loss"):
        read_log(log)
    for cell in ("2.5", "inf", "nan"):  # 2.5 was read as step 2, inf an OverflowError
        log.write_text(",".join(COLUMNS) + f"\nstage3,{cell},4096,7.0,,0.001,0.8,,\n")
        with pytest.raises(InputError, match=rf"line 2: step: '{cell}' is not a whole number "
                                             r"\(allowed: a whole number or empty\)"):
            read_log(log)
    log.write_text(",".join(COLUMNS) + "\nstage3,1,4096\n")  # a cut-off row
    with pytest.raises(InputError, match=r"line 2: loss: missing \(the row is cut short\)"):
        read_log(log)
