"""Run a sweep's cells, resumably, on a local process pool or on Ray; gather one table.

Layout of ``OUT``:

```
OUT/sweep.json          the sweep table and base scenario as loaded
OUT/cells/KEY.json      one finished cell: {"key", "index", "params", "config", "row"}
OUT/results.parquet     every finished cell, one row each, in grid order
OUT/failures.json       cells that raised (retried on the next run)
```

A cell file is written atomically when its cell finishes, so a killed sweep leaves only
whole rows behind; a rerun skips every cell whose file exists (the key hashes the
resolved scenario, the cell function and the contents of the agents and corpora the
scenario names, so a changed grid value, a retrained agent or a rebuilt corpus is a new
cell). Owns scheduling and bookkeeping; what a cell computes lives in
:mod:`duplexsim.sweeps.cells`.
"""

from __future__ import annotations

import importlib
import json
import math
import multiprocessing
import os
import sys
import traceback
import warnings
from collections import deque
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm import tqdm

from duplexsim.atomic import atomic_path, json_text, write_json
from duplexsim.config.readers import read_json
from duplexsim.errors import ConfigError, InputError, warning_printer
from duplexsim.sweeps.cells import DEFAULT_CELL, simulate_scenarios
from duplexsim.sweeps.config import Cell, Sweep, scenario_problems
from duplexsim.sweeps.ray_cluster import ray_session
from duplexsim.sweeps.tables import value_kind
from duplexsim.threads import resolve_threads, use_threads

WORKER_DIED = ("the worker process running this cell's group ended abruptly (killed, e.g. "
               "out of memory, or a crash in native code), taking any groups not finished "
               "yet with it; run the sweep again to retry them (fewer workers or a smaller "
               "batch if memory ran out)")
"""The failures.json error of the cells a dead worker process left unfinished."""
BACKENDS = ("local", "ray")
SWEEP_OUTPUTS = ("sweep.json", "cells", "results.parquet", "failures.json", "report")
"""What a sweep's folder holds (``report/``: written into it by ``duplexsim report``)."""
Runner = Callable[[str, list[list[Cell]], int], Generator[list[tuple], None, None]]
"""A backend's way to run groups of cells: (cell function, groups, workers) -> each group's
(cell, row, error) as it finishes."""


def resolve_cell_fn(spec: str, file: str = "") -> Callable[[dict[str, Any]], dict[str, Any]]:
    """Import ``module:function`` ("" = the default cell: simulate and score); ``file``: the
    sweep file, named in the error."""
    module, _, name = (spec or DEFAULT_CELL).partition(":")
    try:
        fn = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError) as e:
        raise ConfigError(file or "sweep", "sweep.cell", f"cell function {spec!r} cannot be "
                          f"imported ({e})", "an importable 'module:function'") from None
    if not callable(fn):
        raise ConfigError(file or "sweep", "sweep.cell", f"{spec!r} is not a function",
                          "an importable 'module:function'")
    return fn


def _storable(row: Any) -> dict[str, Any]:
    """``row`` as a dict a cell file can hold, or a ``TypeError`` naming the key that cannot
    be: raised in the worker, it fails that cell (a set or an object in a row ended the whole
    sweep with a traceback when the cell's file was written, after its group had run)."""
    row = dict(row)
    for key, value in row.items():
        try:
            if not isinstance(key, str):
                raise TypeError(f"a key of type {type(key).__name__}")
            json_text(value)
        except (TypeError, ValueError) as e:
            raise TypeError(f"row key {key!r} cannot be stored in the cell's JSON file ({e}); "
                            "a row maps string keys to numbers, strings, booleans, null and "
                            "lists or tables of them") from None
    return row


def _rows(spec: str, cells: list[Cell]) -> list[Any]:
    """The rows of ``cells`` by the cell function ``spec`` (its ``batched`` form for
    several). The default cell simulates the scenarios its cells hold (built for their keys,
    :attr:`Cell.scenario`) rather than building them again from their dicts."""
    if spec == DEFAULT_CELL and all(c.scenario is not None for c in cells):
        return simulate_scenarios([c.scenario for c in cells if c.scenario is not None])
    fn = resolve_cell_fn(spec)
    if len(cells) == 1:
        return [fn(cells[0].config)]
    return getattr(fn, "batched")([c.config for c in cells])  # noqa: B009 - an added attribute


