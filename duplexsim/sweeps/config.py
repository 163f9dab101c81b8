"""Sweep files: a base scenario, a grid over its fields, and seeds.

```toml
[sweep]
name = "latency"
base = "scenarios/replay-lan.toml"   # relative to the current directory (the repo root)
seeds = [0, 1, 2]
workers = 0                          # cells run at once; 0 = one per CPU core (with
                                     # --backend ray joined to a cluster: per CPU of it)
batch = 1                            # cells simulated together per worker, model calls
                                     # batched (duplexsim.sim.batch); 1 = one at a time
cell = ""                            # "module:function" (config dict -> metrics row);
                                     # "" = simulate the scenario and score its trace
[sweep.set]                          # fixed overrides for every cell
duration_s = 30.0
[sweep.grid]                         # every combination of these values, x seeds
"network.a_to_b.delay_ms+network.b_to_a.delay_ms" = [0, 80, 160]   # '+': same value to all
"a.estimation" = ["model", "silence"]
```

Owns the schema and expanding it into cells (each a fully resolved scenario dict with a
stable hash key: :mod:`duplexsim.sweeps.keys`); what the grid and set tables may hold is
:mod:`duplexsim.sweeps.tables`. Must not run anything: see :mod:`duplexsim.sweeps.runner`.
"""

from __future__ import annotations

import copy
import functools
import itertools
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from duplexsim.config.field_errors import FieldError, raise_errors, reading
from duplexsim.config.field_values import plain_fields
from duplexsim.config.loader import from_dict, wrong_type
from duplexsim.config.readers import read_toml
from duplexsim.errors import ConfigError, Problem
from duplexsim.sweeps.cells import DEFAULT_CELL
from duplexsim.sweeps.keys import cell_key, cell_source_digest, simulated_config
from duplexsim.sweeps.tables import (
    INT64_MAX,
    INT64_MIN,
    MAX_CELLS,
    SEED_KEY,
    flatten,
    grid_errors,
    repeated,
    set_errors,
    value_kind,
    within,
)

if TYPE_CHECKING:
    from duplexsim.config.scenario import Scenario

# re-exported for callers of this module: the cell keys (keys) and the tables' rules (tables)
__all__ = ["INT64_MAX", "INT64_MIN", "MAX_BATCH", "MAX_CELLS", "MAX_WORKERS", "SEED_KEY", "Cell",
           "Sweep", "SweepConfig", "cell_key", "cell_source_digest", "dump_sweep", "load_sweep",
           "scenario_problems", "simulated_config", "value_kind"]

MAX_WORKERS = 4096
MAX_BATCH = 4096


