"""The TDM agent's recipe: duplex alignment on slice sequences with injected interruptions.

Owns: the TDM training data (:class:`TdmStageData`), the synthetic interruption injection
(:func:`inject_interruption`) and :func:`train_tdm_agent`, which writes an agent directory
with ``"kind": "tdm"``. The optimisation loop, checkpoints and logs are the SyncLLM
recipe's (:mod:`duplexsim.training.recipe`), reused unchanged. Must not touch the
simulator or agents.

The paper (Zhang et al. 2024, "Beyond the Turn-Based Game", arXiv 2406.15718) fine-tunes a
pretrained LLM ("duplex alignment") on Duplex-UltraChat: turn-based dialogues cut into
alternating time slices of user input and model output, the model writing ``<idle>`` in a
slice where it has nothing to say; to teach it to react to feedback, new user queries are
inserted while the model is still answering, and the model's answer is cut off there (it
stops and turns to the new query). Here, with speech units instead of text:

- **Slices cut from the corpus dialogues** (stage 3): a window of ``[tdm] window_slices``
  slices starts at a random frame of a dialogue (so the slice grid falls anywhere in the
  speech), in both orientations, one of ``[tdm] slice_ms`` per window, encoded in the TDM
  format (:mod:`duplexsim.tdm_tokens`) and truncated to the stage's ``seq_len``.
  Stage 2 does the same on the dialogue's segments laid out one after another without
  overlap (the SyncLLM recipe's stage 2 layout); stage 1, if enabled, is the SyncLLM
  recipe's turn-based text/unit stage unchanged (the TDM vocabulary extends it).
- **Synthetic interruptions** (stage 3, a share ``interruption_prob`` of the windows):
  in one of the agent's own IPUs that lasts at least a slice, the partner barges in at a
  random frame ``t`` (at least 0.4 s into the IPU, 0.2 s before its end) with the first
  ``barge_in_ms`` of one of its own IPUs from elsewhere in the dialogue. The agent keeps
  speaking until the first slice boundary at least ``min_heard_ms`` after ``t`` (the
  first slice it can decide having heard the barge-in) plus ``yield_ms``, then stops
  (its piece there ends in ``<eos>``, or is ``<idle>``), stays silent until the barge-in
  ends plus ``resume_gap_ms``, and the dialogue then resumes from where the interrupted
  IPU would have ended (both channels shifted alike). The rest of the interrupted IPU is
  dropped, as the paper drops the rest of the cut-off answer. When the window's tokens
  run past ``seq_len`` with the yield in the part cut off, whole slices are dropped from
  the window's front instead (:func:`keep_the_yield`), so every injected yield is trained.

A batch is a pure function of ``(seed, stage, step, micro, rank)``, as in the SyncLLM
recipe: resuming reproduces the data exactly.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from duplexsim.config.card import AgentCard
from duplexsim.config.card_tables import TdmCard
from duplexsim.errors import ConfigError
from duplexsim.models.vocab import TdmVocab, Vocab
from duplexsim.tdm_tokens import TdmFormat
from duplexsim.tokens import FRAME_MS
from duplexsim.training.datasets import (
    STAGE_INDEX,
    DialogueLike,
    Prepared,
    StageData,
    fitting_size,
    frames_in,
    prepare,
    stage_streams,
)

BRIDGE_FRAMES = 5
"""Silences shorter than this (200 ms) inside one speaker's speech do not end an IPU
(:class:`duplexsim.metrics.turntaking.TurnTakingParams` ``min_pause_ms``)."""
ONSET_MIN_FRAMES = 10
"""A barge-in starts at least 0.4 s into the interrupted IPU ..."""
END_MARGIN_FRAMES = 5
"""... and at least 0.2 s before its end."""


def speech_runs(speech: np.ndarray, bridge: int = BRIDGE_FRAMES) -> list[tuple[int, int]]:
    """``[start, end)`` frame runs of ``speech`` (bool), silences shorter than ``bridge``
    bridged."""
    idx = np.flatnonzero(np.diff(np.concatenate([[0], speech.astype(np.int8), [0]])))
    runs = list(zip(idx[0::2].tolist(), idx[1::2].tolist(), strict=True))
    merged: list[tuple[int, int]] = []
    for a, b in runs:
        if merged and a - merged[-1][1] < bridge:
            merged[-1] = (merged[-1][0], b)
        else:
            merged.append((a, b))
    return merged


def inject_interruption(own: np.ndarray, partner: np.ndarray, clips_from: np.ndarray,
                        fmt: TdmFormat, cfg: TdmCard, rng: np.random.Generator,
                        ) -> tuple[np.ndarray, np.ndarray, dict[str, int] | None]:
    """One synthetic barge-in into the window ``own``/``partner`` (frames ``[L]``, slice
    grid at frame 0), the partner's speech taken from ``clips_from`` (its whole channel).

    Returns the new window (same length) and what was done (``onset``, ``yield_at``,
    ``resume_at`` in window frames), or the window unchanged and None when the own stream
    has no IPU of a slice or more, or the partner no IPU to borrow.
    """
    S, L = fmt.slice_frames, len(own)
    runs = [(a, b) for a, b in speech_runs(~fmt.is_silence(own))
            if b - a >= S and b - END_MARGIN_FRAMES > a + ONSET_MIN_FRAMES]
    lo_clip = max(1, cfg.barge_in_ms[0] // FRAME_MS)
    clips = [(a, b) for a, b in speech_runs(~fmt.is_silence(clips_from)) if b - a >= lo_clip]
    if not runs or not clips:
        return own, partner, None
    start, end = runs[int(rng.integers(len(runs)))]
    onset = int(rng.integers(start + ONSET_MIN_FRAMES, end - END_MARGIN_FRAMES))
    ca, cb = clips[int(rng.integers(len(clips)))]
    length = min(max(1, frames_in(cfg.barge_in_ms, rng)), cb - ca)
    heard = onset + cfg.min_heard_ms // FRAME_MS
    boundary = -(-heard // S) * S
    yield_at = min(end, boundary + frames_in(cfg.yield_ms, rng))
    resume_at = max(yield_at, onset + length) + frames_in(cfg.resume_gap_ms, rng)
    silence = fmt.silence_unit
    new_own = np.concatenate([own[:yield_at], np.full(resume_at - yield_at, silence),
                              own[end:]]).astype(np.int64)
    new_partner = np.concatenate([partner[:onset], clips_from[ca:ca + length],
                                  np.full(resume_at - onset - length, silence),
                                  partner[end:]]).astype(np.int64)
    pad = max(0, L - len(new_own))
    new_own = np.concatenate([new_own, np.full(pad, silence, np.int64)])[:L]
    new_partner = np.concatenate([new_partner, np.full(pad, silence, np.int64)])[:L]
    return new_own, new_partner, {"onset": onset, "yield_at": yield_at, "resume_at": resume_at}


def keep_the_yield(seq: list[int], fmt: TdmFormat, done: dict[str, int],
                   max_tokens: int) -> list[int]:
    """``seq``, a window given a barge-in (``done``: :func:`inject_interruption`'s record),
    with whole slices cut from its front so that the own piece that yields ends within its
    first ``max_tokens`` tokens (what a training row keeps): a window is longer than
    ``seq_len``, and a yield in its tail was cut away with it. Never cut past the slice the
    barge-in starts in (the cause stays with the reaction)."""
    S = fmt.slice_frames
    starts = [i for i, t in enumerate(seq) if t == fmt.S0]  # each slice's [S0]
    m = done["yield_at"] // S  # the slice whose own piece stops
    if m >= len(starts):
        return seq
    over = seq.index(fmt.S1, starts[m]) - max_tokens  # the own piece ends before this [S1]
    if over <= 0:
        return seq
    first = next((k for k, i in enumerate(starts) if i >= over), len(starts) - 1)
    return seq[starts[min(first, done["onset"] // S)]:]


class TdmStageData:
    """Deterministic batches of one TDM stage for one split (``Trainer`` reads ``batch``)."""

    def __init__(self, stage: str, card: AgentCard, prepared: list[Prepared], vocab: TdmVocab,
                 split_seed: int = 0, silence_units: Iterable[int] = ()) -> None:
        """``silence_units``: the corpus tokenizer's silence units (the card's
        ``silence_unit`` always counts): a slice of any of them is ``<idle>``."""
        self.stage, self.card, self.vocab = stage, card, vocab
        self.silence_units = frozenset(int(u) for u in silence_units)
        self.scard = card.stages()[stage]
        self.tdm = card.tdm_card
        self.split_seed = split_seed
        self.turn_based = StageData(stage, card, prepared, vocab, split_seed) \
            if stage == "stage1" else None
        self.streams, self.weights = stage_streams(stage, card, prepared, split_seed)
        self.injected = 0
        """Windows given a barge-in so far (by this object; for logs and tests)."""

    def batch(self, step: int, micro: int = 0, rank: int = 0, progress: float = 0.0,
              n_seqs: int | None = None) -> torch.Tensor:
        """``[B, seq_len + 1]`` token ids (right-padded with [PAD])."""
        if self.turn_based is not None:
            return self.turn_based.batch(step, micro, rank, progress, n_seqs)
        key = [self.card.train.seed, STAGE_INDEX[self.stage], self.split_seed, step, micro,
               rank, 17]
        rng = np.random.default_rng(key)
        n = n_seqs or self.scard.seqs_per_micro
        L = self.scard.seq_len + 1
        out = torch.full((n, L), self.vocab.pad, dtype=torch.long)
        for row in range(n):
            seq = self.sequence(rng)[:L]
            out[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
        return out

    def sequence(self, rng: np.random.Generator) -> list[int]:
        """One training window in the TDM format."""
        i = int(rng.choice(len(self.streams), p=self.weights))
        orient = int(rng.integers(2))
        units = self.streams[i]
        slice_ms = int(rng.choice(self.tdm.slice_ms))
        slice_ms = fitting_size(slice_ms, self.tdm.slice_ms, units.shape[1], rng)
        fmt = TdmFormat(slice_ms=slice_ms, n_units=self.vocab.n_units,
                        silence_unit=self.card.model.silence_unit,
                        silence_units=self.silence_units)
        S, T = fmt.slice_frames, units.shape[1]
        window = min(self.tdm.window_slices, T // S) * S
        if window <= 0:
            return []
        start = int(rng.integers(0, T - window + 1))
        own = units[orient, start:start + window]
        partner = units[1 - orient, start:start + window]
        if self.stage == "stage3" and rng.random() < self.tdm.interruption_prob:
            own, partner, done = inject_interruption(own, partner, units[1 - orient], fmt,
                                                     self.tdm, rng)
            if done is not None:
                self.injected += 1
                return keep_the_yield(fmt.encode(own, partner), fmt, done,
                                      self.scard.seq_len + 1)
        return fmt.encode(own, partner)


def build_tdm_data(card: AgentCard, vocab: Vocab, text_tok: Any,
                   train: Sequence[DialogueLike], val: Sequence[DialogueLike],
                   silence_units: Iterable[int] = (),
                   ) -> tuple[dict[str, TdmStageData], dict[str, TdmStageData]]:
    """The TDM recipe's :data:`~duplexsim.training.recipe.DataBuilder` (with
    ``silence_units`` bound): every enabled stage's train and val data."""
    if not isinstance(vocab, TdmVocab):  # VOCABS["tdm"]: make_vocab of a kind = "tdm" card
        raise TypeError(f"build_tdm_data needs a TdmVocab, not {type(vocab).__name__}")
    prep_train = prepare(train, vocab, text_tok)
    prep_val = prepare(val, vocab, text_tok) if val else prep_train
    names = [k for k, s in card.stages().items() if s.enabled]
    silence = frozenset(int(u) for u in silence_units)
    return ({k: TdmStageData(k, card, prep_train, vocab, 0, silence) for k in names},
            {k: TdmStageData(k, card, prep_val, vocab, 1, silence) for k in names})


