"""Every README block marked ``<!-- runnable -->`` runs and exits 0 (so the README stays true)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"<!-- runnable -->\s*\n```(bash|python)\n(.*?)\n```", re.S)


def runnable_blocks() -> list[tuple[str, str]]:
    return BLOCK.findall((ROOT / "README.md").read_text(encoding="utf-8"))


def test_readme_has_runnable_blocks():
    kinds = [kind for kind, _ in runnable_blocks()]
    assert "bash" in kinds and "python" in kinds


@pytest.mark.parametrize("kind,code", runnable_blocks(), ids=lambda v: str(v)[:40])
def test_readme_block_runs(kind: str, code: str, tmp_path: Path):
    env = dict(os.environ)
    env["TMPDIR"] = str(tmp_path)  # what a block leaves in the temp folder (SB3's logger
    # makes an SB3-<time> folder per learn()) goes with the test's own folder
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    if kind == "bash":
        cmd = ["bash", "-euo", "pipefail", "-c", code]
    else:
        cmd = [sys.executable, "-c", code]
    # the blocks run as from the repository root, but what they write (runs/...) goes to the
    # test's folder: every top-level entry but runs/ is linked there
    for entry in ROOT.iterdir():
        if entry.name not in ("runs", ".git"):
            (tmp_path / entry.name).symlink_to(entry)
    result = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=600)
    failure = f"README {kind} block failed:\n{code}\n---\n{result.stderr[-3000:]}"
    assert result.returncode == 0, failure