@dataclass(frozen=True)
class SweepConfig:
    """The ``[sweep]`` table."""

    name: str
    base: str
    """Base scenario TOML file (relative to the current directory)."""
    seeds: tuple[int, ...] = (0,)
    grid: dict[str, Any] = field(default_factory=dict)
    """Dotted scenario key (or keys joined by '+') -> list of values (tables of them are
    spread into dotted keys: ``[sweep.grid.network.a_to_b]`` ``delay_ms = [0, 80]``)."""
    set: dict[str, Any] = field(default_factory=dict)
    """Dotted scenario key -> value, applied to every cell before the grid. A table sets
    each key in it, not the whole table: ``network.a_to_b.delay_ms = 5`` keeps the base
    scenario's other network keys, and so does ``network = { a_to_b = { delay_ms = 5 } }``
    (TOML reads the two alike)."""
    workers: int = 0
    batch: int = 1
    """Cells a worker runs together (the cell function's ``batched`` form: for the default
    cell, :func:`duplexsim.sim.batch.run_batch`, one thread); 1 = one at a time. Measured
    with two 3.4M-parameter agents a conversation: 16 together about 2.5-3x, 64 about
    3.5x faster than one at a time (``bench_sim``; docs/results/bench_sim.txt)."""
    cell: str = ""
    """``module:function`` computing a row from a resolved scenario dict; "" = simulate
    (:data:`~duplexsim.sweeps.cells.DEFAULT_CELL`, which named in full is read as "")."""

    def __post_init__(self) -> None:
        plain_fields(self)  # (values from np.arange / np.linspace: their TOML)
        if self.cell == DEFAULT_CELL:  # one cell, one spelling: it was keyed apart from ""
            # (every cell run again) and let through grids over keys it does not score
            object.__setattr__(self, "cell", "")
        errors: list[FieldError] = []
        # TOML reads `network.a_to_b.delay_ms = 5` (unquoted), [sweep.set.network.a_to_b]
        # and `network = { a_to_b = { delay_ms = 5 } }` alike, as nested tables; each names
        # that one field (set as a table, it replaced the base's whole [network]: its preset
        # and every other key dropped without a word; in the grid it was "not a list")
        for table in ("set", "grid"):  # (an empty table stays: refused below)
            flat, twice = flatten(getattr(self, table))
            object.__setattr__(self, table, flat)
            errors += [FieldError(f"{table}.{key}", "is given twice (as a dotted key and "
                                  "inside a table)", "each field once", (table,))
                       for key in twice]
        if not self.name.strip():
            errors.append(FieldError("name", "empty name", "a non-empty string"))
        elif "/" in self.name or "\\" in self.name or self.name.strip() in (".", ".."):
            # the default output folder is runs/<name>: "../../x" would write outside runs/
            errors.append(FieldError("name", f"{self.name!r} is a path, not a name",
                                     "a folder name without / or \\, not . or .."))
        elif "\0" in self.name:  # ("\u0000" in TOML) no file system takes it: a ValueError
            errors.append(FieldError("name", f"{self.name!r} holds a NUL character",
                                     "a folder name without NUL"))
        if not self.base.strip():  # "" is the current folder: "is a folder, not a file"
            errors.append(FieldError("base", "empty path", "a scenario TOML file"))
        elif "\0" in self.base:
            errors.append(FieldError("base", f"{self.base!r} holds a NUL character",
                                     "a scenario TOML file path without NUL"))
        # (one message said "not a list of distinct seeds" of [-1] and of [2**64] alike)
        allowed_seeds = "non-empty list of distinct integers, 0 .. 2**63 - 1 (a scenario's seed)"
        if not self.seeds:
            errors.append(FieldError("seeds", "empty list", allowed_seeds))
        elif (bad_seed := next((s for s in self.seeds if not 0 <= s < 2**63), None)) is not None:
            errors.append(FieldError("seeds", f"{bad_seed} is " + (
                "negative" if bad_seed < 0 else "too large"), allowed_seeds))
        elif (twice_seed := repeated(self.seeds)) is not None:
            errors.append(FieldError("seeds", f"{twice_seed} is listed twice", allowed_seeds))
        if not 0 <= self.workers <= MAX_WORKERS:
            errors.append(FieldError("workers", f"{self.workers} is out of range",
                                     f"0 (= all cores) .. {MAX_WORKERS}"))
        if not 1 <= self.batch <= MAX_BATCH:
            errors.append(FieldError("batch", f"{self.batch} is out of range",
                                     f"1 (= no batching) .. {MAX_BATCH}"))
        if self.cell and not all(self.cell.partition(":")[::2]):
            errors.append(FieldError("cell", f"{self.cell!r} is not module:function",
                                     '"package.module:function" or ""'))
        # each reads its own table (and names what else it reads): still named beside a
        # bad workers or seeds (the loader's probe)
        errors += (reading(grid_errors(self.grid, self.seeds, self.cell), "grid")
                   + reading(set_errors(self.set, self.grid), "set"))
        raise_errors(errors)


@dataclass(frozen=True)
class Cell:
    """One point of the grid and one seed, with its fully resolved scenario dict."""

    index: int
    params: dict[str, Any]
    """Grid key -> value for this cell (the columns that vary), plus ``seed``."""
    config: dict[str, Any]
    """The base scenario dict with ``set``, the grid values and the seed applied."""
    key: str
    """Stable hash of ``config`` and the cell function: the cell's file name."""
    scenario: Scenario | None = field(default=None, compare=False, repr=False)
    """``config`` built into its :class:`~duplexsim.config.scenario.Scenario`, for the
    default cell (which resolves it for the key anyway); None for a cell of one's own and
    for a config that does not build (invalid)."""


