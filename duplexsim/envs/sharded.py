"""``TurnTaking-v0`` over processes: :class:`ShardedVectorEnv`, for more than one core.

Owns the split of ``num_envs`` conversations into ``workers`` shards, each a native
:class:`~duplexsim.envs.vector.TurnTakingVectorEnv` of its share (its SyncLLM partners
batched in lock step there, one torch thread each): shard 0 in this process, the others in
worker processes. A step sends every worker its actions, steps shard 0 here meanwhile,
then collects the workers' results (this process does a share of the work instead of
sleeping while the workers compute and waking when they answer)::

    gym.make_vec("duplexsim/TurnTaking-v0", num_envs=16, workers=2,
                 vectorization_mode="vector_entry_point", partner=...)

Conversation ``i`` is the same wherever it runs: it is seeded ``seed + i`` (or from a list)
and built from the same arguments, so a sharded env gives byte for byte the rollouts of
the one-process env (``workers=1``), which gives those of each conversation alone.
Gymnasium's ``AsyncVectorEnv`` runs one env per process and cannot batch the partners'
forwards of a process; this runs a batch per process. Must not touch the simulator's or
the envs' internals: a shard only calls the native vector env's public methods (a shard,
here or in a worker: :mod:`duplexsim.envs.shards`; their results merged:
:mod:`duplexsim.envs.shard_results`).

Workers start with ``spawn`` (a fresh interpreter each: imports take a few seconds; no
state forked from this process's torch), so a script that makes one keeps its top-level
code under ``if __name__ == "__main__":``, as Python's multiprocessing asks of any spawning
script (a worker imports the script again; notebooks need nothing). An error in a shard
reaches the caller as the same exception type with the shard and its conversations named;
a worker that died is said to have died. A step that fails in any shard, or a worker that
died, closes the env (every worker process ended): the other shards have moved on. A reset
after a close starts the shards anew (:class:`ShardedVectorEnv` says which resets may).
"""

from __future__ import annotations

import contextlib
import multiprocessing
from collections.abc import Sequence
from typing import Any

import numpy as np
from gymnasium.spaces import Discrete
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from duplexsim.envs.actions import one_line
from duplexsim.envs.conversation_access import ConversationAccess
from duplexsim.envs.shard_results import InfoPacker, concat_infos, concat_obs
from duplexsim.envs.shards import LocalShard, WorkerDied, WorkerShard, spaces_of
from duplexsim.envs.vector import TurnTakingVectorEnv, empty_batch
from duplexsim.envs.vector_checks import check_batch_shape, check_num_envs, refuse_shared_objects

CLOSED = "the vector env is closed (reset() starts it anew; or make a new one)"


def split(num_envs: int, workers: int) -> list[range]:
    """The conversations of each shard: contiguous, sizes differing by at most one."""
    base, extra = divmod(num_envs, workers)
    out, start = [], 0
    for k in range(workers):
        size = base + (k < extra)
        out.append(range(start, start + size))
        start += size
    return out


