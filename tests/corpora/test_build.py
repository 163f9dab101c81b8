"""Synthetic corpus build: layout, determinism, resume, tokenizer reuse, round trip through
the real readers, stats, CLI, the shipped default dialogue."""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pytest

from duplexsim.cli import main
from duplexsim.corpora import CandorCorpus, FisherCorpus, default_dialogue, load_corpus
from duplexsim.corpora.build import build_corpus
from duplexsim.corpora.calibration import population_centres
from duplexsim.corpora.config import load_config
from duplexsim.corpora.stats import corpus_stats, format_table
from duplexsim.corpora.synth import conversation_style, generate

HOURS = 40 / 3600  # two conversations of 20 s


def _build(out, cache, preset="fisher-like", hours=HOURS, workers=1, **kw):
    cfg = load_config(preset, conversation_s=20.0)
    return build_corpus(out, cfg, hours=hours, seed=3, preset=preset, cache_dir=cache,
                        workers=workers, n_units=32, **kw)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    _build(root / "fl", root / "tts")
    return root


def test_layout_and_reader(built) -> None:
    out = built / "fl"
    m = json.loads((out / "manifest.json").read_text())
    assert m["format"] == "duplexsim-corpus/1" and m["n_units"] == 32
    assert m["sample_rate_hz"] == 8000 and m["tokenizer"] == "tokenizer"
    assert sorted(d["split"] for d in m["dialogues"]) == ["test", "train"]
    corpus = load_corpus(out)
    assert corpus.preset == "fisher-like" and len(corpus.ids()) == 2
    d = corpus.dialogue(corpus.ids(split="train")[0], audio=True)
    assert d.units.shape == (2, 500) and d.audio.shape == (2, 160000)
    assert d.units.max() < 32
    # each dialogue's drawn style, per channel: redrawn from the seed, what generate used
    cfg = load_config("fisher-like", conversation_s=20.0)
    centres = population_centres(cfg)
    assert m["style_centres"]["ipu_median_s"] == centres.ipu_median_s
    for i, entry in enumerate(m["dialogues"]):
        style = entry["style"]
        assert style == conversation_style(cfg, np.random.SeedSequence(3, spawn_key=(i,))).record(
            cfg, centres)
        assert style["entrainment"] == cfg.entrainment and len(style["speakers"]) == 2
        a, b = style["speakers"]
        assert a["voice"] != b["voice"] and a["ipu_median_s"] > 0 and b["fto_sd_ms"] < 450
    # ... and the style the audio was rendered with (generate's own record, its voices):
    # the manifest's is redrawn from the seed, so the two agree only if both draw it alike
    _, segments, meta = generate(cfg, np.random.SeedSequence(3, spawn_key=(0,)), built / "tts")
    assert meta["style"] == m["dialogues"][0]["style"]
    assert meta["voices"] == [f"{s['voice']}|p{s['pitch']}|s{s['rate_wpm']}"
                              for s in m["dialogues"][0]["style"]["speakers"]]
    read = corpus.dialogue(m["dialogues"][0]["id"]).segments  # (times written to the ms)
    assert [(s.speaker, s.text, s.kind) for s in segments] == [
        (s.speaker, s.text, s.kind) for s in read]
    assert max(abs(a.start_s - b.start_s) + abs(a.end_s - b.end_s)
               for a, b in zip(segments, read, strict=True)) <= 0.001 + 1e-9
    kinds = {s.kind for i in corpus.ids() for s in corpus.dialogue(i).segments}
    assert kinds == {"ipu", "backchannel"}
    tok = corpus.tokenizer()
    agree = np.mean(tok.is_speech(d.units) == d.segment_vad(500))
    print(f"unit VAD vs annotation agreement (synthetic): {agree:.3f}")
    assert agree > 0.93
    speech = d.audio[:, d.segment_vad(500).repeat(320, axis=1)[0]]
    assert np.sqrt(np.mean(speech**2)) > 0.01  # there is sound where annotations say speech


def test_annotations_round_trip_through_real_readers(built) -> None:
    corpus = load_corpus(built / "fl")
    for id in corpus.ids():
        d = corpus.dialogue(id)
        fisher = FisherCorpus(built / "fl" / "fisher", pattern="*").dialogue(id, audio=False)
        candor = CandorCorpus(built / "fl" / "candor").dialogue(id, audio=False)
        key = [(s.speaker, s.start_s, s.end_s, s.text) for s in d.segments]
        assert [(s.speaker, s.start_s, s.end_s, s.text) for s in fisher.segments] == key
        assert [(s.speaker, s.start_s, s.end_s, s.text, s.kind) for s in candor.segments] == [
            (s.speaker, s.start_s, s.end_s, s.text, s.kind) for s in d.segments]
        # the annotated speech is in the audio: annotated-silent stretches are quiet
    audio = FisherCorpus(built / "fl" / "fisher", pattern="*")
    assert audio.ids() == corpus.ids()


