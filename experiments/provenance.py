"""The line every report in docs/results starts with: the command and commit that made it.

Owns :func:`provenance`, shared by the experiment scripts (imported by name: the scripts
run as ``python experiments/NAME.py``, so this folder is on ``sys.path``).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def provenance(script: str, argv: list[str] | None) -> str:
    """``Command: `python experiments/SCRIPT ARGS` (commit C).`` for the report of ``script``
    run with ``argv`` (None: this process's own arguments); ``unknown`` outside a git
    checkout; the commit is followed by "with uncommitted changes ..." when the code in the
    checkout is not the commit's. Call it when the run starts: the code that runs is the
    code of that moment."""
    args = sys.argv[1:] if argv is None else argv
    here = Path(__file__).parent
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, cwd=here).stdout.strip()
        changed = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no",
                                  "--", "duplexsim", "experiments"], capture_output=True,
                                 text=True, cwd=here.parent).stdout.strip()
    except OSError:  # no git on the machine
        commit, changed = "", ""
    commit = commit or "unknown"
    if changed and commit != "unknown":
        commit += " with uncommitted changes to duplexsim/ or experiments/"
    return f"Command: `python experiments/{script} {' '.join(args)}` (commit {commit})."


def stamp(markdown: Path, line: str) -> None:
    """Put ``line`` (a :func:`provenance` line) under the title of the report ``markdown``
    (rewritten atomically)."""
    from duplexsim.atomic import write_text

    title, _, rest = markdown.read_text().partition("\n")
    write_text(markdown, f"{title}\n\n{line}\n{rest}")
