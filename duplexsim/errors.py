"""The project's own errors: input a user can fix, each problem one line.

A :class:`Problem` prints as ``file: key or position: what is wrong (allowed: ...)``.
:class:`DuplexsimError` carries one or more of them; its subclasses say what the input was:

- :class:`ConfigError`: scenario, agent-card, sweep and other TOML/JSON settings;
- :class:`InputError`: data a command reads (corpora, unit arrays, agent and tokenizer
  folders, checkpoints, trace files) and command-line values;
  :class:`MissingInputError` when it is not there (also a ``FileNotFoundError``);
- :class:`OutputError`: an output folder that cannot be written, or whose contents would
  mislead (a corpus rebuilt with other parameters).

Every one is a ``ValueError``, so library callers that catch ``ValueError`` keep working.
``duplexsim.cli.main`` prints the problems and exits 2; expected operating-system errors
(missing, is-a-directory, not-a-directory, permission, read-only, no space) become one line
through :func:`os_problem`. Anything else is a bug and keeps its traceback.
Must not import anything heavy: ``duplexsim validate`` imports this.
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
import re
import sys
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from numbers import Real
from typing import Any, TextIO, TypeGuard, overload


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input (a file, a key in it, a command-line flag)."""

    file: str
    key: str
    message: str
    allowed: str | None = None

    def __str__(self) -> str:
        allowed = f" (allowed: {self.allowed})" if self.allowed else ""
        return ": ".join([p for p in (self.file, self.key, self.message + allowed) if p])


class DuplexsimError(ValueError):
    """Input a user can fix: one or more :class:`Problem`.

    ``DuplexsimError([problem, ...])``, ``DuplexsimError(problem)``,
    ``DuplexsimError(file, key, message, allowed=None)``, or ``DuplexsimError(line)`` with a
    line already in the ``file: key: what is wrong (allowed: ...)`` form.
    """

    def __init__(self, first: Iterable[Problem] | Problem | str, key: str = "",
                 message: str = "", allowed: str | None = None):
        if isinstance(first, Problem):
            problems = [first]
        elif isinstance(first, str):
            problems = [Problem(first, key, message, allowed)]
        else:
            problems = list(first)
        self.problems: list[Problem] = problems or [Problem("<input>", "", "invalid")]
        super().__init__("\n".join(str(p) for p in self.problems))

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.problems)

    def __reduce__(self) -> tuple[Any, ...]:  # pickles across process pools
        return (type(self), (self.problems,))


class ConfigError(DuplexsimError):
    """Settings files and tables: scenario, agent card, sweep, synthetic-corpus parameters."""


class InputError(DuplexsimError):
    """Data or values a command reads: corpora, units, agents, tokenizers, flags."""


class MissingInputError(InputError, FileNotFoundError):
    """An input that is not there (also a ``FileNotFoundError``)."""

    def __init__(self, first: Iterable[Problem] | Problem | str, key: str = "",
                 message: str = "", allowed: str | None = None):
        InputError.__init__(self, first, key, message, allowed)

    def __str__(self) -> str:
        return InputError.__str__(self)


class OutputError(DuplexsimError):
    """An output folder that cannot be written, or would be left misleading."""


def with_note(error: DuplexsimError, note: str) -> DuplexsimError:
    """The same error (its family: missing input, input, output or config) with ``note``
    appended to every problem's message, e.g. which scenario side named the file."""
    family = next(c for c in (MissingInputError, InputError, OutputError, ConfigError,
                              DuplexsimError) if isinstance(error, c))
    return family([Problem(p.file, p.key, f"{p.message} ({note})", p.allowed)
                   for p in error.problems])


# errno -> (what is wrong, allowed); the operating-system errors a user causes and can fix
_OS_PROBLEMS: dict[int, tuple[str, str]] = {
    errno.ENOENT: ("not found", "an existing path"),
    errno.EISDIR: ("is a folder, not a file", "a file path"),
    errno.ENOTDIR: ("a part of the path is a file, not a folder", "a path through folders"),
    errno.EACCES: ("permission denied", "a path you may read and write"),
    errno.EPERM: ("operation not permitted", "a path you may read and write"),
    errno.EROFS: ("read-only file system", "a folder on a writable file system"),
    errno.ENOSPC: ("no space left on the device", "free some space or write elsewhere"),
    errno.EDQUOT: ("disk quota exceeded", "free some space or write elsewhere"),
    errno.EFBIG: ("file too large for this system or its limits",
                  "a smaller output or a file system that takes it"),
    errno.ENAMETOOLONG: ("file name too long", "a shorter path"),
    errno.EEXIST: ("already exists", "a path that does not exist yet"),
    errno.ENOTEMPTY: ("folder is not empty", "an empty folder"),
    errno.ELOOP: ("too many levels of symbolic links", "a path without a link loop"),
}


