"""Scripted partners: their units are a function of the seed and the frame."""

from __future__ import annotations

import numpy as np
import pytest

from duplexsim.agents.scripted import POLICIES, ScriptedAgent


@pytest.mark.parametrize("policy", sorted(POLICIES))
def test_the_shared_prefix_of_two_scenario_lengths_plays_the_same_units(policy: str) -> None:
    """Same seed, 20 s and 40 s: the first 20 s are the same units. One random stream drew
    the units after the policy's draws for the whole scenario (random-talker: 337 of the
    first 400 frames differed, fixed-turns 127)."""
    short, long = ScriptedAgent(policy, 4, 100), ScriptedAgent(policy, 4, 200)
    for seed in (0, 3):
        short.reset(seed)
        long.reset(seed)
        assert np.array_equal(short.units, long.units[:400])
        chunks = [short.produce(j).units for j in range(100)]
        assert np.array_equal(np.concatenate(chunks), long.units[:400])
