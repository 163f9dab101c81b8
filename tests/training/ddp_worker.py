"""One rank of the 2-process DDP smoke test (run by ``test_ddp.py`` under torchrun, gloo).

Trains the tiny card twice in one process group and writes ``OUT/rank<R>.json`` with a
hash of the weights each run ended on and where it stopped:

- ``steps``: the card's steps, no guard;
- ``guard``: ``--max-minutes`` with clocks that disagree: rank 0's clock reaches the limit
  before the 3rd step of stage 1, every other rank's never does. Rank 0 decides for all,
  so every rank stops after the same step (before, each rank re-planned from its own clock
  and the others waited for it in a backward pass forever);
- ``grads{2,1}.pt``: the gradient of one step of a short and a full row, one a rank, and of
  one process with both (:func:`one_step_grads`);
- ``validation``: the validation loss of one set of weights over 3 micro-batches, the ranks
  sharing them, and (rank 0) of one process (:func:`validation`).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parents[1] / "models"))
from syncllm_fixtures import synthetic_dialogues, tiny_card  # noqa: E402

from duplexsim.training.guards import WallGuard
from duplexsim.training.recipe import fit


def weights_sha(model: torch.nn.Module) -> str:
    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def main(out: Path) -> None:
    torch.set_num_threads(1)
    rank = int(os.environ["RANK"])
    card, dialogues = tiny_card(steps=4), synthetic_dialogues()
    result = {"rank": rank, "world": int(os.environ["WORLD_SIZE"])}
    for name in ("steps", "guard"):
        guard = None
        if name == "guard":
            ticks = iter(range(10**6))
            limit_s = 3.0 if rank == 0 else 1e9
            guard = WallGuard(max_minutes=limit_s / 60, clock=lambda t=ticks: float(next(t)))
        trainer, _ = fit(card, dialogues[:2], dialogues[2:], out / name, guard, progress=False)
        buffers = [b.detach().cpu().numpy().tobytes() for _, b in trainer.model.named_buffers()]
        result[name] = {"sha": weights_sha(trainer.model), "stopped": trainer.run.stopped,
                        "done": sorted(trainer.run.done), "world": trainer.dist.world,
                        "broadcast_buffers": trainer.ddp.broadcast_buffers,
                        "val_loss": trainer.run.done,
                        "logged": [r["val_loss"] for r in trainer.run.log],
                        "buffers": hashlib.sha256(b"".join(buffers)).hexdigest()}
    one_step_grads(out, rank)
    result["validation"] = validation(out, rank)
    result["syncs"] = gradient_syncs(rank)
    (out / f"rank{rank}.json").write_text(json.dumps(result))
    import gc

    import torch.distributed as dist

    # the trainers above are garbage now: free their DDP wrappers while the process group is
    # up. Freed at interpreter exit instead, one could deadlock (its gloo group's destructor,
    # holding the GIL, waited for gloo's worker thread, which waited for the GIL after the
    # final barrier: seen once in four runs)
    gc.collect()
    dist.barrier()  # both ranks have written; then leave together
    dist.destroy_process_group()


def one_step_grads(out: Path, rank: int) -> None:
    """``grads``: one step where rank 0 has a row of 5 targets (the rest padding) and rank 1
    a full one, and (rank 0) the same step of one process on both rows in one batch."""
    from dataclasses import replace

    from duplexsim.training.distributed import Dist, setup_distributed
    from duplexsim.training.recipe import build_data, make_vocab
    from duplexsim.training.trainer import Trainer

    card, dialogues = tiny_card(steps=2), synthetic_dialogues()
    vocab, tok = make_vocab(card, dialogues)
    rows = build_data(card, vocab, tok, dialogues[:2], dialogues[2:])[0]["stage3"].batch(
        0, n_seqs=2)
    rows[0, 6:] = vocab.pad

    class Fixed:  # each rank its own row, or one process both
        def batch(self, step: int, micro: int = 0, rank: int = 0, progress: float = 0.0,
                  ) -> torch.Tensor:
            return rows[rank:rank + 1] if ranks > 1 else rows

    for ranks, dist in ((2, setup_distributed()), (1, Dist())):
        stage = replace(card.stage3, batch_tokens=64 * (3 - ranks))  # 1 row a rank, or 2
        trainer = Trainer(replace(card, stage3=stage), vocab, out / f"grads{ranks}", dist,
                          progress=False)
        trainer.optimizer = trainer.new_optimizer(stage)
        trainer.step(Fixed(), stage, 0, 2)  # type: ignore[arg-type]
        if rank == 0:
            torch.save(torch.cat([p.grad.flatten() for p in trainer.model.parameters()]),
                       out / f"grads{ranks}.pt")


def validation(out: Path, rank: int) -> dict[str, object]:
    """The validation loss of the initial weights over 3 micro-batches (``val_batches = 3``)
    under DDP, and on rank 0 of one process; the forwards each ran, of the model and of the
    DDP wrapper."""
    from dataclasses import replace

    from duplexsim.training.distributed import Dist, setup_distributed
    from duplexsim.training.recipe import build_data, make_vocab
    from duplexsim.training.trainer import Trainer

    card, dialogues = tiny_card(steps=2), synthetic_dialogues()
    card = replace(card, train=replace(card.train, val_batches=3))
    vocab, tok = make_vocab(card, dialogues)
    val = build_data(card, vocab, tok, dialogues[:2], dialogues[2:])[1]["stage3"]
    result: dict[str, object] = {}
    for name, dist in (("ddp", setup_distributed()), ("alone", Dist())):
        if name == "alone" and rank != 0:
            continue
        trainer = Trainer(card, vocab, out / f"val_{name}", dist, progress=False)
        trainer.run.stage = "stage3"
        model = forwards(trainer.model)
        wrapper = forwards(trainer.ddp) if trainer.ddp is not trainer.model else [0]
        loss = trainer.validate(val)
        result[name] = {"val_loss": loss, "forwards": {"model": model[0], "wrapper": wrapper[0]}}
    return result


def forwards(module: torch.nn.Module) -> list[int]:
    """A counter of ``module``'s forward calls from now on (its one item)."""
    calls = [0]

    def count(*_: object) -> None:
        calls[0] += 1
    module.register_forward_hook(count)
    return calls


