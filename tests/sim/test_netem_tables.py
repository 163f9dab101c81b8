"""netem's own tables: normal, pareto and paretonormal as iproute2 builds them.

Our tables are compared entry for entry with the system's iproute2 ``.dist`` files when
they are installed (``/usr/lib/tc``, ``/usr/lib/x86_64-linux-gnu/tc``, ...), and with the
closed forms of ``netem/{normal,pareto,paretonormal}.c`` always. Our delay draws for
``tc qdisc ... netem delay D J distribution X`` (:func:`link_from_netem`) are compared with
netem's own draws, ``D + J t`` for a uniformly drawn table entry ``t`` (``tabledist`` in
``sch_netem.c``): Kolmogorov-Smirnov distance < 0.01.
"""

from __future__ import annotations

import glob
from pathlib import Path

import numpy as np
import pytest
from scipy import special, stats

from duplexsim.config.link_presets import resolve_link
from duplexsim.config.netem import NETEM_TABLES
from duplexsim.errors import InputError
from duplexsim.sim.delay import DelayModel, link_from_netem

NAMES = ("normal", "pareto", "paretonormal")
N = 60_000  # draws per distribution; KS distance of a correct one: ~0.0035, p99.9 ~0.008
D_MS, J_MS = 100.0, 20.0


def system_dist(name: str) -> np.ndarray | None:
    """iproute2's installed ``name.dist`` as sigma units, or None when it is not installed."""
    found = sorted(glob.glob(f"/usr/lib*/tc/{name}.dist") + glob.glob(
        f"/usr/lib/*/tc/{name}.dist") + glob.glob(f"/usr/share/tc/{name}.dist"))
    if not found:
        return None
    values = [int(v) for line in Path(found[0]).read_text().splitlines()
              if not line.lstrip().startswith("#") for v in line.split()]
    return np.asarray(values, dtype=float) / 8192


def closed_form(name: str) -> np.ndarray:
    """The tables from the formulas of iproute2's generators, written independently of the
    library's loops: the normal quantile where the C sweep's last ``x`` lands (grid entry
    ``i = 4k`` holds the largest ``x`` with ``16384 Phi(x) < i + 0.5``) instead of the sweep."""
    k = np.arange(4096)
    normal = np.rint(8192 * special.ndtri((4 * k + 0.5) / 16384))
    pareto = np.rint(np.minimum(8192 * 4 / 3 * ((1 - k / 4096) ** (-1 / 3) - 1.5), 32767))
    table = {"normal": np.clip(normal, -32768, 32767), "pareto": pareto,
             "paretonormal": np.fix((normal + 3 * pareto) / 4)}[name]
    return table / 8192


@pytest.mark.parametrize("name", NAMES)
def test_tables_are_iproute2s(name: str) -> None:
    ours = NETEM_TABLES[name]()
    assert ours.shape == (4096,) and (np.diff(ours) >= 0).all()
    # the C sweep sits within one 1/8192 step of the closed-form quantile
    assert np.abs(ours - closed_form(name)).max() <= 1 / 8192 + 1e-12
    installed = system_dist(name)
    if installed is None:
        pytest.skip(f"iproute2's {name}.dist is not installed here")
    np.testing.assert_array_equal(ours, installed)


def our_delays(name: str | None, seed: int = 1) -> np.ndarray:
    model = DelayModel(resolve_link("ideal", link_from_netem(D_MS, J_MS, name)),
                       np.random.default_rng(seed))
    return np.array([model.draw_ms() for _ in range(N)])


@pytest.mark.parametrize("name", NAMES)
def test_draws_follow_netems_table(name: str) -> None:
    table = system_dist(name)
    table = NETEM_TABLES[name]() if table is None else table
    netem = D_MS + J_MS * table  # every entry equally likely: netem's delay distribution
    ours = our_delays(name)
    distance = stats.ks_2samp(ours, netem).statistic
    print(f"{name}: KS distance {distance:.4f} against iproute2's table ({N} draws)")
    assert distance < 0.01
    assert ours.min() >= netem.min() - 1e-9 and ours.max() <= netem.max() + 1e-9


def test_analytic_pareto_is_not_netems() -> None:
    """The comparison can fail: the analytic Pareto (unclipped, its own shape after
    standardising) with netem's mean and sd is told apart from netem's table."""
    link = link_from_netem(D_MS, J_MS, "pareto")
    analytic = DelayModel(resolve_link("ideal", link.__class__(
        delay_ms=link.delay_ms, jitter_ms=link.jitter_ms, jitter_dist="pareto-analytic")),
        np.random.default_rng(1))
    draws = np.array([analytic.draw_ms() for _ in range(N)])
    netem = D_MS + J_MS * NETEM_TABLES["pareto"]()
    distance = stats.ks_2samp(draws, netem).statistic
    print(f"pareto-analytic: KS distance {distance:.4f} against iproute2's pareto table")
    assert distance > 0.02


def test_no_distribution_is_netems_uniform() -> None:
    ours = our_delays(None)
    netem = np.random.default_rng(2).uniform(D_MS - J_MS, D_MS + J_MS, N)
    assert stats.ks_2samp(ours, netem).statistic < 0.01


@pytest.mark.parametrize("name", [None, "normal", "pareto", "paretonormal"])
def test_netem_links_reorder_as_netem_does(name: str | None) -> None:
    """netem's queue is sorted by send time + delay: with jitter it reorders (fifo would
    hold a packet behind a slower one sent before it and change the delays)."""
    assert link_from_netem(D_MS, J_MS, name).ordering == "reorder"


@pytest.mark.parametrize(("delay", "name"), [(1.0, "pareto"), (0.4, "paretonormal"),
                                             (0.01, "normal")])
def test_a_netem_delay_below_the_tables_mean_is_one_clear_error(delay: float, name: str,
                                                                ) -> None:
    """``netem delay 1ms 50ms distribution pareto`` (D < 0.0335 J) gave a base delay_ms of
    -0.67: a FieldError "delay_ms: -0.67... is negative" about a key the caller never gave.
    It names netem's delay and the bound instead; D at the bound still maps."""
    with pytest.raises(InputError) as info:
        link_from_netem(delay, 50.0, name)
    (problem,) = info.value.problems
    assert problem.file == "delay" and "mean delay below 0" in problem.message
    assert problem.allowed is not None and problem.allowed.startswith("D >= 0.0")
    bound = -50.0 * float(NETEM_TABLES[name]().mean())
    assert link_from_netem(bound + 1e-9, 50.0, name).delay_ms == pytest.approx(0.0, abs=1e-6)
