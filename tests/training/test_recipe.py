"""Recipe: stage data formats, exact resume, checkpoint errors, the agent directory."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

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


def _rewrite(state: dict[str, Any], ckpt: Path) -> None:
    """Write ``state`` over checkpoint ``ckpt`` as a checkpoint from before digests (or one
    whose digest a kill cut off): a hand-made file the digest would refuse otherwise."""
    from duplexsim.training.checkpoints import digest_path

    torch.save(state, ckpt)
    digest_path(ckpt).unlink(missing_ok=True)


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


def test_exact_resume_matches_uninterrupted_training(tmp_path) -> None:
    card = tiny_card(steps=4)
    only3 = type(card)(model=card.model, train=card.train, stage3=card.stage3,
                       stage1=type(card.stage1)(enabled=False),
                       stage2=type(card.stage2)(enabled=False))
    full, train, val = _trainer(only3, tmp_path / "full")
    train_stages(full, train, val)
    # interrupted run: stop after step 2's checkpoint (a fresh process resumes from it)
    first, train, val = _trainer(only3, tmp_path / "cut")
    first.restore()
    first.optimizer = first.new_optimizer(only3.stage3)
    first.run.stage = "stage3"
    s = only3.stage3
    for step in range(2):
        first.step(train["stage3"], s, step, s.total_steps)
        first.run.step = step + 1
    first.save()
    # when checkpoints and log rows are written changes no weight: a resume may change it
    import dataclasses

    often = dataclasses.replace(only3, train=dataclasses.replace(
        only3.train, checkpoint_every=1, log_every=1))
    resumed, train, val = _trainer(often, tmp_path / "cut")
    train_stages(resumed, train, val)
    for (name, a), b in zip(full.model.state_dict().items(),
                            resumed.model.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    assert resumed.run.done["stage3"] == pytest.approx(full.run.done["stage3"], abs=0)


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


def test_exact_resume_keeps_the_best_weights_seen_before_the_cut(tmp_path) -> None:
    """The best-so-far weights live in the checkpoint: a resumed stage can still go back."""
    from dataclasses import replace

    card = tiny_card(steps=10)
    card = replace(card, train=replace(card.train, val_every=1, checkpoint_every=5),
                   stage1=replace(card.stage1, enabled=False),
                   stage2=replace(card.stage2, enabled=False),
                   stage3=replace(card.stage3, lr=0.05, schedule="constant"))
    full, train, val = _trainer(card, tmp_path / "full")
    train_stages(full, train, val)
    cut, train, val = _trainer(card, tmp_path / "cut")
    cut.optimizer, cut.run.stage = cut.new_optimizer(card.stage3), "stage3"
    for step in range(5):  # what train_stage does, up to the checkpoint at step 5
        cut.step(train["stage3"], card.stage3, step, 10)
        cut.run.step = step + 1
        cut.note_val(cut.validate(val["stage3"]))
    cut.save()
    resumed, train, val = _trainer(card, tmp_path / "cut")
    train_stages(resumed, train, val)
    assert resumed.run.kept == full.run.kept and full.run.kept["stage3"] <= 5
    for (name, a), b in zip(full.model.state_dict().items(),
                            resumed.model.state_dict().values(), strict=True):
        assert torch.equal(a, b), name


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


def test_a_resumed_run_takes_the_earlier_agent_json_away_until_it_writes_its_own(
        tmp_path) -> None:
    """A run the time guard stopped wrote an agent; resuming replaced model/ first, so a
    resume that died before agent.json left it describing other weights (audit). A kill
    during a checkpoint write left a checkpoint-sized temporary file behind for good, and one
    during the model's write a hidden copy of the model."""
    card, dialogues = tiny_card(steps=6), synthetic_dialogues()
    train_agent(card, dialogues[:2], dialogues[2:], tmp_path, max_minutes=1e-9, progress=False)
    assert json.loads((tmp_path / "agent.json").read_text())["stopped_early"] is not None
    stale = tmp_path / "checkpoints" / ".last.pt.abc123.pt.tmp"
    stale.write_bytes(b"x" * 1000)
    stale_model = tmp_path / ".model.k3x9q1ab"  # save_model's folder, killed mid-write
    stale_model.mkdir()
    (stale_model / "model.safetensors").write_bytes(b"x" * 1000)
    mine = tmp_path / ".model.notes"  # a user's folder of another name pattern: kept
    mine.mkdir()
    # the logs (and the digest) are written at every checkpoint: a kill left their temporaries
    stale_logs = [tmp_path / ".train_log.csv.q1w2e3r4.csv.tmp",
                  tmp_path / ".train_log.json.q1w2e3r4.json.tmp",
                  tmp_path / ".agent.json.q1w2e3r4.json.tmp",
                  tmp_path / ".loss.png.q1w2e3r4.png.tmp",
                  tmp_path / "checkpoints" / ".last.pt.json.q1w2e3r4.json.tmp"]
    for log in stale_logs:
        log.write_text("cut short")

    def dies(_out: Path) -> None:
        raise RuntimeError("killed")
    with pytest.raises(RuntimeError, match="killed"):
        train_agent(card, dialogues[:2], dialogues[2:], tmp_path, progress=False, finish=dies)
    assert not (tmp_path / "agent.json").exists() and not stale.exists()
    assert not stale_model.exists() and mine.is_dir()
    assert not any(log.exists() for log in stale_logs)
    info = train_agent(card, dialogues[:2], dialogues[2:], tmp_path, progress=False)
    assert info["stopped_early"] is None and (tmp_path / "agent.json").is_file()


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


