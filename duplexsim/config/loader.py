"""Build frozen dataclasses from TOML dicts, collecting *every* problem.

A problem is reported as ``file: key: what is wrong (allowed: ...)``
(:class:`duplexsim.errors.Problem`, raised together as a :class:`duplexsim.errors.ConfigError`;
both are re-exported here). Unknown keys are errors. Each dataclass validates its own
values in ``__post_init__`` by raising :class:`FieldError` (one field) or ``ValueError``
(the message is attributed to the table); the loader catches them per table so that
problems in sibling tables are all reported. :func:`load_toml` reads a TOML file into a
dataclass. Re-exported here, living elsewhere: the field-error vocabulary
(:class:`FieldError`, :class:`FieldErrors`, :func:`check`, :func:`raise_errors`,
:func:`reading`) in :mod:`duplexsim.config.field_errors`; the checked readers of TOML, JSON
and CSV files (:func:`read_toml`, :func:`read_json`, :func:`json_number`, :func:`read_csv`,
:func:`refuse_cell`) in :mod:`duplexsim.config.readers`; :func:`plain_fields` and
:func:`check_field_types` in :mod:`duplexsim.config.field_values`.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from duplexsim.config.field_errors import FieldError, FieldErrors, check, raise_errors, reading
from duplexsim.config.readers import json_number, read_csv, read_json, read_toml, refuse_cell
from duplexsim.errors import ConfigError, Problem

if TYPE_CHECKING:  # at run time from __getattr__: field_values imports this module
    from duplexsim.config.field_values import check_field_types, plain_fields

# the readers moved to readers.py (they read files; this module builds dataclasses), the
# field value helpers to field_values.py, the field errors to field_errors.py: the names
# scripts import from here stay importable
__all__ = ["ConfigError", "FieldError", "FieldErrors", "Problem", "check",
           "check_field_types", "convert", "from_dict", "json_number", "load_toml",
           "plain_fields", "raise_errors", "read_csv", "read_json", "read_toml", "reading",
           "refuse_cell", "wrong_type"]


def __getattr__(name: str) -> Any:
    if name in ("check_field_types", "plain_fields"):  # on first use: see TYPE_CHECKING
        from duplexsim.config import field_values

        return getattr(field_values, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


T = TypeVar("T")


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    if origin is typing.Literal:
        return " | ".join(repr(a) for a in typing.get_args(tp))
    if origin in (list, tuple):
        return f"list of {_type_name(typing.get_args(tp)[0])}" if typing.get_args(tp) else "list"
    if origin is dict:
        return "table"
    if tp is type(None):
        return "none"
    if dataclasses.is_dataclass(tp):
        return "table"
    return getattr(tp, "__name__", str(tp))


# field type -> the TOML value it takes as it is, and what a wrong type is told is allowed
_PLAIN_TYPES: dict[Any, tuple[type, str]] = {
    int: (int, "integer"), bool: (bool, "true or false"), str: (str, "string"),
    Path: (str, "path string")}


def convert(tp: Any, value: Any, file: str, key: str, problems: list[Problem],
            origins: dict[str, str]) -> Any:
    """Convert ``value`` to ``tp``; on failure append a Problem and return a sentinel.
    ``origins``: each key an expansion set -> the key that set it (dotted, from the root;
    :func:`_expand`), filled in as tables are built."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        return _convert_union(tp, value, file, key, problems, origins)
    if origin is typing.Literal:
        allowed = typing.get_args(tp)
        if value in allowed:
            return value
        allowed_text = ", ".join(map(str, allowed))
        problems.append(Problem(file, key, f"unknown value {value!r}", allowed_text))
        return _INVALID
    if origin in (list, tuple):
        if not isinstance(value, list | tuple):
            problems.append(wrong_type(file, key, value, _type_name(tp)))
            return _INVALID
        (item_tp, *_rest) = typing.get_args(tp) or (Any,)
        items = [convert(item_tp, v, file, f"{key}[{i}]", problems, origins)
                 for i, v in enumerate(value)]
        return tuple(items)
    if origin is dict:
        if not isinstance(value, Mapping):
            problems.append(wrong_type(file, key, value, "table"))
            return _INVALID
        _, val_tp = typing.get_args(tp) or (str, Any)
        return {k: convert(val_tp, v, file, _join(key, k), problems, origins)
                for k, v in value.items()}
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if not isinstance(value, Mapping):
            problems.append(wrong_type(file, key, value, "table"))
            return _INVALID
        return _build(tp, value, file, key, problems, origins)
    return _convert_scalar(tp, value, file, key, problems)


def _convert_union(tp: Any, value: Any, file: str, key: str, problems: list[Problem],
                   origins: dict[str, str]) -> Any:
    """:func:`convert` for a union: None where it allows None, else its first member
    ``value`` converts to without a problem."""
    args = typing.get_args(tp)
    if value is None and type(None) in args:
        return None
    non_none = [a for a in args if a is not type(None)]
    if len(non_none) == 1:  # `X | None`: report X's own problems (e.g. inside a table)
        return convert(non_none[0], value, file, key, problems, origins)
    for arg in args:
        if arg is type(None):
            continue
        sub: list[Problem] = []
        out = convert(arg, value, file, key, sub, origins)
        if not sub:
            return out
    problems.append(wrong_type(file, key, value, _type_name(tp)))
    return _INVALID


