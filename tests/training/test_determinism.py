"""Same seed and card -> byte-identical ``model.safetensors``, alone and beside a CPU load.

Budgets are steps (issue 16): nothing the trainer does may depend on how fast the machine
is. The load is a real concurrent process running 2-thread torch matmuls; the loaded run
also carries a ``--max-minutes`` guard that does not fire, which must change nothing.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parents[1] / "models"))
from syncllm_fixtures import synthetic_dialogues, tiny_card  # noqa: E402

from duplexsim.bench.load import torch_load  # noqa: E402
from duplexsim.training.recipe import train_agent  # noqa: E402


def _train(out: Path, max_minutes: float | None = None) -> bytes:
    dialogues = synthetic_dialogues()
    info = train_agent(tiny_card(steps=6), dialogues[:2], dialogues[2:], out,
                       max_minutes=max_minutes, progress=False)
    assert info["stopped_early"] is None
    return (out / "model" / "model.safetensors").read_bytes()


def test_same_seed_and_card_give_identical_weights_alone_and_under_load(tmp_path) -> None:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        alone = _train(tmp_path / "alone")
        with torch_load() as load:
            loaded = _train(tmp_path / "loaded", max_minutes=60.0)
            assert load.poll() is None  # the load ran the whole time
    finally:
        torch.set_num_threads(threads)
    assert len(alone) > 1000 and loaded == alone
