"""The HF fallback forward is imported only when a model needs it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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
