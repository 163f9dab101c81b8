"""Recipe checkpoints: what a resume reads is kept and checked (digest, card, dialogues,
process count, generators, a mapped read); a damaged or foreign checkpoint is refused in
one line."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parents[1] / "models"))
from syncllm_fixtures import synthetic_dialogues, tiny_card  # noqa: E402
from test_recipe import _trainer  # noqa: E402  (tests/training is on the path)

from duplexsim.training.distributed import Dist
from duplexsim.training.guards import WallGuard
from duplexsim.training.recipe import train_agent, train_stages


def _rewrite(state: dict[str, Any], ckpt: Path) -> None:
    """Write ``state`` over checkpoint ``ckpt`` as a checkpoint from before digests (or one
    whose digest a kill cut off): a hand-made file the digest would refuse otherwise."""
    from duplexsim.training.checkpoints import digest_path

    torch.save(state, ckpt)
    digest_path(ckpt).unlink(missing_ok=True)


def test_checkpoint_errors(tmp_path) -> None:
    card = tiny_card(steps=2)
    trainer, train, val = _trainer(card, tmp_path)
    train_stages(trainer, train, val)
    other = tiny_card(steps=3)
    mismatched, _, _ = _trainer(other, tmp_path)
    with pytest.raises(ValueError, match="different agent card.*stage1"):
        mismatched.restore()
    # val_every moves keep_best's choice: refused, and named alone beside the allowed keys
    import dataclasses

    validating = dataclasses.replace(card, train=dataclasses.replace(
        card.train, val_every=1, log_every=1))
    with pytest.raises(ValueError, match=r"keys differ: train\.val_every\)"):
        _trainer(validating, tmp_path)[0].restore()
    # a checkpoint written before a card key existed still resumes (the key's default)
    ckpt = tmp_path / "checkpoints" / "last.pt"
    state = torch.load(ckpt, weights_only=True)
    for stage in ("stage1", "stage2", "stage3"):
        del state["card"][stage]["turn_weight"]
    _rewrite(state, ckpt)
    trainer.restore()
    (tmp_path / "checkpoints" / "last.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="corrupt checkpoint"):
        trainer.restore()


def test_a_checkpoint_with_a_flipped_byte_is_refused_and_one_without_digest_resumes(
        tmp_path) -> None:
    """torch keeps no checksum: a flipped bit in last.pt resumed silently from other weights.
    Its sha256 is now kept beside it (last.pt.json) and checked; a checkpoint without one
    (written before, or a kill between the checkpoint's rename and its digest) resumes."""
    from duplexsim.digests import file_digest
    from duplexsim.errors import InputError
    from duplexsim.training.checkpoints import digest_path

    card = tiny_card(steps=2)
    trainer, train, val = _trainer(card, tmp_path)
    train_stages(trainer, train, val)
    ckpt = tmp_path / "checkpoints" / "last.pt"
    assert json.loads(digest_path(ckpt).read_text()) == {"sha256": file_digest(ckpt)}
    good = ckpt.read_bytes()
    flipped = bytearray(good)
    flipped[len(good) // 2] ^= 0x01
    ckpt.write_bytes(bytes(flipped))
    with pytest.raises(InputError) as refused:
        _trainer(card, tmp_path)[0].restore()
    assert re.fullmatch(r".*checkpoints/last\.pt: corrupted or modified since it was written "
                        r"\(its sha256 [0-9a-f]{16}\.\.\. is not last\.pt\.json's [0-9a-f]{16}"
                        r"\.\.\.\) \(allowed: .*delete checkpoints/ to start training over\)",
                        str(refused.value))
    digest_path(ckpt).write_text("{")
    with pytest.raises(InputError, match=r"last\.pt\.json: sha256: unreadable"):
        _trainer(card, tmp_path)[0].restore()
    ckpt.write_bytes(good)
    digest_path(ckpt).unlink()
    resumed = _trainer(card, tmp_path)[0]
    resumed.restore()
    assert resumed.run.step == trainer.run.step and resumed.run.done == trainer.run.done


def test_a_checkpoint_of_other_dialogues_is_not_resumed(tmp_path) -> None:
    """The same card on another corpus would mix the two into one agent's weights."""
    from duplexsim.training.checkpoints import data_fingerprint

    card = tiny_card(steps=2)
    dialogues = synthetic_dialogues()
    train_agent(card, dialogues[:2], dialogues[2:], tmp_path / "a", progress=False)
    other = synthetic_dialogues(seed=7)
    assert data_fingerprint(other[:2], other[2:]) != data_fingerprint(dialogues[:2],
                                                                      dialogues[2:])
    with pytest.raises(ValueError, match="checkpoints/last.pt: data: checkpoint was trained "
                                         "on other dialogues"):
        train_agent(card, other[:2], other[2:], tmp_path / "a", progress=False)
    train_agent(card, dialogues[:2], dialogues[2:], tmp_path / "a", progress=False)  # same


@pytest.mark.parametrize("damage", ["no model", "stage9", "step as text", "kept", "best",
                                    "pending", "threads", "precision", "elapsed_s", "done",
                                    "model", "optimizer", "best weights", "elapsed_s as bool",
                                    "best step", "best val_loss", "step past the end"])
def test_a_checkpoint_missing_what_a_resume_reads_is_one_error(tmp_path, damage) -> None:
    """A checkpoint of the right format without its weights, or naming a stage the recipe
    has none of, failed inside restore as a bare KeyError (review); one whose ``kept``,
    ``best``, ``pending``, ``threads``, ``precision`` or ``elapsed_s`` was of another type,
    or held values of one, as a bare TypeError or ValueError, and one whose weights or
    optimizer state do not fit the model as torch's multi-line RuntimeError (review)."""
    from duplexsim.errors import InputError

    card = tiny_card(steps=2)
    trainer, train, val = _trainer(card, tmp_path)
    train_stages(trainer, train, val)
    ckpt = tmp_path / "checkpoints" / "last.pt"
    state = torch.load(ckpt, weights_only=True)
    if damage == "no model":
        del state["model"]
    elif damage == "stage9":
        state["stage"] = "stage9"
    elif damage == "step as text":
        state["step"] = "4"
    elif damage == "step past the end":  # of the card's 2 steps: the stage just ended
        state["step"] = 40
    elif damage == "model":
        state["model"].popitem()
    elif damage == "optimizer":
        state["optimizer"]["param_groups"].pop()
    elif damage in ("best step", "best val_loss"):  # the model's own weights, one bad value
        state["best"] = {"val_loss": 1.0, "step": 1, "model": state["model"],
                         **({"step": "1"} if damage == "best step" else {"val_loss": "low"})}
    elif damage == "elapsed_s as bool":  # a bool is no number of seconds
        state["elapsed_s"] = True
    elif damage == "best weights":  # the stage's end would go back to them
        state["best"] = {"val_loss": 1.0, "step": 1, "model": {"lm_head.weight": torch.ones(1)}}
    else:
        state[damage] = {"kept": [2], "best": {"val_loss": 1.0}, "pending": ["nan?"],
                         "threads": 1, "precision": [1], "elapsed_s": "3 s",
                         "done": {"stage1": "low"}}[damage]
    _rewrite(state, ckpt)
    key = {"no model": "model", "stage9": "stage", "step as text": "step",
           "step past the end": "step",
           "best weights": "best", "elapsed_s as bool": "elapsed_s", "best step": "best",
           "best val_loss": "best"}.get(damage, damage)
    (tmp_path / "agent.json").write_text("{}")  # a guard-stopped run's agent, say
    with pytest.raises(InputError, match=f"last.pt: {key}: .*delete it to start over"):
        _trainer(card, tmp_path)[0].restore()
    assert (tmp_path / "agent.json").is_file()  # refused before a resume would remove it


def test_a_checkpoint_of_another_number_of_processes_is_not_resumed(tmp_path) -> None:
    """Every rank draws its own batches and a ``tokens`` budget is split over the ranks: a
    stage of 8 steps in 2 processes, stopped at step 2 and resumed in one, went on as a
    16-step stage (another lr schedule, half the batch) without a word (review)."""
    import dataclasses

    from duplexsim.errors import InputError

    card = tiny_card(steps=2)
    card = dataclasses.replace(card, stage3=dataclasses.replace(card.stage3, steps=0,
                                                                tokens=16 * 256))
    trainer, train, val = _trainer(card, tmp_path)
    ticks = iter(range(10**6))
    train_stages(trainer, train, val, WallGuard(max_minutes=7 / 60,
                                                clock=lambda: float(next(ticks))))
    assert trainer.run.stopped is not None
    assert (trainer.run.stopped["stage"], trainer.run.stopped["step"]) == ("stage3", 2)
    ckpt = tmp_path / "checkpoints" / "last.pt"
    state = torch.load(ckpt, weights_only=True)
    assert state["world"] == 1
    state["world"] = 2  # as torchrun --nproc-per-node 2 writes it
    _rewrite(state, ckpt)
    with pytest.raises(InputError, match=r"last.pt: world: checkpoint was written by 2 training "
                                         r"processes, this run has 1 .*\(allowed: 2 processes "):
        _trainer(card, tmp_path)[0].restore()
    state["world"] = 1
    _rewrite(state, ckpt)
    trainer = _trainer(card, tmp_path)[0]
    trainer.dist = Dist(rank=0, world=2)  # torchrun --nproc-per-node 2 on a 1-process one
    with pytest.raises(InputError, match=r"written by 1 training process, this run has 2 .*"
                                         r"\(allowed: one process \(no launcher\), "):
        trainer.restore()
    del state["world"]  # a checkpoint from before the count was recorded: not checked
    _rewrite(state, ckpt)
    _trainer(card, tmp_path)[0].restore()


def test_a_checkpoint_keeps_the_generators_a_resume_draws_from(tmp_path) -> None:
    """Only the CPU generator was saved: a CUDA run resumed drew its dropout from a freshly
    seeded GPU generator (review). The CPU state comes back; a ``cuda_rng`` that is no
    tensor is one error, not a TypeError inside ``torch.cuda.set_rng_state``."""
    from duplexsim.errors import InputError

    card = tiny_card(steps=2)
    trainer, train, val = _trainer(card, tmp_path)
    train_stages(trainer, train, val)
    after_save = torch.rand(4)
    resumed = _trainer(card, tmp_path)[0]
    torch.rand(7)  # a new process's generator is elsewhere (a fresh trainer's is as saved)
    resumed.restore()
    assert torch.equal(torch.rand(4), after_save)
    ckpt = tmp_path / "checkpoints" / "last.pt"
    state = torch.load(ckpt, weights_only=True)
    assert "cuda_rng" not in state  # written without CUDA
    state["cuda_rng"] = [1, 2]
    _rewrite(state, ckpt)
    with pytest.raises(InputError, match=r"last.pt: cuda_rng: list .*delete it to start over"):
        _trainer(card, tmp_path)[0].restore()


def test_a_mapped_check_of_a_checkpoint_reads_what_a_resume_reads(tmp_path) -> None:
    """``duplexsim train`` read a resumed checkpoint whole twice (its check, then the resume):
    the check maps it instead (``mmap=True``), with the same contents and errors; a file of
    torch's legacy format, which cannot be mapped, is read (review)."""
    from duplexsim.training.checkpoints import load_checkpoint

    card = tiny_card(steps=2)
    trainer, train, val = _trainer(card, tmp_path)
    train_stages(trainer, train, val)
    ckpt = tmp_path / "checkpoints" / "last.pt"
    read = load_checkpoint(ckpt, card.to_dict(), None)
    mapped = load_checkpoint(ckpt, card.to_dict(), None, mmap=True)
    assert mapped.keys() == read.keys() and mapped["log"] == read["log"]
    for name, tensor in read["model"].items():
        assert torch.equal(mapped["model"][name], tensor), name
    legacy = tmp_path / "legacy.pt"
    torch.save(read, legacy, _use_new_zipfile_serialization=False)
    assert load_checkpoint(legacy, card.to_dict(), None, mmap=True)["step"] == read["step"]
    legacy.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="legacy.pt: corrupt checkpoint"):
        load_checkpoint(legacy, card.to_dict(), None, mmap=True)
