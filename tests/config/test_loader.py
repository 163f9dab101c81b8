"""The checked CSV reader: a table an earlier run wrote, or one line naming what is wrong."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from duplexsim.config.loader import read_csv, refuse_cell
from duplexsim.errors import InputError, MissingInputError

WHAT = "the table.csv of a run"


def _write(tmp_path: Path, text: str | bytes) -> Path:
    path = tmp_path / "table.csv"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def test_reads_a_whole_table_with_numbers_and_empty_cells(tmp_path: Path) -> None:
    path = _write(tmp_path, "name,x,y\na,1,0.5\nb,,2e3\n")
    table = read_csv(path, what=WHAT, columns=("name",), numbers=("x", "y"))
    assert table["name"].tolist() == ["a", "b"]
    assert table["x"].dtype == float and np.isnan(table["x"].iloc[1])
    assert table["y"].tolist() == [0.5, 2000.0]


@pytest.mark.parametrize(("text", "expected"), [
    (b"", "not a readable CSV"),
    (b"name,x\n\xe9t\xe9,1\n", "not a readable CSV"),
    ("name,x\n", "no rows"),
    ("name\na\n", "no column x"),
    ("x\n1\n", "no column name"),
    ("name,x\na,1\nb,many\n", "line 3: x: 'many' (allowed: a finite number, or empty)"),
    ("name,x\na,inf\n", "line 2: x: "),
    # the line in the file: pandas skips blank lines and reads a quoted cell over lines as
    # one row ("row + 2" said line 3 of both: the first row's line, not the bad one's)
    ("name,x\na,1\n\n  \nb,many\n", "line 5: x: 'many'"),
    ('name,x\n"a\nb",1\r\n\r\nc,many\r\n', "line 5: x: 'many'"),
])
def test_refuses_what_is_not_that_table(tmp_path: Path, text: str | bytes,
                                        expected: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(InputError) as err:
        read_csv(path, what=WHAT, columns=("name",), numbers=("x",))
    message = str(err.value)
    assert expected in message and message.startswith(str(path)) and "\n" not in message
    assert not isinstance(err.value, MissingInputError)


def test_a_row_the_file_does_not_read_back_to_is_named_by_its_data_row(tmp_path: Path) -> None:
    """A file that no longer matches the table (rewritten since it was read): no line to
    name, so the data row, not a line of some other row."""
    path = _write(tmp_path, "name,x\na,1\nb,2\n")
    table = read_csv(path, what=WHAT, numbers=("x",))
    path.write_text("name,x\n\na,1\n")
    with pytest.raises(InputError, match=r"table.csv: data row 2: x: 2.0 \(allowed: odd\)$"):
        refuse_cell(path, table, "x", table["x"] == 2, "odd")


def test_a_missing_file_is_missing_input(tmp_path: Path) -> None:
    with pytest.raises(MissingInputError, match=f"file not found .allowed: {WHAT}"):
        read_csv(tmp_path / "nowhere.csv", what=WHAT)
