"""Gymnasium registration of the duplexsim environments (called on ``import duplexsim``).

Owns the env ids and their registered time limits. Imports nothing heavy: entry points
are strings, resolved by ``gymnasium.make``. Must not touch the envs' behaviour.
"""

from __future__ import annotations

import gymnasium as gym

TURN_TAKING_ID = "duplexsim/TurnTaking-v0"
# the embedded default scenario: 30 s of 160 ms chunks (duplexsim.envs.world.default_scenario);
# kept as literals so that importing duplexsim stays light; a test checks they agree
DEFAULT_MAX_EPISODE_STEPS = 188


def register_envs() -> None:
    """Register ``duplexsim/TurnTaking-v0`` (idempotent), with its native vector env
    (``gymnasium.make_vec(..., vectorization_mode="vector_entry_point")``).

    ``max_episode_steps`` is the default scenario's chunk count; pass
    ``gymnasium.make(..., max_episode_steps=scenario.n_chunks)`` with another scenario
    (the env truncates at its scenario's end in any case).
    """
    if TURN_TAKING_ID in gym.registry:
        return
    gym.register(
        id=TURN_TAKING_ID,
        entry_point="duplexsim.envs.turntaking:TurnTakingEnv",
        vector_entry_point="duplexsim.envs.vector:make_vector_env",
        max_episode_steps=DEFAULT_MAX_EPISODE_STEPS,
    )
