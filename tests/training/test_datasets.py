"""Stage data: what the card says a sample holds is what it holds."""

from __future__ import annotations

import numpy as np
import pytest

from duplexsim.training.datasets import _truncated_normal


@pytest.mark.parametrize(("mean", "sd"), [(0.2, 0.2), (0.9, 0.2), (0.5, 0.05), (0.05, 0.3)])
def test_the_stage1_speech_share_has_the_cards_mean(mean: float, sd: float) -> None:
    """The card's speech_share_start/end are the mean share of a sample: truncating
    N(0.2, 0.2) to [0, 1] as it is gave 0.258, N(0.9, 0.2) 0.798."""
    rng = np.random.default_rng(0)
    draws = np.array([_truncated_normal(rng, mean, sd) for _ in range(8_000)])
    assert draws.mean() == pytest.approx(mean, abs=0.006)
    assert draws.min() >= 0.0 and draws.max() <= 1.0
    again = np.random.default_rng(0)
    assert _truncated_normal(again, mean, sd) == draws[0]  # one uniform a draw, reproducible
