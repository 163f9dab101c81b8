"""Causal self-attention for training on the CPU, in query blocks.

Owns: the ``"duplexsim_blocked"`` attention implementation that :class:`~duplexsim.training.
recipe.Trainer` gives the HF model when it trains on the CPU in bf16 (in fp32 the two
kernels measured alike, 102-113 ms per layer, so fp32 cards keep ``sdpa``). Must not touch
inference (the agents run :mod:`duplexsim.models.lean`) or the saved model (its config
says ``sdpa``).

Why: at training shapes (8 x 512 tokens, 4 heads of 64) PyTorch's CPU flash-attention
kernel took 40% of a stage-3 step on the 2-core machine, about 100 ms per layer forward
and backward at 16 GFLOP/s, while the model's matmuls ran at ~200 GFLOP/s. Splitting the
queries into blocks of ``BLOCK`` and letting block *i* attend to keys ``[0, (i+1)*BLOCK)``
turns it into plain bf16 matmuls that skip most of the masked half: 63 ms against 100
(`python -m duplexsim.bench.bench_training --only attention`).

Numerics are those of HF's own ``eager`` attention under bf16 autocast: scores and
probabilities in bf16, the softmax accumulated in fp32 inside the kernel. Anything that
is not plain causal self-attention without a mask (a padding mask, a KV cache, one query)
goes to HF's ``sdpa`` unchanged.
"""

from __future__ import annotations

import torch
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import repeat_kv, sdpa_attention_forward
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

NAME = "duplexsim_blocked"
BLOCK = 128
"""Query rows per block: 128 and 256 measured alike at 512 tokens; smaller blocks skip more
of the masked half but multiply small matmuls."""


def blocked_causal(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                   scaling: float, block: int = BLOCK) -> torch.Tensor:
    """softmax(q k^T * scaling + causal mask) v for ``[B, H, T, D]`` tensors, by query
    blocks; returns ``[B, H, T, D]``."""
    length = query.shape[-2]
    query = query * scaling
    out = []
    for start in range(0, length, block):
        stop = min(start + block, length)
        scores = query[..., start:stop, :] @ key[..., :stop, :].transpose(-1, -2)
        future = torch.ones(stop - start, stop - start, dtype=torch.bool,
                            device=query.device).triu(1)  # only the diagonal square masks
        scores[..., start:].masked_fill_(future, float("-inf"))
        probs = torch.softmax(scores, dim=-1)
        out.append(probs @ value[..., :stop, :])
    return torch.cat(out, dim=-2)


def blocked_attention_forward(module: torch.nn.Module, query: torch.Tensor, key: torch.Tensor,
                              value: torch.Tensor, attention_mask: torch.Tensor | None,
                              dropout: float = 0.0, scaling: float | None = None,
                              is_causal: bool | None = None, **kwargs
                              ) -> tuple[torch.Tensor, None]:
    """HF attention-interface function: ``[B, T, H, D]`` output, no weights."""
    causal = is_causal if is_causal is not None else getattr(module, "is_causal", True)
    plain = (causal and attention_mask is None and dropout == 0.0
             and query.shape[2] == key.shape[2] > 1 and kwargs.get("position_bias") is None)
    if not plain:
        return sdpa_attention_forward(module, query, key, value, attention_mask,
                                      dropout=dropout, scaling=scaling, is_causal=is_causal,
                                      **kwargs)
    groups = getattr(module, "num_key_value_groups", 1)
    key, value = repeat_kv(key, groups), repeat_kv(value, groups)
    scale = scaling if scaling is not None else query.shape[-1] ** -0.5
    return blocked_causal(query, key, value, scale).transpose(1, 2).contiguous(), None


AttentionInterface.register(NAME, blocked_attention_forward)
AttentionMaskInterface.register(NAME, sdpa_mask)  # no mask without padding, as for sdpa
