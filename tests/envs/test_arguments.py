"""The arguments both envs share (:mod:`duplexsim.envs.arguments`): a bad ``action_mode``,
``window`` or learner ``model`` is one line naming the argument and what is allowed."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import duplexsim  # noqa: F401  (registers the envs)
from duplexsim.envs.parallel import DuplexParallelEnv
from duplexsim.envs.registration import TURN_TAKING_ID


def test_bad_arguments_are_one_line_naming_the_argument() -> None:
    with pytest.raises(ValueError, match="action_mode"):
        gym.make(TURN_TAKING_ID, action_mode="words")
    with pytest.raises(ValueError, match="window: True"):
        gym.make(TURN_TAKING_ID, window=True)
    with pytest.raises(ValueError, match="window: 1000000000000 .*allowed: an int from 1 to"):
        gym.make(TURN_TAKING_ID, window=10**12)  # was a MemoryError (terabytes) at reset
    with pytest.raises(TypeError, match=r"^model: got int \(allowed: None, an agent directory "):
        gym.make(TURN_TAKING_ID, model=5)  # was "5: not a trained agent (agent.json missing)"
    with pytest.raises(TypeError, match=r"^models\['A'\]: got list \(allowed: None, an agent "):
        DuplexParallelEnv(models={"A": ["dir"]})


@pytest.mark.parametrize("options", [5, "seed", ["seed"]])
def test_reset_options_that_are_no_dict_are_one_line(options: object) -> None:
    """``reset(options=5)`` failed as "'int' object is not iterable", and a str's letters
    were read as its keys ("unknown key 's'"); the vector and parallel envs alike."""
    match = r"^options: got (int|str|list) \(allowed: None or a dict\)$"
    env = gym.make(TURN_TAKING_ID)
    vec = gym.make_vec(TURN_TAKING_ID, num_envs=2, vectorization_mode="vector_entry_point")
    for reset in (env.reset, vec.reset, DuplexParallelEnv().reset):
        with pytest.raises(TypeError, match=match):
            reset(seed=0, options=options)  # type: ignore[operator]
    first, _ = env.reset(seed=0, options={})
    assert np.array_equal(first["own_units"], env.reset(seed=0, options=None)[0]["own_units"])
    env.close()
    vec.close()
