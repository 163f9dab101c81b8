"""Sweep files, grid expansion, resumable runs (killed mid-sweep), pool and Ray backends."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from duplexsim.digests import file_digest
from duplexsim.errors import ConfigError, InputError
from duplexsim.sweeps import load_sweep, run_sweep
from duplexsim.sweeps.cells import DEFAULT_CELL
from duplexsim.sweeps.keys import cell_key, cell_source_digest

HERE = Path(__file__).parent
BASE = """name = "base"
chunk_ms = 160
duration_s = 10.0
[a]
kind = "syncllm"
agent = "runs/agents/fisher"
[b]
kind = "replay"
[network]
preset = "lan"
[network.a_to_b]
delay_ms = 1.0
"""


def write_sweep(tmp: Path, cell: str = "sweep_cellfns:turntaking_cell",
                seeds: str = "[0, 1]", extra: str = "") -> Path:
    (tmp / "base.toml").write_text(BASE)
    path = tmp / "sweep.toml"
    path.write_text(f"""[sweep]
name = "t"
base = "{tmp / 'base.toml'}"
seeds = {seeds}
workers = 1
cell = "{cell}"
{extra}
[sweep.set]
duration_s = 30.0
[sweep.grid]
"network.a_to_b.delay_ms+network.b_to_a.delay_ms" = [0, 160, 480]
"a.estimation" = ["model", "silence"]
""")
    return path


def test_grid_expands_to_cells_with_stable_distinct_keys(tmp_path):
    sweep = load_sweep(write_sweep(tmp_path), check_scenarios=False)
    cells = sweep.cells()
    assert len(cells) == 3 * 2 * 2
    assert len({c.key for c in cells}) == len(cells)
    c = cells[-1]
    assert c.params == {"network.a_to_b.delay_ms+network.b_to_a.delay_ms": 480,
                        "a.estimation": "silence", "seed": 1}
    assert c.config["network"]["b_to_a"]["delay_ms"] == 480
    assert c.config["network"]["a_to_b"]["delay_ms"] == 480
    assert c.config["duration_s"] == 30.0 and c.config["seed"] == 1
    assert c.config["network"]["preset"] == "lan"  # base kept
    again = load_sweep(write_sweep(tmp_path), check_scenarios=False).cells()
    assert [x.key for x in again] == [x.key for x in cells]


def _scenario(**changes: object) -> dict:
    base = {"name": "base", "chunk_ms": 160, "seed": 0, "a": {"kind": "replay"},
            "network": {"preset": "lan", "a_to_b": {"delay_ms": 160}}}
    return {**base, **changes}


@pytest.mark.parametrize("other", [
    _scenario(network={"preset": "lan", "a_to_b": {"delay_ms": 160.0}}),
    _scenario(name="renamed"),
    _scenario(output={"audio": True, "trace": "x"}),
    _scenario(reward={"gap_per_s": 3.0}),
])
@pytest.mark.parametrize("cell", ["", DEFAULT_CELL])
def test_the_default_cell_key_leaves_out_what_its_row_does_not_depend_on(other, cell):
    """A renamed scenario, one writing audio, one with other RL rewards or a cell named in
    full simulate and score the same conversation: they are one cell, not a rerun."""
    assert cell_key(other, cell) == cell_key(_scenario(), "")


@pytest.mark.parametrize("other", [
    _scenario(network={"preset": "lan", "a_to_b": {"delay_ms": 161}}),
    _scenario(seed=1),
    _scenario(chunk_ms=200),
    _scenario(a={"kind": "replay", "channel": 1}),
])
def test_the_default_cell_key_keeps_what_its_row_depends_on(other):
    assert cell_key(other, "") != cell_key(_scenario(), "")


LAN = {"delay_ms": 1.0, "jitter_ms": 0.3, "jitter_dist": "normal"}
"""The lan preset's values, written out as a user would over the ideal preset."""


@pytest.mark.parametrize("same", [
    # every left-out key written at its default (a replay side's channel is its own)
    _scenario(duration_s=60.0, decision_lead_chunks=1, b={"kind": "replay", "channel": 1},
              a={"kind": "replay", "channel": 0}, buffer={}),
    # the preset as its values, and the preset named beside values equal to its own
    _scenario(network={"a_to_b": {**LAN, "delay_ms": 160}, "b_to_a": LAN}),
    _scenario(network={"preset": "lan", "a_to_b": {**LAN, "delay_ms": 160}, "b_to_a": LAN}),
])
def test_the_default_cell_keys_the_scenario_it_simulates_not_its_spelling(same):
    """A key left out and written at its default, or a network preset and its values
    written out, simulate one conversation: they were two cells, run twice."""
    assert cell_key(same, "") == cell_key(_scenario(), "")
    # a cell of one's own may read the keys as written: its key stays the dict's
    cell = "sweep_cellfns:turntaking_cell"
    assert cell_key(same, cell) != cell_key(_scenario(), cell)


@pytest.mark.parametrize("other", [
    _scenario(network={"a_to_b": {**LAN, "delay_ms": 160}, "b_to_a": {**LAN, "delay_ms": 2}}),
    _scenario(network={"preset": "metro", "a_to_b": {"delay_ms": 160}}),
    _scenario(duration_s=30.0),
    _scenario(b={"kind": "replay", "channel": 0}),
])
def test_the_default_cell_keys_apart_scenarios_that_simulate_differently(other):
    assert cell_key(other, "") != cell_key(_scenario(), "")


def test_an_invalid_config_is_keyed_by_its_dict():
    """It does not build (the pre-run check refuses it): still a key, one of its own."""
    bad = _scenario(chunk_ms=150)
    assert cell_key(bad, "") == cell_key(dict(bad), "") != cell_key(_scenario(), "")
    assert cell_key(bad, "") != cell_key(_scenario(chunk_ms=190), "")


def test_a_cell_of_ones_own_is_keyed_by_every_key_it_may_read():
    cell = "sweep_cellfns:turntaking_cell"
    assert cell_key(_scenario(name="renamed"), cell) != cell_key(_scenario(), cell)
    assert cell_key(_scenario(reward={"gap_per_s": 3.0}), cell) != cell_key(_scenario(), cell)


def test_the_default_cell_named_in_full_is_the_default_cell(tmp_path):
    """It was keyed apart from cell = "" and let a grid over name through."""
    short = load_sweep(write_sweep(tmp_path, cell=""), check_scenarios=False)
    full = load_sweep(write_sweep(tmp_path, cell=DEFAULT_CELL), check_scenarios=False)
    assert full.config.cell == ""
    assert [c.key for c in full.cells()] == [c.key for c in short.cells()]
    path = write_sweep(tmp_path, cell=DEFAULT_CELL)
    path.write_text(path.read_text().replace('"a.estimation" =', '"name" = ["x", "y"]\n'
                                             '"a.estimation" ='))
    with pytest.raises(ConfigError, match="sweep.grid.name: name does not change what"):
        load_sweep(path, check_scenarios=False)


