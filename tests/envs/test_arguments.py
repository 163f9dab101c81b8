"""The arguments both envs share (:mod:`duplexsim.envs.arguments`): a bad ``action_mode``,
``window`` or learner ``model`` is one line naming the argument and what is allowed."""

from __future__ import annotations

import gymnasium as gym
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
