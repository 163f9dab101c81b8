"""``duplexsim sweep SWEEP.toml --out runs/SWEEP``: run (or resume) a sweep.

The flags, the sweep file (every cell's scenario, unless ``--no-check``), the cell function
and the ``--out`` folder are checked before any cell runs; errors reach the user through
``duplexsim.cli.main`` (one line each, exit 2). A run with failed cells exits 1.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from duplexsim.cli import number, path_arg
from duplexsim.sweeps.config import MAX_BATCH, MAX_WORKERS

if TYPE_CHECKING:
    from duplexsim.errors import DuplexsimError
    from duplexsim.sweeps.config import Sweep


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("sweep", type=Path, help="sweep TOML file with a [sweep] table")
    parser.add_argument("--out", type=path_arg, default=None,
                        help="output folder (default: runs/<sweep name>); rerun to resume")
    parser.add_argument("--backend", choices=("local", "ray"), default="local",
                        help="local process pool or Ray (default: %(default)s)")
    parser.add_argument("--workers", type=number(0, MAX_WORKERS, integer=True), default=None,
                        help="parallel cells (default: the sweep file's; 0 = all cores, "
                             "of the cluster with --backend ray)")
    parser.add_argument("--batch", type=number(1, MAX_BATCH, integer=True), default=None,
                        help="cells simulated together per worker, model calls batched "
                             "(default: the sweep file's)")
    parser.add_argument("--limit", type=number(0, 10**9, integer=True), default=None,
                        help="run at most this many unfinished cells now")
    parser.add_argument("--no-check", action="store_true",
                        help="skip validating every cell's scenario before running")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _check_files(sweep: Sweep) -> None:
    """The agents, corpora and jitter traces every cell names exist and are usable (as
    ``duplexsim simulate`` checks them), before any cell runs."""
    from duplexsim.config.scenario import scenario_from_dict
    from duplexsim.errors import ConfigError

    problems, seen = [], set()
    for cell in sweep.cells():
        scenario = cell.scenario or scenario_from_dict(cell.config, file=sweep.file)
        for problem in scenario.missing_files(sweep.file):
            if str(problem) not in seen:
                seen.add(str(problem))
                problems.append(problem)
    if problems:
        raise ConfigError(problems)


def check_ready(sweep: Sweep) -> None:
    """What ``duplexsim sweep`` checks past the sweep file itself before any cell runs: the
    cell function imports and, for the default cell (which simulates), the agents, corpora
    and jitter traces of every cell are there (``duplexsim validate --check-files`` too)."""
    from duplexsim.sweeps.runner import resolve_cell_fn

    resolve_cell_fn(sweep.config.cell, sweep.file)
    if not sweep.config.cell:
        _check_files(sweep)


def _with_base_note(error: DuplexsimError, sweep: Sweep, out: Path) -> DuplexsimError:
    """``error`` (``--out`` holds other files) saying where a relative base scenario was read
    from, when ``out`` holds a file of its name that is not it: ``exp/sweep.toml`` with
    ``base = "scenario.toml"``, run from another folder, read that folder's scenario.toml,
    and ``--out exp`` was refused for holding "other files (scenario.toml)"."""
    from duplexsim.errors import with_note

    base = Path(sweep.config.base)
    beside = out / base.name
    if base.is_absolute() or not beside.is_file() or beside.resolve() == base.resolve():
        return error
    return with_note(error, f"the base scenario {sweep.config.base!r} was read from "
                     f"{base.resolve()}, not {beside}: a relative base is read from the "
                     "current directory, not the sweep file's")


def run(args: argparse.Namespace) -> int:
    from duplexsim.atomic import check_not_foreign, check_output_dir
    from duplexsim.config.cli import expect_kind
    from duplexsim.errors import OutputError
    from duplexsim.sweeps.config import load_sweep
    from duplexsim.sweeps.runner import SWEEP_OUTPUTS, resolve_cell_fn, run_sweep

    expect_kind(args.sweep, "sweep")
    sweep = load_sweep(args.sweep, check_scenarios=not args.no_check)
    out = args.out or Path("runs") / sweep.config.name
    check_output_dir(out)
    # the sweep file and its base scenario may be kept in the folder the sweep writes to
    try:
        check_not_foreign(out, SWEEP_OUTPUTS, "sweep", "a new or empty folder, or a sweep's "
                          "folder to resume or extend", inputs=[sweep.file, sweep.config.base])
    except OutputError as e:
        raise _with_base_note(e, sweep, out) from None
    if args.no_check:
        resolve_cell_fn(sweep.config.cell, sweep.file)
    else:
        check_ready(sweep)
    table = run_sweep(sweep, out, backend=args.backend, workers=args.workers,
                      progress=not args.quiet, limit=args.limit, batch=args.batch)
    total = len(sweep.cells())
    failed = (out / "failures.json").read_text(encoding="utf-8").strip() not in ("{}", "")
    left = "" if failed or len(table) == total else "; run it again for the rest (--limit)"
    print(f"{len(table)}/{total} cells finished -> {out / 'results.parquet'}"
          + ("; some cells failed, see failures.json" if failed else left))
    return 1 if failed else 0  # cells --limit left for later are not failures
