"""DelayModel parts pinned directly: where a delay spike falls for a given spike phase."""

from __future__ import annotations

import dataclasses

import numpy as np

from duplexsim.config.link import LinkConfig
from duplexsim.config.link_presets import resolve_link
from duplexsim.sim.delay import DelayModel


def _ideal(**keys: object) -> LinkConfig:
    return dataclasses.replace(resolve_link("ideal"), **keys)  # type: ignore[arg-type]


def test_spike_phase_says_where_in_the_period_time_zero_is() -> None:
    """spike_phase 0.25 of a 10 s period: time 0 is 2.5 s into the period, so the next
    spike starts at 7.5 s (and none is on at time 0 or at 2.5 s)."""
    link = _ideal(delay_ms=10.0, spike_period_s=10.0, spike_ms=60.0, spike_duration_ms=300.0)
    model = DelayModel(link, np.random.default_rng(0), spike_phase=0.25)
    assert model.spike_at(0.0) == 0.0 and model.spike_at(2500.0) == 0.0
    assert model.spike_at(7499.0) == 0.0
    assert model.spike_at(7500.0) == 60.0 and model.spike_at(7799.0) == 60.0
    assert model.spike_at(7800.0) == 0.0 and model.spike_at(17500.0) == 60.0
    assert model.delay_ms(7600.0, drawn=10.0) == 70.0
