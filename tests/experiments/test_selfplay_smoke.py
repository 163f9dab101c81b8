"""experiments/selfplay.py runs end to end on the tiny world, in a subprocess."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
from experiment_run import run_experiment

ROOT = Path(__file__).parents[2]


def test_selfplay_smoke(tmp_path: Path) -> None:
    out = tmp_path / "selfplay"
    proc = run_experiment("selfplay.py", "--smoke", "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = pd.read_csv(out / "summary.csv")
    assert set(summary.source) == {"fisher", "candor", "fisher-like", "candor-like"}
    corpus = summary[summary.kind == "corpus"]
    assert np.isfinite(corpus.value).all() and (corpus.ci_lo <= corpus.value + 1e-9).all()
    assert (summary[summary.kind == "agent"].n == 2).all()  # the smoke's conversations
    verdicts = pd.read_csv(out / "verdicts.csv")
    assert len(verdicts) == 10 and verdicts.met.dtype == bool
    assert "Verdicts (" in (out / "REPORT.md").read_text() and (out / "selfplay.png").is_file()
    assert "Command: `python experiments/selfplay.py --smoke" in (out / "REPORT.md").read_text()
    again = run_experiment("selfplay.py", "--smoke", "--out", str(out))
    assert again.returncode == 0  # reuses its conversations: same numbers
    assert pd.read_csv(out / "summary.csv").equals(summary)
    coord = pd.read_csv(out / "coordination.csv")
    assert list(coord.source) == ["fisher", "fisher-like", "candor", "candor-like"]
    assert ((coord.overlap_share >= 0) & (coord.overlap_share <= coord.speech_share_per_side
                                          + 1e-9)).all()
    # one figure over reports (here the same report twice)
    png = tmp_path / "compare.png"
    fig = run_experiment("selfplay_compare.py", str(out), str(out), "--out", str(png),
                         timeout=300)
    assert fig.returncode == 0, fig.stderr[-2000:]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    bad = run_experiment("selfplay_compare.py", str(tmp_path / "nowhere"), "--out", str(png),
                         timeout=300)
    assert bad.returncode == 2 and "no summary.csv in:" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_who_ends_an_overlap() -> None:
    sys.path.insert(0, str(ROOT / "experiments"))
    from selfplay import coordination, ended_by

    from duplexsim.metrics.turntaking import runs

    vad = np.zeros((2, 40), bool)
    vad[0, 0:10] = True   # side 0 speaks, side 1 comes in at 8: side 0 stops at 10 (holder)
    vad[1, 8:20] = True
    vad[1, 8:26] = True   # side 0 comes in at 18 over side 1 and stops first (incomer)
    vad[0, 18:22] = True
    vad[0, 32:38] = True  # both start together at 32: not counted
    vad[1, 32:36] = True
    starts, ends = runs(vad[0] & vad[1])
    assert ended_by(vad, starts, ends) == [("holder", 2), ("incomer", 4)]
    coord = coordination([vad])
    assert coord["ended_by_holder_share"] == 0.5
    assert abs(coord["holder_ended_mean_s"] - 0.08) < 1e-9
