"""Bad sweep files (duplexsim/sweeps/config.py): each problem is one line naming the file
and the key (the base scenario's file for a key it holds), problems are named together,
and a grid too large is refused at once; [sweep.set] and [sweep.grid] tables: dotted keys
and tables set what they name and keep the rest of the base; seeds, empty keys, a value
given twice or replaced by another key are refused."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from test_sweep_runner import BASE, write_sweep  # (tests/sweeps is on the path)

from duplexsim.errors import ConfigError
from duplexsim.sweeps import load_sweep


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
