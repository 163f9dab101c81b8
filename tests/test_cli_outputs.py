"""Behaviours that keep the CLI's outputs honest: a rebuilt corpus refused unless
``--rebuild``, tokenizer copies moved in whole, an agent marked complete only with its
tokenizer, a speech cache checked before anything is written.
"""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path

import pytest
from cli_workspace import N_UNITS, TRAIN, changes, snapshot  # (tests/ is on the path)


def test_a_corpus_is_rebuilt_only_when_asked(ws: Path) -> None:
    from duplexsim.corpora.config import load_config
    from duplexsim.corpora.rebuild import CORPUS_PARTS, build_record, check_rebuild
    from duplexsim.errors import OutputError

    corpus = ws / "rebuilt"
    shutil.copytree(ws / "corpus", corpus)
    (corpus / "mine.txt").write_text("not the corpus's")
    cfg = load_config("fisher-like", conversation_s=20.0)
    check_rebuild(corpus, build_record(cfg, 0, "fisher-like", N_UNITS, None), rebuild=False)
    other = build_record(cfg, 1, "fisher-like", N_UNITS, None)
    with pytest.raises(OutputError, match=r"rebuilt: seed: holds a corpus built with 0, not 1"):
        check_rebuild(corpus, other, rebuild=False)
    assert (corpus / "manifest.json").is_file()
    check_rebuild(corpus, other, rebuild=True)
    assert not any((corpus / part).exists() for part in CORPUS_PARTS)
    assert (corpus / "mine.txt").is_file()
    # asked for with the same parameters (e.g. after the generator changed): rebuilt too
    shutil.copytree(ws / "corpus", corpus, dirs_exist_ok=True)
    check_rebuild(corpus, build_record(cfg, 0, "fisher-like", N_UNITS, None), rebuild=True)
    assert not any((corpus / part).exists() for part in CORPUS_PARTS)


def test_a_corpus_built_with_a_tokenizer_now_elsewhere_resumes(tmp_path: Path) -> None:
    """runs/ moved or copied: the tokenizer is the same bytes in another folder, and the
    corpus resumes (it was refused: 'holds a corpus built with .../root/units'); other
    bytes are still refused."""
    from duplexsim.atomic import write_json
    from duplexsim.corpora.config import load_config
    from duplexsim.corpora.rebuild import build_record, check_rebuild
    from duplexsim.errors import OutputError

    cfg = load_config("fisher-like", conversation_s=20.0)
    for root in ("root", "root2"):
        (tmp_path / root / "units").mkdir(parents=True)
        (tmp_path / root / "units" / "config.json").write_text('{"k": 1}')
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    write_json(corpus / "build.json",
               build_record(cfg, 0, "fisher-like", N_UNITS, tmp_path / "root" / "units"))
    check_rebuild(corpus, build_record(cfg, 0, "fisher-like", N_UNITS,
                                       tmp_path / "root2" / "units"), rebuild=False)
    (tmp_path / "root2" / "units" / "config.json").write_text('{"k": 2}')
    with pytest.raises(OutputError, match="tokenizer: holds a corpus built with"):
        check_rebuild(corpus, build_record(cfg, 0, "fisher-like", N_UNITS,
                                           tmp_path / "root2" / "units"), rebuild=False)


def test_a_corpus_from_before_a_parameter_existed_keeps_its_old_value(ws: Path) -> None:
    from dataclasses import replace

    from duplexsim.corpora.config import load_config
    from duplexsim.corpora.rebuild import build_record, check_rebuild
    from duplexsim.errors import OutputError

    corpus = ws / "corpus"  # its manifest records no synthesis parameters, as an old one
    cfg = load_config("fisher-like", conversation_s=20.0)
    check_rebuild(corpus, build_record(replace(cfg, yield_cue=False), 0, "fisher-like",
                                       N_UNITS, None), rebuild=False)
    with pytest.raises(OutputError, match=r"params.yield_cue: holds a corpus built with False"):
        check_rebuild(corpus, build_record(replace(cfg, yield_cue=True), 0, "fisher-like",
                                           N_UNITS, None), rebuild=False)


def test_tokenizer_copies_are_moved_in_whole(ws: Path, tmp_path: Path) -> None:
    from duplexsim.units import copy_tokenizer, load_tokenizer

    dst = tmp_path / "agent" / "tokenizer"
    dst.mkdir(parents=True)
    (dst / "config.json").write_text("old")
    (dst / "arrays.safetensors").write_text("old")
    copy_tokenizer(ws / "corpus" / "tokenizer", dst)
    assert sorted(p.name for p in dst.iterdir()) == ["arrays.safetensors", "config.json"]
    assert load_tokenizer(dst).n_units == N_UNITS
    before = snapshot(tmp_path)
    with pytest.raises(FileNotFoundError):
        copy_tokenizer(ws / "no_tokenizer", dst)
    assert not changes(before, snapshot(tmp_path))


def test_train_marks_the_agent_complete_only_with_its_tokenizer(
        ws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``agent.json`` (what makes a folder an agent) is written after the unit tokenizer is
    copied in: an interrupt during the copy used to leave an agent that loaded and simulated
    but could not vocode its audio; now it leaves no agent, and the same command resumes."""
    import duplexsim.units
    from duplexsim.cli import main

    copy = duplexsim.units.copy_tokenizer

    def interrupted(*args: object) -> None:
        raise KeyboardInterrupt

    out = ["--out", "agent_tok"]
    with contextlib.chdir(ws):
        monkeypatch.setattr(duplexsim.units, "copy_tokenizer", interrupted)
        assert main([*TRAIN[:4], *out, "--no-progress"]) == 130
        assert (ws / "agent_tok" / "model").is_dir()
        assert not (ws / "agent_tok" / "agent.json").exists()
        monkeypatch.setattr(duplexsim.units, "copy_tokenizer", copy)
        assert main([*TRAIN[:4], *out, "--no-progress"]) == 0
    assert (ws / "agent_tok" / "agent.json").is_file()
    assert (ws / "agent_tok" / "tokenizer" / "config.json").is_file()


def test_the_speech_cache_from_the_environment_is_checked_before_anything_is_written(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
        ) -> None:
    """Only --cache was checked: a $DUPLEXSIM_TTS_CACHE that is a file failed after
    build.json was written, and later builds into the folder were refused (audit)."""
    from duplexsim.cli import main

    blocker = tmp_path / "a_file"
    blocker.write_text("")
    monkeypatch.setenv("DUPLEXSIM_TTS_CACHE", str(blocker))
    out = tmp_path / "corpus"
    assert main(["corpus", "build", "--hours", "0.001", "--conversation-s", "5", "--out",
                 str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "DUPLEXSIM_TTS_CACHE" in err[0] and "is a file" in err[0]
    assert not out.exists()
