"""The demo's stages: both agents as two 1-thread ``duplexsim train`` processes side by
side, their step counts from the cards (the same bytes as training one after the other); the
simulations side by side (the same bytes as one after the other), reused while their inputs
are the same; and bad cards, scenarios or sizes refused before anything is built."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch

from duplexsim import cli
from duplexsim.demo import AGENTS, DemoPlan, train_agents
from duplexsim.errors import InputError
from duplexsim.models.agentdir import record_weights

ROOT = Path(__file__).parents[2]

CARD = """
[agent]
name = "{name}"
corpus_preset = "{preset}"
[model]
size = "tiny"
n_units = {n_units}
text_vocab_size = 300
[train]
chunk_ms = [160, 200]
bf16 = false
val_every = 2
val_batches = 1
checkpoint_every = 2
{stages}
"""
STAGE = """
[{stage}]
steps = 3
batch_tokens = 256
seq_len = 64
warmup_steps = 1
window_chunks = 12
"""


def _tiny_world(root: Path) -> DemoPlan:
    from duplexsim.corpora.build import build_corpus
    from duplexsim.corpora.config import load_config

    # the sizes of the corpora built here (a demo of other sizes would resize them)
    plan = DemoPlan(root=root, out=root / "demo", cards=root / "cards",
                    corpus_hours=3 * 12.0 / 3600, conversation_s=12.0)
    plan.cards.mkdir()
    stages = "".join(STAGE.format(stage=f"stage{i}") for i in (1, 2, 3))
    for name, preset in (("fisher", "fisher-like"), ("candor", "candor-like")):
        build_corpus(plan.corpus_dir(preset),
                     load_config(preset, conversation_s=plan.conversation_s),
                     hours=plan.corpus_hours, seed=0, preset=preset, tokenizer_dir=plan.units_dir,
                     cache_dir=root / "tts", workers=1, n_units=24, train_hours=0.05)
        (plan.cards / f"{name}.toml").write_text(
            CARD.format(name=name, preset=preset, n_units=24, stages=stages))
    return plan


def test_demo_trains_both_agents_side_by_side_with_the_bytes_of_one_after_the_other(tmp_path):
    plan = _tiny_world(tmp_path)
    train_agents(plan)
    for name in ("fisher", "candor"):
        info = json.loads((plan.agent_dir(name) / "agent.json").read_text())
        assert info["stopped_early"] is None and info["torch_threads"] == 1
        assert set(info["val_loss"]) == {"stage1", "stage2", "stage3"}
        assert (plan.agent_dir(name) / "tokenizer").is_dir()
        assert plan.agent_dir(name).with_suffix(".log").is_file()
    # the fisher agent again, alone, in this process: the same bytes
    threads = torch.get_num_threads()
    try:
        rc = cli.main(["train", str(plan.cards / "fisher.toml"), "--corpus",
                       str(plan.corpus_dir("fisher-like")), "--out", str(tmp_path / "alone"),
                       "--no-progress"])
    finally:
        torch.set_num_threads(threads)
    assert rc == 0
    side_by_side = (plan.agent_dir("fisher") / "model" / "model.safetensors").read_bytes()
    assert (tmp_path / "alone" / "model" / "model.safetensors").read_bytes() == side_by_side
    # a second demo run reuses both agents
    before = (plan.agent_dir("fisher") / "agent.json").stat().st_mtime_ns
    train_agents(plan)
    assert (plan.agent_dir("fisher") / "agent.json").stat().st_mtime_ns == before
    # an agent recorded before a card key existed (turn_weight) matches at its default
    info_path = plan.agent_dir("fisher") / "agent.json"
    info = json.loads(info_path.read_text())
    for stage in ("stage1", "stage2", "stage3"):
        del info["card"][stage]["turn_weight"]
    info_path.write_text(json.dumps(info))
    before = info_path.stat().st_mtime_ns
    train_agents(plan)
    assert info_path.stat().st_mtime_ns == before
    # one a --train-max-minutes guard stopped (its checkpoint there) is trained on, not reused
    info["stopped_early"] = {"reason": "max_minutes", "stage": "stage3", "step": 1}
    info_path.write_text(json.dumps(info))
    assert not plan.trained("fisher")
    info["stopped_early"] = None
    info_path.write_text(json.dumps(info))
    assert plan.trained("fisher")
    before = info_path.stat().st_mtime_ns
    # the card changed since: a one-line error naming the setting, the agent kept
    card = plan.cards / "fisher.toml"
    card.write_text(card.read_text().replace("steps = 3", "steps = 4", 1))
    with pytest.raises(InputError, match=r"fisher: card\.stage1\.steps: trained with 3, but "
                       r".*fisher\.toml says 4 \(allowed: delete the folder"):
        train_agents(plan)
    assert (plan.agent_dir("fisher") / "agent.json").stat().st_mtime_ns == before


def test_demo_refuses_resizing_a_trained_agents_corpus_before_building_anything(
        tmp_path, monkeypatch, capsys):
    """Another --corpus-hours would extend (or shrink) the corpus an agent was trained on:
    one line naming the flag, before ``corpus build`` runs (it resized the corpus first, and
    the agent was refused only after that)."""
    from duplexsim.atomic import write_json
    from duplexsim.config.card import load_card
    from duplexsim.corpora.build import plan as corpus_plan
    from duplexsim.corpora.config import load_config
    from duplexsim.demo import cli as demo_cli
    from duplexsim.models.vocab import Vocab
    from duplexsim.training.checkpoints import RunState
    from duplexsim.training.recipe import agent_info

    hours = 3 * 12.0 / 3600  # three conversations of 12 s
    plan = DemoPlan(root=tmp_path / "root", out=tmp_path / "demo", cards=tmp_path / "cards",
                    corpus_hours=hours, conversation_s=12.0)
    plan.cards.mkdir()
    for name, preset in AGENTS:
        plan.card(name).write_text(CARD.format(name=name, preset=preset, n_units=24,
                                               stages=STAGE.format(stage="stage3")))
    corpus = plan.corpus_dir("fisher-like")
    corpus.mkdir(parents=True)
    entries = corpus_plan(load_config("fisher-like", conversation_s=12.0), hours, 0)
    write_json(corpus / "manifest.json", {"name": "fisher-like", "seed": 0, "dialogues": [
        {"id": e["id"], "split": e["split"]} for e in entries]})
    info = agent_info(load_card(plan.card("fisher")), Vocab(24, 300), RunState(),
                      corpus=str(corpus))
    plan.agent_dir("fisher").mkdir(parents=True)
    write_json(plan.agent_dir("fisher") / "agent.json", info)
    assert plan.trained("fisher")  # the hours it was trained on: reused
    manifest = (corpus / "manifest.json").read_bytes()

    def built(plan):  # noqa: ANN001, ANN202 - the corpora stage, not to be reached
        raise AssertionError("built the corpora")

    monkeypatch.setattr(demo_cli, "build_corpora", built)
    assert cli.main(["demo", "--root", str(plan.root), "--out", str(plan.out), "--cards",
                     str(plan.cards), "--conversation-s", "12", "--corpus-hours",
                     str(4 * 12.0 / 3600)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.splitlines() == [
        f"{plan.agent_dir('fisher')}: --corpus-hours: {4 * 12.0 / 3600:g} would resize "
        f"{corpus} from 3 to 4 conversations, and this agent was trained on the 3 (allowed: "
        "the demo's earlier --corpus-hours, delete the agent folder to train it anew on the "
        "resized corpus, or another --root)"]
    assert (corpus / "manifest.json").read_bytes() == manifest and not plan.out.exists()


SCENARIO = """
name = "{name}"
chunk_ms = 160
duration_s = 60.0
seed = 0
[a]
kind = "syncllm"
agent = "{fisher}"
[b]
kind = "syncllm"
agent = "{candor}"
[network]
preset = "{preset}"
"""


def test_demo_simulates_side_by_side_with_the_bytes_of_one_after_the_other(tmp_path):
    from duplexsim.demo import simulate
    from duplexsim.demo.stages import _simulate_one

    plan = _tiny_world(tmp_path)
    train_agents(plan)
    paths = []
    for preset in ("continental", "satellite-geo"):
        path = tmp_path / f"{preset}.toml"
        # agents named as in the shipped scenarios: the demo uses those under its --root
        path.write_text(SCENARIO.format(name=preset, preset=preset, fisher="runs/agents/fisher",
                                        candor="runs/agents/candor"))
        paths.append(str(path))
    plan = dataclasses.replace(plan, scenarios=tuple(paths), sim_seconds=4.0)
    outs = simulate(plan)
    assert [o.name for o in outs] == ["continental", "satellite-geo"]
    threads = torch.get_num_threads()
    try:  # the second scenario again, alone, in this process
        _simulate_one(paths[1], tmp_path / "alone", plan.seed, plan.sim_seconds,
                      {"a": plan.agent_dir("fisher"), "b": plan.agent_dir("candor")})
    finally:
        torch.set_num_threads(threads)
    for f in sorted(p.name for p in (tmp_path / "alone").iterdir()):
        assert (tmp_path / "alone" / f).read_bytes() == (outs[1] / f).read_bytes(), f
    assert json.loads((outs[0] / "metrics.json").read_text())["scenario"] == "continental"
    # a second run reuses both
    before = (outs[0] / "metrics.json").stat().st_mtime_ns
    assert simulate(plan) == outs and (outs[0] / "metrics.json").stat().st_mtime_ns == before
    # an agent changed in place (retrained): both conversations are simulated anew
    weights = plan.agent_dir("candor") / "model" / "model.safetensors"
    weights.write_bytes((plan.agent_dir("fisher") / "model" / "model.safetensors").read_bytes())
    record_weights(plan.agent_dir("candor"))  # as training records them
    assert simulate(plan) == outs and (outs[0] / "metrics.json").stat().st_mtime_ns != before
    again = (outs[0] / "metrics.json").stat().st_mtime_ns
    assert simulate(plan) == outs and (outs[0] / "metrics.json").stat().st_mtime_ns == again
    # the unit tokenizer the agents vocode with, replaced: audio.wav is made anew (was kept)
    # (in both agents: sides of two tokenizers are refused)
    for name in ("fisher", "candor"):
        config = plan.agent_dir(name) / "tokenizer" / "config.json"
        config.write_text(config.read_text().replace("{", '{"note": "replaced", ', 1))
    assert simulate(plan) == outs and (outs[0] / "metrics.json").stat().st_mtime_ns != again


def test_demo_simulation_failing_stops_the_other_one_now(tmp_path, monkeypatch):
    """One simulation fails (or SIGTERM, which reaches the demo's process only, stops it):
    the other is not run to its end by a worker left behind."""
    import concurrent.futures
    import os
    import time

    from duplexsim.demo import simulate

    class Pool(concurrent.futures.ProcessPoolExecutor):
        submitted = 0

        def submit(self, fn, /, *args, **kwargs):
            Pool.submitted += 1
            if Pool.submitted == 1:  # fails at once
                return super().submit(os.stat, str(tmp_path / "missing"))
            return super().submit(time.sleep, 60)  # a long simulation

    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", Pool)
    paths = []
    for name in ("one", "two"):
        (tmp_path / f"{name}.toml").write_text(f"# {name}\n")
        paths.append(str(tmp_path / f"{name}.toml"))
    plan = DemoPlan(root=tmp_path / "runs", out=tmp_path / "out", scenarios=tuple(paths))
    t0 = time.perf_counter()
    with pytest.raises(FileNotFoundError):
        simulate(plan)
    assert time.perf_counter() - t0 < 30


def test_demo_simulates_again_when_a_jitter_trace_it_names_changes(tmp_path, monkeypatch):
    """A scenario's jitter trace file is one of its simulation's inputs: rewritten in place
    (the scenario file the same), the demo reused the old conversation."""
    import concurrent.futures

    from duplexsim import digests
    from duplexsim.demo import simulate

    class Pool(concurrent.futures.ProcessPoolExecutor):
        submitted = 0

        def submit(self, fn, /, *args, **kwargs):
            Pool.submitted += 1
            (args[1] / "metrics.json").write_text("{}")  # what the simulation leaves
            return super().submit(float, 1.0)  # "took 1 s"

    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", Pool)
    monkeypatch.setattr(digests, "directory_digest", lambda *args: "agent")
    trace = tmp_path / "jitter.txt"
    trace.write_text("10\n20\n30\n")
    scenario = tmp_path / "traced.toml"
    scenario.write_text('[network.a_to_b]\njitter_dist = "trace"\n'
                        f"jitter_trace = {str(trace)!r}\n")
    plan = DemoPlan(root=tmp_path / "runs", out=tmp_path / "out", scenarios=(str(scenario),))
    (plan.out / "traced").mkdir(parents=True)
    simulate(plan)
    simulate(plan)  # nothing changed: reused
    assert Pool.submitted == 1
    trace.write_text("10\n20\n90\n")
    simulate(plan)
    assert Pool.submitted == 2


def test_demo_refuses_a_missing_or_bad_card_before_building_anything(tmp_path, capsys):
    root, out = tmp_path / "root", tmp_path / "out"
    args = ["demo", "--root", str(root), "--out", str(out), "--corpus-hours", "0.01"]
    assert cli.main([*args, "--cards", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.splitlines() == [f"{tmp_path / 'nowhere' / 'fisher.toml'}: file not found "
                                "(allowed: an existing path)"]
    cards = tmp_path / "cards"
    cards.mkdir()
    (cards / "fisher.toml").write_text((ROOT / "agents" / "fisher.toml").read_text())
    (cards / "candor.toml").write_text("[model]\nsize = \"galactic\"\n")
    assert cli.main([*args, "--cards", str(cards)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"{cards / 'candor.toml'}: model.size: unknown value 'galactic'")
    assert "Traceback" not in err and not root.exists() and not out.exists()


def test_demo_refuses_cards_of_other_units_than_its_corpora_before_building_anything(
        tmp_path, capsys):
    """A card whose model.n_units is not the demo's corpora's was refused by `train` only
    after both corpora were built; now at once, one line. The corpora's units are those of
    the tokenizer already in ROOT/units, else the 501 `corpus build` trains."""
    import numpy as np

    from duplexsim.demo import check_cards
    from duplexsim.units import features
    from duplexsim.units.kmeans import KMeansTokenizer, TokenizerConfig

    cards = tmp_path / "cards"
    cards.mkdir()
    for name in ("fisher", "candor"):
        text = (ROOT / "agents" / f"{name}.toml").read_text()
        assert "n_units = 501" in text
        (cards / f"{name}.toml").write_text(text.replace("n_units = 501", "n_units = 32"))
    root, out = tmp_path / "root", tmp_path / "out"
    assert cli.main(["demo", "--root", str(root), "--out", str(out), "--cards", str(cards),
                     "--corpus-hours", "0.01"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.splitlines() == [
        f"{cards / 'fisher.toml'}: model.n_units: 32, but the demo's corpora will have 501 "
        f"units (the tokenizer corpus build trains into {root / 'units'}) (allowed: 501; a "
        "card of other units trains with `duplexsim train` on a corpus built with `corpus "
        "build --n-units`)"]
    assert not root.exists() and not out.exists()
    # a 32-unit tokenizer already in ROOT/units: the corpora will have its 32 units
    rng = np.random.default_rng(0)
    KMeansTokenizer(TokenizerConfig(n_units=32, n_mels=8),
                    rng.normal(size=(32, 8)).astype(np.float32),
                    rng.random((32, features.N_FFT // 2 + 1)).astype(np.float32),
                    -40.0).save(root / "units")
    check_cards(DemoPlan(root=root, out=out, cards=cards))
    (cards / "candor.toml").write_text((ROOT / "agents" / "candor.toml").read_text())
    with pytest.raises(InputError, match=r"candor\.toml: model\.n_units: 501, but the demo's "
                       r"corpora will have 32 units \(the tokenizer in "):
        check_cards(DemoPlan(root=root, out=out, cards=cards))


def test_demo_refuses_missing_scenarios_before_building_anything(tmp_path, monkeypatch, capsys):
    """Run from another folder than the repository's root, the demo's scenario files
    (scenarios/*.toml, relative to it) are missing: one line now (it was found after the
    corpora and the training)."""
    from duplexsim.demo import cli as demo_cli

    cards = tmp_path / "cards"
    cards.mkdir()
    for name in ("fisher", "candor"):
        (cards / f"{name}.toml").write_text((ROOT / "agents" / f"{name}.toml").read_text())
    monkeypatch.chdir(tmp_path)

    def built(plan):  # noqa: ANN001, ANN202 - the corpora stage, not to be reached
        raise AssertionError("built the corpora")

    monkeypatch.setattr(demo_cli, "build_corpora", built)
    root, out = tmp_path / "root", tmp_path / "out"
    assert cli.main(["demo", "--root", str(root), "--out", str(out), "--cards", str(cards)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.splitlines() == ["scenarios/fisher-candor-200ms.toml: file not found "
                                "(allowed: an existing path)"]
    assert not root.exists() and not out.exists()
