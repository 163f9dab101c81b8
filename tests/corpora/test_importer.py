"""`duplexsim corpus import`: a real Fisher or CANDOR tree becomes a corpus that the
commands reading a built corpus (train, continue, simulate, the envs) accept; README
"Plugging in real data and models"."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from duplexsim.cli import main
from duplexsim.corpora import load_corpus
from duplexsim.corpora.types import Segment

N_UNITS = 16


def _tokenizer(path: Path) -> None:
    from duplexsim.units import features
    from duplexsim.units.kmeans import KMeansTokenizer, TokenizerConfig

    rng = np.random.default_rng(0)
    KMeansTokenizer(TokenizerConfig(n_units=N_UNITS, n_mels=8),
                    rng.normal(size=(N_UNITS, 8)).astype(np.float32),
                    rng.random((N_UNITS, features.N_FFT // 2 + 1)).astype(np.float32),
                    -40.0).save(path)


def _wave(seconds: float, rate: int, seed: int) -> np.ndarray:
    """[N, 2]: noise bursts on alternating channels (speech-like on/off)."""
    rng = np.random.default_rng(seed)
    wave = np.zeros((int(seconds * rate), 2), np.float32)
    for k in range(int(seconds)):
        wave[k * rate:(k + 1) * rate - rate // 4, k % 2] = 0.1 * rng.normal(size=rate - rate // 4)
    return wave


def fisher_tree(root: Path, n: int = 3) -> None:
    """LDC's layout: transcripts under data/trans/000/, 2-channel 8 kHz audio elsewhere."""
    (root / "data" / "trans" / "000").mkdir(parents=True)
    (root / "audio").mkdir()
    for i in range(1, n + 1):
        name = f"fe_03_{i:05d}"
        sf.write(root / "audio" / f"{name}.wav", _wave(6.0, 8000, i), 8000)
        lines = [f"{k:.2f} {k + 0.75:.2f} {'AB'[k % 2]}: word {k}" for k in range(6)]
        (root / "data" / "trans" / "000" / f"{name}.txt").write_text(
            f"# {name}.sph\n\n" + "\n".join(lines) + "\n")


