"""The checks of a vector env's arguments and action batches, shared by both vector envs.

Owns the one-line errors of :class:`~duplexsim.envs.vector.TurnTakingVectorEnv` and
:class:`~duplexsim.envs.sharded.ShardedVectorEnv` for a bad ``num_envs``, an Agent object
(or a pool holding one) that several conversations would share, conversations that
cannot be stepped together, and an action batch of the wrong shape. Must not touch the
simulator.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import gymnasium as gym
import numpy as np

from duplexsim.agents.base import Agent
from duplexsim.envs.actions import one_line
from duplexsim.envs.partner_pool import PartnerPool

if TYPE_CHECKING:
    from duplexsim.envs.turntaking import TurnTakingEnv


def check_conversations(envs: Sequence[TurnTakingEnv]) -> None:
    """A ValueError unless the conversations can be stepped together: the same spaces, and
    no measured compute among several (their forwards would share wall time)."""
    for i, env in enumerate(envs):
        if len(envs) > 1 and env.scenario.compute.model == "measured":
            raise ValueError(f"scenario[{i}]: compute.model: 'measured' cannot be "
                             "vectorised (the envs' forwards share wall time) (allowed "
                             "here: none, profile; or num_envs=1)")
        if (env.observation_space, env.action_space) != (envs[0].observation_space,
                                                         envs[0].action_space):
            raise ValueError(f"scenario[{i}]: its spaces differ from scenario[0]'s "
                             "(allowed: scenarios with the same chunk_ms and units)")


MAX_NUM_ENVS = 4096
"""Most conversations one vector env steps (as a sweep's ``batch`` and the env benchmark's
``--n-envs``): past it a typo (``num_envs=10**9``) built conversations until memory ran out."""


def check_num_envs(num_envs: Any) -> int:
    """``num_envs`` as a Python int; a ValueError unless it is a whole number from 1 to
    :data:`MAX_NUM_ENVS` (a NumPy one too, ``np.int64(16)`` from an array of sizes, which was
    refused; not a bool: True was taken as 1)."""
    if isinstance(num_envs, bool) or not (isinstance(num_envs, numbers.Integral)
                                          and 1 <= int(num_envs) <= MAX_NUM_ENVS):
        raise ValueError(f"num_envs: {num_envs!r} (allowed: an int from 1 to {MAX_NUM_ENVS})")
    return int(num_envs)


def check_batch_shape(actions: Any, space: gym.Space, num_envs: int) -> None:
    """A ValueError naming the shape unless ``actions`` holds ``num_envs`` actions of
    ``space``'s shape (a longer batch would be cut and a shorter one fall short)."""
    shape = np.shape(actions)
    if space.shape is None:  # (Box and Discrete spaces have one)
        raise TypeError(f"action space {space}: no shape")
    if shape != (num_envs, *space.shape):
        raise ValueError(f"actions: shape {shape} (allowed: {num_envs} actions of "
                         f"{one_line(space)}, shape {(num_envs, *space.shape)})")


def refuse_shared_objects(env_kwargs: dict[str, Any], num_envs: int) -> None:
    """An Agent object holds one conversation's state: handed to every conversation it would
    be driven by all of them at once (rollouts silently differ from each conversation alone,
    or a SyncLLM model= agent fails at its first step). A PartnerPool object is fine: each
    conversation draws from its own :meth:`~PartnerPool.for_env` copy, with agents of its
    own, unless the pool holds Agent objects, which no copy can renew."""
    for key in ("partner", "model"):
        value: Any = env_kwargs.get(key)
        listed = isinstance(value, list | tuple)
        for i, item in enumerate(value if listed else [value]):
            where = f"{key}[{i}]" if listed else key
            given = [m.spec for m in item.members if m.agent is not None] \
                if isinstance(item, PartnerPool) else []
            if given:
                raise ValueError(
                    f"{where}: a PartnerPool holding Agent objects (partner[{given[0]}]) cannot "
                    f"be shared by num_envs={num_envs} conversations (allowed: a pool of "
                    "specs, which each conversation copies, or num_envs=1)")
            if isinstance(item, Agent):
                raise ValueError(
                    f"{where}: a {type(item).__name__} object cannot be shared by "
                    f"num_envs={num_envs} conversations (allowed: an agent directory, a side "
                    "or pool spec, or a PartnerPool of specs: each conversation builds its "
                    "own)")
