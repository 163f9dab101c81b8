"""Stable-Baselines3 on the native vector env: :class:`SB3VecEnv`.

Owns the adapter from :class:`~duplexsim.envs.vector.TurnTakingVectorEnv` or its sharded
form over processes (:class:`~duplexsim.envs.sharded.ShardedVectorEnv`; Gymnasium's
vector API) to SB3's ``VecEnv`` (auto-reset in the same step, the last observation in
``info["terminal_observation"]``, ``info["TimeLimit.truncated"]``), optionally keeping
only some observation keys, flattened into one ``float32`` vector exactly as
``FlattenObservation(FilterObservation(env, keys))`` flattens a single env's, and the
per-conversation infos and ``reset_infos`` that SB3's ``DummyVecEnv`` gives over the single
env (Gymnasium's ``DictInfoToList`` unbatches them; values are numpy scalars). Imports
stable-baselines3 (not a dependency of the env itself). Must not change what the
conversations compute.

    venv = SB3VecEnv(gym.make_vec("duplexsim/TurnTaking-v0", num_envs=16,
                                  vectorization_mode="vector_entry_point",
                                  autoreset_mode="SameStep", partner=...),
                     keys=["own_vad", "partner_vad", "partner_received"])
    PPO("MlpPolicy", VecMonitor(venv)).learn(100_000)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode
from gymnasium.wrappers.vector import DictInfoToList
from stable_baselines3.common.vec_env.base_vec_env import (
    VecEnv,
    VecEnvIndices,
    VecEnvObs,
    VecEnvStepReturn,
)

from duplexsim.envs.sharded import ShardedVectorEnv
from duplexsim.envs.vector import TurnTakingVectorEnv


class SB3VecEnv(VecEnv):
    """A :class:`TurnTakingVectorEnv` (``autoreset_mode="SameStep"``) as an SB3 VecEnv.

    ``keys``: observation keys to keep, flattened into one vector (for ``MlpPolicy``);
    None keeps the ``Dict`` (for ``MultiInputPolicy``). Each step's ``infos[i]`` is
    conversation ``i``'s step info (``chunk``, ``time_ms``, ``reward_terms``, ``events``)
    with ``TimeLimit.truncated``; a finished conversation's is its final step's, with
    ``terminal_observation`` and its episode summary ``turntaking`` when the conversation
    reached its end (not when ``max_episode_steps`` cut it), and ``reset_infos[i]`` becomes
    its new episode's reset info, as in ``DummyVecEnv``. ``set_options`` gives the next
    :meth:`reset` its options: one dict for every conversation (a list of differing dicts
    is refused; the vector env's reset takes one).
    """

    def __init__(self, venv: gym.vector.VectorEnv, keys: Sequence[str] | None = None):
        inner = venv.unwrapped
        if not isinstance(inner, TurnTakingVectorEnv | ShardedVectorEnv):
            raise TypeError(f"venv: got {type(inner).__name__} (allowed: a TurnTakingVectorEnv "
                            "or ShardedVectorEnv from gym.make_vec(..., "
                            "vectorization_mode='vector_entry_point'))")
        if inner.autoreset_mode != AutoresetMode.SAME_STEP:
            raise ValueError(f"venv.autoreset_mode: {inner.autoreset_mode.value!r} (allowed: "
                             "'SameStep': SB3 resets a finished env within the step)")
        self.venv = venv  # steps go through the user's vector wrappers, if any
        self.listed = DictInfoToList(venv)  # the same steps, the infos one dict per env
        self.inner = inner
        space = inner.single_observation_space
        self.dict_space: gym.spaces.Dict | None = None
        if keys is not None:
            if not isinstance(space, gym.spaces.Dict):  # (the turn-taking env's always is)
                raise TypeError(f"keys: the observation space is {type(space).__name__}, "
                                "not a Dict")
            allowed = f"a list of one or more of {', '.join(space.spaces)}, each once"
            if isinstance(keys, str) or not isinstance(keys, Sequence):
                raise ValueError(f"keys: a {type(keys).__name__} {keys!r} (allowed: "
                                 f"{allowed}; None keeps the Dict)")
            if not keys or len(set(keys)) != len(keys):
                raise ValueError(f"keys: {list(keys)!r} (allowed: {allowed})")
            unknown = [k for k in keys if k not in space.spaces]
            if unknown:
                raise ValueError(f"keys: unknown {unknown} (allowed: "
                                 f"{', '.join(space.spaces)})")
            self.dict_space = gym.spaces.Dict({k: space[k] for k in keys})
            space = gym.spaces.flatten_space(self.dict_space)
        super().__init__(inner.num_envs, space, inner.single_action_space)
        self._actions: np.ndarray | None = None

    def _flat(self, obs: dict[str, np.ndarray]) -> Any:
        """One conversation's Dict obs -> what the policy sees."""
        if self.dict_space is None:
            return obs
        # (a Dict of Boxes flattens to an array; gymnasium's type also covers Graph spaces)
        return gym.spaces.flatten(self.dict_space, {k: obs[k] for k in  # type: ignore[union-attr]
                                                    self.dict_space.spaces}).astype(np.float32)

    def _view(self, obs: dict[str, np.ndarray]) -> VecEnvObs:
        """Batched Dict obs -> what the policy sees ([n, dim] float32 with ``keys``)."""
        if self.dict_space is None:
            return obs
        return np.stack([self._flat({k: v[i] for k, v in obs.items()})
                         for i in range(self.num_envs)])

    def reset(self) -> VecEnvObs:
        seeds = None if all(s is None for s in self._seeds) else self._seeds
        # gymnasium types seed as one int; its vector envs (and ours) take one per env, and
        # its wrappers pass it on
        obs, self.reset_infos = self.listed.reset(seed=seeds,  # type: ignore[arg-type]
                                                  options=self._one_options())
        self._reset_seeds()
        self._reset_options()
        return self._view(obs)

    def _one_options(self) -> dict[str, Any] | None:
        """The options of :meth:`set_options` as the one dict the vector env's reset takes
        (None when there are none); options that differ between conversations, or a
        ``reset_mask`` (SB3's reset resets every conversation), raise a ValueError."""
        first = self._options[0]
        for i, options in enumerate(self._options[1:], 1):
            try:
                equal = options is first or bool(options == first)
            except (ValueError, TypeError):  # e.g. arrays: compared element-wise
                equal = False
            if not equal:
                raise ValueError(f"options[{i}]: {options!r} differs from options[0] {first!r} "
                                 "(allowed: the same options for every conversation: the "
                                 "vector env's reset takes one dict)")
        if "reset_mask" in first:
            raise ValueError("options: 'reset_mask' (allowed: options without it: SB3's reset "
                             "resets every conversation)")
        return dict(first) or None

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions)

    def step_wait(self) -> VecEnvStepReturn:
        obs, rewards, terminated, truncated, infos = self.listed.step(self._actions)
        dones = terminated | truncated
        for i in np.flatnonzero(dones):  # SameStep: the info is the new episode's reset info
            reset_info = infos[i]
            final_obs, final_info = reset_info.pop("final_obs"), reset_info.pop("final_info")
            self.reset_infos[i] = reset_info
            infos[i] = {**final_info, "terminal_observation": self._flat(final_obs)}
        time_limit = (truncated & ~terminated).tolist()
        for info, cut in zip(infos, time_limit, strict=True):
            info["TimeLimit.truncated"] = cut
        return self._view(obs), rewards.astype(np.float32), dones, infos

    def close(self) -> None:
        self.venv.close()

    def _index_list(self, indices: VecEnvIndices) -> list[int]:
        """SB3's indices (None, an int or any iterable of ints, a one-shot one included) as
        the list the vector env's ``apply`` reads more than once."""
        return list(self._get_indices(indices))

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        return self.inner.apply(self._index_list(indices), "get", attr_name)

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        for i in self._get_indices(indices):
            self.inner.apply([i], "set", attr_name, value)

    def env_method(self, method_name: str, *method_args: Any, indices: VecEnvIndices = None,
                   **method_kwargs: Any) -> list[Any]:
        return self.inner.apply(self._index_list(indices), "call", method_name, *method_args,
                                **method_kwargs)

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper],  # noqa: ARG002
                       indices: VecEnvIndices = None) -> list[bool]:
        return [False for _ in self._get_indices(indices)]
