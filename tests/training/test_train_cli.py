"""``duplexsim train``'s checks before training: a card meant for another corpus family."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_cli import card_toml, write_corpus  # (tests/ is on the path: rootdir-less import)

from duplexsim.cli import main
from duplexsim.training.cli import preset_note


def test_preset_note_names_another_family_only() -> None:
    assert preset_note("fisher-like", "fisher-like") is None
    assert preset_note("fisher-like", "fisher") is None  # the real corpus of the same family
    assert preset_note("", "candor-like") is None and preset_note("fisher-like", "") is None
    assert preset_note("fisher-like", "candor-like") == (
        "agent.corpus_preset = 'fisher-like', but the corpus is 'candor-like'")


def test_train_notes_a_card_for_another_corpus(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """The note comes before anything else is checked or trained (here: the corpus has no
    train split, so the command stops right after it)."""
    write_corpus(tmp_path / "corpus", splits=("val", "test"))  # a fisher-like corpus
    card = tmp_path / "card.toml"
    card.write_text(card_toml({"agent": {"corpus_preset": "candor-like"}}))
    assert main(["train", str(card), "--corpus", str(tmp_path / "corpus"), "--out",
                 str(tmp_path / "agent"), "--no-progress"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0] == (f"note: {card}: agent.corpus_preset = 'candor-like', but the corpus is "
                      f"'fisher-like' ({tmp_path / 'corpus'}); training goes on")
    assert "no train dialogues" in err[1]
