"""Whole folders: :func:`replace_dir` swaps a finished folder, written under a temporary
name beside its target (``tempfile.mkdtemp(prefix=".NAME.")``), in for the old one, and
:func:`remove_stale_folders` removes the temporary folders a killed write left;
:func:`exclusive_run` holds a folder's lock for a run (a ``flock`` on the folder's own
descriptor, as :func:`duplexsim.atomic.output_dir` takes one on each staging folder). A
command's folder of outputs goes through :func:`~duplexsim.atomic.output_dir`. Moved here
from :mod:`duplexsim.atomic`, which still re-exports them.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import re
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

from duplexsim.errors import OutputError, os_problem

__all__ = ["exclusive_run", "remove_stale_folders", "replace_dir"]


def replace_dir(new: str | os.PathLike[str], target: str | os.PathLike[str]) -> None:
    """Move the finished folder ``new`` to ``target`` (the same file system), replacing a
    folder there: the old one stays whole until the new one is in place, then is removed.

    On Linux the two folders are swapped in one step (``renameat2(RENAME_EXCHANGE)``), so
    ``target`` is never missing; elsewhere (or on a file system without it) the old folder
    is renamed aside first, leaving a moment without ``target``."""
    new, target = Path(new), Path(target)
    if not target.exists():
        new.rename(target)
        return
    if _exchange(new, target):  # ``new`` now holds the old folder
        _remove_old(new)
        return
    old = target.with_name(f"{new.name}.old")
    target.rename(old)
    try:
        new.rename(target)
    except BaseException:  # the old folder back in place (aside, a rerun would remove it)
        old.rename(target)
        raise
    _remove_old(old)


def _remove_old(old: Path) -> None:
    """Remove what :func:`replace_dir` replaced: a symbolic link (a model folder linked from
    another disk) is replaced itself, and what it pointed to is left as it was."""
    if old.is_symlink() or not old.is_dir():
        old.unlink()
    else:
        shutil.rmtree(old)


_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def _exchange(a: Path, b: Path) -> bool:
    """Swap the paths ``a`` and ``b`` atomically; False where the system cannot."""
    if not sys.platform.startswith("linux"):
        return False
    renameat2 = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if renameat2 is None:  # glibc < 2.28, musl
        return False
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.EXDEV):  # kernel, file system
        return False
    raise OSError(err, os.strerror(err), str(a), None, str(b))


def remove_stale_folders(path: str | os.PathLike[str]) -> None:
    """Remove the temporary folders a folder write (``tempfile.mkdtemp(prefix=".NAME.")``
    then :func:`replace_dir`) left beside ``path`` when a process was killed mid-write (each
    a whole copy: a model's, for good)."""
    target = Path(path)
    if target.parent.is_dir():  # mkdtemp's names: 8 of [a-z0-9_]; replace_dir's: + ".old"
        ours = re.compile(re.escape(f".{target.name}.") + r"[a-z0-9_]{8}(\.old)?")
        for stale in target.parent.iterdir():
            if ours.fullmatch(stale.name) and stale.is_dir() and not stale.is_symlink():
                shutil.rmtree(stale, ignore_errors=True)


def _try_flock(fd: int) -> bool | None:
    """An exclusive, non-blocking ``flock`` on ``fd`` (released when it is closed or the
    process ends, killed or not): True when taken, False when another descriptor holds it,
    None where there are no locks (not POSIX, or a file system without them)."""
    try:
        import fcntl
    except ImportError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        return False if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES) else None
    return True


def _hold(folder: Path) -> int | None:
    """An open descriptor of ``folder`` with an exclusive ``flock`` on it (:func:`_try_flock`);
    None where the system has no ``flock`` or it is held (a live stage) or not to be had."""
    try:
        import fcntl  # noqa: F401
    except ImportError:  # not POSIX: dead stages are left, as before
        return None
    fd = os.open(folder, os.O_RDONLY)
    if _try_flock(fd):
        return fd
    os.close(fd)  # held by a live write, or a file system without locks: nothing to tell
    return None


@contextlib.contextmanager
def exclusive_run(folder: str | os.PathLike[str], key: str = "--out") -> Iterator[Path]:
    """Hold an exclusive ``flock`` on ``folder`` itself (made, with its parents, if absent)
    for the block: a second run on ``folder`` meanwhile is an :class:`OutputError` naming it,
    not two writers of one checkpoint. Released when the block ends, error or not, or the
    process does (killed or not). The folder's own descriptor is locked, so nothing is
    written into it (a lock file would be left in every agent folder, and by refused runs).
    Where the system or file system has no ``flock``, unlocked (:func:`_try_flock`, as
    :func:`_hold`). Yields the folder."""
    target = Path(folder)
    try:
        target.mkdir(parents=True, exist_ok=True)
        fd = os.open(target, os.O_RDONLY)
    except OSError as e:
        problem = os_problem(e)
        if problem is None:
            raise
        raise OutputError(problem) from None
    try:
        if _try_flock(fd) is False:
            raise OutputError(str(target), key, "another run is writing into it (it holds the "
                              "folder's lock)", "wait for that run to end, or another folder")
        yield target
    finally:
        os.close(fd)
