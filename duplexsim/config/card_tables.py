"""The tables of an agent card: ``[model]``, ``[stage1]``/``[stage2]``/``[stage3]``,
``[train]`` and ``[tdm]``.

Owns: :class:`ModelCard` (with the size presets, :data:`SIZE_PRESETS`), :class:`StageCard`,
:class:`TrainCard` and :class:`TdmCard`, each checking its own keys, and the range limits they
share. The whole card (``[agent]``, the checks across tables, :func:`load_card`) is
:mod:`duplexsim.config.card`, which re-exports these. Must not import torch, models or the
trainer: ``duplexsim validate`` checks cards without paying for torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from duplexsim.config.field_errors import FieldError, raise_errors
from duplexsim.config.field_values import check_field_types, plain_fields
from duplexsim.errors import finite_in
from duplexsim.tokens import DEFAULT_N_UNITS, FRAME_MS, MAX_N_UNITS

__all__ = ["SIZES", "SIZE_PRESETS", "ModelCard", "ModelSize", "SizePreset", "StageCard",
           "TdmCard", "TrainCard"]

SIZES = ("tiny", "small", "paper")
ModelSize = Literal["tiny", "small", "paper"]
"""``SIZES`` as a type (:attr:`ModelCard.size`)."""


@dataclass(frozen=True)
class SizePreset:
    """The geometry a ``size`` stands for (``duplexsim.models.model`` builds it)."""

    hidden_size: int
    n_layers: int
    n_heads: int
    n_kv_heads: int
    intermediate_size: int
    context_tokens: int


SIZE_PRESETS: dict[str, SizePreset] = {
    # tests: ~0.1M params, fast enough to train a few steps in a test
    "tiny": SizePreset(32, 2, 2, 2, 64, 256),
    # CPU default: 3.16M params besides the (tied) embedding, 3.43M with the demo cards'
    # 1018-token vocabulary. The machine ran h256/4 layers at ~8k tok/s (bf16 autocast,
    # 2 cores) vs h128/2 at ~33k tok/s; issue 5 sizes its real-time goal for ~3M-param agents.
    "small": SizePreset(256, 4, 4, 4, 688, 512),
    # paper scale: Llama-3-8B geometry (GQA 32/8 heads), for GPUs
    "paper": SizePreset(4096, 32, 32, 8, 14336, 8192),
}

# upper bounds of the model geometry: past them a typo, not a model (Llama-3-405B: hidden
# 16384, 126 layers, 128 heads, intermediate 53248, context 128k)
_MODEL_MAX = {"hidden_size": 65536, "n_layers": 1024, "n_heads": 1024, "n_kv_heads": 1024,
              "intermediate_size": 1 << 20, "context_tokens": 1 << 20}


@dataclass(frozen=True)
class ModelCard:
    """Llama-architecture causal LM; zeros take the size preset's value."""

    size: ModelSize = "small"
    """tiny: < 1M params (tests); small: ~3M params (CPU); paper: Llama-3-8B-like (GPUs)."""
    hidden_size: int = 0
    n_layers: int = 0
    n_heads: int = 0
    n_kv_heads: int = 0
    intermediate_size: int = 0
    context_tokens: int = 0
    """Longest context trained on and used when streaming (agents slide beyond it)."""
    n_units: int = DEFAULT_N_UNITS
    """Unit vocabulary: must equal the corpus's (and the unit tokenizer's) n_units, so at
    most ``MAX_N_UNITS``."""
    silence_unit: int = 0
    text_vocab_size: int = 512
    """Byte-level BPE trained in-repo on the dialogue text (>= 260: 256 bytes + merges)."""
    init_from: str = ""
    """A LOCAL pretrained Llama directory (``model_type`` llama). Its embedding is resized to
    this agent's vocabulary, so a real Llama's 32k-128k rows are truncated: units, tags and
    text reuse pretrained rows ``0..vocab-1`` (the paper appends new rows instead). A
    relative path is relative to the current directory, not to the card, as the paths in
    scenario files are (:mod:`duplexsim.config.scenario`); it is recorded as written."""

    def __post_init__(self) -> None:
        plain_fields(self)
        check_field_types(self)
        errors: list[FieldError] = []
        for name, high in _MODEL_MAX.items():
            if not 0 <= getattr(self, name) <= high:
                errors.append(FieldError(name, f"{getattr(self, name)} is out of range",
                                         f"0 (= size preset) .. {high}"))
        if not 2 <= self.n_units <= MAX_N_UNITS:  # the corpus's, whose units are int16
            errors.append(FieldError("n_units", f"{self.n_units} is out of range",
                                     f"2 .. {MAX_N_UNITS}"))
        if not 0 <= self.silence_unit < max(self.n_units, 1):
            errors.append(FieldError("silence_unit", f"{self.silence_unit} out of range",
                                     f"0..{self.n_units - 1}", depends=("n_units",)))
        if not 260 <= self.text_vocab_size <= 1 << 20:
            errors.append(FieldError("text_vocab_size", f"{self.text_vocab_size} is out of range",
                                     f"260 (256 byte tokens + merges) .. {1 << 20}"))
        shape = ("size", "init_from", "hidden_size", "n_heads", "n_kv_heads")
        # (it reads the shape only: still checked beside a bad vocabulary or context size)
        if not any(e.field in shape for e in errors) and self.size in SIZE_PRESETS \
                and not self.init_from:
            geometry = self.geometry()
            if geometry.hidden_size % geometry.n_heads:
                errors.append(FieldError("n_heads", f"hidden_size {geometry.hidden_size} is not "
                                         f"divisible by n_heads {geometry.n_heads}",
                                         "a divisor of hidden_size", depends=shape))
            elif (geometry.hidden_size // geometry.n_heads) % 2:
                errors.append(FieldError("hidden_size", f"head dim {geometry.hidden_size} / "
                                         f"{geometry.n_heads} = "
                                         f"{geometry.hidden_size // geometry.n_heads} is odd "
                                         "(RoPE rotates pairs)", "an even hidden_size / n_heads",
                                         depends=shape))
            elif geometry.n_heads % geometry.n_kv_heads:
                errors.append(FieldError("n_kv_heads", f"n_heads {geometry.n_heads} is not "
                                         f"divisible by n_kv_heads {geometry.n_kv_heads}",
                                         "a divisor of n_heads", depends=shape))
        raise_errors(errors)

    def geometry(self) -> SizePreset:
        """The model's shape: the size preset with every non-zero key of the card in it."""
        preset = SIZE_PRESETS[self.size]
        return SizePreset(**{name: getattr(self, name) or getattr(preset, name)
                             for name in _MODEL_MAX})


_STAGE_MAX = 10**9
"""Largest step count, batch or sequence length a stage takes (past it: a typo)."""


@dataclass(frozen=True)
class StageCard:
    """One stage of the recipe (paper section 4): on/off and its own hyperparameters."""

    enabled: bool = True
    steps: int = 100
    """Optimizer steps (ignored when ``tokens`` > 0): the stage's whole budget and the length
    of its learning-rate schedule. Wall time never changes it (``--max-minutes`` only guards)."""
    tokens: int = 0
    """Train on this many tokens instead, counted over all ranks: steps =
    ceil(tokens / (batch_tokens x ranks)) (:meth:`steps_for`)."""
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
    """Stage 1: sd of the normal, truncated to [0, 1], the per-sample speech share is drawn
    from (placed so that its mean after truncation is the stage's mean share)."""
    turn_weight: float = 1.0
    """Loss weight of the targets right after a speaker tag (``[S0]`` / ``[S1]``): the
    first token of each chunk's piece. After ``[S0]`` that says whether the speaker has a
    new unit (or holds its last one: the next tag follows); after ``[S1]``, which only comes
    when the partner has a new unit, it is that unit's identity (the partner's go-on-or-not
    is the token after the own piece, weighted only when the own piece is empty: README
    "Agent cards"). The weight depends only on the input token, so the best predictor is
    unchanged; it moves training effort to those decisions (28% of the targets of the demo's
    Fisher stage 3; most of the rest are unit identities). 1 = the plain mean loss; the
    logged training loss is the weighted mean, validation always the plain one."""

    def __post_init__(self) -> None:
        plain_fields(self)
        check_field_types(self)
        errors: list[FieldError] = []
        for name in ("batch_tokens", "grad_accum", "seq_len", "window_chunks"):
            if not 0 < getattr(self, name) <= _STAGE_MAX:
                errors.append(FieldError(name, f"{getattr(self, name)} is out of range",
                                         f"1 .. {_STAGE_MAX}"))
        for name in ("steps", "tokens", "warmup_steps"):
            limit = _STAGE_MAX * _STAGE_MAX if name == "tokens" else _STAGE_MAX
            if not 0 <= getattr(self, name) <= limit:
                errors.append(FieldError(name, f"{getattr(self, name)} is out of range",
                                         f"0 .. {limit}"))
        for name, low, high, low_open in (
                ("lr", 0.0, 10.0, True), ("min_lr_ratio", 0.0, 1.0, False),
                ("weight_decay", 0.0, 10.0, False),
                ("speech_share_start", 0.0, 1.0, False), ("speech_share_end", 0.0, 1.0, False),
                ("speech_share_sd", 0.0, 10.0, False), ("turn_weight", 0.0, 100.0, True)):
            if not finite_in(getattr(self, name), low, high, low_open=low_open):
                errors.append(FieldError(name, f"{getattr(self, name)} is not a finite number "
                                         "in range", f"{'>' if low_open else '>='} {low:g} and "
                                         f"<= {high:g}"))
        # each check below reads fields that may be out of range: run where none of them is
        def valid(*names: str) -> bool:
            return not any(e.field in names for e in errors)

        if valid("batch_tokens", "seq_len", "grad_accum") \
                and self.batch_tokens % (self.seq_len * self.grad_accum):
            per = self.seq_len * self.grad_accum
            errors.append(FieldError("batch_tokens", f"{self.batch_tokens} is not a multiple of "
                                     f"seq_len * grad_accum = {per} (a step would train "
                                     f"{max(1, self.batch_tokens // per) * per})",
                                     f"a multiple of {per}", depends=("seq_len", "grad_accum")))
        if valid("steps", "tokens", "batch_tokens") and self.enabled \
                and self.total_steps < 1:  # an untrained "agent"
            errors.append(FieldError("steps", f"{self.steps} (and tokens = {self.tokens}): an "
                                     "enabled stage that trains no step", ">= 1, or tokens "
                                     "> 0, or enabled = false", depends=("enabled", "tokens")))
        if valid("warmup_steps", "steps", "tokens", "batch_tokens") and self.enabled \
                and self.warmup_steps > self.total_steps:
            errors.append(FieldError("warmup_steps", f"{self.warmup_steps} > the stage's "
                                     f"{self.total_steps} steps (lr would never reach its "
                                     "peak)", f"<= {self.total_steps}",
                                     depends=("enabled", "steps", "tokens", "batch_tokens")))
        raise_errors(errors)

    @property
    def total_steps(self) -> int:
        """The stage's steps in one process (:meth:`steps_for` one rank)."""
        return self.steps_for(1)

    def steps_for(self, ranks: int) -> int:
        """Optimizer steps every rank runs: ``steps``, or the steps in which ``ranks``
        processes of ``batch_tokens`` each see ``tokens`` (a DDP step sees them all)."""
        if self.tokens > 0:
            return -(-self.tokens // (self.batch_tokens * ranks))
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
    """bf16 autocast where the device computes bf16 itself (CUDA with bf16; a CPU with
    oneDNN's bf16 path: AVX-512 or AMX), fp32 elsewhere, where bf16 is emulated at about
    55x the cost (:func:`duplexsim.training.recipe.bf16_autocast`); ``agent.json``'s
    ``precision`` says which."""
    val_every: int = 100
    val_batches: int = 4
    checkpoint_every: int = 100
    log_every: int = 10
    """A ``train_log`` row every this many steps (and at a stage's first and last step and at
    each validation) with the mean training loss of the steps since the previous row."""
    keep_best: bool = True
    """End each stage on the weights with the lowest validation loss (checked every
    ``val_every`` steps and at the end; the fixed validation batches make them comparable),
    not the last ones. A small model on a small corpus overfits before its schedule ends."""
    stage2_gap_ms: tuple[int, int] = (200, 800)
    """Stage 2: silence between consecutive IPUs laid out without overlap (uniform range)."""

    def __post_init__(self) -> None:
        plain_fields(self)  # (a list for chunk_ms or stage2_gap_ms: the tuple a file gives)
        check_field_types(self)
        errors: list[FieldError] = []
        if not self.chunk_ms or any(not 0 < c <= 60_000 or c % FRAME_MS for c in self.chunk_ms):
            errors.append(FieldError("chunk_ms", f"{list(self.chunk_ms)}",
                                     "non-empty list of multiples of 40 up to 60000"))
        elif len(set(self.chunk_ms)) != len(self.chunk_ms):  # each window draws one: a size
            errors.append(FieldError("chunk_ms", f"{list(self.chunk_ms)} lists a size twice "
                                     "(drawn twice as often)", "distinct chunk sizes"))
        for name in ("val_every", "val_batches", "checkpoint_every", "log_every"):
            if not 0 < getattr(self, name) <= _STAGE_MAX:
                errors.append(FieldError(name, f"{getattr(self, name)} is out of range",
                                         f"1 .. {_STAGE_MAX}"))
        if not 0 <= self.seed < 2**63:
            errors.append(FieldError("seed", f"{self.seed} is out of range", "0 .. 2**63 - 1"))
        errors += _range_errors("stage2_gap_ms", self.stage2_gap_ms)  # whole frames, as drawn
        raise_errors(errors)


_TDM_MAX_MS = 600_000
"""Longest slice, barge-in, yield or gap a [tdm] table (or ``stage2_gap_ms``) takes (10
minutes): past it a typo
(slice_ms = [10**12] trained on slices no dialogue holds)."""


def _range_errors(name: str, pair: tuple[int, ...], low: int = 0) -> list[FieldError]:
    lo, hi = (tuple(pair) + (0, 0))[:2]
    if len(pair) != 2 or lo < low or hi < lo:
        return [FieldError(name, f"{list(pair)}", f"[low, high] with {low} <= low <= high")]
    if hi > _TDM_MAX_MS:
        return [FieldError(name, f"{list(pair)}: {hi} ms is too long",
                           f"[low, high] with high <= {_TDM_MAX_MS}")]
    if lo % FRAME_MS or hi % FRAME_MS:  # drawn in whole frames: [0, 30] was always 0
        return [FieldError(name, f"{list(pair)}: not whole {FRAME_MS} ms frames",
                           f"multiples of {FRAME_MS}")]
    return []


@dataclass(frozen=True)
class TdmCard:
    """The TDM agent's slices and its duplex-alignment data (``[tdm]``, kind = "tdm").

    Stage 2 and stage 3 train on slice sequences (:mod:`duplexsim.tdm_tokens`) cut from the
    dialogues; stage 3 injects synthetic interruptions into a share of its windows (see
    :mod:`duplexsim.training.tdm`).
    """

    slice_ms: tuple[int, ...] = (1200, 1280)
    """Slice lengths trained on (each window draws one); a scenario's TDM side must use one
    of them. 1200 ms is 6 chunks of 200 ms and 5 of 240 ms; 1280 ms is 8 of 160 ms."""
    window_slices: int = 16
    """Slices per training window before truncation to the stage's ``seq_len``."""
    interruption_prob: float = 0.3
    """Stage 3: share of windows given one synthetic barge-in (0 = none)."""
    barge_in_ms: tuple[int, int] = (1000, 4000)
    """Length of the partner speech inserted as the barge-in (uniform range)."""
    min_heard_ms: int = 160
    """The agent yields at the first slice boundary after this much barge-in speech."""
    yield_ms: tuple[int, int] = (0, 200)
    """How far into that slice the agent still speaks before its ``<eos>`` (uniform)."""
    resume_gap_ms: tuple[int, int] = (200, 800)
    """Silence after the barge-in ends before the dialogue resumes (uniform)."""

    def __post_init__(self) -> None:
        plain_fields(self)
        check_field_types(self)
        errors: list[FieldError] = []
        if not self.slice_ms or any(not 0 < s <= _TDM_MAX_MS or s % FRAME_MS
                                    for s in self.slice_ms):
            errors.append(FieldError("slice_ms", f"{list(self.slice_ms)}",
                                     "non-empty list of positive multiples of 40 up to "
                                     f"{_TDM_MAX_MS}, e.g. [1200]"))
        elif len(set(self.slice_ms)) != len(self.slice_ms):  # each window draws one
            errors.append(FieldError("slice_ms", f"{list(self.slice_ms)} lists a slice twice "
                                     "(drawn twice as often)", "distinct slice lengths"))
        if self.window_slices <= 0:
            errors.append(FieldError("window_slices", f"{self.window_slices} is not positive",
                                     "> 0"))
        elif self.window_slices > _STAGE_MAX:
            errors.append(FieldError("window_slices", f"{self.window_slices} is out of range",
                                     f"1 .. {_STAGE_MAX}"))
        if not 0 <= self.interruption_prob <= 1:
            errors.append(FieldError("interruption_prob", f"{self.interruption_prob}", "0..1"))
        errors += _range_errors("barge_in_ms", self.barge_in_ms, low=FRAME_MS)
        errors += _range_errors("yield_ms", self.yield_ms)
        errors += _range_errors("resume_gap_ms", self.resume_gap_ms)
        # whole frames, at least one: 100 was 80 ms heard, 20 or 0 a yield before any was
        if not FRAME_MS <= self.min_heard_ms <= _TDM_MAX_MS or self.min_heard_ms % FRAME_MS:
            errors.append(FieldError("min_heard_ms", f"{self.min_heard_ms} is out of range",
                                     f"{FRAME_MS} .. {_TDM_MAX_MS} in whole {FRAME_MS} ms "
                                     "frames"))
        raise_errors(errors)
