"""Continuation: shape, determinism from the seed, the prompt kept, chunk-size checks."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from syncllm_fixtures import N_UNITS, synthetic_dialogues, train_tiny_agent  # noqa: E402

from duplexsim.models.agentdir import load_agent_files  # noqa: E402
from duplexsim.models.continuation import continue_dialogue  # noqa: E402


def test_continuation(tmp_path) -> None:
    files = load_agent_files(train_tiny_agent(tmp_path / "agent", steps=2))
    prompt = synthetic_dialogues(1)[0].units[:, :101]  # 101 frames: cut to 25 whole chunks
    units = continue_dialogue(files, prompt, seconds=30.0, chunk_ms=160, seed=4)
    assert units.shape == (2, 100 + 187 * 4)  # 30 s = 187 whole 160 ms chunks
    assert np.array_equal(units[:, :100], prompt[:, :100])
    assert units.min() >= 0 and units.max() < N_UNITS
    again = continue_dialogue(files, prompt, seconds=30.0, chunk_ms=160, seed=4)
    other = continue_dialogue(files, prompt, seconds=30.0, chunk_ms=160, seed=5)
    assert np.array_equal(units, again) and not np.array_equal(units, other)
    with pytest.raises(ValueError, match="chunk_ms=240"):
        continue_dialogue(files, prompt, 1.0, chunk_ms=240)
