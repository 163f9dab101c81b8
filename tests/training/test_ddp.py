"""DDP on CPU: two gloo processes under torchrun train the tiny card to identical weights,
stop together when the wall-clock guard fires on one rank only (issue 15), and share the
validation set."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

WORKER = Path(__file__).parent / "ddp_worker.py"


def test_two_gloo_processes_train_to_identical_weights_and_stop_together(tmp_path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "PYTHONPATH": str(Path(__file__).parents[2])}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node",
           "2", str(WORKER), str(tmp_path)]
    # a rank left waiting for the other would hang: the timeout turns that into a failure
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r0, r1 = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1))
    assert r0["world"] == r1["world"] == 2 and r0["steps"]["world"] == 2
    # the card's steps: every stage done, the same weights on both ranks
    assert r0["steps"]["stopped"] is None and r0["steps"]["done"] == ["stage1", "stage2", "stage3"]
    assert r0["steps"]["sha"] == r1["steps"]["sha"]
    # buffers (the rotary inv_freq) are not re-broadcast before every forward: they are the
    # config's, never trained, and stay the same on both ranks without it (review)
    assert r0["steps"]["broadcast_buffers"] is False
    assert r0["steps"]["buffers"] == r1["steps"]["buffers"]
    # the guard: rank 0's clock stops every rank at the same step, with the same weights
    stop = {"reason": "max_minutes", "max_minutes": 3 / 60, "stage": "stage1", "step": 2,
            "planned_steps": 4, "skipped_stages": ["stage2", "stage3"]}
    assert r0["guard"]["stopped"] == stop
    assert r1["guard"]["stopped"] == {**stop, "max_minutes": 1e9 / 60}
    assert r0["guard"]["sha"] == r1["guard"]["sha"] != r0["steps"]["sha"]
    # rank 0 alone wrote the checkpoint, at the step where both stopped
    import torch

    state = torch.load(tmp_path / "guard" / "checkpoints" / "last.pt", weights_only=True)
    assert (state["stage"], state["step"]) == ("stage1", 2)
    # the ranks weigh by their targets: a short row on rank 0 and a full one on rank 1 step
    # as one process with both (a mean of the ranks' means weighed the short row's 5 targets
    # as much as the full row's 64)
    ddp, alone = (torch.load(tmp_path / f"grads{n}.pt", weights_only=True) for n in (2, 1))
    assert torch.allclose(ddp, alone, rtol=1e-4, atol=1e-7)
    # accumulation syncs the gradients once a step, after its last micro-batch (nanoGPT's
    # require_backward_grad_sync): every backward all-reduced, grad_accum times the traffic
    # (review); the ranks still end the step on one gradient
    one, three = r0["syncs"]["1"], r0["syncs"]["3"]
    assert one["calls"] >= 1 and three["calls"] == one["calls"]
    assert r1["syncs"]["3"]["grad"] == three["grad"] and r1["syncs"]["1"]["grad"] == one["grad"]
    # validation: each rank ran the whole set; now rank r runs micro-batches r, r + 2, ...
    # (of 3: two and one), on the model itself, not the DDP wrapper (the ranks run different
    # numbers: none may wait for another in a collective of the wrapper's forward)
    v0, v1 = r0["validation"], r1["validation"]
    assert v0["ddp"]["forwards"] == {"model": 2, "wrapper": 0}
    assert v1["ddp"]["forwards"] == {"model": 1, "wrapper": 0}
    assert v0["alone"]["forwards"] == {"model": 3, "wrapper": 0}
    # every rank gets the one mean: the sums of loss x targets and of targets all-reduced
    assert v0["ddp"]["val_loss"] == v1["ddp"]["val_loss"]
    assert r0["steps"]["val_loss"] == r1["steps"]["val_loss"]
    assert r0["steps"]["logged"] == r1["steps"]["logged"]
    # and it is one process's mean over the same weights: each batch's float32 loss is the
    # same computation on either side; only the float64 sums run in another order (one
    # process: math.fsum of all; DDP: each rank's fsum, then their sum), at most a few ulps
    # apart (~1e-15 of a loss near 6; equal here). 1e-12 stays far below what a batch left
    # out or counted twice moves this mean (over 1e-3: batch losses 5.812, 5.801, 5.809)
    assert v0["ddp"]["val_loss"] == pytest.approx(v0["alone"]["val_loss"], rel=1e-12, abs=0)
