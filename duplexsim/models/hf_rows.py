"""HF's own ``LlamaModel`` as a forward over rows of per-row KV caches: the fallback of
:class:`~duplexsim.models.rows.LMRows` for models the lean forward does not cover, and the
baseline ``bench_sim`` compares against. Same contract as
:class:`~duplexsim.models.lean.LeanLlama`, padded instead of packed.

Why it keeps its own cache class (:class:`SlotCache`) and not ``StaticCache`` or a
left-padded ``DynamicCache``: ``StaticCache`` keeps one write pointer for the whole batch, so
rows cannot sit at different positions; a left-padded ``DynamicCache`` can, but cropping one
row would re-pad every other. It is passed as ``cache=`` (transformers >= 5.24;
``past_key_values`` is deprecated there and goes in 5.40). Must not know about agents, the
simulator or sampling.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from transformers import LlamaForCausalLM
from transformers.cache_utils import Cache, CacheLayerMixin

from duplexsim.models import attention

MERGE_TOKENS = 12
"""HF forward: rows needing at most this many new tokens share one (padded) call."""
POSITION_ROPE = ("dynamic", "longrope")
"""RoPE types whose frequencies HF picks from the largest position id of the call: rows of
such a model run one call each, or one row's position would rescale every other row's."""


class SlotLayer(CacheLayerMixin):
    """One layer's keys/values ``[B, H, max_tokens + 1, D]``; the last slot takes pads."""

    def __init__(self, capacity: int, max_tokens: int) -> None:
        super().__init__()
        self.capacity, self.max_tokens = capacity, max_tokens
        self.rows: torch.Tensor | None = None  # [R] rows of this forward (None = all)
        self.slots: torch.Tensor | None = None  # [R, L] slot of every input token
        self.kv_len = 0  # slots 0..kv_len-1 are returned to attention

    def lazy_initialization(self, key_states: torch.Tensor, value_states: torch.Tensor,
                            ) -> None:
        _, H, _, Dk = key_states.shape
        shape = (self.capacity, H, self.max_tokens + 1)
        self.keys = key_states.new_zeros((*shape, Dk))
        self.values = value_states.new_zeros((*shape, value_states.shape[-1]))
        self.is_initialized = True

    def grow(self, capacity: int) -> None:
        if capacity <= self.capacity:
            return
        capacity = max(capacity, 2 * self.capacity)
        if self.is_initialized:
            for name in ("keys", "values"):
                old = getattr(self, name)
                fresh = old.new_zeros((capacity, *old.shape[1:]))
                fresh[: self.capacity] = old
                setattr(self, name, fresh)
        self.capacity = capacity

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any,
               **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        assert self.slots is not None, "SlotCache.prepare() must run before each forward"
        keys, values = self.keys, self.values
        if keys is None or values is None:  # (lazy_initialization sets both)
            raise RuntimeError("SlotLayer.update: keys / values not allocated")
        R, L = self.slots.shape
        rows = self.rows if self.rows is not None else torch.arange(R, device=keys.device)
        row_idx = rows[:, None].expand(R, L)  # [R, L]
        keys[row_idx, :, self.slots] = key_states.transpose(1, 2)  # [R, L, H, D]
        values[row_idx, :, self.slots] = value_states.transpose(1, 2)
        if self.rows is None:
            return keys[:R, :, : self.kv_len], values[:R, :, : self.kv_len]
        return (keys[self.rows, :, : self.kv_len],  # [R, H, S, D] (gathered copy)
                values[self.rows, :, : self.kv_len])

    def get_mask_sizes(self, query_length: int) -> tuple[int, int]:
        return self.kv_len, 0

    def get_seq_length(self) -> int:
        return self.kv_len

    def get_max_length(self) -> int:
        return self.max_tokens


class SlotCache(Cache):
    """Per-row slot cache for ``n_layers`` layers (see the module docstring)."""

    def __init__(self, n_layers: int, capacity: int, max_tokens: int) -> None:
        slot_layers = [SlotLayer(capacity, max_tokens) for _ in range(n_layers)]
        super().__init__(layers=[layer for layer in slot_layers])  # (Cache's list type)
        self.slot_layers = slot_layers
        """``layers``, typed as what they are."""

    def prepare(self, rows: torch.Tensor | None, slots: torch.Tensor, kv_len: int) -> None:
        for layer in self.slot_layers:
            layer.rows, layer.slots, layer.kv_len = rows, slots, kv_len


