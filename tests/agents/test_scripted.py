"""Scripted partners: their units are a function of the seed and the frame, in the partner's
vocabulary (every silence unit of it)."""

from __future__ import annotations

import numpy as np
import pytest

from duplexsim.agents.scripted import POLICIES, ScriptedAgent
from duplexsim.tokens import MAX_N_UNITS


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


def test_speech_is_never_a_silence_unit() -> None:
    """A vocabulary with three silence units: speech draws from the other seven (units 1 and
    2 were speech before)."""
    agent = ScriptedAgent("fixed-turns", 4, 500, n_units=10, silence_units=[0, 1, 2])
    agent.reset(1)
    assert agent.silence_units == frozenset({0, 1, 2})
    talking = agent.units != 0
    assert talking.sum() == 1000 and set(agent.units[talking].tolist()) == set(range(3, 10))
    assert ScriptedAgent("silent", 4, 10, n_units=10, silence_unit=4).silence_units == {4}


@pytest.mark.parametrize(
    ("kw", "error"),
    [
        (
            {"silence_units": [0, 10]},
            r"silence_units: \[10\] not among the n_units=10 units "
            r"\(allowed: 0..9\)",
        ),
        ({"silence_units": range(10)}, r"silence_units: all 10 units are silence"),
    ],
)
def test_bad_silence_units_are_refused(kw: dict, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        ScriptedAgent("fixed-turns", 4, 10, n_units=10, **kw)


@pytest.mark.parametrize("n_units", [1, MAX_N_UNITS + 1, 2**20])
def test_n_units_is_refused_outside_what_the_link_carries(n_units: int) -> None:
    """Unit ids travel as 2-byte frames (and a corpus stores them as int16): a scripted
    side of more than MAX_N_UNITS units spoke ids no frame holds, where every other source
    of a vocabulary (card, agent.json, manifest, tokenizer) is bounded."""
    with pytest.raises(ValueError, match=rf"^n_units={n_units} \(allowed: 2..{MAX_N_UNITS}: "):
        ScriptedAgent("fixed-turns", 4, 10, n_units=n_units)
    assert ScriptedAgent("fixed-turns", 4, 10, n_units=MAX_N_UNITS).n_units == MAX_N_UNITS
