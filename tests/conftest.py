"""Shared test setup: offline, deterministic, and polite to a 2-core machine."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("MPLBACKEND", "Agg")

from duplexsim.threads import use_threads  # noqa: E402

use_threads()  # the test run is an entry point: one torch thread unless DUPLEXSIM_THREADS


def pytest_xdist_auto_num_workers(config) -> int:  # noqa: ANN001
    """``-n auto`` (``make test``): one worker per core this process may use (its CPU
    affinity, and a cgroup v2 CPU quota where a container sets one), at most 8: each worker
    holds torch and transformers (~0.6 GB) and runs one torch thread."""
    cores = len(os.sched_getaffinity(0))
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()
        if quota != "max":
            cores = min(cores, -(-int(quota) // int(period)))
    except (OSError, ValueError):
        pass
    return max(1, min(cores, 8))
