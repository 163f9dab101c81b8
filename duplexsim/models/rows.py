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

The HF fallback lives in :mod:`duplexsim.models.hf_rows`, imported only when a model needs
it: the lean path (and code that only drives programs, such as a replay-partner env) then
never imports ``transformers``' modelling code, which costs 2 s and 170k objects that every
full garbage collection of the process walks again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal, Protocol

import torch

from duplexsim.models.lean import LeanLlama, lean_support, partial_rope

if TYPE_CHECKING:
    from transformers import LlamaForCausalLM

Backend = Literal["auto", "lean", "hf"]
BACKENDS = ("auto", "lean", "hf")


def check_backend(backend: object, where: str = "") -> None:
    """A one-line ValueError (naming ``where``, if given) unless ``backend`` is one of
    :data:`BACKENDS`."""
    if not isinstance(backend, str) or backend not in BACKENDS:
        prefix = f"{where}: " if where else ""
        raise ValueError(f"{prefix}backend={backend!r} (allowed: {', '.join(BACKENDS)})")


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
        if isinstance(backend, str):
            check_backend(backend, "LMRows")
        from duplexsim.models.model import LLAMA_TYPE  # (a model exists: transformers is loaded)

        model_type = getattr(model.config, "model_type", None)
        if model_type != LLAMA_TYPE:  # a Mistral ran without its sliding window, a GPT-2 failed
            raise ValueError(f"LMRows: a {type(model).__name__} (model_type {model_type!r}); "
                             f"both forwards compute Llama only (allowed: {LLAMA_TYPE})")
        partial = partial_rope(model)
        if partial is not None:  # HF's Llama fails on it with a shape error, deep inside
            raise ValueError(f"LMRows: {partial}: neither forward computes it (allowed: "
                             "RoPE over the whole head_dim, no partial_rotary_factor)")
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
            if self.backend == "lean":
                self._forward = LeanLlama(model, rows, max_tokens)
            else:
                from duplexsim.models.hf_rows import HFForward

                self._forward = HFForward(model, rows, max_tokens)
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
        if not 0 <= row < len(self.tokens) or row in self._free:
            raise ValueError(f"release_row({row}): not a row in use (allowed: a row add_row "
                             "handed out and not released since)")
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
        # each row once: a row listed twice was fed twice (its cache count past its tokens)
        need = sorted({b for b in rows
                       if self._logits[b] is None or self.n_cached[b] != len(self.tokens[b])})
        for b in need:
            if not self.tokens[b]:
                raise ValueError(f"row {b}: no tokens to condition on (append some first)")
            if len(self.tokens[b]) > self.max_tokens:
                raise ValueError(f"row {b}: {len(self.tokens[b])} tokens (allowed: <= "
                                 f"max_tokens={self.max_tokens}); crop or reset it first")
            if self.n_cached[b] == len(self.tokens[b]):  # cached but logits lost: re-feed last
                self.n_cached[b] -= 1
        if need:
            pending = [self.tokens[b][self.n_cached[b]:] for b in need]
            starts = [self.n_cached[b] for b in need]
            out = self._forward.forward(need, pending, starts)  # [len(need), V]
            self.n_forwards += 1
            for i, b in enumerate(need):
                self.n_cached[b] += len(pending[i])
                self.n_forwarded[b] += len(pending[i])
                self._logits[b] = out[i]
        return torch.stack([self._logits[b] for b in rows])  # type: ignore[misc]
