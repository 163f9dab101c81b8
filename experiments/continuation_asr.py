"""continuation.py's ``--asr`` columns (:func:`asr_table`): every scored continuation's
channels transcribed by the ASR of :mod:`duplexsim.metrics.asr` and scored (perplexity,
out-of-vocabulary rate, words, repeats, WER against the corpus transcript), the ground
truth from the corpus audio of the scored span (:func:`truth_audio`), the other sources
from their units vocoded; each row cached in ``asr/``, keyed by what it transcribes
(:func:`asr_key`)."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from duplexsim.digests import array_digest, key_of
from duplexsim.errors import InputError
from duplexsim.metrics.protocol import window_frames
from duplexsim.tokens import FRAME_MS
from duplexsim.units.vocoder import VOCODER_VERSION

import numpy as np
import pandas as pd
from continuation_cache import tokenizer_key  # the unit tokenizer's digest
from continuation_stats import AGENTS, ASR_COLUMNS
from tqdm import tqdm

if TYPE_CHECKING:  # the study's Plan and Prompt are only types here
    from continuation_plan import Plan, Prompt


def scored_span_s(plan: Plan) -> tuple[float, float]:
    """``(start, end)`` seconds of the scored window on the dialogue's timeline: the whole
    frames :func:`~duplexsim.metrics.protocol.split_prompt` cuts (29.99 + 89.99 s: frames
    750 to 3000, 30.0 to 120.0 s), where the ground truth's audio and transcript are cut."""
    n_prompt, n_cont = window_frames(plan.prompt_s, plan.continuation_s, FRAME_MS)
    return n_prompt * FRAME_MS / 1000, (n_prompt + n_cont) * FRAME_MS / 1000


def reference_texts(dialogue, start_s: float, end_s: float) -> list[str]:  # noqa: ANN001
    """Per channel, the corpus transcript of the segments whose midpoint is in the span."""
    return [" ".join(s.text for s in dialogue.segments
                     if s.speaker == ch and start_s <= (s.start_s + s.end_s) / 2 < end_s)
            for ch in range(2)]


def asr_row(audio: np.ndarray, sample_rate: int, references: list[str] | None) -> dict:
    """ASR scores of a ``[2, N]`` continuation (pooled channels) and its WER if known."""
    from duplexsim.metrics.asr import asr_scores, word_error_rate

    s = asr_scores(audio, sample_rate)
    row = {k: s[k] for k in (*ASR_COLUMNS[:-1], "asr_text_0", "asr_text_1")}
    row["asr_wer"] = (word_error_rate(" ".join(references), " ".join(
        [str(s["asr_text_0"]), str(s["asr_text_1"])])) if references else float("nan"))
    return row


def vocoded(plan: Plan, p: Prompt, units: np.ndarray) -> dict:
    """What vocoded audio of ``units`` (of prompt ``p``'s corpus) is made from, for
    :func:`asr_key`: the units, the unit tokenizer and the vocoder's version."""
    return {"units": array_digest(units), "tokenizer": tokenizer_key(plan, p.corpus),
            "vocoder": VOCODER_VERSION}


def asr_key(made_from: dict, references: list[str] | None, identity: dict) -> str:
    """Key of a cached ASR row (16 hex): what is transcribed (``made_from``: the audio's
    :func:`~duplexsim.digests.array_digest` and rate, or :func:`vocoded`), the WER reference
    texts and the ASR's identity (:func:`~duplexsim.metrics.asr.asr_identity`: package
    versions, decoding settings; not the thread count, :mod:`continuation_cache` says
    why), and the columns a row holds. Keyed by
    :func:`continuation_cache.inputs_key` of every agent, a ground-truth row was transcribed
    again after an agent was retrained or at another temperature, and one of a re-imported
    corpus, or under another faster-whisper, was not."""
    return key_of({**made_from, "references": references, "asr": identity,
                   "columns": ASR_COLUMNS})


