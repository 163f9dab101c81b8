"""Whole folders: swapped in at once, and a run's folder lock."""

from __future__ import annotations

import sys

import pytest

from duplexsim import folders


@pytest.mark.parametrize("exchange", [True, False], ids=["swap", "two-renames"])
def test_replace_dir_puts_the_new_folder_in_place_and_leaves_nothing_else(
        tmp_path, monkeypatch, exchange):
    if not exchange:  # the fallback path, as on a system without renameat2
        monkeypatch.setattr(folders, "_exchange", lambda a, b: False)
    target, new = tmp_path / "model", tmp_path / ".model.new"
    target.mkdir()
    (target / "old.txt").write_text("old")
    new.mkdir()
    (new / "new.txt").write_text("new")
    folders.replace_dir(new, target)
    assert [p.name for p in tmp_path.iterdir()] == ["model"]
    assert [p.name for p in target.iterdir()] == ["new.txt"]
    fresh = tmp_path / ".fresh"
    fresh.mkdir()
    folders.replace_dir(fresh, tmp_path / "other")  # no folder there yet: a plain rename
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model", "other"]
    elsewhere = tmp_path / "disk"  # a model folder linked from another disk
    elsewhere.mkdir()
    (elsewhere / "old.txt").write_text("old")
    (tmp_path / "linked").symlink_to(elsewhere)
    fresh.mkdir()
    folders.replace_dir(fresh, tmp_path / "linked")  # the link is replaced, its folder kept
    assert [p.name for p in (tmp_path / "linked").iterdir()] == []
    assert not (tmp_path / "linked").is_symlink() and (elsewhere / "old.txt").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["disk", "linked", "model", "other"]


def test_replace_dir_without_exchange_keeps_the_old_folder_when_the_move_fails(
        tmp_path, monkeypatch):
    """The fallback renames the old folder aside first: if the new one then cannot be moved
    in, the old one goes back (aside, it has a stale temporary's name a rerun removes)."""
    import errno
    from pathlib import Path

    monkeypatch.setattr(folders, "_exchange", lambda a, b: False)
    target, new = tmp_path / "model", tmp_path / ".model.abcd1234"
    target.mkdir()
    (target / "old.txt").write_text("old")
    new.mkdir()
    rename = Path.rename

    def failing(self, dst):
        if self == new:
            raise OSError(errno.EIO, "Input/output error", str(self))
        return rename(self, dst)

    monkeypatch.setattr(Path, "rename", failing)
    with pytest.raises(OSError):
        folders.replace_dir(new, target)
    assert (target / "old.txt").read_text() == "old"


def test_replace_dir_swaps_in_one_step_on_linux(tmp_path, monkeypatch):
    if not sys.platform.startswith("linux"):
        pytest.skip("renameat2 is Linux")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "x").write_text("a")
    assert folders._exchange(tmp_path / "a", tmp_path / "b")
    assert (tmp_path / "b" / "x").read_text() == "a" and not any((tmp_path / "a").iterdir())


def test_exclusive_run_keeps_a_second_holder_out_until_the_first_ends(tmp_path) -> None:
    """One holder of ``folder``'s lock at a time; the lock goes when the block ends, also by
    an error; nothing is written into the folder."""
    from duplexsim.errors import OutputError
    from duplexsim.folders import exclusive_run

    folder = tmp_path / "new" / "agent"
    with exclusive_run(folder) as lock:
        assert lock == folder and folder.is_dir() and not any(folder.iterdir())
        with pytest.raises(OutputError, match=r"agent: --out: another run is writing into "
                           "it"), exclusive_run(folder):
            pass
    with pytest.raises(RuntimeError), exclusive_run(folder):
        raise RuntimeError("training failed")
    with exclusive_run(folder, key="out"):  # free again
        pass


def test_atomic_still_hands_out_the_folder_functions() -> None:
    """replace_dir, remove_stale_folders and exclusive_run moved here from duplexsim.atomic,
    which re-exports them: code that imports them from there gets the same functions."""
    from duplexsim import atomic

    for name in ("replace_dir", "remove_stale_folders", "exclusive_run"):
        assert getattr(atomic, name) is getattr(folders, name)
        assert name in atomic.__all__
