"""Sweep runs: resumable (killed mid-sweep, a worker killed), failed cells listed and
retried, the results table and its columns, bad cell functions, the process pool.
Owns the sweep file the other tests/sweeps files write (``write_sweep``)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from duplexsim.errors import ConfigError, InputError
from duplexsim.sweeps import load_sweep, run_sweep
from duplexsim.sweeps.cells import DEFAULT_CELL

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
