"""paretonormal jitter against Linux netem's (iproute2 paretonormal.c + sch_netem.c tabledist)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special, stats

from duplexsim.config.link import LinkConfig
from duplexsim.config.link_presets import resolve_link
from duplexsim.config.netem import netem_paretonormal_table
from duplexsim.sim.delay import DelayModel

N = 20000
BASE_MS, JITTER_MS = 200.0, 10.0


def netem_table_closed_form() -> np.ndarray:
    """paretonormal.dist from the formula, written independently of the library's loop:
    entry k = (rint(8192 * N((4k + 0.5) / 16384)) + 3 * min(rint(8192 * 4/3 * ((1 - k/4096)
    ^(-1/3) - 1.5)), 32767)) / 4 in C int arithmetic, N the normal quantile."""
    k = np.arange(4096)
    normal = np.rint(8192 * special.ndtri((4 * k + 0.5) / 16384))
    pareto = np.rint(np.minimum(8192 * 4 / 3 * ((1 - k / 4096) ** (-1 / 3) - 1.5), 32767))
    return np.fix((normal + 3 * pareto) / 4) / 8192


def netem_delays(n: int, mu: float, sigma: float, seed: int) -> np.ndarray:
    """sch_netem.c tabledist: mu + sigma * table[rnd % size] / NETEM_DIST_SCALE."""
    table = netem_table_closed_form()
    return mu + sigma * table[np.random.default_rng(seed).integers(0, len(table), n)]


def our_delays(n: int, seed: int = 1) -> np.ndarray:
    link = resolve_link("ideal", LinkConfig(delay_ms=BASE_MS, jitter_ms=JITTER_MS,
                                            jitter_dist="paretonormal"))
    model = DelayModel(link, np.random.default_rng(seed))
    return np.array([model.delay_ms(0.0) for _ in range(n)])


def test_table_is_netems() -> None:
    ours, theirs = netem_paretonormal_table(), netem_table_closed_form()
    assert ours.shape == (4096,) and (np.diff(ours) >= 0).all()
    # the C loop's normal table sits within one 1/8192 step of the closed-form quantile
    assert np.abs(ours - theirs).max() <= 1 / 8192 + 1e-12
    assert (ours != theirs).mean() < 0.1
    assert ours.mean() == pytest.approx(-0.0253, abs=1e-4)
    assert ours.std() == pytest.approx(0.8339, abs=1e-4)


def test_paretonormal_delays_match_netem() -> None:
    table = netem_table_closed_form()
    # netem with sigma J' and mu D' gives mean D' + J' mean(t) and sd J' sd(t): pick them
    # so that they are our delay_ms and jitter_ms (our jitter_ms is the sd)
    sigma = JITTER_MS / table.std()
    mu = BASE_MS - sigma * table.mean()
    x, y = our_delays(N), netem_delays(N, mu, sigma, seed=2)
    assert x.mean() == pytest.approx(BASE_MS, abs=3 * JITTER_MS / np.sqrt(N))
    assert x.std() == pytest.approx(JITTER_MS, rel=0.03)
    for q in (0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99):  # within netem's quantiles at q +- 3 se
        se = np.sqrt(q * (1 - q) / N)
        low, high = mu + sigma * np.quantile(table, [q - 3 * se, q + 3 * se])
        assert low - 0.01 <= np.quantile(x, q) <= high + 0.01, q
    assert stats.ks_2samp(x, y).pvalue > 0.01
    # bounded like netem's table: -1.77 .. +4.68 sd
    assert x.min() >= BASE_MS - 1.78 * JITTER_MS and x.max() <= BASE_MS + 4.69 * JITTER_MS
    # the KS test can fail: the mix this module used before (0.25 N + 0.75 standardised
    # Pareto, unclipped, rescaled to sd 1) is told apart
    z = np.random.default_rng(3).standard_normal(N)
    before = 0.25 * z + 0.75 * ((special.ndtr(-z) ** (-1 / 3) - 1.5) / np.sqrt(0.75))
    before = (before - before.mean()) / before.std()
    assert stats.ks_2samp(x, BASE_MS + JITTER_MS * before).pvalue < 1e-6
