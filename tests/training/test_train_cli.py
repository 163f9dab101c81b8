"""``duplexsim train``'s checks before training: a card meant for another corpus family."""

from __future__ import annotations

from pathlib import Path

import pytest

# (tests/ is on the path: rootdir-less import)
from cli_workspace import card_toml, write_corpus, write_tokenizer

from duplexsim.cli import main
from duplexsim.training.cli import preset_note


def test_preset_note_names_another_family_only() -> None:
    assert preset_note("fisher-like", "fisher-like") is None
    assert preset_note("fisher-like", "fisher") is None  # the real corpus of the same family
    assert preset_note("", "candor-like") is None and preset_note("fisher-like", "") is None
    assert preset_note("fisher-like", "candor-like") == (
        "agent.corpus_preset = 'fisher-like', but the corpus is 'candor-like'")


def test_train_notes_a_card_for_another_corpus(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """The note comes before anything else is checked or trained (here: the corpus has no
    train split, so the command stops right after it)."""
    write_corpus(tmp_path / "corpus", splits=("val", "test"))  # a fisher-like corpus
    card = tmp_path / "card.toml"
    card.write_text(card_toml({"agent": {"corpus_preset": "candor-like"}}))
    assert main(["train", str(card), "--corpus", str(tmp_path / "corpus"), "--out",
                 str(tmp_path / "agent"), "--no-progress"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0] == (f"note: {card}: agent.corpus_preset = 'candor-like', but the corpus is "
                      f"'fisher-like' ({tmp_path / 'corpus'}); training goes on")
    assert "no train dialogues" in err[1]


def test_seed_makes_another_training_run_of_the_card(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``--seed`` replaces the card's ``[train] seed``: recorded in agent.json, other weights;
    no ``--seed`` trains the card as written (the same bytes as ``--seed`` of its own seed)."""
    import json

    write_corpus(tmp_path / "corpus")
    card = tmp_path / "card.toml"
    card.write_text(card_toml())

    def train(name: str, *extra: str) -> tuple[int, bytes]:
        out = tmp_path / name
        assert main(["train", str(card), "--corpus", str(tmp_path / "corpus"), "--out",
                     str(out), "--no-progress", *extra]) == 0
        info = json.loads((out / "agent.json").read_text())
        return info["card"]["train"]["seed"], (out / "model" / "model.safetensors").read_bytes()

    as_written, other, explicit = train("plain"), train("seed7", "--seed", "7"), \
        train("seed0", "--seed", "0")
    assert as_written[0] == explicit[0] == 0 and other[0] == 7
    assert as_written[1] == explicit[1] and other[1] != as_written[1]
    with pytest.raises(SystemExit) as stop:
        main(["train", str(card), "--corpus", str(tmp_path / "corpus"), "--out",
              str(tmp_path / "bad"), "--seed", "-1"])
    assert stop.value.code == 2 and "--seed: -1 is out of range" in capsys.readouterr().err


def _train_run(tmp_path: Path) -> tuple[Path, list[str]]:
    """A tiny corpus and card in ``tmp_path``: the agent folder and the train command."""
    write_corpus(tmp_path / "corpus")
    card = tmp_path / "card.toml"
    card.write_text(card_toml())
    out = tmp_path / "agent"
    return out, ["train", str(card), "--corpus", str(tmp_path / "corpus"), "--out", str(out),
                 "--no-progress"]


def test_a_trained_agent_with_nothing_to_resume_is_not_replaced(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Without checkpoints/ (deleted, or an agent copied without them) training started
    over in the folder: train_log.csv was replaced at once and a finished run replaced the
    agent without a word (audit)."""
    import shutil

    out, run = _train_run(tmp_path)
    assert main(run) == 0
    shutil.rmtree(out / "checkpoints")
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    capsys.readouterr()
    assert main(run) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "holds a trained agent" in err[0] and "--out" in err[0]
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before


def test_a_silence_unit_the_corpus_calls_speech_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Stage 2 fills a silent listener's channel with the card's silence unit: unit 3 of a
    corpus whose silence is unit 0 trained on speech as silence, without a word."""
    write_corpus(tmp_path / "corpus")
    card = tmp_path / "card.toml"
    card.write_text(card_toml({"model": {"silence_unit": 3}}))
    assert main(["train", str(card), "--corpus", str(tmp_path / "corpus"), "--out",
                 str(tmp_path / "agent"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "model.silence_unit: 3 is a speech unit of corpus" in err[0], err
    assert not (tmp_path / "agent").exists()


def test_the_corpus_tokenizers_silence_units_are_written_to_agent_json(tmp_path: Path) -> None:
    """A tokenizer trained with two silence units (k-means ``n_silence_units = 2``): agent.json
    records both, for the scripted partners and traces that read it (it recorded only
    ``silence_unit``, so unit 1 was speech to everything downstream)."""
    import json

    write_corpus(tmp_path / "corpus")
    write_tokenizer(tmp_path / "corpus" / "tokenizer", n_silence_units=2)
    card = tmp_path / "card.toml"
    card.write_text(card_toml())
    assert main(["train", str(card), "--corpus", str(tmp_path / "corpus"), "--out",
                 str(tmp_path / "agent"), "--no-progress"]) == 0
    info = json.loads((tmp_path / "agent" / "agent.json").read_text())
    assert info["silence_unit"] == 0 and info["silence_units"] == [0, 1]


def test_the_corpus_is_checked_before_its_splits_the_card_and_its_tokenizer(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """One problem at a time, the most fundamental first: the corpus's splits, then its
    n_units against the card, then its tokenizer (loaded) against the card. The tokenizer
    was loaded first: a broken one was reported before an empty train split or another
    n_units, which the manifest alone shows."""
    import json

    corpus = tmp_path / "corpus"
    write_corpus(corpus, splits=("val", "test"))
    (corpus / "tokenizer" / "config.json").write_text('{"format": ')  # broken
    card = tmp_path / "card.toml"
    card.write_text(card_toml({"model": {"silence_unit": 3}}))  # a speech unit of the corpus
    manifest = json.loads((corpus / "manifest.json").read_text())
    cmd = ["train", str(card), "--corpus", str(corpus), "--out", str(tmp_path / "agent"),
           "--no-progress"]

    def first_error() -> str:
        capsys.readouterr()
        assert main(cmd) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1, err
        return err[0]

    edit_manifest = {**manifest, "n_units": manifest["n_units"] + 1}
    (corpus / "manifest.json").write_text(json.dumps(edit_manifest))
    assert "train: the corpus has no train dialogues" in first_error()
    for entry in edit_manifest["dialogues"]:
        entry["split"] = "train"
    (corpus / "manifest.json").write_text(json.dumps(edit_manifest))
    assert "model.n_units:" in first_error()
    (corpus / "manifest.json").write_text(json.dumps({**edit_manifest,
                                                      "n_units": manifest["n_units"]}))
    assert "tokenizer/config.json" in first_error()
    write_tokenizer(corpus / "tokenizer")
    assert "model.silence_unit: 3 is a speech unit of corpus" in first_error()
    assert not (tmp_path / "agent").exists()


@pytest.mark.parametrize("same", [True, False])
def test_an_out_folder_that_holds_a_corpus_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], same: bool) -> None:
    """``--out`` naming a corpus folder (the training corpus itself, or another one: a slip
    between --corpus and --out) trained into it and replaced that corpus's unit tokenizer
    with the training corpus's, a file of its own removed (review)."""
    write_corpus(tmp_path / "corpus")
    other = tmp_path / "corpus" if same else tmp_path / "other"
    if not same:
        write_corpus(other)
        (other / "tokenizer" / "extra.bin").write_bytes(b"the other corpus's own")
    before = {p: p.read_bytes() for p in other.rglob("*") if p.is_file()}
    card = tmp_path / "card.toml"
    card.write_text(card_toml())
    assert main(["train", str(card), "--corpus", str(tmp_path / "corpus"), "--out", str(other),
                 "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{other}: --out: holds a corpus (manifest.json)" in err[0], err
    assert {p: p.read_bytes() for p in other.rglob("*") if p.is_file()} == before


@pytest.mark.parametrize("inside", [["fisher/agent.json", "candor/agent.json"],
                                    ["config.json", "arrays.safetensors"],
                                    ["import.json", "tokenizer/config.json", "candor/d0.csv"]])
def test_an_out_folder_of_other_files_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], inside: list[str]) -> None:
    """``--out runs/agents`` (for ``runs/agents/fisher``), a unit tokenizer's folder, or a
    corpus an import left without manifest.json (its ``tokenizer/`` made it pass for an
    agent's; review): the agent was trained into it, its files mixed with the others' (the
    corpus's tokenizer replaced). An empty folder is fine."""
    write_corpus(tmp_path / "corpus")
    out = tmp_path / "out"
    for name in inside:
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_text("{}")
    card = tmp_path / "card.toml"
    card.write_text(card_toml())
    argv = ["train", str(card), "--corpus", str(tmp_path / "corpus"), "--out", str(out),
            "--no-progress"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{out}: --out: holds other files" in err[0], err
    assert sorted(p.name for p in out.iterdir()) == sorted({n.split("/")[0] for n in inside})


def test_resuming_a_seed_replicate_without_its_seed_names_the_key(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A run started with ``--seed 7`` and resumed without it was refused as 'tables differ:
    train', the whole [train] table to compare by hand (review)."""
    import shutil

    out, run = _train_run(tmp_path)
    assert main([*run, "--seed", "7"]) == 0
    (out / "agent.json").unlink()  # as after a kill: the checkpoint is what resumes
    shutil.copy(out / "checkpoints" / "last.pt", tmp_path / "last.pt")
    capsys.readouterr()
    assert main(run) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "different agent card (keys differ: train.seed)" in err[0], err
    assert "--seed" in err[0].split("allowed:")[1]
    assert (out / "checkpoints" / "last.pt").read_bytes() == (tmp_path / "last.pt").read_bytes()
    assert main([*run, "--seed", "7"]) == 0


def test_only_the_launchers_rank_0_says_the_notes_and_results(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Under torchrun both processes printed the training notes and the 'trained ...' lines
    (the README walk-through); the rank comes from the launcher's environment, which the CLI
    reads before the process group exists."""
    from duplexsim.training.distributed import launched_rank

    for env, rank in (({}, 0), ({"WORLD_SIZE": "2", "RANK": "1"}, 1),
                      ({"WORLD_SIZE": "2", "RANK": "0"}, 0), ({"WORLD_SIZE": "1", "RANK": "3"}, 0)):
        monkeypatch.delenv("WORLD_SIZE", raising=False)
        monkeypatch.delenv("RANK", raising=False)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        assert launched_rank() == rank, env


def test_the_number_of_processes_is_checked_before_the_data_is_built(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Under ``torchrun --nproc-per-node 2`` a checkpoint of one process, or a ``tokens``
    stage whose warmup outlasts its steps in two processes, was refused only after the
    vocabulary, the model and the training data were built (minutes on a real corpus; here
    the process group's rendezvous came first and failed instead) (review)."""
    out, run = _train_run(tmp_path)
    assert main(run) == 0
    (out / "agent.json").unlink()  # as after a kill: the checkpoint is what resumes
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    monkeypatch.delenv("MASTER_ADDR", raising=False)
    capsys.readouterr()
    assert main(run) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "last.pt: world: checkpoint was written by 1 training process, " \
        "this run has 2" in err[0], err
    card = tmp_path / "card.toml"
    card.write_text(card_toml({"stage3": {"steps": 0, "tokens": 4 * 256, "warmup_steps": 3}}))
    assert main([*run[:4], "--out", str(tmp_path / "fresh"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "stage3.warmup_steps: 3 > the stage's 2 steps in 2 processes" \
        in err[0], err
    assert not (tmp_path / "fresh").exists()


def test_a_checkpoint_with_a_flipped_byte_is_refused_before_the_corpus_is_read(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A flipped bit in last.pt resumed silently: torch keeps no checksum. Its digest beside
    it (last.pt.json) is checked up front, before the dialogues are read, in one line, and
    the folder is left as it was."""
    out, run = _train_run(tmp_path)
    assert main(run) == 0
    (out / "agent.json").unlink()  # as after a kill: the checkpoint is what resumes
    checkpoint = out / "checkpoints" / "last.pt"
    damaged = bytearray(checkpoint.read_bytes())
    damaged[len(damaged) // 3] ^= 0x10
    checkpoint.write_bytes(bytes(damaged))
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    from duplexsim.corpora import Corpus

    def unread(*_args: object, **_kwargs: object) -> object:
        raise AssertionError("the dialogues were read before the checkpoint was checked")
    monkeypatch.setattr(Corpus, "dialogues", unread)
    capsys.readouterr()
    assert main(run) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"{checkpoint}: corrupted or modified since it "
                                               "was written (its sha256 "), err
    assert "delete checkpoints/ to start training over" in err[0]
    assert {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_a_missing_init_from_is_named_before_the_corpus_is_read(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    card = tmp_path / "card.toml"
    card.write_text(card_toml({"model": {"init_from": str(tmp_path / "llama")}}))
    assert main(["train", str(card), "--corpus", str(tmp_path / "no-corpus"), "--out",
                 str(tmp_path / "agent"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"{card}: model.init_from: no model folder at '{tmp_path / 'llama'}' "
                   '(config.json missing) (allowed: a local Hugging Face Llama folder, or "" '
                   "to train from scratch)"]


def test_a_resume_says_why_it_needs_the_init_from_folder(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A resume builds the model from ``model.init_from`` (its config.json and generation
    config go into the agent) before loading the checkpoint's weights over it; with the
    folder gone the error told a user resuming to set ``init_from = ""`` and train from
    scratch (a card the checkpoint then refuses), and the library failed in build_model
    without saying the weights were not what it wanted (review)."""
    import shutil

    from duplexsim.config.card import ModelCard, load_card
    from duplexsim.errors import ConfigError
    from duplexsim.models.model import build_model, save_model
    from duplexsim.models.vocab import Vocab
    from duplexsim.training.distributed import Dist
    from duplexsim.training.trainer import Trainer

    llama = tmp_path / "llama"
    save_model(build_model(ModelCard(size="tiny", n_units=4, text_vocab_size=300), 50, 0, 1, 2),
               llama)
    write_corpus(tmp_path / "corpus")
    card = tmp_path / "card.toml"
    card.write_text(card_toml({"model": {"init_from": str(llama)}}))
    out = tmp_path / "agent"
    run = ["train", str(card), "--corpus", str(tmp_path / "corpus"), "--out", str(out),
           "--no-progress"]
    assert main(run) == 0
    (out / "agent.json").unlink()  # as after a kill: the checkpoint is what resumes
    shutil.rmtree(llama)
    capsys.readouterr()
    assert main(run) == 2
    err = capsys.readouterr().err.strip().splitlines()
    checkpoint = out / "checkpoints" / "last.pt"
    assert err == [f"{card}: model.init_from: no model folder at '{llama}' (config.json "
                   f"missing); resuming {checkpoint} needs it: the model is built from it (its "
                   "config.json and generation config, saved with the agent) before the "
                   "checkpoint's weights are loaded over it (allowed: the pretrained folder "
                   f"this run started from, back at '{llama}')"], err
    with pytest.raises(ConfigError, match=r"model.init_from: .*; resuming .*last.pt needs it"):
        Trainer(load_card(card), Vocab(20, 50), out, Dist(), progress=False)


@pytest.mark.parametrize("fails", [False, True])
def test_train_destroys_the_process_group_it_trained_in(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fails: bool) -> None:
    """``duplexsim train`` under torchrun left its process group to the interpreter's exit
    (NCCL warns it was never destroyed) (review); now it ends it, after training or an
    error. The recipe here makes a one-process gloo group as fit's setup_distributed does."""
    import socket

    import torch.distributed as dist

    from duplexsim.training import recipe

    def fake_train(*args: object, **kwargs: object) -> dict[str, object]:
        with socket.socket() as s:  # a free port for the one-process rendezvous
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=0,
                                world_size=1)
        if fails:
            raise KeyboardInterrupt
        return {"val_loss": {}, "stopped_early": None}

    monkeypatch.setattr(recipe, "train_agent", fake_train)
    _, run = _train_run(tmp_path)
    try:
        assert main(run) == (130 if fails else 0)  # main turns an interrupt into 130
        assert not dist.is_initialized()
    finally:
        if dist.is_initialized():  # the other tests run in this process
            dist.destroy_process_group()


def test_a_second_run_on_one_out_is_refused_while_the_first_holds_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Nothing kept two runs off one ``--out``: both wrote checkpoints/last.pt and the agent
    in turn. A run holds ``--out``'s lock (flock on the folder) to its end, error or not."""
    from duplexsim.folders import exclusive_run

    out, run = _train_run(tmp_path)
    with exclusive_run(out):  # the first run, still training
        capsys.readouterr()
        assert main(run) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and f"{out}: --out: another run is writing into it" in err[0]
        assert not (out / "checkpoints").exists()
    assert main(run) == 0  # released: this one trains
    assert (out / "agent.json").is_file()
    with exclusive_run(out):  # and it let go of the lock when it ended
        pass
