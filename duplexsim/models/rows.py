"""Token rows of one model: per-row tokens and KV cache, next-token logits for many rows at once.

Owns :class:`LMRows` (rows added and released as conversations come and go; ``reset`` /
``append`` / ``crop`` per row, batched ``logits``) and its two forwards: the lean one
(:mod:`duplexsim.models.lean`, the default wherever it covers the model) and HF's own
``LlamaModel`` over a per-row slot cache (the fallback for models the lean forward does not
cover, and the baseline ``bench_sim`` compares against). Must not know about agents, the
simulator or sampling.

Caching: ``tokens[b][:n_cached[b]]`` are in row ``b``'s cache; token ``p`` of a row lives
in slot ``p`` (its position), so ``crop`` only shortens the row (the last kept token is
re-fed at the next forward so its logits exist). The cache never holds more than
``max_tokens`` tokens a row: a generator keeps its context below that by sliding it.

Why the HF fallback keeps its own cache class (:class:`SlotCache`) and not ``StaticCache``
or a left-padded ``DynamicCache``: ``StaticCache`` keeps one write pointer for the whole
batch, so rows cannot sit at different positions; a left-padded ``DynamicCache`` can, but
cropping one row would re-pad every other. It is passed as ``cache=`` (transformers >= 5.24;
``past_key_values`` is deprecated there and goes in 5.40).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, Protocol

import torch
from transformers import LlamaForCausalLM
from transformers.cache_utils import Cache, CacheLayerMixin

from duplexsim.models.lean import LeanLlama, lean_support

Backend = Literal["auto", "lean", "hf"]
BACKENDS = ("auto", "lean", "hf")


class Forward(Protocol):
    """A forward over rows of per-row KV caches (lean or HF)."""

    def grow(self, capacity: int) -> None: ...

    def forward(self, rows: Sequence[int], pending: Sequence[Sequence[int]],
                starts: Sequence[int]) -> torch.Tensor: ...


class LMRows:
    """Rows of one model (one per conversation side using it), batched next-token logits."""

    def __init__(self, model: LlamaForCausalLM, n_units: int, max_tokens: int, rows: int = 1,
                 backend: Backend | Forward = "auto") -> None:
        """``backend``: ``auto`` (lean where it covers the model, else HF), ``lean``, ``hf``,
        or a :class:`Forward` built for ``rows`` rows of ``max_tokens`` (e.g. a baseline
        in a benchmark)."""
        if rows < 1 or max_tokens < 1:
            raise ValueError(f"LMRows: rows={rows}, max_tokens={max_tokens} (allowed: both >= 1)")
        if isinstance(backend, str) and backend not in BACKENDS:
            raise ValueError(f"LMRows: backend={backend!r} (allowed: {', '.join(BACKENDS)})")
        self.model = model.eval()
        self.n_units = n_units
        self.vocab_size = int(model.config.vocab_size)
        self.device = next(model.parameters()).device
        self.max_tokens = max_tokens
        # self.backend: the forward in use (``auto``: ``lean`` where it covers the model)
        self._forward: Forward
        if not isinstance(backend, str):
            self.backend, self._forward = type(backend).__name__, backend
        else:
            reason = lean_support(model)
            if backend == "lean" and reason is not None:
                raise ValueError(f"LMRows: backend 'lean': {reason} (allowed here: 'hf' or "
                                 "'auto')")
            self.backend = "lean" if backend != "hf" and reason is None else "hf"
            self._forward = (LeanLlama(model, rows, max_tokens) if self.backend == "lean"
                             else HFForward(model, rows, max_tokens))
        self.tokens: list[list[int]] = []
        self.n_cached: list[int] = []
        self.n_forwarded: list[int] = []
        """Tokens run through the model per row since it was added (prefill and re-feeds)."""
        self._logits: list[torch.Tensor | None] = []
        self._free: list[int] = []
        self.mask_cache: dict = {}
        """The engine's allowed-id rows by request kind (see ``engine.allowed_mask``)."""
        self.n_forwards = 0
        """Batched forward calls so far."""

    # ------------------------------------------------------------------ rows
    def add_row(self) -> int:
        """A fresh empty row (a released one is reused first)."""
        if self._free:
            row = self._free.pop()
            self.reset(row)
            self.n_forwarded[row] = 0
            return row
        row = len(self.tokens)
        self._forward.grow(row + 1)
        self.tokens.append([])
        self.n_cached.append(0)
        self.n_forwarded.append(0)
        self._logits.append(None)
        return row

    def release_row(self, row: int) -> None:
        """Row ``row`` may be handed out again by :meth:`add_row`."""
        self.reset(row)
        self._free.append(row)

    def reset(self, row: int) -> None:
        """Empty row ``row`` (its slots are simply overwritten later)."""
        self.tokens[row] = []
        self.n_cached[row], self._logits[row] = 0, None

    def append(self, row: int, ids: Sequence[int]) -> None:
        self.tokens[row].extend(int(i) for i in ids)

    def length(self, row: int) -> int:
        return len(self.tokens[row])

    def crop(self, row: int, n: int) -> None:
        """Keep row ``row``'s first ``n`` tokens; at most ``n - 1`` stay cached (the last is
        re-fed at the next forward so its logits exist). Costs nothing."""
        n = max(0, min(n, len(self.tokens[row])))
        del self.tokens[row][n:]
        self.n_cached[row] = min(self.n_cached[row], max(n - 1, 0))
        self._logits[row] = None

    # ------------------------------------------------------------------ forward
    def logits(self, rows: Sequence[int]) -> torch.Tensor:
        """Next-token logits after each listed row's tokens: ``[len(rows), V]`` float32. Rows
        whose tokens are all cached with logits kept cost nothing; the others share one
        forward of all their uncached tokens."""
        need = [b for b in rows
                if self._logits[b] is None or self.n_cached[b] != len(self.tokens[b])]
        for b in need:
            if not self.tokens[b]:
                raise ValueError(f"row {b}: no tokens to condition on (append some first)")
            if len(self.tokens[b]) > self.max_tokens:
                raise ValueError(f"row {b}: {len(self.tokens[b])} tokens (allowed: <= "
                                 f"max_tokens={self.max_tokens}); crop or reset it first")
            if self.n_cached[b] == len(self.tokens[b]):  # cached but logits lost: re-feed last
                self.n_cached[b] -= 1
        if need:
            need.sort()
            pending = [self.tokens[b][self.n_cached[b]:] for b in need]
            starts = [self.n_cached[b] for b in need]
            out = self._forward.forward(need, pending, starts)  # [len(need), V]
            self.n_forwards += 1
            for i, b in enumerate(need):
                self.n_cached[b] += len(pending[i])
                self.n_forwarded[b] += len(pending[i])
                self._logits[b] = out[i]
        return torch.stack([self._logits[b] for b in rows])  # type: ignore[misc]


