"""``python -m duplexsim.bench.bench_models``: the generation ways it times do the same work."""

from __future__ import annotations

import numpy as np

from duplexsim.bench.bench_models import _Recompute, generate
from duplexsim.config.card import ModelCard
from duplexsim.models.model import build_model
from duplexsim.models.rows import LMRows
from duplexsim.models.sampling import SamplingConfig
from duplexsim.models.vocab import Vocab
from duplexsim.tokens import DEFAULT_N_UNITS


def test_cached_and_recomputed_generation_sample_the_same_tokens() -> None:
    """The full-recompute way sampled 4 units a chunk under its own mask (repeats allowed,
    no end tags), so 'lean vs recompute' timed other work and could not be checked equal;
    now all three ways run the engine's piece with the same sampler and seed."""
    vocab = Vocab(DEFAULT_N_UNITS, 300)
    model = build_model(ModelCard(size="tiny", n_units=DEFAULT_N_UNITS), vocab.size, vocab.pad,
                        vocab.bos, vocab.eos).eval()
    prompt = np.random.default_rng(0).integers(0, DEFAULT_N_UNITS, 40).tolist()
    ways = [LMRows(model, DEFAULT_N_UNITS, 80, backend="lean"),
            LMRows(model, DEFAULT_N_UNITS, 80, backend="hf"),
            _Recompute(model, DEFAULT_N_UNITS, 80, backend="hf")]
    outs = [generate(lm, prompt, 4, vocab, SamplingConfig(1.0)) for lm in ways]
    assert outs[0] == outs[1] == outs[2] and len(outs[0]) > 44
    assert ways[2].n_forwarded[0] > ways[1].n_forwarded[0] * 3  # it did re-feed everything
