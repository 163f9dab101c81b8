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
                         r"--temperature 0\.8` \(commit (\w+)( with uncommitted changes "
                         r"to duplexsim/ or experiments/)?\)\.", line)
    assert match is not None, line
    assert match.group(1) == (head or "unknown")


def test_a_checkout_with_changed_code_says_so(tmp_path: Path) -> None:
    """The line of a run whose code is not its commit's says so (a copy of the helper in a
    throwaway repository: experiments/ and duplexsim/ as here)."""
    (tmp_path / "experiments").mkdir()
    (tmp_path / "duplexsim").mkdir()
    (tmp_path / "experiments" / "provenance.py").write_text(
        (ROOT / "experiments" / "provenance.py").read_text())
    (tmp_path / "duplexsim" / "code.py").write_text("x = 1\n")

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    def line() -> str:
        return subprocess.run([sys.executable, "-c", "import provenance; "
                               "print(provenance.provenance('s.py', ['--a']))"],
                              cwd=tmp_path / "experiments", capture_output=True, text=True,
                              check=True).stdout.strip()

    git("init", "-q")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "c")
    assert re.fullmatch(r"Command: `python experiments/s\.py --a` \(commit \w+\)\.", line())
    (tmp_path / "duplexsim" / "code.py").write_text("x = 2\n")
    assert line().endswith(" with uncommitted changes to duplexsim/ or experiments/).")