def os_problem(error: OSError) -> Problem | None:
    """The one-line :class:`Problem` of an expected OS error; None for anything else."""
    known = _OS_PROBLEMS.get(error.errno or -1)
    if known is None:
        return None
    message, allowed = known
    file = error.filename if error.filename is not None else "<file>"
    return Problem(str(file), "", message, allowed)


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def warning_printer(prefix: str) -> Callable[..., None]:
    """A ``warnings.showwarning`` for an entry point: duplexsim's own warnings (what a run
    tells its user, e.g. a replayed dialogue shorter than the scenario) as one line on
    stderr, ``PREFIX: warning: MESSAGE``, not Python's two lines with a source file path
    and a line of our code; a library's warnings keep Python's format (their source helps a
    bug report). Warnings not shown by the filters stay unshown."""
    shown_as_python = warnings.showwarning

    def show(message: Warning | str, category: type[Warning], filename: str, lineno: int,
             file: TextIO | None = None, line: str | None = None) -> None:
        if not os.path.abspath(filename).startswith(_PACKAGE_DIR):
            shown_as_python(message, category, filename, lineno, file, line)
            return
        stream = sys.stderr if file is None else file
        with contextlib.suppress(OSError):  # (a closed stderr: Python's printer drops it too)
            stream.write(f"{prefix}: warning: {message}\n")

    return show


def write_failure(error: BaseException, path: str | os.PathLike[str],
                  temporary: str | os.PathLike[str] | None = None) -> OutputError | None:
    """``error``, raised while writing ``path`` (through ``temporary``), as one line when it
    is the file system's doing; None when it is not (a bug, or a failure to read another
    file, which names its own). Libraries hide OS errors in their own types: libsndfile
    ("System error."), torch.save (``RuntimeError`` from its stream writer), safetensors
    ("I/O error"); a NumPy short write is an ``OSError`` without errno."""
    allowed = "free space on the device, or another folder"
    if isinstance(error, OSError):
        ours = {os.fspath(path), os.fspath(temporary if temporary is not None else path)}
        if error.filename is not None and os.fspath(error.filename) not in ours:
            return None  # about another file (e.g. a copy's source): it names itself
        known = os_problem(error)
        if known is not None:
            return OutputError(str(path), "", known.message, known.allowed)
        return OutputError(str(path), "", f"writing failed ({error})", allowed)
    text = str(error)
    library = {"LibsndfileError": "libsndfile", "SafetensorError": "safetensors"}.get(
        type(error).__name__)
    if library == "safetensors" and "I/O error" not in text:
        library = None
    if isinstance(error, RuntimeError) and ("PytorchStreamWriter" in text
                                            or "inline_container" in text):
        library = "torch.save"
    if library is None:
        return None
    return OutputError(str(path), "", f"writing failed ({library}: {text.strip()})", allowed)


def finite_in(value: float, low: float, high: float, *, low_open: bool = False) -> bool:
    """True if ``value`` is a finite number in ``[low, high]`` (``(low, high]`` if low_open)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    if isinstance(value, float) and not math.isfinite(value):  # (an int is finite, and one
        return False  # past a float's range has no float: math.isfinite would overflow)
    return (value > low if low_open else value >= low) and value <= high


@overload
def finite_number(value: float | None) -> TypeGuard[float]: ...
@overload
def finite_number(value: object) -> bool: ...
def finite_number(value: object) -> bool:
    """True if ``value`` is a real number (NumPy's too) that is finite as a float: not a bool,
    a string, NaN, an infinity or an integer past a float's range (which ``math.isfinite``
    raised on: ``10**400`` as a threshold was an ``OverflowError`` traceback).
    A type guard for a value typed ``float | None`` (e.g. :func:`plain_number`'s): where it
    is True, type checkers know it is a float, not None. (Not ``TypeGuard[Real]`` for any
    value: ``numbers.Real`` is too weak a static type for the callers' ``x > 0``.)"""
    if isinstance(value, bool) or not isinstance(value, Real):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


_PLAIN_INTEGER = re.compile(r"-?[0-9]+")
_PLAIN_NUMBER = re.compile(r"-?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?"
                           r"|-?(?:nan|inf|infinity)", re.IGNORECASE)


def plain_number(text: str, *, integer: bool = False) -> int | float | None:
    """``text`` as written on a command line or in an environment variable: a plain decimal
    integer (``integer``: ASCII digits, an optional leading ``-``) or number (also ``1.5``,
    ``.5``, ``1e3``, ``nan``, ``inf``: a range check names those); None for anything else.
    Python's ``int`` and ``float`` also take ``1_0`` (10), surrounding blanks, ``+1`` and
    other scripts' digits (``int("\u0661")`` is 1), none of which a user means as a count."""
    pattern = _PLAIN_INTEGER if integer else _PLAIN_NUMBER
    if pattern.fullmatch(text) is None:
        return None
    try:
        return int(text) if integer else float(text)
    except ValueError:  # more digits than int() converts (sys.int_info's limit)
        return None


MAX_DURATION_S = 24 * 3600.0
"""Longest simulated conversation or continuation a command accepts (a day of audio):
past it a typo (``duration_s = 6000000``) would run for days or fill the disk."""
MAX_CORPUS_HOURS = 10_000.0
"""Largest synthetic corpus (audio hours): Fisher is about 2000 h."""

__all__ = [
    "MAX_CORPUS_HOURS", "MAX_DURATION_S", "ConfigError", "DuplexsimError", "InputError",
    "MissingInputError", "OutputError", "Problem", "finite_in", "finite_number", "os_problem",
    "plain_number", "with_note", "write_failure",
]
