"""What a sweep's ``[sweep.grid]`` and ``[sweep.set]`` tables may hold.

Nested tables spread into dotted keys (:func:`flatten`), and the problems of each key and
value (:func:`grid_errors`, :func:`set_errors`), which
:class:`~duplexsim.sweeps.config.SweepConfig` raises. Pure functions of the tables: must not
read files, build scenarios or expand cells (:mod:`duplexsim.sweeps.config` does).
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Mapping
from typing import Any

from duplexsim.config.field_errors import FieldError
from duplexsim.sweeps.cells import UNSCORED_KEYS

SEED_KEY = "seed"
INT64_MIN, INT64_MAX = -2**63, 2**63 - 1
"""Integer grid values a results.parquet column holds as integers (int64)."""
MAX_CELLS = 1_000_000
"""Most cells a sweep may have (grid points x seeds): past it a typo (a grid of ten keys of
ten values each is 10**10 cells), which expanded the whole grid in memory before anything
said so, not a study (the committed ones have at most 1440)."""


def grid_errors(grid: Mapping[str, Any], seeds: tuple[int, ...], cell: str
                ) -> list[FieldError]:
    """The problems of ``grid``: each key's values, the cell count, two keys at one field.
    ``seeds`` and ``cell``: the sweep's (the count runs over the seeds; the default cell,
    ``cell`` "", scores no :data:`~duplexsim.sweeps.cells.UNSCORED_KEYS`)."""
    errors = [error for key, values in grid.items()
              if (error := _grid_key_error(key, values, cell)) is not None]
    errors += _grid_size_errors(grid, seeds)
    # two keys that set one field: the later one wins, the earlier one's column lies
    # (rows labelled delay_ms=100 that never had that delay)
    setting = [(f"grid.{key}", part) for key in grid for part in key.split("+")]
    for i, (name, path) in enumerate(setting):
        for other, other_path in setting[:i]:
            if _nested(path, other_path) and name != other:
                errors.append(FieldError(name, f"sets {path}, which {other} sets too",
                                         "keys that set different fields"))
    return errors


def _grid_key_error(key: str, values: Any, cell: str) -> FieldError | None:
    """The first problem of grid key ``key`` (its values not a list, then the key itself,
    then its values), or None."""
    if not isinstance(values, list | tuple) or not values:
        return FieldError(f"grid.{key}", "must be a non-empty list of values", "[v1, v2, ...]")
    if any(not name for part in key.split("+") for name in part.split(".")):
        return FieldError(f"grid.{key}", "empty key", "dotted.key or a.b+c.d")
    if _spaced(key.replace("+", ".")):  # ("a.x + b.x": scenario keys have no
        # spaces; each cell said "a.x : unknown key", the space unseen)
        return FieldError(f"grid.{key}", "a key with spaces around it",
                          "dotted.key or a.b+c.d, without spaces")
    if SEED_KEY in key.split("+") or key == "cell":
        return FieldError(f"grid.{key}", "seeds are swept with sweep.seeds"
                          if key != "cell" else "a column of the results table",
                          "any scenario key but seed")
    if not cell and (unscored := next(
            (part for part in key.split("+") if part.split(".")[0] in UNSCORED_KEYS),
            None)) is not None:
        return FieldError(f"grid.{key}", f"{unscored} does not change what the "
                          'default cell (cell = "") simulates and scores: every '
                          "value gives the same rows",
                          "keys of the simulation (not "
                          f"{', '.join(UNSCORED_KEYS)}), or a cell function of "
                          "one's own that reads it", ("cell",))
    return _grid_values_error(key, values)


def _grid_values_error(key: str, values: list[Any] | tuple[Any, ...]) -> FieldError | None:
    """The first problem of the values of grid key ``key`` as a results column, or None."""
    if any(_has_date(v) for v in values):
        bad = next(v for v in values if _has_date(v))
        return FieldError(f"grid.{key}", f"{bad!r} is a TOML date or time (no "
                          "scenario key takes one; cells and sweep.json are "
                          "JSON)", "numbers, strings or booleans")
    if (twice := repeated(values)) is not None:
        # a value listed twice is the same cell twice: its one conversation per seed
        # would count as two in every mean and bootstrap over seeds
        return FieldError(f"grid.{key}", f"{twice!r} is listed twice", "distinct values")
    if any(isinstance(v, dict | list | tuple) for v in values):
        bad = next(v for v in values if isinstance(v, dict | list | tuple))
        return FieldError(f"grid.{key}", f"{bad!r} is a table or list (a "
                          "results column holds one value per cell)",
                          "numbers, strings or booleans; sweep a table's "
                          "keys one by one (network.a_to_b.delay_ms)")
    if (big := next((i for i, v in enumerate(values) if isinstance(v, int)
                     and not isinstance(v, bool) and not INT64_MIN <= v <= INT64_MAX),
                    None)) is not None:
        # results.parquet holds such a column as floats: 2**70 and 2**70 + 1 ran as
        # two cells shown under one value (1.180592e+21)
        return FieldError(f"grid.{key}", f"value {big + 1} ({values[big]}) is "
                          "past the 64-bit integer range of a results column",
                          "integers -2**63 .. 2**63 - 1, or floats")
    if len({value_kind(v) for v in values}) > 1:
        # every cell ran, then results.parquet could not be written: a traceback
        first = value_kind(values[0])
        bad = next(v for v in values if value_kind(v) != first)
        return FieldError(f"grid.{key}", f"{values[0]!r} and {bad!r} are of "
                          "different types (a results column holds one)",
                          "values of one type: numbers, strings or booleans")
    return None


def _grid_size_errors(grid: Mapping[str, Any], seeds: tuple[int, ...]) -> list[FieldError]:
    """The grid's cells past :data:`MAX_CELLS`: at any number of seeds, or at ``seeds``."""
    sizes = [len(v) for v in grid.values() if isinstance(v, list | tuple)]
    points, counts = math.prod(sizes), " x ".join(map(str, sizes)) + " grid values"
    if points > MAX_CELLS:  # too many at any seeds: named beside bad seeds too
        return [FieldError("grid", f"{counts} = {points} cells for each seed",
                           f"at most {MAX_CELLS} cells a sweep (split it into "
                           "several, or fewer values)")]
    if points * max(len(seeds), 1) > MAX_CELLS:
        return [FieldError("grid", f"{counts} x {len(seeds)} seeds = "
                           f"{points * len(seeds)} cells",
                           f"at most {MAX_CELLS} cells a sweep (split it into "
                           "several, or fewer values or seeds)", ("seeds",))]
    return []