@pytest.mark.parametrize(("seeds", "extra", "match"), [
    ("[]", "", r"sweep.seeds: empty list"),
    ("[3, 1, 3]", "", r"sweep.seeds: 3 is listed twice"),
    # these two said "is not a list of distinct seeds" of a list of distinct seeds
    ("[1, -1]", "", r"sweep.seeds: -1 is negative \(allowed: .*0 \.\. 2\*\*63 - 1"),
    ("[18446744073709551615]", "", r"sweep.seeds: 18446744073709551615 is too large"),
    ("[0]", "colour = 1", "sweep.colour: unknown key"),
    ("[0]", "workers = -1", "sweep.workers"),
    ("[0]", 'grid = { "network" = [{ preset = "lan" }] }', "sweep.grid.network: .* is a table"),
    ("[0]", 'grid = { "network.a_to_b.delay_ms" = [0, 160, 0.0] }',
     "sweep.grid.network.a_to_b.delay_ms: 0.0 is listed twice"),
    ("[0]", 'grid = { "network.a_to_b.jitter_ms" = [nan, 1, nan] }',
     "sweep.grid.network.a_to_b.jitter_ms: nan is listed twice"),
    # results.parquet held it as a float: 2**70 and 2**70 + 1 two cells under one value
    ("[0]", 'grid = { "x" = [1, 1180591620717411303424, 1180591620717411303425] }',
     r"sweep.grid.x: value 2 \(1180591620717411303424\) is past the 64-bit integer range .*"
     r"\(allowed: integers -2\*\*63 \.\. 2\*\*63 - 1, or floats\)"),
    ("[0]", 'grid = { "x" = [-9223372036854775809] }', r"sweep.grid.x: value 1 \(-9223"),
    ("[0]", 'grid = { "x" = [1979-05-27, 1980-01-01] }',
     r"sweep.grid.x: datetime.date\(1979, 5, 27\) is a TOML date or time"),
    ("[0]", 'set "a.t" = 07:32:00', "sweep.set.a.t: holds a TOML date or time"),
    ("[0]", 'name = "../../x"', r"sweep.name: '../../x' is a path, not a name"),
    ("[0]", 'grid = { "network.a_to_b.delay_ms" = [0, 100], '
     '"network.a_to_b.delay_ms+network.b_to_a.delay_ms" = [0, 160] }',
     r"sweep.grid.network.a_to_b.delay_ms\+network.b_to_a.delay_ms: sets "
     r"network.a_to_b.delay_ms, which grid.network.a_to_b.delay_ms sets too"),
])
def test_bad_sweep_files_name_the_key(tmp_path, seeds, extra, match):
    path = write_sweep(tmp_path, seeds=seeds)
    if extra.startswith("name"):  # the default output folder runs/<name> stays in runs/
        path.write_text(path.read_text().replace('name = "t"', extra))
    elif extra.startswith("workers"):
        path.write_text(path.read_text().replace("workers = 1", extra))
    elif extra.startswith("set "):  # a key of [sweep.set]
        path.write_text(path.read_text().replace("duration_s = 30.0", extra[4:]))
    elif extra.startswith("grid"):
        text = path.read_text().split("[sweep.grid]")[0]
        path.write_text(text.replace("cell =", f"{extra}\ncell ="))
    else:
        path.write_text(path.read_text().replace("cell =", f"{extra}\ncell ="))
    with pytest.raises(ConfigError, match=match) as e:
        load_sweep(path, check_scenarios=False)
    assert str(path) in str(e.value)


def test_stray_tables_and_sweep_table_problems_are_named_together(tmp_path):
    """Scenario tables pasted beside [sweep] were named one at a time (the first only), and
    the [sweep] table's own problems only once they were all gone: three runs for one file."""
    path = write_sweep(tmp_path, seeds="[0, 0]")
    path.write_text(path.read_text() + '[network]\npreset = "lan"\n[a]\nkind = "replay"\n')
    with pytest.raises(ConfigError) as e:
        load_sweep(path, check_scenarios=False)
    assert [p.key for p in e.value.problems] == ["a", "network", "sweep.seeds"]
    assert "[sweep.set]" in str(e.value.problems[0])


@pytest.mark.parametrize("key", ["reward.gap_per_s", "output.audio", "name"])
def test_a_grid_key_the_default_cell_does_not_score_is_refused(tmp_path, key):
    """A grid over [reward] weights, [output] or the name with the default cell ran every
    cell and gave identical rows for every value, as if the key made no difference."""
    values = '["x", "y"]' if key == "name" else "[true, false]" if key == "output.audio" \
        else "[0.0, 1.0]"
    path = write_sweep(tmp_path, cell="")
    path.write_text(path.read_text().replace('"a.estimation" =', f'"{key}" = {values}\n'
                                             '"a.estimation" ='))
    with pytest.raises(ConfigError, match=rf"sweep.grid.{key}: {key} does not change what "
                       r"the default cell") as e:
        load_sweep(path, check_scenarios=False)
    assert len(e.value.problems) == 1
    # a cell function of one's own may read it
    path.write_text(path.read_text().replace('cell = ""', 'cell = "sweep_cellfns:x"'))
    assert load_sweep(path, check_scenarios=False).config.grid[key]


def test_missing_base_scenario_is_reported(tmp_path, monkeypatch):
    path = write_sweep(tmp_path)
    (tmp_path / "base.toml").unlink()
    with pytest.raises(ConfigError, match="sweep.base: base scenario .*: file not found"):
        load_sweep(path, check_scenarios=False)
    # a relative base is read from the current directory, not the sweep file's: say which
    path.write_text(path.read_text().replace(str(tmp_path / "base.toml"), "base.toml"))
    monkeypatch.chdir(tmp_path / "..")
    with pytest.raises(ConfigError, match=r"'base.toml': file not found .*read from the "
                       r"current directory, " + re.escape(str(tmp_path.parent))) as e:
        load_sweep(path, check_scenarios=False)
    assert "\n" not in str(e.value)