def test_deterministic_and_resumes(built) -> None:
    out = built / "again"
    _build(out, built / "tts", workers=2)  # the same bytes from a pool as from one process
    for sub in ("audio", "units", "fisher", "tokenizer"):
        for f in sorted((built / "fl" / sub).iterdir()):
            assert f.read_bytes() == (out / sub / f.name).read_bytes(), f
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest == {**json.loads((built / "fl" / "manifest.json").read_text()),
                        "name": "again"}
    # interrupt: one conversation's files and the manifest gone, the other kept
    ids = sorted(p.stem for p in (out / "audio").iterdir())
    kept = out / "audio" / f"{ids[0]}.flac"
    stamp = kept.stat().st_mtime_ns
    (out / "manifest.json").unlink()
    (out / "units" / f"{ids[1]}.npy").unlink()
    shutil.rmtree(out / "candor" / ids[1])
    res = _build(out, built / "tts")
    assert kept.stat().st_mtime_ns == stamp  # not rebuilt
    assert abs(res["built_hours"] - 20 / 3600) < 1e-9
    assert (out / "units" / f"{ids[1]}.npy").read_bytes() == (
        built / "fl" / "units" / f"{ids[1]}.npy").read_bytes()


def test_a_corpus_built_into_the_current_folder_is_named_after_it(built, tmp_path,
                                                                   monkeypatch) -> None:
    """`--out .` wrote the manifest name "" (Path('.').name)."""
    shutil.copytree(built / "fl", tmp_path / "here")
    monkeypatch.chdir(tmp_path / "here")
    assert _build(".", built / "tts")["built_hours"] == 0  # resumed: nothing rendered
    assert load_corpus(".").name == "here"


def test_an_extended_corpus_keeps_the_splits_it_had(built) -> None:
    """Extending a corpus to more hours re-drew the split over all its dialogues: some of
    the smaller corpus's test dialogues became train dialogues of the larger one (an agent
    trained on one and tested on the other saw its test set). Now the dialogues built
    first keep their split and the new ones are split among themselves."""
    from duplexsim.corpora.build import plan

    out = built / "extended"
    shutil.copytree(built / "fl", out)
    before = {d["id"]: d["split"] for d in json.loads((out / "manifest.json").read_text())[
        "dialogues"]}
    res = _build(out, built / "tts", hours=4 * 20 / 3600)
    after = {d["id"]: d["split"] for d in res["dialogues"]}
    assert len(after) == 4 and {k: after[k] for k in before} == before
    # the direct build's counts: four conversations hold one test dialogue (the two new
    # ones were split among themselves, one more held out: two of four)
    assert sorted(after.values()) == ["test", "train", "train", "train"]
    assert abs(res["built_hours"] - 40 / 3600) < 1e-9  # the first two were not rebuilt
    # a direct build keeps the split plan it always had
    cfg = load_config("fisher-like", conversation_s=20.0)
    assert plan(cfg, HOURS, 3) == plan(cfg, HOURS, 3, {})


def test_a_shrunk_then_extended_corpus_keeps_the_splits_it_had(built) -> None:
    """Shrinking a corpus dropped its last dialogues' splits from the manifest, so extending
    it again re-drew them among the new ones: a dialogue of the test split could come back
    as a train dialogue (reported by the corpora review helper: 20 -> 10 -> 20
    conversations moved one from test to val and one from train to test)."""
    out = built / "shrunk"
    shutil.copytree(built / "fl", out)
    full = {d["id"]: d["split"] for d in _build(out, built / "tts",
                                                   hours=4 * 20 / 3600)["dialogues"]}
    small = _build(out, built / "tts", hours=1 * 20 / 3600)
    manifest = json.loads((out / "manifest.json").read_text())
    assert len(small["dialogues"]) == 1 == len(load_corpus(out).ids())
    assert manifest["earlier_splits"] == {k: v for k, v in full.items()
                                          if k != small["dialogues"][0]["id"]}
    again = {d["id"]: d["split"] for d in _build(out, built / "tts",
                                                    hours=4 * 20 / 3600)["dialogues"]}
    assert again == full
    assert "earlier_splits" not in json.loads((out / "manifest.json").read_text())


