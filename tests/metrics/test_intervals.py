"""The one place 95% intervals are computed: known values, finite values only."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from duplexsim.metrics.intervals import (
    MIN_BOOT_UNITS,
    percentile_interval,
    percentile_intervals,
    t_interval,
)


def test_t_interval_known_values() -> None:
    mean, half, n = t_interval(np.array([1.0, 2.0, 3.0, np.nan]))
    # t(0.975, 2) = 4.3027, sd = 1
    assert (mean, n) == (2.0, 3) and half == pytest.approx(4.3027 / np.sqrt(3), rel=1e-4)
    assert np.isnan(t_interval([5.0])[1]) and t_interval([5.0])[2] == 1
    assert t_interval([np.inf, np.nan])[2] == 0  # nothing finite: no mean, no interval
    assert np.isnan(t_interval([])[0])


def test_t_interval_covers_the_mean_at_its_level() -> None:
    rng = np.random.default_rng(0)
    covered = 0
    for _ in range(2000):
        mean, half, _ = t_interval(rng.normal(3.0, 2.0, 8))
        covered += abs(mean - 3.0) <= half
    assert 0.93 < covered / 2000 < 0.97


def test_percentile_interval_of_finite_draws() -> None:
    draws = np.arange(1001, dtype=float)  # many units: the 2.5th and 97.5th percentiles
    assert percentile_interval(draws, 10**9) == pytest.approx((25.0, 975.0), abs=1e-3)
    with_gaps = np.concatenate([draws, [np.nan, np.inf, -np.inf]])
    assert percentile_interval(with_gaps, 20) == percentile_interval(draws, 20)
    assert percentile_interval(pd.Series(draws), 20) == percentile_interval(draws, 20)
    assert percentile_interval([1.5, 1.5], 20) == (1.5, 1.5)
    lo, hi = percentile_interval([np.nan, np.inf], 20)
    assert np.isnan(lo) and np.isnan(hi)
    assert all(isinstance(x, float) for x in percentile_interval(draws, 20))


def test_percentile_intervals_per_column_match_the_single_one() -> None:
    rng = np.random.default_rng(1)
    draws = rng.normal(size=(500, 3))
    draws[::7, 1] = np.nan
    draws[::11, 1] = np.inf
    draws[:, 2] = np.nan  # a statistic no resample had
    for n in (5, 12, 400):
        lo, hi = percentile_intervals(draws, n)
        for k in range(2):
            assert (lo[k], hi[k]) == pytest.approx(percentile_interval(draws[:, k], n))
        assert np.isnan(lo[2]) and np.isnan(hi[2])
    with pytest.raises(ValueError, match=r"\[n_draws, k\]"):
        percentile_intervals(draws[:, 0], 5)


def test_percentile_interval_widens_for_few_units() -> None:
    draws = np.random.default_rng(0).normal(size=20_000)
    plain = np.percentile(draws, (2.5, 97.5))
    assert np.isnan(percentile_interval(draws, 1)).all()
    five, many = percentile_interval(draws, 5), percentile_interval(draws, 10**6)
    assert five[0] < plain[0] - 0.3 and five[1] > plain[1] + 0.3  # t_4 and sqrt(5/4): +-2.5
    assert np.allclose(many, plain, atol=0.02)  # many units: the plain percentile interval


def test_percentile_intervals_over_one_resampled_unit_are_nan() -> None:
    """Every resample of one conversation (prompt, dialogue) is that conversation: its draws
    are all one value and the interval came out [x, x], a CI of zero width claiming the
    statistic exactly. Under 2 units (and under MIN_BOOT_UNITS) it is NaN."""
    same = np.full(200, 0.3)
    assert percentile_interval(same, 5) == (0.3, 0.3)
    assert all(np.isnan(percentile_interval(same, n=1)))
    assert all(np.isnan(percentile_interval(same, n=0)))
    lo, hi = percentile_intervals(np.full((200, 3), 0.3), n=1)
    assert np.isnan(lo).all() and np.isnan(hi).all()
    lo, hi = percentile_intervals(np.zeros((0, 3)), 5)  # no draws: NaN, not an unpacking error
    assert lo.shape == (3,) and np.isnan(lo).all() and np.isnan(hi).all()


def test_percentile_interval_tails_match_hesterberg_by_hand() -> None:
    """Over n = 5 units: alpha'/2 = Phi(-sqrt(5/4) * t_{4, 0.975}) = Phi(-sqrt(1.25) *
    2.776445) = Phi(-3.10416) = 0.000954 (tables). Draws spread evenly over [0, 1] have
    their q-th percentile at q / 100, so the interval is (0.000954, 0.999046). The width
    test above passed mutations using sqrt((n - 1) / n) (0.0065) or t with n degrees of
    freedom (0.0020)."""
    draws = np.linspace(0.0, 1.0, 1_000_001)
    for lo, hi in (percentile_interval(draws, 5),
                   tuple(x[0] for x in percentile_intervals(draws[:, None], 5))):
        assert lo == pytest.approx(0.000954, rel=2e-3)
        assert hi == pytest.approx(1 - 0.000954, rel=1e-5)


def test_bootstrap_intervals_cover_a_known_truth_over_few_units() -> None:
    """Bootstrap intervals over 5-10 units of a known distribution (fixed seed): a mean, a
    median and a Pearson r (rho 0.5) of normal data, each covered by at least 88 % of 300
    intervals (the plain 2.5-97.5 percentile interval, which every report but the effects
    tables used: a mean over 5 units 83 %, r over 5 units 85 %; the expanded one 89-98 %)."""
    from duplexsim.metrics.correlation import pearson_rows

    rng = np.random.default_rng(0)
    stats = {"mean": (lambda x, i: x[i].mean(axis=1), lambda n: rng.normal(0, 1, n), 0.0),
             "median": (lambda x, i: np.median(x[i], axis=1), lambda n: rng.normal(0, 1, n),
                        0.0),
             "r": (lambda x, i: pearson_rows(x[i, 0], x[i, 1]),
                   lambda n: rng.multivariate_normal([0, 0], [[1, 0.5], [0.5, 1]], n), 0.5)}
    for n in (5, 8):
        for name, (stat, draw, truth) in stats.items():
            hits = 0
            for _ in range(300):
                x = draw(n)
                lo, hi = percentile_interval(stat(x, rng.integers(0, n, (1000, n))), n)
                hits += lo <= truth <= hi
            assert hits / 300 >= 0.88, (name, n, hits / 300)


def test_bootstrap_intervals_over_fewer_than_five_units_are_nan() -> None:
    """Resamples of 2-4 units never leave their range: the interval they gave was
    misleadingly narrow (73 % coverage of a nominal 95 % over 3 seeds), so every bootstrap
    interval has none below MIN_BOOT_UNITS."""
    draws = np.random.default_rng(0).normal(size=(2000, 2))
    for n in (2, 3, 4):
        assert all(np.isnan(percentile_interval(draws[:, 0], n=n)))
        assert np.isnan(np.concatenate(percentile_intervals(draws, n=n))).all()
    assert MIN_BOOT_UNITS == 5
    assert np.isfinite(percentile_interval(draws[:, 0], n=5)).all()
    assert np.isfinite(np.concatenate(percentile_intervals(draws, n=5))).all()


@pytest.mark.parametrize("n", [1.5, 20.0, -1, True, "20"])
def test_a_count_of_units_that_is_not_one_is_an_error(n: object) -> None:
    """``n=1.5`` gave NaN and ``n=20.0`` an interval, silently (both are no count of
    resampled units); a NumPy int is one, and 0 (no units) is NaN as documented."""
    for interval in (percentile_interval, percentile_intervals):
        with pytest.raises(ValueError, match=rf"^n: {n!r} resampled units \(allowed: a whole "
                                             r"number >= 0; below 5 the interval is NaN\)$"):
            interval(np.zeros((10, 1)), n)  # type: ignore[arg-type]
    draws = np.arange(101, dtype=float)
    assert percentile_interval(draws, np.int64(20)) == percentile_interval(draws, 20)
    assert np.isnan(percentile_interval(draws, 0)).all()
