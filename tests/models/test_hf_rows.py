"""The HF fallback forward is imported only when a model needs it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]


def test_replay_simulations_and_envs_never_load_transformers(tmp_path: Path) -> None:
    """``transformers``' modelling code costs 2 s of start-up and 170k objects that every
    full garbage collection walks: a replay simulation, the env and its vector env with a
    replay partner run without it (before, ``duplexsim simulate`` of a replay scenario took
    4.5 s here, 2.2 s now)."""
    code = f"""
import sys
import gymnasium as gym
import numpy as np
from duplexsim.cli import main
from duplexsim.envs.registration import TURN_TAKING_ID
assert main(["simulate", "scenarios/replay-lan.toml", "--out", {str(tmp_path / "sim")!r},
             "--duration-s", "2", "--quiet"]) == 0
env = gym.make_vec(TURN_TAKING_ID, num_envs=2, vectorization_mode="vector_entry_point")
env.reset(seed=0)
env.step(np.array([1, 2]))
loaded = sorted(m for m in sys.modules if m.split(".")[0] == "transformers")
assert not loaded, loaded[:5]
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]


def test_the_hf_backend_loads_it_and_matches_the_lean_one() -> None:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from duplexsim.models.rows import LMRows

    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=40, hidden_size=32, intermediate_size=64,
                                         num_hidden_layers=2, num_attention_heads=4,
                                         num_key_value_heads=2, max_position_embeddings=64))
    logits = []
    for backend in ("hf", "lean"):
        lm = LMRows(model, n_units=30, max_tokens=32, rows=2, backend=backend)
        assert lm.backend == backend
        rows = [lm.add_row(), lm.add_row()]
        lm.append(rows[0], [1, 2, 3, 4])
        lm.append(rows[1], [5, 6])
        logits.append(lm.logits(rows))
    assert torch.allclose(logits[0], logits[1], atol=1e-5)


ROPE_SCALING = {
    "dynamic": {"rope_type": "dynamic", "factor": 4.0},
    "longrope": {"rope_type": "longrope", "short_factor": [1.0] * 8, "long_factor": [4.0] * 8,
                 "factor": 4.0, "original_max_position_embeddings": 64},
}


def _random_llama(rope: str | None, max_positions: int, attention: str):  # noqa: ANN202
    """A 2-layer Llama (vocabulary 61) with N(0, 0.3) weights, seed 0, RoPE ``rope``."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=61, hidden_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=4, intermediate_size=96,
                         max_position_embeddings=max_positions,
                         rope_scaling=ROPE_SCALING.get(rope or ""),
                         attn_implementation=attention)
    model = LlamaForCausalLM(config).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.3)
    return model


@pytest.mark.parametrize(("attention", "rope"), [("eager", None), ("sdpa", "dynamic"),
                                                 ("sdpa", "longrope"), ("eager", "dynamic")])
def test_the_hf_backend_gives_each_row_what_hf_gives_it_alone(attention: str,
                                                              rope: str | None) -> None:
    """Two rows of different lengths in one padded forward, against HF's own forward of each
    row alone. Eager attention added the boolean mask to the scores, masking nothing (max
    diff 0.07); pads sat at position max_tokens, and dynamic / longrope RoPE take their
    frequencies from the batch's largest position id (diff 0.003, longrope 0.57)."""
    import torch

    from duplexsim.models.rows import LMRows

    model = _random_llama(rope, 256 if rope == "longrope" else 64, attention)
    g = torch.Generator().manual_seed(0)
    tokens = [torch.randint(0, 61, (n,), generator=g).tolist() for n in (10, 20)]
    lm = LMRows(model, 50, max_tokens=64, rows=2, backend="hf")
    rows = [lm.add_row(), lm.add_row()]
    for row, ids in zip(rows, tokens, strict=True):
        lm.append(row, ids)
    out = lm.logits(rows)
    for i, ids in enumerate(tokens):
        with torch.no_grad():
            alone = model(input_ids=torch.tensor([ids])).logits[0, -1]
        torch.testing.assert_close(out[i], alone, atol=2e-5, rtol=0)


def test_the_hf_backend_refuses_an_attention_that_ignores_its_mask() -> None:
    """Flash and flex attention build their own masks from HF's inputs: the row cache's
    4-D mask (which also hides other rows' pads) would go unread."""
    from transformers import LlamaConfig, LlamaForCausalLM

    from duplexsim.models.rows import LMRows

    config = LlamaConfig(vocab_size=61, hidden_size=64, num_hidden_layers=1,
                         num_attention_heads=4, num_key_value_heads=4, intermediate_size=96)
    model = LlamaForCausalLM(config).eval()
    model.config._attn_implementation = "flex_attention"
    with pytest.raises(ValueError, match="attn_implementation 'flex_attention' .allowed: sdpa"):
        LMRows(model, 50, max_tokens=64, rows=2, backend="hf")


def test_a_longrope_row_is_not_rescaled_by_a_longer_row_beside_it() -> None:
    """Longrope takes its long factors once the largest position id of the call passes its
    original length: a 10-token row beside a 100-token one (original length 64) got the
    long factors too (max diff 0.57 against HF alone, also at the next decode step)."""
    import torch

    from duplexsim.models.rows import LMRows

    model = _random_llama("longrope", 256, "sdpa")
    g = torch.Generator().manual_seed(0)
    tokens = [torch.randint(0, 61, (n,), generator=g).tolist() for n in (10, 100)]
    lm = LMRows(model, 50, max_tokens=128, rows=2, backend="hf")
    rows = [lm.add_row(), lm.add_row()]
    for _ in range(2):  # a prefill of both, then a decode step of both
        for row, ids in zip(rows, tokens, strict=True):
            lm.append(row, ids[len(lm.tokens[row]):])
        out = lm.logits(rows)
        for i, ids in enumerate(tokens):
            with torch.no_grad():
                alone = model(input_ids=torch.tensor([ids])).logits[0, -1]
            torch.testing.assert_close(out[i], alone, atol=2e-5, rtol=0)
        tokens = [ids + [3] for ids in tokens]
