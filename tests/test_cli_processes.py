"""The CLI as real processes: the installed entry point and ``python -m duplexsim``,
``validate`` without torch, exit codes, one-line warnings (in sweep workers too), a
genuine bug's traceback, Ctrl-C and SIGTERM, a reader that goes away, a missing speech
synthesiser named before anything is written.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cli_workspace import BUILD, changes, drive, snapshot  # (tests/ is on the path)


def test_a_missing_speech_synthesiser_is_named_before_anything_is_written(ws: Path) -> None:
    before = snapshot(ws)
    (result,) = drive(ws, [[*BUILD, "--seed", "3"]], path=str(Path(sys.executable).parent))
    assert result["rc"] == 2 and result["err"].startswith("espeak-ng: not found on PATH")
    assert result["err"].count("\n") == 1
    assert not changes(before, snapshot(ws))


def test_entry_point_validate_without_torch_and_exit_codes(ws: Path) -> None:
    code = ("import sys; from duplexsim.cli import main; rc = main(sys.argv[1:]); "
            "assert 'torch' not in sys.modules, 'validate imported torch'; sys.exit(rc)")
    proc = subprocess.run([sys.executable, "-c", code, "validate", "ok.toml", "card_ok.toml",
                           "sweep_ok.toml"], cwd=ws, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    bin_dir = Path(sys.executable).parent
    entry = str(bin_dir / "duplexsim") if (bin_dir / "duplexsim").exists() else None
    argv = [entry] if entry else [sys.executable, "-m", "duplexsim.cli"]
    proc = subprocess.run([*argv, "corpus", "stats", "c_float"], cwd=ws, capture_output=True,
                          text=True)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith("c_float/units/d0.npy: dtype: float32 units")


def test_python_dash_m_duplexsim_is_the_command(ws: Path) -> None:
    """``python -m duplexsim`` runs the same ``main`` as the entry point (it was "No module
    named duplexsim.__main__")."""
    ok = subprocess.run([sys.executable, "-m", "duplexsim", "--help"], cwd=ws,
                        capture_output=True, text=True)
    assert ok.returncode == 0 and "simulate" in ok.stdout, ok.stderr
    bad = subprocess.run([sys.executable, "-m", "duplexsim", "simulat"], cwd=ws,
                         capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1, bad.stderr
    assert bad.stderr.startswith("duplexsim: unknown command 'simulat'")


def test_our_warnings_are_one_line_in_a_command_and_its_sweep_workers(tmp_path: Path) -> None:
    """A replayed dialogue shorter than the scenario is a warning; it was Python's two lines
    per side, a path into duplexsim/sim/build.py and a line of our code, from ``simulate``
    and from every sweep worker process."""
    (tmp_path / "long.toml").write_text(  # the shipped dialogue lasts 60 s
        'name = "long"\nchunk_ms = 160\nduration_s = 61.0\n[a]\nkind = "replay"\n'
        '[b]\nkind = "replay"\n[output]\naudio = false\n')
    (tmp_path / "sweep.toml").write_text(
        '[sweep]\nname = "long"\nbase = "long.toml"\nseeds = [0, 1]\nworkers = 2\n')
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    for argv, prefix in ((["simulate", "long.toml", "--out", "sim"], "duplexsim simulate"),
                         (["sweep", "sweep.toml", "--out", "sweep"], "sweep worker")):
        proc = subprocess.run([sys.executable, "-m", "duplexsim", *argv, "--quiet"],
                              cwd=tmp_path, capture_output=True, text=True, env=env)
        assert proc.returncode == 0, proc.stderr
        lines = proc.stderr.splitlines()
        assert lines and all(line.startswith(f"{prefix}: warning: scenario ") for line in lines), \
            proc.stderr
        assert "side a is silent after the dialogue ends" in proc.stderr
        assert "side b is silent after the dialogue ends" in proc.stderr


def test_a_genuine_bug_keeps_its_traceback_and_ctrl_c_is_one_line(ws: Path) -> None:
    (ws / "buggy_command.py").write_text(
        "def add_arguments(parser):\n    parser.add_argument('--stop', action='store_true')\n\n"
        "def run(args):\n    if args.stop:\n        raise KeyboardInterrupt\n"
        "    return {}['a bug, not bad input']\n")
    code = ("import sys; sys.path.insert(0, '.'); import duplexsim.cli as cli; "
            "cli.COMMANDS['buggy'] = ('buggy_command', 'raises a KeyError'); "
            "sys.exit(cli.main(['buggy', *sys.argv[1:]]))")
    bug, stop = (subprocess.run([sys.executable, "-c", code, *flags], cwd=ws,
                                capture_output=True, text=True) for flags in ([], ["--stop"]))
    (ws / "buggy_command.py").unlink()
    shutil.rmtree(ws / "__pycache__", ignore_errors=True)
    assert bug.returncode == 1
    assert "Traceback" in bug.stderr and "KeyError" in bug.stderr
    assert stop.returncode == 130 and stop.stderr == "duplexsim buggy: interrupted\n"


def test_ctrl_c_while_a_command_loads_is_one_line(monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """simulate's module imports torch (about 3 s): Ctrl-C then was a KeyboardInterrupt
    traceback through importlib, not the one line a Ctrl-C gives later."""
    def interrupted(name: str) -> None:
        raise KeyboardInterrupt

    from duplexsim import cli

    monkeypatch.setattr(cli.importlib, "import_module", interrupted)
    assert cli.main(["simulate", "x.toml"]) == cli.EXIT_INTERRUPTED
    assert capsys.readouterr().err == "duplexsim simulate: interrupted\n"


def test_sigterm_cleans_up_as_ctrl_c_does(tmp_path: Path) -> None:
    """`timeout`, a CI cancel or `kill` send SIGTERM: a command's cleanup runs (here a child
    process is killed, as the demo's trainers are) and the status is 143. Without it the
    interpreter died at once and the demo's two trainers ran on, orphaned."""
    import signal
    import time

    (tmp_path / "child_command.py").write_text(
        "import subprocess, sys\n\ndef add_arguments(parser):\n    pass\n\n"
        "def run(args):\n    child = subprocess.Popen([sys.executable, '-c', "
        "'import time; time.sleep(120)'])\n"
        "    try:\n        print(child.pid, flush=True)\n        child.wait()\n"
        "    finally:\n        child.kill()\n")  # the pid inside the try: a SIGTERM
    # right after it (a loaded machine) still reaches the finally
    code = ("import sys; sys.path.insert(0, '.'); import duplexsim.cli as cli; "
            "cli.COMMANDS['child'] = ('child_command', 'waits on a child'); "
            "sys.exit(cli.main(['child']))")
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=tmp_path, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    child = int(proc.stdout.readline())
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=20)  # the child, if alive, holds the pipes open
    assert proc.returncode == 143 and err == "duplexsim child: terminated\n"
    for _ in range(100):  # the child is gone (killed, and reaped by its parent's Popen)
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        raise AssertionError(f"child {child} still runs")


def test_a_reader_that_goes_away_ends_the_command_quietly() -> None:
    """`duplexsim corpus stats DIR | head` ended in a BrokenPipeError traceback."""
    import subprocess
    import sys

    code = ("import sys\nfrom duplexsim.cli import run_reporting\n"
            "def run():\n    raise BrokenPipeError(32, 'Broken pipe')\n"
            "sys.exit(run_reporting(run, 'x'))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 141 and out.stderr == ""
