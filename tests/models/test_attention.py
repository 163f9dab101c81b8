"""The blocked causal attention used for CPU training: equal to SDPA's causal attention in
fp32 (outputs and gradients, lengths that are and are not a multiple of the block, GQA),
the same HF logits, and HF's sdpa wherever it is not plain causal self-attention."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from transformers import DynamicCache, LlamaConfig, LlamaForCausalLM

from duplexsim.models import attention
from duplexsim.models.model import load_model, save_model


def _qkv(length: int, heads: int = 3, dim: int = 8, seed: int = 0) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(2, heads, length, dim, generator=g, dtype=torch.float64)
            .requires_grad_() for _ in range(3)]


@pytest.mark.parametrize(("length", "block"), [(1, 4), (7, 4), (16, 4), (19, 8), (5, 128)])
def test_blocked_causal_equals_sdpa_with_gradients(length: int, block: int) -> None:
    q, k, v = _qkv(length)
    out = attention.blocked_causal(q, k, v, 0.3, block=block)
    grads = torch.autograd.grad(out.pow(2).sum(), (q, k, v))
    ref = F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=0.3)
    ref_grads = torch.autograd.grad(ref.pow(2).sum(), (q, k, v))
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-10)
    for g, r in zip(grads, ref_grads, strict=True):
        torch.testing.assert_close(g, r, rtol=0, atol=1e-10)


def _llama(kv_heads: int) -> LlamaForCausalLM:
    torch.manual_seed(0)
    return LlamaForCausalLM(LlamaConfig(
        vocab_size=50, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=kv_heads, intermediate_size=64, max_position_embeddings=256,
        attn_implementation="sdpa")).eval()


def _last_with_cache(model: LlamaForCausalLM, ids: torch.Tensor) -> torch.Tensor:
    """Logits of the last token, fed alone after a cached prefill of the others."""
    cache = DynamicCache(config=model.config)
    model(input_ids=ids[:, :-1], cache=cache, use_cache=True)
    return model(input_ids=ids[:, -1:], cache=cache, use_cache=True).logits


@pytest.mark.parametrize("kv_heads", [4, 2])
def test_hf_model_gives_sdpa_logits_and_falls_back_where_not_plain(kv_heads: int,
                                                                   monkeypatch) -> None:
    model = _llama(kv_heads)
    ids = torch.randint(0, 50, (3, 150), generator=torch.Generator().manual_seed(1))
    mask = torch.ones_like(ids)
    mask[0, :20] = 0  # left padding: a real mask, which the blocked path must not take
    with torch.no_grad():
        ref = model(input_ids=ids).logits
        ref_masked = model(input_ids=ids, attention_mask=mask).logits
        ref_cached = _last_with_cache(model, ids)
    calls: list[int] = []
    blocked = attention.blocked_causal
    monkeypatch.setattr(attention, "blocked_causal",
                        lambda *a, **kw: calls.append(a[0].shape[-2]) or blocked(*a, **kw))
    model.set_attn_implementation(attention.NAME)
    with torch.no_grad():
        torch.testing.assert_close(model(input_ids=ids).logits, ref, rtol=0, atol=1e-5)
        assert calls == [150, 150]  # both layers took the blocked path
        calls.clear()
        torch.testing.assert_close(model(input_ids=ids, attention_mask=mask).logits,
                                   ref_masked, rtol=0, atol=1e-5)
        torch.testing.assert_close(_last_with_cache(model, ids), ref_cached, rtol=0, atol=1e-5)
    assert calls == [149, 149]  # the cache's prefill only; the masked and one-query runs: sdpa


def test_saved_model_does_not_name_the_training_attention(tmp_path) -> None:
    model = _llama(4)
    model.set_attn_implementation(attention.NAME)
    save_model(model, tmp_path / "m")
    assert "duplexsim" not in json.dumps(json.loads((tmp_path / "m/config.json").read_text()))
    assert load_model(tmp_path / "m").config._attn_implementation == "sdpa"