def _set_dotted(data: dict[str, Any], dotted: str, value: Any, table: str = "") -> None:
    """Set ``data[a][b][c] = value`` for ``dotted`` = ``"a.b.c"``; a path through a value
    is a ``KeyError((table, message))`` (``table``: the sweep key that named it)."""
    node = data
    *parents, leaf = dotted.split(".")
    for p in parents:
        child = node.get(p)
        if child is None:
            child = node[p] = {}
        if not isinstance(child, dict):
            raise KeyError((table, f"{dotted}: {p!r} is a value, not a table"))
        node = child
    node[leaf] = value


def _built_scenario(config: Mapping[str, Any], file: str = "<sweep cell>") -> Scenario | None:
    """``config`` built into its :class:`~duplexsim.config.scenario.Scenario`, or None when
    it does not build."""
    from duplexsim.config.scenario import scenario_from_dict

    try:
        return scenario_from_dict(dict(config), file=file)
    except ConfigError:
        return None


@dataclass(frozen=True)
class Sweep:
    """A loaded sweep: its table, the base scenario dict and the file it came from."""

    config: SweepConfig
    base: dict[str, Any]
    file: str = "<sweep>"

    def cells(self) -> list[Cell]:
        """Every grid combination x seed, in grid order (last key fastest, then seeds).

        Computed once per Sweep and shared by every caller (a new list of the same cells):
        a default cell resolves its scenario for its key, and one ``duplexsim sweep`` asks
        for the cells six times. A cell's key hashes the agents and corpora it names as they
        were then: load the sweep again after retraining one (or changing :attr:`base`)."""
        return list(self._cells)

    @functools.cached_property
    def _cells(self) -> tuple[Cell, ...]:
        """What :meth:`cells` returns (a frozen dataclass without ``__slots__`` may cache)."""
        base = copy.deepcopy(self.base)
        for key, value in self.config.set.items():
            _set_dotted(base, key, value, "sweep.set")
        keys = list(self.config.grid)
        out: list[Cell] = []
        combos = itertools.product(*(self.config.grid[k] for k in keys))
        for combo in combos:
            for seed in self.config.seeds:
                cfg = copy.deepcopy(base)
                for key, value in zip(keys, combo, strict=True):
                    for part in key.split("+"):
                        _set_dotted(cfg, part, value, "sweep.grid")
                cfg[SEED_KEY] = seed
                params = {**dict(zip(keys, combo, strict=True)), SEED_KEY: seed}
                # the default cell's key resolves the scenario: built once, kept on the
                # cell for the checks that build it again (scenario_problems, check_files)
                scenario = None if self.config.cell else _built_scenario(cfg, self.file)
                out.append(Cell(len(out), params, cfg, cell_key(cfg, self.config.cell, scenario),
                                scenario))
        return tuple(out)


def scenario_problems(sweep: Sweep, cells: list[Cell] | None = None) -> list[Problem]:
    """Build every cell's scenario (of ``cells``; default: all the sweep's); report each
    problem once, naming the grid value. A cell that built already (:attr:`Cell.scenario`)
    is not built again."""
    from duplexsim.config.scenario import scenario_from_dict

    seen: set[str] = set()
    problems: list[Problem] = []
    for cell in sweep.cells() if cells is None else cells:
        if cell.scenario is not None:
            continue
        try:
            scenario_from_dict(cell.config, file=sweep.file)
        except ConfigError as e:
            where = ", ".join(f"{k}={v!r}" for k, v in cell.params.items() if k != SEED_KEY)
            where = f"in cell {where}" if where else f"base scenario {sweep.config.base!r}" + (
                " with sweep.set" if sweep.config.set else "")
            for p in e.problems:
                text = str(p)
                if text not in seen:
                    seen.add(text)
                    file = sweep.config.base if _from_base(sweep, p.key) else p.file
                    problems.append(Problem(file, p.key, f"{p.message} ({where})", p.allowed))
    return problems


