"""`duplexsim corpus import` refuses, in one line and before anything is written, an
--out folder or a tree it must not write into or read (a built corpus, a corpus already
imported, an unknown layout, folders inside each other, a folder of other files) and a
tree whose audio is missing or cannot be read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_importer import N_UNITS, _tokenizer, candor_tree, fisher_tree

from duplexsim.cli import main
from duplexsim.corpora import load_corpus


@pytest.mark.parametrize("what", ["built corpus", "synthetic out"])
def test_import_refuses_a_built_corpus_either_way(tmp_path: Path, capsys, what) -> None:
    fisher_tree(tmp_path / "tree", n=1)
    _tokenizer(tmp_path / "units")
    built = tmp_path / "built"
    built.mkdir()
    (built / "build.json").write_text(json.dumps({"seed": 0}))
    (built / "manifest.json").write_text("{}")
    tree, out = (built, tmp_path / "out") if what == "built corpus" else (tmp_path / "tree",
                                                                           built)
    assert main(["corpus", "import", str(tree), "--tokenizer", str(tmp_path / "units"),
                 "--out", str(out)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith(str(built)), err
    assert not (tmp_path / "out").exists()


def test_an_imported_fisher_corpus_is_not_imported_again(tmp_path: Path, capsys) -> None:
    """An imported Fisher corpus holds its transcripts (DIR/fisher/fe_03_*.txt): the tree
    test ran before the manifest test and imported it again as a Fisher tree."""
    fisher_tree(tmp_path / "tree")
    _tokenizer(tmp_path / "units")
    imported = tmp_path / "imported"
    assert main(["corpus", "import", str(tmp_path / "tree"), "--tokenizer",
                 str(tmp_path / "units"), "--out", str(imported)]) == 0
    capsys.readouterr()
    assert main(["corpus", "import", str(imported), "--tokenizer", str(tmp_path / "units"),
                 "--out", str(tmp_path / "again")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith(f"{imported}: is a duplexsim corpus already")
    assert not (tmp_path / "again").exists()


def test_import_of_an_unknown_layout_names_only_what_it_imports(tmp_path: Path, capsys) -> None:
    """The message listed "a duplexsim corpus with manifest.json" as allowed, which
    `corpus import` refuses."""
    (tmp_path / "tree").mkdir()
    (tmp_path / "tree" / "notes.txt").write_text("x")
    _tokenizer(tmp_path / "units")
    assert main(["corpus", "import", str(tmp_path / "tree"), "--tokenizer",
                 str(tmp_path / "units"), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown layout" in err and "manifest" not in err, err
    assert main(["corpus", "stats", str(tmp_path / "tree")]) == 2  # stats reads all three
    assert "a duplexsim corpus with manifest.json" in capsys.readouterr().err


@pytest.mark.parametrize("inside", ["corpus", "."])
def test_import_refuses_an_out_folder_inside_the_tree(tmp_path: Path, capsys, inside) -> None:
    """`corpus import /data/fisher --out /data/fisher/corpus` imported once, then wrote
    fisher/fe_03_*.txt and audio/*.flac into the tree: the tree no longer read (a rerun,
    `corpus stats`, `units train`: "a second, different transcript of call ...")."""
    tree = tmp_path / "tree"
    fisher_tree(tree, n=1)
    _tokenizer(tmp_path / "units")
    out = tree / inside
    assert main(["corpus", "import", str(tree), "--tokenizer", str(tmp_path / "units"),
                 "--out", str(out)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith(f"{out}: ") and "inside the tree" in err[0], err
    assert sorted(p.name for p in tree.iterdir()) == ["audio", "data"]
    assert main(["corpus", "stats", str(tree), "--json"]) == 0  # the tree still reads


def test_import_refuses_a_tree_inside_a_folder_it_writes(tmp_path: Path, capsys) -> None:
    """`corpus import work/candor --out work` rewrote the tree's own
    <uuid>/transcription/transcript_audiophile.csv (speakers A/B, the release's columns
    gone): the tree no longer matched its channel map."""
    tree = tmp_path / "work" / "candor"
    candor_tree(tree)
    _tokenizer(tmp_path / "units")
    source = tree / "0a1b2c3d-uuid" / "transcription" / "transcript_audiophile.csv"
    before = source.read_bytes()
    assert main(["corpus", "import", str(tree), "--tokenizer", str(tmp_path / "units"),
                 "--out", str(tmp_path / "work")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "in its candor/ folder" in err[0], err
    assert source.read_bytes() == before
    assert sorted(p.name for p in (tmp_path / "work").iterdir()) == ["candor"]


@pytest.mark.parametrize("kind", ["Fisher", "CANDOR"])
def test_a_tree_with_missing_audio_is_refused_before_anything_is_written(tmp_path: Path,
                                                                         capsys, kind) -> None:
    """A conversation without its audio was found only when the import reached it: the
    conversations before it were written (and import.json), then the import stopped."""
    tree = tmp_path / "tree"
    _tokenizer(tmp_path / "units")
    if kind == "Fisher":
        fisher_tree(tree, n=4)
        for i in (2, 4):
            (tree / "audio" / f"fe_03_{i:05d}.wav").unlink()
        first = (f"{tree}/data/trans/000/fe_03_00002.txt: refers to audio fe_03_00002.flac, "
                 "fe_03_00002.wav, fe_03_00002.sph: none found under")
        count = "2 of 4 conversations lack their audio"
    else:
        candor_tree(tree)
        (tree / "0a1b2c3d-uuid" / "processed" / "0a1b2c3d-uuid.wav").unlink()
        first = f"{tree}/0a1b2c3d-uuid/transcription/transcript_audiophile.csv: refers to"
        count = "1 of 1 conversations lack their audio"
    out = tmp_path / "out"
    assert main(["corpus", "import", str(tree), "--tokenizer", str(tmp_path / "units"),
                 "--out", str(out)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith(first) and count in err[0], err
    assert not out.exists()


def test_shorten_sphere_audio_is_refused_before_anything_is_written(tmp_path: Path,
                                                                   capsys) -> None:
    """Audio only sph2pipe decodes (a call of the LDC release left unconverted beside the
    converted ones) was found only when the import reached it: the calls before it were
    encoded and written first."""
    tree = tmp_path / "tree"
    _tokenizer(tmp_path / "units")
    fisher_tree(tree, n=3)
    (tree / "audio" / "fe_03_00002.wav").unlink()
    head = (b"NIST_1A\n   1024\nchannel_count -i 2\nsample_count -i 48000\nsample_rate -i "
            b"8000\nsample_n_bytes -i 2\nsample_coding -s26 pcm,embedded-shorten-v2.00\n"
            b"end_head\n")
    (tree / "audio" / "fe_03_00002.sph").write_bytes(head.ljust(1024, b" ") + b"\0" * 64)
    out = tmp_path / "out"
    assert main(["corpus", "import", str(tree), "--tokenizer", str(tmp_path / "units"),
                 "--out", str(out)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith(
        f"{tree}/audio/fe_03_00002.sph: shorten-compressed SPHERE (pcm,embedded-shorten-v2.00)"
        " cannot be read; convert it first, e.g. `sph2pipe -f wav fe_03_00002.sph "
        "fe_03_00002.wav`"), err
    assert err[0].endswith("(1 of 3 conversations' audio cannot be read; nothing was "
                           "written)"), err
    assert not out.exists()


@pytest.mark.parametrize("other", ["sweep", "parent", "agent"])
def test_import_refuses_an_out_folder_of_other_files(tmp_path: Path, capsys, other) -> None:
    """`corpus import TREE --out runs/sw` wrote audio/, units/, fisher/, candor/, sources/,
    tokenizer/ and manifest.json among a sweep's files; `--out work` for work/ldc (a
    parent folder, typed for its child) wrote them beside the tree; `--out agents/fisher`
    (its tokenizer/ passed for a corpus's) wrote them into the agent, its tokenizer replaced
    by --tokenizer's."""
    work = tmp_path / "work"
    fisher_tree(work / "ldc", n=1)
    _tokenizer(tmp_path / "units")
    out = work
    if other == "sweep":
        out = tmp_path / "sw"
        (out / "cells").mkdir(parents=True)
        (out / "results.parquet").write_bytes(b"PAR1")
    if other == "agent":
        out = tmp_path / "agent"
        (out / "model").mkdir(parents=True)
        (out / "agent.json").write_text("{}")
        (out / "tokenizer").mkdir()
        (out / "tokenizer" / "config.json").write_text("{}")
    before = sorted(p.name for p in out.iterdir())
    assert main(["corpus", "import", str(work / "ldc"), "--tokenizer",
                 str(tmp_path / "units"), "--out", str(out)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith(f"{out}: --out: holds other files (") \
        and "and no corpus" in err[0], err
    assert sorted(p.name for p in out.iterdir()) == before
    if other == "agent":
        assert sorted(p.name for p in (out / "tokenizer").iterdir()) == ["config.json"]


@pytest.mark.parametrize("other", [None, "agent"])
def test_a_tokenizer_kept_in_the_out_folder_is_an_input_not_other_files(tmp_path: Path, capsys,
                                                                        other) -> None:
    """`units train --out corpora/x/tokenizer`, then `corpus import TREE --tokenizer
    corpora/x/tokenizer --out corpora/x`: since tokenizer/ stopped marking a corpus's folder
    (an agent has one too), that folder was refused as "holds other files (tokenizer) and
    no corpus". The --tokenizer given is the command's input, as a sweep's base scenario
    kept in its --out is; an agent's folder, its tokenizer given, is still refused."""
    fisher_tree(tmp_path / "ldc", n=1)
    out = tmp_path / ("agent" if other else "corpus")
    _tokenizer(out / "tokenizer")
    if other:
        (out / "model").mkdir()
        (out / "model" / "config.json").write_text("{}")
        (out / "agent.json").write_text("{}")
    code = main(["corpus", "import", str(tmp_path / "ldc"), "--tokenizer",
                 str(out / "tokenizer"), "--out", str(out)])
    err = capsys.readouterr().err.splitlines()
    if other:
        assert code == 2 and len(err) == 1 and "holds other files (agent.json, model)" \
            in err[0], err
        assert sorted(p.name for p in out.iterdir()) == ["agent.json", "model", "tokenizer"]
    else:
        assert code == 0, err
        assert load_corpus(out).manifest["n_units"] == N_UNITS
