"""Agent cards: the schema of ``agents/*.toml`` (model size, vocabulary, three-stage recipe).

Owns: the frozen dataclasses and :func:`load_card`. Must not import torch, models or the
trainer: ``duplexsim validate`` checks cards without paying for torch.

A card has the tables ``[agent]``, ``[model]``, ``[train]``, ``[stage1]``, ``[stage2]`` and
``[stage3]``; every key has a default, unknown keys are errors (``file: key: ...``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from duplexsim.config.loader import FieldError, from_dict, load_toml, raise_errors
from duplexsim.tokens import FRAME_MS

SIZES = ("tiny", "small", "paper")


@dataclass(frozen=True)
class AgentInfo:
    """Who the agent is."""

    name: str = "agent"
    corpus_preset: str = ""
    """The corpus style it is meant to be trained on (fisher-like, candor-like, real ...)."""


@dataclass(frozen=True)
class ModelCard:
    """Llama-architecture causal LM; zeros take the size preset's value."""

    size: Literal["tiny", "small", "paper"] = "small"
    """tiny: < 1M params (tests); small: ~3M params (CPU); paper: Llama-3-8B-like (GPUs)."""
    hidden_size: int = 0
    n_layers: int = 0
    n_heads: int = 0
    n_kv_heads: int = 0
    intermediate_size: int = 0
    context_tokens: int = 0
    """Longest context trained on and used when streaming (agents slide beyond it)."""
    n_units: int = 501
    """Unit vocabulary: must equal the corpus's (and the unit tokenizer's) n_units."""
    silence_unit: int = 0
    text_vocab_size: int = 512
    """Byte-level BPE trained in-repo on the dialogue text (>= 260: 256 bytes + merges)."""
    init_from: str = ""
    """A LOCAL pretrained Llama directory (paper setup); its vocabulary is extended."""

    def __post_init__(self) -> None:
        errors: list[FieldError] = []
        for name in ("hidden_size", "n_layers", "n_heads", "n_kv_heads", "intermediate_size",
                     "context_tokens"):
            if getattr(self, name) < 0:
                errors.append(FieldError(name, f"{getattr(self, name)} is negative",
                                         ">= 0 (0 = size preset)"))
        if self.n_units < 2:
            errors.append(FieldError("n_units", f"{self.n_units} is too small", ">= 2"))
        if not 0 <= self.silence_unit < max(self.n_units, 1):
            errors.append(FieldError("silence_unit", f"{self.silence_unit} out of range",
                                     f"0..{self.n_units - 1}"))
        if self.text_vocab_size < 260:
            errors.append(FieldError("text_vocab_size", f"{self.text_vocab_size} is too small",
                                     ">= 260 (256 byte tokens + merges)"))
        raise_errors(errors)


