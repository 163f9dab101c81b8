"""Environments: the learner takes one side (Gymnasium) or both sides (PettingZoo).

Owns ``duplexsim/TurnTaking-v0`` (:class:`~duplexsim.envs.turntaking.TurnTakingEnv`),
:class:`~duplexsim.envs.parallel.DuplexParallelEnv`, their actions, observations and
rewards. Drives the simulator only through ``duplexsim.sim.Session``; must not touch the
simulator's internals, models or metrics definitions. Importing this package is light;
the env classes import on first use.
"""

from __future__ import annotations

from typing import Any

__all__ = ["DuplexParallelEnv", "RewardConfig", "TurnAction", "TurnTakingEnv"]


def __getattr__(name: str) -> Any:
    if name == "TurnTakingEnv":
        from duplexsim.envs.turntaking import TurnTakingEnv

        return TurnTakingEnv
    if name == "DuplexParallelEnv":
        from duplexsim.envs.parallel import DuplexParallelEnv

        return DuplexParallelEnv
    if name == "RewardConfig":
        from duplexsim.config.reward import RewardConfig

        return RewardConfig
    if name == "TurnAction":
        from duplexsim.envs.actions import TurnAction

        return TurnAction
    raise AttributeError(f"module 'duplexsim.envs' has no attribute {name!r}")
