"""experiments/continuation.py keys each cached file by exactly what makes it."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "experiments"))


def _world(tmp_path: Path):  # noqa: ANN202 - (Plan, prompts, tokenizer)
    """Real corpora of 8 s dialogues (manifest, units, transcripts, a unit tokenizer)."""
    import continuation_plan
    from cli_workspace import write_corpus
    from continuation_stats import AGENTS

    for preset in AGENTS.values():
        write_corpus(tmp_path / "corpora" / preset)
    plan = continuation_plan.Plan(agents=tmp_path / "agents", corpora=tmp_path / "corpora",
                                  out=tmp_path / "out", chunk_ms=(160,), prompt_s=3.0,
                                  continuation_s=4.0, prompts_per_corpus=1,
                                  splits=("train",), pairs=())
    tokenizer = (continuation_plan.load_prompts(plan),
                 continuation_plan.unit_tokenizer(plan.agents, plan.corpora))
    return plan, *tokenizer


def test_the_resynthesis_is_keyed_by_the_truth_and_tokenizer_not_the_temperature(tmp_path):
    """The resynthesis reads the ground truth's units and the tokenizer only; its cache key
    held the sampling temperature, so --temperature 0.9 beside 1.0 redid it (about 30 s a
    prompt) into the same units. Other ground-truth units or another tokenizer: anew."""
    import continuation_cache
    import continuation_sources
    from cli_workspace import write_tokenizer

    plan, prompts, tokenizer = _world(tmp_path)
    silence = set(int(u) for u in tokenizer.silence_units)
    cached = plan.out / "units"

    def resynth_files() -> set[str]:
        return {f.name for f in cached.glob("resynth_*.npy")}

    first, _ = continuation_sources.score(plan, prompts, {}, silence, tokenizer)
    files = resynth_files()
    assert len(files) == len(prompts) == 2
    again, _ = continuation_sources.score(replace(plan, temperature=0.9), prompts, {}, silence,
                                          tokenizer)
    assert resynth_files() == files  # reused, not made again
    assert first.equals(again)
    other = [replace(p, truth=np.roll(p.truth, 5, axis=1)) for p in prompts]
    continuation_sources.score(plan, other, {}, silence, tokenizer)
    assert len(resynth_files()) == 4  # other units: resynthesised anew
    fisher = next(p for p in prompts if p.corpus == "fisher-like")
    before = continuation_cache.resynth_key(plan, fisher)
    write_tokenizer(plan.corpora / "fisher-like" / "tokenizer", n_silence_units=2)
    assert continuation_cache.resynth_key(plan, fisher) != before


def test_the_tokenizer_key_hashes_the_folder_the_manifest_names(tmp_path):
    """``tokenizer_key`` hashed ``corpus/tokenizer/`` whatever the manifest named: with the
    tokenizer in another folder it hashed two missing files, and a retrained tokenizer
    there reused every continuation and resynthesis. The usual ``tokenizer/`` keys as
    before; one folder named by an absolute or a relative path is one key."""
    import continuation_cache
    from cli_workspace import edit_json, write_tokenizer

    from duplexsim.digests import TOKENIZER_FILES, directory_digest

    plan, prompts, _ = _world(tmp_path)
    fisher = next(p for p in prompts if p.corpus == "fisher-like")
    corpus = plan.corpora / "fisher-like"
    usual = continuation_cache.tokenizer_key(plan, "fisher-like")
    assert usual == directory_digest(corpus, TOKENIZER_FILES)  # the default key: unchanged
    (corpus / "tokenizer").rename(tmp_path / "shared_tok")
    edit_json(corpus / "manifest.json", tokenizer=str(tmp_path / "shared_tok"))
    moved = continuation_cache.tokenizer_key(plan, "fisher-like")
    edit_json(corpus / "manifest.json", tokenizer="../../shared_tok")  # relative: the same
    assert continuation_cache.tokenizer_key(plan, "fisher-like") == moved
    before = (continuation_cache.resynth_key(plan, fisher),
              continuation_cache.inputs_key(plan, ["fisher"], fisher))
    write_tokenizer(tmp_path / "shared_tok", n_silence_units=2)  # retrained where it is named
    assert continuation_cache.tokenizer_key(plan, "fisher-like") != moved
    assert continuation_cache.resynth_key(plan, fisher) != before[0]
    assert continuation_cache.inputs_key(plan, ["fisher"], fisher) != before[1]


def test_vocoded_audio_is_keyed_by_the_vocoder_version(tmp_path, monkeypatch):
    """A vocoder that makes other audio from the same units (its blocks for streams over
    120 s) must not reuse resynthesised units or ASR rows of vocoded audio cached before."""
    import continuation_asr
    import continuation_cache

    plan, prompts, _ = _world(tmp_path)
    fisher = next(p for p in prompts if p.corpus == "fisher-like")
    resynth, made_from = (continuation_cache.resynth_key(plan, fisher),
                          continuation_asr.vocoded(plan, fisher, fisher.truth))
    for module in (continuation_cache, continuation_asr):
        monkeypatch.setattr(module, "VOCODER_VERSION", "another")
    assert continuation_cache.resynth_key(plan, fisher) != resynth
    assert continuation_asr.vocoded(plan, fisher, fisher.truth) != made_from


def test_continuations_are_keyed_by_the_prompt_units_not_the_manifest(tmp_path):
    """``corpus import`` of edited audio over the same conversations writes the manifest
    byte for byte (ids, paths, durations) over other units: keyed by the manifest, their
    prompts' continuations were reused. A manifest edit that leaves the units is no new key."""
    import continuation_plan
    from continuation_cache import inputs_key
    from continuation_stats import AGENTS

    plan, prompts, _ = _world(tmp_path)
    fisher = next(p for p in prompts if p.corpus == "fisher-like")
    corpus = plan.corpora / "fisher-like"
    before = inputs_key(plan, AGENTS, fisher)
    assert inputs_key(plan, AGENTS,
                      replace(fisher, truth=fisher.truth[:, ::-1])) == before
    manifest = (corpus / "manifest.json").read_bytes()
    units_file = corpus / "units" / f"{fisher.id.split('/', 1)[1]}.npy"
    np.save(units_file, np.roll(np.load(units_file), 7, axis=1))  # re-encoded, same manifest
    assert (corpus / "manifest.json").read_bytes() == manifest
    again = next(p for p in continuation_plan.load_prompts(plan) if p.id == fisher.id)
    assert inputs_key(plan, AGENTS, again) != before
    edited = manifest.replace(b'"seed": 0', b'"seed": 1')
    assert edited != manifest
    (corpus / "manifest.json").write_bytes(edited)
    assert inputs_key(plan, AGENTS, again) == \
        inputs_key(plan, AGENTS,
                   next(p for p in continuation_plan.load_prompts(plan) if p.id == fisher.id))
    assert inputs_key(replace(plan, temperature=0.9), AGENTS, again) != \
        inputs_key(plan, AGENTS, again)


