"""Atomic writes: all or nothing, with ordinary file permissions."""

from __future__ import annotations

import os
import stat
import sys
import warnings

import pytest

from duplexsim import atomic
from duplexsim.atomic import atomic_path, write_json, write_png
from duplexsim.errors import OutputError


def test_failed_write_leaves_old_file_and_no_temp(tmp_path):
    target = tmp_path / "a.json"
    write_json(target, {"x": 1})
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("interrupted")
    assert target.read_text().strip().startswith("{")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]


def test_written_file_is_readable_by_others(tmp_path):
    old = os.umask(0o022)
    try:
        write_json(tmp_path / "b.json", [1, 2])
    finally:
        os.umask(old)
    mode = stat.S_IMODE((tmp_path / "b.json").stat().st_mode)
    assert mode == 0o644


@pytest.mark.parametrize("layout", [True, False])
def test_write_png_saves_a_png_closes_the_figure_and_leaves_no_temp(tmp_path, layout):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    write_png(fig, tmp_path / "sub" / "f.png", layout=layout)
    assert (tmp_path / "sub" / "f.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert os.listdir(tmp_path / "sub") == ["f.png"]
    assert not plt.fignum_exists(fig.number)


def test_json_is_strict_with_null_for_what_is_not_a_number(tmp_path):
    """NaN is not JSON: metrics.json held `NaN` tokens a strict parser refuses."""
    import json

    import numpy as np

    write_json(tmp_path / "m.json", {"fto": float("nan"), "gap": np.float64(np.inf),
                                     "rows": [1.5, np.array([np.nan, 2.0]), (np.float32(3),)],
                                     "n": np.int64(4), "ok": np.bool_(True)})
    text = (tmp_path / "m.json").read_text()
    assert "NaN" not in text and "Infinity" not in text

    def refuse(name: str) -> None:
        raise ValueError(name)

    assert json.loads(text, parse_constant=refuse) == {
        "fto": None, "gap": None, "rows": [1.5, [None, 2.0], [3.0]], "n": 4, "ok": True}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/fd")
def test_bytes_and_names_are_flushed_to_disk_before_and_after_each_rename(tmp_path, monkeypatch):
    events = []
    fsync, replace = os.fsync, os.replace

    def logged_fsync(fd):
        events.append(("fsync", os.path.basename(os.readlink(f"/proc/self/fd/{fd}"))))
        fsync(fd)

    def logged_replace(src, dst):
        events.append(("replace", os.path.basename(dst)))
        replace(src, dst)

    monkeypatch.setattr(os, "fsync", logged_fsync)
    monkeypatch.setattr(os, "replace", logged_replace)
    with atomic_path(tmp_path / "a.txt") as tmp:
        tmp.write_text("a")
    synced_tmp, renamed, synced_dir = events
    assert synced_tmp[0] == "fsync" and synced_tmp[1].startswith(".a.txt.")  # the bytes first
    assert renamed == ("replace", "a.txt")
    assert synced_dir == ("fsync", tmp_path.name)  # then the folder's new entry

    events.clear()
    out = tmp_path / "run"
    with atomic.output_dir(out, last=["summary.json"]) as stage:
        (stage / "sub").mkdir()
        (stage / "sub" / "trace.parquet").write_text("t")
        (stage / "summary.json").write_text("{}")
    assert sorted(events[:2]) == [("fsync", "summary.json"), ("fsync", "trace.parquet")]
    moved = [name for kind, name in events if kind == "replace"]
    assert moved == ["trace.parquet", "summary.json"]
    between = events[events.index(("replace", "trace.parquet")):
                     events.index(("replace", "summary.json"))]
    assert ("fsync", "sub") in between and ("fsync", "run") in between  # marker after the rest
    assert events[-1][0] == "fsync"


def test_an_output_folder_that_cannot_be_written_says_so(tmp_path):
    """--out /proc/x said "not found (allowed: an existing path)": /proc is there, it makes
    no files. Each unwritable path now says it cannot be written, in one line."""
    from duplexsim.errors import OutputError

    def problem(path) -> str:
        with pytest.raises(OutputError) as info:
            atomic.check_output_dir(path)
        text = str(info.value)
        assert "\n" not in text
        return text

    if os.path.isdir("/proc/self"):
        for path in ("/proc/x", "/proc/x/y", "/proc"):
            assert problem(path) == (f"{path}: --out: cannot be written (/proc takes no new "
                                     "files) (allowed: a folder on a file system you may "
                                     "write to; missing folders are created)")
    a_file = tmp_path / "a_file"
    a_file.write_text("")
    assert problem(a_file / "x") == (f"{a_file}: --out: is a file, not a folder (allowed: a "
                                     "path through folders)")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        if os.access(locked, os.W_OK):  # root writes anyway
            atomic.check_output_dir(locked / "x" / "y")
        else:
            assert problem(locked / "x" / "y") == (
                f"{locked / 'x' / 'y'}: --out: cannot be written (permission denied in "
                f"{locked}) (allowed: a path you may read and write)")
    finally:
        locked.chmod(0o755)
    atomic.check_output_dir(tmp_path / "new" / "out")
    assert not (tmp_path / "new").exists()  # creates nothing


def test_a_write_that_cannot_start_names_the_file_asked_for(tmp_path, monkeypatch):
    """A file where a folder of the path goes, or a folder that takes no new files: one line
    naming the target, not "already exists" or the temporary's name."""
    import errno
    import tempfile

    from duplexsim.errors import OutputError

    (tmp_path / "file").write_text("x")
    for target in (tmp_path / "file" / "out.json", tmp_path / "file" / "sub" / "out.json"):
        with pytest.raises(OutputError) as e:
            atomic.write_text(target, "{}")
        assert str(e.value) == (f"{target}: a part of the path is a file, not a folder "
                                "(allowed: a path through folders)")

    def denied(prefix, suffix, dir):  # noqa: A002 (as tempfile names it)
        raise PermissionError(errno.EACCES, "Permission denied",
                              f"{dir}/{prefix}k2j3x9{suffix}")

    monkeypatch.setattr(tempfile, "mkstemp", denied)
    with pytest.raises(OutputError) as e:
        atomic.write_text(tmp_path / "out.json", "{}")
    assert str(e.value).startswith(f"{tmp_path / 'out.json'}: permission denied")


def test_a_killed_writes_staging_folder_goes_at_the_next_write_a_live_one_stays(tmp_path):
    """A process killed inside ``output_dir`` (SIGKILL: no cleanup ran) leaves its hidden
    ``.staging-*`` folder with partial outputs; the next write into that folder removes it,
    but never the stage of a write still running (held by its lock)."""
    import subprocess
    import textwrap

    out = tmp_path / "run"
    code = textwrap.dedent(f"""
        import os, signal
        from duplexsim.atomic import output_dir
        with output_dir({str(out)!r}) as stage:
            (stage / "audio.wav").write_bytes(b"partial")
            os.kill(os.getpid(), signal.SIGKILL)
    """)
    assert subprocess.run([sys.executable, "-c", code]).returncode == -9
    (dead,) = [p for p in out.iterdir() if p.name.startswith(".staging-")]
    with atomic.output_dir(out) as stage:
        assert not dead.exists()
        with atomic.output_dir(out) as inner:  # another write into it while this one runs
            assert stage.is_dir()
            (inner / "b.txt").write_text("b")
        (stage / "a.txt").write_text("a")
    assert sorted(p.name for p in out.iterdir()) == ["a.txt", "b.txt"]


def test_a_folder_of_other_files_is_refused_an_empty_subfolder_is_not_a_file(tmp_path) -> None:
    """check_not_foreign: files (or folders with files) none of which the command writes are
    refused; hidden names and empty folders are nothing to mix into (`--out sub/..` needs
    sub/, and was refused as "holds other files (sub)")."""
    from duplexsim.errors import OutputError

    out = tmp_path / "out"
    (out / "sub").mkdir(parents=True)
    (out / ".hidden").write_text("x")
    atomic.check_not_foreign(out, ["manifest.json"], "corpus", "a new folder")
    (out / "sub" / "notes.txt").write_text("mine")
    with pytest.raises(OutputError, match=r"out: --out: holds other files \(sub\) and no "
                       r"corpus: the corpus's files would be mixed into them \(allowed: a new"):
        atomic.check_not_foreign(out, ["manifest.json"], "corpus", "a new folder")
    # the command's own inputs kept in out are not foreign (nor outputs); a file of the same
    # name elsewhere does not excuse out/sub
    with pytest.raises(OutputError, match=r"holds other files \(sub\) and no corpus"):
        atomic.check_not_foreign(out, ["manifest.json"], "corpus", "a new folder",
                                 inputs=[tmp_path / "sub", out / "x"])
    atomic.check_not_foreign(out, ["manifest.json"], "corpus", "a new folder",
                             inputs=[out / "sub"])
    (out / "manifest.json").write_text("{}")
    atomic.check_not_foreign(out, ["manifest.json"], "corpus", "a new folder")
    atomic.check_not_foreign(tmp_path / "new", ["manifest.json"], "corpus", "a new folder")


def _tree(folder):
    """Every path under ``folder``: a file's bytes, a folder's None."""
    return {str(p.relative_to(folder)): None if p.is_dir() else p.read_bytes()
            for p in folder.rglob("*")}


def _old_run(out):
    """A folder of an earlier run's outputs, one of them owned but not written again, its
    marker, a user's notes and an empty folder of theirs."""
    for name, data in {"a.txt": b"old a", "sub/b.txt": b"old b", "old.wav": b"old wav",
                       "summary.json": b"old marker", "notes.txt": b"mine"}.items():
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_bytes(data)
    (out / "sub" / "drafts").mkdir()


def _write_run(out, replace_at=0, error=None, after=False):
    """output_dir into ``out`` (new files a.txt, sub/b.txt, c.txt, new/deep/d.txt, the marker
    summary.json); ``os.replace`` raises ``error`` at its ``replace_at``-th call (after that
    rename is done when ``after``); return the number of calls."""
    calls, replace = [], os.replace

    def failing(src, dst):
        calls.append(dst)
        if len(calls) == replace_at and not after:
            raise error
        replace(src, dst)
        if len(calls) == replace_at:
            raise error
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(os, "replace", failing)
        with atomic.output_dir(out, owned=["a.txt", "old.wav"], last=["summary.json"]) as stage:
            for name in ["a.txt", "sub/b.txt", "c.txt", "new/deep/d.txt", "summary.json"]:
                (stage / name).parent.mkdir(parents=True, exist_ok=True)
                (stage / name).write_text(f"new {name}")
    return len(calls)


@pytest.mark.parametrize("error,after", [(OSError(28, "No space left on device"), False),
                                         (KeyboardInterrupt(), False),
                                         (KeyboardInterrupt(), True)])
def test_a_failure_among_the_moves_leaves_the_folder_as_it_was(tmp_path, error, after):
    """A failure while the files move in (os.replace raising at the first, any middle or the
    last rename, while old files are moved aside or new ones in; Ctrl-C just before or after
    a rename) left the files moved so far, and the removed old outputs and marker gone. Now
    the folder holds exactly what it held, and no staging folder; a new one is removed."""
    done = tmp_path / "done"
    _old_run(done)
    calls = _write_run(done)  # 4 old files moved aside, 5 new ones moved in
    assert calls == 9 and not [p for p in done.iterdir() if p.name.startswith(".")]
    assert _tree(done) == {"a.txt": b"new a.txt", "c.txt": b"new c.txt", "sub": None,
                           "sub/b.txt": b"new sub/b.txt", "sub/drafts": None, "new": None,
                           "new/deep": None, "new/deep/d.txt": b"new new/deep/d.txt",
                           "summary.json": b"new summary.json", "notes.txt": b"mine"}
    for n in range(1, calls + 1):
        out = tmp_path / f"old{n}"
        _old_run(out)
        before = _tree(out)
        with pytest.raises((type(error), OutputError)):
            _write_run(out, n, error, after)
        assert _tree(out) == before, n
        new = tmp_path / f"new{n}"
        if n <= 5:  # a new folder: only the 5 moves in
            with pytest.raises((type(error), OutputError)):
                _write_run(new / "out", n, error, after)
            assert not new.exists(), n


def test_old_files_that_cannot_be_put_back_stay_in_the_staging_folder(tmp_path):
    """When the move back fails too (the disk went away), an old file is not deleted with
    the staging folder: it stays there (under .backup-*), as after a kill."""
    out = tmp_path / "out"
    _old_run(out)
    calls, replace = [], os.replace

    def failing_from_the_fourth(src, dst):  # 3 moved aside, then a.txt in
        calls.append(dst)
        if len(calls) >= 4:
            raise OSError(5, "Input/output error")
        replace(src, dst)
    with pytest.MonkeyPatch.context() as mp, pytest.raises(OutputError):
        mp.setattr(os, "replace", failing_from_the_fourth)
        with atomic.output_dir(out, owned=["a.txt", "old.wav"], last=["summary.json"]) as stage:
            (stage / "a.txt").write_text("new")
    (stage,) = [p for p in out.iterdir() if atomic.is_staging_name(p.name)]
    (backup,) = stage.glob(".backup-*")
    assert sorted(p.name for p in out.iterdir()) == [stage.name, "notes.txt", "sub"]
    assert _tree(backup) == {"a.txt": b"old a", "old.wav": b"old wav",
                             "summary.json": b"old marker"}


def test_a_failure_before_a_folder_is_noted_leaves_an_empty_folder_of_the_users(tmp_path):
    """An empty folder in ``out`` that a written file goes into (``plots/``) was the user's,
    but a failure while the old files were moved aside (before the rollback's note of it was
    made) took it for one this call made, and removed it."""
    out = tmp_path / "out"
    (out / "plots").mkdir(parents=True)
    (out / "a.txt").write_text("old a")

    def interrupted(src, dst):  # the first move: a.txt aside
        raise KeyboardInterrupt
    with pytest.MonkeyPatch.context() as mp, pytest.raises(KeyboardInterrupt):
        mp.setattr(os, "replace", interrupted)
        with atomic.output_dir(out) as stage:
            (stage / "a.txt").write_text("new a")
            (stage / "plots").mkdir()
            (stage / "plots" / "p.png").write_text("png")
    assert _tree(out) == {"a.txt": b"old a", "plots": None}


@pytest.mark.parametrize("old", [False, True])
def test_a_failed_write_leaves_the_files_of_one_that_finished_meanwhile(tmp_path, old):
    """Two writes into one ``out`` (``simulate`` takes no lock): A moves x.txt in, B then
    runs to the end, A fails at its next move. A's rollback removed B's x.txt (not in A's
    backup or stage), or put A's backup of an older x.txt back over it. Now B's files stay,
    and the old x.txt A could not put back is kept in A's backup folder."""
    out = tmp_path / "out"
    out.mkdir()
    if old:
        (out / "x.txt").write_text("old x")
    replace, calls, in_b = os.replace, [], []

    def b_between(src, dst):  # A's x.txt is in: B runs to the end, then A's next move fails
        if in_b:
            return replace(src, dst)
        calls.append(dst)
        if os.path.basename(dst) == "y.txt":
            in_b.append(True)
            with atomic.output_dir(out, last=["summary.json"]) as b:
                for name in ["x.txt", "y.txt", "summary.json"]:
                    (b / name).write_text(f"B {name}")
            raise OSError(28, "No space left on device", str(src))
        replace(src, dst)
    with pytest.MonkeyPatch.context() as mp, pytest.raises(OutputError):
        mp.setattr(os, "replace", b_between)
        with atomic.output_dir(out, last=["summary.json"]) as a:
            for name in ["x.txt", "y.txt", "summary.json"]:
                (a / name).write_text(f"A {name}")
    assert {k: v for k, v in _tree(out).items() if not k.startswith(".")} == {
        "x.txt": b"B x.txt", "y.txt": b"B y.txt", "summary.json": b"B summary.json"}
    stages = [p for p in out.iterdir() if atomic.is_staging_name(p.name)]
    assert len(stages) == old  # A's stage stays only to keep the old x.txt
    if old:
        (backup,) = stages[0].glob(".backup-*")
        assert _tree(backup) == {"x.txt": b"old x"}


@pytest.mark.parametrize("error", [OSError(), KeyboardInterrupt()])
def test_a_failure_that_keeps_old_files_says_where(tmp_path, error):
    """When old files cannot be put back, they are kept in the stage's .backup-* folder,
    which the next write into ``out`` removes; the one-line error said only "writing failed
    ... out/a.txt". Now it (or, for Ctrl-C, a warning) names that folder."""
    out = tmp_path / "out"
    (out / "sub").mkdir(parents=True)
    (out / "sub" / "a.txt").write_text("old a")
    calls, replace = [], os.replace

    def failing_from_the_second(src, dst):  # sub/a.txt aside, then the new one in fails
        calls.append(dst)
        if len(calls) == 2 and isinstance(error, KeyboardInterrupt):
            raise error
        if len(calls) >= 2:  # and the move back: the disk has gone away
            raise OSError(5, "Input/output error", str(src))
        replace(src, dst)
    raises = OutputError if isinstance(error, OSError) else KeyboardInterrupt
    with pytest.MonkeyPatch.context() as mp, pytest.raises(raises) as raised, \
            warnings.catch_warnings(record=True) as warned:
        warnings.simplefilter("always")
        mp.setattr(os, "replace", failing_from_the_second)
        with atomic.output_dir(out) as stage:
            (stage / "sub").mkdir()
            (stage / "sub" / "a.txt").write_text("new a")
    (backup,) = out.glob(".staging-*/.backup-*")
    assert (backup / "sub" / "a.txt").read_text() == "old a"
    said = str(raised.value) if isinstance(error, OSError) else str(warned[0].message)
    assert f"kept in {backup}: copy them back" in said and "\n" not in said
    if isinstance(error, OSError):
        assert said.startswith(f"{out / 'sub' / 'a.txt'}: writing failed")
