"""Run an experiment script as its user does (CleanRL-style smoke tests): ``python
experiments/SCRIPT ARGS`` in a subprocess from the repository root, one torch thread, the
Agg plotting backend. Imported by name from the tests beside it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_experiment(script: str, *args: str, timeout: int = 600,
                   ) -> subprocess.CompletedProcess[str]:
    """The finished process of ``experiments/script`` run with ``args`` (output captured)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    return subprocess.run([sys.executable, str(ROOT / "experiments" / script), *args], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=timeout)