def _write_audio(corpus: Path, dialogue_id: str, wave: np.ndarray) -> None:
    from duplexsim.audio.io import write_audio

    write_audio(corpus / "audio" / f"{dialogue_id}.flac", wave, 8000)  # the manifest's rate


def test_the_ground_truth_audio_must_cover_the_scored_span(tmp_path):
    """The corpus audio was cut to the span unchecked: 5 s of audio under 8 s of units gave
    the ground truth's ASR row 2 of its 4 s. Now one line naming the file, span and length."""
    import continuation_asr
    import pytest

    from duplexsim.errors import InputError

    plan, prompts, _ = _world(tmp_path)
    corpus_name, dialogue_id = prompts[0].id.split("/", 1)
    corpus = plan.corpora / corpus_name
    _write_audio(corpus, dialogue_id, np.zeros((2, 5 * 8000), np.float32))
    span = continuation_asr.scored_span_s(plan)
    with pytest.raises(InputError, match=rf"{dialogue_id}\.flac.*5 s of audio do not cover "
                                         r"the scored span 3-7 s") as err:
        continuation_asr.truth_audio(corpus, dialogue_id, span)
    assert "\n" not in str(err.value)
    _write_audio(corpus, dialogue_id, np.zeros((2, 8 * 8000), np.float32))
    audio, rate, _ = continuation_asr.truth_audio(corpus, dialogue_id, span)
    assert (audio.shape, rate) == ((2, 4 * 8000), 8000)


def test_asr_rows_are_keyed_by_the_audio_and_the_asr_not_the_temperature(tmp_path,
                                                                         monkeypatch):
    """Ground-truth ASR rows were keyed by every agent and the temperature (transcribed
    again after a retraining or at --temperature 0.9) and not by the audio or the ASR (a
    re-imported corpus, or another faster-whisper, reused old transcripts and WER)."""
    import importlib.metadata
    import shutil

    import continuation_asr
    import pytest

    from duplexsim.metrics import asr

    if not asr.asr_available() or shutil.which("espeak-ng") is None:
        pytest.skip("needs the asr extra and espeak-ng")
    from duplexsim.corpora.tts import speak

    plan, prompts, tokenizer = _world(tmp_path)
    plan = replace(plan, asr=True, asr_prompts=1, resynth=False)
    fisher = next(p for p in prompts if p.corpus == "fisher-like")
    prompts = [fisher]
    dialogue_id = fisher.id.split("/", 1)[1]
    corpus = plan.corpora / "fisher-like"
    _write_audio(corpus, dialogue_id, np.zeros((2, 8 * 8000), np.float32))

    def rows() -> set[str]:
        return {f.name for f in (plan.cache_dir / "asr").glob("ground_truth_*.json")}

    first = continuation_asr.asr_table(plan, prompts, {}, tokenizer)
    assert first["asr_text_0"].tolist() == [""] and len(rows()) == 1
    continuation_asr.asr_table(replace(plan, temperature=0.9), prompts, {}, tokenizer)
    assert len(rows()) == 1  # the same audio: reused, whatever the sampling
    wave = np.zeros((2, 8 * 8000), np.float32)
    clip = speak("good morning", "en-us", 8000)[: 3 * 8000]
    wave[0, 3 * 8000: 3 * 8000 + len(clip)] = clip  # speech inside the scored 3-7 s
    _write_audio(corpus, dialogue_id, wave)  # re-imported: same manifest, other audio
    spoken = continuation_asr.asr_table(plan, prompts, {}, tokenizer)
    assert len(rows()) == 2 and "morning" in spoken["asr_text_0"][0].lower()
    real = importlib.metadata.version
    monkeypatch.setattr(importlib.metadata, "version", lambda dist: "9.9.9"
                        if dist == "faster-whisper" else real(dist))
    continuation_asr.asr_table(plan, prompts, {}, tokenizer)
    assert len(rows()) == 3  # another faster-whisper: transcribed anew
