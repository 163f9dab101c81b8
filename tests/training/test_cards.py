"""The shipped agent cards: every one loads, and each corpus has a ``long`` card that is a
larger model trained on more tokens than its default (the demo's) card."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import LlamaForCausalLM

from duplexsim.config.card import AgentCard, load_card
from duplexsim.models.model import context_tokens, llama_config
from duplexsim.models.vocab import Vocab

AGENTS = Path(__file__).parents[2] / "agents"


def _params(card: AgentCard) -> int:
    vocab = Vocab(card.model.n_units, card.model.text_vocab_size)
    config = llama_config(card.model, vocab.size, vocab.pad, vocab.bos, vocab.eos)
    with torch.device("meta"):  # shapes only: no memory, no time
        model = LlamaForCausalLM(config)
    return sum(p.numel() for p in model.parameters())


def _tokens(card: AgentCard, stage: str) -> int:
    s = card.stages()[stage]
    return s.total_steps * s.seqs_per_micro * s.seq_len * s.grad_accum


def test_every_shipped_card_loads() -> None:
    cards = sorted(AGENTS.glob("*.toml"))
    assert {p.stem for p in cards} >= {"fisher", "candor", "fisher-long", "candor-long"}
    for path in cards:
        load_card(path)


def test_numpy_scalars_in_a_card_are_the_numbers_they_hold() -> None:
    """A hyperparameter sweep written with np.arange: np.int64 layers failed agent.json's
    write after the training."""
    import dataclasses
    import json

    import numpy as np

    card = load_card(AGENTS / "fisher.toml")
    model = dataclasses.replace(card.model, n_layers=np.int64(2),
                                n_units=np.int32(card.model.n_units))
    assert model == dataclasses.replace(card.model, n_layers=2)
    assert type(model.n_layers) is int
    json.dumps(dataclasses.asdict(dataclasses.replace(card, model=model)))


@pytest.mark.parametrize("name", ["fisher", "candor"])
def test_long_card_is_a_larger_model_on_more_tokens(name: str) -> None:
    base, long = load_card(AGENTS / f"{name}.toml"), load_card(AGENTS / f"{name}-long.toml")
    assert long.agent.corpus_preset == base.agent.corpus_preset
    assert (long.model.n_units, long.model.silence_unit) == (base.model.n_units,
                                                             base.model.silence_unit)
    assert long.train.chunk_ms == base.train.chunk_ms
    assert _params(long) >= 5 * _params(base)
    assert context_tokens(long.model) > context_tokens(base.model)
    assert _tokens(long, "stage3") >= 10 * _tokens(base, "stage3")
    assert all(s.enabled for s in long.stages().values())


def test_a_token_budget_counts_every_rank() -> None:
    """``tokens`` is the stage's whole budget: under DDP each step sees ``batch_tokens``
    from every rank, so each rank runs fewer steps (it ran all of them: N x the tokens)."""
    from duplexsim.config.card import StageCard

    s = StageCard(tokens=10_000, batch_tokens=1024, seq_len=256, warmup_steps=1)
    assert s.total_steps == s.steps_for(1) == 10
    assert s.steps_for(2) == 5 and s.steps_for(4) == 3
    assert StageCard(steps=7, seq_len=256, warmup_steps=1).steps_for(4) == 7  # per rank, as before
