"""``report/``'s record of the files ``duplexsim report`` wrote there (:data:`RECORD`): which
files a rerun may remove (:func:`report_files`), writing the record, and removing what a
failed report created (:func:`remove_created`). Moved here from
:mod:`duplexsim.metrics.report`, which writes the report itself. Must not remove a file
the record does not name with the bytes it holds.
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

from duplexsim.atomic import write_json
from duplexsim.config.readers import read_json
from duplexsim.digests import file_digest
from duplexsim.errors import InputError

__all__ = ["RECORD", "REPORT_FILES", "remove_created", "report_files", "write_record"]

REPORT_FILES = ("REPORT.md", "summary.csv")
"""What every report writes into ``report/``; its plots are the PNGs its REPORT.md links."""
RECORD = "report_files.json"
"""``report/``'s record of the files the report wrote there: ``{"files": {NAME: [SHA256,
...]}}``, each with the sha256 of the bytes written (two while a rerun moves its files in)."""
_LINKED_PNG = re.compile(r"^!\[.*\]\((.+\.png)\)$", re.MULTILINE)  # a line ![m](m_vs_x.png)
_SHA256 = re.compile(r"[0-9a-f]{64}")


def remove_created(folder: Path, existed: set[str] | None, written: dict[str, str]) -> None:
    """After a failed report, remove what it created in ``folder``, whose names were
    ``existed`` before it (None: no folder): the :data:`RECORD` and the files of ``written``
    (name: the sha256 written) it moved in under new names, then the folder it made. A
    brand-new ``report/`` was left half-built (its record, the plots moved before the
    failure); what was there before stays (an earlier report's files the record covers)."""
    before = existed or set()
    for name in [RECORD, *written]:
        if name not in before and (name == RECORD or file_digest(folder / name) == written[name]):
            with contextlib.suppress(OSError):
                (folder / name).unlink()
    if existed is None:
        with contextlib.suppress(OSError):  # not empty: something else was put there
            folder.rmdir()


def report_files(folder: Path) -> list[str]:
    """The files in ``folder`` that an earlier report wrote and that still hold the bytes
    it wrote, by its :data:`RECORD`. A rerun removes those it does not write again, and
    leaves anything else there alone: a user's notes, a plot of theirs (linked from an
    edited REPORT.md or not), a file of the report's that they changed or replaced (the
    whole folder was cleared: a user's notes beside the report were lost).
    A report made before reports kept the record has none: its files are
    :data:`REPORT_FILES` and the plots its REPORT.md links (a user's plot linked there goes
    too; plots of a report killed before its REPORT.md stay). The rerun writes the record."""
    record = _read_record(folder)
    if record is None:
        return _linked_files(folder)
    return [n for n, digests in record.items()
            if (folder / n).is_file() and file_digest(folder / n) in digests]


def _linked_files(folder: Path) -> list[str]:
    """:data:`REPORT_FILES` and the plots REPORT.md (written last: the report's marker)
    links, every one it drew: the files of a report made before its :data:`RECORD`."""
    try:
        text = (folder / "REPORT.md").read_text(encoding="utf-8", errors="replace")
    except OSError:  # no report there yet (or nothing readable by that name)
        text = ""
    plots = [n for n in _LINKED_PNG.findall(text) if _in_folder(n)]
    return [n for n in dict.fromkeys([*REPORT_FILES, *plots]) if (folder / n).is_file()]


def _in_folder(name: str) -> bool:
    """Is ``name`` a file's name in the folder (not a path to one elsewhere, nor hidden)?"""
    return bool(name) and not ({"/", "\\"} & set(name) or name.startswith("."))


def _read_record(folder: Path) -> dict[str, list[str]] | None:
    """The :data:`RECORD` in ``folder`` (None where there is none)."""
    path = folder / RECORD
    if not path.exists():
        return None
    files = read_json(path, what=f"report record {RECORD}").get("files")
    allowed = (f'{{"files": {{NAME: [SHA256, ...]}}}}, NAME a file in {folder}, as '
               "`duplexsim report` writes it; or no record: a rerun then removes the files "
               "REPORT.md links")
    if not isinstance(files, dict):
        raise InputError(str(path), "files", "missing or not an object", allowed)
    for name, digests in files.items():
        if not (_in_folder(name) and name != RECORD and isinstance(digests, list)
                and all(isinstance(d, str) and _SHA256.fullmatch(d) for d in digests)):
            raise InputError(str(path), f"files.{name!r}", "not a file name in the folder "
                             "with a list of sha256 digests", allowed)
    return files


def write_record(folder: Path, files: dict[str, set[str]]) -> None:
    """Write the :data:`RECORD` of ``files`` (name: the sha256 digests it may hold)."""
    write_json(folder / RECORD, {"files": {n: sorted(d) for n, d in files.items()}})
