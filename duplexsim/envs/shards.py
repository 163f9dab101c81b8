"""The shards of a :class:`~duplexsim.envs.sharded.ShardedVectorEnv`, wherever they run.

Owns the commands a shard answers (:func:`run_command`: reset, step, apply, close on its
native :class:`~duplexsim.envs.vector.TurnTakingVectorEnv`), a worker process's loop
(build its shard's env, then answer commands through its pipe until closed; an error is
sent back to be raised in the parent), and the two handles the sharded env drives alike:
:class:`LocalShard` (shard 0, in the calling process) and :class:`WorkerShard` (a shard
in a spawned worker process). Must not touch the envs' internals: a shard only calls the
native vector env's public methods.
"""

from __future__ import annotations

import signal
from multiprocessing.connection import Connection
from typing import Any

from gymnasium.vector import AutoresetMode

from duplexsim.envs.shard_results import InfoPacker
from duplexsim.envs.vector import TurnTakingVectorEnv
from duplexsim.threads import use_threads


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


class LocalShard:
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


class WorkerShard:
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

