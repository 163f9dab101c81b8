"""experiments/selfplay.py runs end to end on the tiny world, in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).parents[2]


def test_selfplay_smoke(tmp_path: Path) -> None:
    out = tmp_path / "selfplay"
    proc = subprocess.run([sys.executable, str(ROOT / "experiments" / "selfplay.py"), "--smoke",
                           "--out", str(out)], cwd=ROOT, capture_output=True, text=True,
                          timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = pd.read_csv(out / "summary.csv")
    assert set(summary.source) == {"fisher", "candor", "fisher-like", "candor-like"}
    corpus = summary[summary.kind == "corpus"]
    assert np.isfinite(corpus.value).all() and (corpus.ci_lo <= corpus.value + 1e-9).all()
    assert (summary[summary.kind == "agent"].n == 2).all()  # the smoke's conversations
    verdicts = pd.read_csv(out / "verdicts.csv")
    assert len(verdicts) == 10 and verdicts.met.dtype == bool
    assert "Verdicts (" in (out / "REPORT.md").read_text() and (out / "selfplay.png").is_file()
    again = subprocess.run([sys.executable, str(ROOT / "experiments" / "selfplay.py"), "--smoke",
                            "--out", str(out)], cwd=ROOT, capture_output=True, text=True,
                           timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert again.returncode == 0  # reuses its conversations: same numbers
    assert pd.read_csv(out / "summary.csv").equals(summary)
