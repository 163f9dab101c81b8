"""Batched streaming generation: B independent streams of one model, one forward per step.

Owns: :class:`SlotCache` (a preallocated KV cache with one row of slots per stream),
:class:`BatchedStreamingLM` (per-stream tokens, positions, ``reset``/``crop``, batched
logits), the lock-step driver :func:`run_streams` and the constrained sub-programs
:func:`piece` / :func:`choose_tag`. Must not touch agents, the simulator or training;
the single-stream sampler in :mod:`duplexsim.models.streaming` stays the reference.

Cache choice: our own preallocated tensors behind a ``transformers`` ``Cache``, not
``StaticCache`` and not a left-padded ``DynamicCache``. In transformers 5 ``StaticCache``
keeps one write pointer (``cumulative_length``) for the whole batch, so streams cannot
sit at different positions; a left-padded ``DynamicCache`` can, but cropping or
re-prefilling one stream (a context slide, a replaced partner chunk) would mean
re-padding every other stream. Here stream ``b``'s token at position ``p`` lives in slot
``p`` of row ``b``: positions are per stream (``position_ids`` = slot), ``crop`` is free
(only the stream's length changes), and the 4D boolean mask we pass (transformers uses a
4D mask as is) lets each query see slots ``0..p`` of its own row. Steps where streams
have different numbers of pending tokens right-pad them; pad tokens write to a spare
slot past the end that no real query ever sees.

Programs: a stream's generation logic is a Python generator that yields an ``allowed``
mask ``[V]`` whenever it needs a token and receives the sampled id back (``piece`` and
``choose_tag`` mirror :func:`~duplexsim.models.streaming.sample_piece` and
:func:`~duplexsim.models.streaming.choose`). :func:`run_streams` advances all of them in
lock step: one batched forward, then each stream samples from its own row with its own
``torch.Generator``. Since ``torch.multinomial`` draws one exponential per vocabulary entry
whatever the probabilities, each generator advances exactly as in a one-stream run.

Exactness: stream ``b`` of a batch sees the same tokens and the same masks as alone; its
logits can differ from a one-stream run only by float rounding (batched matmuls, masked
attention over more slots): bitwise equality is not promised by the CPU kernels; measured
<= 6e-7 absolute on the ``small`` preset. A sampled token changes only if that flips a
near-tie of the sampler, which did not happen in the tests (token-for-token equality with
:func:`~duplexsim.models.continuation.continue_dialogue`, three sampling settings); the
logits are checked separately within 1e-5.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from typing import Any, TypeVar

import torch
from transformers import LlamaForCausalLM
from transformers.cache_utils import Cache, CacheLayerMixin

from duplexsim.models.streaming import SamplingConfig, piece_mask, sample_from_logits

T = TypeVar("T")
MERGE_TOKENS = 12
"""Rows needing at most this many new tokens share one forward (see ``logits``)."""
StreamProgram = Generator[torch.Tensor, int, T]
"""Yields an allowed-id mask [V] when it needs a token; is sent the sampled id."""


class SlotLayer(CacheLayerMixin):
    """One layer's keys/values ``[B, H, max_tokens + 1, D]``; the last slot takes pads."""

    def __init__(self, batch_size: int, max_tokens: int) -> None:
        super().__init__()
        self.batch_size, self.max_tokens = batch_size, max_tokens
        self.rows: torch.Tensor | None = None  # [R] stream rows of this forward (None = all)
        self.slots: torch.Tensor | None = None  # [R, L] slot of every input token
        self.kv_len = 0  # slots 0..kv_len-1 are returned to attention

    def lazy_initialization(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
        _, H, _, Dk = key_states.shape
        shape = (self.batch_size, H, self.max_tokens + 1)
        self.keys = key_states.new_zeros((*shape, Dk))
        self.values = value_states.new_zeros((*shape, value_states.shape[-1]))
        self.is_initialized = True

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
        if self.rows is None:  # a view: no copy on the common all-streams step
            return self.keys[:, :, : self.kv_len], self.values[:, :, : self.kv_len]
        return (self.keys[self.rows, :, : self.kv_len],  # [R, H, S, D] (gathered copy)
                self.values[self.rows, :, : self.kv_len])

    def get_mask_sizes(self, query_length: int) -> tuple[int, int]:
        return self.kv_len, 0

    def get_seq_length(self) -> int:
        return self.kv_len

    def get_max_length(self) -> int:
        return self.max_tokens


class SlotCache(Cache):
    """Per-stream slot cache for ``n_layers`` layers (see the module docstring)."""

    def __init__(self, n_layers: int, batch_size: int, max_tokens: int) -> None:
        super().__init__(layers=[SlotLayer(batch_size, max_tokens) for _ in range(n_layers)])

    def prepare(self, rows: torch.Tensor | None, slots: torch.Tensor, kv_len: int) -> None:
        for layer in self.layers:
            layer.rows, layer.slots, layer.kv_len = rows, slots, kv_len


class BatchedStreamingLM:
    """Tokens and KV cache of ``batch_size`` independent streams of one model."""

    def __init__(self, model: LlamaForCausalLM, n_units: int, batch_size: int,
                 max_tokens: int) -> None:
        if batch_size < 1 or max_tokens < 1:
            raise ValueError(f"BatchedStreamingLM: batch_size={batch_size}, max_tokens="
                             f"{max_tokens} (allowed: both >= 1)")
        self.model = model.eval()
        self.n_units = n_units
        self.vocab_size = model.config.vocab_size
        self.device = next(model.parameters()).device
        self.batch_size, self.max_tokens = batch_size, max_tokens
        self.cache = SlotCache(model.config.num_hidden_layers, batch_size, max_tokens)
        self.tokens: list[list[int]] = [[] for _ in range(batch_size)]
        self.n_cached = [0] * batch_size  # tokens[b][:n_cached[b]] are in row b's slots
        self.last_logits: list[torch.Tensor | None] = [None] * batch_size
        self.n_forwarded = [0] * batch_size
        self.n_model_calls = 0

    def reset(self, b: int) -> None:
        """Empty stream ``b`` (its slots are simply overwritten later)."""
        self.tokens[b] = []
        self.n_cached[b], self.last_logits[b] = 0, None

    def append(self, b: int, ids: Sequence[int]) -> None:
        self.tokens[b].extend(int(i) for i in ids)

    def length(self, b: int) -> int:
        return len(self.tokens[b])

    def crop(self, b: int, n: int) -> None:
        """Keep stream ``b``'s first ``n`` tokens; at most ``n - 1`` stay cached so the last
        is re-fed (as :meth:`duplexsim.models.streaming.StreamState.crop`). Costs nothing."""
        n = max(0, min(n, len(self.tokens[b])))
        del self.tokens[b][n:]
        self.n_cached[b] = min(self.n_cached[b], max(n - 1, 0))
        self.last_logits[b] = None

    @torch.inference_mode()
    def logits(self, rows: Sequence[int]) -> torch.Tensor:
        """Next-token logits after each listed stream's tokens: ``[len(rows), V]`` float32."""
        need = [b for b in rows if self.last_logits[b] is None
                or self.n_cached[b] != len(self.tokens[b])]
        for b in need:
            if not self.tokens[b]:
                raise ValueError(f"stream {b}: no tokens to condition on (append some first)")
            if self.n_cached[b] == len(self.tokens[b]):  # cached but logits lost: re-feed last
                self.n_cached[b] -= 1
            if len(self.tokens[b]) > self.max_tokens:
                raise ValueError(f"stream {b}: {len(self.tokens[b])} tokens (allowed: <= "
                                 f"max_tokens={self.max_tokens}); crop or reset it first")
        # one forward when no row brings more than MERGE_TOKENS new tokens; otherwise decode
        # steps (<= 4 new tokens) and prefills go separately, so a long prefill does not pad
        # every decode row to its length (16 rows x 16 tokens cost 2.5x 16 rows x 1 token)
        pending = {b: len(self.tokens[b]) - self.n_cached[b] for b in need}
        if need and max(pending.values()) <= MERGE_TOKENS:
            self._forward(need)
        else:
            short = [b for b in need if pending[b] <= 4]
            for group in (short, [b for b in need if b not in short]):
                if group:
                    self._forward(group)
        return torch.stack([self.last_logits[b] for b in rows])  # type: ignore[misc]

    def _forward(self, group: list[int]) -> None:
        pending = [self.tokens[b][self.n_cached[b]:] for b in group]
        R, L = len(group), max(len(p) for p in pending)
        ids = torch.full((R, L), self.model.config.pad_token_id or 0, dtype=torch.long)
        pos = torch.full((R, L), self.max_tokens, dtype=torch.long)  # pads -> the spare slot
        for r, (b, p) in enumerate(zip(group, pending, strict=True)):
            ids[r, : len(p)] = torch.tensor(p)
            pos[r, : len(p)] = torch.arange(self.n_cached[b], self.n_cached[b] + len(p))
        kv_len = max(self.n_cached[b] + len(p) for b, p in zip(group, pending, strict=True))
        slot = torch.arange(kv_len)
        mask = slot[None, None, :] <= pos[:, :, None]  # [R, L, S]: own row, slots 0..pos
        rows = (None if group == list(range(self.batch_size))
                else torch.tensor(group, device=self.device))
        self.cache.prepare(rows, pos.to(self.device), kv_len)
        out = self.model.model(input_ids=ids.to(self.device), position_ids=pos.to(self.device),
                               attention_mask=mask[:, None].to(self.device),
                               past_key_values=self.cache, use_cache=True)
        self.n_model_calls += 1
        last = torch.tensor([len(p) - 1 for p in pending], device=self.device)
        hidden = out.last_hidden_state[torch.arange(R, device=self.device), last]  # [R, C]
        logits = self.model.lm_head(hidden).float()  # [R, V]: the lm head on last tokens only
        for r, (b, p) in enumerate(zip(group, pending, strict=True)):
            self.n_cached[b] += len(p)
            self.n_forwarded[b] += len(p)
            self.last_logits[b] = logits[r]

    def unit_mask(self, prev_unit: int | None, ends: tuple[int, ...],
                  allow_end: bool = True) -> torch.Tensor:
        """Allowed ids inside a stream piece (the same rule as ``StreamingLM.piece_mask``)."""
        return piece_mask(self.vocab_size, self.n_units, prev_unit, ends, allow_end, self.device)

    def tag_mask(self, options: tuple[int, ...]) -> torch.Tensor:
        mask = torch.zeros(self.vocab_size, dtype=torch.bool, device=self.device)
        mask[list(options)] = True
        return mask


def piece(lm: BatchedStreamingLM, b: int, prev_unit: int | None, max_units: int,
          ends: tuple[int, ...], min_units: int = 0
          ) -> StreamProgram[tuple[list[int], int | None]]:
    """Sub-program: stream ``b``'s novel units for one chunk (``sample_piece`` semantics:
    units only, never repeating the previous unit, at most ``max_units``, stops at an id of
    ``ends`` which is returned and not appended; ``None`` when ``max_units`` were reached)."""
    units: list[int] = []
    prev = prev_unit
    while len(units) < max_units:
        token = yield lm.unit_mask(prev, ends, allow_end=len(units) >= min_units)
        if token in ends:
            return units, token
        units.append(token)
        lm.append(b, [token])
        prev = token
    return units, None


def choose_tag(lm: BatchedStreamingLM, options: tuple[int, ...]) -> StreamProgram[int]:
    """Sub-program: one of ``options`` (``choose`` semantics: not appended)."""
    token = yield lm.tag_mask(options)
    return token


def run_streams(lm: BatchedStreamingLM, programs: Sequence[StreamProgram[T]],
                generators: Sequence[torch.Generator], cfg: SamplingConfig) -> list[T]:
    """Run one program per stream (program ``b`` on stream ``b``) in lock step until all end.

    Each step forwards every stream that asked for a token in one batched call and samples
    row ``b`` with ``generators[b]``. Returns the programs' return values in order.
    """
    if not len(programs) == len(generators) <= lm.batch_size:
        raise ValueError(f"run_streams: {len(programs)} programs, {len(generators)} generators "
                         f"(allowed: equal counts, at most batch_size={lm.batch_size})")
    results: list[Any] = [None] * len(programs)
    asks: dict[int, torch.Tensor] = {}
    for b, program in enumerate(programs):
        _advance(program, b, None, asks, results)
    while asks:
        rows = sorted(asks)
        logits = lm.logits(rows)  # [R, V]
        for r, b in enumerate(rows):
            allowed = asks.pop(b)
            token = int(sample_from_logits(logits[r: r + 1], allowed[None], cfg,
                                           generators[b])[0])
            _advance(programs[b], b, token, asks, results)
    return results


def _advance(program: StreamProgram[Any], b: int, token: int | None,
             asks: dict[int, torch.Tensor], results: list[Any]) -> None:
    try:
        asks[b] = program.send(token) if token is not None else next(program)
    except StopIteration as stop:
        results[b] = stop.value
