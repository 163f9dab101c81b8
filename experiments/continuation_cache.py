"""Where continuation.py caches what it makes, keyed by exactly what makes it: each
continuation's key (:func:`inputs_key`: the agents' files, the prompt's units, the unit
tokenizer, the sampling settings), the resynthesis's (:func:`resynth_key`), and the cached
``.npy`` file itself (:func:`cached_units`). A retrained agent, a re-encoded prompt or
another setting is made anew, never read from an older run's cache.

The ASR rows' key (:func:`continuation_asr.asr_key`) leaves out Whisper's ``cpu_threads``
(and ``OMP_NUM_THREADS``, which it follows at 0): it changes the speed only. They are
CTranslate2's intra-op threads, which share out each operation's work, not the decoding;
the shipped tiny.en transcribed a short clip, clean and with noise, to the same text,
tokens and ``avg_logprob`` (to the last bit) at 1 and 2 threads (faster-whisper 1.2.1,
int8, CPU). Observed, not promised by CTranslate2: a difference would show as another
transcript of the same key, never as a reused row of other audio."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from duplexsim.atomic import atomic_path
from duplexsim.digests import (
    AGENT_FILES,
    SIMULATOR_VERSION,
    array_digest,
    directory_digest,
    key_of,
    tokenizer_folder_digest,
)
from duplexsim.units.vocoder import VOCODER_VERSION

import numpy as np

if TYPE_CHECKING:  # the study's Plan and Prompt are only types here
    from continuation_plan import Plan, Prompt


SEEDING = "per-prompt"
"""How a continuation's sampling stream is chosen (:func:`continuation_sources.prompt_seed`),
part of the key of every file an agent makes (:func:`inputs_key`): continuations cached
when every prompt was sampled from the seed itself are made anew."""


def inputs_key(plan: Plan, agents: Iterable[str], p: Prompt) -> str:
    """Key of a cached continuation (16 hex): what the agents read and how they sample, so
    that a rerun after retraining an agent, re-encoding the prompt or changing a setting
    makes it anew: the agents' files, the prompt's units (:func:`~duplexsim.digests.array_digest`),
    the unit tokenizer (:func:`tokenizer_key`), the sampling temperature, the continuation's
    length, :data:`SEEDING` and :data:`SIMULATOR_VERSION`. The prompt's units, not the
    corpus's manifest: the manifest names each dialogue's units file, not its contents, so
    ``corpus import`` of edited audio over the same conversations (same ids and durations)
    wrote the same manifest over other units, and their prompts' continuations were reused."""
    return key_of({"agents": {a: directory_digest(plan.agents / a, AGENT_FILES)
                              for a in sorted(agents)},
                   "prompt": array_digest(p.prompt), "tokenizer": tokenizer_key(plan, p.corpus),
                   "temperature": plan.temperature, "continuation_s": plan.continuation_s,
                   "simulator": SIMULATOR_VERSION, "seeding": SEEDING})


def tokenizer_key(plan: Plan, corpus: str) -> str:
    """Digest (16 hex) of the unit tokenizer of ``corpus`` (the folder its manifest names,
    :func:`~duplexsim.corpora.corpus.tokenizer_dir`; the study's shared one:
    :func:`continuation_plan.unit_tokenizer`), which the cached units and audio are made with.
    It hashed ``corpus/tokenizer/`` whatever the manifest named: a corpus whose tokenizer
    is elsewhere (``"tokenizer": "../shared_tok"``) was keyed by two missing files, and
    its continuations were reused after that tokenizer was retrained. Hashed as a sweep
    cell's corpus hashes it (:func:`~duplexsim.digests.tokenizer_folder_digest`), so the
    usual ``tokenizer/`` keys as it did."""
    from duplexsim.corpora.corpus import tokenizer_dir

    return tokenizer_folder_digest(tokenizer_dir(plan.corpora / corpus))


def resynth_key(plan: Plan, p: Prompt) -> str:
    """Key of a cached resynthesis (16 hex): what :func:`continuation_sources.resynthesise` reads,
    the ground truth's units and the unit tokenizer (the corpus's, the study's shared one),
    and the code (:data:`SIMULATOR_VERSION`, the vocoder's :data:`VOCODER_VERSION`). Not the
    sampling temperature, which it does not use: keyed by :func:`inputs_key`,
    ``--temperature 0.9`` beside 1.0 redid every prompt's resynthesis (about 30 s each)
    into the same numbers."""
    return key_of({"truth": array_digest(p.truth), "simulator": SIMULATOR_VERSION,
                   "tokenizer": tokenizer_key(plan, p.corpus), "vocoder": VOCODER_VERSION})


def cached_units(path: Path, make) -> np.ndarray:  # noqa: ANN001 - make: () -> ndarray
    """The units array cached at ``path`` (an ``.npy`` file named by its key), or
    ``make()``'s, written there atomically first."""
    if path.is_file():
        return np.load(path)
    arr = np.asarray(make(), dtype=np.int64)
    with atomic_path(path) as tmp, tmp.open("wb") as fh:
        np.save(fh, arr)
    return arr
