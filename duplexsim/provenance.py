"""The line every report and figure carries: the command and commit that made it.

Owns :func:`commit` (this checkout's commit, flagged when the code differs from it) and
:func:`provenance` (``Command: `...` (commit C).``), used by ``duplexsim report`` and, through
``experiments/provenance.py``, by the experiment scripts. Must not import heavy modules.
"""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

_ROOT = Path(__file__).resolve().parent.parent


CODE = ("duplexsim", "experiments", "agents", "scenarios", "pyproject.toml")
"""What makes a result besides its inputs: the package, the studies, the shipped cards and
scenarios, the pinned dependencies."""


def commit() -> str:
    """The short commit of the checkout this package runs from; ``unknown`` outside a git
    checkout (an installed wheel) or without git; followed by "with uncommitted changes"
    (naming where) when :data:`CODE` is not the commit's: a changed file, or a new ``.py`` or
    ``.toml`` one. Call it when a run starts: the code that runs is the code of that
    moment."""
    try:
        # the checkout must be this package's own: an installed copy (site-packages) inside
        # some other repository (a project's .venv) would otherwise name that one's commit
        lines = subprocess.run(["git", "rev-parse", "--show-toplevel", "--short", "HEAD"],
                               capture_output=True, text=True, cwd=_ROOT).stdout.splitlines()
        found = lines[1].strip() if len(lines) == 2 and _same(lines[0], _ROOT) else ""
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all",
                                 "--", *CODE], capture_output=True, text=True,
                                cwd=_ROOT).stdout.splitlines() if found else []
    except OSError:  # no git on the machine
        return "unknown"
    if not found:
        return "unknown"
    changed = [line for line in status if not line.startswith("??")
               or line.rstrip().endswith((".py", ".toml"))]
    return f"{found} with uncommitted changes to {', '.join(CODE)}" if changed else found


def _same(path: str, root: Path) -> bool:
    try:
        return Path(path).resolve() == root
    except (OSError, RuntimeError):
        return False


def provenance(program: str, args: list[str]) -> str:
    """``Command: `PROGRAM ARGS` (commit C).``: ``program`` as the user types it (e.g.
    ``duplexsim report``, ``python experiments/pairing.py``)."""
    return f"Command: `{' '.join([program, *(shlex.quote(a) for a in args)])}` " \
           f"(commit {commit()})."
