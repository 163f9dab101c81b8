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