def test_import_and_stats_say_what_of_a_fisher_tree_was_read_and_skipped(tmp_path: Path,
                                                                        capsys) -> None:
    """`corpus import` said "3 fisher conversations" and `corpus stats` "3 dialogues" of a
    tree that also held LDC's doc/fe_03_readme.txt, a second unpacked copy of the transcripts
    and the audio of a call without a transcript (fe_03_00009, silently left out): nothing
    said what was read or passed over. Both now count them, with an example of each."""
    import shutil

    tree = tmp_path / "tree"
    fisher_tree(tree)
    (tree / "doc").mkdir()
    (tree / "doc" / "fe_03_readme.txt").write_text("readme\n")
    shutil.copytree(tree / "data" / "trans", tree / "copy")
    shutil.copy(tree / "audio" / "fe_03_00001.wav", tree / "audio" / "fe_03_00009.wav")
    _tokenizer(tmp_path / "units")
    read = ("read 3 call transcripts (fe_03_NNNNN.txt); skipped 3 identical second copies "
            f"(e.g. {tree}/data/trans/000/fe_03_00001.txt), 1 .txt not named as a call "
            f"(e.g. {tree}/doc/fe_03_readme.txt), 1 call's audio without a transcript "
            f"(e.g. {tree}/audio/fe_03_00009.wav)")
    assert main(["corpus", "stats", str(tree)]) == 0
    assert capsys.readouterr().out.splitlines()[0] == read
    assert main(["corpus", "stats", str(tree), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["read"] == {
        "transcripts": 3, "second_copies": 3, "other_txt": 1, "audio_without_transcript": 1,
        "bbn_orig": 0}
    assert main(["corpus", "import", str(tree), "--tokenizer", str(tmp_path / "units"),
                 "--out", str(tmp_path / "out")]) == 0
    assert capsys.readouterr().out.splitlines()[-2:] == [
        read, f"{tmp_path / 'out'}: 3 fisher conversations (2 train, 0 val, 1 test), "
        f"{N_UNITS} units at 8000 Hz"]


def candor_tree(root: Path) -> None:
    """One conversation folder: the audiophile transcript, stereo audio, a channel map."""
    from duplexsim.corpora import candor

    folder = root / "0a1b2c3d-uuid"
    (folder / "processed").mkdir(parents=True)
    sf.write(folder / "processed" / "0a1b2c3d-uuid.wav", _wave(5.0, 16000, 7), 16000)
    (folder / "processed" / "channel_map.json").write_text('{"L": "spk1", "R": "spk2"}')
    candor.write_transcript(folder / "transcription" / "transcript_audiophile.csv",
                            [Segment(k % 2, k, k + 0.75, f"word {k}") for k in range(5)],
                            speakers=("spk1", "spk2"))


def test_a_fisher_tree_is_imported_as_a_corpus_train_reads(tmp_path: Path, capsys) -> None:
    """The README told users with real Fisher to run `duplexsim train --corpus /data/fisher`,
    which refuses a tree without manifest.json; now `corpus import` makes one."""
    fisher_tree(tmp_path / "fisher data")
    _tokenizer(tmp_path / "units")
    assert main(["train", str(Path(__file__).parents[2] / "agents" / "fisher.toml"),
                 "--corpus", str(tmp_path / "fisher data"),
                 "--out", str(tmp_path / "agent")]) == 2
    assert "no manifest.json" in capsys.readouterr().err
    out = tmp_path / "fisher corpus"
    argv = ["corpus", "import", str(tmp_path / "fisher data"), "--tokenizer",
            str(tmp_path / "units"), "--out", str(out)]
    assert main(argv) == 0
    corpus = load_corpus(out)
    assert corpus.n_units == N_UNITS and corpus.sample_rate_hz == 8000
    assert corpus.ids() == ["fe_03_00001", "fe_03_00002", "fe_03_00003"]
    assert sorted(corpus.ids("test")) and len(corpus.ids("train")) == 2
    d = corpus.dialogue("fe_03_00002", audio=True)
    assert d.units.shape == (2, 150) and d.audio.shape == (2, 48000)
    assert [(s.speaker, s.start_s, s.text) for s in d.segments][:2] == [(0, 0.0, "word 0"),
                                                                       (1, 1.0, "word 1")]
    assert corpus.tokenizer().n_units == N_UNITS
    before = (out / "manifest.json").read_bytes()
    assert main(argv) == 0  # a rerun resumes: nothing changes
    assert (out / "manifest.json").read_bytes() == before
    capsys.readouterr()
    assert main([*argv, "--seed", "1"]) == 2  # another split into the same folder: refused
    assert capsys.readouterr().err.startswith(f"{out}: seed: holds an import made with 0")


def test_a_candor_tree_is_imported_with_its_channel_map(tmp_path: Path, capsys) -> None:
    """The import says what of the tree it read and skipped, as a Fisher import does."""
    candor_tree(tmp_path / "candor")
    (tmp_path / "candor" / "README.txt").write_text("CANDOR\n")
    _tokenizer(tmp_path / "units")
    out = tmp_path / "corpus"
    assert main(["corpus", "import", str(tmp_path / "candor"), "--tokenizer",
                 str(tmp_path / "units"), "--out", str(out), "--sample-rate-hz", "8000"]) == 0
    assert capsys.readouterr().out.splitlines()[-2] == (
        "read 1 conversations (<uuid>/transcription/); skipped 1 entries that are no "
        f"conversation folder (e.g. {tmp_path / 'candor' / 'README.txt'})")
    corpus = load_corpus(out)
    (id,) = corpus.ids()
    assert id == "0a1b2c3d-uuid" and corpus.preset == "candor"
    d = corpus.dialogue(id, audio=True)
    assert d.sample_rate_hz == 8000 and d.audio.shape == (2, 40000)  # resampled from 16 kHz
    assert [s.speaker for s in d.segments] == [0, 1, 0, 1, 0]


def test_corpus_stats_of_a_candor_tree_says_what_it_read_and_skipped(tmp_path: Path,
                                                                    capsys) -> None:
    """`corpus stats` said what of a Fisher tree it read (first line; --json "read") but of
    a CANDOR tree only "(1 dialogues, ...)" under the table, though the README's first step
    on real data is `corpus stats`: now it says what `corpus import` says of the tree."""
    candor_tree(tmp_path / "candor")
    (tmp_path / "candor" / "README.txt").write_text("CANDOR\n")
    assert main(["corpus", "stats", str(tmp_path / "candor")]) == 0
    assert capsys.readouterr().out.splitlines()[0] == (
        "read 1 conversations (<uuid>/transcription/); skipped 1 entries that are no "
        f"conversation folder (e.g. {tmp_path / 'candor' / 'README.txt'})")
    assert main(["corpus", "stats", str(tmp_path / "candor"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["read"] == {"conversations": 1,
                                                          "other_entries": 1}


@pytest.mark.parametrize("kind", ["Fisher", "CANDOR"])
def test_a_real_tree_given_where_a_corpus_is_needed_names_the_import(tmp_path: Path, capsys,
                                                                      kind) -> None:
    """`duplexsim train --corpus /data/fisher` (the tree, not yet imported) said "not a
    duplexsim corpus (allowed: a folder written by `duplexsim corpus build`)": it sent a
    user with real data to build a synthetic corpus instead of to `corpus import`."""
    tree = tmp_path / "tree"
    fisher_tree(tree, n=1) if kind == "Fisher" else candor_tree(tree)
    assert main(["train", str(Path(__file__).parents[2] / "agents" / "fisher.toml"),
                 "--corpus", str(tree), "--out", str(tmp_path / "agent")]) == 2
    err = capsys.readouterr().err
    assert err == (f"{tree}: not a duplexsim corpus (no manifest.json): a {kind} tree; import "
                   f"it first, `duplexsim corpus import {tree} --tokenizer UNITS_DIR --out "
                   "DIR` (allowed: a folder written by `duplexsim corpus build` or `duplexsim "
                   "corpus import`)\n")


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


def test_a_candor_utterance_with_a_line_break_is_imported_as_one_line(tmp_path: Path) -> None:
    """A CANDOR utterance may hold a newline inside its CSV quotes; the import wrote it as is
    into fisher/<id>.txt, one utterance a line, which the Fisher reader then refused
    ("malformed line")."""
    from duplexsim.corpora import candor, fisher

    tree = tmp_path / "candor"
    candor_tree(tree)
    csv = tree / "0a1b2c3d-uuid" / "transcription" / "transcript_audiophile.csv"
    candor.write_transcript(csv, [Segment(0, 0.0, 0.75, "well,\nyou know"),
                                  Segment(1, 1.0, 1.75, " so\r\n\tthen  ")],
                            speakers=("spk1", "spk2"))
    assert '"well,\nyou know"' in csv.read_text()  # a quoted line break, as CANDOR has them
    _tokenizer(tmp_path / "units")
    out = tmp_path / "corpus"
    assert main(["corpus", "import", str(tree), "--tokenizer", str(tmp_path / "units"),
                 "--out", str(out)]) == 0
    texts = ["well, you know", "so then"]
    assert [s.text for s in fisher.read_transcript(out / "fisher" / "0a1b2c3d-uuid.txt")] \
        == texts
    assert [s.text for s in load_corpus(out).dialogue("0a1b2c3d-uuid").segments] == texts


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


@pytest.mark.parametrize("out", [".", "sub/.."])
def test_a_corpus_written_to_a_relative_folder_is_named_after_it(tmp_path: Path, monkeypatch,
                                                                  out: str) -> None:
    """`--out .` wrote the manifest name "" (Path('.').name), `--out sub/..` wrote ".."."""
    fisher_tree(tmp_path / "fisher", n=1)
    _tokenizer(tmp_path / "units")
    (tmp_path / "my corpus" / "sub").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "my corpus")
    assert main(["corpus", "import", str(tmp_path / "fisher"), "--tokenizer",
                 str(tmp_path / "units"), "--out", out]) == 0
    assert load_corpus(out).name == "my corpus"


def test_a_corpus_written_through_a_link_is_named_as_the_link(tmp_path: Path) -> None:
    """corpus_name makes the folder absolute without resolving links: written through a
    link, a corpus is named as the link (its user's name for it), not as its target."""
    from duplexsim.corpora.corpus import corpus_name

    (tmp_path / "store").mkdir()
    (tmp_path / "mine").symlink_to(tmp_path / "store")
    assert corpus_name(tmp_path / "mine") == corpus_name(f"{tmp_path}/mine/.") == "mine"


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


CALLDATA_HEADER = ("CALL_ID,DATE_TIME,TOPICID,SIG_GRADE,CNV_GRADE,APIN,ASX.DL,APHNUM,APHSET,"
                   "APHTYP,BPIN,BSX.DL,BPHNUM,BPHSET,BPHTYP")


def calldata(path: Path, pins: dict[int, tuple[int, int]]) -> None:
    """LDC's doc/fe_03_p1_calldata.tbl: its header, one row a call (CALL_ID 00001 is
    fe_03_00001; APIN/BPIN the speakers' PINs), the other columns as LDC fills them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [f"{call:05d},2003-01-01 00:00:00,ENG01,4,4,{a},f.a,x,4,3,{b},m.a,y,4,3"
            for call, (a, b) in pins.items()]
    path.write_text("\n".join([CALLDATA_HEADER, *rows]) + "\n")


def test_split_by_speaker_keeps_every_pin_in_one_split(tmp_path: Path, capsys) -> None:
    """By call, PIN 100 of calls 1-3 was in train and test (seed 0 put call 1 in test, 2
    and 3 in train); --split-by speaker keeps calls sharing a PIN together, held-out splits
    within split_counts' call counts (6 calls, 0.34 / 0.17: 2 test, 1 val), so the group of
    three stays in train. Recorded in import.json: a resume by call is refused."""
    tree = tmp_path / "tree"
    fisher_tree(tree, n=6)
    pins = {1: (100, 101), 2: (102, 100), 3: (100, 103), 4: (104, 105), 5: (106, 107),
            6: (108, 109)}
    calldata(tree / "doc" / "fe_03_p1_calldata.tbl", pins)
    _tokenizer(tmp_path / "units")
    shares = ["--test-share", "0.34", "--val-share", "0.17"]
    by_call, out = tmp_path / "by_call", tmp_path / "out"
    assert main(["corpus", "import", str(tree), "--tokenizer", str(tmp_path / "units"),
                 "--out", str(by_call), *shares]) == 0
    split = {d["id"]: d["split"] for d in json.loads((by_call / "manifest.json").read_text())
             ["dialogues"]}
    assert {split[f"fe_03_{i:05d}"] for i in (1, 2, 3)} == {"train", "test"}
    assert "split_by" not in json.loads((by_call / "import.json").read_text())  # as before
    capsys.readouterr()
    argv = ["corpus", "import", str(tree), "--tokenizer", str(tmp_path / "units"), "--out",
            str(out), *shares, "--split-by", "speaker"]
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-2:] == [
        "split by speaker: 10 speakers (PINs) in 4 groups of calls sharing one (largest 3 "
        "calls); no PIN in two splits",
        f"{out}: 6 fisher conversations (3 train, 1 val, 2 test), {N_UNITS} units at 8000 Hz"]
    split = {d["id"]: d["split"] for d in json.loads((out / "manifest.json").read_text())
             ["dialogues"]}
    assert {split[f"fe_03_{i:05d}"] for i in (1, 2, 3)} == {"train"}
    assert json.loads((out / "import.json").read_text())["split_by"] == "speaker"
    assert main(argv) == 0  # a resume with the same choice
    capsys.readouterr()
    assert main(argv[:-2]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith(f"{out}: split_by: holds an import made with "
                                               '"speaker", not "call"'), err
    assert main(["corpus", "import", str(tree), "--tokenizer", str(tmp_path / "units"),
                 "--out", str(by_call), *shares, "--split-by", "speaker"]) == 2
    assert 'split_by: holds an import made with "call", not "speaker"' in capsys.readouterr().err


def test_a_speaker_split_resume_refuses_calldata_tables_edited_since(tmp_path: Path,
                                                                      capsys) -> None:
    """import.json recorded --split-by speaker but not the calldata tables the grouping came
    from: a rerun after a table was edited silently rewrote the manifest with other splits
    (an agent trained on the old train split found its training calls in test). The
    tables' sha256 are recorded; a rerun whose tables differ is refused in one line naming
    the table; a table rewritten with the same bytes resumes."""
    tree = tmp_path / "tree"
    fisher_tree(tree, n=6)
    table = tree / "doc" / "fe_03_p1_calldata.tbl"
    pins = {i: (100 + 2 * i, 101 + 2 * i) for i in range(1, 7)}
    calldata(table, pins)
    _tokenizer(tmp_path / "units")
    out = tmp_path / "out"
    argv = ["corpus", "import", str(tree), "--tokenizer", str(tmp_path / "units"), "--out",
            str(out), "--test-share", "0.34", "--val-share", "0.17", "--split-by", "speaker"]
    assert main(argv) == 0
    record = json.loads((out / "import.json").read_text())
    assert list(record["calldata_sha256"]) == ["doc/fe_03_p1_calldata.tbl"]
    manifest = (out / "manifest.json").read_bytes()
    calldata(table, pins)  # the same bytes written again: no change
    assert main(argv) == 0
    calldata(table, {**pins, 4: (102, 100)})  # call 4 now shares a speaker with call 1
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith(
        f"{out}: calldata_sha256: holds an import split by speaker from calldata tables that "
        f"have changed since ({table} changed)"), err
    assert "an empty folder" in err[0]
    assert (out / "manifest.json").read_bytes() == manifest
    calldata(table, pins)
    del record["calldata_sha256"]  # a speaker import made before the tables were recorded
    (out / "import.json").write_text(json.dumps(record))
    assert main(argv) == 0  # nothing to compare: resumed, the tables now recorded
    assert "calldata_sha256" in json.loads((out / "import.json").read_text())
    assert (out / "manifest.json").read_bytes() == manifest


def test_split_by_speaker_walks_the_tree_no_more_than_split_by_call(tmp_path: Path,
                                                                     monkeypatch) -> None:
    """The speakers' PINs came from two more walks of the tree for each of the split and
    the summary line (one a calldata table name): 4 more walks of a full Fisher unpack.
    The reader finds the tables in its one walk and reads them once."""
    import os

    tree = tmp_path / "tree"
    fisher_tree(tree, n=3)
    calldata(tree / "doc" / "fe_03_p1_calldata.tbl", {1: (1, 2), 2: (3, 4), 3: (5, 6)})
    _tokenizer(tmp_path / "units")
    listed: dict[str, list[str]] = {"call": [], "speaker": []}
    real_scandir = os.scandir
    for split_by, folders in listed.items():
        def counting_scandir(path=".", folders=folders):
            if not isinstance(path, int) and Path(path).is_relative_to(tree):  # (an fd too)
                folders.append(os.fspath(path))
            return real_scandir(path)

        monkeypatch.setattr(os, "scandir", counting_scandir)
        assert main(["corpus", "import", str(tree), "--tokenizer", str(tmp_path / "units"),
                     "--out", str(tmp_path / split_by), "--split-by", split_by]) == 0
    assert sorted(listed["speaker"]) == sorted(listed["call"])
    assert sorted(listed["call"]) == sorted(str(tree / f) for f in (
        ".", "audio", "data", "data/trans", "data/trans/000", "doc",  # the reader
        ".", "audio", "data", "data/trans", "data/trans/000"))  # the tree's kind (open_corpus)


@pytest.mark.parametrize("case", ["no calldata", "call not in calldata", "candor"])
def test_split_by_speaker_without_the_speakers_is_refused_before_anything_is_written(
        tmp_path: Path, capsys, case) -> None:
    tree = tmp_path / "tree"
    if case == "candor":
        candor_tree(tree)
        message = f"{tree}: --split-by speaker: a candor tree: speakers are known for Fisher"
    else:
        fisher_tree(tree, n=3)
        message = (f"{tree}: --split-by speaker: no fe_03_p1_calldata.tbl or "
                   "fe_03_p2_calldata.tbl under the tree")
        if case == "call not in calldata":  # Part 2's calls without LDC2005T19's table
            calldata(tree / "doc" / "fe_03_p1_calldata.tbl", {1: (1, 2)})
            message = (f"{tree}: --split-by speaker: 2 of 3 calls (fe_03_00002, fe_03_00003) "
                       "are in no calldata table")
    _tokenizer(tmp_path / "units")
    assert main(["corpus", "import", str(tree), "--tokenizer", str(tmp_path / "units"),
                 "--out", str(tmp_path / "out"), "--split-by", "speaker"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith(message), err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("shared", [True, False])
def test_split_by_speaker_warns_when_a_held_out_split_is_left_empty(tmp_path: Path, capsys,
                                                                   shared: bool) -> None:
    """Three calls sharing PIN 100 are one group, and a group goes whole into one split: the
    test call the shares ask for (split_counts: 1 of 3) was silently not there (0 test).
    Now one warning line names the split, the counts and the largest group; calls with
    distinct PINs fill the split and give none."""
    tree = tmp_path / "tree"
    fisher_tree(tree, n=3)
    pins = ({1: (100, 101), 2: (102, 100), 3: (100, 103)} if shared
            else {1: (100, 101), 2: (102, 103), 3: (104, 105)})
    calldata(tree / "doc" / "fe_03_p1_calldata.tbl", pins)
    _tokenizer(tmp_path / "units")
    out = tmp_path / "out"
    assert main(["corpus", "import", str(tree), "--tokenizer", str(tmp_path / "units"),
                 "--out", str(out), "--split-by", "speaker"]) == 0
    warned = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    splits = [d["split"] for d in json.loads((out / "manifest.json").read_text())["dialogues"]]
    assert splits.count("test") == (0 if shared else 1)
    assert warned == ([
        "duplexsim corpus: warning: split by speaker: test holds 0 of the 1 calls "
        "--test-share 0.1 asks for: calls sharing a speaker (PIN) go into one split "
        "together, and the 3 calls are 1 group (largest 3 calls; a group too big for "
        "test or val stays in train); --split-by call splits by call"] if shared else [])


def test_import_reads_the_fisher_tree_once(tmp_path: Path, capsys, monkeypatch) -> None:
    """The CLI opened the tree a second time after the import, only to print its 'read N
    call transcripts' line: a second walk of the whole tree (minutes on a full Fisher
    unpack). The import hands back the reader it used; the line is printed from that."""
    from duplexsim.corpora import fisher

    opened = []
    real_init = fisher.FisherCorpus.__init__

    def counting_init(self, *args, **kwargs) -> None:
        opened.append(args[0] if args else kwargs["root"])
        real_init(self, *args, **kwargs)

    tree = tmp_path / "tree"
    fisher_tree(tree, n=2)
    _tokenizer(tmp_path / "units")
    monkeypatch.setattr(fisher.FisherCorpus, "__init__", counting_init)
    assert main(["corpus", "import", str(tree), "--tokenizer", str(tmp_path / "units"),
                 "--out", str(tmp_path / "out")]) == 0
    assert capsys.readouterr().out.splitlines()[-2].startswith("read 2 call transcripts")
    assert [Path(p) for p in opened] == [tree]
