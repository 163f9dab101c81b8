"""A config dataclass's field values as a file gives them, for its ``__post_init__``.

:func:`plain_fields` turns what a script may pass (NumPy scalars, path objects, a list for a
tuple) into the plain values a TOML file gives; :func:`check_field_types` then refuses a value
of the wrong type as :func:`duplexsim.config.loader.from_dict` refuses it in a file (it uses
the loader's own conversion). Both moved here from :mod:`duplexsim.config.loader`, which
still re-exports them.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import types
import typing
from pathlib import Path
from typing import Any

import numpy as np

from duplexsim.config.field_errors import FieldError, raise_errors
from duplexsim.config.loader import convert
from duplexsim.errors import Problem

__all__ = ["check_field_types", "plain_fields"]


def plain_fields(obj: Any) -> None:
    """Replace NumPy scalars in the fields of the frozen dataclass ``obj`` (also inside
    tuples, lists and dicts) by the Python scalars they hold, and a path object
    (``pathlib.Path``) by its string, before ``__post_init__`` checks them (a file gives
    strings for paths; ``SideConfig(corpus=Path(...))`` is what a script writes):
    a scenario built from ``np.arange`` or ``np.linspace`` values then checks, prints, hashes
    and writes as the same scenario written with plain numbers (``np.float64(40.0)`` went
    into ``scenario.toml`` as itself, which no TOML reader reads, and ``np.int64`` failed the
    write after the whole simulation had run). A list in a field typed as a tuple becomes
    the tuple a file's array gives (a list left the frozen dataclass unhashable:
    ``TrainCard(chunk_ms=[160, 200])``, ``SynthConfig(pitch=[25, 75])``)."""
    for field in dataclasses.fields(obj):
        value = getattr(obj, field.name)
        plain = _plain(value)
        if isinstance(plain, list) and str(field.type).startswith("tuple["):
            plain = tuple(plain)
        if plain is not value:
            object.__setattr__(obj, field.name, plain)


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    nested = np.generic | tuple | list | dict
    if isinstance(value, tuple | list) and any(isinstance(v, nested) for v in value):
        return type(value)(_plain(v) for v in value)
    if isinstance(value, dict) and any(isinstance(v, nested) for v in value.values()):
        return {k: _plain(v) for k, v in value.items()}
    return value


def check_field_types(obj: Any) -> None:
    """Raise the :class:`FieldError` (:class:`FieldErrors`: several) of each field of the
    frozen dataclass ``obj`` whose value is not of its type, as :func:`from_dict` refuses it
    in a file (an integer field takes no ``1.5`` and no ``True``, a literal only its
    values): for ``__post_init__`` after :func:`plain_fields`, so that a dataclass built in
    Python takes what a file may give, and its range checks never meet ``None`` or ``"160"``
    (an ``AttributeError`` or ``TypeError`` with a traceback). It only checks: an ``int``
    given for a float field stays as it is. A field typed as a dataclass (or as one or None)
    takes an instance of it, one typed as a tuple of dataclasses (a topology's ``edges``) a
    tuple or list of instances."""
    errors: list[FieldError] = []
    for name, field in _field_types(obj.__class__).items():
        value = getattr(obj, name)
        if type(value) in field.exact:
            continue
        if field.tables:
            errors += _table_errors(name, value, field)
            continue
        problems: list[Problem] = []
        convert(field.tp, value, "", name, problems, {})
        errors += [FieldError(p.key, p.message, p.allowed) for p in problems]
    raise_errors(errors)


class _FieldType(typing.NamedTuple):
    tp: Any
    tables: tuple[type, ...]
    """The dataclasses it is (or is one of, or holds a tuple of)."""
    optional: bool
    many: bool
    """A tuple (or list) of ``tables``: the ``[[name]]`` tables of a file."""
    exact: frozenset[type]
    """Types of value it takes as they are, without :func:`convert`: a float field's
    ``float`` (an ``int`` may be too large for one), an integer field's ``int`` (not a
    ``bool``), ``str``, ``bool``, ``None`` where allowed. Only to be quick: a link is built
    each time a path is resolved, and each field through :func:`convert` tripled that."""


# a scalar field type -> the type of value it takes as it is (:attr:`_FieldType.exact`)
_EXACT: dict[Any, type] = {float: float, int: int, str: str, bool: bool, Path: str,
                           type(None): type(None)}


@functools.cache
def _field_types(cls: type) -> dict[str, _FieldType]:
    """Each field of dataclass ``cls`` -> its type (annotations evaluated once a class)."""
    hints = typing.get_type_hints(cls)
    out = {}
    for field in dataclasses.fields(cls):
        tp = hints[field.name]
        origin, args = typing.get_origin(tp), typing.get_args(tp)
        many = origin in (list, tuple) and bool(args) and dataclasses.is_dataclass(args[0])
        members = args if origin in (typing.Union, types.UnionType) else \
            args[:1] if many else (tp,)
        tables = tuple(m for m in members if isinstance(m, type) and dataclasses.is_dataclass(m))
        exact = frozenset(_EXACT[m] for m in members if m in _EXACT)
        out[field.name] = _FieldType(tp, tables, type(None) in members, many, exact)
    return out


def _table_errors(name: str, value: Any, field: _FieldType) -> list[FieldError]:
    """:func:`check_field_types` of a field typed as dataclasses: instances, not dicts."""
    names = " or ".join(t.__name__ for t in field.tables)
    if field.many and isinstance(value, list | tuple):
        return [FieldError(f"{name}[{i}]", f"got {type(item).__name__}",
                           f"{names} (a [[{name}]] table)")
                for i, item in enumerate(value) if not isinstance(item, field.tables)]
    if field.many:
        return [FieldError(name, f"got {type(value).__name__}",
                           f"a tuple of {names} (the [[{name}]] tables)")]
    if isinstance(value, field.tables) or (value is None and field.optional):
        return []
    return [FieldError(name, f"got {type(value).__name__}", f"{names} (the [{name}] table)"
                       + (" or None" if field.optional else ""))]
