"""The renames behind :func:`duplexsim.atomic.output_dir`: a staging folder's files moved
into their folder together, with what they replace or remove moved aside first, and moved
back when a move fails; and :func:`sync`, the flush to disk before and after a rename that
:func:`~duplexsim.atomic.atomic_path` takes too. Moved here from :mod:`duplexsim.atomic`,
the only module that calls them.
"""

from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path


def sync(path: Path) -> None:
    """Flush ``path`` (a file, or a folder's entries after a rename) to the disk, so a crash
    or power loss after a rename cannot leave the new name on empty or missing bytes. A
    folder that cannot be opened for it (Windows) or synced (some network file systems)
    is skipped: the rename itself is still atomic there."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        if path.is_dir():
            return
        raise
    try:
        os.fsync(fd)
    except OSError as e:
        if not path.is_dir() or e.errno not in (errno.EINVAL, errno.EBADF, errno.ENOTSUP):
            raise
    finally:
        os.close(fd)


def move_in(stage: Path, target: Path, written: list[Path], backup: Path,
             removed: set[str], last: set[str]) -> None:
    """Move the ``written`` files from ``stage`` into ``target`` (those named in ``last``
    after the rest), the ``removed`` names out of it. What they replace or remove is moved
    into ``backup`` first, and the folders of ``written`` already in ``target`` are made
    there (empty), for :func:`roll_back`."""
    for name in sorted(removed | {str(p) for p in written}):
        old = target / name
        if os.path.lexists(old) and (old.is_symlink() or not old.is_dir()):
            (backup / name).parent.mkdir(parents=True, exist_ok=True)
            os.replace(old, backup / name)
    for folder in _folders(written):
        if (target / folder).is_dir():
            (backup / folder).mkdir(parents=True, exist_ok=True)
    for name in removed:  # moved aside: gone; a folder by that name is refused, as ever
        (target / name).unlink(missing_ok=True)
    for rel in written:
        sync(stage / rel)
    folders = {target} | {target / d for d in _folders(written)}
    for markers in (False, True):  # markers last, once everything else is on disk
        for rel in written:
            if (str(rel) in last) == markers:
                (target / rel).parent.mkdir(parents=True, exist_ok=True)
                os.replace(stage / rel, target / rel)
        for folder in sorted(folders):
            sync(folder)


def roll_back(stage: Path, target: Path, written: list[Path], backup: Path) -> bool:
    """Undo a failed :func:`move_in` from where the files lie now: the ``written`` files
    no longer in ``stage`` were moved into ``target`` and go, the files in ``backup`` go
    back, and the folders made for ``written`` (not in ``backup``) go where empty. False
    when a file could not be put back (it stays in ``backup``)."""
    saved = {p.relative_to(backup) for p in backup.rglob("*")
             if p.is_symlink() or not p.is_dir()}
    for rel in written:
        if rel not in saved and not os.path.lexists(stage / rel):
            with contextlib.suppress(OSError):
                (target / rel).unlink()
    restored = True
    for rel in sorted(saved):  # over the new file of that name: never a moment without one
        try:
            os.replace(backup / rel, target / rel)
        except OSError:
            restored = False
    for folder in sorted(_folders(written), reverse=True):  # deepest first
        if not (backup / folder).is_dir():
            with contextlib.suppress(OSError):  # not empty: something else was put there
                (target / folder).rmdir()
    return restored


def _folders(written: list[Path]) -> set[Path]:
    """The folders (relative, ``.`` aside) that the files ``written`` lie in."""
    return {d for rel in written for d in rel.parents if d != Path(".")}
