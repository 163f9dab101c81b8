"""The two ways a training run stops before its card's last step.

Owns: the wall-clock guard behind ``--max-minutes`` and the non-finite stop. Must not touch
data, the optimiser or files.

- **Steps are the plan.** A card's step counts fix the learning-rate schedule and every
  batch, so the same seed and card give the same weights on any machine with the same
  kind of CPU and under any load. ``--max-minutes`` never re-plans: it is a guard that
  ends the run at the next step boundary once the wall clock passes the limit, and the
  agent says so (``agent.json``: ``stopped_early``). The checkpoint keeps the stage open,
  so running the same command again without the guard finishes the card exactly as an
  unstopped run would have.
- **A non-finite loss or gradient stops the run** before that update, with one line naming
  the stage and step; checkpoints are only ever written from finite weights.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from duplexsim.errors import DuplexsimError
from duplexsim.training.distributed import Dist, rank0_says


class NonFiniteLossError(DuplexsimError):
    """Training produced a non-finite loss, gradient or weight (message: one line)."""


@dataclass
class WallGuard:
    """``--max-minutes``: a safety stop at a step boundary, never a plan.

    Under DDP, rank 0's clock decides for every rank (:func:`rank0_says`), so all ranks
    stop after the same step instead of one leaving the others waiting in a backward pass.
    """

    max_minutes: float | None = None
    clock: Callable[[], float] = time.perf_counter
    """Seconds; the tests pass a counter to stop at a known step."""
    start_s: float = field(init=False)

    def __post_init__(self) -> None:
        self.start_s = self.clock()

    def expired(self, d: Dist) -> bool:
        """Whether the limit has passed (rank 0's answer on every rank). Every rank must
        ask at the same points; with no limit nothing is exchanged."""
        if self.max_minutes is None:
            return False
        mine = self.clock() - self.start_s >= self.max_minutes * 60
        return rank0_says(mine, d)