# ---------------------------------------------------------------------- the HF forward
MERGE_TOKENS = 12
"""HF forward: rows needing at most this many new tokens share one (padded) call."""


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
        R, L = self.slots.shape
        rows = self.rows if self.rows is not None else torch.arange(R, device=self.keys.device)
        row_idx = rows[:, None].expand(R, L)  # [R, L]
        self.keys[row_idx, :, self.slots] = key_states.transpose(1, 2)  # [R, L, H, D]
        self.values[row_idx, :, self.slots] = value_states.transpose(1, 2)
        if self.rows is None:
            return self.keys[:R, :, : self.kv_len], self.values[:R, :, : self.kv_len]
        return (self.keys[self.rows, :, : self.kv_len],  # [R, H, S, D] (gathered copy)
                self.values[self.rows, :, : self.kv_len])

    def get_mask_sizes(self, query_length: int) -> tuple[int, int]:
        return self.kv_len, 0

    def get_seq_length(self) -> int:
        return self.kv_len

    def get_max_length(self) -> int:
        return self.max_tokens


class SlotCache(Cache):
    """Per-row slot cache for ``n_layers`` layers (see the module docstring)."""

    def __init__(self, n_layers: int, capacity: int, max_tokens: int) -> None:
        super().__init__(layers=[SlotLayer(capacity, max_tokens) for _ in range(n_layers)])

    def prepare(self, rows: torch.Tensor | None, slots: torch.Tensor, kv_len: int) -> None:
        for layer in self.layers:
            layer.rows, layer.slots, layer.kv_len = rows, slots, kv_len


class HFForward:
    """HF's ``LlamaModel`` over a :class:`SlotCache`: the same contract as
    :class:`~duplexsim.models.lean.LeanLlama`, padded instead of packed."""

    def __init__(self, model: LlamaForCausalLM, capacity: int, max_tokens: int) -> None:
        self.model, self.max_tokens, self.capacity = model, max_tokens, capacity
        self.device = next(model.parameters()).device
        self.cache = SlotCache(model.config.num_hidden_layers, capacity, max_tokens)

    def grow(self, capacity: int) -> None:
        for layer in self.cache.layers:
            layer.grow(capacity)
        self.capacity = max(self.capacity, capacity)

    @torch.inference_mode()
    def forward(self, rows: Sequence[int], pending: Sequence[Sequence[int]],
                starts: Sequence[int]) -> torch.Tensor:
        # decode rows (<= 4 new tokens) and prefills go separately when a prefill is long,
        # so it does not pad every decode row to its length
        out = torch.empty(len(rows), self.model.config.vocab_size)
        lens = [len(p) for p in pending]
        if max(lens) <= MERGE_TOKENS:
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
        pos = torch.full((R, L), self.max_tokens, dtype=torch.long)  # pads -> the spare slot
        for r, (p, s) in enumerate(zip(pending, starts, strict=True)):
            ids[r, : len(p)] = torch.tensor(list(p))
            pos[r, : len(p)] = torch.arange(s, s + len(p))
        kv_len = max(s + len(p) for p, s in zip(pending, starts, strict=True))
        slot = torch.arange(kv_len)
        mask = slot[None, None, :] <= pos[:, :, None]  # [R, L, S]: own row, slots 0..pos
        row_t = None if rows == list(range(R)) else torch.tensor(rows, device=self.device)
        self.cache.prepare(row_t, pos.to(self.device), kv_len)
        hidden = self.model.model(input_ids=ids.to(self.device),
                                  position_ids=pos.to(self.device),
                                  attention_mask=mask[:, None].to(self.device),
                                  cache=self.cache, use_cache=True).last_hidden_state
        last = torch.tensor([len(p) - 1 for p in pending], device=self.device)
        return self.model.lm_head(hidden[torch.arange(R, device=self.device), last]).float()
