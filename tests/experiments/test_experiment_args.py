"""Experiment scripts refuse bad values with one line naming the flag and what is allowed,
before anything runs, and turn a problem the user can fix into one line, not a traceback."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from experiment_run import run_experiment

ROOT = Path(__file__).resolve().parents[2]


def _fake_agents(tmp_path: Path) -> Path:
    """Agent folders that pass the scripts' "is it trained?" check (an agent.json)."""
    for name in ("fisher", "candor"):
        (tmp_path / "agents" / name).mkdir(parents=True)
        (tmp_path / "agents" / name / "agent.json").write_text(json.dumps({}))
    return tmp_path / "agents"


@pytest.mark.parametrize(("script", "args", "flag"), [
    ("latency_sweep.py", ["--delays", "-160"], "--delays"),
    ("latency_sweep.py", ["--loss", "1.5"], "--loss"),
    ("latency_sweep.py", ["--jitter", "-3"], "--jitter"),
    ("latency_sweep.py", ["--delays", "0", "160", "--contrast-delays", "77"], "--contrast-delays"),
    ("pairing.py", ["--delays", "-1"], "--delays"),
    ("continuation.py", ["--prompt-s", "-5"], "--prompt-s"),
    ("continuation.py", ["--prompts", "-1"], "--prompts"),
    ("continuation.py", ["--seeds", "0", "0"], "--seeds"),
    ("continuation.py", ["--temperature", "-1"], "--temperature"),
    ("selfplay.py", ["--conversations", "0"], "--conversations"),
    ("selfplay.py", ["--n-boot", "0"], "--n-boot"),
])
def test_bad_values_are_one_line(tmp_path, script, args, flag):
    """Before: a negative --prompt-s or --prompts ran (cutting prompts from the end, or all
    but the last prompt), a negative delay or a loss above 1 ended in a ConfigError
    traceback, a --contrast-delays value not in the sweep was dropped without a word."""
    agents = _fake_agents(tmp_path)
    proc = run_experiment(script, "--agents", str(agents), "--out", str(tmp_path / "o"),
                          *args, timeout=120)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr and flag in proc.stderr
    assert "allowed" in proc.stderr


def test_a_repeated_grid_value_is_one_line(tmp_path):
    """--delays 0 0 made the same cell twice: one conversation counted as two seeds."""
    agents = _fake_agents(tmp_path)
    proc = run_experiment("latency_sweep.py", "--agents", str(agents), "--out",
                          str(tmp_path / "o"), "--sweeps", "delay", "--delays", "0", "0",
                          timeout=120)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr and "listed twice" in proc.stderr


def test_run_main_reports_a_user_error_in_one_line(capsys):
    sys.path.insert(0, str(ROOT / "experiments"))
    from entry import run_main

    from duplexsim.errors import InputError

    def main() -> int:
        raise InputError("runs/agents/fisher", "chunk_ms", "agent 'fisher' was not trained "
                         "for chunk_ms=150", "160, 200, 240")

    assert run_main(main, "x.py") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["runs/agents/fisher: chunk_ms: agent 'fisher' was not trained for "
                   "chunk_ms=150 (allowed: 160, 200, 240)"]

    def bug() -> int:
        raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        run_main(bug, "x.py")
