"""``turn_weight``: the targets right after a speaker tag weigh more in the training loss."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parents[1] / "models"))
from syncllm_fixtures import synthetic_dialogues, tiny_card  # noqa: E402

from duplexsim.training.distributed import Dist
from duplexsim.training.recipe import build_data, make_vocab
from duplexsim.training.trainer import Trainer

ROOT = Path(__file__).parents[2]


@pytest.fixture(scope="module")
def trainer_batch(tmp_path_factory):
    card = tiny_card()
    dialogues = synthetic_dialogues()
    vocab, tok = make_vocab(card, dialogues)
    trainer = Trainer(card, vocab, tmp_path_factory.mktemp("tw"), Dist(), progress=False)
    train, _ = build_data(card, vocab, tok, dialogues[:2], dialogues[2:])
    return trainer, train["stage3"].batch(0)


def test_the_weighted_path_at_weight_near_one_is_hf_loss(trainer_batch) -> None:
    trainer, batch = trainer_batch
    with torch.no_grad():
        plain = float(trainer.loss(batch))
        near = float(trainer.loss(batch, 1.0 + 1e-9))  # the hand-written path
    assert near == pytest.approx(plain, rel=1e-5)


def test_targets_after_a_speaker_tag_weigh_turn_weight(trainer_batch) -> None:
    trainer, batch = trainer_batch
    vocab = trainer.vocab
    with torch.no_grad():
        logits = trainer.model(input_ids=batch).logits[:, :-1].float()
        targets = batch[:, 1:]
        ce = torch.nn.functional.cross_entropy(logits.transpose(1, 2), targets,
                                               reduction="none")
        real = targets != vocab.pad
        after = ((batch[:, :-1] == vocab.S0) | (batch[:, :-1] == vocab.S1)) & real
        assert 0 < int(after.sum()) < int(real.sum())
        w = 5.0
        expected = (ce[real].sum() + (w - 1) * ce[after].sum()) / (real.sum() + (w - 1)
                                                                    * after.sum())
        got = trainer.loss(batch, w)
        plain = trainer.loss(batch)
    assert float(got) == pytest.approx(float(expected), rel=1e-5)
    assert float(got) != pytest.approx(float(plain), rel=1e-3)


@pytest.mark.parametrize("value", ["0.0", "-1.0", "1000.0", "nan"])
def test_a_bad_turn_weight_is_refused_with_its_key_and_range(tmp_path: Path, value: str) -> None:
    card = (ROOT / "agents" / "fisher.toml").read_text()
    assert card.count("\nturn_weight = 1.0 ") == 1  # the shipped card documents the key
    bad = tmp_path / "card.toml"
    bad.write_text(card.replace("\nturn_weight = 1.0 ", f"\nturn_weight = {value} ", 1))
    out = subprocess.run([sys.executable, "-m", "duplexsim.cli", "validate", str(bad)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode != 0
    lines = [line for line in out.stdout.splitlines() if "turn_weight" in line]
    assert len(lines) == 1, out.stdout + out.stderr
    assert "stage3.turn_weight" in lines[0] and "> 0 and <= 100" in lines[0]
    assert "Traceback" not in out.stderr