def test_small_extensions_keep_the_split_shares() -> None:
    """Each extension split only its new dialogues among themselves, so extending 120
    conversations two at a time to 140 held out one of every two new ones: 22 test and 12 val
    (16 % and 9 %) where the shares (0.1, 0.1) give 14 and 14. The new ones now fill the
    counts a direct build of the total holds, and nothing already split moves."""
    from collections import Counter

    from duplexsim.corpora.build import plan

    cfg = load_config("fisher-like", conversation_s=120.0)
    hours = 120 * 120 / 3600
    splits = {e["id"]: e["split"] for e in plan(cfg, hours, 0)}
    for _ in range(10):
        hours += 2 * 120 / 3600
        extended = {e["id"]: e["split"] for e in plan(cfg, hours, 0, splits)}
        assert {k: extended[k] for k in splits} == splits
        splits = extended
    direct = Counter(e["split"] for e in plan(cfg, hours, 0))
    assert Counter(splits.values()) == direct == {"train": 112, "val": 14, "test": 14}


@pytest.mark.parametrize("length", [[], ["--conversation-s", "20"]])
def test_a_corpus_of_part_frames_names_the_rebuild(tmp_path, capsys, length) -> None:
    """A corpus built before conversation_s had to be whole 40 ms frames (20.01 s) cannot be
    resumed or extended: 20.01 is refused as a length and any other was "holds a corpus
    built with 20.01, not 20.0 (allowed: the same parameters to resume or extend it, ...)",
    parameters no build accepts. The refusal now says why and names --rebuild."""
    from duplexsim.corpora.rebuild import build_record

    out = tmp_path / "old"
    out.mkdir()
    record = build_record(load_config("fisher-like", conversation_s=20.0), 0, "fisher-like",
                          501, None)
    record["params"]["conversation_s"] = 20.01
    (out / "build.json").write_text(json.dumps(record))
    assert main(["corpus", "build", "--out", str(out), "--hours", "0.01", *length]) == 2
    err = capsys.readouterr().err
    assert err == (f"{out}: params.conversation_s: holds a corpus of 20.01 s conversations, "
                   "not whole 40 ms unit frames, which no build makes now: it cannot be "
                   "resumed or extended (allowed: --rebuild to delete it and build anew, e.g. "
                   "--conversation-s 20, or another --out)\n")


@pytest.fixture(scope="module")
def direct4(built):
    """The direct build of four 20 s conversations (``built / "direct4"``)."""
    _build(built / "direct4", built / "tts", hours=4 * 20 / 3600)
    return built / "direct4"


def _same_files(a, b, subs=("audio", "units", "tokenizer")) -> None:
    for sub in subs:
        assert sorted(f.name for f in (a / sub).iterdir()) == sorted(
            f.name for f in (b / sub).iterdir()), sub
        for f in sorted((a / sub).iterdir()):
            assert f.read_bytes() == (b / sub / f.name).read_bytes(), f


def test_a_partial_build_resumed_at_other_hours_is_the_direct_build(built, direct4) -> None:
    """A first build cut short after its tokenizer was trained (no manifest yet) and run
    again for more hours kept that tokenizer, trained on the smaller plan's train split:
    with seed 3 on dialogue 0 alone where the direct 4-dialogue build trains on 0, 1 and 3
    (other units, other bytes), and with seed 5 on dialogue 0, which the 4-dialogue plan
    holds out as test. Now the tokenizer is retrained for the plan being built."""
    resumed, direct = built / "partial", direct4
    shutil.copytree(built / "fl", resumed)
    (resumed / "manifest.json").unlink()  # cut short while encoding units
    _build(resumed, built / "tts", hours=4 * 20 / 3600)
    _same_files(direct, resumed)
    assert json.loads((resumed / "manifest.json").read_text()) == {
        **json.loads((direct / "manifest.json").read_text()), "name": "partial"}
    assert json.loads((resumed / "build.json").read_text()) == json.loads(
        (direct / "build.json").read_text())