class HFForward:
    """HF's ``LlamaModel`` over a :class:`SlotCache`: the same contract as
    :class:`~duplexsim.models.lean.LeanLlama`, padded instead of packed."""

    ATTENTION = ("sdpa", "eager", attention.NAME)
    """Attention implementations that honour the additive 4-D mask this forward passes
    (flash and flex attention take HF's own masks: a custom one is not theirs to read)."""

    def __init__(self, model: LlamaForCausalLM, capacity: int, max_tokens: int) -> None:
        impl = model.config._attn_implementation or "eager"
        if impl not in self.ATTENTION:
            raise ValueError(f"HF forward: attn_implementation {impl!r} (allowed: "
                             f"{', '.join(self.ATTENTION)}: the row cache passes its own "
                             "4-D mask)")
        self.model, self.max_tokens, self.capacity = model, max_tokens, capacity
        weights = next(model.parameters())
        self.device, self.dtype = weights.device, weights.dtype
        self.cache = SlotCache(model.config.num_hidden_layers, capacity, max_tokens)
        rope_type = getattr(model.model.rotary_emb, "rope_type", "default")
        self.row_alone = rope_type in POSITION_ROPE
        """Every row its own call (:data:`POSITION_ROPE`)."""

    def grow(self, capacity: int) -> None:
        for layer in self.cache.slot_layers:
            layer.grow(capacity)
        self.capacity = max(self.capacity, capacity)

    @torch.inference_mode()
    def forward(self, rows: Sequence[int], pending: Sequence[Sequence[int]],
                starts: Sequence[int]) -> torch.Tensor:
        # decode rows (<= 4 new tokens) and prefills go separately when a prefill is long,
        # so it does not pad every decode row to its length
        out = torch.empty(len(rows), self.model.config.vocab_size)
        lens = [len(p) for p in pending]
        if self.row_alone:  # longrope past its original length rescaled the other rows
            groups = [[i] for i in range(len(rows))]
        elif max(lens) <= MERGE_TOKENS:
            groups = [list(range(len(rows)))]
        else:
            short = [i for i, n in enumerate(lens) if n <= 4]
            groups = [g for g in (short, [i for i in range(len(rows)) if lens[i] > 4]) if g]
        for g in groups:
            out[g] = self._padded([rows[i] for i in g], [pending[i] for i in g],
                                  [starts[i] for i in g])
        return out

    def _padded(self, rows: list[int], pending: list[Sequence[int]], starts: list[int],
                ) -> torch.Tensor:
        R, L = len(rows), max(len(p) for p in pending)
        ids = torch.full((R, L), self.model.config.pad_token_id or 0, dtype=torch.long)
        # a pad goes to the spare slot but at position 0: HF's dynamic and longrope RoPE
        # pick their frequencies from the largest position id of the batch, so a pad at
        # position max_tokens rescaled every row's RoPE (diff 0.003-0.005, longrope 0.57)
        slots = torch.full((R, L), self.max_tokens, dtype=torch.long)
        positions = torch.zeros((R, L), dtype=torch.long)
        for r, (p, s) in enumerate(zip(pending, starts, strict=True)):
            ids[r, : len(p)] = torch.tensor(list(p))
            slots[r, : len(p)] = positions[r, : len(p)] = torch.arange(s, s + len(p))
        kv_len = max(s + len(p) for p, s in zip(pending, starts, strict=True))
        visible = torch.arange(kv_len)[None, None, :] <= slots[:, :, None]  # [R, L, S]
        # additive, as HF's own masks are: eager attention adds the mask to the scores, so a
        # boolean one (True = 1.0) masked nothing; SDPA computes the same bits from either
        mask = torch.zeros(visible.shape, dtype=self.dtype).masked_fill_(~visible, -torch.inf)
        row_t = None if rows == list(range(R)) else torch.tensor(rows, device=self.device)
        self.cache.prepare(row_t, slots.to(self.device), kv_len)
        hidden = self.model.model(input_ids=ids.to(self.device),
                                  position_ids=positions.to(self.device),
                                  attention_mask=mask[:, None].to(self.device),
                                  cache=self.cache, use_cache=True).last_hidden_state
        last = torch.tensor([len(p) - 1 for p in pending], device=self.device)
        logits = self.model.lm_head(hidden[torch.arange(R, device=self.device), last])
        return logits.float().cpu()  # forward() gathers the groups in a CPU tensor
