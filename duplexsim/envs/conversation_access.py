"""Gymnasium's vector-env API over conversations, shared by both vector envs.

Owns :class:`ConversationAccess`: ``get_attr`` / ``set_attr`` / ``call`` on top of a vector
env's own ``apply(indices, op, name, ...)``, its ``render``, and the checks of what a vector
``reset`` takes (indices, each conversation's seed, ``options["reset_mask"]``), for
:class:`~duplexsim.envs.vector.TurnTakingVectorEnv` (conversations in this process) and
:class:`~duplexsim.envs.sharded.ShardedVectorEnv` (conversations over worker processes);
:func:`apply_to` is one conversation's part of ``apply``. Must not touch the simulator.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np

from duplexsim.envs.arguments import RESET_OPTIONS, unknown_reset_option


class ConversationAccess:
    """Gymnasium's ``get_attr`` / ``set_attr`` / ``call`` over the conversations of a vector
    env, on top of its ``apply(indices, op, name, ...)``, and its ``render``."""

    num_envs: int
    _np_random: np.random.Generator | None  # (as VectorEnv declares them)
    _np_random_seed: int | None

    def apply(self, indices: Sequence[int], op: str, name: str, *args: Any,
              **kwargs: Any) -> list[Any]:
        raise NotImplementedError

    def render(self) -> None:
        """Nothing: the only render mode is None, for which no render is computed (as
        ``TurnTakingEnv.render``; VectorEnv's own raises a bare NotImplementedError)."""
        return None

    def check_indices(self, indices: Sequence[int]) -> None:
        for i in indices:
            if not (isinstance(i, int | np.integer) and 0 <= i < self.num_envs):
                raise ValueError(f"indices: {i!r} (allowed: 0..{self.num_envs - 1})")

    def get_attr(self, name: str) -> tuple[Any, ...]:
        """Attribute ``name`` of every conversation's env."""
        return tuple(self.apply(range(self.num_envs), "get", name))

    def set_attr(self, name: str, values: Any) -> None:
        """Set attribute ``name`` of every conversation's env: one value each (a list or
        tuple of ``num_envs``) or the same value for all."""
        if not isinstance(values, list | tuple):
            values = [values] * self.num_envs
        if len(values) != self.num_envs:
            raise ValueError(f"values: {len(values)} for num_envs={self.num_envs} (allowed: "
                             "one value, or one per env)")
        for i, value in enumerate(values):
            self.apply([i], "set", name, value)

    def call(self, name: str, *args: Any, **kwargs: Any) -> tuple[Any, ...]:
        """Method ``name`` of every conversation's env called with the arguments (an
        attribute that is not callable: its value)."""
        return tuple(self.apply(range(self.num_envs), "call", name, *args, **kwargs))

    def seed_list(self, seed: int | Sequence[int | None] | None) -> list[int | None]:
        """Each conversation's reset seed (``seed + i``, or from a list); seeds the vector
        env's own ``np_random`` from the first, as Gymnasium's vector envs do."""
        allowed = "None, an int >= 0, or a list of one int >= 0 (or None) per env"
        if seed is None:
            return [None] * self.num_envs
        if isinstance(seed, int | np.integer) and not isinstance(seed, bool | np.bool_):
            if seed < 0:
                raise ValueError(f"seed: {seed!r} (allowed: {allowed})")
            seeds: list[int | None] = [int(seed) + i for i in range(self.num_envs)]
        else:
            if not isinstance(seed, list | tuple | np.ndarray):  # a str, float, set, ...
                raise ValueError(f"seed: a {type(seed).__name__} {seed!r} (allowed: {allowed})")
            seeds = []
            for i, s in enumerate(seed):
                if not (s is None or (isinstance(s, int | np.integer)
                                      and not isinstance(s, bool | np.bool_) and s >= 0)):
                    raise ValueError(f"seed[{i}]: {s!r} (allowed: {allowed})")
                seeds.append(None if s is None else int(s))
            if len(seeds) != self.num_envs:
                raise ValueError(f"seed: {len(seeds)} seeds for num_envs={self.num_envs} "
                                 f"(allowed: {allowed})")
        self._np_random, self._np_random_seed = gym.utils.seeding.np_random(seeds[0])
        return seeds

    def reset_mask(self, options: dict[str, Any] | None
                   ) -> tuple[np.ndarray | None, dict[str, Any] | None]:
        """(``options["reset_mask"]``, the options without it, for each reset conversation);
        (None, ``options``) when there is none. The mask is checked as Gymnasium's
        SyncVectorEnv checks it (a TypeError or ValueError), the caller's dict left as is.
        Any other key is a one-line ValueError here, before a conversation is reset."""
        problem = unknown_reset_option(options, ("reset_mask", *RESET_OPTIONS))
        if problem:
            raise ValueError(problem)
        if not options or "reset_mask" not in options:
            return None, options
        mask = options["reset_mask"]
        rest = {k: v for k, v in options.items() if k != "reset_mask"}
        allowed = f"a numpy bool array of shape ({self.num_envs},) with a True"
        if not isinstance(mask, np.ndarray):
            raise TypeError(f"options['reset_mask']: a {type(mask).__name__} "
                            f"(allowed: {allowed})")
        if mask.dtype != np.bool_:
            raise TypeError(f"options['reset_mask']: dtype {mask.dtype} (allowed: {allowed})")
        if mask.shape != (self.num_envs,):
            raise ValueError(f"options['reset_mask']: shape {mask.shape} (allowed: {allowed})")
        if not mask.any():
            raise ValueError(f"options['reset_mask']: no True (allowed: {allowed})")
        return mask, rest


def apply_to(env: Any, op: str, name: str, *args: Any, **kwargs: Any) -> Any:
    """One conversation's part of :meth:`ConversationAccess.apply`."""
    if op == "get":
        return getattr(env, name)
    if op == "set":
        (value,) = args
        setattr(env, name, value)
        return None
    if op == "call":
        attr = getattr(env, name)
        return attr(*args, **kwargs) if callable(attr) else attr
    raise ValueError(f"op: {op!r} (allowed: 'get', 'set', 'call')")
