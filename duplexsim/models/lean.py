"""A lean inference forward for the agents' Llama: plain torch over the HF model's weights.

Owns :func:`lean_support` (which models it covers, and why not) and :class:`LeanLlama`
(a forward over packed tokens of many rows, each row with its own preallocated KV cache).
The HF ``LlamaForCausalLM`` stays the training and checkpoint format; this is only how
inference runs it. Must not touch sampling, agents or the simulator.

Why: at the agents' sizes (0.1-4M parameters) one HF forward is mostly module-call
machinery, cache bookkeeping (``DynamicCache`` copies the cache every token) and mask
building (measured 89% of one simulated conversation; a hand-written forward is 2x faster
per token at batch 1). Here a forward is a few dozen tensor ops.

Covered (anything else falls back to HF: :func:`lean_support` says why):
- ``LlamaForCausalLM`` with ``hidden_act = "silu"``, no attention or MLP biases,
  ``pretraining_tp = 1``, RMSNorm;
- RoPE types whose inverse frequencies are fixed (``default``, ``linear``, ``llama3``,
  ``yarn``: read from HF's own rotary module, its ``attention_scaling`` applied as HF
  does); not ``dynamic`` or ``longrope``, which change with the sequence length, nor a
  ``partial_rotary_factor`` (:func:`partial_rope`: HF's Llama cannot run it either);
- grouped-query attention (any ``num_key_value_heads`` dividing ``num_attention_heads``),
  an explicit ``head_dim``, tied or untied embeddings, float32 weights (how agents load).

Packed rows: a forward takes for each listed row its new tokens and the position of the
first; all tokens of all rows go through the projections and MLPs as one ``[N, C]``
matrix (no padding). Attention runs one call per row over a view of that row's cache
slots ``0..position`` (measured: gathering the listed rows' caches into one batched call
copies more bytes than attention reads, 3-5x slower at 16-64 rows). A token at position
``p`` of row ``b`` lives in slot ``p`` of row ``b``: cropping a row is free.

RoPE is one complex product per token: each q / k head's columns are reordered once so
that HF's rotate-half pairs ``(i, i + D/2)`` sit side by side (``q . k`` does not change
when both are reordered alike; cached keys are kept in that order).

Batch-invariant: a row's logits are the same bits alone or beside any other rows. MKL
computes a product of fewer than 4 rows (``x @ W``, ``addmm``) by another kernel than one
of 4 or more, whose every row gives the same bits at any row count (measured on the
agents' shapes, 4 to 1024 rows, every position, MKL pinned as :mod:`duplexsim.threads`
does). So a forward of fewer than :data:`MIN_ROWS` tokens runs the dense products on
zero rows appended to :data:`MIN_ROWS` (a zero row stays zero through every layer); before,
one conversation of a 20-seed sweep sampled another unit beside other cells than alone.

Weights are read when the object is built (the q/k/v and gate/up projections fused into
one matrix each, stored transposed: ``x @ W`` with ``W`` ``[in, out]`` contiguous measured
1.1-1.7x faster than ``F.linear`` at 1-64 rows): build a new one after changing the
model's weights.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

if TYPE_CHECKING:
    from transformers import LlamaConfig, LlamaForCausalLM

ROPE_TYPES = ("default", "linear", "llama3", "yarn")
MIN_ROWS = 4
"""Rows every dense product runs on (zero rows appended): MKL's kernel for fewer rows
rounds differently, so without them a row's logits depended on how many rows it shared a
forward with."""


def lean_support(model: torch.nn.Module) -> str | None:
    """None if :class:`LeanLlama` computes ``model`` exactly, else the reason it does not."""
    from transformers import LlamaForCausalLM  # (a model exists: transformers is loaded)

    if not isinstance(model, LlamaForCausalLM):
        return f"{type(model).__name__} is not a LlamaForCausalLM"
    c = model.config
    rope_type = getattr(model.model.rotary_emb, "rope_type", "default")
    partial = partial_rope(model)
    checks = [
        (getattr(c, "hidden_act", "silu") == "silu", f"hidden_act={c.hidden_act!r}"),
        (not getattr(c, "attention_bias", False), "attention_bias"),
        (not getattr(c, "mlp_bias", False), "mlp_bias"),
        (getattr(c, "pretraining_tp", 1) == 1, f"pretraining_tp={getattr(c, 'pretraining_tp', 1)}"),
        (rope_type in ROPE_TYPES, f"rope_type={rope_type!r} (covered: {', '.join(ROPE_TYPES)})"),
        (c.num_attention_heads % _kv_heads(c) == 0, "heads not a multiple of kv heads"),
        (partial is None, str(partial)),
        (next(model.parameters()).dtype == torch.float32,
         f"dtype {next(model.parameters()).dtype} (covered: float32)"),
    ]
    missing = [why for ok, why in checks if not ok]
    return None if not missing else "not covered: " + ", ".join(missing)


def partial_rope(model: LlamaForCausalLM) -> str | None:
    """None if the model's RoPE has a frequency for every pair of a head's dims, else what it
    has: ``partial_rotary_factor`` < 1 in a ``linear`` / ``yarn`` / ``llama3`` config leaves
    fewer, which HF's Llama cannot apply (a shape error) and the lean forward broadcast
    without a word where one frequency was left."""
    c = model.config
    head_dim = getattr(c, "head_dim", None) or c.hidden_size // c.num_attention_heads
    n = model.model.rotary_emb.inv_freq.numel()
    if n == head_dim // 2:
        return None
    return f"RoPE frequencies for {2 * n} of head_dim {head_dim} (partial_rotary_factor)"


def _kv_heads(c: LlamaConfig) -> int:
    """``num_key_value_heads``; None means as many as attention heads (LlamaConfig fills it
    in so when built, but its type keeps the None)."""
    n = c.num_key_value_heads
    return c.num_attention_heads if n is None else n


@dataclass
class _Pack:
    """One forward's new tokens, packed row after row."""

    ids: torch.Tensor  # [N]
    n_tokens: int
    spans: list[tuple[int, int, int, int, torch.Tensor | None]]
    """Per row: (row, first packed index, new tokens, slots it sees, and for several new
    tokens the ``[n * G, S]`` mask of the slots each query may not see, else None)."""
    rotation: torch.Tensor  # [N, 1, D/2] complex
    last: torch.Tensor | slice  # each row's last new token in the packing
    slots: torch.Tensor | None
    """[N * Hkv] each new key's / value's row of a layer's cache viewed as [rows * Hkv * T,
    D], token by token, head by head (None: a single row, whose slots are one slice)."""
    row: int  # the first row, and its start (the single-row case)
    start: int


