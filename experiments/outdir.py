"""The check every experiment script makes of its ``--out`` folder before any work.

Owns :func:`check_out`, shared by the scripts that write into a folder (imported by name,
as :mod:`provenance` is): the ``duplexsim`` commands' own checks
(:func:`~duplexsim.atomic.check_output_dir`, :func:`~duplexsim.atomic.check_not_foreign`),
worded for an experiment run.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from duplexsim.atomic import check_not_foreign, check_output_dir


def check_out(out: Path, outputs: Iterable[str], script: str) -> None:
    """Raise a one-line :class:`~duplexsim.errors.OutputError` unless ``out`` can be written
    and is new, empty, or holds one of ``outputs`` (the names ``script`` writes there: an
    earlier run's folder, to rerun or resume). A folder of other files (a home folder, a
    corpus, another experiment's results) would have this run's files mixed into it, and an
    earlier ``REPORT.md`` or ``summary.csv`` there replaced. Creates nothing."""
    check_output_dir(out)
    check_not_foreign(out, outputs, f"{script} run", "a new or empty folder, or the --out of "
                      f"an earlier {script} run")
