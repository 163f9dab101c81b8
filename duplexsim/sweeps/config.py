"""Sweep files: a base scenario, a grid over its fields, and seeds.

```toml
[sweep]
name = "latency"
base = "scenarios/replay-lan.toml"   # relative to the current directory (the repo root)
seeds = [0, 1, 2]
workers = 0                          # local process pool size; 0 = one per CPU core
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
stable hash key). Must not run anything: see :mod:`duplexsim.sweeps.runner`.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime
import functools
import importlib.util
import itertools
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from duplexsim.config.loader import (
    ConfigError,
    FieldError,
    Problem,
    from_dict,
    plain_fields,
    raise_errors,
    reading,
)
from duplexsim.config.readers import read_toml
from duplexsim.digests import SIMULATOR_VERSION, file_digest, key_of, scenario_inputs
from duplexsim.sweeps.cells import DEFAULT_CELL, UNSCORED_KEYS

if TYPE_CHECKING:
    from duplexsim.config.scenario import Scenario

SEED_KEY = "seed"
MAX_WORKERS = 4096
MAX_BATCH = 4096
INT64_MIN, INT64_MAX = -2**63, 2**63 - 1
"""Integer grid values a results.parquet column holds as integers (int64)."""
MAX_CELLS = 1_000_000
"""Most cells a sweep may have (grid points x seeds): past it a typo (a grid of ten keys of
ten values each is 10**10 cells), which expanded the whole grid in memory before anything
said so, not a study (the committed ones have at most 1440)."""


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
            flat, twice = _flatten(getattr(self, table))
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
        elif (twice_seed := _repeated(self.seeds)) is not None:
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
        errors += reading(self._grid_errors(), "grid") + reading(self._set_errors(), "set")
        raise_errors(errors)

    def _grid_errors(self) -> list[FieldError]:
        """The problems of ``grid``: each key's values, the cell count, two keys at one field."""
        errors: list[FieldError] = []
        for key, values in self.grid.items():
            if not isinstance(values, list | tuple) or not values:
                errors.append(FieldError(f"grid.{key}", "must be a non-empty list of values",
                                         "[v1, v2, ...]"))
            elif any(not name for part in key.split("+") for name in part.split(".")):
                errors.append(FieldError(f"grid.{key}", "empty key", "dotted.key or a.b+c.d"))
            elif _spaced(key.replace("+", ".")):  # ("a.x + b.x": scenario keys have no
                # spaces; each cell said "a.x : unknown key", the space unseen)
                errors.append(FieldError(f"grid.{key}", "a key with spaces around it",
                                         "dotted.key or a.b+c.d, without spaces"))
            elif SEED_KEY in key.split("+") or key == "cell":
                errors.append(FieldError(f"grid.{key}", "seeds are swept with sweep.seeds"
                                         if key != "cell" else "a column of the results table",
                                         "any scenario key but seed"))
            elif not self.cell and (unscored := next(
                    (part for part in key.split("+") if part.split(".")[0] in UNSCORED_KEYS),
                    None)) is not None:
                errors.append(FieldError(f"grid.{key}", f"{unscored} does not change what the "
                                         'default cell (cell = "") simulates and scores: every '
                                         "value gives the same rows",
                                         "keys of the simulation (not "
                                         f"{', '.join(UNSCORED_KEYS)}), or a cell function of "
                                         "one's own that reads it", ("cell",)))
            elif any(_has_date(v) for v in values):
                bad = next(v for v in values if _has_date(v))
                errors.append(FieldError(f"grid.{key}", f"{bad!r} is a TOML date or time (no "
                                         "scenario key takes one; cells and sweep.json are "
                                         "JSON)", "numbers, strings or booleans"))
            elif (twice := _repeated(values)) is not None:
                # a value listed twice is the same cell twice: its one conversation per seed
                # would count as two in every mean and bootstrap over seeds
                errors.append(FieldError(f"grid.{key}", f"{twice!r} is listed twice",
                                         "distinct values"))
            elif any(isinstance(v, dict | list | tuple) for v in values):
                bad = next(v for v in values if isinstance(v, dict | list | tuple))
                errors.append(FieldError(f"grid.{key}", f"{bad!r} is a table or list (a "
                                         "results column holds one value per cell)",
                                         "numbers, strings or booleans; sweep a table's "
                                         "keys one by one (network.a_to_b.delay_ms)"))
            elif (big := next((i for i, v in enumerate(values) if isinstance(v, int)
                               and not isinstance(v, bool) and not INT64_MIN <= v <= INT64_MAX),
                              None)) is not None:
                # results.parquet holds such a column as floats: 2**70 and 2**70 + 1 ran as
                # two cells shown under one value (1.180592e+21)
                errors.append(FieldError(f"grid.{key}", f"value {big + 1} ({values[big]}) is "
                                         "past the 64-bit integer range of a results column",
                                         "integers -2**63 .. 2**63 - 1, or floats"))
            elif len({value_kind(v) for v in values}) > 1:
                # every cell ran, then results.parquet could not be written: a traceback
                first = value_kind(values[0])
                bad = next(v for v in values if value_kind(v) != first)
                errors.append(FieldError(f"grid.{key}", f"{values[0]!r} and {bad!r} are of "
                                         "different types (a results column holds one)",
                                         "values of one type: numbers, strings or booleans"))
        sizes = [len(v) for v in self.grid.values() if isinstance(v, list | tuple)]
        points, counts = math.prod(sizes), " x ".join(map(str, sizes)) + " grid values"
        if points > MAX_CELLS:  # too many at any seeds: named beside bad seeds too
            errors.append(FieldError("grid", f"{counts} = {points} cells for each seed",
                                     f"at most {MAX_CELLS} cells a sweep (split it into "
                                     "several, or fewer values)"))
        elif points * max(len(self.seeds), 1) > MAX_CELLS:
            errors.append(FieldError("grid", f"{counts} x {len(self.seeds)} seeds = "
                                     f"{points * len(self.seeds)} cells",
                                     f"at most {MAX_CELLS} cells a sweep (split it into "
                                     "several, or fewer values or seeds)", ("seeds",)))
        # two keys that set one field: the later one wins, the earlier one's column lies
        # (rows labelled delay_ms=100 that never had that delay)
        setting = [(f"grid.{key}", part) for key in self.grid for part in key.split("+")]
        for i, (name, path) in enumerate(setting):
            for other, other_path in setting[:i]:
                if _nested(path, other_path) and name != other:
                    errors.append(FieldError(name, f"sets {path}, which {other} sets too",
                                             "keys that set different fields"))
        return errors

    def _set_errors(self) -> list[FieldError]:
        """The problems of ``set``: each key, and values a later key replaces."""
        errors: list[FieldError] = []
        for key in self.set:
            if any(not name for name in key.split(".")):
                errors.append(FieldError(f"set.{key}", "empty key", "dotted.key"))
            elif _spaced(key):
                errors.append(FieldError(f"set.{key}", "a key with spaces around it",
                                         "dotted.key, without spaces"))
            elif self.set[key] == {}:  # ([sweep.set.a] with its keys commented out) it
                # replaced the base's whole table with {}: side a a default replay side
                errors.append(FieldError(f"set.{key}", "an empty table sets nothing",
                                         "a table with keys to set, or none"))
            elif _has_date(self.set[key]):
                errors.append(FieldError(f"set.{key}", "holds a TOML date or time (no scenario "
                                         "key takes one; cells and sweep.json are JSON)",
                                         "numbers, strings, booleans, lists and tables of them"))
            elif key == SEED_KEY:  # each cell's seed from sweep.seeds replaces it
                errors.append(FieldError(f"set.{key}", "seeds are swept with sweep.seeds (every "
                                         "cell's seed replaces this one)",
                                         "any scenario key but seed; seeds = [...]"))
        # a set value that a grid key, or a later set key, replaces in every cell is never
        # used, though the sweep (and sweep.json) says it was set
        set_keys = list(self.set)
        for i, key in enumerate(set_keys):
            over = [f"grid.{g}" for g in self.grid for part in g.split("+")
                    if _within(key, part)] + [f"set.{k}" for k in set_keys[i + 1:]
                                              if _within(key, k)]
            if over:
                errors.append(FieldError(f"set.{key}", f"{over[0]} replaces it in every cell: "
                                         "this value is never used",
                                         "keys that grid and later set keys do not set",
                                         ("grid",)))
        return errors