def truth_audio(corpus: Path, dialogue_id: str, span_s: tuple[float, float]
                ) -> tuple[np.ndarray, int, list[str]]:
    """The corpus audio ``[2, N]`` of the scored span of a dialogue, its rate and its
    reference texts (:func:`reference_texts`). Audio that ends before the span (the units
    reach further than the file) is an :class:`~duplexsim.errors.InputError` naming the
    file, the span and the audio's length: cut, the ground truth's row was transcribed over
    less audio than it is scored on."""
    from duplexsim.corpora import load_corpus

    c = load_corpus(corpus)
    d = c.dialogue(dialogue_id, audio=True)
    wave, rate = d.audio, d.sample_rate_hz
    assert wave is not None and rate is not None  # audio=True reads the file (or raises)
    lo, hi = (round(t * rate) for t in span_s)
    if wave.shape[1] < hi:
        audio = next(e["audio"] for e in c.manifest["dialogues"] if e["id"] == dialogue_id)
        raise InputError(str(corpus / audio), "",
                         f"{wave.shape[1] / rate:g} s of audio do not cover "
                         f"the scored span {span_s[0]:g}-{span_s[1]:g} s",
                         "audio as long as the dialogue's units (import or build it again)")
    return wave[:, lo:hi], rate, reference_texts(d, *span_s)


def asr_table(plan: Plan, prompts: list[Prompt], generated: dict,
              tokenizer) -> pd.DataFrame:  # noqa: ANN001 - UnitTokenizer
    """ASR columns for every (prompt, source, seed) but the prompt rows; cached per row in
    ``asr/``, keyed by what it transcribes (:func:`asr_key`)."""
    from duplexsim.atomic import write_json
    from duplexsim.metrics.asr import asr_identity

    hop = tokenizer.sample_rate_hz * FRAME_MS // 1000
    identity = asr_identity()

    def vocode(units: np.ndarray, references: list[str] | None
               ) -> tuple[np.ndarray, int, list[str] | None]:
        # A channel of silence units only is silent: zeros give an empty transcript at no
        # cost (Whisper would hallucinate "you" on Griffin-Lim's near-silence).
        audio = np.stack([tokenizer.decode(ch) if tokenizer.is_speech(ch).any()
                          else np.zeros(len(ch) * hop, np.float32) for ch in units])
        return audio, tokenizer.sample_rate_hz, references

    if plan.asr_prompts is not None:  # the first asr_prompts of each corpus
        keep = {p.id for c in AGENTS.values()
                for p in [p for p in prompts if p.corpus == c][: plan.asr_prompts]}
        prompts = [p for p in prompts if p.id in keep]

    span = scored_span_s(plan)
    # (prompt, source, seed, key, () -> (audio [2, N], sample rate, references or None))
    jobs: list[tuple[Prompt, str, int, str, Callable[[], tuple[np.ndarray, int, list[str] | None]]]]
    jobs = []
    for p in prompts:
        corpus_name, dialogue_id = p.id.split("/", 1)
        read = partial(truth_audio, plan.corpora / corpus_name, dialogue_id, span)
        audio, rate, refs = read()  # not kept: read again only if transcribed (90 s x 2 ch)
        jobs.append((p, "ground_truth", -1, asr_key(
            {"audio": array_digest(audio), "sample_rate_hz": rate}, refs, identity), read))
        if plan.resynth:
            jobs.append((p, "resynth", -1, asr_key(
                vocoded(plan, p, p.truth), refs, identity),
                partial(vocode, p.truth, refs)))
    chosen = {p.id: p for p in prompts}
    for (pid, source, seed), units in generated.items():
        if pid in chosen:
            p = chosen[pid]
            jobs.append((p, source, seed, asr_key(
                vocoded(plan, p, units), None, identity),
                partial(vocode, units, None)))
    rows = []
    for p, source, seed, key, make in tqdm(jobs, desc="asr", unit="dlg"):
        path = plan.cache_dir / "asr" / f"{source}_{p.id.replace('/', '_')}_s{seed}-{key}.json"
        if path.is_file():
            row = json.loads(path.read_text())
        else:
            row = asr_row(*make())
            write_json(path, row)
        rows.append({"prompt": p.id, "source": source, "seed": seed, **row})
    return pd.DataFrame(rows)
