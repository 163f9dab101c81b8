"""Processes of one training run: single-process or torchrun/accelerate DDP, and the few
decisions every rank must take together.

Owns: reading the launcher's environment (``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``), the
process group (nccl on CUDA, gloo on CPU; :func:`teardown_distributed` ends it), two
collectives on one flag: every rank agrees (:func:`all_ranks`) and rank 0 decides
(:func:`rank0_says`), and one sum (:func:`sum_ranks`: a step's targets over the ranks).
Must not touch data, models or the optimiser.

Why the collectives: DDP ranks meet in every backward pass, so a rank that leaves the loop
on its own (its clock ran out first, its loss turned non-finite) leaves the others waiting
for it forever. Step counts come from the card and are the same everywhere; anything else
that can end the loop goes through one of these.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch


@dataclass
class Dist:
    """This process's place in the run."""

    rank: int = 0
    world: int = 1
    device: str = "cpu"

    @property
    def main(self) -> bool:
        """Rank 0: the only one that writes files."""
        return self.rank == 0


def launched_world() -> int:
    """The number of training processes the launcher started (``WORLD_SIZE``; 1 without a
    launcher), readable before the process group exists: what depends on it (a checkpoint's
    process count, a ``tokens`` stage's steps) is checked before the data is built."""
    return max(1, int(os.environ.get("WORLD_SIZE", "1")))


def launched_rank() -> int:
    """This process's rank as the launcher set it (``RANK``; 0 without a launcher), readable
    before the process group exists: the CLI's notes and results are said by rank 0 only."""
    return int(os.environ.get("RANK", "0")) if launched_world() > 1 else 0


def setup_distributed() -> Dist:
    """Read torchrun/accelerate env vars; single process when absent."""
    world = launched_world()
    cuda = torch.cuda.is_available()
    if world <= 1:
        return Dist(device="cuda" if cuda else "cpu")
    import torch.distributed as dist

    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        dist.init_process_group("nccl" if cuda else "gloo")
    if cuda:
        torch.cuda.set_device(local)
    return Dist(rank, world, f"cuda:{local}" if cuda else "cpu")


def teardown_distributed() -> None:
    """Destroy the process group if this process has one (``duplexsim train`` at exit, error
    or not): left to the interpreter's exit, NCCL warns that it was never destroyed and
    may hang or leak its communicators. Nothing without one."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def all_ranks(flag: bool, d: Dist) -> bool:
    """True on every rank iff ``flag`` is true on every rank (a MIN all-reduce)."""
    if d.world <= 1:
        return flag
    import torch.distributed as dist

    t = torch.tensor([1 if flag else 0], dtype=torch.int32, device=d.device)
    dist.all_reduce(t, op=dist.ReduceOp.MIN)
    return bool(t.item())


def rank0_says(flag: bool, d: Dist) -> bool:
    """Rank 0's ``flag`` on every rank (a broadcast): one clock decides for the run."""
    if d.world <= 1:
        return flag
    import torch.distributed as dist

    t = torch.tensor([1 if flag else 0], dtype=torch.int32, device=d.device)
    dist.broadcast(t, src=0)
    return bool(t.item())


def sum_ranks(value: float, d: Dist) -> float:
    """The sum of ``value`` over every rank (a SUM all-reduce in float64)."""
    if d.world <= 1:
        return value
    import torch.distributed as dist

    t = torch.tensor([value], dtype=torch.float64, device=d.device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return float(t.item())