def _convert_scalar(tp: Any, value: Any, file: str, key: str, problems: list[Problem]) -> Any:
    """:func:`convert` for a float, int, bool, str or Path field (anything else: ``value``
    as it is)."""
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            problems.append(wrong_type(file, key, value, "number"))
            return _INVALID
        try:
            return float(value)
        except OverflowError:  # tomllib reads integers of any length; a float holds < 1.8e308
            problems.append(Problem(file, key, f"integer of {len(str(abs(value)))} digits is "
                                    "too large for a number", "a number below 1.8e308"))
            return _INVALID
    if tp in _PLAIN_TYPES:
        toml_type, wanted = _PLAIN_TYPES[tp]
        # Python's bool is an int, TOML's true is not an integer
        if not isinstance(value, toml_type) or (isinstance(value, bool) and tp is not bool):
            problems.append(wrong_type(file, key, value, wanted))
            return _INVALID
        return Path(typing.cast(str, value)) if tp is Path else value
    return value


class _Invalid:
    def __repr__(self) -> str:
        return "<invalid>"


_INVALID = _Invalid()


# what TOML (and JSON) call the types a value can have: "wrong type str" was Python's word
_TOML_TYPES = {bool: "boolean", int: "integer", float: "float", str: "string", list: "array",
               tuple: "array", dict: "table", type(None): "null"}


def wrong_type(file: str, key: str, value: Any, allowed: str) -> Problem:
    """The one "wrong type" problem: the value's type in TOML's words (string, integer,
    float, boolean, array, table, datetime), then what is allowed."""
    kind = _TOML_TYPES.get(type(value)) or ("datetime" if hasattr(value, "isoformat")
                                            else type(value).__name__)
    return Problem(file, key, f"wrong type {kind}", allowed)


def _build(
    cls: type[T], data: Mapping[str, Any], file: str, prefix: str, problems: list[Problem],
    origins: dict[str, str],
) -> Any:
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    kwargs: dict[str, Any] = {}
    absent: list[str] = []
    data, bad, origin = _expand(cls, data, file, prefix, problems)
    origins.update({_join(prefix, k): _join(prefix, v) for k, v in origin.items()})
    for key, value in data.items():
        if key not in fields:
            allowed_keys = ", ".join(sorted([*fields, *getattr(cls, "TOML_EXPANDS", {})]))
            problems.append(Problem(file, _join(prefix, key), "unknown key", allowed_keys))
            bad = True
            continue
        before = len(problems)
        converted = convert(hints[key], value, file, _join(prefix, key), problems, origins)
        if len(problems) > before or converted is _INVALID:
            bad = True
        else:
            kwargs[key] = converted
    for name, f in fields.items():
        if (
            name not in data
            and f.default is dataclasses.MISSING
            and f.default_factory is dataclasses.MISSING  # type: ignore[misc]
        ):
            problems.append(Problem(file, _join(prefix, name), "missing required key"))
            absent.append(name)
            bad = True
    if bad:
        _probe_valid_fields(cls, kwargs, set(data), absent, file, prefix, problems)
        return _INVALID
    try:
        return cls(**kwargs)
    except FieldError as e:
        problems.append(Problem(file, _join(prefix, e.field), e.message, e.allowed))
    except FieldErrors as e:
        problems.extend(
            Problem(file, _join(prefix, x.field), x.message, x.allowed) for x in e.errors
        )
    except ConfigError as e:
        problems.extend(e.problems)
    except (ValueError, TypeError) as e:
        problems.append(Problem(file, prefix, str(e)))
    return _INVALID


def _expand(cls: type, data: Mapping[str, Any], file: str, prefix: str,
            problems: list[Problem]) -> tuple[Mapping[str, Any], bool, dict[str, str]]:
    """``data`` with each key of ``cls.TOML_EXPANDS`` (a string, e.g. a link's ``netem``)
    replaced by the keys its function returns; whether a problem was found. A string that
    does not parse, or one whose keys the table also gives (which would win?), is one
    problem on that key. Also each key it set -> the key that set it."""
    expands: Mapping[str, Callable[[str], dict[str, Any]]] = getattr(cls, "TOML_EXPANDS", {})
    given = [key for key in expands if key in data]
    if not given:
        return data, False, {}
    out = {k: v for k, v in data.items() if k not in expands}
    bad = False
    origin: dict[str, str] = {}
    for key in given:
        where = _join(prefix, key)
        if not isinstance(data[key], str):
            problems.append(wrong_type(file, where, data[key], "string"))
            bad = True
            continue
        try:
            keys = expands[key](data[key])
        except FieldError as e:
            problems.append(Problem(file, where, e.message, e.allowed))
            bad = True
            continue
        both = sorted(set(keys) & set(out))
        if both:
            problems.append(Problem(file, where, f"sets {', '.join(both)}, which the table "
                                    "gives too: ambiguous", f"{key} or those keys, not both"))
            bad = True
            continue
        out.update(keys)
        origin.update(dict.fromkeys(keys, key))
    return out, bad, origin


