"""shared_tokenizer: one unit tokenizer for agents and corpora that meet, by file contents."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_cli import write_tokenizer

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