def train_tdm_agent(card: AgentCard, train: Sequence[DialogueLike],
                    val: Sequence[DialogueLike], out: str | Path,
                    max_minutes: float | None = None, corpus: str = "",
                    progress: bool = True, finish: Callable[[Path], None] | None = None,
                    silence_units: Iterable[int] = ()) -> dict[str, Any]:
    """Train every enabled stage of a ``kind = "tdm"`` card and write the agent directory
    ``out`` (``agent.json`` with ``"kind": "tdm"`` and ``"slice_ms"``); returns agent.json.
    The loop is the SyncLLM recipe's :func:`~duplexsim.training.recipe.fit` on the TDM data
    (:func:`build_tdm_data`), ``max_minutes`` the same guard, its clock started here as
    :func:`~duplexsim.training.recipe.train_agent` starts it.
    ``finish``: see :func:`duplexsim.training.recipe.write_agent`; ``silence_units``: the
    corpus tokenizer's silence units (slices of any of them are ``<idle>``)."""
    from duplexsim.training.guards import WallGuard
    from duplexsim.training.recipe import agent_info, fit, write_agent

    if card.agent.kind != "tdm":
        raise ConfigError(f"agent card {card.agent.name!r}", "agent.kind",
                          f"{card.agent.kind!r} (SyncLLM cards train with "
                          "duplexsim.training.recipe.train_agent)", "'tdm'")
    out = Path(out)
    silence = tuple(int(u) for u in silence_units)  # read twice: the data and agent.json
    trainer, text_tok = fit(card, train, val, out, WallGuard(max_minutes), progress,
                            functools.partial(build_tdm_data, silence_units=silence))
    info = agent_info(card, trainer.vocab, trainer.run, corpus, "val" if val else "train",
                      silence, trainer.dist.world)
    info.update({"kind": "tdm", "slice_ms": list(card.tdm_card.slice_ms)})
    if trainer.dist.main:
        write_agent(out, trainer, text_tok, info, finish)
    return info
