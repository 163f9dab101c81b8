"""experiments/provenance.py: the report line names the command and the checkout's commit."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_provenance_names_the_command_and_the_commit() -> None:
    sys.path.insert(0, str(ROOT / "experiments"))
    from provenance import provenance

    line = provenance("selfplay.py", ["--out", "runs/x", "--temperature", "0.8"])
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True, cwd=ROOT).stdout.strip()
    match = re.fullmatch(r"Command: `python experiments/selfplay\.py --out runs/x "
                         r"--temperature 0\.8` \(commit (\w+)\)\.", line)
    assert match is not None, line
    assert match.group(1) == (head or "unknown")