def value_kind(value: Any) -> str:
    """What a results column can hold of ``value``: number (an integer or a float), boolean,
    string, list, table or null; two kinds in one column cannot be written to Parquet."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if value is None:
        return "null"
    kinds: dict[type, str] = {str: "string", list: "list", tuple: "list", dict: "table"}
    return kinds.get(type(value), type(value).__name__)


def _flatten(table: Mapping[str, Any], prefix: str = "") -> tuple[dict[str, Any], list[str]]:
    """``table`` with every non-empty table value spread into dotted keys of its leaves
    (``{"a": {"b": 1}}`` -> ``{"a.b": 1}``, order kept), and the dotted keys that came out
    twice (``"a.b" = 1`` beside ``a = { b = 2 }``)."""
    flat: dict[str, Any] = {}
    twice: list[str] = []
    for key, value in table.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            inner, inner_twice = _flatten(value, f"{dotted}.")
            twice += inner_twice
            items = list(inner.items())
        else:
            items = [(dotted, value)]
        for k, v in items:
            if k in flat:
                twice.append(k)
            flat[k] = v
    return flat, twice


def _nested(a: str, b: str) -> bool:
    """Dotted paths ``a`` and ``b`` name the same field, or one lies inside the other."""
    a_parts, b_parts = a.split("."), b.split(".")
    n = min(len(a_parts), len(b_parts))
    return a_parts[:n] == b_parts[:n]


def _within(a: str, b: str) -> bool:
    """Dotted path ``a`` names the field ``b`` or one inside it (setting ``b`` replaces it)."""
    return a == b or a.startswith(f"{b}.")


def _spaced(dotted: str) -> bool:
    """Some name of the dotted path ``dotted`` has spaces (or tabs) at either end."""
    return any(name != name.strip() for name in dotted.split("."))


def _repeated(values: list[Any] | tuple[Any, ...]) -> Any:
    """The first value of ``values`` equal to an earlier one (0 and 0.0 are one value, a
    boolean and a number are not; nan and nan are one value: one cell key), or None."""
    for i, v in enumerate(values):
        for earlier in values[:i]:
            if isinstance(v, bool) == isinstance(earlier, bool) and (
                    v == earlier or _is_nan(v) and _is_nan(earlier)):
                return v
    return None


def _is_nan(v: Any) -> bool:
    return isinstance(v, float) and math.isnan(v)


def _has_date(v: Any) -> bool:
    """Whether ``v`` is, or holds, a TOML date, time or date-time (tomllib's ``datetime``
    types), which JSON does not hold."""
    if isinstance(v, dict):
        return any(_has_date(x) for x in v.values())
    if isinstance(v, list | tuple):
        return any(_has_date(x) for x in v)
    return isinstance(v, datetime.date | datetime.time)


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


def cell_key(config: Mapping[str, Any], cell: str, scenario: Scenario | None = None) -> str:
    """Hash of the canonical JSON of a config, the cell function and the contents of the
    agents and corpora it names (16 hex): an agent retrained or a corpus rebuilt in the
    same directory makes new cells, not reused old ones; so does a new
    :data:`~duplexsim.digests.SIMULATOR_VERSION`; and so does an edit to the source file
    of a cell function of one's own (:func:`cell_source_digest`).

    For the default cell (``cell`` "" or :data:`~duplexsim.sweeps.cells.DEFAULT_CELL`) the
    config is the scenario it simulates (:func:`simulated_config`; ``scenario``: ``config``
    already built, not built again), so a key left out and the same key written at its
    default, or a network preset and its values written out, are one cell; a config that
    does not build keeps its own dict. Its :data:`~duplexsim.sweeps.cells.UNSCORED_KEYS` are
    left out either way: its rows do not depend on them (a scenario renamed, or writing
    audio, reuses its cells). A cell of one's own may read every key as written: its
    config is hashed as it is."""
    inputs = scenario_inputs(config)
    if cell in ("", DEFAULT_CELL):
        cell = ""
        config = simulated_config(config, scenario) or {
            k: v for k, v in config.items() if k not in UNSCORED_KEYS}
    parts = {"config": config, "cell": cell, "inputs": inputs,
             "simulator": SIMULATOR_VERSION}
    source = cell_source_digest(cell)
    if source:  # only for one's own cells (duplexsim's own: SIMULATOR_VERSION versions them)
        parts["cell_source"] = source
    return key_of(parts)


def simulated_config(config: Mapping[str, Any], scenario: Scenario | None = None
                     ) -> dict[str, Any] | None:
    """What the default cell simulates of ``config`` (``scenario``: it built already), as a
    plain dict: every scenario key at its resolved value (defaults filled in, a replay
    side's channel set) and each network direction as the hops it travels, every link key
    set (a preset expanded, as :meth:`~duplexsim.config.network.NetworkConfig.hops` gives
    the simulator), without :data:`~duplexsim.sweeps.cells.UNSCORED_KEYS`; None when the
    config does not build (the pre-run check refuses it, a cell's own run reports it)."""
    from duplexsim.config.network import DIRECTIONS
    from duplexsim.config.scenario import scenario_from_dict

    if scenario is None:
        try:  # (without the unscored keys: an invalid [output] does not change the key)
            scenario = scenario_from_dict(
                {k: v for k, v in config.items() if k not in UNSCORED_KEYS}, file="<sweep cell>")
        except ConfigError:
            return None
    resolved = {k: v for k, v in scenario.to_dict().items() if k not in UNSCORED_KEYS}
    resolved["network"] = {direction: [dataclasses.asdict(hop) for hop in
                                       scenario.network.hops(direction)]
                           for direction in DIRECTIONS}
    return resolved


def _built_scenario(config: Mapping[str, Any], file: str = "<sweep cell>") -> Scenario | None:
    """``config`` built into its :class:`~duplexsim.config.scenario.Scenario`, or None when
    it does not build."""
    from duplexsim.config.scenario import scenario_from_dict

    try:
        return scenario_from_dict(dict(config), file=file)
    except ConfigError:
        return None


def cell_source_digest(cell: str) -> str:
    """sha256 of the file defining a cell function of one's own (``module:function``, the
    module found without running it): "" for duplexsim's own cells (which
    :data:`~duplexsim.digests.SIMULATOR_VERSION` versions) and for a module that cannot be
    found (running the cell names that). Without it a cell function edited in place kept
    the rows its old code made. Helpers it imports from other files are not covered."""
    module = cell.partition(":")[0]
    if not module or module == "duplexsim" or module.startswith("duplexsim."):
        return ""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):  # a parent package that fails to import; a bad name
        return ""
    origin = spec.origin if spec is not None else None
    return file_digest(origin) if origin and spec is not None and spec.has_location else ""


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
    return not any(_within(key, k) for k in swept)


def load_sweep(path: str | Path, *, check_scenarios: bool = True) -> Sweep:
    """Read a sweep TOML file; with ``check_scenarios`` every cell's scenario is validated.

    Raises :class:`ConfigError` naming the file, key and allowed values.
    """
    path = Path(path)
    data = read_toml(path)  # missing, unreadable, not UTF-8, not TOML: one line each
    if not isinstance(data.get("sweep"), dict):
        raise ConfigError([Problem(str(path), "sweep", "missing [sweep] table")])
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


def _toml_value(v: Any) -> str:
    from duplexsim.config.toml_writer import toml_string

    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, str):
        return toml_string(v)
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {type(v).__name__} to a sweep file")


def dump_sweep(config: SweepConfig) -> str:
    """The sweep as TOML text that :func:`load_sweep` reads back (experiments write these)."""
    from duplexsim.config.toml_writer import toml_string

    lines = ["[sweep]"]
    for key in ("name", "base", "seeds", "workers", "batch", "cell"):
        lines.append(f"{key} = {_toml_value(getattr(config, key))}")
    for table in ("set", "grid"):
        lines.append(f"[sweep.{table}]")
        lines += [f"{toml_string(k)} = {_toml_value(v)}"
                  for k, v in getattr(config, table).items()]
    text = "\n".join(lines) + "\n"
    tomllib.loads(text)
    return text
