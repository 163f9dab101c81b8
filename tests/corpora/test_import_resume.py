"""A rerun of `duplexsim corpus import` into its --out resumes the import it holds, and
refuses (one line, nothing rewritten) where the tree or its sources changed since; an
unfinished import is named as one, not read as a tree."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_importer import _tokenizer, fisher_tree

from duplexsim.cli import main
from duplexsim.corpora import load_corpus


def test_an_unfinished_import_is_not_read_as_a_fisher_tree(tmp_path: Path, capsys) -> None:
    """An import cut short before its manifest holds fisher/fe_03_*.txt and audio/: `corpus
    stats` printed its statistics as a Fisher tree's, and a command that needs a corpus
    advised importing it as a tree."""
    fisher_tree(tmp_path / "tree", n=2)
    _tokenizer(tmp_path / "units")
    out = tmp_path / "out"
    assert main(["corpus", "import", str(tmp_path / "tree"), "--tokenizer",
                 str(tmp_path / "units"), "--out", str(out)]) == 0
    (out / "manifest.json").unlink()  # as if killed before the manifest
    capsys.readouterr()
    assert main(["corpus", "stats", str(out)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "an unfinished `duplexsim corpus import`" in err[0], err
    with pytest.raises(FileNotFoundError, match="unfinished `duplexsim corpus import`.*run "
                       "the import again"):
        load_corpus(out)


def test_a_rerun_on_a_changed_tree_does_not_re_split_what_was_imported(tmp_path: Path,
                                                                       capsys) -> None:
    """The split is drawn over the tree's ids by position: a rerun after calls were added
    "resumed" and moved fe_03_00003 from test to train (and another call from train to
    test) in the manifest a model may already have been trained and evaluated on."""
    tree = tmp_path / "tree"
    fisher_tree(tree, n=5)
    _tokenizer(tmp_path / "units")
    later = [p for p in tree.rglob("fe_03_0000[45].*")]
    for p in later:
        p.rename(tmp_path / p.name)
    out = tmp_path / "out"
    argv = ["corpus", "import", str(tree), "--tokenizer", str(tmp_path / "units"), "--out",
            str(out)]
    assert main(argv) == 0
    before = (out / "manifest.json").read_bytes()
    for p in later:
        (tmp_path / p.name).rename(p)
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith(f"{out}: holds an import of 3 conversations; "
                                               "the tree has 2 more (fe_03_00004, "
                                               "fe_03_00005)"), err
    assert (out / "manifest.json").read_bytes() == before


def _imported_fisher_tree(tmp_path: Path, n: int) -> tuple[Path, Path, list[str]]:
    """A Fisher tree of ``n`` calls imported into ``tmp_path / "out"``: the tree, the corpus
    and the import command (to run again)."""
    tree = tmp_path / "tree"
    fisher_tree(tree, n=n)
    _tokenizer(tmp_path / "units")
    out = tmp_path / "out"
    argv = ["corpus", "import", str(tree), "--tokenizer", str(tmp_path / "units"), "--out",
            str(out)]
    assert main(argv) == 0
    return tree, out, argv


def test_a_resume_refuses_a_source_file_changed_since_its_conversation_was_imported(
        tmp_path: Path, capsys) -> None:
    """A rerun skipped every conversation whose units were there: a transcript corrected in
    the tree after its conversation was imported kept the old import, silently."""
    import os

    tree, out, argv = _imported_fisher_tree(tmp_path, n=3)
    (out / "manifest.json").unlink()  # an import stopped before its end
    audio = tree / "audio" / "fe_03_00001.wav"
    os.utime(audio, ns=(audio.stat().st_atime_ns, audio.stat().st_mtime_ns + 10**9))
    capsys.readouterr()
    assert main(argv) == 0  # touched, not changed: it resumes
    transcript = tree / "data" / "trans" / "000" / "fe_03_00002.txt"
    transcript.write_text(transcript.read_text().replace("word 1", "word one"))
    imported = (out / "fisher" / "fe_03_00002.txt").read_bytes()
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith(
        f"{out}: holds conversation fe_03_00002 imported before its source {transcript} "
        "changed (1 of 3 imported conversations have changed sources)"), err
    assert "an empty folder" in err[0]
    assert (out / "fisher" / "fe_03_00002.txt").read_bytes() == imported


def test_a_rerun_on_a_manifest_entry_without_an_id_is_refused_not_a_crash(tmp_path: Path,
                                                                            capsys) -> None:
    """An entry of the held manifest without an id (edited or damaged) reached
    ``sorted`` and ``', '.join`` as None: a TypeError instead of the refusal."""
    _, out, argv = _imported_fisher_tree(tmp_path, n=2)
    manifest = json.loads((out / "manifest.json").read_text())
    del manifest["dialogues"][0]["id"]
    (out / "manifest.json").write_text(json.dumps(manifest))
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith(f"{out}: holds an import of 1 conversations; "
                                               "the tree has 1 more (fe_03_00001)"), err


def test_an_import_killed_after_its_record_resumes(tmp_path: Path) -> None:
    """import.json is written before any conversation: a folder holding only it is this
    import's (resumed), not a folder of other files."""
    tree, out, argv = _imported_fisher_tree(tmp_path, n=1)
    manifest = (out / "manifest.json").read_bytes()
    for part in out.iterdir():
        if part.name != "import.json":
            _remove(part)
    assert main(argv) == 0
    assert (out / "manifest.json").read_bytes() == manifest


def _remove(path: Path) -> None:
    import shutil

    shutil.rmtree(path) if path.is_dir() else path.unlink()