def test_a_partial_build_at_other_hours_refuses_the_tokenizer_it_trained_elsewhere(
        built, direct4) -> None:
    """--tokenizer NEW (a folder the build trains into): a first build cut short and rerun
    for other hours kept the tokenizer there, trained for the smaller plan. That folder is
    outside the corpus and may be shared: the rerun is refused in one line, nothing deleted;
    once the user deletes it, the rerun is the direct build (tokenizer and units)."""
    from duplexsim.errors import InputError

    out, tok = built / "partial_tok", built / "new_units"
    _build(out, built / "tts", tokenizer_dir=tok)
    (out / "manifest.json").unlink()  # cut short while encoding units
    before = {f.name: f.read_bytes() for f in tok.iterdir()}
    record = (out / "build.json").read_bytes()
    line = (rf"^{re.escape(str(tok))}: --tokenizer: holds the tokenizer this build trained "
            r"for a plan of other hours \(on 1 of its conversations, this plan on 3\): stale "
            r"for this one \(allowed: delete that folder")
    with pytest.raises(InputError, match=line):
        _build(out, built / "tts", hours=4 * 20 / 3600, tokenizer_dir=tok)
    assert {f.name: f.read_bytes() for f in tok.iterdir()} == before
    assert (out / "build.json").read_bytes() == record
    _build(out, built / "tts", hours=2 * 20 / 3600, tokenizer_dir=tok)  # its own plan: resumes
    shutil.rmtree(tok)
    (out / "manifest.json").unlink()
    _build(out, built / "tts", hours=4 * 20 / 3600, tokenizer_dir=tok)
    _same_files(direct4, out)
    for f in sorted((direct4 / "tokenizer").iterdir()):
        assert f.read_bytes() == (tok / f.name).read_bytes()
    assert json.loads((out / "build.json").read_text())["tokenizer_ids"] == json.loads(
        (direct4 / "build.json").read_text())["tokenizer_ids"]


def test_a_corpus_whose_tokenizer_was_deleted_is_encoded_anew(direct4, tmp_path) -> None:
    """A user deleted a finished corpus's tokenizer/ and reran the build (here shrunk to
    two conversations, which trains the new one on other dialogues): the units already there
    stayed, encoded with the deleted tokenizer, beside the new one. Now every unit file is
    the audio encoded with the corpus's tokenizer, and build.json and the manifest
    describe that tokenizer."""
    from duplexsim.audio.io import read_audio
    from duplexsim.corpora.build import write_units
    from duplexsim.units import load_tokenizer, tokenizer_digest

    out = tmp_path / "corpus"
    shutil.copytree(direct4, out)
    old_units = (out / "units" / "fisherlike_00000.npy").read_bytes()
    shutil.rmtree(out / "tokenizer")
    _build(out, tmp_path / "tts", hours=2 * 20 / 3600)
    tok = load_tokenizer(out / "tokenizer")
    names = ["fisherlike_00000.npy", "fisherlike_00001.npy"]
    for name in names:
        wave, sr = read_audio(out / "audio" / name.replace(".npy", ".flac"), channels=2)
        write_units(tok, wave, sr, tmp_path / name)
        assert (tmp_path / name).read_bytes() == (out / "units" / name).read_bytes(), name
    assert (out / "units" / names[0]).read_bytes() != old_units  # other units than before
    assert sorted(f.name for f in (out / "units").iterdir()) == names  # no old ones either
    record = json.loads((out / "build.json").read_text())
    assert record["tokenizer_sha256"] == tokenizer_digest(out / "tokenizer")
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["silence_units"] == sorted(tok.silence_units)


@pytest.fixture(scope="module")
def candor_too(built):
    """``built`` with a second, candor-like corpus ``cl`` on the first one's tokenizer."""
    _build(built / "cl", built / "tts", preset="candor-like",
           tokenizer_dir=built / "fl" / "tokenizer")
    return built


def test_second_corpus_reuses_the_tokenizer(candor_too) -> None:
    built, out = candor_too, candor_too / "cl"
    for f in ("config.json", "arrays.safetensors"):
        assert (out / "tokenizer" / f).read_bytes() == (built / "fl" / "tokenizer" / f).read_bytes()
    corpus = load_corpus(out)
    assert corpus.sample_rate_hz == 16000 and corpus.preset == "candor-like"


def test_stats_and_cli(built, capsys) -> None:
    stats = corpus_stats(load_corpus(built / "fl"))
    for view in ("units", "annotations"):
        assert stats[view]["ipus_per_min"] > 5 and 0.2 < stats[view]["speech_share"] < 1.0
    assert stats["target"]["fto_median_ms"] == 180.0
    assert "fto_median_ms" in format_table(stats)
    # 20 s dialogues are shorter than a 30 s prompt: no r, said so, not a crash
    pc = stats["prompt_continuation"]
    assert pc["units"]["ipu"]["n"] == 0 and pc["paper"]["ipu"] == 0.72
    assert "(0 dialogues of at least 120 s; an r needs at least 3)" in format_table(stats)
    assert "r over fewer" not in format_table(stats)
    # an event missing from some windows: its r is over fewer dialogues, and the table says so
    pc["units"] = {"ipu": {"r": 0.5, "ci_low": 0.1, "ci_high": 0.7, "n": 40},
                   "pause": {"r": 0.2, "ci_low": 0.0, "ci_high": 0.4, "n": 37},
                   "fto": {"r": 0.1, "ci_low": -0.1, "ci_high": 0.3, "n": 40}}
    pc["dialogues"] = 40.0
    table = format_table(stats)
    assert "(40 dialogues of at least 120 s)" in table and "pause units 37" in table
    assert main(["corpus", "stats", str(built / "fl"), "--json"]) == 0
    assert "backchannels_per_min" in json.loads(capsys.readouterr().out)["units"]
    assert main(["corpus", "stats", str(built / "nothing")]) == 2
    assert "corpus folder not found" in capsys.readouterr().err
    (built / "empty").mkdir()
    assert main(["corpus", "stats", str(built / "empty")]) == 2
    assert "unknown layout" in capsys.readouterr().err


