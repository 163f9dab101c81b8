"""experiments/continuation.py's bootstrap CIs resample prompts, not continuations."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "experiments"))
from continuation import COMPARED, Scored, bootstrap_cis  # noqa: E402


def _dialogues(n: int, seed: int = 0) -> list[Scored]:
    """``n`` random two-channel conversations of 60 s with their own talkativeness."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        p = rng.uniform(0.05, 0.5)
        vad = np.repeat(rng.random((2, 150)) < p, 10, axis=1)  # 400 ms runs, 1500 frames
        out.append(Scored.of(vad))
    return out


def test_continuations_of_one_prompt_are_drawn_together():
    """Three continuations of each prompt (seeds or chunk sizes) that say the same thing:
    the CI must be that of one continuation per prompt. Drawn one by one (as before) the
    triplicates looked like 3x the evidence and the CI shrank."""
    unique = _dialogues(12)
    tripled = [d for d in unique for _ in range(3)]
    prompts = [f"p{i}" for i in range(12) for _ in range(3)]
    clustered = bootstrap_cis(tripled, n_boot=300, prompts=prompts)
    once = bootstrap_cis(unique, n_boot=300)
    assert clustered.keys() == once.keys()
    for key, ci in clustered.items():
        np.testing.assert_allclose(ci, once[key], rtol=1e-12)
    naive = bootstrap_cis(tripled, n_boot=300)
    width = {k: (hi - lo) for k, (lo, hi) in clustered.items()}
    assert width["overlap_share"] > 1.3 * (naive["overlap_share"][1] - naive["overlap_share"][0])
    assert set(clustered) == set(COMPARED)


def test_prompt_labels_must_match_the_dialogues():
    with pytest.raises(ValueError, match="2 prompt labels for 3 dialogues"):
        bootstrap_cis(_dialogues(3), n_boot=10, prompts=["a", "b"])
