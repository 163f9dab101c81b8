"""Recipe resumes: an exact resume matches uninterrupted training (the best weights, the
elapsed time, the logs and the GPU generator included), takes an earlier agent away until
it writes its own, and records another thread count."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parents[1] / "models"))
from syncllm_fixtures import synthetic_dialogues, tiny_card  # noqa: E402
from test_recipe import _trainer  # noqa: E402  (tests/training is on the path)

from duplexsim.training.guards import WallGuard
from duplexsim.training.recipe import fit, train_agent, train_stages


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
