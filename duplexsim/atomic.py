"""Atomic file writes: nothing a user produced is ever half-written.

Every writer in duplexsim goes through :func:`atomic_path`: it hands out a temporary
name in the destination folder and renames it over the target only on success.
A command that writes a folder of outputs at once (a simulation's trace, a continuation,
a unit tokenizer) writes them through :func:`output_dir`: into a staging folder first,
moved in together on success, stale outputs of an earlier run removed, nothing left on
failure. :func:`check_output_dir` checks a folder is writable before any work starts.
Whole folders swapped in (a model's) and a run's folder lock: :mod:`duplexsim.folders`;
the renames of :func:`output_dir` (and their rollback) and the flush to disk:
:mod:`duplexsim.moves`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import json
import math
import os
import re
import shutil
import tempfile
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from duplexsim.errors import (
    DuplexsimError,
    OutputError,
    Problem,
    os_problem,
    with_note,
    write_failure,
)
from duplexsim.folders import _hold, exclusive_run, remove_stale_folders, replace_dir
from duplexsim.moves import Moves, move_in, prepare, roll_back, sync

# replace_dir, remove_stale_folders and exclusive_run moved to folders.py (with _hold, the
# folder lock a staging folder is held by): importable from here as before
__all__ = ["atomic_path", "check_not_foreign", "check_output_dir", "exclusive_run",
           "is_staging_name", "json_text", "output_dir", "remove_stale_folders",
           "remove_stale_temporaries", "replace_dir", "usual_modes", "write_json", "write_png",
           "write_text"]


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it to ``path`` if the block succeeds.

    ``suffix`` keeps the extension for writers that pick a format from it (soundfile).
    """
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(
            prefix=f".{target.name}.",
            suffix=suffix if suffix is not None else target.suffix + ".tmp", dir=target.parent,
        )
    except OSError as e:  # name the file asked for, not a folder on its way or the temporary
        if isinstance(e, FileExistsError | NotADirectoryError):  # a file where a folder goes
            raise OutputError(str(target), "", "a part of the path is a file, not a folder",
                              "a path through folders") from e
        known = os_problem(e)
        if known is None:
            raise
        raise OutputError(str(target), "", known.message, known.allowed) from e
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if tmp_path.exists():  # mkstemp makes 0600 files: give them the usual umask-based mode
            os.chmod(tmp_path, 0o666 & ~_umask())
            sync(tmp_path)  # the bytes reach the disk before the name does
        os.replace(tmp_path, target)
        sync(target.parent)
    except BaseException as e:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        failure = write_failure(e, target, tmp_path)  # a full disk: one line, not a trace
        if failure is not None:
            raise failure from e
        raise


def remove_stale_temporaries(path: str | os.PathLike[str]) -> None:
    """Remove the temporary files :func:`atomic_path` (with its default suffix) left beside
    ``path`` when a process was killed mid-write (each the size of the file: a checkpoint's,
    for good)."""
    target = Path(path)
    if target.parent.is_dir():
        for stale in target.parent.glob(f".{target.name}.*.tmp"):
            stale.unlink(missing_ok=True)


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except OSError:  # e.g. permission denied on a parent: treat as not there, the probe tells
        return False


def _missing_dirs(path: Path) -> list[Path]:
    """``path`` and its parents that do not exist yet, deepest first."""
    missing = []
    while not _exists(path) and path != path.parent:
        missing.append(path)
        path = path.parent
    return missing


def check_output_dir(path: str | os.PathLike[str], key: str = "--out") -> None:
    """Raise :class:`~duplexsim.errors.OutputError` unless ``path`` is a folder that can be
    written into, or can be created as one. Creates nothing: a probe file is made and removed
    in the nearest existing folder. ``key`` names the flag or setting in the message."""
    target = Path(path)
    if _exists(target) and not target.is_dir():
        raise OutputError(str(target), key, "is a file, not a folder",
                          "a folder path; missing folders are created")
    missing = _missing_dirs(target)
    existing = missing[-1].parent if missing else target
    if not existing.is_dir():
        raise OutputError(str(existing), key, "is a file, not a folder",
                          "a path through folders")
    try:
        fd, probe = tempfile.mkstemp(prefix=".duplexsim-probe-", dir=existing)
    except OSError as e:
        # the folder is there: "not found" is a file system that makes no files (/proc)
        known = os_problem(e) if e.errno != errno.ENOENT else None
        reason = (f"{known.message} in {existing}" if known else
                  f"{existing} takes no new files" if e.errno == errno.ENOENT else
                  f"{e.strerror or e} in {existing}")
        raise OutputError(str(target), key, f"cannot be written ({reason})",
                          known.allowed if known else "a folder on a file system you may "
                          "write to; missing folders are created") from None
    os.close(fd)
    os.unlink(probe)


