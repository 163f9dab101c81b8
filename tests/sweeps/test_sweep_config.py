"""Sweep files (duplexsim/sweeps/config.py): a [sweep] table without a required key still
has every other field checked; a sweep key that is no table says what it is."""

from __future__ import annotations

from pathlib import Path

import pytest

from duplexsim.config.cli import validate_file
from duplexsim.errors import ConfigError
from duplexsim.sweeps.config import load_sweep


@pytest.mark.parametrize(("table", "expected"), [
    ('name = "s"\nworkers = 99999\n',
     ["sweep.base: missing required key", "sweep.workers: 99999 is out of range"]),
    ('workers = 99999\nbatch = 0\nseeds = [-1]\ncell = "x"\n',
     ["sweep.name: missing required key", "sweep.base: missing required key",
      "sweep.seeds: -1 is negative", "sweep.workers: 99999 is out of range",
      "sweep.batch: 0 is out of range", "sweep.cell: 'x' is not module:function"]),
    # the checks of the grid and set tables (they read neither name nor base)
    ('base = "b.toml"\n[sweep.grid]\n"a.x + b.x" = [1]\n[sweep.set]\nseed = 3\n',
     ["sweep.name: missing required key", "sweep.grid.a.x + b.x: a key with spaces",
      "sweep.set.seed: seeds are swept with"]),
    # beside a wrong type and an unknown key; not "base: empty path" of the stand-in
    ('name = "../x"\nbatch = "2"\ncolour = 1\n',
     ["sweep.batch: wrong type string", "sweep.colour: unknown key",
      "sweep.base: missing required key", "sweep.name: '../x' is a path, not a name"]),
])
def test_a_sweep_table_without_a_required_key_names_its_other_problems(
        tmp_path: Path, table: str, expected: list[str]) -> None:
    """A [sweep] table without name or base named only that key: workers = 99999,
    batch = 0 or a bad grid key came up one run of the file later."""
    path = tmp_path / "sweep.toml"
    path.write_text("[sweep]\n" + table)
    with pytest.raises(ConfigError) as info:
        load_sweep(path, check_scenarios=False)
    problems = info.value.problems
    assert len(problems) == len(expected), [str(p) for p in problems]
    for problem, fragment in zip(problems, expected, strict=True):
        assert f"{problem.key}: {problem.message}".startswith(fragment), str(problem)
        assert str(problem).startswith(f"{path}: sweep.") and "\n" not in str(problem)


def test_validate_names_a_missing_base_and_a_bad_workers_together(tmp_path: Path) -> None:
    path = tmp_path / "sweep.toml"
    path.write_text('[sweep]\nname = "s"\nworkers = 99999\n[a]\nkind = "replay"\n')
    assert [str(p) for p in validate_file(path)] == [
        f"{path}: a: unknown top-level key (allowed: [sweep]; scenario settings go in the "
        "base scenario file or [sweep.set])",
        f"{path}: sweep.base: missing required key",
        f"{path}: sweep.workers: 99999 is out of range (allowed: 0 (= all cores) .. 4096)",
    ]


@pytest.mark.parametrize(("text", "message"), [
    ("sweep = 5\n", "wrong type integer (allowed: a [sweep] table, with name and base)"),
    ('sweep = "grid"\n', "wrong type string (allowed: a [sweep] table, with name and base)"),
    ('[[sweep]]\nname = "s"\n', "wrong type array (allowed: a [sweep] table, with name and "
                                "base)"),
    ('name = "s"\n', "missing [sweep] table")])
def test_a_sweep_key_that_is_no_table_says_what_it_is(tmp_path: Path, text: str,
                                                      message: str) -> None:
    """``sweep = 5`` was told "missing [sweep] table", as a file without the key is."""
    path = tmp_path / "sweep.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_sweep(path, check_scenarios=False)
    assert str(info.value) == f"{path}: sweep: {message}"
    if "sweep" in text:  # (validate takes a file without the key for a scenario)
        assert [str(p) for p in validate_file(path)] == [f"{path}: sweep: {message}"]