class ShardedVectorEnv(ConversationAccess, VectorEnv):
    """``num_envs`` conversations of ``duplexsim/TurnTaking-v0`` in ``workers`` processes
    (this one and ``workers - 1`` more).

    Arguments as :class:`~duplexsim.envs.vector.TurnTakingVectorEnv` (``scenario`` may be a
    list, one per conversation), plus ``workers`` (2..num_envs). Attributes and methods of
    the conversations through :meth:`get_attr`, :meth:`set_attr` and :meth:`call` (values
    from a worker must pickle). Every action is checked against the action space before
    any shard moves (the one-process env ignores an autoreset conversation's action
    unchecked; here it must be valid too).

    :meth:`close` ends the workers and closes shard 0 (closing again does nothing); a
    :meth:`reset` after it starts the shards anew from the env's arguments (a scenario or
    agent file is read again), as a new env would be: so it must reset every conversation
    with a seed (no ``reset_mask``; a conversation's random state went with its shard),
    after which the rollouts are a new env's under those seeds (and the one-process env's
    after its close), and it is refused if :meth:`set_attr` changed the conversations
    (their changes went with the shards too; the one-process env keeps them).
    """

    metadata = {"render_modes": [], "autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(self, num_envs: int = 2, workers: int = 2, **env_kwargs: Any):
        num_envs = check_num_envs(num_envs)
        if isinstance(workers, bool) or not isinstance(workers, int | np.integer) \
                or not 2 <= workers <= num_envs:
            raise ValueError(f"workers: {workers!r} for num_envs={num_envs} (allowed: an int "
                             f"2..num_envs; 1 = the one-process env)")
        workers = int(workers)  # (a NumPy int counts processes as well as an int)
        refuse_shared_objects(env_kwargs, num_envs)
        scenarios = env_kwargs.pop("scenario", None)
        if isinstance(scenarios, list | tuple) and len(scenarios) != num_envs:
            raise ValueError(f"scenario: {len(scenarios)} scenarios for num_envs={num_envs} "
                             "(allowed: one scenario, or one per env)")
        self.num_envs = num_envs
        self.shards = split(num_envs, workers)
        self.closed = True  # until every shard is up
        self._handles: list[Any] = []
        self._attrs_set = False  # set_attr was called: a restart would lose what it set

        def kwargs_of(shard: range) -> dict[str, Any]:
            if isinstance(scenarios, list | tuple):
                return {**env_kwargs, "scenario": list(scenarios[shard.start:shard.stop])}
            return {**env_kwargs, "scenario": scenarios}

        self._shard_kwargs = [kwargs_of(shard) for shard in self.shards]
        obs_space, act_space, mode = self._start()
        self.autoreset_mode = mode
        self.metadata = {**self.metadata, "autoreset_mode": mode}
        self.render_mode = None
        self.single_observation_space = obs_space
        self.single_action_space = act_space
        self.observation_space = batch_space(obs_space, num_envs)
        self.action_space = batch_space(act_space, num_envs)
        # each shard's last batched observation: what a reset that masks it out returns
        self._shard_obs = [empty_batch(obs_space, len(s)) for s in self.shards]
        self._was_reset = np.zeros(num_envs, bool)  # a conversation is stepped once reset

    # -- the shards -----------------------------------------------------------------------
    def _start(self) -> tuple[Any, Any, AutoresetMode]:
        """Start every shard from the env's arguments (the workers first, shard 0 here
        meanwhile); their spaces and autoreset mode, the same in every shard."""
        ctx = multiprocessing.get_context("spawn")
        self._unpacker = InfoPacker()  # (the workers' packers start anew too)
        self._handles = [WorkerShard(ctx, k, len(shard), self._shard_kwargs[k])
                         for k, shard in enumerate(self.shards) if k > 0]
        try:  # shard 0 here, built while the workers start
            here = LocalShard(self._wrap(0, lambda: TurnTakingVectorEnv(
                num_envs=len(self.shards[0]), **self._shard_kwargs[0])))
        except BaseException:
            self._stop()
            raise
        self._handles.insert(0, here)
        self.closed = False
        try:
            spaces = [spaces_of(here.env)] + self._collect(range(1, len(self.shards)))
        except BaseException:
            self._stop()
            raise
        for k, (o, a, _) in enumerate(spaces):
            if (o, a) != spaces[0][:2]:
                self._stop()
                raise ValueError(f"scenario: shard {k}'s conversations have other spaces than "
                                 "shard 0's (allowed: scenarios with the same chunk_ms and "
                                 "units)")
        return spaces[0]

    def _restart(self, seed: Any, seeds: list[int | None], mask: np.ndarray | None) -> None:
        """Start the shards anew for a reset after :meth:`close`: they are then those of a new
        env made with the same arguments, so the reset must be one that gives a new env's
        rollouts (and the one-process env's after its close): every conversation, each with a
        seed (a conversation's random state before the close is gone with its shard), and
        nothing changed by ``set_attr`` since the env was made (gone too)."""
        if None in seeds:
            where = "seed" if seed is None else f"seed[{seeds.index(None)}]"
            raise ValueError(f"{where}: None after close() (allowed: an int >= 0, or a list of "
                             "one int >= 0 per env: a reset after close() starts the shards "
                             "anew, without the conversations' random states)")
        if mask is not None:
            raise ValueError("options['reset_mask']: after close() (allowed: no mask: a reset "
                             "after close() starts the shards anew, every conversation)")
        if self._attrs_set:
            raise RuntimeError("reset() after close(): set_attr changed the conversations, and "
                               "shards started anew would not have the changes (allowed: a "
                               "new env)")
        self._was_reset[:] = False  # until this reset, the new shards' too
        spaces = self._start()
        if spaces != (self.single_observation_space, self.single_action_space,
                      self.autoreset_mode):
            self._stop()
            raise ValueError("scenario: the shards started anew after close() have other "
                             "spaces than the env's (a scenario file changed?) (allowed: "
                             "the env's spaces; or make a new env)")

    def _wrap(self, k: int, call: Any) -> Any:
        """``call()``, its error raised again as the same type naming shard ``k``."""
        shard = self.shards[k]
        where = (f"shard {k} (conversations {shard.start}..{shard.stop - 1}"
                 f"{', local indices from 0' if k else ''}"
                 f"{', a worker process' if k else ', this process'})")
        try:
            return call()
        except WorkerDied as died:
            self._stop()
            raise RuntimeError(f"{where} died (exit code {died}); {CLOSED}") from None
        except Exception as exc:
            raise retyped(exc, f"{where}: ") from None

    def _collect(self, shards: Sequence[int]) -> list[Any]:
        """The results of ``shards``, in order; the first error raised once all of them
        have answered (so no answer is left behind in a pipe)."""
        results, first = [], None
        for k in shards:
            try:
                results.append(self._wrap(k, self._handles[k].result))
            except Exception as exc:  # noqa: BLE001
                first = first or exc
                results.append(None)
        if first is not None:
            raise first
        return results

    def _exchange(self, messages: dict[int, tuple[str, Any]]) -> dict[int, Any]:
        """Send each shard its command (the workers first; shard 0 runs when collected)."""
        if self.closed:
            raise RuntimeError(CLOSED)
        order = sorted(messages)
        try:
            for i, k in enumerate(order[::-1]):  # the workers first: shard 0 runs when collected
                try:
                    self._wrap(k, lambda k=k: self._handles[k].submit(*messages[k]))
                except Exception:  # e.g. an argument that does not pickle: the shards sent
                    sent = [j for j in order[::-1][:i] if j > 0]  # to answer first, unread
                    with contextlib.suppress(Exception):
                        self._collect(sorted(sent))
                    self._handles[0].pending = None
                    raise
            return dict(zip(order, self._collect(order), strict=True))
        except Exception:  # every shard sent to has answered (or died): pipes in step
            raise
        except BaseException:  # e.g. Ctrl-C between a send and its answer: they are not
            self._stop()
            raise

    def _broadcast(self, command: str, payloads: Sequence[Any]) -> list[Any]:
        out = self._exchange({k: (command, p) for k, p in enumerate(payloads)})
        return [out[k] for k in range(len(payloads))]

    # -- the Gymnasium API ----------------------------------------------------------------
    def reset(self, *, seed: int | Sequence[int | None] | None = None,
              options: dict[str, Any] | None = None) -> tuple[dict[str, np.ndarray],
                                                             dict[str, Any]]:
        """Reset every conversation (``i`` with ``seed + i`` or ``seed[i]``), or with
        ``options={"reset_mask": mask}`` those where ``mask`` is True (each shard its own
        part of the mask; a shard with none is not reset), as the one-process env does."""
        seeds = self.seed_list(seed)
        mask, rest = self.reset_mask(options)
        if self.closed:
            self._restart(seed, seeds, mask)
        messages = {k: ("reset", (seeds[s.start:s.stop], options if mask is None else
                                  {**(rest or {}), "reset_mask": mask[s.start:s.stop]}))
                    for k, s in enumerate(self.shards)
                    if mask is None or mask[s.start:s.stop].any()}
        parts = self._exchange(messages)
        self._was_reset |= True if mask is None else mask
        for k, (obs, _) in parts.items():
            self._shard_obs[k] = obs
        return (concat_obs(self._shard_obs),
                concat_infos([parts[k][1] if k in parts else {} for k in range(len(self.shards))],
                             [len(s) for s in self.shards]))

    def step(self, actions: Any) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray,
                                          np.ndarray, dict[str, Any]]:
        batch = self.check_actions(actions)
        if not self._was_reset.all():  # refused here, before any shard moves
            i = int(np.flatnonzero(~self._was_reset)[0])
            raise RuntimeError(f"conversation {i}: step() after the episode ended (or before "
                               "reset()): call reset() first")
        try:
            parts = self._broadcast("step", [batch[s.start:s.stop] for s in self.shards])
        except Exception as exc:
            if self.closed:  # closed before, or a worker died: said so already
                raise
            self._stop()  # the other shards have stepped: out of line with the failed one
            raise retyped(exc, "", f"; {CLOSED}") from None
        self._shard_obs = [p[0] for p in parts]
        rewards, terminated, truncated = (np.concatenate([p[i] for p in parts])
                                          for i in (1, 2, 3))
        return (concat_obs(self._shard_obs), rewards, terminated, truncated,
                self._unpacker.merge([p[4] for p in parts], [len(s) for s in self.shards]))

    def check_actions(self, actions: Any) -> np.ndarray:
        """``actions`` as one integer array, or a ValueError naming the first bad one."""
        space = self.single_action_space
        batch = np.asarray(actions)
        check_batch_shape(batch, space, self.num_envs)
        ok = np.issubdtype(batch.dtype, np.integer)
        if ok and isinstance(space, Discrete) and space.start <= batch.min() \
                and batch.max() < space.start + space.n:  # the usual case, in one pass
            return batch
        for i, action in enumerate(batch):
            if not (ok and space.contains(action.astype(space.dtype))):
                raise ValueError(f"actions[{i}]: {one_line(action)} is not in "
                                 f"{one_line(space)} (allowed: integers in the action space)")
        return batch

    def apply(self, indices: Sequence[int], op: str, name: str, *args: Any,
              **kwargs: Any) -> list[Any]:
        """``op`` (``"get"``, ``"set"`` with one value, ``"call"``) on the conversations
        ``indices``, in that order, each in its shard."""
        self.check_indices(indices)
        self._attrs_set |= op == "set"
        mine: dict[int, list[int]] = {}
        for i in indices:
            k = next(k for k, s in enumerate(self.shards) if i in s)
            mine.setdefault(k, []).append(int(i))
        results = self._exchange({k: ("apply", ([i - self.shards[k].start for i in ids], op,
                                                name, args, kwargs))
                                  for k, ids in mine.items()})
        answers: dict[int, Any] = {}
        for k, ids in mine.items():
            answers.update(zip(ids, results[k], strict=True))
        return [answers[int(i)] for i in indices]

    def close_extras(self, **kwargs: Any) -> None:  # noqa: ARG002
        if not self.closed:
            with contextlib.suppress(RuntimeError):  # a worker that died: nothing to close
                self._broadcast("close", [None] * len(self.shards))
        self._stop()

    def _stop(self) -> None:
        self.closed = True
        for handle in getattr(self, "_handles", []):
            handle.stop()


def retyped(exc: Exception, prefix: str, suffix: str = "") -> Exception:
    """``exc`` again, its message between ``prefix`` and ``suffix``: of its type, or a
    RuntimeError naming the type where that type takes other arguments."""
    try:
        return type(exc)(f"{prefix}{exc}{suffix}")
    except Exception:  # noqa: BLE001
        return RuntimeError(f"{prefix}{type(exc).__name__}: {exc}{suffix}")