def check_not_foreign(out: str | os.PathLike[str], outputs: Iterable[str], what: str,
                      allowed: str, key: str = "--out",
                      inputs: Iterable[str | os.PathLike[str]] = ()) -> None:
    """Raise :class:`~duplexsim.errors.OutputError` when ``out`` holds files (hidden ones
    aside) but none of the names in ``outputs`` (what the command writes there): a parent
    folder (``runs/agents`` for ``runs/agents/fisher``), another command's results, a home
    folder. ``what`` (an agent, a corpus) would be mixed into them. An empty folder in
    ``out`` is nothing to mix into (``--out sub/..`` needs ``sub/``), and neither are the
    files named in ``inputs`` (the command's own configuration, e.g. a sweep file and its base
    scenario kept in the folder the sweep writes to); they do not make it the command's
    folder either."""
    here = Path(out).resolve()
    own = {p.name for p in (Path(i).resolve() for i in inputs) if p.parent == here}
    try:
        names = [p.name for p in Path(out).iterdir()
                 if not p.name.startswith(".") and not _empty_dir(p) and p.name not in own]
    except OSError:  # made anew; a file there, or no access, is check_output_dir's to report
        return
    if names and not set(outputs) & set(names):
        shown = ", ".join(sorted(names)[:3]) + (", ..." if len(names) > 3 else "")
        raise OutputError(str(out), key, f"holds other files ({shown}) and no {what}: the "
                          f"{what}'s files would be mixed into them", allowed)


def _empty_dir(path: Path) -> bool:
    """Is ``path`` a folder (not a link to one) with nothing in it?"""
    if path.is_symlink() or not path.is_dir():
        return False
    try:
        with os.scandir(path) as entries:
            return next(entries, None) is None
    except OSError:  # unreadable: it may hold anything
        return False


@contextlib.contextmanager
def output_dir(out: str | os.PathLike[str], *, owned: Iterable[str] = (),
               last: Iterable[str] = ()) -> Iterator[Path]:
    """Yield an empty staging folder; on success its files are moved into ``out`` together.

    A run's folder holds only that run's outputs: every file named in ``owned`` that this
    run did not write is removed from ``out`` (e.g. the ``audio.wav`` of an earlier run,
    when this one writes none). Files named in ``last`` (a completion marker such as
    ``summary.json``) are removed first and moved in last. The staging folder lies inside
    ``out`` (same file system: the moves are renames). Files in ``out`` neither written nor
    named in ``owned`` stay (a user's notes beside the outputs).

    On failure (an exception, Ctrl-C) ``out`` is left as it was, also among the moves: the
    files to be replaced or removed are first moved aside into a ``.backup-*`` folder in the
    staging folder; a failure moves the new files out and those back, and removes the
    folders this call created (not an empty one that was there). Only what is still this
    call's is undone: a file that another write into ``out`` (e.g. a second ``simulate``)
    has put there since stays, and an old file of that name is then kept in the backup
    folder rather than put back over it. A kill (SIGKILL, a power cut) among the moves runs
    none of this: ``out`` then holds some new files, not yet those of ``last`` (moved in
    last), and misses the old files moved aside, which stay in ``.staging-*/.backup-*/`` (as
    do any not restored after a failure, e.g. the disk went away: the one-line error, or for
    Ctrl-C a warning, names that folder). The next ``output_dir`` into ``out`` removes that
    dead staging folder with them: there is no automatic restore after a kill (the stage
    does not record which files had been moved in); copy them back by hand before rerunning.
    """
    target = Path(out)
    created = _missing_dirs(target)
    target.mkdir(parents=True, exist_ok=True)
    _remove_dead_stages(target)
    stage = Path(tempfile.mkdtemp(prefix=".staging-", dir=target))
    hold = _hold(stage)  # while held, no other write into ``out`` takes it for a dead one's
    last = set(last)
    moves: Moves | None = None  # once the stage holds all it will
    try:
        yield stage
        moves = prepare(stage, target)
        removed = last | (set(owned) - {str(p) for p in moves.written})
        move_in(moves, removed, last)
    except BaseException as e:
        kept = None if moves is None or roll_back(moves) else moves.backup
        if kept is None:
            shutil.rmtree(stage, ignore_errors=True)
        for folder in created:  # deepest first; stops at one that is not empty
            try:
                folder.rmdir()
            except OSError:
                break
        failure = _failure(e, stage, target)
        if kept is not None:  # the user's only copy of old files: say where it is
            failure = _kept(e, failure, kept, target)
        if failure is not None:
            raise failure from e
        raise
    finally:
        if hold is not None:
            os.close(hold)
    shutil.rmtree(stage, ignore_errors=True)


def _failure(e: BaseException, stage: Path, target: Path) -> DuplexsimError | None:
    """``e``, raised by an :func:`output_dir` write, as the one-line error to raise instead,
    naming the file in ``target`` the user asked for rather than the staged one; None to
    raise ``e`` as it is."""
    if isinstance(e, OutputError):
        return OutputError([_unstaged(p, stage, target) for p in e.problems])
    fname = getattr(e, "filename", None)
    inside = fname is None or Path(os.fspath(fname)).is_relative_to(stage)
    if isinstance(e, DuplexsimError) or not inside:
        return None
    return write_failure(
        e, target if fname is None else target / Path(os.fspath(fname)).relative_to(stage),
        fname)


