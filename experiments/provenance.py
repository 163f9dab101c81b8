"""The line every report in docs/results starts with: the command and commit that made it.

Owns :func:`provenance`, shared by the experiment scripts (imported by name: the scripts
run as ``python experiments/NAME.py``, so this folder is on ``sys.path``).
"""

from __future__ import annotations

import sys

from duplexsim.provenance import provenance as _provenance


def provenance(script: str, argv: list[str] | None) -> str:
    """``Command: `python experiments/SCRIPT ARGS` (commit C).`` for the report of ``script``
    run with ``argv`` (None: this process's own arguments); ``unknown`` outside a git
    checkout; the commit is followed by "with uncommitted changes ..." when the code in the
    checkout is not the commit's (:func:`duplexsim.provenance.commit`). Call it when the run
    starts: the code that runs is the code of that moment."""
    return _provenance(f"python experiments/{script}", sys.argv[1:] if argv is None else argv)

