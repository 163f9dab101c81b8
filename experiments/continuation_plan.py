"""What continuation.py studies: its :class:`Plan` (the settings, the paper's by default),
the prompts (:class:`Prompt`) it cuts from both corpora's held-out dialogues
(:func:`load_prompts`) and the one unit tokenizer the corpora and agents share
(:func:`unit_tokenizer`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from duplexsim.errors import InputError
from duplexsim.metrics.protocol import split_prompt, window_frames
from duplexsim.tokens import FRAME_MS

import numpy as np
from continuation_stats import AGENTS  # the agents' folders -> their corpora


@dataclass(frozen=True)
class Plan:
    """What to run; the full defaults follow the paper, smoke mode shrinks them."""

    agents: Path
    corpora: Path
    out: Path
    chunk_ms: tuple[int, ...] = (160, 200, 240)
    seeds: tuple[int, ...] = (0,)
    prompt_s: float = 30.0
    continuation_s: float = 90.0
    prompts_per_corpus: int = 40
    splits: tuple[str, ...] = ("test", "val")
    """Prompt dialogues come from these splits (never trained on; the val split's loss chose
    each agent's kept checkpoint, so only test, or a corpus of another seed, is untouched)."""
    batch: int = 16
    """Continuations generated together (one forward per step)."""
    asr: bool = False
    """Also score ASR transcripts of the continuations (``--asr``; needs the asr extra)."""
    asr_prompts: int | None = None
    """ASR only for the first this many prompts of each corpus (None = all; smoke: 1)."""
    resynth: bool = True
    """Score the resynthesis topline (``--no-resynth`` skips it: about 30 s per prompt)."""
    windows_s: tuple[float, ...] = (0.0, 15.0, 30.0, 60.0, 90.0)
    """Edges (seconds into the continuation) of the windows of the style-persistence table:
    r against the prompt of each window's own means (``--windows``)."""
    pairs: tuple[str, ...] = ("ff", "fc")
    """Prompted interaction (Table 6 analogue): agent pairs, first letter on channel 0
    (``ff``: Fisher with Fisher, ``fc``: Fisher on channel 0, CANDOR on 1; ``--pairs``)."""
    lead: int = 1
    """Interaction lookahead in chunks (1: the paper's, the simulator at 0 ms; ``--lead``)."""
    cache: Path | None = None
    """Where generated units (``units/``) and ASR results (``asr/``) are cached (None: ``out``);
    the training runs of ``--agents A B ...`` share ``OUT``'s (keys name the agents' bytes)."""
    temperature: float = 1.0
    """Sampling temperature of both agents: 1.0 samples the model's own distribution, the
    one to hold against a corpus (0.9, the simulator's default, measured: listener onsets at
    0.43x the corpus's rate, against 0.8x at 1.0). Part of a cached file's key
    (:func:`continuation_cache.inputs_key`): another temperature makes its continuations anew."""

    @property
    def cache_dir(self) -> Path:
        return self.cache or self.out


@dataclass(frozen=True)
class Prompt:
    id: str
    corpus: str
    prompt: np.ndarray
    """Units ``[2, T_prompt]``."""
    truth: np.ndarray
    """Ground-truth continuation units ``[2, T_cont]``."""


def load_prompts(plan: Plan) -> list[Prompt]:
    """Up to ``prompts_per_corpus`` dialogues of each corpus, cut into prompt + continuation.

    A dialogue is long enough by its units (the frames that are cut), not by the manifest's
    ``duration_s``: a manifest that said 121 s over 2000 frames of units chose the dialogue
    and ``split_prompt`` failed with a traceback; one that said 100 s over 3000 frames left
    a dialogue out that holds the windows."""
    from duplexsim.corpora import load_corpus

    out = []
    # the windows in whole frames, as split_prompt cuts them (each rounded on its own: 29.99
    # + 89.99 s is 3000 frames, more than the 2999 of a 119.98 s dialogue)
    try:
        frames = window_frames(plan.prompt_s, plan.continuation_s, FRAME_MS)
    except ValueError as e:  # a window of under half a frame: the flags' error, one line
        flag = "--prompt-s" if str(e).startswith("prompt_s") else "--continuation-s"
        raise InputError(flag, "", str(e)) from None
    need = sum(frames)
    for preset in AGENTS.values():
        corpus = load_corpus(plan.corpora / preset)
        chosen = 0
        for i in (i for s in plan.splits for i in corpus.ids(s)):
            if chosen == plan.prompts_per_corpus:
                break
            units = corpus.units(i)
            if units.shape[1] < need:
                continue
            prompt, truth = split_prompt(units, plan.prompt_s, plan.continuation_s, FRAME_MS)
            out.append(Prompt(f"{preset}/{i}", preset, prompt, truth))
            chosen += 1
        if not chosen:  # the flags' error, one line (a ValueError was printed as a bug)
            raise InputError(str(corpus.root), "--prompt-s, --continuation-s",
                             f"{plan.prompt_s:g} + {plan.continuation_s:g} s: no dialogue of "
                             f"at least {need * FRAME_MS / 1000:g} s of units in splits "
                             f"{', '.join(plan.splits)}",
                             "shorter windows, a longer corpus or other --splits")
    return out


def unit_tokenizer(agents: Path, corpora: Path):  # noqa: ANN201 - UnitTokenizer
    """The one unit tokenizer of the study's corpora and agents (``agents/fisher`` ...),
    checked (:func:`~duplexsim.units.shared_tokenizer`: other ones are an error naming
    both folders): both agents continue both corpora's prompts, and every source is scored
    and vocoded with its silence units and sounds."""
    from duplexsim.corpora.corpus import load_corpus, tokenizer_dir
    from duplexsim.units import load_tokenizer, shared_tokenizer

    folders = [(str(corpora / c), tokenizer_dir(corpora / c)) for c in AGENTS.values()]
    folders += [(str(agents / a), agents / a / "tokenizer") for a in AGENTS]
    found = shared_tokenizer(folders)  # none: the corpus's error (not a corpus, no tokenizer)
    return load_corpus(corpora / AGENTS["fisher"]).tokenizer() if found is None \
        else load_tokenizer(found)