def test_a_resume_on_another_thread_count_is_recorded(tmp_path) -> None:
    """The bytes depend on the thread count: an agent trained partly at one count and resumed
    at another is neither count's, and agent.json lists both (it named only the last)."""
    dialogues, card = synthetic_dialogues(), tiny_card(steps=2)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        train_agent(card, dialogues[:2], dialogues[2:], tmp_path, max_minutes=1e-9,
                    progress=False)
        torch.set_num_threads(2)
        info = train_agent(card, dialogues[:2], dialogues[2:], tmp_path, progress=False)
    finally:
        torch.set_num_threads(before)
    assert info["stopped_early"] is None and info["torch_threads"] == 2
    assert info["torch_threads_per_start"] == [1, 2]


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


def test_a_resumed_stage_logs_the_elapsed_time_an_uninterrupted_one_would(
        tmp_path, monkeypatch) -> None:
    """``elapsed_s`` went back to 0 at a resume (the stage clock restarted with the process):
    a stage stopped at step 2 and resumed logged step 3 at 10 s on a clock that runs 10 s a
    step, where the uninterrupted stage logged 30 s (review)."""
    import types
    from dataclasses import replace

    from duplexsim.training import trainer

    card = tiny_card(steps=4)
    card = replace(card, train=replace(card.train, log_every=1),
                   stage1=replace(card.stage1, enabled=False),
                   stage2=replace(card.stage2, enabled=False))
    now = [0.0]
    monkeypatch.setattr(trainer, "time", types.SimpleNamespace(perf_counter=lambda: now[0]))
    step = trainer.Trainer.step

    def ten_seconds_a_step(self, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        now[0] += 10.0
        return step(self, *args, **kwargs)

    monkeypatch.setattr(trainer.Trainer, "step", ten_seconds_a_step)
    dialogues = synthetic_dialogues()
    full, _ = fit(card, dialogues[:2], dialogues[2:], tmp_path / "full", progress=False)
    ticks = iter(range(10**6))  # the guard's own clock: stops before step 3
    guard = WallGuard(max_minutes=3 / 60, clock=lambda: float(next(ticks)))
    cut, _ = fit(card, dialogues[:2], dialogues[2:], tmp_path / "cut", guard, progress=False)
    assert cut.run.stopped is not None and cut.run.stopped["step"] == 2
    now[0] = 5000.0  # another process: another origin of perf_counter
    resumed, _ = fit(card, dialogues[:2], dialogues[2:], tmp_path / "cut", progress=False)
    assert [(r["step"], r["elapsed_s"]) for r in resumed.run.log] == \
        [(r["step"], r["elapsed_s"]) for r in full.run.log]
    assert [r["elapsed_s"] for r in full.run.log] == [10.0, 20.0, 30.0, 40.0, 40.0]


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


def test_no_progress_draws_no_bar_when_the_agent_is_written(tmp_path, capfd) -> None:
    """``--no-progress`` (``progress=False``) still showed transformers' "Writing model
    shards" bar on stderr when the model was saved (review)."""
    dialogues = synthetic_dialogues()
    train_agent(tiny_card(steps=1), dialogues[:2], dialogues[2:], tmp_path, progress=False)
    err = capfd.readouterr().err
    assert "Writing model shards" not in err and "it/s]" not in err, err
    assert (tmp_path / "model" / "model.safetensors").is_file()


def test_a_resume_puts_the_checkpoints_log_back_at_once(tmp_path, monkeypatch) -> None:
    """A guard's stop writes the agent with its stopped stage finished in memory; a resume
    killed before its first checkpoint left that train_log.csv, a stage ending (kept_step)
    at the step where it only paused (review), and that agent's loss.png, which only the
    next written agent replaced (review)."""
    from duplexsim.training import recipe
    from duplexsim.training.logs import read_log

    card, dialogues = tiny_card(steps=6), synthetic_dialogues()
    train_agent(card, dialogues[:2], dialogues[2:], tmp_path, max_minutes=1e-9, progress=False)
    assert read_log(tmp_path / "train_log.csv")[-1]["kept_step"] == 0  # finished in memory
    assert (tmp_path / "loss.png").is_file()

    def killed(*_args, **_kwargs):  # noqa: ANN002, ANN003, ANN202
        raise KeyboardInterrupt

    monkeypatch.setattr(recipe.Trainer, "step", killed)
    with pytest.raises(KeyboardInterrupt):
        train_agent(card, dialogues[:2], dialogues[2:], tmp_path, progress=False)
    state = torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=True)
    assert read_log(tmp_path / "train_log.csv") == read_log_rows(state["log"], tmp_path)
    assert json.loads((tmp_path / "train_log.json").read_text()) == state["log"]
    assert not (tmp_path / "loss.png").exists()
    monkeypatch.undo()
    train_agent(card, dialogues[:2], dialogues[2:], tmp_path, progress=False)
    assert (tmp_path / "loss.png").is_file()


def read_log_rows(rows: list[dict], tmp_path: Path) -> list[dict]:
    """``rows`` as train_log.csv reads back."""
    from duplexsim.training.logs import read_log, write_logs

    write_logs(tmp_path / "expected", rows)
    return read_log(tmp_path / "expected" / "train_log.csv")


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


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_a_cuda_checkpoint_puts_the_gpu_generator_back(tmp_path) -> None:
    from duplexsim.training.checkpoints import rng_states, set_rng_states

    torch.cuda.manual_seed(5)
    saved = rng_states("cuda")
    assert set(saved) == {"torch_rng", "cuda_rng"}
    first = torch.rand(4, device="cuda")
    path = tmp_path / "rng.pt"
    torch.save(saved, path)
    set_rng_states(torch.load(path, weights_only=True), "cuda")
    assert torch.equal(torch.rand(4, device="cuda"), first)


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
