"""Pearson r across prompts (pearson_rows); its replicated, bootstrapped use is tested
through metrics.protocol's correlations in test_protocol_correlations.py and
test_protocol_runs.py."""

from __future__ import annotations

import numpy as np
import pytest

from duplexsim.metrics import protocol
from duplexsim.metrics.correlation import pearson_rows


def test_pearson_rows_uses_the_finite_pairs_of_each_row():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(3, 20)), rng.normal(size=(3, 20))
    x[1, :4], y[2, 5] = np.nan, np.nan
    r = pearson_rows(x, y)
    for i in range(3):
        ok = np.isfinite(x[i]) & np.isfinite(y[i])
        assert r[i] == pytest.approx(np.corrcoef(x[i, ok], y[i, ok])[0, 1], abs=1e-12)
    assert np.isnan(pearson_rows(np.ones((1, 5)), np.arange(5.0)[None]))[0]  # no spread
    assert np.isnan(pearson_rows([[0.1] * 3], [[0.3, 0.1, 0.7]]))[0]  # was 2e-16 (audit)
    assert np.isnan(pearson_rows([[1.0, 2.0, np.nan]], [[1.0, 2.0, 3.0]]))[0]  # < 3 pairs


def test_a_bootstrap_draw_of_two_distinct_prompts_has_no_r():
    """Draws repeat prompts: three of them with only two distinct prompts gave r = +-1 (67 %
    of the draws over 3 prompts), so CIs over few prompts went to the edges (an audit)."""
    assert np.isnan(pearson_rows([[1.0, 1.0, 2.0]], [[3.0, 3.0, 5.0]]))[0]
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=3), rng.normal(size=3)
    idx = rng.integers(3, size=(2000, 3))  # resampled prompts, pairs kept together
    r = pearson_rows(x[idx], y[idx])
    assert np.isfinite(r).any() and not (np.abs(r[np.isfinite(r)]) > 1 - 1e-9).any()


def test_pearson_rows_is_nan_when_the_reference_side_has_no_spread() -> None:
    """r is undefined when either side is constant: a reference of 0.1 in all 7 prompts
    leaves a spread of 1e-33 after rounding, and r came out of that noise (a mutation
    checking only the generated side's spread passed every test)."""
    gen = np.arange(1.0, 8.0)[None]
    for c in (0.1, 0.7, 1.1):
        assert np.isnan(pearson_rows(gen, np.full((1, 7), c)))[0]
        assert np.isnan(pearson_rows(np.full((1, 7), c), gen))[0]


def test_pearson_rows_is_still_importable_from_protocol() -> None:
    """It moved out of ``metrics.protocol``; code importing it from there gets it."""
    assert protocol.pearson_rows is pearson_rows and "pearson_rows" in protocol.__all__
