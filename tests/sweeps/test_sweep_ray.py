"""The Ray backend: the table of the local run, a running cluster joined (found by
RAY_ADDRESS or `ray start`) with at most ``workers`` cells at once, ``--workers 0`` as the
cluster's CPUs, and a cluster that cannot be joined told in one line, at once."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from test_sweep_runner import HERE, write_sweep  # (tests/sweeps is on the path)

from duplexsim.sweeps import load_sweep, run_sweep


def test_ray_backend_matches_local(tmp_path, monkeypatch):
    pytest.importorskip("ray")
    monkeypatch.syspath_prepend(str(HERE))
    monkeypatch.setenv("PYTHONPATH", f"{HERE}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    sweep = load_sweep(write_sweep(tmp_path, seeds="[5]"), check_scenarios=False)
    local = run_sweep(sweep, tmp_path / "l", workers=1, progress=False)
    on_ray = run_sweep(sweep, tmp_path / "r", backend="ray", workers=1, progress=False)
    pd.testing.assert_frame_equal(local, on_ray)


OTHER_CPUS = 1 if (os.cpu_count() or 1) > 1 else 2
"""A Ray head's CPUs other than this machine's cores (both divide 6)."""
RAY_HEAD = """import sys, ray
ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
print(ray.get_runtime_context().gcs_address, flush=True)
sys.stdin.read()  # until the test closes it
"""


def _record_ray_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, address: str) -> None:
    """As `ray start --head` leaves it: its address in RAY_TMPDIR/ray/ray_current_cluster
    (here a temporary RAY_TMPDIR, not the machine's /tmp/ray), RAY_ADDRESS unset."""
    (tmp_path / "raytmp" / "ray").mkdir(parents=True)
    (tmp_path / "raytmp" / "ray" / "ray_current_cluster").write_text(address)
    monkeypatch.setenv("RAY_TMPDIR", str(tmp_path / "raytmp"))
    monkeypatch.delenv("RAY_ADDRESS", raising=False)


@pytest.fixture
def ray_head(tmp_path, monkeypatch, request):
    """The address of a running Ray of 2 CPUs (or the indirect parameter's count) in another
    process (stopped after the test), without token authentication, as `ray start --head`
    runs where no token was ever made (a Ray that ray.init starts has it by default: then
    RAY_AUTH_MODE=token joins it). Its workers get the environment set here, not the
    test's: SWEEP_TEST_LOCK and SWEEP_TEST_GROUPS are folders in ``tmp_path``."""
    pytest.importorskip("ray")
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    monkeypatch.syspath_prepend(str(HERE))
    monkeypatch.setenv("PYTHONPATH", f"{HERE}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    monkeypatch.setenv("SWEEP_TEST_LOCK", str(tmp_path))
    monkeypatch.setenv("SWEEP_TEST_GROUPS", str(tmp_path / "groups"))
    head_code = RAY_HEAD.replace("num_cpus=2", f"num_cpus={getattr(request, 'param', 2)}")
    head = subprocess.Popen([sys.executable, "-c", head_code], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert head.stdout is not None and head.stdin is not None
        address = head.stdout.readline().strip()
        assert address, "the Ray head did not start"  # (else the sweep started its own)
        yield address
    finally:
        head.stdin.close()  # (the head's ray shuts its cluster down as it exits)
        head.wait(timeout=60)


def test_ray_backend_joins_a_running_cluster_at_most_workers_at_once(tmp_path, monkeypatch,
                                                                      ray_head):
    """README: `ray start --head` / RAY_ADDRESS. Ray refuses num_cpus when joining a running
    cluster (a raw "ValueError: When connecting to an existing cluster, num_cpus and
    num_gpus must not be provided", for any workers): the sweep joins it as it is, found
    either way, and ``workers`` bounds its cells in flight (one at a time here, on 2 CPUs:
    exclusive_cell fails a cell that overlaps another)."""
    sweep = load_sweep(write_sweep(tmp_path, "sweep_cellfns:exclusive_cell", seeds="[0]"),
                       check_scenarios=False)
    monkeypatch.setenv("RAY_ADDRESS", ray_head)
    assert len(run_sweep(sweep, tmp_path / "a", backend="ray", workers=1, progress=False)) == 6
    _record_ray_start(tmp_path, monkeypatch, ray_head)
    assert len(run_sweep(sweep, tmp_path / "b", backend="ray", workers=1, progress=False)) == 6
    for out in ("a", "b"):
        assert json.loads((tmp_path / out / "failures.json").read_text()) == {}


@pytest.mark.parametrize("found_by", ["RAY_ADDRESS", "ray start"])
def test_a_ray_cluster_that_cannot_be_joined_is_one_line(tmp_path, monkeypatch, capsys,
                                                         found_by):
    pytest.importorskip("ray")
    from duplexsim.cli import main

    if found_by == "RAY_ADDRESS":
        monkeypatch.setenv("RAY_ADDRESS", "nonsense")
    else:
        _record_ray_start(tmp_path, monkeypatch, "nonsense")
    where = {"RAY_ADDRESS": "RAY_ADDRESS",
             "ray start": "the cluster `ray start` recorded on this machine"}[found_by]
    path = write_sweep(tmp_path, seeds="[0]")
    assert main(["sweep", str(path), "--out", str(tmp_path / "r"), "--quiet", "--no-check",
                 "--backend", "ray"]) == 2
    err = capsys.readouterr().err.splitlines()
    forget = {"RAY_ADDRESS": "unset RAY_ADDRESS", "ray start": "`ray stop` to forget it"}
    assert err == [f"--backend ray: {where}: nonsense: no Ray cluster could be joined there "
                   "(ValueError: Invalid address format: nonsense) (allowed: the address of a "
                   "running cluster (start one with `ray start --head`: it prints the "
                   f"address), or a Ray of the sweep's own ({forget[found_by]}, or "
                   "RAY_ADDRESS=local))"]


@pytest.mark.parametrize("found_by", ["RAY_ADDRESS", "ray start"])
def test_a_ray_cluster_address_where_nothing_answers_fails_at_once(tmp_path, monkeypatch,
                                                                  capsys, found_by):
    """Where nothing listens at the cluster's address, ray.init waits 500 s and more (its own
    retries) before it gives up: the sweep dials the address first and says so in one line,
    in seconds. (Not ``auto``: Ray's lookup of it prefers a GCS process running on the
    machine, another test's, to the address `ray start` recorded.)"""
    pytest.importorskip("ray")
    from duplexsim.cli import main

    with socket.socket() as free:  # a port nobody listens on once it is closed
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    address = f"127.0.0.1:{port}"
    if found_by == "RAY_ADDRESS":
        monkeypatch.setenv("RAY_ADDRESS", address)
    else:
        _record_ray_start(tmp_path, monkeypatch, address)
    path = write_sweep(tmp_path, seeds="[0]")
    start = time.monotonic()
    assert main(["sweep", str(path), "--out", str(tmp_path / "r"), "--quiet", "--no-check",
                 "--backend", "ray"]) == 2
    took = time.monotonic() - start
    err = capsys.readouterr().err.splitlines()
    named = {"RAY_ADDRESS": f"RAY_ADDRESS: {address}",
             "ray start": f"the cluster `ray start` recorded on this machine: {address}"}
    # (Ray dials 127.0.0.1 as this machine's own address: named where it differs)
    assert len(err) == 1 and re.fullmatch(
        rf"--backend ray: {re.escape(named[found_by])}: nothing answers( at \S+:{port})? "
        r"\(.+\) \(allowed: the address of a running cluster \(start one with `ray start "
        r"--head`: it prints the address\), or a Ray of the sweep's own \(.+\)\)", err[0]), err
    assert took < 60, took  # (mostly importing Ray; a refused connection is told at once)
    assert not (tmp_path / "r" / "cells").exists()


@pytest.mark.parametrize("ray_head", [OTHER_CPUS], indirect=True)
def test_workers_0_on_a_ray_cluster_is_one_per_cpu_of_the_cluster(tmp_path, monkeypatch,
                                                                 ray_head):
    """README: `--workers 0` on a cluster it joins is the cluster's CPUs, not this machine's
    cores (a head of another count than this machine's): 6 cells in batches of up to 6 are
    cut into one group per CPU, every one busy."""
    sweep = load_sweep(write_sweep(tmp_path, seeds="[0]", extra="batch = 6"),
                       check_scenarios=False)
    monkeypatch.setenv("RAY_ADDRESS", ray_head)
    assert len(run_sweep(sweep, tmp_path / "r", backend="ray", workers=0, progress=False)) == 6
    sizes = sorted(int(p.name.split("-")[1]) for p in (tmp_path / "groups").iterdir())
    assert sizes == [6 // OTHER_CPUS] * OTHER_CPUS