def _run_one(spec: str, cell: Cell) -> tuple[Cell, dict[str, Any] | None, str | None]:
    """Worker entry: (cell, row, None) or (cell, None, traceback text)."""
    try:
        row = _rows(spec, [cell])[0]
        return cell, _storable(row), None
    except Exception:  # a failing cell is recorded and retried later, not fatal
        return cell, None, traceback.format_exc()


def _run_group(spec: str, cells: list[Cell]) -> list[tuple[Cell, dict[str, Any] | None,
                                                         str | None]]:
    """Worker entry for a group: the cell function's ``batched`` form when it has one; if
    the group fails as a whole, each cell runs alone so only the failing ones are lost."""
    batched = getattr(resolve_cell_fn(spec), "batched", None)
    if batched is not None and len(cells) > 1:
        try:
            rows = _rows(spec, cells)
            return [(c, _storable(r), None) for c, r in zip(cells, rows, strict=True)]
        except Exception:  # noqa: BLE001 - retried one by one below to pinpoint the failure
            pass
    return [_run_one(spec, c) for c in cells]


def _worker_init(threads: int) -> None:
    """A worker process is an entry point: it sets its own torch threads, and prints
    duplexsim's warnings as one line each, as the command that started it does."""
    use_threads(threads)
    warnings.showwarning = warning_printer("sweep worker")


def _ray_group(spec: str, cells: list[Cell], threads: int) -> list[tuple]:
    _worker_init(threads)
    return _run_group(spec, cells)


def cell_path(out: Path, cell: Cell) -> Path:
    return out / "cells" / f"{cell.key}.json"


def _finish(out: Path, cell: Cell, row: dict[str, Any]) -> None:
    write_json(cell_path(out, cell), {"key": cell.key, "index": cell.index,
                                      "params": cell.params, "config": cell.config, "row": row})


def _local(spec: str, groups: list[list[Cell]], workers: int
           ) -> Generator[list[tuple], None, None]:
    if workers <= 1:  # in-process: simplest to debug, no pickling
        for group in groups:
            yield _run_group(spec, group)
        return
    # spawn: torch and SimPy state never cross a fork; each worker runs torch on the
    # thread count of the parent's entry point (default 1): parallelism is the processes
    ctx = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx,
                               initializer=_worker_init, initargs=(resolve_threads(),))
    try:
        group_of = {pool.submit(_run_group, spec, g): g for g in groups}
        pending = set(group_of)
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                try:
                    yield fut.result()
                except BrokenProcessPool:  # a worker killed (out of memory?) or crashed: it
                    # took the pool with it; every group not done yet is a failure to retry
                    yield [(c, None, WORKER_DIED) for c in group_of[fut]]
        pool.shutdown(wait=True)
    finally:  # Ctrl-C (or any error): the groups in flight and queued are dropped now, not
        # run to the end and thrown away (their cells are written only when a group ends)
        workers_left = list((pool._processes or {}).values())  # noqa: SLF001
        pool.shutdown(wait=False, cancel_futures=True)
        for process in workers_left:
            if process.is_alive():
                process.terminate()


def _ray(spec: str, groups: list[list[Cell]], workers: int
         ) -> Generator[list[tuple], None, None]:
    """The groups as Ray tasks on the Ray of :func:`ray_session`, at most ``workers`` in
    flight (a running cluster may have more CPUs: ``workers`` bounds the sweep's share of
    it, as it bounds the local pool)."""
    import ray

    remote = ray.remote(_ray_group)
    queued = deque(groups)
    in_flight: dict[Any, list[Cell]] = {}  # ObjectRef -> its group
    while queued or in_flight:
        while queued and len(in_flight) < workers:
            group = queued.popleft()
            in_flight[remote.remote(spec, group, resolve_threads())] = group
        done, _ = ray.wait(list(in_flight), num_returns=1)
        group = in_flight.pop(done[0])
        try:
            yield ray.get(done[0])
        except (ray.exceptions.WorkerCrashedError, ray.exceptions.OutOfMemoryError,
                ray.exceptions.NodeDiedError):  # (a cell's own errors are caught in it)
            yield [(c, None, WORKER_DIED) for c in group]


@contextmanager
def _backend(backend: str, workers: int, cells: int) -> Iterator[tuple[Runner, int]]:
    """The runner of ``backend`` and how many cells it runs at once: ``workers``, 0 = one
    per core (this machine's, or the Ray cluster's it joins); ready until the block ends
    (Ray shut down then: the tasks in flight end with it)."""
    if backend == "local":
        yield _local, workers or os.cpu_count() or 1
    else:
        with ray_session(workers, cells) as n:
            yield _ray, n


