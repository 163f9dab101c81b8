"""The field-error vocabulary of a config dataclass's ``__post_init__``.

:class:`FieldError` blames one field (:class:`FieldErrors` several), :func:`check` raises one
unless a condition holds, :func:`raise_errors` raises the ones a check collected and
:func:`reading` says which other fields a check read. :func:`duplexsim.config.loader.from_dict`
catches them per table and adds the file and the table. They moved here from
:mod:`duplexsim.config.loader`, which still re-exports them.
"""

from __future__ import annotations

from typing import Any

from duplexsim.errors import ConfigError, Problem

__all__ = ["FieldError", "FieldErrors", "check", "raise_errors", "reading"]


class FieldError(ConfigError):
    """Raised from ``__post_init__`` to blame one field (the loader adds file and table).

    Example: ``FieldError("delay_ms", "must be >= 0", ">= 0")``. ``depends`` names the
    other fields of the table the check read (``duration_s`` against ``chunk_ms``): when
    one of them was given but invalid, the check ran on its default and is not reported;
    when it is a required key the file left out, on a stand-in, and is not reported either.
    A check blamed on a key inside a table (``network.a_to_b.loss``, ``grid.x``) is kept
    beside another invalid field only when ``depends`` names every field it read, that
    table included (:func:`reading`); without it, it is dropped there. So is a check
    blamed on a key the file left out (``a.agent`` of ``kind = "syncllm"``, at its
    default): kept only when ``depends`` names the other fields it read (``kind``).
    """

    def __init__(self, field: str, message: str, allowed: str | None = None,
                 depends: tuple[str, ...] = ()):
        self.field = field
        self.message = message
        self.allowed = allowed
        self.depends = tuple(depends)
        super().__init__([Problem("", field, message, allowed)])

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.field, self.message, self.allowed, self.depends))


class FieldErrors(ConfigError):
    """Raised from ``__post_init__`` to blame several fields at once (all are reported)."""

    def __init__(self, errors: list[FieldError]):
        self.errors = list(errors)
        super().__init__([p for e in self.errors for p in e.problems])

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.errors,))


def raise_errors(errors: list[FieldError]) -> None:
    """Raise the collected ``errors`` (none: return): one -> FieldError, more -> FieldErrors."""
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise FieldErrors(errors)


def reading(errors: list[FieldError], *fields: str) -> list[FieldError]:
    """``errors`` declaring that their check read ``fields`` of the table (added to the
    ``depends`` each has): how a check blamed on a nested key (``a.slice_ms``) says it is
    still true beside another table's mistake, which the loader's probe checks it beside."""
    return [FieldError(e.field, e.message, e.allowed, tuple(dict.fromkeys((*e.depends, *fields))))
            for e in errors]


def check(condition: bool, field: str, message: str, allowed: str | None = None) -> None:
    """Raise :class:`FieldError` unless ``condition`` holds (for ``__post_init__``)."""
    if not condition:
        raise FieldError(field, message, allowed)
