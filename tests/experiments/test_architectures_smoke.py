"""experiments/architectures.py --smoke: tiny SyncLLM and TDM agents (the TDM ones trained
through ``duplexsim train``), every table filled, and a re-simulated conversation gives the
same bytes."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from experiment_run import run_experiment
from PIL import Image


def test_architectures_smoke(tmp_path: Path) -> None:
    out = tmp_path / "arch"
    args = ("architectures.py", "--smoke", "--out", str(out))
    proc = run_experiment(*args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    tdm = out / "world" / "agents" / "fisher-tdm" / "agent.json"
    assert '"kind": "tdm"' in tdm.read_text()
    summary = pd.read_csv(out / "summary.csv")
    agents = summary[summary["arch"] != "corpus"]
    # corpus x arch x (self and replay at 0 and 480 ms, self-offset at 0 ms)
    assert len(agents) == 2 * 2 * (2 * 2 + 1)
    assert set(agents["partner"]) == {"self", "replay", "self-offset"}
    assert set(agents["arch"]) == {"syncllm", "tdm"} and set(agents["delay_ms"]) == {0, 480}
    assert set(summary.loc[summary["arch"] == "corpus", "corpus"]) == {"fisher", "candor"}
    assert (agents["blocks"] == 2).all()  # 8 s in 4 s blocks
    for stat in ("fto_median_ms", "zombie_rate", "deaf_rate", "recovery_median_ms"):
        assert {stat, f"{stat}_lo", f"{stat}_hi"} <= set(summary.columns)
    near = pd.read_csv(out / "nearer.csv")
    assert set(near["agent"]) == {"fisher", "fisher-tdm", "candor", "candor-tdm"}
    assert set(near["statistic"]) == {"bc_per_speaker_min", "fto_median_ms"}
    assert set(near["partner"]) == {"self", "self-offset"} and len(near) == 4 * 2 * 2
    assert len(pd.read_csv(out / "differences.csv")) == 2 * 5
    text = (out / "REPORT.md").read_text()
    assert "## Nearer its own corpus?" in text
    assert "Command: `python experiments/architectures.py --smoke" in text and "(commit " in text
    assert Image.open(out / "architectures.png").info["Description"].startswith(
        "Command: `python experiments/architectures.py --smoke")  # the figure names it too
    first = (out / "summary.csv").read_bytes()
    (cached,) = (out / "conversations").glob("fisher-tdm-self-480ms-s0-*.npz")
    cached.unlink()
    proc = run_experiment(*args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (out / "summary.csv").read_bytes() == first
