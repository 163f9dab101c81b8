"""Recipe: stage data formats, the agent directory, train_log rows, the time guard,
non-finite losses, bf16, a warmup under DDP, progress bars. Owns ``_trainer``, which the
other test_recipe_*.py files use too."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).parents[1] / "models"))
from syncllm_fixtures import N_UNITS, synthetic_dialogues, tiny_card  # noqa: E402

from duplexsim.training.datasets import StageData, prepare  # noqa: E402
from duplexsim.training.distributed import Dist
from duplexsim.training.guards import NonFiniteLossError, WallGuard
from duplexsim.training.recipe import build_data, fit, make_vocab, train_agent, train_stages
from duplexsim.training.trainer import Trainer


def _trainer(card, out: Path):
    dialogues = synthetic_dialogues()
    vocab, tok = make_vocab(card, dialogues)
    trainer = Trainer(card, vocab, out, Dist(), progress=False)
    train, val = build_data(card, vocab, tok, dialogues[:2], dialogues[2:])
    return trainer, train, val


def test_stage_formats() -> None:
    card = tiny_card()
    dialogues = synthetic_dialogues()
    vocab, tok = make_vocab(card, dialogues)
    prep = prepare(dialogues, vocab, tok)
    s1 = StageData("stage1", card, prep, vocab).batch(0, n_seqs=8)
    assert (s1[:, 0] == vocab.bos).all()
    assert ((s1 == vocab.S1) | (s1 == vocab.S0)).sum() > 0
    assert (s1 >= vocab.text_offset).any() and (s1 < N_UNITS).any()  # text and speech mixed
    # the speech share rises with progress (paper Fig. 4)
    early = StageData("stage1", card, prep, vocab).batch(0, n_seqs=16, progress=0.0)
    late = StageData("stage1", card, prep, vocab).batch(0, n_seqs=16, progress=1.0)
    assert (late < N_UNITS).sum() > (early < N_UNITS).sum()
    for stage in ("stage2", "stage3"):
        b = StageData(stage, card, prep, vocab).batch(3, n_seqs=4)
        assert (b[:, 0] == vocab.S0).all()
        assert not ((b >= vocab.n_units + 2) & (b != vocab.pad)).any()  # no text in duplex
    # stage 2 never overlaps: in every chunk at most one speaker has speech units
    s2 = StageData("stage2", card, prep, vocab).streams[0]
    assert not ((s2[0] != 0) & (s2[1] != 0)).any()
    assert ((s2[0] != 0).any() and (s2[1] != 0).any())
    # deterministic: same step, same batch
    assert torch.equal(StageData("stage3", card, prep, vocab).batch(5),
                       StageData("stage3", card, prep, vocab).batch(5))


def test_stage1_speech_share_ramp_reaches_its_end_at_the_last_step(tmp_path) -> None:
    """The mean speech share rises from ``speech_share_start`` at stage 1's first step to
    ``speech_share_end`` at its last (paper Fig. 4). Progress was ``step / total``, so a
    4-step stage ended at 3/4 of the way: a mean of 0.725 for the card's 0.2 -> 0.9 (review).
    """
    card = tiny_card(steps=4)
    trainer, train, _ = _trainer(card, tmp_path)
    trainer.optimizer = trainer.new_optimizer(card.stage1)
    data, seen = train["stage1"], []
    real = data.batch
    data.batch = lambda step, micro=0, rank=0, progress=0.0, n_seqs=None: (  # type: ignore
        seen.append(progress), real(step, micro, rank, progress, n_seqs))[1]
    for step in range(card.stage1.steps):
        trainer.step(data, card.stage1, step, card.stage1.steps)
    assert seen == [0.0, 1 / 3, 2 / 3, 1.0]


def test_units_outside_vocabulary_are_a_clear_error() -> None:
    card = tiny_card()
    dialogues = synthetic_dialogues(n=1)
    dialogues[0].units[1, 5] = N_UNITS + 3
    vocab, tok = make_vocab(card, dialogues)
    with pytest.raises(ValueError, match=r"unit vocabulary \(allowed: 0..19\)"):
        prepare(dialogues, vocab, tok)


def test_train_agent_writes_the_agent_directory(tmp_path) -> None:
    dialogues = synthetic_dialogues()
    info = train_agent(tiny_card(steps=2), dialogues[:2], dialogues[2:], tmp_path / "agent",
                       progress=False)
    root = tmp_path / "agent"
    for name in ("agent.json", "model/config.json", "model/model.safetensors",
                 "text_tokenizer.json", "train_log.csv", "train_log.json", "loss.png",
                 "checkpoints/last.pt"):
        assert (root / name).is_file(), name
    saved = json.loads((root / "agent.json").read_text())
    assert saved["format"] == "duplexsim-agent/1" and saved["chunk_ms"] == [160, 200]
    assert set(saved["val_loss"]) == {"stage1", "stage2", "stage3"}
    assert all(np.isfinite(v) for v in info["val_loss"].values())
    assert set(saved["kept_step"]) == {"stage1", "stage2", "stage3"}
    assert all(1 <= k <= 2 for k in saved["kept_step"].values())
    assert saved["validated_on"] == "val"
    rows = (root / "train_log.csv").read_text().splitlines()
    assert rows[0].startswith("stage,step,tokens,loss,val_loss")
    assert len(rows) > 6


def test_log_every_rows_carry_the_mean_loss_of_their_steps(tmp_path) -> None:
    """[train] log_every sets the train_log rows (every k steps, the first and last step of a
    stage and each validation); a row's loss is the mean over the steps since the previous
    one, whatever the checkpoint cadence (the steps in between survive a resume)."""
    from dataclasses import replace

    dialogues = synthetic_dialogues()
    card = tiny_card(steps=7, log_every=1)
    card = replace(card, train=replace(card.train, val_every=100, checkpoint_every=2))
    every, _ = fit(card, dialogues[:2], dialogues[2:], tmp_path / "every", progress=False)
    sparse_card = replace(card, train=replace(card.train, log_every=3))
    ticks = iter(range(10**6))  # stop inside stage 1 after 5 steps, then resume
    guard = WallGuard(max_minutes=5 / 60, clock=lambda: float(next(ticks)))
    fit(sparse_card, dialogues[:2], dialogues[2:], tmp_path / "sparse", guard, progress=False)
    sparse, _ = fit(sparse_card, dialogues[:2], dialogues[2:], tmp_path / "sparse",
                    progress=False)
    for stage in ("stage1", "stage2", "stage3"):
        losses = {r["step"]: r["loss"] for r in every.run.log
                  if r["stage"] == stage and r["loss"] != ""}
        rows = [r for r in sparse.run.log if r["stage"] == stage and r["loss"] != ""]
        assert [r["step"] for r in rows] == [1, 3, 6, 7]
        for prev, row in zip([0, 1, 3, 6], rows, strict=True):
            want = np.mean([losses[k] for k in range(prev + 1, row["step"] + 1)])
            assert row["loss"] == pytest.approx(want, rel=1e-12)


def test_max_minutes_is_a_guard_that_stops_at_a_step_boundary_and_resumes_exactly(tmp_path):
    """--max-minutes never re-plans: the stopped run is a prefix of the card's run, says where
    it stopped, and the same command without the guard finishes it to the same bytes."""
    card = tiny_card(steps=4)
    dialogues = synthetic_dialogues()
    train_agent(card, dialogues[:2], dialogues[2:], tmp_path / "full", progress=False)
    ticks = iter(range(10**6))  # a clock that advances one second per look

    guard = WallGuard(max_minutes=6 / 60, clock=lambda: float(next(ticks)))
    trainer, _ = fit(card, dialogues[:2], dialogues[2:], tmp_path / "cut", guard, progress=False)
    # the clock reads 0 at the start, then 1 s more before each step: it reads 6 before
    # stage 2's second step (stage 1 has 4 steps)
    assert trainer.run.stopped == {"reason": "max_minutes", "max_minutes": 0.1,
                                   "stage": "stage2", "step": 1, "planned_steps": 4,
                                   "skipped_stages": ["stage3"]}
    assert set(trainer.run.done) == {"stage1", "stage2"}  # stage2 finished in memory only
    state = torch.load(tmp_path / "cut" / "checkpoints" / "last.pt", weights_only=True)
    assert (state["stage"], state["step"], sorted(state["done"])) == ("stage2", 1, ["stage1"])
    info = train_agent(card, dialogues[:2], dialogues[2:], tmp_path / "cut", progress=False)
    assert info["stopped_early"] is None
    assert info["torch_threads_per_start"] == [torch.get_num_threads()]  # one count: resumed
    full = (tmp_path / "full" / "model" / "model.safetensors").read_bytes()
    assert (tmp_path / "cut" / "model" / "model.safetensors").read_bytes() == full


def test_stopped_early_is_recorded_in_agent_json(tmp_path) -> None:
    dialogues = synthetic_dialogues()
    info = train_agent(tiny_card(steps=1000), dialogues[:2], dialogues[2:], tmp_path,
                       max_minutes=1e-9, progress=False)
    saved = json.loads((tmp_path / "agent.json").read_text())
    assert saved["stopped_early"] == info["stopped_early"]
    assert saved["stopped_early"]["stage"] == "stage1"
    assert saved["stopped_early"]["planned_steps"] == 1000
    assert saved["stopped_early"]["skipped_stages"] == ["stage2", "stage3"]
    assert saved["processes"] == 1  # the weights depend on it, as on the thread count
    assert (tmp_path / "model" / "model.safetensors").is_file()


def test_non_finite_loss_stops_with_stage_and_step_and_keeps_the_last_good_checkpoint(
        tmp_path) -> None:
    """A run that diverges in stage 3 (here a rate of 1e4, past what a card accepts, set
    behind the card's back to force it): one line names the stage and step, and the
    checkpoint on disk is the last finite one, ready to resume."""
    from dataclasses import replace

    card = tiny_card(steps=6)
    stage3 = replace(card.stage3)
    object.__setattr__(stage3, "lr", 1e4)  # a card refuses lr > 10
    card = replace(card, stage3=stage3)
    dialogues = synthetic_dialogues()
    with pytest.raises(NonFiniteLossError) as err:
        train_agent(card, dialogues[:2], dialogues[2:], tmp_path, progress=False)
    msg = str(err.value)
    assert "\n" not in msg
    m = re.search(r": stage3 step (\d+): (training loss|gradient norm) is (nan|inf).*last good "
                  r"checkpoint: .*last.pt \(stage3 step (\d+)\)", msg)
    assert m, msg
    failed, kept = int(m.group(1)), int(m.group(4))
    assert kept < failed and kept % card.train.checkpoint_every == 0
    state = torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=True)
    assert (state["stage"], state["step"]) == ("stage3", kept)
    assert all(torch.isfinite(v).all() for v in state["model"].values())
    assert not (tmp_path / "agent.json").exists()  # no agent from a diverged run


def test_bf16_cpu_training_uses_the_blocked_attention_and_repeats_byte_for_byte(
        tmp_path, monkeypatch) -> None:
    """bf16 on the CPU trains with models/attention.py (fp32 keeps sdpa, measured alike);
    two runs give the same weights; the saved model names sdpa. bf16 is forced on, so that a
    processor without native bf16 (where a bf16 card trains in fp32) runs the path too."""
    from dataclasses import replace

    from duplexsim.models import attention
    from duplexsim.training import trainer

    monkeypatch.setattr(trainer, "bf16_autocast", lambda card_bf16, device_type: card_bf16)
    fp32 = tiny_card(steps=2)
    bf16 = replace(fp32, train=replace(fp32.train, bf16=True))
    assert _trainer(fp32, tmp_path / "t")[0].model.config._attn_implementation == "sdpa"
    assert _trainer(bf16, tmp_path / "t")[0].model.config._attn_implementation == attention.NAME
    dialogues = synthetic_dialogues()
    for run in ("a", "b"):
        info = train_agent(bf16, dialogues[:2], dialogues[2:], tmp_path / run, progress=False)
        assert all(np.isfinite(v) for v in info["val_loss"].values())
        assert info["precision"] == "bf16"
    weights = [(tmp_path / run / "model/model.safetensors").read_bytes() for run in ("a", "b")]
    assert weights[0] == weights[1]
    config = json.loads((tmp_path / "a/model/config.json").read_text())
    assert "duplexsim" not in json.dumps(config)


def test_a_bf16_card_trains_in_fp32_where_the_processor_only_emulates_bf16(
        tmp_path, monkeypatch) -> None:
    """On a CPU without oneDNN's bf16 path (AVX2 only) a bf16 product costs about 55x the
    fp32 one: a bf16 card trains there in fp32 (sdpa, no autocast), the same weights as the
    card with bf16 = false, and agent.json says so."""
    from dataclasses import replace

    from duplexsim.training import trainer

    assert not trainer.bf16_autocast(False, "cpu")
    assert trainer.bf16_autocast(True, "cpu") == torch.ops.mkldnn._is_mkldnn_bf16_supported()
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: False)
    fp32 = tiny_card(steps=2)
    bf16 = replace(fp32, train=replace(fp32.train, bf16=True))
    trainer = _trainer(bf16, tmp_path / "t")[0]
    assert not trainer.bf16 and trainer.model.config._attn_implementation == "sdpa"
    dialogues = synthetic_dialogues()
    info = train_agent(bf16, dialogues[:2], dialogues[2:], tmp_path / "a", progress=False)
    train_agent(fp32, dialogues[:2], dialogues[2:], tmp_path / "b", progress=False)
    assert info["precision"] == "fp32"
    assert json.loads((tmp_path / "a/agent.json").read_text())["precision"] == "fp32"
    weights = [(tmp_path / run / "model/model.safetensors").read_bytes() for run in ("a", "b")]
    assert weights[0] == weights[1]


def test_a_warmup_longer_than_the_stage_under_ddp_is_refused_before_training(tmp_path) -> None:
    """A card's ``tokens`` budget counts every process, so under N processes a stage runs 1/N
    of the steps the card was checked with (one process): 4 ranks of a 6-step stage with a
    3-step warmup ran 2 steps, all of them warmup, the lr never at its peak nor decayed
    (review). Refused on every rank before the first collective, naming the key."""
    import dataclasses

    from duplexsim.errors import InputError

    card = tiny_card(steps=2)
    stage = dataclasses.replace(card.stage3, steps=0, tokens=6 * 256, warmup_steps=3)
    card = dataclasses.replace(card, stage3=stage)
    assert card.stage3.total_steps == 6 and card.stage3.steps_for(4) == 2
    trainer, train, val = _trainer(card, tmp_path)
    trainer.dist = Dist(rank=0, world=4)  # (no process group: the check comes first)
    with pytest.raises(InputError, match=r"stage3.warmup_steps: 3 > the stage's 2 steps in 4 "
                                         r"processes .*\(allowed: <= 2, "):
        train_stages(trainer, train, val)
    assert not (tmp_path / "checkpoints").exists()


def test_no_progress_draws_no_bar_when_the_agent_is_written(tmp_path, capfd) -> None:
    """``--no-progress`` (``progress=False``) still showed transformers' "Writing model
    shards" bar on stderr when the model was saved (review)."""
    dialogues = synthetic_dialogues()
    train_agent(tiny_card(steps=1), dialogues[:2], dialogues[2:], tmp_path, progress=False)
    err = capfd.readouterr().err
    assert "Writing model shards" not in err and "it/s]" not in err, err
    assert (tmp_path / "model" / "model.safetensors").is_file()
