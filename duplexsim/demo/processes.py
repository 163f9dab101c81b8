"""The demo's child processes: trainers side by side, each ending with the demo.

:func:`train_side_by_side` runs each agent's ``duplexsim train`` in its own 1-thread
process and reports their progress; when one fails the others are stopped at once
(:func:`_stop`). Every child, the simulation workers included (:func:`end_with` as their
pool's initializer), gets SIGTERM when the demo ends, killed included (Linux
``PR_SET_PDEATHSIG``): one left behind trained or simulated on into the folder a rerun
was writing. Must not decide what to train: :mod:`duplexsim.demo.stages` does.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from duplexsim.demo.plan import DemoPlan


def train_side_by_side(plan: DemoPlan, todo: list[tuple[str, list[str]]],
                       poll_s: float = 30.0) -> None:
    """Each agent in its own 1-thread ``duplexsim train`` process, all at once; output is
    appended to ``<agent dir>.log``, progress (from each run's train_log.json) every ``poll_s``."""
    print(f"\n==> train the {' and '.join(n for n, _ in todo)} agents side by side "
          "(1 thread each)", flush=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    t0 = time.perf_counter()
    procs: dict[str, tuple[subprocess.Popen[bytes], Path]] = {}
    try:
        for name, argv in todo:
            log = plan.agent_dir(name).with_suffix(".log")
            log.parent.mkdir(parents=True, exist_ok=True)
            print(f"    $ duplexsim {shlex.join(argv + ['--no-progress'])}  > {log}", flush=True)
            with log.open("ab") as fh:  # a rerun resumes training: keep the earlier output
                fh.write(f"==> duplexsim {shlex.join(argv)}\n".encode())
                fh.flush()
                procs[name] = (subprocess.Popen(
                    [sys.executable, "-m", "duplexsim.cli", *argv, "--no-progress"],
                    stdout=fh, stderr=subprocess.STDOUT, env=env,
                    preexec_fn=_ends_with_this_process()), log)
        next_report = poll_s
        while None in (codes := [p.poll() for p, _ in procs.values()]):
            if any(codes):
                break  # one failed: the demo fails, the others are stopped below (each
                # resumes from its last checkpoint when the demo is run again)
            time.sleep(0.5)
            elapsed = time.perf_counter() - t0
            if elapsed >= next_report:
                next_report += poll_s
                print(f"    {elapsed:5.0f} s: " + " | ".join(
                    f"{n} {_progress(plan.agent_dir(n), p)}" for n, (p, _) in procs.items()),
                    flush=True)
    finally:  # a failed run, SIGTERM (which reaches this process only), Ctrl-C
        ended_by_us = _stop([p for p, _ in procs.values()])
        stopped = [n for n, (p, _) in procs.items() if p in ended_by_us]
    failed = [(n, log) for n, (p, log) in procs.items() if p.returncode and n not in stopped]
    if stopped:
        print(f"    stopped {', '.join(stopped)} (another failed); it resumes from its last "
              "checkpoint when the demo runs again", flush=True)
    for name, log in failed:
        tail = log.read_text(errors="replace").strip().splitlines()[-5:]
        print(f"    {name} failed; the end of {log}:\n      " + "\n      ".join(tail))
    if failed:
        raise SystemExit(f"demo: training {', '.join(n for n, _ in failed)} failed")
    print(f"    done in {time.perf_counter() - t0:.0f} s", flush=True)


def _ends_with_this_process() -> Callable[[], None] | None:
    """A ``preexec_fn`` giving the child SIGTERM when this process ends, killed (SIGKILL, an
    OOM kill) included: a trainer left behind would train on and a rerun of the demo would
    start a second one on the same folder (Linux ``prctl(PR_SET_PDEATHSIG)``; None
    elsewhere, where a killed demo still leaves its trainers running)."""
    import functools

    prctl = _prctl()
    return None if prctl is None else functools.partial(end_with, os.getpid(), prctl)


def _prctl() -> Callable[..., int] | None:
    """Linux's ``prctl``; None elsewhere."""
    import ctypes

    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl  # type: ignore[no-any-return]
    except (OSError, AttributeError):
        return None


def end_with(parent: int, prctl: Callable[..., int] | None = None) -> None:
    """In a child of process ``parent``: have SIGTERM sent to this process when ``parent``
    ends, however it ends (``prctl``: looked up here when not given; nothing without it)."""
    import signal

    prctl = prctl or _prctl()
    if prctl is None:
        return
    prctl(1, int(signal.SIGTERM), 0, 0, 0)  # 1: PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the parent ended before the line above
        os.kill(os.getpid(), signal.SIGTERM)


def _stop(procs: list[subprocess.Popen[bytes]],
          grace_s: float = 10.0) -> list[subprocess.Popen[bytes]]:
    """SIGTERM each process still running (``duplexsim train`` stops as on Ctrl-C), then
    SIGKILL any that has not ended ``grace_s`` later; returns those it stopped."""
    running = [p for p in procs if p.poll() is None]
    for p in running:
        p.terminate()
    deadline = time.monotonic() + grace_s
    for p in running:
        try:
            p.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    return running


def _progress(agent_dir: Path, proc: subprocess.Popen[bytes]) -> str:
    """``stage3 450`` from the run's last checkpoint log, or ``done``."""
    if proc.poll() is not None:
        return "done" if proc.returncode == 0 else f"failed (exit {proc.returncode})"
    try:
        rows = json.loads((agent_dir / "train_log.json").read_text())
        return f"{rows[-1]['stage']} step {rows[-1]['step']}"
    except (OSError, ValueError, LookupError):
        return "starting"