def test_an_out_folder_refused_for_a_base_of_its_name_says_where_the_base_was_read(
        tmp_path, monkeypatch, capsys):
    """`duplexsim sweep exp/sweep.toml --out exp` (base = "base.toml", kept beside it) run
    from exp's parent read the parent's base.toml and refused exp for "holding other files
    (base.toml)", without a word on which base.toml the sweep had read."""
    from duplexsim.cli import main

    exp = tmp_path / "exp"
    exp.mkdir()
    path = write_sweep(exp)
    path.write_text(path.read_text().replace(str(exp / "base.toml"), "base.toml"))
    (tmp_path / "base.toml").write_text(BASE)
    monkeypatch.chdir(tmp_path)
    assert main(["sweep", "exp/sweep.toml", "--out", "exp", "--quiet", "--no-check"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "exp: --out: holds other files (base.toml) and no sweep" in err[0]
    assert f"the base scenario 'base.toml' was read from {tmp_path / 'base.toml'}, not " \
        f"{Path('exp') / 'base.toml'}: a relative base is read from the current directory" \
        in err[0], err
    # another file there: refused as before, without the note
    (exp / "base.toml").rename(exp / "notes.toml")
    assert main(["sweep", "exp/sweep.toml", "--out", "exp", "--quiet", "--no-check"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "holds other files (notes.toml)" in err[0]
    assert "base scenario" not in err[0], err


@pytest.mark.parametrize(("base", "extra", "match"), [
    ("card", "", r"sweep.base: base scenario .*card.toml': is an agent card file, not a "
     r"scenario \(it is for `duplexsim train`\)"),
    ("", "", r"sweep.base: empty path \(allowed: a scenario TOML file\)"),
    (None, '[sweep.set]\n"chunk_ms.x" = 1', r"sweep.set: chunk_ms.x: 'chunk_ms' is a value"),
])
def test_a_bad_base_or_set_path_is_one_line_naming_its_key(tmp_path, base, extra, match):
    """An agent card as the base scenario listed each of its tables as an unknown key (6
    lines); base = "" said "is a folder, not a file"; a sweep.set key through a value was
    blamed on sweep.grid."""
    path = write_sweep(tmp_path)
    text = path.read_text()
    if base == "card":
        (tmp_path / "card.toml").write_text('[agent]\nname = "c"\n[model]\nsize = "tiny"\n')
        text = text.replace(str(tmp_path / "base.toml"), str(tmp_path / "card.toml"))
    elif base == "":
        text = text.replace(str(tmp_path / "base.toml"), "")
    path.write_text(text.replace("[sweep.set]\nduration_s = 30.0", extra or "[sweep.set]"))
    with pytest.raises(ConfigError, match=match) as e:
        load_sweep(path, check_scenarios=False)
    assert len(e.value.problems) == 1 and str(e.value).startswith(str(path))


@pytest.mark.parametrize(("set_", "grid", "match"), [
    ("seed = 5", "", r"sweep.set.seed: seeds are swept with sweep.seeds"),
    ('"network..delay_ms" = 5.0', "", r"sweep.set.network..delay_ms: empty key"),
    ('"" = 5', "", r"sweep.set.: empty key"),
    # a table header whose keys are commented out replaced the base's side a with {}
    ("[sweep.set.a]\n# temperature = 1.0", "", r"sweep.set.a: an empty table sets nothing"),
    ("network.a_to_b = {}", "", r"sweep.set.network.a_to_b: an empty table sets nothing"),
    ("", '"network..delay_ms" = [0, 5]', r"sweep.grid.network..delay_ms: empty key"),
    # each cell said "network.a_to_b.delay_ms : unknown key", its space unseen
    ("", '"network.a_to_b.delay_ms + network.b_to_a.delay_ms" = [0, 5]',
     r"sweep.grid.network.a_to_b.delay_ms \+ network.b_to_a.delay_ms: a key with spaces"),
    ('" duration_s" = 5.0', "", r"sweep.set. duration_s: a key with spaces around it"),
    ("empty base", "", r"sweep.base: base scenario .*empty.toml': no settings in it"),
])
def test_set_seed_empty_keys_and_an_empty_base_are_refused(tmp_path, set_, grid, match):
    """sweep.set.seed was accepted and silently replaced by each cell's seed; an empty part
    in a dotted set or grid key was blamed on the scenario ("network.: unknown key", a line
    without a key for ""); an empty base scenario ran every cell on the defaults, where
    simulate refuses the same file."""
    path = write_sweep(tmp_path)
    text = path.read_text()
    if set_ == "empty base":
        (tmp_path / "empty.toml").write_text("# nothing here\n")
        text = text.replace(str(tmp_path / "base.toml"), str(tmp_path / "empty.toml"))
    elif set_:
        text = text.replace("duration_s = 30.0", f"duration_s = 30.0\n{set_}")
    if grid:
        text = text.replace('"a.estimation" =', f'{grid}\n"a.estimation" =')
    path.write_text(text)
    with pytest.raises(ConfigError, match=match) as e:
        load_sweep(path, check_scenarios=False)
    assert len(e.value.problems) == 1 and str(e.value).startswith(str(path))


@pytest.mark.parametrize(("set_", "match"), [
    ('"network.a_to_b.delay_ms" = 5.0', r"sweep.set.network.a_to_b.delay_ms: grid.network."
     r"a_to_b.delay_ms\+network.b_to_a.delay_ms replaces it in every cell: this value is "
     r"never used"),
    ('"a.estimation" = "wait"', r"sweep.set.a.estimation: grid.a.estimation replaces it"),
    ('"b.temperature" = 0.5\n"b" = "x"',
     r"sweep.set.b.temperature: set.b replaces it in every cell"),
])
def test_a_set_value_that_the_grid_or_a_later_set_key_replaces_is_refused(tmp_path, set_,
                                                                           match):
    """sweep.set.KEY with a grid key (or a later set key) setting the same field or a table
    around it ran every cell without the set value, while sweep.json listed it as set."""
    path = write_sweep(tmp_path)
    path.write_text(path.read_text().replace("duration_s = 30.0", f"duration_s = 30.0\n{set_}"))
    with pytest.raises(ConfigError, match=match) as e:
        load_sweep(path, check_scenarios=False)
    assert len(e.value.problems) == 1 and str(e.value).startswith(str(path))
    # a set table that a grid key varies inside, or a later set key refines, is no conflict
    path.write_text(path.read_text().replace(set_, '"network.a_to_b" = { loss = 0.0 }\n'
                                             '"b" = { kind = "replay" }\n"b.channel" = 1'))
    cell = load_sweep(path, check_scenarios=False).cells()[-1]
    assert cell.config["network"]["a_to_b"] == {"loss": 0.0, "delay_ms": 480}
    assert cell.config["b"] == {"kind": "replay", "channel": 1}


@pytest.mark.parametrize("set_", [
    "network.a_to_b.delay_ms = 5.0\nb.temperature = 0.5",
    '"network" = { a_to_b = { delay_ms = 5.0 } }\n"b" = { temperature = 0.5 }',
    "[sweep.set.network.a_to_b]\ndelay_ms = 5.0\n[sweep.set.b]\ntemperature = 0.5",
])
def test_a_set_table_sets_its_keys_and_keeps_the_rest_of_the_base(tmp_path, set_):
    """TOML reads an unquoted dotted key (network.a_to_b.delay_ms = 5) as nested tables:
    set replaced the base scenario's whole [network] with {a_to_b: {delay_ms: 5}}, its
    preset and every other key dropped without a word."""
    path = write_sweep(tmp_path)
    text = path.read_text().replace('"network.a_to_b.delay_ms+network.b_to_a.delay_ms" = '
                                    '[0, 160, 480]\n', "")
    path.write_text(text.replace("[sweep.set]\nduration_s = 30.0",
                                 f"[sweep.set]\nduration_s = 30.0\n{set_}")
                    .replace("[sweep.grid]", "\n[sweep.grid]"))
    sweep = load_sweep(path, check_scenarios=False)
    assert sweep.config.set == {"duration_s": 30.0, "network.a_to_b.delay_ms": 5.0,
                                "b.temperature": 0.5}
    config = sweep.cells()[0].config
    assert config["a"] == {"kind": "syncllm", "agent": "runs/agents/fisher",
                           "estimation": "model"}
    assert config["network"] == {"preset": "lan", "a_to_b": {"delay_ms": 5.0}}
    assert config["b"] == {"kind": "replay", "temperature": 0.5}


def test_grid_tables_are_dotted_keys_and_a_field_given_twice_is_refused(tmp_path):
    path = write_sweep(tmp_path)
    text = path.read_text().replace('"a.estimation" = ["model", "silence"]\n', "")
    path.write_text(text + "[sweep.grid.a]\nestimation = [\"model\", \"silence\"]\n")
    sweep = load_sweep(path, check_scenarios=False)
    assert list(sweep.config.grid)[-1] == "a.estimation"
    assert [c.config["a"]["estimation"] for c in sweep.cells()][:4] == \
        ["model", "model", "silence", "silence"]
    path.write_text(path.read_text().replace("duration_s = 30.0", 'duration_s = 30.0\n'
                                             '"network.a_to_b.loss" = 0.1\n'
                                             "network.a_to_b.loss = 0.2"))
    with pytest.raises(ConfigError, match=r"sweep.set.network.a_to_b.loss: is given twice") \
            as e:
        load_sweep(path, check_scenarios=False)
    assert len(e.value.problems) == 1


@pytest.mark.parametrize(("where", "expected"), [
    ("name", r"sweep.name: 'a\\x00b' holds a NUL character"),
    ("base", r"sweep.base: '.*base.toml\\x00' holds a NUL character"),
    ("grid", r"b.corpus: no corpus at 'c\\x00d'"),
])
def test_a_nul_in_a_sweep_path_is_one_line(tmp_path, monkeypatch, capsys, where, expected):
    """A NUL character ("\\u0000" in TOML) in the sweep's name, its base path or a path a
    cell's scenario names was a ValueError traceback ("embedded null byte") from
    `duplexsim sweep` (the name's only when the run folder was made, after every check had
    passed) and, for the base and the grid, from `duplexsim validate`."""
    from duplexsim.cli import main

    (tmp_path / "base.toml").write_text('name = "base"\nduration_s = 1.0\n[a]\nkind = "replay"\n')
    name, base, grid = "t", "base.toml", '"b.channel" = [0, 1]'
    if where == "name":
        name = "a\\u0000b"
    elif where == "base":
        base += "\\u0000"
    else:
        grid = '"b.corpus" = ["", "c\\u0000d"]'
    path = tmp_path / "sweep.toml"
    path.write_text(f'[sweep]\nname = "{name}"\nbase = "{base}"\n[sweep.grid]\n{grid}\n')
    monkeypatch.chdir(tmp_path)
    assert main(["sweep", str(path), "--quiet"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith(str(path)) and re.search(expected, err[0]), err
    assert not (tmp_path / "runs").exists()
    assert main(["validate", str(path)]) == (0 if where == "grid" else 1)  # (files unchecked)
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1 and (where == "grid" or re.search(expected, out[0])), out


@pytest.mark.parametrize("broken", ["sweep", "base"])
def test_a_sweep_or_base_file_that_is_not_utf8_is_one_line(tmp_path, capsys, broken):
    """A sweep file or base scenario that is not UTF-8 was a UnicodeDecodeError traceback
    from `duplexsim sweep` and `duplexsim validate` (only OSError and TOML errors were
    caught)."""
    from duplexsim.cli import main

    path = write_sweep(tmp_path)
    target = path if broken == "sweep" else tmp_path / "base.toml"
    target.write_bytes(b"\xff" + target.read_bytes())
    assert main(["sweep", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.splitlines()
    key = "byte 0" if broken == "sweep" else "sweep.base: base scenario"
    assert len(err) == 1 and err[0].startswith(f"{path}: {key}") and "not UTF-8" in err[0]
    assert not (tmp_path / "out").exists()
    assert main(["validate", str(path)]) == 1
    assert "not UTF-8" in capsys.readouterr().out


def test_resume_skips_finished_cells(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(HERE))
    monkeypatch.setenv("SWEEP_TEST_CALLS", str(tmp_path / "calls"))
    sweep = load_sweep(write_sweep(tmp_path), check_scenarios=False)
    part = run_sweep(sweep, tmp_path / "out", workers=1, progress=False, limit=5)
    assert len(part) == 5
    full = run_sweep(sweep, tmp_path / "out", workers=1, progress=False)
    assert len(full) == 12 and len(list((tmp_path / "calls").iterdir())) == 12
    again = run_sweep(sweep, tmp_path / "out", workers=1, progress=False)
    assert len(list((tmp_path / "calls").iterdir())) == 12  # nothing recomputed
    pd.testing.assert_frame_equal(full, again)
    assert pd.read_parquet(tmp_path / "out" / "results.parquet").equals(full)
    # delay raises the gaps: the metric varies with the grid as it should
    by_delay = full.groupby("network.a_to_b.delay_ms+network.b_to_a.delay_ms")["gap_median_ms"]
    assert by_delay.mean().is_monotonic_increasing


def test_a_cell_function_edited_in_place_runs_its_cells_again(tmp_path, monkeypatch):
    # the key hashed the cell's name only: the rows of the old code were reused
    (tmp_path / "mycell").mkdir()
    module = tmp_path / "mycell" / "edited_cell.py"
    module.write_text("def cell(config):\n    return {'v': 1}\n")
    monkeypatch.syspath_prepend(str(tmp_path / "mycell"))
    path = write_sweep(tmp_path, cell="edited_cell:cell", seeds="[0]")
    first = run_sweep(load_sweep(path, check_scenarios=False), tmp_path / "out", workers=1,
                      progress=False)
    assert set(first["v"]) == {1}
    module.write_text("def cell(config):\n    return {'v': 2}\n")
    sys.modules.pop("edited_cell", None)
    again = run_sweep(load_sweep(path, check_scenarios=False), tmp_path / "out", workers=1,
                      progress=False)
    assert set(again["v"]) == {2}
    assert cell_source_digest("edited_cell:cell") == file_digest(module)
    # duplexsim's own cells are versioned by SIMULATOR_VERSION: their keys do not move
    assert cell_source_digest("") == cell_source_digest(
        "duplexsim.sweeps.cells:simulate_cell") == cell_source_digest("no_such_mod:f") == ""
    assert cell_source_digest("duplexsim:f") == ""  # the package itself is duplexsim's too
    # a module of one's own whose name only starts like duplexsim's is keyed by its file
    other = tmp_path / "mycell" / "duplexsim_mine.py"
    other.write_text("def cell(config):\n    return {'v': 3}\n")
    assert cell_source_digest("duplexsim_mine:cell") == file_digest(other)


@pytest.mark.parametrize("damage", ["[1, 2", "[]"])
def test_a_damaged_failures_json_is_named_before_any_cell_runs(tmp_path, monkeypatch, damage):
    """failures.json was read only after every cell had run: an hour of cells, then the
    one-line error, and no results.parquet (again on every rerun with cells left)."""
    monkeypatch.syspath_prepend(str(HERE))
    monkeypatch.setenv("SWEEP_TEST_CALLS", str(tmp_path / "calls"))
    sweep = load_sweep(write_sweep(tmp_path), check_scenarios=False)
    run_sweep(sweep, tmp_path / "out", workers=1, progress=False, limit=2)
    (tmp_path / "out" / "failures.json").write_text(damage)
    with pytest.raises(InputError, match=r"out/failures.json: .*(corrupt|a JSON list)"):
        run_sweep(sweep, tmp_path / "out", workers=1, progress=False)
    assert len(list((tmp_path / "calls").iterdir())) == 2  # no cell ran


def test_another_sweep_into_the_folder_reuses_its_cells_and_says_so(tmp_path, monkeypatch,
                                                                     capsys):
    """An extended grid into the same --out was silent, and an earlier report/ there went on
    describing the earlier results (audit)."""
    monkeypatch.syspath_prepend(str(HERE))
    monkeypatch.setenv("SWEEP_TEST_CALLS", str(tmp_path / "calls"))
    run_sweep(load_sweep(write_sweep(tmp_path), check_scenarios=False), tmp_path / "out",
              workers=1, progress=False)
    run_sweep(load_sweep(write_sweep(tmp_path), check_scenarios=False), tmp_path / "out",
              workers=1, progress=False)
    assert "held another sweep" not in capsys.readouterr().err  # the same sweep: no note
    # nor when only its scheduling changed, or the sweep file was moved: the same cells
    moved = tmp_path / "moved"
    moved.mkdir()
    write_sweep(tmp_path, extra="batch = 3").rename(moved / "sweep.toml")
    run_sweep(load_sweep(moved / "sweep.toml", check_scenarios=False), tmp_path / "out",
              workers=2, progress=False)
    assert "held another sweep" not in capsys.readouterr().err
    (tmp_path / "out" / "report").mkdir()
    wider = load_sweep(write_sweep(tmp_path, seeds="[0, 1, 2]"), check_scenarios=False)
    table = run_sweep(wider, tmp_path / "out", workers=1, progress=False)
    assert len(table) == 18 and len(list((tmp_path / "calls").iterdir())) == 18
    err = capsys.readouterr().err
    assert "held another sweep" in err and "report" in err and "duplexsim report" in err


def test_killed_sweep_resumes_to_the_same_table(tmp_path):
    path = write_sweep(tmp_path)
    env = {**os.environ, "PYTHONPATH": f"{HERE}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
           "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "duplexsim.cli", "sweep", str(path), "--no-check", "--quiet"]
    killed = subprocess.run([*cmd, "--out", str(tmp_path / "a")], capture_output=True,
                            env={**env, "SWEEP_TEST_CALLS": str(tmp_path / "calls"),
                                 "SWEEP_TEST_KILL_AT": "6"})
    assert killed.returncode == -signal.SIGKILL
    finished = sorted((tmp_path / "a" / "cells").glob("*.json"))
    assert len(finished) == 5
    for f in finished:  # every row on disk is whole
        assert set(json.loads(f.read_text())) == {"key", "index", "params", "config", "row"}
    resumed = subprocess.run([*cmd, "--out", str(tmp_path / "a")], capture_output=True,
                             env={**env, "SWEEP_TEST_CALLS": str(tmp_path / "calls2")},
                             text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert "12/12 cells finished" in resumed.stdout
    assert len(list((tmp_path / "calls2").iterdir())) == 7  # only the unfinished cells ran
    clean = subprocess.run([*cmd, "--out", str(tmp_path / "b")], env=env, capture_output=True)
    assert clean.returncode == 0
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "a" / "results.parquet"),
                                  pd.read_parquet(tmp_path / "b" / "results.parquet"))


def test_process_pool_matches_in_process(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(HERE))
    sweep = load_sweep(write_sweep(tmp_path, seeds="[3]"), check_scenarios=False)
    serial = run_sweep(sweep, tmp_path / "s", workers=1, progress=False)
    pooled = run_sweep(sweep, tmp_path / "p", workers=2, progress=False)
    pd.testing.assert_frame_equal(serial, pooled)


def test_a_killed_worker_process_fails_its_cells_for_a_retry(tmp_path, monkeypatch):
    """A worker process killed (the out-of-memory killer) broke the pool: a
    BrokenProcessPool traceback, and no failures.json or results table."""
    monkeypatch.syspath_prepend(str(HERE))
    monkeypatch.setenv("SWEEP_TEST_CALLS", str(tmp_path / "calls"))
    monkeypatch.setenv("SWEEP_TEST_KILL_AT", "1")  # the first call kills its worker
    sweep = load_sweep(write_sweep(tmp_path, seeds="[3]"), check_scenarios=False)
    table = run_sweep(sweep, tmp_path / "o", workers=2, progress=False)
    failures = json.loads((tmp_path / "o" / "failures.json").read_text())
    assert len(table) + len(failures) == 6 and failures
    assert all("worker process" in f["error"] and "ended abruptly" in f["error"]
               for f in failures.values())
    monkeypatch.delenv("SWEEP_TEST_KILL_AT")
    table = run_sweep(sweep, tmp_path / "o", workers=2, progress=False)
    assert len(table) == 6 and json.loads((tmp_path / "o" / "failures.json").read_text()) == {}


def test_failed_cells_are_listed_and_retried(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(HERE))
    sweep = load_sweep(write_sweep(tmp_path, cell="sweep_cellfns:failing_cell"),
                       check_scenarios=False)
    table = run_sweep(sweep, tmp_path / "o", workers=1, progress=False)
    assert len(table) == 6 and set(table["seed"]) == {0}
    failures = json.loads((tmp_path / "o" / "failures.json").read_text())
    assert len(failures) == 6 and "cell failed on purpose" in next(iter(failures.values()))["error"]
    # a run that retries none of them (limit 0) keeps their tracebacks listed
    run_sweep(sweep, tmp_path / "o", workers=1, progress=False, limit=0)
    assert json.loads((tmp_path / "o" / "failures.json").read_text()) == failures
    monkeypatch.setenv("SWEEP_TEST_HEAL", "1")
    table = run_sweep(sweep, tmp_path / "o", workers=1, progress=False)
    assert len(table) == 12
    assert json.loads((tmp_path / "o" / "failures.json").read_text()) == {}


@pytest.mark.parametrize("batch", [1, 4])
def test_a_row_json_cannot_hold_fails_its_cell_not_the_sweep(tmp_path, monkeypatch, batch):
    """A set in a row raised when the cell's file was written, in the main process: the
    sweep ended with a traceback and the cells of the groups not written yet were lost."""
    monkeypatch.syspath_prepend(str(HERE))
    sweep = load_sweep(write_sweep(tmp_path, cell="sweep_cellfns:unstorable_cell"),
                       check_scenarios=False)
    table = run_sweep(sweep, tmp_path / "o", workers=1, progress=False, batch=batch)
    assert len(table) == 4 and set(table["value"]) == {0.0}
    failures = json.loads((tmp_path / "o" / "failures.json").read_text())
    assert len(failures) == 8
    assert all("row key 'tags' cannot be stored" in f["error"] for f in failures.values())


def test_a_metric_named_like_a_grid_key_does_not_replace_it(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(HERE))
    sweep = load_sweep(write_sweep(tmp_path, cell="sweep_cellfns:clashing_cell"),
                       check_scenarios=False)
    table = run_sweep(sweep, tmp_path / "o", workers=1, progress=False)
    assert set(table["a.estimation"]) == {"model", "silence"}
    assert set(table["a.estimation_measured"]) == {"measured"}
    # nor one named "cell" the cell's key (every row's key read "mine": the column that
    # tells the cells apart, and names their files, said nothing)
    assert list(table["cell"]) == [c.key for c in sweep.cells()]
    assert set(table["cell_measured"]) == {"mine"}


def test_values_of_two_types_in_one_column_are_one_line(tmp_path, monkeypatch):
    """A grid key listing 1 and "a" (with --no-check), or a cell function returning a
    metric as a number in one cell and a string in another, ran every cell and then gave
    pyarrow's traceback instead of results.parquet, run after run."""
    monkeypatch.syspath_prepend(str(HERE))
    path = write_sweep(tmp_path, cell="sweep_cellfns:mixed_kind_cell")
    text = path.read_text()
    path.write_text(text.replace('["model", "silence"]', '["model", 1]'))
    with pytest.raises(ConfigError, match=r"sweep.grid.a.estimation: 'model' and 1 are of "
                       r"different types") as e:
        load_sweep(path, check_scenarios=False)
    assert len(e.value.problems) == 1
    path.write_text(text)
    sweep = load_sweep(path, check_scenarios=False)
    with pytest.raises(ConfigError, match=r"sweep.cell: 'sweep_cellfns:mixed_kind_cell' "
                       r"returned 'value' as a string in cell \w+ and as a number") as e:
        run_sweep(sweep, tmp_path / "o", workers=1, progress=False)
    assert len(e.value.problems) == 1 and str(e.value).startswith(str(path))


def test_a_metric_some_cells_leave_out_is_null_in_them(tmp_path, monkeypatch):
    """A boolean (or list) metric missing from some rows was refused as "returned 'late' as
    a number" (the NaN pandas fills the gap with) after every cell had run."""
    monkeypatch.syspath_prepend(str(HERE))
    sweep = load_sweep(write_sweep(tmp_path, cell="sweep_cellfns:sometimes_cell"),
                       check_scenarios=False)
    table = run_sweep(sweep, tmp_path / "o", workers=1, progress=False)
    assert len(table) == 12
    without = table["value"] == 0.0
    assert table["late"][without].isna().all() and table["gaps"][without].isna().all()
    assert list(table["late"][~without]) == [False] * 4 + [True] * 4


def test_unknown_cell_function_fails_before_running(tmp_path):
    sweep = load_sweep(write_sweep(tmp_path, cell="nowhere.at_all:cell"), check_scenarios=False)
    with pytest.raises(ValueError, match=r"sweep.toml: sweep.cell: .*cannot be imported"):
        run_sweep(sweep, tmp_path / "o", progress=False)
    assert not (tmp_path / "o" / "cells").exists()
    with pytest.raises(ConfigError, match="sweep.cell: ':fn' is not module:function"):
        load_sweep(write_sweep(tmp_path, cell=":fn"), check_scenarios=False)
    sweep = load_sweep(write_sweep(tmp_path, cell="os:sep"), check_scenarios=False)
    with pytest.raises(ValueError, match="'os:sep' is not a function"):
        run_sweep(sweep, tmp_path / "o", progress=False)


@pytest.mark.parametrize("cell", ["nowhere.at_all:cell", "os:sep"])
def test_duplexsim_sweep_names_the_sweep_file_for_a_bad_cell_function(tmp_path, capsys, cell):
    """`duplexsim sweep` said "sweep: sweep.cell: ..." (the word, not the file) for a cell
    function that does not import or is not a function."""
    from duplexsim.cli import main

    path = write_sweep(tmp_path, cell=cell)
    assert main(["sweep", str(path), "--out", str(tmp_path / "out"), "--no-check"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith(f"{path}: sweep.cell: "), err
    assert not (tmp_path / "out" / "cells").exists()

@pytest.mark.parametrize(("invalid", "match"), [
    ('[output]\naudio = "yes"\n', r"output.audio: wrong type string"),
    ('name = ""\n', r"name: empty name"),
])
def test_an_invalid_output_or_name_is_named_though_its_cells_are_finished(
        tmp_path, capsys, invalid, match):
    """The default cell's key leaves out name and [output]: under --no-check an invalid one
    hid behind the finished cells (their rows reused, exit 0, never named)."""
    from duplexsim.cli import main

    base = tmp_path / "base.toml"
    base.write_text('[a]\nkind = "replay"\n[b]\nkind = "replay"\n[network]\npreset = "lan"\n'
                    "[output]\naudio = false\n")
    path = tmp_path / "sweep.toml"
    path.write_text(f'[sweep]\nname = "t"\nbase = "{base}"\nworkers = 1\n'
                    "[sweep.set]\nduration_s = 1.0\n"
                    '[sweep.grid]\n"network.a_to_b.delay_ms" = [0, 80]\n')
    out = tmp_path / "out"
    assert main(["sweep", str(path), "--out", str(out), "--quiet"]) == 0
    finished = sorted(p.name for p in (out / "cells").iterdir())
    base.write_text(invalid + base.read_text().replace("[output]\naudio = false\n", ""))
    capsys.readouterr()
    assert main(["sweep", str(path), "--out", str(out), "--quiet", "--no-check"]) == 2
    err = capsys.readouterr().err.splitlines()
    # (the file holding the key: the base)
    assert len(err) == 1 and err[0].startswith(f"{base}: ") and re.search(match, err[0]), err
    assert sorted(p.name for p in (out / "cells").iterdir()) == finished  # same keys


def test_ray_backend_matches_local(tmp_path, monkeypatch):
    pytest.importorskip("ray")
    monkeypatch.syspath_prepend(str(HERE))
    monkeypatch.setenv("PYTHONPATH", f"{HERE}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    sweep = load_sweep(write_sweep(tmp_path, seeds="[5]"), check_scenarios=False)
    local = run_sweep(sweep, tmp_path / "l", workers=1, progress=False)
    on_ray = run_sweep(sweep, tmp_path / "r", backend="ray", workers=1, progress=False)
    pd.testing.assert_frame_equal(local, on_ray)


OTHER_CPUS = 1 if (os.cpu_count() or 1) > 1 else 2
"""A Ray head's CPUs other than this machine's cores (both divide 6)."""
RAY_HEAD = """import sys, ray
ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
print(ray.get_runtime_context().gcs_address, flush=True)
sys.stdin.read()  # until the test closes it
"""


def _record_ray_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, address: str) -> None:
    """As `ray start --head` leaves it: its address in RAY_TMPDIR/ray/ray_current_cluster
    (here a temporary RAY_TMPDIR, not the machine's /tmp/ray), RAY_ADDRESS unset."""
    (tmp_path / "raytmp" / "ray").mkdir(parents=True)
    (tmp_path / "raytmp" / "ray" / "ray_current_cluster").write_text(address)
    monkeypatch.setenv("RAY_TMPDIR", str(tmp_path / "raytmp"))
    monkeypatch.delenv("RAY_ADDRESS", raising=False)


@pytest.fixture
def ray_head(tmp_path, monkeypatch, request):
    """The address of a running Ray of 2 CPUs (or the indirect parameter's count) in another
    process (stopped after the test), without token authentication, as `ray start --head`
    runs where no token was ever made (a Ray that ray.init starts has it by default: then
    RAY_AUTH_MODE=token joins it). Its workers get the environment set here, not the
    test's: SWEEP_TEST_LOCK and SWEEP_TEST_GROUPS are folders in ``tmp_path``."""
    pytest.importorskip("ray")
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    monkeypatch.syspath_prepend(str(HERE))
    monkeypatch.setenv("PYTHONPATH", f"{HERE}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    monkeypatch.setenv("SWEEP_TEST_LOCK", str(tmp_path))
    monkeypatch.setenv("SWEEP_TEST_GROUPS", str(tmp_path / "groups"))
    head_code = RAY_HEAD.replace("num_cpus=2", f"num_cpus={getattr(request, 'param', 2)}")
    head = subprocess.Popen([sys.executable, "-c", head_code], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert head.stdout is not None and head.stdin is not None
        address = head.stdout.readline().strip()
        assert address, "the Ray head did not start"  # (else the sweep started its own)
        yield address
    finally:
        head.stdin.close()  # (the head's ray shuts its cluster down as it exits)
        head.wait(timeout=60)


def test_ray_backend_joins_a_running_cluster_at_most_workers_at_once(tmp_path, monkeypatch,
                                                                      ray_head):
    """README: `ray start --head` / RAY_ADDRESS. Ray refuses num_cpus when joining a running
    cluster (a raw "ValueError: When connecting to an existing cluster, num_cpus and
    num_gpus must not be provided", for any workers): the sweep joins it as it is, found
    either way, and ``workers`` bounds its cells in flight (one at a time here, on 2 CPUs:
    exclusive_cell fails a cell that overlaps another)."""
    sweep = load_sweep(write_sweep(tmp_path, "sweep_cellfns:exclusive_cell", seeds="[0]"),
                       check_scenarios=False)
    monkeypatch.setenv("RAY_ADDRESS", ray_head)
    assert len(run_sweep(sweep, tmp_path / "a", backend="ray", workers=1, progress=False)) == 6
    _record_ray_start(tmp_path, monkeypatch, ray_head)
    assert len(run_sweep(sweep, tmp_path / "b", backend="ray", workers=1, progress=False)) == 6
    for out in ("a", "b"):
        assert json.loads((tmp_path / out / "failures.json").read_text()) == {}


@pytest.mark.parametrize("found_by", ["RAY_ADDRESS", "ray start"])
def test_a_ray_cluster_that_cannot_be_joined_is_one_line(tmp_path, monkeypatch, capsys,
                                                         found_by):
    pytest.importorskip("ray")
    from duplexsim.cli import main

    if found_by == "RAY_ADDRESS":
        monkeypatch.setenv("RAY_ADDRESS", "nonsense")
    else:
        _record_ray_start(tmp_path, monkeypatch, "nonsense")
    where = {"RAY_ADDRESS": "RAY_ADDRESS",
             "ray start": "the cluster `ray start` recorded on this machine"}[found_by]
    path = write_sweep(tmp_path, seeds="[0]")
    assert main(["sweep", str(path), "--out", str(tmp_path / "r"), "--quiet", "--no-check",
                 "--backend", "ray"]) == 2
    err = capsys.readouterr().err.splitlines()
    forget = {"RAY_ADDRESS": "unset RAY_ADDRESS", "ray start": "`ray stop` to forget it"}
    assert err == [f"--backend ray: {where}: nonsense: no Ray cluster could be joined there "
                   "(ValueError: Invalid address format: nonsense) (allowed: the address of a "
                   "running cluster (start one with `ray start --head`: it prints the "
                   f"address), or a Ray of the sweep's own ({forget[found_by]}, or "
                   "RAY_ADDRESS=local))"]


@pytest.mark.parametrize("found_by", ["RAY_ADDRESS", "ray start"])
def test_a_ray_cluster_address_where_nothing_answers_fails_at_once(tmp_path, monkeypatch,
                                                                  capsys, found_by):
    """Where nothing listens at the cluster's address, ray.init waits 500 s and more (its own
    retries) before it gives up: the sweep dials the address first and says so in one line,
    in seconds. (Not ``auto``: Ray's lookup of it prefers a GCS process running on the
    machine, another test's, to the address `ray start` recorded.)"""
    pytest.importorskip("ray")
    from duplexsim.cli import main

    with socket.socket() as free:  # a port nobody listens on once it is closed
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    address = f"127.0.0.1:{port}"
    if found_by == "RAY_ADDRESS":
        monkeypatch.setenv("RAY_ADDRESS", address)
    else:
        _record_ray_start(tmp_path, monkeypatch, address)
    path = write_sweep(tmp_path, seeds="[0]")
    start = time.monotonic()
    assert main(["sweep", str(path), "--out", str(tmp_path / "r"), "--quiet", "--no-check",
                 "--backend", "ray"]) == 2
    took = time.monotonic() - start
    err = capsys.readouterr().err.splitlines()
    named = {"RAY_ADDRESS": f"RAY_ADDRESS: {address}",
             "ray start": f"the cluster `ray start` recorded on this machine: {address}"}
    # (Ray dials 127.0.0.1 as this machine's own address: named where it differs)
    assert len(err) == 1 and re.fullmatch(
        rf"--backend ray: {re.escape(named[found_by])}: nothing answers( at \S+:{port})? "
        r"\(.+\) \(allowed: the address of a running cluster \(start one with `ray start "
        r"--head`: it prints the address\), or a Ray of the sweep's own \(.+\)\)", err[0]), err
    assert took < 60, took  # (mostly importing Ray; a refused connection is told at once)
    assert not (tmp_path / "r" / "cells").exists()


@pytest.mark.parametrize("ray_head", [OTHER_CPUS], indirect=True)
def test_workers_0_on_a_ray_cluster_is_one_per_cpu_of_the_cluster(tmp_path, monkeypatch,
                                                                 ray_head):
    """README: `--workers 0` on a cluster it joins is the cluster's CPUs, not this machine's
    cores (a head of another count than this machine's): 6 cells in batches of up to 6 are
    cut into one group per CPU, every one busy."""
    sweep = load_sweep(write_sweep(tmp_path, seeds="[0]", extra="batch = 6"),
                       check_scenarios=False)
    monkeypatch.setenv("RAY_ADDRESS", ray_head)
    assert len(run_sweep(sweep, tmp_path / "r", backend="ray", workers=0, progress=False)) == 6
    sizes = sorted(int(p.name.split("-")[1]) for p in (tmp_path / "groups").iterdir())
    assert sizes == [6 // OTHER_CPUS] * OTHER_CPUS


def test_batched_groups_give_the_same_table(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(HERE))
    monkeypatch.setenv("SWEEP_TEST_GROUPS", str(tmp_path / "groups"))
    sweep = load_sweep(write_sweep(tmp_path, extra="batch = 5"), check_scenarios=False)
    assert sweep.config.batch == 5
    batched = run_sweep(sweep, tmp_path / "b", workers=1, progress=False)
    sizes = sorted(int(p.name.split("-")[1]) for p in (tmp_path / "groups").iterdir())
    assert sizes == [2, 5, 5]  # 12 cells in groups of 5
    one_by_one = run_sweep(sweep, tmp_path / "o", workers=1, progress=False, batch=1)
    pd.testing.assert_frame_equal(batched, one_by_one)


def test_a_failing_group_retries_its_cells_one_by_one(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(HERE))
    sweep = load_sweep(write_sweep(tmp_path, cell="sweep_cellfns:failing_cell",
                                   extra="batch = 4"), check_scenarios=False)
    table = run_sweep(sweep, tmp_path / "o", workers=1, progress=False)
    assert len(table) == 6 and set(table["seed"]) == {0}  # only the seed-1 cells are lost
    assert len(json.loads((tmp_path / "o" / "failures.json").read_text())) == 6


def test_batch_must_be_positive(tmp_path):
    with pytest.raises(ConfigError, match="batch: 0 is out of range"):
        load_sweep(write_sweep(tmp_path, extra="batch = 0"), check_scenarios=False)


def test_default_cell_batched_equals_one_by_one(tmp_path, monkeypatch):
    """The real simulate cell: tiny SyncLLM agents, model calls batched across cells."""
    sys.path.insert(0, str(HERE.parent / "models"))
    from syncllm_fixtures import train_tiny_agent

    agent = train_tiny_agent(tmp_path / "agent", steps=2)
    (tmp_path / "base.toml").write_text(f"""name = "base"
chunk_ms = 160
duration_s = 4.0
[a]
kind = "syncllm"
agent = "{agent}"
[b]
kind = "syncllm"
agent = "{agent}"
[network]
preset = "ideal"
[output]
audio = false
""")
    (tmp_path / "sweep.toml").write_text(f"""[sweep]
name = "real"
base = "{tmp_path / 'base.toml'}"
seeds = [0, 1]
workers = 1
batch = 4
[sweep.grid]
"network.a_to_b.delay_ms+network.b_to_a.delay_ms" = [0, 300]
""")
    sweep = load_sweep(tmp_path / "sweep.toml")
    batched = run_sweep(sweep, tmp_path / "b", progress=False)
    alone = run_sweep(sweep, tmp_path / "o", progress=False, batch=1)
    assert len(batched) == 4
    pd.testing.assert_frame_equal(batched, alone)


def test_a_tdm_side_in_a_batched_sweep(tmp_path):
    """TDM against SyncLLM over a grid of slice lengths: batched (the SyncLLM sides share a
    forward, the TDM sides run on their own) gives the table of one-by-one."""
    sys.path.insert(0, str(HERE.parent / "models"))
    from tdm_fixtures import train_tiny_tdm_agent

    from duplexsim.bench.bench_envs import train_tiny_agent

    tdm = train_tiny_tdm_agent(tmp_path / "tdm", steps=2)
    sync = train_tiny_agent(tmp_path / "sync", steps=2)
    (tmp_path / "base.toml").write_text(f"""name = "base"
chunk_ms = 160
duration_s = 4.0
[a]
kind = "tdm"
agent = "{tdm}"
slice_ms = 640
[b]
kind = "syncllm"
agent = "{sync}"
[network]
preset = "ideal"
[output]
audio = false
""")
    (tmp_path / "sweep.toml").write_text(f"""[sweep]
name = "tdm"
base = "{tmp_path / 'base.toml'}"
seeds = [0, 1]
workers = 1
batch = 4
[sweep.grid]
"a.slice_ms" = [640, 800]
""")
    sweep = load_sweep(tmp_path / "sweep.toml")
    batched = run_sweep(sweep, tmp_path / "b", progress=False)
    alone = run_sweep(sweep, tmp_path / "o", progress=False, batch=1)
    assert len(batched) == 4 and batched["speech_share"].gt(0).all()
    pd.testing.assert_frame_equal(batched, alone)
    assert batched["a.slice_ms"].tolist() == [640, 640, 800, 800]


def test_limit_leaves_cells_for_later_and_is_not_a_failure(tmp_path, monkeypatch, capsys):
    """`duplexsim sweep --limit N` exited 1 with no failed cell (the CLI says 1 = failures)."""
    from duplexsim.cli import main

    monkeypatch.syspath_prepend(str(HERE))
    path = write_sweep(tmp_path)
    assert main(["sweep", str(path), "--out", str(tmp_path / "out"), "--limit", "2",
                 "--no-check", "--quiet"]) == 0
    assert "2/12 cells finished" in capsys.readouterr().out


def test_a_sweep_file_kept_in_its_out_folder_is_not_foreign(tmp_path, monkeypatch, capsys):
    """`duplexsim sweep run/sweep.toml --out run`, the sweep file and its base scenario alone
    in the folder, was refused: "holds other files (base.toml, sweep.toml) and no sweep".
    They are the sweep's own inputs; a file of the user's beside them is still refused."""
    from duplexsim.cli import main

    monkeypatch.syspath_prepend(str(HERE))
    path = write_sweep(tmp_path)
    args = ["sweep", str(path), "--out", str(tmp_path), "--limit", "2", "--no-check", "--quiet"]
    assert main(args) == 0, capsys.readouterr().err
    assert (tmp_path / "results.parquet").is_file()
    other = tmp_path / "other"
    other.mkdir()
    path = write_sweep(other)
    (other / "notes.txt").write_text("mine")
    assert main([*args[:1], str(path), "--out", str(other), *args[4:]]) == 2
    err = capsys.readouterr().err
    assert "holds other files (notes.txt) and no sweep" in err, err
    assert sorted(p.name for p in other.iterdir()) == ["base.toml", "notes.txt", "sweep.toml"]


def test_dump_sweep_reads_back_with_characters_past_the_basic_plane(tmp_path):
    """An experiment's --out under a folder named with an emoji: dump_sweep raised a
    TOMLDecodeError (json.dumps' surrogate pairs are not TOML)."""
    from duplexsim.sweeps.config import SweepConfig, dump_sweep

    (tmp_path / "base\U0001f3a7.toml").write_text(BASE)
    config = SweepConfig(name="x\U0001f3a7", base=str(tmp_path / "base\U0001f3a7.toml"),
                         grid={"a.agent": ["runs/\U0001f3a7", "runs/b"]})
    (tmp_path / "s.toml").write_text(dump_sweep(config), encoding="utf-8")
    assert load_sweep(tmp_path / "s.toml", check_scenarios=False).config == config


def test_a_grid_of_more_cells_than_a_study_has_is_refused_at_once(tmp_path):
    """Ten keys of ten values each (10**10 cells) were expanded in memory, cell by cell,
    before anything was said: validate and sweep hung."""
    path = write_sweep(tmp_path)
    grid = "".join(f'"a.k{i}" = [{", ".join(map(str, range(10)))}]\n' for i in range(10))
    path.write_text(path.read_text().replace("[sweep.grid]\n", "[sweep.grid]\n" + grid))
    with pytest.raises(ConfigError, match=r"sweep.grid: 10 x .* x 3 x 2 grid values = "
                       r"60000000000 cells for each seed \(allowed: at most 1000000 cells") as e:
        load_sweep(path, check_scenarios=False)
    assert len(e.value.problems) == 1
    # a grid that fits, times its seeds: the seeds are counted
    grid = "".join(f'"a.k{i}" = [{", ".join(map(str, range(10)))}]\n' for i in range(5))
    path = write_sweep(tmp_path, seeds=str(list(range(7))))
    path.write_text(path.read_text().replace("[sweep.grid]\n", "[sweep.grid]\n" + grid))
    with pytest.raises(ConfigError, match=r"sweep.grid: 10 x .* x 3 x 2 grid values x 7 seeds "
                       r"= 4200000 cells \(allowed: at most 1000000 cells") as e:
        load_sweep(path, check_scenarios=False)
    assert len(e.value.problems) == 1


def test_the_cells_are_resolved_once_and_their_scenarios_run_in_the_worker(tmp_path):
    """cells() built every default cell's scenario again on each of the six calls one
    `duplexsim sweep` makes, and the worker built it a seventh time from the dict: now the
    sweep keeps its cells and the worker simulates the scenario its cell holds, with the
    rows the dict gives."""
    from duplexsim.sweeps.cells import simulate_cells
    from duplexsim.sweeps.runner import _rows

    (tmp_path / "base.toml").write_text('name = "base"\nchunk_ms = 160\nduration_s = 2.0\n'
                                        '[a]\nkind = "scripted"\npolicy = "random-talker"\n'
                                        '[b]\nkind = "replay"\n[network]\npreset = "lan"\n')
    (tmp_path / "sweep.toml").write_text(f'[sweep]\nname = "s"\nbase = "{tmp_path / "base.toml"}"'
                                         '\nseeds = [0, 1]\n[sweep.grid]\n'
                                         '"network.a_to_b.delay_ms" = [0, 300]\n')
    sweep = load_sweep(tmp_path / "sweep.toml")
    cells = sweep.cells()
    assert cells is not sweep.cells() and all(
        a is b for a, b in zip(cells, sweep.cells(), strict=True))
    assert all(c.scenario is not None for c in cells)
    rows = [json.dumps(r) for r in simulate_cells([c.config for c in cells])]  # (NaN != NaN)
    assert [json.dumps(r) for r in _rows(DEFAULT_CELL, cells)] == rows
    assert [json.dumps(r) for r in _rows(DEFAULT_CELL, cells[1:2])] == rows[1:2]
    assert rows[0] != rows[2]  # the grid value reaches the simulation


@pytest.mark.parametrize("netem_in", ["base", "set"])
def test_a_cell_problem_on_a_key_of_the_base_names_the_base_file(tmp_path, netem_in):
    """A base with netem = "delay ..." and a grid over network.a_to_b.delay_ms is
    ambiguous; the problem named sweep.toml: network.a_to_b.netem, a key the base file
    holds. It names the file that holds the key (the sweep's own for a key it sets)."""
    base = tmp_path / "base.toml"
    netem = '[network.a_to_b]\nnetem = "delay 50ms 5ms"\n'
    base.write_text('chunk_ms = 160\nduration_s = 10.0\n[a]\nkind = "scripted"\n[b]\n'
                    'kind = "scripted"\n' + (netem if netem_in == "base" else ""))
    path = tmp_path / "sweep.toml"
    path.write_text(f'[sweep]\nname = "t"\nbase = "{base}"\nseeds = [0]\n[sweep.set]\n'
                    + ('"network.a_to_b.netem" = "delay 50ms 5ms"\n' if netem_in == "set"
                       else "")
                    + '[sweep.grid]\n"network.a_to_b.delay_ms" = [0, 10]\n')
    with pytest.raises(ConfigError) as e:
        load_sweep(path)
    file = base if netem_in == "base" else path
    assert [str(p) for p in e.value.problems] == [  # (each problem once: the first cell)
        f"{file}: network.a_to_b.netem: sets delay_ms, which the table gives too: ambiguous "
        "(in cell network.a_to_b.delay_ms=0) (allowed: netem or those keys, not both)"]