def _from_base(sweep: Sweep, key: str) -> bool:
    """Whether the dotted ``key`` of a cell's scenario is the base file's (there, and set by
    no key of sweep.set or sweep.grid at it or a table above it): a problem on it names the
    base file, not the sweep (a base's netem beside a grid over delay_ms)."""
    value: Any = sweep.base
    for part in key.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return False  # (an array item, e.g. topology.edges[0]: the sweep's file)
        value = value[part]
    swept = [SEED_KEY, *(part for k in [*sweep.config.set, *sweep.config.grid]
                         for part in k.split("+"))]
    return not any(within(key, k) for k in swept)


def load_sweep(path: str | Path, *, check_scenarios: bool = True) -> Sweep:
    """Read a sweep TOML file; with ``check_scenarios`` every cell's scenario is validated.

    Raises :class:`ConfigError` naming the file, key and allowed values.
    """
    path = Path(path)
    data = read_toml(path)  # missing, unreadable, not UTF-8, not TOML: one line each
    if "sweep" not in data:
        raise ConfigError([Problem(str(path), "sweep", "missing [sweep] table")])
    if not isinstance(data["sweep"], dict):  # sweep = 5 was told "missing [sweep] table"
        raise ConfigError([wrong_type(str(path), "sweep", data["sweep"],
                                      "a [sweep] table, with name and base")])
    # every stray table and the [sweep] table's own problems at once (only the first stray
    # key was named, and the [sweep] table was checked only after it was gone)
    extra = [Problem(str(path), key, "unknown top-level key", "[sweep]; scenario settings go "
                     "in the base scenario file or [sweep.set]")
             for key in sorted(set(data) - {"sweep"})]
    try:
        config = from_dict(SweepConfig, data["sweep"], file=str(path), prefix="sweep")
    except ConfigError as e:
        raise ConfigError(extra + e.problems) from None
    if extra:
        raise ConfigError(extra)
    try:
        from duplexsim.config.cli import expect_kind

        base = read_toml(config.base)
        if not base:  # as simulate refuses it: a failed copy or save, not "all defaults"
            raise ConfigError([Problem(config.base, "", "no settings in it (an empty file, or "
                                       "only comments)", "a scenario TOML file with at least "
                                       'one key, e.g. name = "..."')])
        expect_kind(config.base, "scenario")  # an agent card's keys: one line, not one each
    except ConfigError as e:  # name the sweep's key too: the base path is relative to the cwd
        where = "" if Path(config.base).is_absolute() else \
            f"; a relative base is read from the current directory, {Path.cwd()}"
        raise ConfigError([Problem(str(path), "sweep.base", f"base scenario {config.base!r}: "
                                   + (f"{p.key}: " if p.key else "") + p.message,
                                   (p.allowed or "a scenario TOML file") + where)
                           for p in e.problems]) from None
    sweep = Sweep(config=config, base=base, file=str(path))
    try:
        sweep.cells()
    except KeyError as e:
        table, message = e.args[0]
        raise ConfigError([Problem(str(path), table, message,
                                   "a dotted key of the scenario's tables, e.g. "
                                   "network.a_to_b.delay_ms")]) from None
    if check_scenarios:
        problems = scenario_problems(sweep)
        if problems:
            raise ConfigError(problems)
    return sweep


def dump_sweep(config: SweepConfig) -> str:
    """The sweep as TOML text that :func:`load_sweep` reads back (experiments write these)."""
    from duplexsim.config.toml_writer import toml_string, toml_value

    lines = ["[sweep]"]
    for key in ("name", "base", "seeds", "workers", "batch", "cell"):
        lines.append(f"{key} = {toml_value(getattr(config, key), 'dump_sweep')}")
    for table in ("set", "grid"):
        lines.append(f"[sweep.{table}]")
        lines += [f"{toml_string(k)} = {toml_value(v, 'dump_sweep')}"
                  for k, v in getattr(config, table).items()]
    text = "\n".join(lines) + "\n"
    tomllib.loads(text)
    return text
