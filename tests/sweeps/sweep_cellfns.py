"""Cheap, real cell functions for runner tests (turn-taking metrics of a generated timeline).

Importable by worker processes (spawn copies sys.path). Environment hooks for tests:
``SWEEP_TEST_CALLS`` (folder: one file per call, to count calls),
``SWEEP_TEST_KILL_AT`` (SIGKILL this process on that call number, to simulate a kill) and
``SWEEP_TEST_LOCK`` (folder: :func:`exclusive_cell` holds a file there while it runs).
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from duplexsim.metrics.turntaking import detect_events, summarize_events


def _count_call() -> int:
    """This call's number, 1, 2, ...: each call creates the first numbered file not there yet,
    exclusively, so two workers counting at once never take the same number (touching a file
    and then counting the folder let two calls both see 2, and no call was the first)."""
    folder = os.environ.get("SWEEP_TEST_CALLS")
    if not folder:
        return 0
    Path(folder).mkdir(parents=True, exist_ok=True)
    number = 1
    while True:
        try:
            os.close(os.open(Path(folder) / str(number), os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            return number
        except FileExistsError:
            number += 1


def turntaking_cell(config: dict[str, Any]) -> dict[str, Any]:
    """Alternating turns whose gaps grow with the configured one-way delay."""
    calls = _count_call()
    if calls and str(calls) == os.environ.get("SWEEP_TEST_KILL_AT"):
        os.kill(os.getpid(), signal.SIGKILL)
    delay = float(config["network"]["a_to_b"]["delay_ms"])
    rng = np.random.default_rng(config["seed"])
    vad = np.zeros((2, 1500), dtype=bool)  # 60 s at 40 ms
    t, s = 0, 0
    while t < 1450:
        ipu = int(rng.integers(20, 60))
        vad[s, t : t + ipu] = True
        t += ipu + max(1, int((delay + rng.normal(200, 100)) // 40))
        s = 1 - s
    events = detect_events(vad)
    row: dict[str, Any] = summarize_events(events, 60_000)
    row["estimation_is_model"] = float(config["a"].get("estimation") == "model")
    row["fto_values_ms"] = events["fto_ms"].dropna().tolist()
    depth = 1 + int(delay // 160)  # lookahead grows with delay; accuracy falls with it
    row["est_lookahead"] = list(range(1, depth + 1))
    row["est_unit_accuracy_by_lookahead"] = [0.9 / d for d in range(1, depth + 1)]
    row["est_frames_by_lookahead"] = [40.0] * depth
    return row


def clashing_cell(config: dict[str, Any]) -> dict[str, Any]:
    """A row with a metric named like a grid key (as trace_metrics' duration_s is), and one
    named like the results table's cell-key column."""
    return {"a.estimation": "measured", "value": float(config["seed"]), "cell": "mine"}


def failing_cell(config: dict[str, Any]) -> dict[str, Any]:
    """Fails for seed 1 unless SWEEP_TEST_HEAL is set (a cell that can be retried)."""
    if config["seed"] == 1 and not os.environ.get("SWEEP_TEST_HEAL"):
        raise RuntimeError("cell failed on purpose")
    return {"value": float(config["seed"])}


def turntaking_cells(configs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The batched form: records each group's size (``SWEEP_TEST_GROUPS`` folder)."""
    folder = os.environ.get("SWEEP_TEST_GROUPS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        (Path(folder) / f"{uuid.uuid4().hex}-{len(configs)}").touch()
    return [turntaking_cell(c) for c in configs]


turntaking_cell.batched = turntaking_cells  # type: ignore[attr-defined]


def failing_cells(configs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The batched form of :func:`failing_cell`: a group with one bad cell fails whole."""
    return [failing_cell(c) for c in configs]


failing_cell.batched = failing_cells  # type: ignore[attr-defined]


def mixed_kind_cell(config: dict[str, Any]) -> dict[str, Any]:
    """A metric that is a number in some cells and a string in others."""
    return {"value": 1.0 if config["seed"] else "n/a", "note": None}


def unstorable_cell(config: dict[str, Any]) -> dict[str, Any]:
    """A row holding a set (no JSON) in the cells with a positive delay."""
    delay = float(config["network"]["a_to_b"]["delay_ms"])
    return {"value": delay, "tags": {"late"} if delay > 0 else []}


def sometimes_cell(config: dict[str, Any]) -> dict[str, Any]:
    """A boolean and a list metric only in the cells with a positive delay (none in others)."""
    delay = float(config["network"]["a_to_b"]["delay_ms"])
    return {"value": delay, **({"late": delay > 200, "gaps": [delay]} if delay > 0 else {})}


def exclusive_cell(config: dict[str, Any]) -> dict[str, Any]:
    """Holds ``SWEEP_TEST_LOCK``/running for 0.3 s: fails (FileExistsError) if
    another cell runs at the same time, on any worker of the machine."""
    lock = Path(os.environ["SWEEP_TEST_LOCK"]) / "running"
    fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    try:
        time.sleep(0.3)
        return {"value": float(config["seed"])}
    finally:
        os.close(fd)
        lock.unlink()
