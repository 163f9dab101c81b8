"""Streaming generation with a KV cache: the per-token loop agents and continuation use.

Owns: :class:`SamplingConfig`, the explicit :class:`StreamState` (tokens + KV cache, with
``reset()`` and ``crop(n)``), :class:`StreamingLM` (feed / sample one stream) and
:func:`sample_piece`, the constrained decoder that makes every generated piece valid
SyncLLM tokens. Must not touch agents, the simulator or training.

Why a manual loop and not ``generate()``: a ``generate`` call costs milliseconds of set-up,
and an agent samples a handful of tokens per chunk; cropping the cache back to a replaced
partner chunk also needs the cache in our hands.

Constraints (logit masks): a stream piece holds only units, at most ``frames_per_chunk`` of
them, never a unit equal to the stream's previous one (so decoding and re-encoding agree,
DESIGN.md deduplication), and ends at the next speaker tag, which is not consumed.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers import DynamicCache, LlamaForCausalLM


@dataclass(frozen=True)
class SamplingConfig:
    """Sampling of unit tokens."""

    temperature: float = 1.0
    """0 = greedy; 1 = the model's own distribution. Lower values cut how often an agent
    speaks up while listening (measured at 0.9: about 0.43x its corpus's rate, against 0.8x
    at 1.0; docs/results/continuation)."""
    top_k: int = 0
    """0 = off."""
    top_p: float = 1.0
    """1 = off."""

    def __post_init__(self) -> None:
        if self.temperature < 0 or self.top_k < 0 or not 0 < self.top_p <= 1:
            raise ValueError(f"SamplingConfig: bad values {self} (allowed: temperature >= 0, "
                             "top_k >= 0, 0 < top_p <= 1)")


def sample_from_logits(logits: torch.Tensor, allowed: torch.Tensor, cfg: SamplingConfig,
                       generator: torch.Generator) -> torch.Tensor:
    """Sample one id per row of ``logits`` [B, V] restricted to ``allowed`` [B, V] (bool)."""
    logits = logits.float().masked_fill(~allowed, float("-inf"))
    if cfg.temperature == 0:
        return logits.argmax(dim=-1)
    logits = logits / cfg.temperature
    if cfg.top_k > 0:
        k = min(cfg.top_k, logits.shape[-1])
        kth = torch.topk(logits, k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if cfg.top_p < 1.0:
        sorted_logits, order = torch.sort(logits, descending=True, dim=-1)
        cum = torch.softmax(sorted_logits, dim=-1).cumsum(dim=-1)
        drop_sorted = cum - torch.softmax(sorted_logits, dim=-1) >= cfg.top_p
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    probs = torch.softmax(logits, dim=-1)  # [B, V]
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


class StreamState:
    """One stream's tokens and KV cache. ``tokens[:n_cached]`` are in the cache."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.tokens: list[int] = []
        self.cache: DynamicCache | None = None
        self.n_cached = 0
        self.last_logits: torch.Tensor | None = None
        self.n_forwarded = 0
        """Tokens run through the model since reset (prefill and re-feeds)."""

    def __len__(self) -> int:
        return len(self.tokens)

    def append(self, ids: list[int]) -> None:
        self.tokens.extend(int(i) for i in ids)

    def crop(self, n: int) -> None:
        """Keep the first ``n`` tokens; the cache keeps at most ``n - 1`` (the last is re-fed
        at the next forward so its logits exist)."""
        n = max(0, min(n, len(self.tokens)))
        del self.tokens[n:]
        keep = min(self.n_cached, max(n - 1, 0))
        if self.cache is not None and keep < self.n_cached:
            self.cache.crop(keep - self.n_cached)  # transformers 5: negative = tokens to drop
        self.n_cached = keep
        self.last_logits = None


class StreamingLM:
    """Feed tokens into a :class:`StreamState` and sample the next one, KV-cached."""

    def __init__(self, model: LlamaForCausalLM, n_units: int) -> None:
        self.model = model.eval()
        self.n_units = n_units
        self.vocab_size = model.config.vocab_size
        self.device = next(model.parameters()).device

    @torch.inference_mode()
    def logits(self, state: StreamState) -> torch.Tensor:
        """Next-token logits after all of ``state.tokens`` ([V], float32)."""
        if state.n_cached == len(state.tokens) and state.last_logits is not None:
            return state.last_logits
        if state.n_cached == len(state.tokens):  # cached but logits lost: re-feed the last one
            state.crop(len(state.tokens))
        if state.cache is None:
            state.cache = DynamicCache(config=self.model.config)
        pending = state.tokens[state.n_cached:]
        ids = torch.tensor([pending], dtype=torch.long, device=self.device)
        out = self.model(input_ids=ids, past_key_values=state.cache, use_cache=True,
                         logits_to_keep=1)
        state.n_cached = len(state.tokens)
        state.n_forwarded += len(pending)
        state.last_logits = out.logits[0, -1].float()
        return state.last_logits

    def sample(self, state: StreamState, allowed: torch.Tensor, cfg: SamplingConfig,
               generator: torch.Generator) -> int:
        """Sample the next id under mask ``allowed`` [V]; it is *not* appended."""
        logits = self.logits(state)
        return int(sample_from_logits(logits[None], allowed[None], cfg, generator)[0])

    def piece_mask(self, prev_unit: int | None, ends: tuple[int, ...],
                   allow_end: bool = True) -> torch.Tensor:
        """Allowed ids inside a stream piece: units except ``prev_unit``, plus ``ends``."""
        return piece_mask(self.vocab_size, self.n_units, prev_unit, ends, allow_end, self.device)


def piece_mask(vocab_size: int, n_units: int, prev_unit: int | None, ends: tuple[int, ...],
               allow_end: bool = True, device: torch.device | str = "cpu") -> torch.Tensor:
    """The constraint inside a stream piece, shared by the single and batched generators:
    units except ``prev_unit`` (a repeat is not a novel unit), plus the ``ends`` tags."""
    mask = torch.zeros(vocab_size, dtype=torch.bool, device=device)
    mask[:n_units] = True
    if prev_unit is not None:
        mask[prev_unit] = False
    if allow_end:
        mask[list(ends)] = True
    return mask


def sample_piece(lm: StreamingLM, state: StreamState, prev_unit: int | None, max_units: int,
                 ends: tuple[int, ...], cfg: SamplingConfig, generator: torch.Generator,
                 min_units: int = 0) -> tuple[list[int], int | None]:
    """Sample one stream's novel units for one chunk, appending them to ``state``.

    Stops when an id in ``ends`` is sampled (returned, not appended) or after ``max_units``
    units (returns ``None``). ``min_units`` forbids ending earlier (an ``[S1]`` piece must
    hold at least one unit). Every unit differs from the one before it.
    """
    units: list[int] = []
    prev = prev_unit
    while len(units) < max_units:
        mask = lm.piece_mask(prev, ends, allow_end=len(units) >= min_units)
        token = lm.sample(state, mask, cfg, generator)
        if token in ends:
            return units, token
        units.append(token)
        state.append([token])
        prev = token
    return units, None


def choose(lm: StreamingLM, state: StreamState, options: tuple[int, ...], cfg: SamplingConfig,
           generator: torch.Generator) -> int:
    """Sample one of ``options`` (e.g. ``[S0]`` vs ``[S1]``) without appending it."""
    mask = torch.zeros(lm.vocab_size, dtype=torch.bool, device=lm.device)
    mask[list(options)] = True
    return lm.sample(state, mask, cfg, generator)
