"""Smoke run of experiments/rl_turn_policy.py in a subprocess (CleanRL style)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[2]


def test_rl_turn_policy_smoke(tmp_path: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "experiments" / "rl_turn_policy.py"), "--smoke",
         "--out", str(tmp_path)], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    df = pd.read_csv(tmp_path / "results.csv")
    assert set(df["policy"]) == {"ppo", "random", "always-speak", "silent"}
    assert df["reward"].notna().all()
    # always speaking overlaps the partner whenever it talks: more overlap than silence does
    g = df.groupby("policy")["overlap_ms"].mean()
    assert g["always-speak"] > g["silent"] == 0
    assert (tmp_path / "rl.png").stat().st_size > 1000
    assert "| ppo |" in (tmp_path / "results.md").read_text()
    assert (tmp_path / "ppo.zip").is_file()
