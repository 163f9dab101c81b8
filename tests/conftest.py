"""Shared test setup: offline, deterministic, and polite to a 2-core machine; the CLI tests'
workspace (``ws``, built from tests/cli_workspace.py)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("MPLBACKEND", "Agg")

import duplexsim  # noqa: E402, F401  (pins OpenBLAS's kernels: before anything imports numpy)
from duplexsim.threads import use_threads  # noqa: E402

use_threads()  # the test run is an entry point: one torch thread unless DUPLEXSIM_THREADS

from cli_workspace import (  # noqa: E402  (tests/ is on the path; it imports numpy)
    broken_agents,
    broken_corpora,
    settings_files,
    write_corpus,
    write_tokenizer,
)


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

    names = collections.defaultdict(list)
    for path in Path(__file__).parent.rglob("test_*.py"):
        names[path.name].append(str(path.relative_to(Path(__file__).parent)))
    twice = {name: paths for name, paths in names.items() if len(paths) > 1}
    if twice:
        raise pytest.UsageError(f"test files of one name (rename one, e.g. test_<package>_"
                                f"<module>.py): {sorted(twice.values())}")


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The workspace every case runs in (cwd): a tiny agent, a corpus, and broken copies."""
    from syncllm_fixtures import train_tiny_agent

    ws = tmp_path_factory.mktemp("ws")
    train_tiny_agent(ws / "agent", steps=2)
    write_tokenizer(ws / "agent" / "tokenizer")
    write_corpus(ws / "corpus")
    write_corpus(ws / "noval", splits=("train", "test"))
    write_corpus(ws / "notrain", splits=("val", "test"))
    broken_agents(ws)
    broken_corpora(ws)
    settings_files(ws)
    (ws / "empty").mkdir()
    with contextlib.chdir(ws):  # a finished sweep whose first cell file was damaged
        from duplexsim.sweeps.config import load_sweep
        from duplexsim.sweeps.runner import cell_path

        cell = cell_path(ws / "swept", load_sweep("sweep_ok.toml").cells()[0])
    cell.parent.mkdir(parents=True)
    cell.write_text('{"key": ')
    (ws / "run").mkdir()
    (ws / "run" / "results.parquet").write_bytes(b"PAR1 not really")
    (ws / "cont").mkdir()  # what duplexsim continue writes
    for name, data in (("units.npy", b"\x93NUMPY"), ("audio.wav", b"RIFF"),
                       ("continuation.json", b"{}")):
        (ws / "cont" / name).write_bytes(data)
    return ws
