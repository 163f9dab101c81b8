"""Recipe validation and batches: keep_best ends a stage on its lowest validation loss,
the validation loss is the mean over all its targets and keeps its rows under grad_accum,
an accumulated step is one batch's step, a val split that cannot validate is named."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).parents[1] / "models"))
from syncllm_fixtures import synthetic_dialogues, tiny_card  # noqa: E402
from test_recipe import _trainer  # noqa: E402  (tests/training is on the path)

from duplexsim.training.distributed import Dist
from duplexsim.training.recipe import build_data, make_vocab, train_agent
from duplexsim.training.trainer import Trainer


@pytest.mark.parametrize("keep_best", [True, False])
def test_keep_best_ends_the_stage_on_its_lowest_validation_loss(tmp_path, keep_best) -> None:
    """A constant high rate overshoots: validation loss bottoms out mid-stage, then rises."""
    from dataclasses import replace

    card = tiny_card(steps=10)
    card = replace(card, train=replace(card.train, val_every=1, keep_best=keep_best),
                   stage3=replace(card.stage3, lr=0.05, schedule="constant"))
    trainer, train, val = _trainer(card, tmp_path)
    trainer.train_stage("stage3", train["stage3"], val["stage3"])
    vals = [(r["step"], r["val_loss"]) for r in trainer.run.log if r["val_loss"] != ""]
    best_step, best = min(vals, key=lambda sv: sv[1])
    final = vals[-1][1]
    assert best < final and best_step < 10  # the run does overfit, or this tests nothing
    ends_on = trainer.validate(val["stage3"])  # the weights the stage leaves in the model
    last = trainer.run.log[-1]
    assert last["val_loss"] == final  # the log keeps the last weights' loss ...
    if keep_best:  # ... and says which weights the stage ends on
        assert (last["kept_step"], last["kept_val_loss"]) == (best_step, best)
        assert ends_on == pytest.approx(best, abs=0)
        assert trainer.run.done["stage3"] == best and trainer.run.kept["stage3"] == best_step
    else:
        assert last["kept_step"] == 10 and ends_on == pytest.approx(final, abs=0)
        assert trainer.run.done["stage3"] == final
    assert not trainer.run.best  # the copy is dropped once the stage ends


def test_a_split_without_a_chunk_of_units_is_named_not_a_nan_loss() -> None:
    """A validation dialogue shorter than one chunk gave all-padding rows: a loss of nan
    over no targets and "lower stage3.lr"."""
    from syncllm_fixtures import Dlg, Seg

    from duplexsim.errors import InputError

    card = tiny_card(steps=2)
    short = Dlg("short", np.array([[1, 2, 3], [0, 0, 0]], dtype=np.int64),
                [Seg(0, 0.0, 0.12, "yeah")])
    vocab, tok = make_vocab(card, synthetic_dialogues())
    with pytest.raises(InputError, match="the validation split: stage3: no dialogue has one "
                                         r"chunk \(160 ms\) of units"):
        build_data(card, vocab, tok, synthetic_dialogues()[:2], [short])


def test_an_agent_without_val_dialogues_says_it_validated_on_training_ones(tmp_path) -> None:
    """No val split: every validation loss, and keep_best's choice, is a training loss;
    agent.json says so instead of calling them validation losses without a word."""
    info = train_agent(tiny_card(steps=1), synthetic_dialogues()[:2], [], tmp_path / "agent",
                       progress=False)
    assert info["validated_on"] == "train"
    assert json.loads((tmp_path / "agent" / "agent.json").read_text())["validated_on"] == "train"


def short_and_full_row(split: int) -> tuple[Any, Any, list[torch.Tensor]]:
    """A tiny card, its vocabulary and two stage-3 rows of its train (``split`` 0) or val
    (1) data, one cut to 5 targets and padding, one full."""
    card = tiny_card(steps=2)
    dialogues = synthetic_dialogues()
    vocab, tok = make_vocab(card, dialogues)
    data = build_data(card, vocab, tok, dialogues[:2], dialogues[2:])[split]
    full = data["stage3"].batch(0, n_seqs=2)
    short = full.clone()
    short[0, 6:] = vocab.pad  # 5 targets, then padding
    return card, vocab, [short[:1], full[1:]]


@pytest.mark.parametrize("turn_weight", [1.0, 3.0])
def test_grad_accum_takes_the_same_step_as_one_batch_of_its_rows(tmp_path, turn_weight) -> None:
    """Accumulation is a memory knob: two micro-batches of one row each step as one batch of
    both rows. It averaged the micro-batches' means, so a row of 5 targets (the rest padding)
    weighed as much as a row of 64: 13x each of its targets (review)."""
    import dataclasses

    card, vocab, rows = short_and_full_row(split=0)

    class Fixed:  # the same two rows, as two micro-batches or as one batch
        def __init__(self, accum: int) -> None:
            self.accum = accum

        def batch(self, step: int, micro: int = 0, rank: int = 0, progress: float = 0.0):
            return rows[micro] if self.accum == 2 else torch.cat(rows)

    grads, losses = [], []
    for accum in (1, 2):
        stage = dataclasses.replace(card.stage3, batch_tokens=128, grad_accum=accum,
                                    turn_weight=turn_weight)
        trainer = Trainer(dataclasses.replace(card, stage3=stage), vocab, tmp_path / f"{accum}",
                          Dist(), progress=False)
        trainer.optimizer = trainer.new_optimizer(stage)
        losses.append(trainer.step(Fixed(accum), stage, 0, 2))  # type: ignore[arg-type]
        grads.append(torch.cat([p.grad.flatten() for p in trainer.model.parameters()]))
    assert losses[1] == pytest.approx(losses[0], rel=1e-5)
    assert torch.allclose(grads[1], grads[0], rtol=1e-4, atol=1e-7)


def test_the_validation_loss_is_the_mean_over_all_its_targets(tmp_path) -> None:
    """Validation averaged its batches' means, so a batch of short rows (stage 1 starts at a
    random segment: a row may hold 5 targets, the rest padding) weighed as much as a batch
    of full ones: 4.758 against a per-target 4.663 on a trained tiny agent's stage 1 (review).
    Two batches of one row each now give the loss of one batch of both rows."""
    import dataclasses

    card, vocab, rows = short_and_full_row(split=1)

    class Fixed:  # the same two rows, as two validation batches or as one
        def __init__(self, n: int) -> None:
            self.n = n

        def batch(self, step: int, micro: int = 0, rank: int = 0, progress: float = 0.0,
                  n_seqs: int | None = None):
            return rows[step - 10**6] if self.n == 2 else torch.cat(rows)

    losses = []
    for n in (1, 2):
        c = dataclasses.replace(card, train=dataclasses.replace(card.train, val_batches=n))
        trainer = Trainer(c, vocab, tmp_path / f"{n}", Dist(), progress=False)
        trainer.run.stage = "stage3"
        losses.append(trainer.validate(Fixed(n)))  # type: ignore[arg-type]
    assert losses[1] == pytest.approx(losses[0], rel=1e-6)


def test_the_validation_set_does_not_shrink_with_grad_accum(tmp_path) -> None:
    """A validation batch was one micro-batch's rows, so ``grad_accum = 2`` validated on half
    the rows (the tiny card: 2 instead of 4, val_loss 5.377 against 5.429 after stage 1).
    Now every ``grad_accum`` validates the same rows: the same weights, the same loss."""
    import dataclasses

    card = tiny_card(steps=2)
    losses, rows = [], []
    for accum in (1, 2, 4):
        stage = dataclasses.replace(card.stage1, grad_accum=accum)
        c = dataclasses.replace(card, stage1=stage, stage2=stage, stage3=stage)
        trainer, _, val = _trainer(c, tmp_path / f"{accum}")
        trainer.run.stage = "stage2"
        seen: list[int] = []
        real = trainer.loss
        trainer.loss = lambda b, *a, seen=seen, real=real, **k: (  # type: ignore[method-assign]
            seen.append(len(b)), real(b, *a, **k))[1]
        losses.append(trainer.validate(val["stage2"]))
        rows.append(seen)
    assert rows == [[4], [2, 2], [1, 1, 1, 1]]  # one micro-batch's rows at a time
    assert losses[1] == pytest.approx(losses[0], rel=1e-6)
    assert losses[2] == pytest.approx(losses[0], rel=1e-6)