def _blame_expansions(problems: list[Problem], origins: dict[str, str]) -> list[Problem]:
    """``problems`` with those that name a key an expansion set (``origins``, dotted from
    the root) naming the key the file holds instead, and the value it gave: ``netem =
    "delay 1000s"`` was ``network.a_to_b.delay_ms: 1000000.0 is ... too large``, a key not
    in the file; so was a check of the enclosing table (the network's ge_p / ge_r pairing
    on ``loss gemodel 1% 0%``: ``network.a_to_b.ge_r``)."""
    return [Problem(p.file, origins[p.key], f"gives {p.key.rsplit('.', 1)[-1]}: {p.message}",
                    p.allowed) if p.key in origins else p for p in problems]


def _probe_valid_fields(
    cls: type[T], kwargs: dict[str, Any], given: set[str], absent: list[str], file: str,
    prefix: str, problems: list[Problem],
) -> None:
    """Some fields were invalid: validate the others too (bad ones back at their defaults).

    So that a file with a bad ``[network]`` table *and* ``chunk_ms = 150`` reports both.
    Only problems blamed on a field that was given and valid (or left out, its check naming
    what else it read) are kept, and of those only the ones whose check did not read an
    invalid field at its default (``FieldError.depends``: ``chunk_ms = "200"`` with
    ``duration_s = 0.1`` was also "duration_s: shorter than one chunk" of the default 160 ms).

    A required key the file left out (``absent``, already "missing required key") has no
    default: the probe gives it a stand-in (:func:`_stand_in`) so that the fields given
    are still checked (a sweep without ``base`` and with ``workers = 99999`` named only
    ``base``). The stand-in is not the file's: a check blamed on that key, or one naming it
    in ``depends`` (a check across fields that needs it), is not reported; a key with no
    stand-in leaves the probe out.
    """
    stand_ins = {name: _stand_in(typing.get_type_hints(cls)[name]) for name in absent}
    if any(value is _INVALID for value in stand_ins.values()):
        return
    valid = set(kwargs)
    invalid = (given - valid) | set(absent)
    errors: list[FieldError] = []

    def kept(x: FieldError) -> bool:
        head = re.split(r"[.\[]", x.field, maxsplit=1)[0]
        if set(x.depends) & invalid or head in absent:
            return False
        if x.field in valid:
            return x.field in given
        if head == x.field and head not in given:
            # a key the file left out, at its default (a.agent of kind = "syncllm"): what
            # the file would be told once the invalid field is fixed, when its check names
            # the other fields it read in ``depends``
            return bool(x.depends)
        # a check blamed on a key inside a valid table (network.a_to_b.loss, found beside a
        # bad network.topology) is kept when it names every field it read in ``depends``
        return head in valid and head in given and head in x.depends

    try:
        cls(**kwargs, **stand_ins)
    except FieldError as e:
        errors = [e]
    except FieldErrors as e:
        errors = e.errors
    except (ValueError, TypeError):
        return
    problems.extend(
        Problem(file, _join(prefix, x.field), x.message, x.allowed)
        for x in errors
        if kept(x)
    )


def _stand_in(tp: Any) -> Any:
    """A value of field type ``tp`` that a file could give, the first of ``""``, ``0``,
    ``0.0``, ``false``, ``[]``, ``{}`` (a table: its defaults) or a literal's first value
    that converts (so a ``__post_init__`` must take it without a traceback), for
    :func:`_probe_valid_fields` to check a table without a required key; ``_INVALID``: none
    does."""
    literal = typing.get_args(tp) if typing.get_origin(tp) is typing.Literal else ()
    for value in ("", 0, 0.0, False, [], {}, *literal):
        scratch: list[Problem] = []
        out = convert(tp, value, "", "", scratch, {})
        if not scratch and out is not _INVALID:
            return out
    return _INVALID


def from_dict(
    cls: type[T], data: Mapping[str, Any], *, file: str = "<dict>", prefix: str = ""
) -> T:
    """Build dataclass ``cls`` from ``data``; raise :class:`ConfigError` listing every problem."""
    problems: list[Problem] = []
    origins: dict[str, str] = {}
    out = _build(cls, data, file, prefix, problems, origins)
    if problems or out is _INVALID:
        raise ConfigError(_blame_expansions(problems, origins)
                          or [Problem(file, prefix, "invalid")])
    return out


def load_toml(path: str | Path, cls: type[T]) -> T:
    """Read a TOML file into ``cls``; syntax errors and schema problems are ConfigErrors.
    A file with no keys at all (empty, or only comments) is refused: every key has a
    default, so it would run as the defaults, and such a file is a failed copy or save."""
    data = read_toml(path)
    if not data:
        raise ConfigError([Problem(str(path), "", "no settings in it (an empty file, or only "
                                   "comments)", "a TOML file with at least one key, e.g. "
                                   'name = "..."')])
    return from_dict(cls, data, file=str(path))