def run_sweep(
    sweep: Sweep, out: str | Path, *, backend: str = "local", workers: int | None = None,
    progress: bool = True, limit: int | None = None, batch: int | None = None,
) -> pd.DataFrame:
    """Run every unfinished cell of ``sweep`` into ``out``; return the results table.

    ``workers`` overrides the sweep file's (0 = one per core: this machine's, or on Ray every
    CPU of the cluster it joins; each worker a process with one torch thread), ``batch`` its
    cells per batch (at most that many, fewer when needed to give every worker a group; a
    batch is simulated together by the engine, one forward per agent directory and step:
    :func:`duplexsim.sim.batch.run_batch`); ``limit`` runs at most that many unfinished
    cells (the rest stay for the next run). Failed cells are listed in ``failures.json`` and
    left out of the table. Each cell's file is written when its group finishes, so a killed
    run loses at most the groups in flight.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend {backend!r} unknown (allowed: {', '.join(BACKENDS)})")
    out = Path(out)
    spec = sweep.config.cell or DEFAULT_CELL
    resolve_cell_fn(spec, sweep.file)  # fail before anything runs
    n = sweep.config.workers if workers is None else workers
    cells = sweep.cells()
    _check_finished(out, cells)
    if not sweep.config.cell:
        _check_reused_scenarios(sweep, out, cells)
    meta = {"file": sweep.file, "sweep": sweep.config.__dict__, "base": sweep.base,
            "cells": len(cells), "grid_keys": list(sweep.config.grid)}
    if (out / "sweep.json").is_file() and not _same_sweep(
            read_json(out / "sweep.json", what="sweep.json"), json.loads(json_text(meta))):
        _note_a_changed_sweep(out)
    # earlier failures of cells not run this time (--limit) stay listed, with their
    # traceback; read now: a damaged file is named before any cell runs, not after them all
    earlier = read_json(out / "failures.json", what="sweep failures.json") \
        if (out / "failures.json").is_file() else {}
    todo = [c for c in cells if not cell_path(out, c).is_file()]
    todo = todo[:limit] if limit is not None else todo
    size = sweep.config.batch if batch is None else batch
    if size < 1:
        raise ValueError(f"batch={size} (allowed: >= 1)")
    with _backend(backend, n, len(todo)) as (runner, n):
        size = min(size, max(1, -(-len(todo) // n)))  # at most N together, every worker busy
        groups = [todo[i:i + size] for i in range(0, len(todo), size)]
        with tqdm(total=len(cells), initial=len(cells) - len(todo), desc=sweep.config.name,
                  unit="cell", disable=not progress) as bar:
            failures = _run_groups(out, runner(spec, groups, min(n, max(len(groups), 1))),
                                   bar)
    ran = {c.key for group in groups for c in group}
    unfinished = {c.key for c in cells if not cell_path(out, c).is_file()}
    failures = {**{k: v for k, v in earlier.items() if k not in ran and k in unfinished},
                **failures}
    write_json(out / "failures.json", failures)
    table = collect(sweep, out)
    write_json(out / "sweep.json", meta)  # after the table it describes (a killed run: both old)
    return table


def _run_groups(out: Path, results_of: Generator[list[tuple], None, None], bar: tqdm
                ) -> dict[str, Any]:
    """Write each finished cell's file as its group ends; the failed cells, by key."""
    failures: dict[str, Any] = {}
    with closing(results_of):  # (closed on Ctrl-C: the pool drops its queued groups)
        for results in results_of:
            for cell, row, error in results:
                if error is None:
                    _finish(out, cell, row)
                else:
                    failures[cell.key] = {"params": cell.params, "error": error}
                bar.update(1)
    return failures


