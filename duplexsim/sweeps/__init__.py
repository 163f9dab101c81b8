"""Sweeps: a grid over scenario fields x seeds, run resumably on a process pool or Ray.

``load_sweep`` (config), ``run_sweep`` / ``collect`` (runner), cell functions (cells), cell
keys (keys), what the grid and set tables may hold (tables).
Owns scheduling and result bookkeeping; must not define metrics or simulate by itself.
"""

from duplexsim.sweeps.config import Cell, Sweep, SweepConfig, load_sweep
from duplexsim.sweeps.runner import collect, run_sweep

__all__ = ["Cell", "Sweep", "SweepConfig", "collect", "load_sweep", "run_sweep"]
