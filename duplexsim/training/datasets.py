"""Training sequences for the three stages of the recipe (paper section 4).

Owns: turning dialogues (``units [2, T]`` + segments with speaker/start/end/text) into
token sequences. Must not touch the model or the optimizer.

- Stage 1, turn-based: the dialogue's own segments in order, ``[S1] <sent> [S0] <sent>
  <sent> [S1] ...`` (a tag at each change of speaker, self-centric), each sentence its
  text (BPE) or its units (the channel's units within the segment, deduplicated), speech
  chosen with a per-sample probability drawn from a truncated normal whose mean rises
  linearly from ``speech_share_start`` at the stage's first step to ``speech_share_end``
  at its last (paper Fig. 4; :func:`ramp_progress`).
- Stage 2, duplex without overlaps: the same segments laid out one after another
  (the listener silent, a pause between them), in the SyncLLM format.
- Stage 3: the corpus itself in the SyncLLM format, both orientations.

A batch is a pure function of ``(seed, stage, step, micro, rank)``: resuming at a step
reproduces the data exactly, with no iterator state to save.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch

from duplexsim.config.card import AgentCard
from duplexsim.config.card_tables import StageCard
from duplexsim.corpora.types import edge_frame
from duplexsim.errors import InputError
from duplexsim.models.vocab import Vocab, encode_text
from duplexsim.tokens import FRAME_MS, SyncFormat

STAGE_INDEX = {"stage1": 1, "stage2": 2, "stage3": 3}


class DialogueLike(Protocol):
    """What the datasets read from a :class:`duplexsim.corpora.Dialogue` (read only)."""

    @property
    def units(self) -> np.ndarray | None: ...

    @property
    def segments(self) -> Sequence[Any]: ...


class StageBatches(Protocol):
    """What the recipe's loop reads of a stage's data (:class:`StageData`, the TDM recipe's
    ``TdmStageData``): a batch is a pure function of its key, so a resume redraws it."""

    def batch(self, step: int, micro: int = 0, rank: int = 0, progress: float = 0.0,
              n_seqs: int | None = None) -> torch.Tensor: ...


@dataclass
class Prepared:
    """One dialogue as the recipes lay out training rows from it (:func:`prepare`'s)."""

    units: np.ndarray  # [2, T] int64
    segs: list[tuple[int, int, int, list[int]]]  # speaker, start frame, end frame, text ids


def prepare(dialogues: Sequence[DialogueLike], vocab: Vocab, text_tok: Any) -> list[Prepared]:
    """Check units against the vocabulary and pre-tokenise segment texts."""
    out = []
    for i, d in enumerate(dialogues):
        where = f"dialogue {getattr(d, 'id', i)}"
        if d.units is None:
            raise InputError(where, "units", "none (a dialogue without units)",
                             "dialogues with units [2, T]")
        units = np.asarray(d.units, dtype=np.int64)
        if units.ndim != 2 or units.shape[0] != 2:
            raise InputError(where, "units", f"shape {list(units.shape)}", "[2, T]")
        if units.size and (units.min() < 0 or units.max() >= vocab.n_units):
            channel, frame = (int(x[0]) for x in np.nonzero((units < 0) | (units >= vocab.n_units)))
            raise InputError(where, "units", f"unit {int(units[channel, frame])} (channel "
                             f"{channel}, frame {frame}) outside the model's unit vocabulary",
                             f"0..{vocab.n_units - 1}")
        segs = []
        for s in sorted(d.segments, key=lambda s: (s.start_s, s.speaker)):
            a = max(0, edge_frame(s.start_s))
            b = min(units.shape[1], edge_frame(s.end_s))
            if b > a and s.speaker in (0, 1):
                segs.append((int(s.speaker), a, b, encode_text(text_tok, vocab, s.text or "")))
        out.append(Prepared(units, segs))
    if not out:
        raise InputError("<dialogues>", "", "no dialogues to train on", "at least one dialogue")
    return out


def dedup(units: np.ndarray) -> np.ndarray:
    """Drop consecutive repeats."""
    if len(units) == 0:
        return units
    keep = np.ones(len(units), dtype=bool)
    keep[1:] = units[1:] != units[:-1]
    return units[keep]


def frames_in(ms_range: tuple[int, int], rng: np.random.Generator) -> int:
    """A whole number of frames drawn uniformly from ``ms_range`` (inclusive; the card holds
    its ends to whole frames). Flooring a uniform ms value drew the top frame once in
    ``hi - lo + 1`` draws (200 ms of ``yield_ms`` (0, 200): 1/201 instead of 1/6; stage 2's
    gaps of (200, 800) ms averaged 480 ms, not 500)."""
    return int(rng.integers(ms_range[0] // FRAME_MS, ms_range[1] // FRAME_MS + 1))


def fitting_size(drawn_ms: int, sizes_ms: Sequence[int], frames: int,
                 rng: np.random.Generator) -> int:
    """``drawn_ms``, or, when a stream of ``frames`` holds no chunk (slice) of it, one drawn
    from the sizes it holds: a window of a size longer than its stream was an all-[PAD] row
    (0.7 s dialogues and slices of 640, 800, 1200 ms: 2 rows in 3 empty, and a validation
    batch of them a loss of nan). Streams that hold every size draw as before."""
    if frames >= drawn_ms // FRAME_MS:
        return drawn_ms
    fits = [m for m in sizes_ms if frames >= m // FRAME_MS]
    return int(rng.choice(fits)) if fits else drawn_ms


def sequential_layout(p: Prepared, silence_unit: int, gap_ms: tuple[int, int],
                      rng: np.random.Generator) -> np.ndarray:
    """Stage 2: the segments one after another, the listener silent ([2, T'] int64; no
    frame for a dialogue without segments, which has nothing to lay out: its recording
    would bring its overlaps into the stage without overlaps)."""
    parts0, parts1 = [], []
    for speaker, a, b, _ in p.segs:
        speech = p.units[speaker, a:b]
        quiet = np.full(b - a, silence_unit, dtype=np.int64)
        gap = np.full(frames_in(gap_ms, rng), silence_unit, dtype=np.int64)
        parts0 += [speech if speaker == 0 else quiet, gap]
        parts1 += [quiet if speaker == 0 else speech, gap]
    if not parts0:
        return np.zeros((2, 0), dtype=np.int64)
    return np.stack([np.concatenate(parts0), np.concatenate(parts1)])


def stage_streams(stage: str, card: AgentCard, prepared: list[Prepared], split_seed: int
                  ) -> tuple[list[np.ndarray], np.ndarray]:
    """The ``[2, T]`` unit streams a stage samples windows from (stage 2: IPUs laid out one
    after another, seeded per split; else the dialogues as recorded) and each stream's
    sampling weight (its length share)."""
    if stage == "stage2":
        rng = np.random.default_rng([card.train.seed, 2, split_seed])
        streams = [sequential_layout(p, card.model.silence_unit, card.train.stage2_gap_ms, rng)
                   for p in prepared]
    else:
        streams = [p.units for p in prepared]
    # a dialogue shorter than one chunk (stages 1-2: one without segments) gives a row with
    # no target: a batch of them had a loss of nan, "lower the lr"; such dialogues weigh 0
    tdm = card.agent.kind == "tdm"  # a TDM window is whole slices, a SyncLLM one whole chunks
    step_ms = min(card.tdm_card.slice_ms) if tdm else min(card.train.chunk_ms)
    shortest = step_ms // FRAME_MS
    lengths = np.array([0.0 if (not p.segs if stage == "stage1" else s.shape[1] < shortest)
                        else s.shape[1] for s, p in zip(streams, prepared, strict=True)])
    if lengths.sum() == 0:
        split = {0: "train", 1: "validation"}.get(split_seed, f"{split_seed}")
        step = f"one {'slice' if tdm else 'chunk'} ({step_ms} ms) of units"
        has, allowed = step, f"dialogues longer than one {'slice' if tdm else 'chunk'}"
        if stage == "stage1":
            has, allowed = "a segment", "dialogues with segments"
        elif stage == "stage2" and any(p.units.shape[1] >= shortest for p in prepared):
            # long enough as recorded, but stage 2 is made of the segments
            has, allowed = f"segments that lay out to {step}", "dialogues with segments"
        raise InputError(f"the {split} split", stage, f"no dialogue has {has}", allowed)
    return streams, lengths / lengths.sum()


class StageData:
    """Deterministic batches of one stage for one split."""

    def __init__(self, stage: str, card: AgentCard, prepared: list[Prepared], vocab: Vocab,
                 split_seed: int = 0) -> None:
        self.stage, self.card, self.vocab = stage, card, vocab
        self.scard: StageCard = card.stages()[stage]
        self.prepared = prepared
        self.split_seed = split_seed
        self.streams, self.weights = stage_streams(stage, card, prepared, split_seed)

    def batch(self, step: int, micro: int = 0, rank: int = 0, progress: float = 0.0,
              n_seqs: int | None = None) -> torch.Tensor:
        """``[B, seq_len + 1]`` token ids (right-padded with [PAD])."""
        key = [self.card.train.seed, STAGE_INDEX[self.stage], self.split_seed, step, micro, rank]
        rng = np.random.default_rng(key)
        n = n_seqs or self.scard.seqs_per_micro
        L = self.scard.seq_len + 1
        out = torch.full((n, L), self.vocab.pad, dtype=torch.long)
        for row in range(n):
            seq = self._sequence(rng, progress)[:L]
            out[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
        return out

    def _sequence(self, rng: np.random.Generator, progress: float) -> list[int]:
        i = int(rng.choice(len(self.streams), p=self.weights))
        orient = int(rng.integers(2))
        if self.stage == "stage1":
            return self._turn_based(self.prepared[i], orient, rng, progress)
        return self._duplex(self.streams[i], orient, rng)

    def _duplex(self, units: np.ndarray, orient: int, rng: np.random.Generator) -> list[int]:
        chunk_ms = int(rng.choice(self.card.train.chunk_ms))
        chunk_ms = fitting_size(chunk_ms, self.card.train.chunk_ms, units.shape[1], rng)
        fmt = SyncFormat(chunk_ms=chunk_ms, n_units=self.vocab.n_units,
                         silence_unit=self.card.model.silence_unit)
        F = fmt.frames_per_chunk
        n_chunks = units.shape[1] // F
        window = min(self.scard.window_chunks, n_chunks)
        if window <= 0:
            return []
        start = int(rng.integers(0, n_chunks - window + 1)) * F
        u = units[:, start : start + window * F]
        own, partner = (u[0], u[1]) if orient == 0 else (u[1], u[0])
        return fmt.encode(own, partner)

    def _turn_based(self, p: Prepared, orient: int, rng: np.random.Generator,
                    progress: float) -> list[int]:
        s = self.scard
        mean = s.speech_share_start + (s.speech_share_end - s.speech_share_start) * progress
        share = _truncated_normal(rng, mean, s.speech_share_sd)
        out = [self.vocab.bos]
        if not p.segs:
            return out
        current = None
        for speaker, a, b, text in p.segs[int(rng.integers(len(p.segs))):]:
            tag = self.vocab.S0 if speaker == orient else self.vocab.S1
            if tag != current:
                out.append(tag)
                current = tag
            if rng.random() < share or not text:
                out += dedup(p.units[speaker, a:b]).tolist()
            else:
                out += text
            if len(out) > s.seq_len:
                break
        return out


def ramp_progress(step: int, total: int) -> float:
    """How far step ``step`` of ``total`` (``0 .. total - 1``) is along stage 1's speech-share
    ramp: 0 at the first step, 1 at the last, so the last step's mean share is
    ``speech_share_end`` itself (``step / total`` stopped at ``(total - 1) / total``). A
    one-step stage is its first step: 0."""
    return step / (total - 1) if total > 1 else 0.0


def _truncated_normal(rng: np.random.Generator, mean: float, sd: float) -> float:
    """A draw from a normal with sd ``sd`` truncated to [0, 1] whose mean *after* truncation
    is ``mean`` (the card's "mean speech share": truncating N(0.2, 0.2) itself gave 0.258,
    N(0.9, 0.2) 0.798). One uniform per draw, through the inverse CDF."""
    if sd == 0 or not 0 < mean < 1:
        return float(np.clip(mean, 0, 1))
    from scipy.stats import truncnorm

    loc = _truncated_location(round(mean, 9), sd)
    return float(np.clip(truncnorm.ppf(rng.random(), -loc / sd, (1 - loc) / sd, loc=loc,
                                       scale=sd), 0.0, 1.0))


@functools.lru_cache(maxsize=4096)
def _truncated_location(mean: float, sd: float) -> float:
    """The location of N(loc, sd) whose truncation to [0, 1] has mean ``mean`` (itself when
    no location reaches it: a very wide sd keeps the mean near 0.5)."""
    from scipy.optimize import brentq
    from scipy.stats import truncnorm

    def gap(loc: float) -> float:
        return float(truncnorm.mean(-loc / sd, (1 - loc) / sd, loc=loc, scale=sd)) - mean

    lo, hi = -1.0 - 20 * sd, 2.0 + 20 * sd
    try:
        return float(brentq(gap, lo, hi, xtol=1e-10))
    except ValueError:  # no sign change: out of reach
        return mean