class LeanLlama:
    """Inference forward of a Llama over ``capacity`` rows of ``max_tokens`` cache slots."""

    def __init__(self, model: LlamaForCausalLM, capacity: int, max_tokens: int) -> None:
        reason = lean_support(model)
        if reason is not None:
            raise ValueError(f"LeanLlama: {reason}")
        c = model.config
        self.n_heads, self.n_kv = c.num_attention_heads, _kv_heads(c)
        self.head_dim = getattr(c, "head_dim", None) or c.hidden_size // c.num_attention_heads
        self.eps = float(c.rms_norm_eps)
        self.max_tokens = max_tokens
        with torch.no_grad():  # weights stored [in, out]: x @ W is faster than linear here
            self.embed = model.model.embed_tokens.weight.detach()
            self.lm_head_t = model.lm_head.weight.detach().t().contiguous()
            self.final_norm = model.model.norm.weight.detach()
            self.layers = []
            D = self.head_dim
            # RoPE as one complex product: each q / k head's columns reordered so that the
            # rotate-half pairs (i, i + D/2) sit side by side; q.k is unchanged by the same
            # reordering of both, v is not reordered
            pairs = torch.stack([torch.arange(D // 2), torch.arange(D // 2) + D // 2], 1)
            qk_cols = (torch.arange(self.n_heads + self.n_kv)[:, None] * D
                       + pairs.reshape(1, D)).reshape(-1)
            for layer in model.model.layers:
                a, m = layer.self_attn, layer.mlp
                qk = torch.cat([a.q_proj.weight, a.k_proj.weight])[qk_cols]
                self.layers.append((
                    layer.input_layernorm.weight.detach(),
                    torch.cat([qk, a.v_proj.weight]).t().contiguous(),
                    a.o_proj.weight.detach().t().contiguous(),
                    layer.post_attention_layernorm.weight.detach(),
                    torch.cat([m.gate_proj.weight, m.up_proj.weight]).t().contiguous(),
                    m.down_proj.weight.detach().t().contiguous(),
                ))
            rotary = model.model.rotary_emb
            positions = torch.arange(max_tokens, dtype=torch.float32, device=self.embed.device)
            freqs = positions[:, None] * rotary.inv_freq.float()[None, :]  # [P, D/2], as HF
            scale = float(getattr(rotary, "attention_scaling", 1.0))
            self.rotation = torch.polar(torch.full_like(freqs, scale), freqs)  # [P, D/2]
        self.capacity = 0
        self.keys: list[torch.Tensor] = []  # per layer [capacity, H_kv, max_tokens, D]
        self.values: list[torch.Tensor] = []
        self.grow(capacity)

    def grow(self, capacity: int) -> None:
        """Room for at least ``capacity`` rows (doubling; existing rows' caches are kept).
        Slots are not zeroed: a row only ever reads slots it has written."""
        if capacity <= self.capacity:
            return
        capacity = max(capacity, 2 * self.capacity)
        shape = (capacity, self.n_kv, self.max_tokens, self.head_dim)
        for store in (self.keys, self.values):
            for i in range(len(self.layers)):
                fresh = self.embed.new_empty(shape)
                if i < len(store):
                    fresh[: self.capacity] = store[i]
                    store[i] = fresh
                else:
                    store.append(fresh)
        self.capacity = capacity
        self._row_views = [([k[r] for r in range(capacity)],  # per layer, per row [Hkv, T, D]
                            [v[r] for r in range(capacity)])
                           for k, v in zip(self.keys, self.values, strict=True)]

    @torch.inference_mode()
    def forward(self, rows: Sequence[int], pending: Sequence[Sequence[int]],
                starts: Sequence[int]) -> torch.Tensor:
        """Feed ``pending[i]`` (token ids) into row ``rows[i]`` at positions ``starts[i]...``;
        return the logits after each row's last new token, ``[len(rows), V]`` float32."""
        pack = self._pack(rows, pending, starts)
        H, Hkv, D = self.n_heads, self.n_kv, self.head_dim
        N = pack.n_tokens
        x = _at_least(F.embedding(pack.ids, self.embed))  # [max(N, MIN_ROWS), C]
        C = x.shape[-1]
        for li, (norm1, w_qkv, w_o, norm2, w_gu, w_down) in enumerate(self.layers):
            qkv = (F.rms_norm(x, (C,), norm1, self.eps) @ w_qkv)[:N]  # [N, (H + 2 Hkv) D]
            qk = torch.view_as_complex(qkv[:, : (H + Hkv) * D].view(N, H + Hkv, D // 2, 2))
            qk = torch.view_as_real(qk * pack.rotation).view(N, H + Hkv, D)  # RoPE
            self._write_kv(li, pack, qk[:, H:], qkv[:, (H + Hkv) * D:].view(N, Hkv, D))
            x = torch.addmm(x, self._attend(li, pack, qk[:, :H]), w_o)  # x + att @ w_o
            gate, up = (F.rms_norm(x, (C,), norm2, self.eps) @ w_gu).chunk(2, dim=-1)
            x = torch.addmm(x, _silu(gate) * up, w_down)
        h = _at_least(x[pack.last])  # each row's last new token
        logits = F.rms_norm(h, (C,), self.final_norm, self.eps) @ self.lm_head_t
        return logits[:len(rows)].float()

    def _pack(self, rows: Sequence[int], pending: Sequence[Sequence[int]],
              starts: Sequence[int]) -> _Pack:
        """Lay the rows' new tokens out one after another (what every layer reuses)."""
        dev = self.embed.device
        G = self.n_heads // self.n_kv
        spans = []
        ids: list[int] = []
        pos: list[int] = []
        row_of: list[int] = []
        for row, p, start in zip(rows, pending, starts, strict=True):
            n = len(p)
            hidden = None
            if n > 1:  # new queries see slots 0..own position; one query sees all S slots
                qpos = torch.arange(start, start + n, device=dev)
                future = torch.arange(start + n, device=dev)[None, :] > qpos[:, None]
                hidden = future[:, None, :].expand(n, G, start + n).reshape(n * G, -1)
            spans.append((row, len(ids), n, start + n, hidden))
            ids.extend(p)
            pos.extend(range(start, start + n))
            row_of.extend([row] * n)
        N = len(ids)
        if len(rows) == 1:  # one row: its new tokens are one contiguous slot range
            rotation = self.rotation[starts[0]: starts[0] + N, None]
            last: torch.Tensor | slice = slice(N - 1, N)
            slots = None
        else:
            pos_t = torch.tensor(pos, device=dev)
            heads = torch.arange(self.n_kv, device=dev)
            slots = (((torch.tensor(row_of, device=dev)[:, None] * self.n_kv + heads)
                      * self.max_tokens + pos_t[:, None]).reshape(-1))
            rotation = self.rotation[pos_t, None]
            last = torch.tensor([first + n - 1 for _, first, n, _, _ in spans], device=dev)
        return _Pack(ids=torch.tensor(ids, device=dev), n_tokens=N, spans=spans,
                     rotation=rotation, last=last, slots=slots,
                     row=rows[0], start=starts[0])

    def _write_kv(self, li: int, pack: _Pack, k: torch.Tensor, v: torch.Tensor) -> None:
        """Each new token's key / value ``[N, Hkv, D]`` into its row's slot of layer ``li``."""
        keys, values = self.keys[li], self.values[li]
        N = pack.n_tokens
        if pack.slots is None:  # one row: a slice
            keys[pack.row, :, pack.start: pack.start + N] = k.transpose(0, 1)
            values[pack.row, :, pack.start: pack.start + N] = v.transpose(0, 1)
        else:
            D = self.head_dim
            keys.view(-1, D).index_copy_(0, pack.slots, k.reshape(N * self.n_kv, D))
            values.view(-1, D).index_copy_(0, pack.slots, v.reshape(N * self.n_kv, D))

    def _attend(self, li: int, pack: _Pack, q: torch.Tensor) -> torch.Tensor:
        """Attention of the new queries ``q`` ``[N, H, D]`` of layer ``li``:
        ``[max(N, MIN_ROWS), H * D]``, the rows past ``N`` zero (for the output projection).

        One call per row over views of its own slots: gathering the rows' caches into one
        batched call copies more bytes than the attention reads. A decode query (one new
        token) needs no mask and no reshape: its ``[H, D]`` is ``[Hkv, G, D]`` in order.
        The queries are scaled once for all rows (elementwise: the same bits as per row).
        """
        H, Hkv, D = self.n_heads, self.n_kv, self.head_dim
        k_rows, v_rows = self._row_views[li]
        q = q * D ** -0.5
        q_tok = q.view(pack.n_tokens, Hkv, H // Hkv, D)
        n_rows = max(pack.n_tokens, MIN_ROWS)
        out = q.new_empty(n_rows, Hkv, H // Hkv, D)  # each row writes its own tokens
        out[pack.n_tokens:].zero_()
        for row, first, n, S, hidden in pack.spans:
            if n == 1:
                _attention(q_tok[first], k_rows[row][:, :S], v_rows[row][:, :S],
                           out=out[first])
            else:
                out[first: first + n] = self._row_attention(q, k_rows[row], v_rows[row],
                                                            first, n, S, hidden)
        return out.view(n_rows, H * D)

    def _row_attention(self, q: torch.Tensor, keys: torch.Tensor, values: torch.Tensor,
                       first: int, n: int, S: int, hidden: torch.Tensor | None,
                       ) -> torch.Tensor:
        """One row's ``n`` new (scaled) queries, packed at ``first``, over its slots
        ``0..S-1``: ``[n, Hkv, G, D]``. ``keys`` / ``values``: the row's ``[Hkv, max_tokens, D]``
        views; ``hidden``: the ``[n * G, S]`` slots each query may not see."""
        H, Hkv, D = self.n_heads, self.n_kv, self.head_dim
        G = H // Hkv
        qs = q[first: first + n].reshape(n, Hkv, G, D).transpose(0, 1).reshape(Hkv, n * G, D)
        o = _attention(qs, keys.narrow(1, 0, S), values.narrow(1, 0, S),
                       hidden)  # [Hkv, n * G, D]
        return o.view(Hkv, n, G, D).transpose(0, 1)


def _attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
               hidden: torch.Tensor | None = None, out: torch.Tensor | None = None,
               ) -> torch.Tensor:
    """``softmax(q k^T + mask) v`` for ``q`` ``[B, M, D]`` already scaled by ``1/sqrt(D)``,
    ``k`` / ``v`` ``[B, S, D]``, written out (``hidden``: True = may not attend; ``out``:
    where the ``[B, M, D]`` result goes, else a new tensor).

    Not ``F.scaled_dot_product_attention``: its CPU kernel (and ``F.silu``, ``softmax``)
    differs in the last bits between AVX2 and AVX-512 builds of the same op, so the same
    agent sampled other tokens on another processor. Matmuls, ``exp`` and sums give the
    same bits on both with MKL pinned (:func:`duplexsim.threads.use_threads`). 3-d ``bmm``
    and in-place steps: the same bits as 4-d ``matmul`` and fresh tensors, with fewer
    calls (measured 1.2-1.5x per row at simulation contexts)."""
    scores = torch.bmm(q, k.mT)
    if hidden is not None:
        scores.masked_fill_(hidden, float("-inf"))
    scores.sub_(scores.amax(dim=-1, keepdim=True)).exp_()
    return torch.bmm(scores.div_(scores.sum(dim=-1, keepdim=True)), v, out=out)


def _at_least(x: torch.Tensor) -> torch.Tensor:
    """``x`` ``[n, C]`` with zero rows appended up to :data:`MIN_ROWS` (``x`` itself when it
    has as many): what makes the dense products batch-invariant."""
    n = x.shape[0]
    return x if n >= MIN_ROWS else torch.cat((x, x.new_zeros(MIN_ROWS - n, x.shape[1])))


def _silu(x: torch.Tensor) -> torch.Tensor:
    """``x * sigmoid(x)`` written out, for the reason :func:`_attention` gives."""
    return x / (1.0 + torch.exp(-x))