def test_units_train_cli(candor_too, tmp_path, capsys) -> None:
    built = candor_too
    from duplexsim.units import load_tokenizer

    code = main(["units", "train", "--corpus", str(built / "fl"), "--corpus", str(built / "cl"),
                 "--out", str(tmp_path / "tok"), "--n-units", "24"])
    assert code == 0, capsys.readouterr().err
    assert load_tokenizer(tmp_path / "tok").n_units == 24


def test_custom_params_from_toml(tmp_path) -> None:
    from duplexsim.errors import ConfigError

    (tmp_path / "c.toml").write_text("p_yield = 0.6\nfto_mean_ms = 0.0\n")
    cfg = load_config("candor-like", tmp_path / "c.toml")
    assert cfg.p_yield == 0.6 and cfg.fto_mean_ms == 0.0 and cfg.sample_rate_hz == 16000
    (tmp_path / "bad.toml").write_text("p_yield = 2.0\nvoices = 3\n")
    with pytest.raises(ConfigError, match=r"bad.toml: voices: unknown key"):
        load_config("fisher-like", tmp_path / "bad.toml")


def test_default_dialogue_ships_with_the_package() -> None:
    d = default_dialogue()
    assert d.units.shape == (2, 1500) and d.duration_s == 60.0
    assert d.segments and max(s.end_s for s in d.segments) <= 60.0
    assert (d.units == 0).any() and (d.units != 0).any()  # silence unit 0 and speech


@pytest.mark.parametrize(("n", "val", "test"), [(2, 0.3, 0.3), (4, 0.45, 0.45), (1, 0.5, 0.4),
                                                (120, 0.1, 0.1)])
def test_every_split_plan_keeps_a_train_dialogue(n: int, val: float, test: float) -> None:
    """Shares of 0.3 + 0.3 over two dialogues gave ['test', 'val'], 0.45 + 0.45 over four no
    train dialogue either: the unit tokenizer then trained on held-out audio."""
    import numpy as np

    from duplexsim.corpora.corpus import assign_splits

    split = assign_splits(n, np.random.SeedSequence(0), val, test)
    assert split.count("train") >= 1 and len(split) == n
    assert split.count("test") == (min(max(1, round(test * n)), n - 1) if n >= 2 else 0)


def test_a_tokenizers_digest_leaves_hidden_files_out(tmp_path) -> None:
    """A temporary a killed save left, or a .DS_Store, made the same tokenizer another one
    (its build record's tokenizer_sha256 no longer matched)."""
    from duplexsim.units import tokenizer_digest

    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "arrays.safetensors").write_bytes(b"\x00\x01")
    before = tokenizer_digest(tmp_path)
    (tmp_path / ".config.json.abc123.tmp").write_text("{")
    (tmp_path / ".DS_Store").write_bytes(b"x")
    assert tokenizer_digest(tmp_path) == before
    (tmp_path / "config.json").write_text('{"n_units": 2}')
    assert tokenizer_digest(tmp_path) != before


@pytest.mark.parametrize(("preset", "hours", "n"), [
    ("fisher-like", 0.25, 2), ("fisher-like", 0.75, 5), ("fisher-like", 1.0, 6),
    ("candor-like", 1.25, 3), ("candor-like", 0.2, 1), ("candor-like", 4.0, 8),
    ("fisher-like", 0.2, 1), ("fisher-like", 1.05, 6)])  # below a half: down
def test_hours_are_rounded_half_up_to_whole_conversations(preset: str, hours: float,
                                                          n: int) -> None:
    """round() went to even: 0.75 h of 600 s calls planned 4 conversations while 0.25 h
    planned 2, and 1.25 h of 1800 s ones 2."""
    from duplexsim.corpora.build import plan

    assert len(plan(load_config(preset), hours, 0)) == n
