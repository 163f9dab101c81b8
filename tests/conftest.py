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


def pytest_configure(config) -> None:  # noqa: ANN001
    """Two test files of one name in different folders (``tests/sim/test_build.py`` and
    ``tests/corpora/test_build.py``) break the whole run's collection ("import file
    mismatch": the folders have no ``__init__.py``) but not a run of either alone: refuse
    them up front, whichever tests are asked for."""
    import collections

    import pytest

    names = collections.defaultdict(list)
    for path in Path(__file__).parent.rglob("test_*.py"):
        names[path.name].append(str(path.relative_to(Path(__file__).parent)))
    twice = {name: paths for name, paths in names.items() if len(paths) > 1}
    if twice:
        raise pytest.UsageError(f"test files of one name (rename one, e.g. test_<package>_"
                                f"<module>.py): {sorted(twice.values())}")
