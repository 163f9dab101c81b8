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
the envs' internals: a shard only calls the native vector env's public methods.

Workers start with ``spawn`` (a fresh interpreter each: imports take a few seconds; no
state forked from this process's torch), so a script that makes one keeps its top-level
code under ``if __name__ == "__main__":``, as Python's multiprocessing asks of any spawning
script (a worker imports the script again; notebooks need nothing). An error in a shard
reaches the caller as the same exception type with the shard and its conversations named;
a worker that died is said to have died. A step that fails in any shard, or a worker that
died, closes the env (every worker process ended): the other shards have moved on.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import signal
from collections.abc import Sequence
from multiprocessing.connection import Connection
from typing import Any

import numpy as np
from gymnasium.spaces import Discrete
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from duplexsim.envs.vector import (
    ConversationAccess,
    TurnTakingVectorEnv,
    check_batch_shape,
    check_num_envs,
    empty_batch,
    refuse_shared_objects,
)
from duplexsim.threads import use_threads


def split(num_envs: int, workers: int) -> list[range]:
    """The conversations of each shard: contiguous, sizes differing by at most one."""
    base, extra = divmod(num_envs, workers)
    out, start = [], 0
    for k in range(workers):
        size = base + (k < extra)
        out.append(range(start, start + size))
        start += size
    return out


def run_command(env: TurnTakingVectorEnv, packer: InfoPacker, command: str,
                payload: Any) -> Any:
    """One command on a shard's env, wherever the shard runs."""
    if command == "reset":  # rare: the info as it is (a masked reset has only some rows)
        return env.reset(seed=payload[0], options=payload[1])
    if command == "step":  # the info, last, packed for the pipe
        *result, info = env.step(payload)
        return (*result, packer.pack(info))
    if command == "apply":
        indices, op, name, args, kwargs = payload
        return env.apply(indices, op, name, *args, **kwargs)
    if command == "close":
        return env.close()
    raise RuntimeError(f"unknown command {command!r}")


def _worker(conn: Connection, num_envs: int, kwargs: dict[str, Any]) -> None:
    """A worker process's loop: build its shard's env, then answer commands until closed."""
    # Ctrl-C reaches the whole process group: the parent handles it (and closes its
    # workers); a worker printing its own KeyboardInterrupt would only add noise
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    use_threads()  # one torch thread unless DUPLEXSIM_THREADS (inherited) says more
    packer = InfoPacker()
    try:
        env = TurnTakingVectorEnv(num_envs=num_envs, **kwargs)
        conn.send(("ok", spaces_of(env)))
    except Exception as exc:  # noqa: BLE001  (sent to the parent, raised there)
        _send_error(conn, exc)
        return
    while True:
        try:
            command, payload = conn.recv()
        except EOFError:  # the parent went away
            return
        try:
            conn.send(("ok", run_command(env, packer, command, payload)))
        except Exception as exc:  # noqa: BLE001
            _send_error(conn, exc)
        if command == "close":
            return


def _send_error(conn: Connection, exc: Exception) -> None:
    """Send ``exc`` to the parent (as a RuntimeError with its text if it does not pickle);
    nothing if the parent went away (it stopped on an error of its own)."""
    for error in (exc, RuntimeError(f"{type(exc).__name__}: {exc}")):
        try:
            conn.send(("error", error))
            return
        except (BrokenPipeError, OSError):
            return
        except Exception:  # noqa: BLE001, S112  (it does not pickle: the text instead)
            continue


def spaces_of(env: TurnTakingVectorEnv) -> tuple[Any, Any, AutoresetMode]:
    return env.single_observation_space, env.single_action_space, env.autoreset_mode


class _Here:
    """Shard 0, in this process: a submitted command runs when its result is asked for
    (after the workers have theirs)."""

    def __init__(self, env: TurnTakingVectorEnv):
        self.env, self.packer = env, InfoPacker()
        self.pending: tuple[str, Any] | None = None

    def submit(self, command: str, payload: Any) -> None:
        self.pending = (command, payload)

    def result(self) -> Any:
        if self.pending is None:
            raise RuntimeError("shard 0: a result asked for with no command submitted")
        command, payload = self.pending
        self.pending = None
        return run_command(self.env, self.packer, command, payload)

    def stop(self) -> None:
        """Close shard 0's env (its conversations' sessions; again is nothing), as a
        worker's ends with its process."""
        self.env.close()


class _Worker:
    """A shard in a worker process, reached through a pipe."""

    def __init__(self, ctx: Any, index: int, num_envs: int, kwargs: dict[str, Any]):
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker, args=(child, num_envs, kwargs), daemon=True,
                                name=f"duplexsim-env-shard-{index}")
        self.proc.start()
        child.close()

    def submit(self, command: str, payload: Any) -> None:
        try:
            self.conn.send((command, payload))
        except (BrokenPipeError, EOFError, OSError):
            raise WorkerDied(self.exit_code()) from None

    def result(self) -> Any:
        try:
            status, value = self.conn.recv()
        except (EOFError, OSError):
            raise WorkerDied(self.exit_code()) from None
        if status == "error":
            raise value
        return value

    def exit_code(self) -> int | None:
        self.proc.join(timeout=1.0)
        return self.proc.exitcode

    def stop(self) -> None:
        self.conn.close()
        self.proc.join(timeout=5.0)
        if self.proc.is_alive():
            self.proc.terminate()
            self.proc.join()


