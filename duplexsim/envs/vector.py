"""``TurnTaking-v0`` as a native Gymnasium vector env: many conversations in one process.

Owns :class:`TurnTakingVectorEnv`, the env id's ``vector_entry_point``::

    gym.make_vec("duplexsim/TurnTaking-v0", num_envs=16,
                 vectorization_mode="vector_entry_point", partner=...)

Each of the ``num_envs`` conversations is a :class:`~duplexsim.envs.turntaking.TurnTakingEnv`
built from the same arguments (same spaces and rewards; a partner pool is drawn per
conversation and reset), so a conversation gives exactly the rollout it gives alone. One
``step`` runs the three phases of the single env across all conversations: queue every
action, advance every world to its next decision, then score and observe every one; no
wrappers, one batched observation. Sub-env ``i`` is seeded ``seed + i`` (or from a list),
as :class:`gymnasium.vector.SyncVectorEnv` does. Must not touch the simulator's internals.

Batching: the SyncLLM and TDM partners of all conversations built from one agent directory share
one model and one set of token rows (:func:`duplexsim.sim.build.sharing_models`, held for
the vector env's life), and the advance phase runs every world as an engine program in
lock step (:func:`duplexsim.models.engine.run_lockstep`): the partners' forwards of one
round are one batched call. A row's tokens do not depend on the other rows (counter-based
sampling per row), so each conversation's rollout is the one it gives alone. Partners
rebuilt by a reset after :meth:`~TurnTakingVectorEnv.close` (also one through ``call``) are
built inside the same share. The learner's own ``model=`` directory is shared the same way
(:func:`~duplexsim.envs.arguments.load_model` loads it with
:func:`~duplexsim.sim.build.load_agent_dir`, at ``__init__`` and at a reset after close
alike): its weights are loaded once per vector env, each conversation's learner model a row
of them (the same rows as partners of that directory). Each learner still owns its agent:
closing the vector env closes each once, giving its row back; the weights stay held for the
vector env's life, as the partners' do. The learner is not run as an engine program, so
sharing saves memory but batches no forward.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space, create_empty_array

from duplexsim.closing import close_each
from duplexsim.envs.conversation_access import ConversationAccess, apply_to
from duplexsim.envs.observations import build_observations
from duplexsim.envs.turntaking import TurnTakingEnv
from duplexsim.envs.vector_checks import (
    check_batch_shape,
    check_conversations,
    check_num_envs,
    refuse_shared_objects,
)
from duplexsim.models.engine import Program, run_lockstep
from duplexsim.sim.build import sharing_models

AUTORESET_MODES = {m.value: m for m in (AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP)}


def make_vector_env(num_envs: int = 1, workers: int = 1, **kwargs: Any) -> VectorEnv:
    """The env id's ``vector_entry_point``: ``num_envs`` conversations in this process
    (:class:`TurnTakingVectorEnv`, ``workers=1``) or split over ``workers`` processes, each
    a TurnTakingVectorEnv of its share (:class:`~duplexsim.envs.sharded.ShardedVectorEnv`:
    the same rollouts, on more cores)."""
    if isinstance(workers, int | np.integer) and not isinstance(workers, bool) and workers == 1:
        return TurnTakingVectorEnv(num_envs, **kwargs)
    from duplexsim.envs.sharded import ShardedVectorEnv

    return ShardedVectorEnv(num_envs, workers=workers, **kwargs)


class TurnTakingVectorEnv(ConversationAccess, VectorEnv):
    """``num_envs`` conversations of ``duplexsim/TurnTaking-v0`` stepped together.

    Arguments: ``num_envs``; ``max_episode_steps`` (as registered, 188; a conversation is
    truncated at it or at its scenario's end, whichever comes first); ``autoreset_mode``
    (``"NextStep"``, Gymnasium's default: a finished conversation is reset by the next
    ``step``, which ignores its action and returns the reset observation with reward 0;
    or ``"SameStep"``: reset at once, the last observation and info in
    ``info["final_obs"]`` / ``info["final_info"]``); every other keyword is an argument
    of :class:`~duplexsim.envs.turntaking.TurnTakingEnv`, given to each conversation;
    ``scenario`` may also be a list, one per conversation (e.g. several latencies in one
    batch; their spaces must agree).
    ``envs``: the conversations (``envs[i].partner_info``, ``envs[i].events()``).
    Infos are batched as Gymnasium's ``VectorEnv._add_info`` batches them: each key an
    array of its first conversation's dtype, ``_key`` where a conversation lacks it. Every
    info value has one type whatever the conversation (``chunk``, ``time_ms``: int;
    ``reward_terms``, ``events``, ``turntaking``: float; ``partner``: str), so no value is
    cast (``tests/envs/test_vector.py``).
    """

    metadata = {"render_modes": [], "autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(self, num_envs: int = 1, max_episode_steps: int | None = None,
                 autoreset_mode: str | AutoresetMode = AutoresetMode.NEXT_STEP,
                 **env_kwargs: Any):
        num_envs = check_num_envs(num_envs)
        mode = AUTORESET_MODES.get(getattr(autoreset_mode, "value", autoreset_mode))
        if mode is None:
            raise ValueError(f"autoreset_mode: {autoreset_mode!r} (allowed: "
                             f"{', '.join(map(repr, AUTORESET_MODES))})")
        if max_episode_steps is not None and (isinstance(max_episode_steps, bool) or not (
                isinstance(max_episode_steps, int) and max_episode_steps >= 1)):
            raise ValueError(f"max_episode_steps: {max_episode_steps!r} (allowed: None or an "
                             "int >= 1)")
        if num_envs > 1:
            refuse_shared_objects(env_kwargs, num_envs)
        scenarios = env_kwargs.pop("scenario", None)
        if not isinstance(scenarios, list | tuple):
            scenarios = [scenarios] * num_envs
        elif len(scenarios) != num_envs:
            raise ValueError(f"scenario: {len(scenarios)} scenarios for num_envs={num_envs} "
                             "(allowed: one scenario, or one per env)")
        self._models: dict = {}  # agent dir -> (files, token rows): shared by the partners
        self.envs: list[TurnTakingEnv] = []
        try:
            with sharing_models(self._models):
                for scenario in scenarios:
                    self.envs.append(TurnTakingEnv(scenario=scenario, **env_kwargs))
            check_conversations(self.envs)
        except BaseException:  # a vector env not made cannot be closed: close what it built
            self.close_extras()
            raise
        self.num_envs = num_envs
        self.autoreset_mode = mode
        self.metadata = {**self.metadata, "autoreset_mode": mode}
        self.max_episode_steps = max_episode_steps
        self.render_mode = None
        first = self.envs[0]
        self.single_observation_space = first.observation_space
        self.single_action_space = first.action_space
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self._obs = empty_batch(self.single_observation_space, num_envs)
        self._elapsed = np.zeros(num_envs, np.int64)
        self._autoreset = np.zeros(num_envs, bool)

    def reset(self, *, seed: int | Sequence[int | None] | None = None,
              options: dict[str, Any] | None = None) -> tuple[dict[str, np.ndarray],
                                                             dict[str, Any]]:
        """Reset every conversation (sub-env ``i`` with ``seed + i`` or ``seed[i]``), or with
        ``options={"reset_mask": mask}`` only those where ``mask`` is True, as Gymnasium's
        SyncVectorEnv does: the others keep their episode and last observation, and the
        info has only the reset ones."""
        with sharing_models(self._models):
            return self._reset(seed, options)

    def _reset(self, seed: int | Sequence[int | None] | None,
               options: dict[str, Any] | None) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        seeds = self.seed_list(seed)
        mask, options = self.reset_mask(options)
        rows = list(range(self.num_envs)) if mask is None else np.flatnonzero(mask).tolist()
        infos: dict[str, Any] = {}
        obs = []
        for i in rows:
            o, info = self.envs[i].reset(seed=seeds[i], options=options)
            obs.append(o)
            infos = self._add_info(infos, info, i)
        self._elapsed[rows] = 0
        self._autoreset[rows] = False
        self._batch(obs, rows)
        return _copy(self._obs), infos

    def step(self, actions: Any) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray,
                                          np.ndarray, dict[str, Any]]:
        with sharing_models(self._models):  # a pool may build a partner at a reset here
            return self._step(actions)

    def _step(self, actions: Any) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray,
                                           np.ndarray, dict[str, Any]]:
        check_batch_shape(actions, self.single_action_space, self.num_envs)
        actions = list(gym.vector.utils.iterate(self.action_space, actions))
        rewards = np.zeros(self.num_envs, np.float64)
        terminated = np.zeros(self.num_envs, bool)
        truncated = np.zeros(self.num_envs, bool)
        results: list[Any] = [None] * self.num_envs
        stepping = [i for i in range(self.num_envs) if not self._autoreset[i]]
        checked = {}
        for i in stepping:  # every action checked before any conversation moves
            try:
                checked[i] = self.envs[i].learner.check(actions[i])
            except ValueError as e:  # which conversation's, as ShardedVectorEnv names it
                raise ValueError(f"actions[{i}]: {e}") from None
            try:  # e.g. a conversation that a first, masked reset left out
                self.envs[i].check_running()
            except RuntimeError as e:
                raise RuntimeError(f"conversation {i}: {e}") from None
        chunks = {i: self.envs[i].act_checked(checked[i]) for i in stepping}
        ended = self._advance(stepping)
        for i in stepping:
            results[i] = self.envs[i].outcome(chunks[i], ended[i])
        finals: dict[str, Any] = {}
        env_infos = []
        reset_obs: dict[int, dict[str, np.ndarray]] = {}  # the others' are built together
        for i, env in enumerate(self.envs):
            if self._autoreset[i]:  # NEXT_STEP: the action is ignored
                reset_obs[i], info = env.reset()
                self._elapsed[i] = 0
            else:
                rewards[i], terminated[i], truncated[i], info = results[i]
                self._elapsed[i] += 1
                if self.max_episode_steps is not None and self._elapsed[i] >= \
                        self.max_episode_steps:
                    truncated[i] = True
                if self.autoreset_mode == AutoresetMode.SAME_STEP and (terminated[i]
                                                                       or truncated[i]):
                    finals = self._add_info(finals, {"final_obs": env.observation(),
                                                     "final_info": info}, i)
                    reset_obs[i], info = env.reset()
                    self._elapsed[i] = 0
            env_infos.append(info)
        infos = self._merge_infos(env_infos)
        if finals:
            infos.update(finals)
        if self.autoreset_mode == AutoresetMode.NEXT_STEP:
            self._autoreset = terminated | truncated
        self._batch(list(reset_obs.values()), list(reset_obs))
        self._observe_batch([i for i in range(self.num_envs) if i not in reset_obs])
        return _copy(self._obs), rewards, terminated, truncated, infos

    def _batch(self, obs: list[dict[str, np.ndarray]], rows: Sequence[int] | None = None
               ) -> None:
        """Write the conversations' observations into the batched arrays, row by row (the
        rows ``rows``, default all)."""
        for key, out in self._obs.items():
            for i, o in zip(range(len(obs)) if rows is None else rows, obs, strict=True):
                out[i] = o[key]

    def _observe_batch(self, rows: list[int]) -> None:
        """Build the observations of conversations ``rows`` together (one
        :func:`~duplexsim.envs.observations.build_observations` call) into the batched
        arrays."""
        if not rows:
            return
        first = self.envs[0].learner
        batch = build_observations(
            [self.envs[i].learner.observation_input(self.envs[i].world.chunk,
                                                    self.envs[i].world.n_chunks)
             for i in rows], window=first.window, frames_per_chunk=first.frames_per_chunk)
        where: slice | list[int] = slice(None) if len(rows) == self.num_envs else rows
        for key, out in self._obs.items():
            out[where] = batch[key]

    def _merge_infos(self, env_infos: list[dict[str, Any]]) -> dict[str, Any]:
        """The batched info, as :meth:`VectorEnv._add_info` would build it env by env, in
        one pass per key when every conversation reports the same keys (the usual step)."""
        if any(info.keys() != env_infos[0].keys() for info in env_infos):
            infos: dict[str, Any] = {}
            for i, info in enumerate(env_infos):
                infos = self._add_info(infos, info, i)
            return infos
        out: dict[str, Any] = {}
        every = np.ones(self.num_envs, np.bool_)
        for key, value in env_infos[0].items():
            values = [info[key] for info in env_infos]
            kind = type(value)
            if kind in (int, float, bool) or isinstance(value, np.number):
                out[key] = np.asarray(values, dtype=kind)
            elif kind is dict or isinstance(value, dict):
                out[key] = self._merge_infos(values)
            elif isinstance(value, np.ndarray):
                out[key] = np.stack(values).astype(value.dtype, copy=False)
            else:
                out[key] = np.empty(self.num_envs, dtype=object)
                out[key][:] = values
            out[f"_{key}"] = every.copy()
        return out

    def _advance(self, indices: list[int]) -> dict[int, bool]:
        """Run the worlds of ``indices`` to their next decision, in lock step (their partners'
        forwards batched per model); True where one ended."""
        ended = run_lockstep([self._named(i, self.envs[i].world.advance_program())
                              for i in indices])
        return dict(zip(indices, ended, strict=True))

    def _named(self, i: int, program: Program[bool]) -> Program[bool]:
        """``program`` (conversation ``i``'s advance), a ValueError it raises naming the
        conversation and its partner, as a bad action is named: e.g. a partner unit outside
        the learner's inventory, heard on the way (the worlds advance together)."""
        try:
            return (yield from program)
        except ValueError as e:
            raise ValueError(f"conversation {i} (partner "
                             f"{self.envs[i].partner_info.get('label')!r}): {e}") from None

    def apply(self, indices: Sequence[int], op: str, name: str, *args: Any,
              **kwargs: Any) -> list[Any]:
        """``op`` (``"get"``, ``"set"`` with one value, ``"call"``) on the conversations
        ``indices`` (their :class:`~duplexsim.envs.turntaking.TurnTakingEnv`), in order; as
        :meth:`reset` and :meth:`step`, inside the vector env's :func:`sharing_models`: a
        ``call("reset")`` after :meth:`close` rebuilds the partners on the shared model."""
        self.check_indices(indices)
        with sharing_models(self._models):
            return [apply_to(self.envs[i], op, name, *args, **kwargs) for i in indices]

    def close(self, **kwargs: Any) -> None:
        """Close every conversation (:meth:`TurnTakingEnv.close
        <duplexsim.envs.turntaking.TurnTakingEnv.close>`: the agents it built, once), every
        time: a :meth:`reset` after a close builds them anew, and closing again closes those
        (Gymnasium's ``VectorEnv.close`` did nothing once ``closed`` was set)."""
        self.close_extras(**kwargs)
        self.closed = True

    def close_extras(self, **kwargs: Any) -> None:  # noqa: ARG002
        close_each(self.envs)


def empty_batch(space: gym.Space, n: int) -> dict[str, np.ndarray]:
    """``create_empty_array`` of a Dict observation space (the turn-taking env's): its
    arrays by key."""
    batch = create_empty_array(space, n)
    if not isinstance(batch, dict):
        raise TypeError(f"observation space {space}: not a Dict")
    return batch


def _copy(obs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k: v.copy() for k, v in obs.items()}
