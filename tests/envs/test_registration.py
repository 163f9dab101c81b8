"""Importing duplexsim registers TurnTaking-v0 with the default scenario's time limit."""

from __future__ import annotations

import gymnasium as gym

import duplexsim  # noqa: F401
from duplexsim.envs.registration import DEFAULT_MAX_EPISODE_STEPS, TURN_TAKING_ID, register_envs
from duplexsim.envs.world import default_scenario


def test_registered_with_default_time_limit() -> None:
    spec = gym.spec(TURN_TAKING_ID)
    assert spec.max_episode_steps == DEFAULT_MAX_EPISODE_STEPS == default_scenario().n_chunks
    assert spec.entry_point == "duplexsim.envs.turntaking:TurnTakingEnv"
    register_envs()  # idempotent
    assert gym.spec(TURN_TAKING_ID) is spec
