"""What a corpus build may do in a folder that holds one: resume it, refuse, or delete it
first (``--rebuild``)."""

from __future__ import annotations

import json
import shutil

import pytest

from duplexsim.corpora.config import load_config


def test_a_tokenizer_retrained_in_place_is_refused(tmp_path) -> None:
    """build.json records the tokenizer's digest: the same --tokenizer path holding another
    tokenizer would otherwise sit beside units encoded with the old one."""
    from duplexsim.atomic import write_json
    from duplexsim.corpora.rebuild import build_record, check_rebuild
    from duplexsim.errors import OutputError

    cfg = load_config("fisher-like")
    tok = tmp_path / "units"
    tok.mkdir()
    (tok / "config.json").write_text('{"n_units": 20}')
    (tok / "arrays.safetensors").write_bytes(b"old")
    out = tmp_path / "corpus"
    first = build_record(cfg, 0, "fisher-like", 20, tok)
    write_json(out / "build.json", first)
    check_rebuild(out, build_record(cfg, 0, "fisher-like", 20, tok), rebuild=False)  # same
    (tok / "arrays.safetensors").write_bytes(b"new")
    with pytest.raises(OutputError, match="tokenizer_sha256"):
        check_rebuild(out, build_record(cfg, 0, "fisher-like", 20, tok), rebuild=False)
    del first["tokenizer_sha256"]  # a corpus built before the digest was recorded
    write_json(out / "build.json", first)
    check_rebuild(out, build_record(cfg, 0, "fisher-like", 20, tok), rebuild=False)


def test_a_file_beside_the_tokenizer_does_not_block_a_resume(tmp_path) -> None:
    """build.json's tokenizer_sha256 covers the tokenizer's own files only: a user's notes,
    a stray file or a folder put beside the --tokenizer after the build made the resume
    read as another tokenizer (refused until --rebuild). A changed own file still does."""
    from duplexsim.atomic import write_json
    from duplexsim.corpora.rebuild import build_record, check_rebuild
    from duplexsim.errors import OutputError

    cfg = load_config("fisher-like")
    tok = tmp_path / "units"
    tok.mkdir()
    (tok / "config.json").write_text('{"n_units": 20}')
    (tok / "arrays.safetensors").write_bytes(b"arrays")
    out = tmp_path / "corpus"
    write_json(out / "build.json", build_record(cfg, 0, "fisher-like", 20, tok))
    (tok / "notes.txt").write_text("trained on the pilot calls")
    (tok / "old").mkdir()
    (tok / "old" / "arrays.safetensors").write_bytes(b"older arrays")
    again = build_record(cfg, 0, "fisher-like", 20, tok)
    assert again == json.loads((out / "build.json").read_text())
    check_rebuild(out, again, rebuild=False)  # resumed
    (tok / "config.json").write_text('{"n_units": 21}')
    with pytest.raises(OutputError, match="tokenizer_sha256"):
        check_rebuild(out, build_record(cfg, 0, "fisher-like", 20, tok), rebuild=False)


def test_a_rebuild_keeps_the_tokenizer_it_is_asked_to_reuse(tmp_path, capsys) -> None:
    """--tokenizer OUT/tokenizer --rebuild deleted the tokenizer with the corpus and trained
    a new one in its place, of --n-units units (a 501-unit tokenizer came back as 32
    units, unlike the agents trained on the corpus); now refused before anything is
    deleted. A tokenizer outside the corpus still rebuilds."""
    from duplexsim.corpora.rebuild import build_record, check_rebuild
    from duplexsim.errors import InputError

    cfg = load_config("fisher-like")
    out = tmp_path / "corpus"
    tok = out / "tokenizer"
    tok.mkdir(parents=True)
    (tok / "config.json").write_text('{"n_units": 501}')
    (tok / "arrays.safetensors").write_bytes(b"501 units")
    record = build_record(cfg, 0, "fisher-like", 32, tok)
    (out / "build.json").write_text(json.dumps(record))
    with pytest.raises(InputError, match=r"--tokenizer: lies in .*tokenizer, which --rebuild "
                                         "deletes"):
        check_rebuild(out, record, rebuild=True)
    assert (tok / "arrays.safetensors").read_bytes() == b"501 units"
    assert (out / "build.json").is_file()
    outside = tmp_path / "tok"
    shutil.copytree(tok, outside)
    check_rebuild(out, build_record(cfg, 0, "fisher-like", 32, outside), rebuild=True)
    assert not (out / "tokenizer").exists() and not (out / "build.json").exists()


def test_a_rebuild_cut_short_is_not_resumed_as_the_old_corpus(tmp_path, monkeypatch) -> None:
    """--rebuild deleted audio/ first and build.json last: cut short in between (a kill), a
    plain rerun resumed under the old build.json and paired the old units with new audio;
    now the records go first, such a folder is refused until --rebuild, which clears it."""
    from duplexsim.corpora import rebuild
    from duplexsim.errors import OutputError

    out = tmp_path / "c"
    record = rebuild.build_record(load_config("fisher-like", conversation_s=20.0), 3,
                                  "fisher-like", 32, None)
    for part in ("audio", "units", "fisher", "candor", "tokenizer"):
        (out / part).mkdir(parents=True)
        (out / part / "x").write_text("old")
    (out / "build.json").write_text(json.dumps(record))
    (out / "manifest.json").write_text("{}")
    rebuild.check_rebuild(out, record, rebuild=False)  # the same parameters: resumed

    def killed(path, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(rebuild.shutil, "rmtree", killed)
        with pytest.raises(KeyboardInterrupt):
            rebuild.check_rebuild(out, record, rebuild=True)
    with pytest.raises(OutputError, match="partial corpus .* --rebuild"):
        rebuild.check_rebuild(out, record, rebuild=False)
    rebuild.check_rebuild(out, record, rebuild=True)
    assert not list(out.iterdir())
    # a folder of unknown parameters that also holds what a build does not write (here an
    # unfinished import's record and sources): --rebuild deletes nothing
    for part in ("audio", "sources"):
        (out / part).mkdir()
    (out / "import.json").write_text("{}")
    with pytest.raises(OutputError, match=r"beside files a build does not write "
                       r"\(import.json, sources\)"):
        rebuild.check_rebuild(out, record, rebuild=True)
    assert sorted(p.name for p in out.iterdir()) == ["audio", "import.json", "sources"]


def test_the_build_module_still_hands_out_the_checks() -> None:
    """The checks moved here from duplexsim.corpora.build, which re-exports them: code that
    imports them from there gets the same objects."""
    from duplexsim.corpora import build, rebuild

    for name in ("CORPUS_MARKERS", "CORPUS_PARTS", "build_record", "check_rebuild"):
        assert getattr(build, name) is getattr(rebuild, name)
        assert name in build.__all__
