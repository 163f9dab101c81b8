"""One rank of the 2-process DDP smoke test (run by ``test_ddp.py`` under torchrun, gloo).

Trains the tiny card twice in one process group and writes ``OUT/rank<R>.json`` with a
hash of the weights each run ended on and where it stopped:

- ``steps``: the card's steps, no guard;
- ``guard``: ``--max-minutes`` with clocks that disagree: rank 0's clock reaches the limit
  before the 3rd step of stage 1, every other rank's never does. Rank 0 decides for all,
  so every rank stops after the same step (before, each rank re-planned from its own clock
  and the others waited for it in a backward pass forever).
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

from duplexsim.training.recipe import WallGuard, fit  # noqa: E402


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
        result[name] = {"sha": weights_sha(trainer.model), "stopped": trainer.run.stopped,
                        "done": sorted(trainer.run.done), "world": trainer.dist.world}
    (out / f"rank{rank}.json").write_text(json.dumps(result))
    import torch.distributed as dist

    dist.barrier()  # both ranks have written; then leave together
    dist.destroy_process_group()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
