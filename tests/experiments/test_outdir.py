"""Every experiment script checks its --out as the duplexsim commands do (``outdir.check_out``):
a folder of someone else's files is refused in one line before any work, an earlier run's
folder of the same script is taken."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

from duplexsim.cli import run_reporting
from duplexsim.errors import OutputError

ROOT = Path(__file__).resolve().parents[2]


def _script(name: str):  # noqa: ANN202
    """An experiment script's module, imported as the scripts import each other."""
    if str(ROOT / "experiments") not in sys.path:
        sys.path.insert(0, str(ROOT / "experiments"))
    return importlib.import_module(name)


@pytest.mark.parametrize(("script", "args"), [
    ("handover", ["--smoke"]),
    ("rl_turn_policy", ["--smoke"]),
    ("pairing", ["--smoke"]),
    ("selfplay_rl_frontier", ["r1", "r2", "--baseline", "r1"]),
])
def test_a_folder_of_other_files_is_refused_before_any_work(tmp_path, capsys, script, args):
    """Before: ``--smoke --out ~/notes`` built its tiny world and wrote REPORT.md, summary.csv
    and the rest among the user's files (an earlier summary.csv there replaced)."""
    out = tmp_path / "notes"
    out.mkdir()
    (out / "todo.txt").write_text("mine")
    module = _script(script)
    assert run_reporting(lambda: module.main([*args, "--out", str(out)]), script) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"{out}: --out: holds other files (todo.txt) and no {script}.py run: the "
                   f"{script}.py run's files would be mixed into them (allowed: a new or empty "
                   f"folder, or the --out of an earlier {script}.py run)"], err
    assert [p.name for p in out.iterdir()] == ["todo.txt"]


@pytest.mark.parametrize(("script", "args", "flag", "earlier"), [
    ("handover", ["--smoke", "--chunk-ms", "240"], "--chunk-ms", "events.csv"),
    ("rl_turn_policy", ["--latencies", ""], "--latencies", "ppo.zip"),
    ("style_probe", ["--smoke", "--n-boot", "10"], "--n-boot", "world"),
    ("architectures", ["--delays", "0", "160", "0"], "--delays", "REPORT.md"),
])
def test_an_earlier_runs_folder_is_taken(tmp_path, capsys, script, args, flag, earlier):
    """A folder holding what the script writes (with a file of the user's beside it) passes
    the check: the run goes on to the argument checks made after it (here one refusing
    ``flag``, exit 2)."""
    out = tmp_path / "o"
    (out / earlier).parent.mkdir(parents=True, exist_ok=True)
    if earlier == "world":
        (out / earlier).mkdir()
        (out / earlier / "tiny_world.json").write_text("{}")
    else:
        (out / earlier).write_text("x")
    (out / "todo.txt").write_text("mine")
    with pytest.raises(SystemExit) as e:
        _script(script).main([*args, "--out", str(out)])
    err = capsys.readouterr().err
    assert e.value.code == 2 and flag in err and "holds other files" not in err, err


def test_an_out_that_is_a_file_is_one_line(tmp_path):
    """check_out is also the writable-folder check (before: only selfplay_finetune made it)."""
    (tmp_path / "f").write_text("x")
    with pytest.raises(OutputError, match="is a file, not a folder"):
        _script("handover").main(["--smoke", "--out", str(tmp_path / "f")])