def _kept(e: BaseException, failure: DuplexsimError | None, kept: Path,
          target: Path) -> DuplexsimError | None:
    """``failure`` (or ``e``), with where a failed :func:`output_dir` kept the old files it
    could not put back, ``kept``; that is a warning where the error is not a one-line one
    (Ctrl-C, a bug's traceback)."""
    note = (f"old files not put back are kept in {kept}: copy them back by hand before "
            f"writing into {target} again, which removes them")
    if failure is None and isinstance(e, OSError) and e.filename is not None:
        failure = write_failure(e, os.fspath(e.filename))  # about a file in ``target``
    if failure is None and isinstance(e, DuplexsimError):
        failure = e
    if failure is None:
        # (from output_dir, in duplexsim: one line under a command, not a source line)
        warnings.warn(f"writing into {target} failed; {note}", stacklevel=2)
        return None
    return with_note(failure, note)


_STAGE = re.compile(r"\.staging-[a-z0-9_]{8}")


def is_staging_name(name: str) -> bool:
    """Is ``name`` that of an :func:`output_dir` staging folder (a live write's, or one a
    killed process left)?"""
    return _STAGE.fullmatch(name) is not None


def _remove_dead_stages(target: Path) -> None:
    """Remove the staging folders in ``target`` of :func:`output_dir` calls whose process
    was killed (SIGKILL, a power cut) before it could remove them: each holds a run's
    partial outputs (a trace's audio) under a hidden name. A stage still locked belongs to
    a live write and is left alone."""
    for stage in target.iterdir():
        if not is_staging_name(stage.name) or stage.is_symlink() or not stage.is_dir():
            continue
        fd = _hold(stage)
        if fd is None:
            continue
        try:
            shutil.rmtree(stage, ignore_errors=True)
        finally:
            os.close(fd)


def usual_modes(folder: str | os.PathLike[str]) -> None:
    """Give ``folder`` (made by ``mkdtemp``: 0700) and everything in it the umask-based modes
    of a folder and files made the usual way, so others can read what a user shares."""
    mask = _umask()
    root = Path(folder)
    for path in [root, *root.rglob("*")]:
        os.chmod(path, (0o777 if path.is_dir() else 0o666) & ~mask)


def _unstaged(problem: Problem, stage: Path, target: Path) -> Problem:
    """``problem`` naming the file in ``target`` where it names one in the staging folder."""
    if Path(problem.file).is_relative_to(stage):
        return dataclasses.replace(problem, file=str(target / Path(problem.file).relative_to(
            stage)))
    return problem


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` atomically (UTF-8)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Write ``obj`` as indented, key-sorted, strict JSON atomically (stable bytes for same
    input): numpy values as numbers and lists, NaN and infinities as ``null`` (``NaN`` is
    not JSON: strict parsers, ``jq`` and browsers refuse the file)."""
    write_text(path, json_text(obj) + "\n")


def json_text(obj: Any) -> str:
    """``obj`` as :func:`write_json` writes it (strict JSON: NaN as ``null``), for a
    command that prints JSON."""
    return json.dumps(_strict(obj), indent=2, sort_keys=True, default=_json_default,
                      allow_nan=False)


def _strict(obj: Any) -> Any:
    """``obj`` with every non-finite float (Python or numpy, in arrays too) as None."""
    import numpy as np

    if isinstance(obj, float | np.floating):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _strict(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_strict(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _strict(obj.tolist())
    return obj


def write_png(fig: Any, path: str | os.PathLike[str], dpi: int = 110,
              layout: bool = True, caption: str | None = None) -> None:
    """Save the matplotlib figure ``fig`` as a PNG at ``path`` atomically and close it
    (``layout``: ``tight_layout`` first; else the saved box is cropped to its contents).
    ``caption`` (e.g. the command and commit that made it) goes under the plot in small
    print and into the PNG's Description."""
    import textwrap

    import matplotlib.pyplot as plt

    strip = 0.0
    if caption:
        lines = textwrap.wrap(caption, 150)
        strip = min(0.25, 0.025 * len(lines) * 6.4 / fig.get_figheight())
        fig.text(0.005, 0.004, "\n".join(lines), fontsize=5.5, va="bottom", ha="left",
                 color="0.35")
    if layout:
        fig.tight_layout(rect=(0, strip, 1, 1))
    with atomic_path(path) as tmp:  # format named: the default ".png.tmp" suffix does
        # (remove_stale_temporaries finds what a kill mid-write left)
        fig.savefig(tmp, format="png", dpi=dpi, bbox_inches=None if layout else "tight",
                    metadata={"Description": caption} if caption else None)
    plt.close(fig)


def _json_default(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.integer):  # floats and arrays: _strict has made them lists/floats
        return int(obj)
    if isinstance(obj, np.bool_):  # (a metric `x > y` of numpy values, a sweep cell's row)
        return bool(obj)
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