def set_errors(set_: Mapping[str, Any], grid: Mapping[str, Any]) -> list[FieldError]:
    """The problems of ``set`` (``set_``): each key, and values a later key, or a key of
    ``grid``, replaces."""
    errors: list[FieldError] = []
    for key in set_:
        if any(not name for name in key.split(".")):
            errors.append(FieldError(f"set.{key}", "empty key", "dotted.key"))
        elif _spaced(key):
            errors.append(FieldError(f"set.{key}", "a key with spaces around it",
                                     "dotted.key, without spaces"))
        elif set_[key] == {}:  # ([sweep.set.a] with its keys commented out) it
            # replaced the base's whole table with {}: side a a default replay side
            errors.append(FieldError(f"set.{key}", "an empty table sets nothing",
                                     "a table with keys to set, or none"))
        elif _has_date(set_[key]):
            errors.append(FieldError(f"set.{key}", "holds a TOML date or time (no scenario "
                                     "key takes one; cells and sweep.json are JSON)",
                                     "numbers, strings, booleans, lists and tables of them"))
        elif key == SEED_KEY:  # each cell's seed from sweep.seeds replaces it
            errors.append(FieldError(f"set.{key}", "seeds are swept with sweep.seeds (every "
                                     "cell's seed replaces this one)",
                                     "any scenario key but seed; seeds = [...]"))
    # a set value that a grid key, or a later set key, replaces in every cell is never
    # used, though the sweep (and sweep.json) says it was set
    set_keys = list(set_)
    for i, key in enumerate(set_keys):
        over = [f"grid.{g}" for g in grid for part in g.split("+")
                if within(key, part)] + [f"set.{k}" for k in set_keys[i + 1:]
                                         if within(key, k)]
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


def flatten(table: Mapping[str, Any], prefix: str = "") -> tuple[dict[str, Any], list[str]]:
    """``table`` with every non-empty table value spread into dotted keys of its leaves
    (``{"a": {"b": 1}}`` -> ``{"a.b": 1}``, order kept), and the dotted keys that came out
    twice (``"a.b" = 1`` beside ``a = { b = 2 }``)."""
    flat: dict[str, Any] = {}
    twice: list[str] = []
    for key, value in table.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            inner, inner_twice = flatten(value, f"{dotted}.")
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


def within(a: str, b: str) -> bool:
    """Dotted path ``a`` names the field ``b`` or one inside it (setting ``b`` replaces it)."""
    return a == b or a.startswith(f"{b}.")


def _spaced(dotted: str) -> bool:
    """Some name of the dotted path ``dotted`` has spaces (or tabs) at either end."""
    return any(name != name.strip() for name in dotted.split("."))


def repeated(values: list[Any] | tuple[Any, ...]) -> Any:
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