@dataclass(frozen=True)
class StageCard:
    """One stage of the recipe (paper section 4): on/off and its own hyperparameters."""

    enabled: bool = True
    steps: int = 100
    """Optimizer steps (ignored when ``tokens`` > 0): the stage's whole budget and the length
    of its learning-rate schedule. Wall time never changes it (``--max-minutes`` only guards)."""
    tokens: int = 0
    """Train on this many tokens instead: steps = ceil(tokens / batch_tokens)."""
    batch_tokens: int = 4096
    """Tokens per optimizer step of one process (over its accumulation micro-batches; under
    DDP every rank draws its own, so a step sees ``batch_tokens`` x ranks)."""
    grad_accum: int = 1
    seq_len: int = 256
    """Tokens per training sequence (one window)."""
    lr: float = 1e-3
    min_lr_ratio: float = 0.1
    warmup_steps: int = 20
    schedule: Literal["cosine", "linear", "constant"] = "cosine"
    weight_decay: float = 0.1
    window_chunks: int = 48
    """Stages 2-3: chunks per window before truncation to seq_len."""
    speech_share_start: float = 0.2
    """Stage 1: mean speech share of a sample at the start (paper Fig. 4 rises)."""
    speech_share_end: float = 0.9
    speech_share_sd: float = 0.2
    """Stage 1: sd of the truncated normal the per-sample speech share is drawn from."""

    def __post_init__(self) -> None:
        errors: list[FieldError] = []
        positive = ("batch_tokens", "grad_accum", "seq_len", "window_chunks")
        for name in positive:
            if getattr(self, name) <= 0:
                errors.append(FieldError(name, f"{getattr(self, name)} is not positive", "> 0"))
        for name in ("steps", "tokens", "warmup_steps"):
            if getattr(self, name) < 0:
                errors.append(FieldError(name, f"{getattr(self, name)} is negative", ">= 0"))
        if not (math.isfinite(self.lr) and self.lr > 0):
            errors.append(FieldError("lr", f"{self.lr} is not a positive rate", "> 0"))
        if not 0 <= self.min_lr_ratio <= 1:
            errors.append(FieldError("min_lr_ratio", f"{self.min_lr_ratio}", "0..1"))
        if self.batch_tokens < self.seq_len * self.grad_accum:
            errors.append(FieldError("batch_tokens", f"{self.batch_tokens} < seq_len * grad_accum "
                                     f"= {self.seq_len * self.grad_accum}",
                                     ">= seq_len * grad_accum"))
        for name in ("speech_share_start", "speech_share_end"):
            if not 0 <= getattr(self, name) <= 1:
                errors.append(FieldError(name, f"{getattr(self, name)}", "0..1"))
        if self.speech_share_sd < 0 or self.weight_decay < 0:
            errors.append(FieldError("speech_share_sd/weight_decay", "negative", ">= 0"))
        raise_errors(errors)

    @property
    def total_steps(self) -> int:
        if self.tokens > 0:
            return -(-self.tokens // self.batch_tokens)
        return self.steps

    @property
    def seqs_per_micro(self) -> int:
        """Sequences in one micro-batch (one process)."""
        return max(1, self.batch_tokens // (self.seq_len * self.grad_accum))


@dataclass(frozen=True)
class TrainCard:
    """What applies to every stage."""

    seed: int = 0
    chunk_ms: tuple[int, ...] = (160, 200, 240)
    """Chunk sizes trained on (each window draws one); agents load only these."""
    bf16: bool = True
    """bf16 autocast (CPU and CUDA)."""
    val_every: int = 100
    val_batches: int = 4
    checkpoint_every: int = 100
    log_every: int = 10
    keep_best: bool = True
    """End each stage on the weights with the lowest validation loss (checked every
    ``val_every`` steps and at the end; the fixed validation batches make them comparable),
    not the last ones. A small model on a small corpus overfits before its schedule ends."""
    stage2_gap_ms: tuple[int, int] = (200, 800)
    """Stage 2: silence between consecutive IPUs laid out without overlap (uniform range)."""

    def __post_init__(self) -> None:
        errors: list[FieldError] = []
        if not self.chunk_ms or any(c <= 0 or c % FRAME_MS for c in self.chunk_ms):
            errors.append(FieldError("chunk_ms", f"{list(self.chunk_ms)}",
                                     "non-empty list of positive multiples of 40"))
        for name in ("val_every", "val_batches", "checkpoint_every", "log_every"):
            if getattr(self, name) <= 0:
                errors.append(FieldError(name, f"{getattr(self, name)} is not positive", "> 0"))
        lo, hi = (self.stage2_gap_ms + (0, 0))[:2]
        if len(self.stage2_gap_ms) != 2 or lo < 0 or hi < lo:
            errors.append(FieldError("stage2_gap_ms", f"{list(self.stage2_gap_ms)}",
                                     "[low, high] with 0 <= low <= high"))
        raise_errors(errors)


@dataclass(frozen=True)
class AgentCard:
    """A whole agent card."""

    agent: AgentInfo = field(default_factory=AgentInfo)
    model: ModelCard = field(default_factory=ModelCard)
    train: TrainCard = field(default_factory=TrainCard)
    stage1: StageCard = field(default_factory=StageCard)
    stage2: StageCard = field(default_factory=StageCard)
    stage3: StageCard = field(default_factory=StageCard)

    def __post_init__(self) -> None:
        if not any(s.enabled for s in self.stages().values()):
            raise FieldError("stage3.enabled", "every stage is disabled", "at least one stage")

    def stages(self) -> dict[str, StageCard]:
        return {"stage1": self.stage1, "stage2": self.stage2, "stage3": self.stage3}

    def to_dict(self) -> dict[str, Any]:
        import dataclasses

        return dataclasses.asdict(self)


def load_card(path: str | Path) -> AgentCard:
    """Read and validate an agent card TOML file (every problem is reported)."""
    return load_toml(path, AgentCard)


def card_from_dict(data: dict[str, Any], file: str = "<card>") -> AgentCard:
    """Rebuild a card from ``to_dict()`` output (e.g. agent.json's ``card``)."""
    data = {k: dict(v) for k, v in data.items()}
    for key in ("chunk_ms", "stage2_gap_ms"):
        if key in data.get("train", {}):
            data["train"][key] = list(data["train"][key])
    return from_dict(AgentCard, data, file=file)