def _same_sweep(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Whether two sweep.json contents describe the same cells and results: where the sweep
    file lies and how cells are scheduled (workers, batch) change neither (compared as
    written: a NaN is null in the file)."""
    def what(meta: dict[str, Any]) -> dict[str, Any]:
        table = meta.get("sweep")
        if isinstance(table, dict):
            table = {k: v for k, v in table.items() if k not in ("workers", "batch")}
        return {**{k: v for k, v in meta.items() if k != "file"}, "sweep": table}

    return what(old) == what(new)


def _note_a_changed_sweep(out: Path) -> None:
    """``out`` held another sweep (an extended grid, more seeds, another base): its finished
    cells are reused where they match, by key; say so, and that an earlier ``report/``
    there describes the earlier results until ``duplexsim report`` runs again."""
    stale = (f"; {out / 'report'} describes the earlier results until `duplexsim report "
             f"{out}`" if (out / "report").is_dir() else "")
    print(f"note: {out} held another sweep: its finished cells are reused where they "
          f"match{stale}", file=sys.stderr)


def _check_finished(out: Path, cells: list[Cell]) -> None:
    """Every finished cell's file must be readable and its own (they are written atomically,
    so a bad one was damaged from outside): named now, before any cell runs."""
    for cell in cells:
        path = cell_path(out, cell)
        if path.is_file():
            stored = read_json(path, what="sweep cell file")
            if stored.get("key") != cell.key or not isinstance(stored.get("row"), dict):
                raise InputError(str(path), "key" if stored.get("key") != cell.key else "row",
                                 "not this cell's finished result",
                                 "delete the file to run the cell again")


def _check_reused_scenarios(sweep: Sweep, out: Path, cells: list[Cell]) -> None:
    """A finished default cell is reused by its key, which leaves out the scenario's name,
    ``[output]`` and ``[reward]`` (its rows do not depend on them): an invalid one of them
    (unchecked: ``load_sweep(check_scenarios=False)``, ``duplexsim sweep --no-check``) hid
    behind the finished row and was never named, where the cell run afresh fails on it.
    Named now, one line each, before any cell runs."""
    unbuilt = [c for c in cells if c.scenario is None and cell_path(out, c).is_file()]
    problems = scenario_problems(sweep, unbuilt) if unbuilt else []
    if problems:
        raise ConfigError(problems)


def _is_missing(value: object) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _number_or_none(value: object) -> bool:
    return value is None or (isinstance(value, int | float) and not isinstance(value, bool))


def _check_one_kind(sweep: Sweep, out: Path, table: pd.DataFrame, column: str) -> None:
    """A metric the cell function returned as values of two kinds (a number in one cell, a
    string in another) cannot be one Parquet column: one line naming the metric and two of
    those cells, not pyarrow's traceback after every cell has run."""
    # a float NaN is a cell that did not return the metric (pandas fills the gap with it;
    # a NaN a cell returned is null in its file): "returned 'x' as a number" it was not
    kinds = table[column].map(lambda v: "null" if _is_missing(v) else value_kind(v))
    seen = kinds[kinds != "null"]
    if seen.nunique() <= 1:
        return
    first = seen.iloc[0]
    other = seen[seen != first].index[0]
    cells = [table["cell"][seen.index[0]], table["cell"][other]]
    raise ConfigError(sweep.file, "sweep.cell", f"{sweep.config.cell or DEFAULT_CELL!r} "
                      f"returned {column!r} as a {first} in cell {cells[0]} and as a "
                      f"{seen[other]} in cell {cells[1]}: results.parquet holds one type a "
                      "column", "one type per metric across cells, or null (then delete "
                      f"their files in {out / 'cells'} to run them again)")


def collect(sweep: Sweep, out: str | Path) -> pd.DataFrame:
    """The finished cells of ``sweep`` as one table (grid order), written to results.parquet."""
    out = Path(out)
    rows = []
    for cell in sweep.cells():
        path = cell_path(out, cell)
        if path.is_file():
            stored = json.loads(path.read_text(encoding="utf-8"))
            row = stored["row"]
            # e.g. duration_s: the swept value, not the metric of the same name; and "cell"
            # the cell's key, not a row's value of that name
            clash = {k: row[k] for k in ("cell", *cell.params) if k in row}
            rows.append({"cell": cell.key, **{k: v for k, v in row.items() if k not in clash},
                         **cell.params, **{f"{k}_measured": v for k, v in clash.items()}})
    table = pd.DataFrame(rows)
    for column in table.columns:  # a metric no cell could measure: JSON null in every file
        if table[column].dtype == object and table[column].map(_number_or_none).all():
            table[column] = table[column].astype(float)
        elif table[column].dtype == object:
            _check_one_kind(sweep, out, table, column)
    with atomic_path(out / "results.parquet") as tmp:
        table.to_parquet(tmp, index=False)
    return pd.read_parquet(out / "results.parquet")  # what a later reader sees (lists -> arrays)
