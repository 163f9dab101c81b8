"""Checked readers of the files a user gives: TOML, JSON and CSV tables.

Each reads one file and turns every way it can be wrong (missing, unreadable, not UTF-8,
malformed, nested too deeply, the wrong shape) into one :class:`~duplexsim.errors.ConfigError`
or :class:`~duplexsim.errors.InputError` naming the file (and line, byte, row or key):
:func:`read_toml`, :func:`read_json` (and :func:`json_number` for a key of one), and
:func:`read_csv` for the CSV tables an earlier run wrote (:func:`refuse_cell` for a bad cell
of one). They only read: building dataclasses from what they read is
:mod:`duplexsim.config.loader`'s (which re-exports them).
"""

from __future__ import annotations

import json
import math
import re
import tomllib
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from duplexsim.errors import (
    ConfigError,
    InputError,
    MissingInputError,
    Problem,
    finite_in,
    os_problem,
)

if TYPE_CHECKING:
    import pandas as pd


def read_toml(path: str | Path) -> dict[str, Any]:
    """Parse a TOML file; a missing, unreadable or malformed file is a :class:`ConfigError`
    naming the file (and the line, for syntax errors)."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except OSError as e:
        known = os_problem(e)
        message = "file not found" if isinstance(e, FileNotFoundError) else (
            known.message if known else f"cannot read ({e.strerror or e})")
        raise ConfigError([Problem(str(path), "", message,
                                   "a TOML file" if known is None else known.allowed)]) from None
    except UnicodeDecodeError as e:
        raise ConfigError([Problem(str(path), f"byte {e.start}", "not UTF-8 text",
                                   "a UTF-8 TOML file")]) from None
    except tomllib.TOMLDecodeError as e:
        if _starts_with_bom(path):  # invisible in editors: "Invalid statement at column 1"
            raise ConfigError([Problem(str(path), "byte 0", "starts with a byte-order mark "
                                       "(BOM), which the TOML reader refuses",
                                       "UTF-8 without a BOM (save as plain UTF-8)")]) from None
        found = re.search(r"\(at line (\d+), column (\d+)\)", str(e))
        where = f"line {found.group(1)}" if found else ""
        what = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(e)) or "syntax error"
        column = f" at column {found.group(2)}" if found else ""
        raise ConfigError([Problem(str(path), where, f"not valid TOML: {what}{column}",
                                   "TOML syntax, https://toml.io")]) from None
    except RecursionError:  # tomllib recurses per level: fails from ~330 inline tables, ~500 arrays
        raise ConfigError([Problem(str(path), "", "not valid TOML: nested too deeply", "arrays "
                                   "and inline tables nested at most a few hundred levels deep"
                                   )]) from None


def _starts_with_bom(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            return fh.read(3) == b"\xef\xbb\xbf"
    except OSError:
        return False

def read_json(path: str | Path, *, what: str = "JSON file",
              encoding: str = "utf-8") -> dict[str, Any]:
    """Parse a JSON file that must hold an object (``{...}``); a missing, unreadable or
    malformed one is a :class:`~duplexsim.errors.InputError` naming the file; ``what`` names
    the file a user should give there (``"agent.json"``, ``"channel map"``).
    ``encoding="utf-8-sig"`` also reads a file that starts with a byte-order mark (one a
    user's editor saved; the files duplexsim writes have none)."""
    path = Path(path)
    try:
        text = path.read_text(encoding=encoding)
    except FileNotFoundError:
        raise MissingInputError(str(path), "", f"{what} not found", "an existing file") from None
    except OSError as e:
        known = os_problem(e)
        raise InputError(str(path), "", known.message if known else f"cannot read ({e})",
                         known.allowed if known else f"a readable {what}") from None
    except UnicodeDecodeError as e:  # (JSON is UTF-8: RFC 8259)
        raise InputError(str(path), f"byte {e.start}", "not UTF-8 text",
                         f"a UTF-8 {what}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(str(path), f"line {e.lineno}", f"corrupt {what}: {e.msg}",
                         "valid JSON") from None
    except RecursionError:  # json recurses per level: fails from ~1000 arrays or objects
        raise InputError(str(path), "", f"corrupt {what}: nested too deeply",
                         "arrays and objects nested at most a few hundred levels deep") from None
    if not isinstance(data, dict):
        raise InputError(str(path), "", f"{what} holds a JSON {_json_kind(data)}",
                         "a JSON object {...}")
    return data


def read_csv(path: str | Path, *, what: str, columns: Sequence[str] = (),
             numbers: Sequence[str] = ()) -> pd.DataFrame:
    """A CSV table with a header, at least one row and every one of ``columns``; the
    ``numbers`` columns as floats (an empty cell is NaN; a word or an infinity is refused).

    Anything else is one :class:`~duplexsim.errors.InputError` naming the file (and the
    row, as its line number, and column of a bad cell); ``what`` names the table a user
    should give, e.g. ``"the summary.csv of a selfplay.py report"``."""
    import pandas as pd

    path = Path(path)
    try:
        table = pd.read_csv(path)
    except FileNotFoundError:
        raise MissingInputError(str(path), "", "file not found", what) from None
    except OSError as e:
        known = os_problem(e)
        raise InputError(str(path), "", known.message if known else f"cannot read ({e})",
                         known.allowed if known else what) from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise InputError(str(path), "", f"not a readable CSV ({str(e).splitlines()[0]})",
                         what) from None
    missing = [c for c in [*columns, *numbers] if c not in table.columns]
    if missing:
        raise InputError(str(path), "", f"no column {', '.join(dict.fromkeys(missing))}",
                         what)
    if table.empty:
        raise InputError(str(path), "", "no rows", what)
    for col in numbers:
        values = pd.to_numeric(table[col], errors="coerce")
        bad = ((values.isna() & table[col].notna()) | values.isin([math.inf, -math.inf]))
        if bad.any():
            refuse_cell(path, table, col, bad, "a finite number, or empty")
        table[col] = values.astype(float)
    return table


def refuse_cell(path: str | Path, table: pd.DataFrame, col: str, bad: pd.Series,
                allowed: str) -> typing.NoReturn:
    """Raise the :class:`~duplexsim.errors.InputError` of the first ``bad`` cell of ``col``
    in a table :func:`read_csv` read from ``path``, naming the line its row starts on (or,
    where the file cannot be read again to match the table, its data row)."""
    row = int(bad.to_numpy().nonzero()[0][0])
    value = table[col].iloc[row]
    value = value.item() if hasattr(value, "item") else value
    line = _data_row_lines(path, len(table))
    where = f"line {line[row]}" if line else f"data row {row + 1}"
    raise InputError(str(path), f"{where}: {col}", repr(value), allowed)


def _data_row_lines(path: str | Path, rows: int) -> list[int] | None:
    """The line of ``path`` each data row of its CSV table starts on, as pandas reads the
    table (blank and whitespace-only lines skipped, a quoted cell may span lines); None
    when the file does not read back to ``rows`` data rows. ("row + 2" was the line only
    without blank lines and multi-line cells.)"""
    import csv

    starts: list[int] = []
    try:
        with Path(path).open(encoding="utf-8-sig", newline="") as fh:
            reader = csv.reader(fh)
            before = 0
            for record in reader:
                if record and not (len(record) == 1 and not record[0].strip()):
                    starts.append(before + 1)
                before = reader.line_num
    except (OSError, UnicodeDecodeError, csv.Error):
        return None
    return starts[1:] if len(starts) == rows + 1 else None  # (the first: the header)


def _json_kind(value: Any) -> str:
    return {list: "list", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), "number")


def json_number(data: Mapping[str, Any], file: str, key: str, low: float, high: float, *,
                integer: bool = False) -> Any:
    """``data[key]``, which must be a finite number (an integer with ``integer``) in
    ``[low, high]``; otherwise an :class:`~duplexsim.errors.InputError` naming file and key."""
    kind = "an integer" if integer else "a number"
    allowed = (f"{kind} from {int(low)} to {int(high)}" if integer
               else f"{kind} from {low:g} to {high:g}")
    if key not in data:
        raise InputError(file, key, "missing required key", allowed)
    value = data[key]
    if integer and (isinstance(value, bool) or not isinstance(value, int)):
        raise InputError(file, key, f"{value!r} is not an integer", allowed)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError(file, key, f"{value!r} is not a number", allowed)
    if not finite_in(value, low, high):
        raise InputError(file, key, f"{value!r} is out of range", allowed)
    return value
