"""Torch threads: one per process by default; --threads / DUPLEXSIM_THREADS override."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from duplexsim import cli
from duplexsim.threads import ENV_VAR, resolve_threads, use_threads


@pytest.fixture
def restore_threads(monkeypatch: pytest.MonkeyPatch):
    before = torch.get_num_threads()
    for var in (ENV_VAR, "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.setenv(var, os.environ.get(var, "1"))
    yield
    torch.set_num_threads(before)


def test_resolution_order_and_bad_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert resolve_threads() == 1
    monkeypatch.setenv(ENV_VAR, "3")
    assert resolve_threads() == 3
    assert resolve_threads(2) == 2  # explicit beats the environment
    assert resolve_threads(0) == 0  # 0 = leave torch alone
    monkeypatch.setenv(ENV_VAR, "two")
    from duplexsim.errors import DuplexsimError  # one line from every entry point

    with pytest.raises(DuplexsimError, match=r"DUPLEXSIM_THREADS='two': not an integer \(allowed"):
        resolve_threads()
    with pytest.raises(ValueError, match=r"threads=-1: out of range \(allowed"):
        resolve_threads(-1)


def test_use_threads_sets_torch_and_exports_for_workers(restore_threads) -> None:
    assert use_threads(2) == 2 and torch.get_num_threads() == 2
    assert os.environ[ENV_VAR] == "2" and os.environ["OMP_NUM_THREADS"] == "2"
    assert use_threads(1) == 1 and torch.get_num_threads() == 1


def test_cli_threads_flag(restore_threads) -> None:
    assert cli.main(["validate", "scenarios/replay-lan.toml", "--threads", "2"]) == 0
    assert os.environ[ENV_VAR] == "2" and torch.get_num_threads() == 2
    with pytest.raises(SystemExit) as e:
        cli.main(["validate", "scenarios/replay-lan.toml", "--threads", "-3"])
    assert e.value.code == 2


def test_a_fresh_cli_process_runs_torch_on_one_thread_by_default() -> None:
    # OMP_NUM_THREADS=2 in the environment (as the Makefile used to force) no longer wins
    env = {k: v for k, v in os.environ.items() if k != ENV_VAR}
    env["OMP_NUM_THREADS"] = "2"
    code = ("from duplexsim import cli; cli.main(['validate', 'scenarios/replay-lan.toml']);"
            "import torch; print(torch.get_num_threads())")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True).stdout
    assert out.splitlines()[-1] == "1"


def test_use_threads_pins_mkl_unless_the_user_chose(restore_threads,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from duplexsim.threads import MKL_CBWR

    monkeypatch.delenv("MKL_CBWR", raising=False)
    use_threads(1)
    assert os.environ["MKL_CBWR"] == MKL_CBWR == "AVX2,STRICT"
    monkeypatch.setenv("MKL_CBWR", "AUTO")
    use_threads(1)
    assert os.environ["MKL_CBWR"] == "AUTO"
