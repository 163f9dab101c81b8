"""Many threads, one batched forward: the model side of simulating conversations in a batch.

Owns :class:`Lockstep` (a round-based barrier that turns the model calls of many threads
into one batched forward per model and round), :class:`SharedStream` (one row of a
:class:`~duplexsim.models.batched.BatchedStreamingLM`, behaving as a
:class:`~duplexsim.models.streaming.StreamState`) and :class:`SharedLM` (a
:class:`~duplexsim.models.streaming.StreamingLM` whose ``logits`` go through the
barrier). Must not know about the simulator or agents: an agent given a ``SharedLM`` and a
``SharedStream`` runs its own unchanged per-token code.

Why threads and a barrier: an agent's decision is ordinary sequential code (estimate the
missing partner chunks, then speak) that asks for next-token logits a few times per
chunk. Rewriting it as a resumable program would fork the agent in two. Instead each
conversation runs in its own thread; a thread that needs logits registers its row and
waits. When every live thread is waiting (or has finished), the last one to arrive runs
one batched forward per model for all registered rows and wakes the others. Between model
calls the threads run Python (SimPy, the agent's bookkeeping) one at a time under the GIL;
the forward, where the time goes, is shared.

Determinism: in every round each live thread contributes exactly one request, so which
rows share a forward depends only on the conversations, not on thread timing. The same
list of conversations therefore gives the same logits, run after run. Against running a
conversation alone, logits differ only by float rounding (see :mod:`.batched`).
"""

from __future__ import annotations

import threading

import torch
from transformers import LlamaForCausalLM

from duplexsim.models.batched import BatchedStreamingLM
from duplexsim.models.streaming import StreamingLM


class Lockstep:
    """A round-based barrier that batches the logits requests of its member threads."""

    def __init__(self) -> None:
        self._cv = threading.Condition()
        self._live = 0
        self._pending: list[tuple[BatchedStreamingLM, int]] = []
        self._round = 0
        self._results: dict[tuple[int, int], torch.Tensor | BaseException] = {}
        self.rounds = 0
        """Rounds run so far (one or more batched forwards each)."""

    def join(self, n: int = 1) -> None:
        """Register ``n`` threads that will each call :meth:`leave` when done.

        Register every thread *before* starting any of them, or a round could run without
        a thread that is about to ask.
        """
        with self._cv:
            self._live += n

    def leave(self) -> None:
        with self._cv:
            self._live -= 1
            if self._pending and len(self._pending) >= self._live:
                self._run_round()

    def logits(self, lm: BatchedStreamingLM, row: int) -> torch.Tensor:
        """Next-token logits of ``row`` of ``lm`` ([V]), computed in this round's batch."""
        with self._cv:
            key = (id(lm), row)
            self._pending.append((lm, row))
            my_round = self._round
            if len(self._pending) >= self._live:
                self._run_round()
            while self._round == my_round:
                self._cv.wait()
            result = self._results.pop(key)
        if isinstance(result, BaseException):
            raise result
        return result

    def _run_round(self) -> None:
        """Forward every pending row (one call per model); called with the lock held."""
        by_model: dict[int, tuple[BatchedStreamingLM, list[int]]] = {}
        for lm, row in self._pending:
            by_model.setdefault(id(lm), (lm, []))[1].append(row)
        for lm, rows in by_model.values():
            rows = sorted(rows)
            try:
                logits = lm.logits(rows)
                for r, row in enumerate(rows):
                    self._results[(id(lm), row)] = logits[r]
            except Exception as e:  # handed to the requesting threads, which raise it
                for row in rows:
                    self._results[(id(lm), row)] = e
        self._pending.clear()
        self._round += 1
        self.rounds += 1
        self._cv.notify_all()


class SharedStream:
    """Row ``row`` of a :class:`BatchedStreamingLM`, with the :class:`StreamState` API the
    agents use (``tokens``, ``len``, ``append``, ``crop``, ``reset``, ``n_forwarded``)."""

    def __init__(self, lm: BatchedStreamingLM, row: int) -> None:
        if not 0 <= row < lm.batch_size:
            raise ValueError(f"SharedStream: row {row} (allowed: 0..{lm.batch_size - 1})")
        self.lm, self.row = lm, row

    @property
    def tokens(self) -> list[int]:
        return self.lm.tokens[self.row]

    @property
    def n_forwarded(self) -> int:
        return self.lm.n_forwarded[self.row]

    def __len__(self) -> int:
        return self.lm.length(self.row)

    def append(self, ids: list[int]) -> None:
        self.lm.append(self.row, ids)

    def crop(self, n: int) -> None:
        self.lm.crop(self.row, n)

    def reset(self) -> None:
        self.lm.reset(self.row)


class SharedLM(StreamingLM):
    """A :class:`StreamingLM` whose forwards are batched with other threads' by ``lockstep``.

    Use it with :class:`SharedStream` states of the same :class:`BatchedStreamingLM`.
    """

    def __init__(self, batched: BatchedStreamingLM, lockstep: Lockstep) -> None:
        super().__init__(batched.model, batched.n_units)
        self.batched, self.lockstep = batched, lockstep

    def logits(self, state: SharedStream) -> torch.Tensor:  # type: ignore[override]
        if state.lm is not self.batched:
            raise ValueError("SharedLM.logits: the stream belongs to another BatchedStreamingLM")
        return self.lockstep.logits(self.batched, state.row)


def shared_streams(model: LlamaForCausalLM, n_units: int, n_streams: int, max_tokens: int,
                   lockstep: Lockstep) -> tuple[SharedLM, list[SharedStream]]:
    """One :class:`SharedLM` and ``n_streams`` rows of a fresh batched cache for ``model``."""
    batched = BatchedStreamingLM(model, n_units, n_streams, max_tokens)
    return SharedLM(batched, lockstep), [SharedStream(batched, b) for b in range(n_streams)]
