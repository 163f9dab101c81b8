"""duplexsim.provenance: the line names the command and the checkout's commit, and says when
the code is not the commit's."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_a_checkout_with_changed_code_says_so(tmp_path: Path) -> None:
    """A copy of the module in a throwaway repository laid out as this one."""
    (tmp_path / "experiments").mkdir()
    (tmp_path / "duplexsim").mkdir()
    (tmp_path / "duplexsim" / "__init__.py").write_text("")
    (tmp_path / "duplexsim" / "provenance.py").write_text(
        (ROOT / "duplexsim" / "provenance.py").read_text())
    (tmp_path / "duplexsim" / "code.py").write_text("x = 1\n")

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    def line() -> str:
        return subprocess.run([sys.executable, "-c", "import duplexsim.provenance as p; "
                               "assert p.__file__.startswith('" + str(tmp_path) + "'); "
                               "print(p.provenance('duplexsim report', ['runs/my sweep']))"],
                              cwd=tmp_path, capture_output=True, text=True,
                              check=True).stdout.strip()

    assert line() == "Command: `duplexsim report 'runs/my sweep'` (commit unknown)."
    git("init", "-q")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "c")
    assert re.fullmatch(r"Command: `duplexsim report 'runs/my sweep'` \(commit \w+\)\.",
                        line())
    (tmp_path / "duplexsim" / "code.py").write_text("x = 2\n")
    changed = (" with uncommitted changes to duplexsim, experiments, agents, scenarios, "
               "pyproject.toml).")
    assert line().endswith(changed)
    git("checkout", "-q", "--", ".")
    assert not line().endswith(changed)
    (tmp_path / "experiments" / "new_study.py").write_text("print(1)\n")  # not committed
    assert line().endswith(changed)
    (tmp_path / "experiments" / "new_study.py").unlink()
    (tmp_path / "experiments" / "notes.txt").write_text("a scratch file\n")  # not code
    assert not line().endswith(changed)


def test_provenance_names_the_command_and_the_commit() -> None:
    sys.path.insert(0, str(ROOT / "experiments"))  # the scripts import it by name
    from provenance import provenance

    line = provenance("selfplay.py", ["--out", "runs/x", "--temperature", "0.8"])
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True, cwd=ROOT).stdout.strip()
    match = re.fullmatch(r"Command: `python experiments/selfplay\.py --out runs/x "
                         r"--temperature 0\.8` \(commit (\w+)( with uncommitted changes "
                         r"to [\w.]+(, [\w.]+)*)?\)\.", line)
    assert match is not None, line
    assert match.group(1) == (head or "unknown")


def test_a_copy_installed_inside_another_repository_names_no_commit(tmp_path: Path) -> None:
    """An installed copy (site-packages in a project's ignored .venv) is not that project's
    checkout: its commit would be the project's, not the code's."""
    site = tmp_path / ".venv" / "site"
    (site / "duplexsim").mkdir(parents=True)
    (site / "duplexsim" / "__init__.py").write_text("")
    (site / "duplexsim" / "provenance.py").write_text(
        (ROOT / "duplexsim" / "provenance.py").read_text())
    (tmp_path / ".gitignore").write_text(".venv/\n")
    for args in (["init", "-q"], ["add", "."],
                 ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "c"]):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)
    out = subprocess.run([sys.executable, "-c", "import duplexsim.provenance as p; "
                          "assert p.__file__.startswith('" + str(site) + "'); print(p.commit())"],
                         cwd=site, capture_output=True, text=True, check=True).stdout.strip()
    assert out == "unknown"