class WorkerDied(RuntimeError):
    """A worker process ended without answering."""


class ShardedVectorEnv(ConversationAccess, VectorEnv):
    """``num_envs`` conversations of ``duplexsim/TurnTaking-v0`` in ``workers`` processes
    (this one and ``workers - 1`` more).

    Arguments as :class:`~duplexsim.envs.vector.TurnTakingVectorEnv` (``scenario`` may be a
    list, one per conversation), plus ``workers`` (2..num_envs). Attributes and methods of
    the conversations through :meth:`get_attr`, :meth:`set_attr` and :meth:`call` (values
    from a worker must pickle). Every action is checked against the action space before
    any shard moves (the one-process env ignores an autoreset conversation's action
    unchecked; here it must be valid too).
    """

    metadata = {"render_modes": [], "autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(self, num_envs: int = 2, workers: int = 2, **env_kwargs: Any):
        check_num_envs(num_envs)
        if isinstance(workers, bool) or not isinstance(workers, int) \
                or not 2 <= workers <= num_envs:
            raise ValueError(f"workers: {workers!r} for num_envs={num_envs} (allowed: an int "
                             f"2..num_envs; 1 = the one-process env)")
        refuse_shared_objects(env_kwargs, num_envs)
        scenarios = env_kwargs.pop("scenario", None)
        if isinstance(scenarios, list | tuple) and len(scenarios) != num_envs:
            raise ValueError(f"scenario: {len(scenarios)} scenarios for num_envs={num_envs} "
                             "(allowed: one scenario, or one per env)")
        self.num_envs = num_envs
        self.shards = split(num_envs, workers)
        self.closed = True  # until every shard is up
        self._unpacker = InfoPacker()

        def kwargs_of(shard: range) -> dict[str, Any]:
            if isinstance(scenarios, list | tuple):
                return {**env_kwargs, "scenario": list(scenarios[shard.start:shard.stop])}
            return {**env_kwargs, "scenario": scenarios}

        ctx = multiprocessing.get_context("spawn")
        self._handles: list[Any] = [
            _Worker(ctx, k, len(shard), kwargs_of(shard))
            for k, shard in enumerate(self.shards) if k > 0]
        try:  # shard 0 here, built while the workers start
            here = _Here(self._wrap(0, lambda: TurnTakingVectorEnv(
                num_envs=len(self.shards[0]), **kwargs_of(self.shards[0]))))
        except BaseException:
            self._stop()
            raise
        self._handles.insert(0, here)
        self.closed = False
        try:
            spaces = [spaces_of(here.env)] + self._collect(range(1, workers))
        except BaseException:
            self._stop()
            raise
        obs_space, act_space, mode = spaces[0]
        for k, (o, a, _) in enumerate(spaces):
            if (o, a) != (obs_space, act_space):
                self._stop()
                raise ValueError(f"scenario: shard {k}'s conversations have other spaces than "
                                 "shard 0's (allowed: scenarios with the same chunk_ms and "
                                 "units)")
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
            raise RuntimeError(f"{where} died (exit code {died}); the vector env is closed "
                               "(make a new one)") from None
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
            raise RuntimeError("the vector env is closed (make a new one)")
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
            raise retyped(exc, "", "; the vector env is closed (make a new one)") from None
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
                raise ValueError(f"actions[{i}]: {action!r} is not in {space} (allowed: "
                                 "integers in the action space)")
        return batch

    def apply(self, indices: Sequence[int], op: str, name: str, *args: Any,
              **kwargs: Any) -> list[Any]:
        """``op`` (``"get"``, ``"set"`` with one value, ``"call"``) on the conversations
        ``indices``, in that order, each in its shard."""
        self.check_indices(indices)
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


def concat_obs(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """The workers' batched observations as one batch, in conversation order."""
    return {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}


def concat_infos(parts: list[dict[str, Any]], sizes: list[int]) -> dict[str, Any]:
    """The workers' batched infos as one, in conversation order, as Gymnasium's
    ``VectorEnv._add_info`` would have built it env by env: a key some worker lacks gets
    its empty value there (0, False for its ``_key`` mask, None in an object array); dict
    values are merged key by key."""
    keys: list[str] = []
    for part in parts:
        keys += [k for k in part if k not in keys]
    out: dict[str, Any] = {}
    for key in keys:
        values = [part.get(key) for part in parts]
        if any(isinstance(v, dict) for v in values):
            out[key] = concat_infos([v if isinstance(v, dict) else {} for v in values], sizes)
            continue
        like = next(v for v in values if v is not None)
        filled = [v if v is not None else
                  np.full(n, None, object) if like.dtype == object else
                  np.zeros(n, like.dtype) for v, n in zip(values, sizes, strict=True)]
        out[key] = np.concatenate(filled)
    return out


class InfoPacker:
    """A batched info dict in few arrays, for the pipe: the leaves of one dtype stacked
    into one matrix (pickling a few arrays, not dozens), the layout sent only when it
    changes. The parent's instance merges the workers' packs back into one info dict."""

    def __init__(self) -> None:
        self.layout: tuple | None = None  # the last layout sent (worker side)
        self.layouts: dict[int, tuple] = {}  # each worker's last layout (parent side)

    def pack(self, info: dict[str, Any]) -> tuple[tuple | None, dict[str, np.ndarray],
                                                  list[Any]]:
        """(layout or None if unchanged, one matrix per dtype, the other leaves)."""
        leaves: list[tuple[tuple[str, ...], Any]] = []
        _leaves(info, (), leaves)
        layout: list[tuple[tuple[str, ...], str | None, int]] = []
        groups: dict[str, list[np.ndarray]] = {}
        others: list[Any] = []
        for path, value in leaves:
            if isinstance(value, np.ndarray) and value.ndim == 1 and value.dtype != object:
                group = groups.setdefault(value.dtype.str, [])
                layout.append((path, value.dtype.str, len(group)))
                group.append(value)
            else:
                layout.append((path, None, len(others)))
                others.append(value)
        key = tuple(layout)
        sent = None if key == self.layout else key
        self.layout = key
        return sent, {d: np.stack(g) for d, g in groups.items()}, others

    def merge(self, packs: list[tuple], sizes: list[int]) -> dict[str, Any]:
        """The workers' packs (in worker order) as one batched info dict."""
        for k, (layout, _, _) in enumerate(packs):
            if layout is not None:
                self.layouts[k] = layout
        layouts = [self.layouts[k] for k in range(len(packs))]
        if any(layout != layouts[0] for layout in layouts):  # rare: the keys differ
            return concat_infos([_unpack(layout, groups, others) for layout, (_, groups, others)
                                 in zip(layouts, packs, strict=True)], sizes)
        groups = {d: np.concatenate([p[1][d] for p in packs], axis=1) for d in packs[0][1]}
        others = [_concat_leaf([p[2][i] for p in packs], sizes)
                  for i in range(len(packs[0][2]))]
        return _unpack(layouts[0], groups, others)


def _leaves(info: dict[str, Any], prefix: tuple[str, ...],
            out: list[tuple[tuple[str, ...], Any]]) -> None:
    for key, value in info.items():
        if isinstance(value, dict) and value:
            _leaves(value, (*prefix, key), out)
        else:
            out.append(((*prefix, key), value))


def _unpack(layout: tuple, groups: dict[str, np.ndarray], others: list[Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for path, dtype, row in layout:
        node = out
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = others[row] if dtype is None else groups[dtype][row]
    return out


def _concat_leaf(values: list[Any], sizes: list[int]) -> Any:
    """One non-stacked leaf (an object array, an empty dict) across the workers."""
    if all(isinstance(v, np.ndarray) for v in values):
        return np.concatenate(values)
    return concat_infos([{"v": v} for v in values], sizes)["v"]