def gradient_syncs(rank: int) -> dict[str, object]:
    """The gradient all-reduces (DDP comm hook calls) of one step of ``grad_accum`` 1 and 3
    micro-batches, and a hash of the gradient it leaves on this rank."""
    from dataclasses import replace

    from torch.distributed.algorithms.ddp_comm_hooks.default_hooks import allreduce_hook

    from duplexsim.training.distributed import setup_distributed
    from duplexsim.training.recipe import build_data, make_vocab
    from duplexsim.training.trainer import Trainer

    card, dialogues = tiny_card(steps=2), synthetic_dialogues()
    vocab, tok = make_vocab(card, dialogues)
    data = build_data(card, vocab, tok, dialogues[:2], dialogues[2:])[0]["stage3"]
    out: dict[str, object] = {}
    for accum in (1, 3):
        stage = replace(card.stage3, batch_tokens=64 * accum, grad_accum=accum)
        trainer = Trainer(replace(card, stage3=stage), vocab, Path("unused"),
                          setup_distributed(), progress=False)
        calls = [0]

        # (no annotations: DDP refuses a hook whose annotations are not its own types, and
        # this module's are strings)
        def counting(state, bucket, calls=calls):  # type: ignore[no-untyped-def]  # noqa: ANN001, ANN202
            calls[0] += 1
            return allreduce_hook(state, bucket)  # type: ignore[arg-type]

        trainer.ddp.register_comm_hook(None, counting)  # type: ignore[operator]
        trainer.optimizer = trainer.new_optimizer(stage)
        trainer.step(data, stage, 0, 2)
        grad = torch.cat([p.grad.flatten() for p in trainer.model.parameters()])
        out[str(accum)] = {"calls": calls[0],
                           "grad": hashlib.sha256(grad.numpy().tobytes()).hexdigest()}
    return out


if __name__ == "__main__":
    main(Path(sys.argv[1]))
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # no interpreter teardown of torch's distributed state: nothing left to write
