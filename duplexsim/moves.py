"""The renames behind :func:`duplexsim.atomic.output_dir`: a staging folder's files moved
into their folder together, with what they replace or remove moved aside first, and moved
back when a move fails (:func:`prepare` records, before anything moves, which folders
``out`` held and which files this call brings, so :func:`roll_back` undoes only this call's
doing: :class:`Moves`); and :func:`sync`, the flush to disk before and after a rename that
:func:`~duplexsim.atomic.atomic_path` takes too. Moved here from :mod:`duplexsim.atomic`,
the only module that calls them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import os
import tempfile
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


@dataclasses.dataclass(frozen=True)
class Moves:
    """One :func:`move_in`: the ``written`` files (relative) from ``stage`` into ``target``,
    what they replace moved aside into ``backup``; and, taken before anything moved, what
    :func:`roll_back` needs to undo only this call's doing: the ``folders`` of ``written``
    that ``target`` already held (an empty one of the user's is theirs), and the identity
    ``(st_dev, st_ino)`` of each written file, which ``os.replace`` keeps (a file in
    ``target`` with it is this call's; one without, another write's)."""

    stage: Path
    target: Path
    written: list[Path]
    backup: Path
    folders: frozenset[Path]
    ids: dict[Path, tuple[int, int]]


def prepare(stage: Path, target: Path) -> Moves:
    """The :class:`Moves` of the files in ``stage`` into ``target``, with an empty backup
    folder made in ``stage``; nothing in ``target`` is touched."""
    written = sorted(p.relative_to(stage) for p in stage.rglob("*") if p.is_file())
    folders = frozenset(d for d in _folders(written) if (target / d).is_dir())
    ids = {rel: _identity(stage / rel) for rel in written}
    backup = Path(tempfile.mkdtemp(prefix=".backup-", dir=stage))
    return Moves(stage, target, written, backup, folders, ids)


def move_in(moves: Moves, removed: set[str], last: set[str]) -> None:
    """Move the written files of ``moves`` into its target (those named in ``last`` after the
    rest), the ``removed`` names out of it. What they replace or remove is moved into the
    backup folder first, for :func:`roll_back`."""
    stage, target, written, backup = moves.stage, moves.target, moves.written, moves.backup
    for name in sorted(removed | {str(p) for p in written}):
        old = target / name
        if os.path.lexists(old) and (old.is_symlink() or not old.is_dir()):
            (backup / name).parent.mkdir(parents=True, exist_ok=True)
            os.replace(old, backup / name)
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


def roll_back(moves: Moves) -> bool:
    """Undo a failed :func:`move_in` from where the files lie now, touching only what is
    still this call's (another write into the target may have finished meanwhile): the files
    in the backup folder go back where the target has no file of their name or this call's,
    the files this call moved in and still there go, and the folders it made for them go
    where empty. False when an old file was not put back (it stays in the backup folder):
    the disk failed, or another write has put its own file of that name there since."""
    target, backup = moves.target, moves.backup
    saved = {p.relative_to(backup) for p in backup.rglob("*") if p.is_symlink() or not p.is_dir()}
    restored = True
    for rel in sorted(saved):  # over the new file of that name: never a moment without one
        try:
            if os.path.lexists(target / rel) and not _ours(moves, rel):
                restored = False  # another write's newer file: it stays, the old one is kept
                continue
            os.replace(backup / rel, target / rel)
        except OSError:
            restored = False
    for rel in moves.written:  # (put back over: no longer this call's)
        if _ours(moves, rel):
            with contextlib.suppress(OSError):
                (target / rel).unlink()
    for folder in sorted(_folders(moves.written) - moves.folders, reverse=True):  # deepest
        with contextlib.suppress(OSError):  # not empty: something else was put there
            (target / folder).rmdir()
    return restored


def _identity(path: Path) -> tuple[int, int]:
    """``path``'s (a link's own, not its target's) device and inode."""
    st = os.lstat(path)
    return st.st_dev, st.st_ino


def _ours(moves: Moves, rel: Path) -> bool:
    """Is the file at ``rel`` in the target the one this call moved there?"""
    try:
        return _identity(moves.target / rel) == moves.ids.get(rel)
    except OSError:  # not there (or no longer reachable)
        return False


def _folders(written: list[Path]) -> set[Path]:
    """The folders (relative, ``.`` aside) that the files ``written`` lie in."""
    return {d for rel in written for d in rel.parents if d != Path(".")}
