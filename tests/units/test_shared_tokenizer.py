"""shared_tokenizer: one unit tokenizer for agents and corpora that meet, by file contents."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_workspace import write_tokenizer

from duplexsim.errors import InputError
from duplexsim.units import copy_tokenizer, shared_tokenizer


def test_copies_are_one_tokenizer_and_another_is_named_with_both_folders(tmp_path: Path) -> None:
    """Two corpora built without --tokenizer each train their own: the same unit ids are
    other sounds, and a study reading one's units with the other's agent went ahead."""
    write_tokenizer(tmp_path / "one")
    copy_tokenizer(tmp_path / "one", tmp_path / "copy")
    write_tokenizer(tmp_path / "other", n_silence_units=2)
    none = tmp_path / "none"  # holds no tokenizer: left out
    assert shared_tokenizer([("x", tmp_path / "one"), ("n", none), ("y", tmp_path / "copy")]) \
        == tmp_path / "one"
    assert shared_tokenizer([("n", none)]) is None and shared_tokenizer([]) is None
    with pytest.raises(InputError, match=rf"^y: its unit tokenizer {tmp_path}/other is not "
                       rf"x's \({tmp_path}/one\): their units would mean other sounds "
                       r"\(allowed: agents and corpora whose units come from one tokenizer"):
        shared_tokenizer([("x", tmp_path / "one"), ("n", none), ("y", tmp_path / "other")])


def test_a_copy_replaces_only_the_tokenizer_files(tmp_path: Path) -> None:
    """Copying into a folder cleared every file there (``output_dir(whole=True)``): a
    user's notes beside an agent's or corpus's tokenizer were lost. Now only an earlier
    tokenizer's files are replaced; the copy is the source's bytes."""
    write_tokenizer(tmp_path / "old", n_silence_units=2)
    write_tokenizer(tmp_path / "new")
    dst = tmp_path / "dst"
    copy_tokenizer(tmp_path / "old", dst)
    (dst / "notes.txt").write_text("trained on the pilot calls")
    copy_tokenizer(tmp_path / "new", dst)
    assert (dst / "notes.txt").read_text() == "trained on the pilot calls"
    for name in ("arrays.safetensors", "config.json"):
        assert (dst / name).read_bytes() == (tmp_path / "new" / name).read_bytes()
    assert sorted(p.name for p in dst.iterdir()) == ["arrays.safetensors", "config.json",
                                                     "notes.txt"]


def test_a_copy_takes_only_the_tokenizers_own_files(tmp_path: Path) -> None:
    """Every file of the source folder was copied, hidden ones included: a user's notes or
    a temporary a killed save left went into each corpus's and agent's copy. Now only
    TOKENIZER_FILES, byte for byte; a source lacking one of them is no half copy."""
    src, dst = tmp_path / "src", tmp_path / "dst"
    write_tokenizer(src)
    (src / "notes.txt").write_text("trained on the pilot calls")
    (src / ".config.json.abc123.tmp").write_text("{")
    (src / "old").mkdir()
    copy_tokenizer(src, dst)
    assert sorted(p.name for p in dst.iterdir()) == ["arrays.safetensors", "config.json"]
    for name in ("arrays.safetensors", "config.json"):
        assert (dst / name).read_bytes() == (src / name).read_bytes()
    (src / "arrays.safetensors").unlink()
    with pytest.raises(FileNotFoundError):
        copy_tokenizer(src, tmp_path / "half")
    assert not (tmp_path / "half").exists()


def test_a_tokenizers_digest_is_its_recorded_value_and_follows_its_files(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """tokenizer_digest is remembered per file (it was read in full at every check, per
    trace and cell); its value is the one build.json files record: sha256 over each file's
    name, a NUL and its bytes, sorted by name. A rewrite that keeps size and times, a copy,
    or one file under another name is another digest."""
    import hashlib
    import os

    import duplexsim.digests as digests
    from duplexsim.units import tokenizer_digest

    config, arrays = b'{"config": {"type": "mel-kmeans"}}', bytes(range(256)) * 3
    (tmp_path / "config.json").write_bytes(config)
    (tmp_path / "arrays.safetensors").write_bytes(arrays)
    by_hand = hashlib.sha256(b"arrays.safetensors\0" + arrays + b"config.json\0" + config)
    expected = "06dbde71b969178b5a47126f3104f220d9680e8aee74bc620fc5f71a3c2a7c62"
    assert tokenizer_digest(tmp_path) == by_hand.hexdigest() == expected
    monkeypatch.setattr(digests, "_now_ns", lambda: 10**19)  # every file long settled
    assert tokenizer_digest(tmp_path) == expected == tokenizer_digest(tmp_path)  # remembered
    st = (tmp_path / "arrays.safetensors").stat()
    (tmp_path / "arrays.safetensors").write_bytes(arrays[::-1])  # same size, times kept
    os.utime(tmp_path / "arrays.safetensors", ns=(st.st_atime_ns, st.st_mtime_ns))
    assert tokenizer_digest(tmp_path) != expected
    copy_tokenizer(tmp_path, tmp_path / "copy")  # its files under other inodes
    assert tokenizer_digest(tmp_path / "copy") == tokenizer_digest(tmp_path)
    for folder, name in (("a", "config.json"), ("b", "arrays.safetensors")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / name).symlink_to(tmp_path / "config.json")
    assert tokenizer_digest(tmp_path / "a") != tokenizer_digest(tmp_path / "b")


def test_a_tokenizers_digest_is_of_its_own_files_only(tmp_path: Path) -> None:
    """Every non-hidden file beside a tokenizer was hashed: a notes file made identical
    tokenizers two to shared_tokenizer (an agent refused with its own corpus). Restricted
    to TOKENIZER_FILES, a saved tokenizer's digest is the one recorded before (sha256 over
    name, NUL and bytes of every file in the folder, sorted by name)."""
    import hashlib

    from duplexsim.units import tokenizer_digest

    write_tokenizer(tmp_path / "one")
    files = sorted((tmp_path / "one").iterdir())
    assert [f.name for f in files] == ["arrays.safetensors", "config.json"]
    recorded = hashlib.sha256(b"".join(f.name.encode() + b"\0" + f.read_bytes()
                                       for f in files)).hexdigest()
    assert tokenizer_digest(tmp_path / "one") == recorded
    copy_tokenizer(tmp_path / "one", tmp_path / "two")
    (tmp_path / "two" / "notes.txt").write_text("trained on the pilot calls")
    (tmp_path / "two" / "old").mkdir()
    assert tokenizer_digest(tmp_path / "two") == recorded
    assert shared_tokenizer([("x", tmp_path / "one"), ("y", tmp_path / "two")]) \
        == tmp_path / "one"
