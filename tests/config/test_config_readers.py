"""The checked readers of JSON, TOML and CSV files: what the file holds, or one line naming
the file and what is wrong."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from duplexsim.config.readers import read_csv, read_json, read_toml, refuse_cell
from duplexsim.errors import ConfigError, InputError, MissingInputError

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


DEEP = 100_000  # far past Python's recursion limit, which both parsers recurse against


@pytest.mark.parametrize("text", ["[" * DEEP + "]" * DEEP, '{"a": ' * DEEP + "1" + "}" * DEEP])
def test_json_nested_too_deeply_is_one_line_naming_the_file(tmp_path: Path, text: str) -> None:
    """json.loads raises RecursionError, not JSONDecodeError, past ~1000 levels: that was
    a raw traceback instead of the file's error."""
    path = tmp_path / "deep.json"
    path.write_text(text)
    with pytest.raises(InputError) as err:
        read_json(path, what="sweep.json")
    message = str(err.value)
    assert message.startswith(f"{path}: corrupt sweep.json: nested too deeply (allowed: ")
    assert "\n" not in message and not isinstance(err.value, MissingInputError)


@pytest.mark.parametrize("what", ["sweep.json", "agent.json", "channel map"])
def test_json_that_is_not_utf8_allows_the_file_being_read(tmp_path: Path, what: str) -> None:
    """Its allowed-text was ``what`` itself ("(allowed: channel map)", "(allowed:
    agent.json)"): not what is allowed. It names the file the reader wanted, as UTF-8."""
    path = tmp_path / "latin1.json"
    path.write_bytes(b'{"name": "caf\xe9"}')
    with pytest.raises(InputError) as err:
        read_json(path, what=what)
    assert str(err.value) == f"{path}: byte 13: not UTF-8 text (allowed: a UTF-8 {what})"


@pytest.mark.parametrize("value", ["[" * DEEP + "]" * DEEP, "{b = " * DEEP + "1" + "}" * DEEP])
def test_toml_nested_too_deeply_is_one_line_naming_the_file(tmp_path: Path, value: str) -> None:
    """tomllib too raises RecursionError (from ~330 inline tables or ~500 arrays)."""
    path = tmp_path / "deep.toml"
    path.write_text(f'name = "x"\na = {value}\n')
    with pytest.raises(ConfigError) as err:
        read_toml(path)
    message = str(err.value)
    assert message.startswith(f"{path}: not valid TOML: nested too deeply (allowed: ")
    assert "\n" not in message


def test_nesting_a_file_may_have_still_reads(tmp_path: Path) -> None:
    """The limit is the parsers': 100 levels read as they are."""
    json_path, toml_path = tmp_path / "ok.json", tmp_path / "ok.toml"
    json_path.write_text('{"a": ' + "[" * 100 + "]" * 100 + "}")
    toml_path.write_text("a = " + "[" * 100 + "]" * 100 + "\n")
    nested: list = []
    for _ in range(99):
        nested = [nested]
    assert read_json(json_path) == {"a": nested} == read_toml(toml_path)


def test_the_loader_still_hands_out_the_readers() -> None:
    """The readers moved here from duplexsim.config.loader, which re-exports them: code that
    imports them from there gets the same functions."""
    from duplexsim.config import loader, readers

    for name in ("read_toml", "read_json", "json_number", "read_csv", "refuse_cell"):
        assert getattr(loader, name) is getattr(readers, name)
