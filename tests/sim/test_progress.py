"""The progress bar steps the world chunk by chunk; the trace must not change."""

from __future__ import annotations

import numpy as np

from duplexsim.config import load_scenario
from duplexsim.sim import run


def test_progress_bar_does_not_change_the_trace():
    scenario = load_scenario("scenarios/scripted-mobile-lte.toml")
    with_bar = run(scenario, progress=True)
    without = run(scenario, progress=False)
    assert np.array_equal(with_bar.units, without.units)
    assert with_bar.network.equals(without.network)
    assert with_bar.decisions.equals(without.decisions)
