"""The lean forward: logits equal HF's within 1e-5 over packed rows (decode, re-feed after a
crop, long prefill mixed in one call), for the configurations it covers; HF fallback."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from duplexsim.config.card import ModelCard
from duplexsim.models.lean import lean_support
from duplexsim.models.model import build_model
from duplexsim.models.rows import LMRows
from duplexsim.models.vocab import Vocab

N_UNITS = 20
VOCAB = Vocab(N_UNITS, 300)


def llama(**kw: object) -> LlamaForCausalLM:
    torch.manual_seed(0)
    cfg = dict(vocab_size=VOCAB.size, hidden_size=48, num_hidden_layers=2,
               num_attention_heads=4, num_key_value_heads=4, intermediate_size=96,
               max_position_embeddings=512, tie_word_embeddings=True)
    cfg.update(kw)
    return LlamaForCausalLM(LlamaConfig(**cfg)).eval()  # type: ignore[arg-type]


COVERED = {
    "card-tiny": lambda: build_model(ModelCard(size="tiny", n_units=N_UNITS,
                                               text_vocab_size=300),
                                     VOCAB.size, VOCAB.pad, VOCAB.bos, VOCAB.eos, seed=0),
    "gqa-untied-head-dim": lambda: llama(num_key_value_heads=2, head_dim=8,
                                         tie_word_embeddings=False),
    "rope-llama3": lambda: llama(rope_parameters={
        "rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0,
        "low_freq_factor": 1.0, "high_freq_factor": 4.0,
        "original_max_position_embeddings": 64}),
    "rope-linear": lambda: llama(rope_parameters={"rope_type": "linear", "rope_theta": 10000.0,
                                                  "factor": 2.0}),
    "rope-yarn": lambda: llama(rope_parameters={"rope_type": "yarn", "rope_theta": 10000.0,
                                                "factor": 4.0,
                                                "original_max_position_embeddings": 64}),
}


def hf_logits(model: LlamaForCausalLM, tokens: list[int]) -> torch.Tensor:
    with torch.no_grad():
        return model(input_ids=torch.tensor([tokens])).logits[0, -1].float()


@pytest.mark.parametrize("name", sorted(COVERED))
@pytest.mark.parametrize("backend", ["lean", "hf"])
def test_rows_logits_equal_hf_full_recompute(name: str, backend: str) -> None:
    model = COVERED[name]()
    assert lean_support(model) is None
    lm = LMRows(model, N_UNITS, 96, backend=backend)  # type: ignore[arg-type]
    assert lm.backend == backend
    rng = np.random.default_rng(0)
    seqs = [rng.integers(0, VOCAB.size, size=n).tolist() for n in (30, 7, 2, 60)]
    rows = [lm.add_row() for _ in seqs]
    for row, seq in zip(rows, seqs, strict=True):
        lm.append(row, seq[:-1])
    lm.logits(rows)  # prefills of unequal lengths in one packed call
    for row, seq in zip(rows, seqs, strict=True):
        lm.append(row, seq[-1:])
    got = lm.logits(rows)  # decode: one token a row
    for b, seq in enumerate(seqs):
        torch.testing.assert_close(got[b], hf_logits(model, seq), atol=1e-5, rtol=0)
    # crop row 0 back into its prefix and re-feed a different tail; a long re-prefill of
    # row 3 and a plain decode of row 2 share the same call; row 1 is not asked
    lm.crop(rows[0], 12)
    lm.append(rows[0], [3, 9, 4])
    lm.reset(rows[3])
    lm.append(rows[3], seqs[3][:40])
    lm.append(rows[2], [5])
    got = lm.logits([rows[0], rows[2], rows[3]])
    torch.testing.assert_close(got[0], hf_logits(model, seqs[0][:12] + [3, 9, 4]), atol=1e-5,
                               rtol=0)
    torch.testing.assert_close(got[1], hf_logits(model, seqs[2] + [5]), atol=1e-5, rtol=0)
    torch.testing.assert_close(got[2], hf_logits(model, seqs[3][:40]), atol=1e-5, rtol=0)
    assert lm.n_forwarded[rows[0]] == 30 + 4  # prefix cached: only the tail (+1) re-fed
    assert lm.n_forwarded[rows[1]] == 7


def test_uncovered_models_fall_back_to_hf_and_say_why() -> None:
    biased = llama(attention_bias=True)
    assert "attention_bias" in (lean_support(biased) or "")
    lm = LMRows(biased, N_UNITS, 32)  # auto: falls back
    assert lm.backend == "hf"
    row = lm.add_row()
    lm.append(row, [1, 2, 3])
    torch.testing.assert_close(lm.logits([row])[0], hf_logits(biased, [1, 2, 3]), atol=1e-5,
                               rtol=0)
    with pytest.raises(ValueError, match="backend 'lean': not covered: attention_bias"):
        LMRows(biased, N_UNITS, 32, backend="lean")
    dynamic = llama(rope_parameters={"rope_type": "dynamic", "rope_theta": 10000.0,
                                     "factor": 2.0})
    assert "rope_type='dynamic'" in (lean_support(dynamic) or "")


@pytest.mark.parametrize("factor", [0.25, 0.5])
def test_a_partial_rotary_factor_is_refused_by_both_forwards_in_one_line(factor: float) -> None:
    """HF's Llama cannot apply RoPE to part of a head (a shape error from inside its forward);
    the lean forward broadcast the one frequency 0.25 of head_dim 8 leaves over every pair
    and gave logits for a model HF cannot run."""
    model = llama(head_dim=8, rope_parameters={"rope_type": "linear", "rope_theta": 10000.0,
                                               "factor": 2.0, "partial_rotary_factor": factor})
    assert "partial_rotary_factor" in (lean_support(model) or "")
    for backend in ("auto", "lean", "hf"):
        with pytest.raises(ValueError, match=r"LMRows: RoPE frequencies for \d of head_dim 8 "
                                             r"\(partial_rotary_factor\): neither forward"):
            LMRows(model, N_UNITS, 32, backend=backend)  # type: ignore[arg-type]


def test_row_errors_and_reuse() -> None:
    model = COVERED["card-tiny"]()
    lm = LMRows(model, N_UNITS, 8)
    a, b = lm.add_row(), lm.add_row()
    lm.append(b, list(range(9)))
    with pytest.raises(ValueError, match=r"row 1: 9 tokens \(allowed: <= max_tokens=8\)"):
        lm.logits([b])
    with pytest.raises(ValueError, match="row 0: no tokens"):
        lm.logits([a])
    lm.release_row(a)
    assert lm.add_row() == a and lm.tokens[a] == []
    with pytest.raises(ValueError, match="backend='onnx'"):
        LMRows(model, N_UNITS, 8, backend="onnx")  # type: ignore[arg-type]


_DIGEST = """
import hashlib, numpy as np, torch
from duplexsim.threads import use_threads
use_threads(1)
from duplexsim.config.card import ModelCard
from duplexsim.models.model import build_model
from duplexsim.models.rows import LMRows
from duplexsim.models.sampling import SamplingConfig, sample_tokens
from duplexsim.models.vocab import Vocab
V = Vocab(20, 300)
model = build_model(ModelCard(size="tiny", n_units=20, text_vocab_size=300), V.size, V.pad,
                    V.bos, V.eos, seed=0)
lm = LMRows(model, 20, 512, backend="lean")
rng = np.random.default_rng(0)
rows = [lm.add_row() for _ in range(3)]
h = hashlib.sha256()
for r, n in zip(rows, (200, 57, 3)):
    lm.append(r, rng.integers(0, V.size, size=n).tolist())
for step in range(40):
    logits = lm.logits(rows)
    h.update(logits.numpy().tobytes())
    u = [(step * 7 + r) % 97 / 97 for r in range(3)]
    toks = sample_tokens(logits, torch.ones_like(logits, dtype=torch.bool),
                         [SamplingConfig(top_p=0.9)] * 3, u)
    h.update(str(toks).encode())
    for r, t in zip(rows, toks):
        lm.append(r, [t])
print(h.hexdigest())
"""


def test_inference_gives_the_same_bits_on_avx2_and_avx512_code_paths() -> None:
    """Same seed, same bytes on any machine: the lean forward and the sampler give the
    same logits and tokens whichever x86 code path torch, MKL and oneDNN take (an AVX2-only
    processor emulated here on this one). SDPA, F.silu and torch.softmax differed in the
    last bits between AVX2 and AVX-512, and MKL's unpinned matmuls too: the same agent
    sampled other tokens on another processor."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    if "avx2" not in Path("/proc/cpuinfo").read_text(errors="replace"):
        pytest.skip("no AVX2 here: nothing to compare")
    digests = []
    for extra in ({}, {"ATEN_CPU_CAPABILITY": "avx2", "MKL_ENABLE_INSTRUCTIONS": "AVX2",
                       "ONEDNN_MAX_CPU_ISA": "AVX2"}):
        env = {k: v for k, v in os.environ.items() if k != "MKL_CBWR"} | extra
        out = subprocess.run([sys.executable, "-c", _DIGEST], env=env, capture_output=True,
                             text=True, check=True)
        digests.append(out.stdout.strip())
    assert digests[0] == digests[1]


def test_a_rows_logits_are_the_same_bits_alone_or_beside_other_rows() -> None:
    """Batch invariance: MKL rounds a product of fewer than 4 rows differently from one of 4
    or more, so a decode token alone (1 row) and the same token beside others gave other
    logit bits (and once in 20 sweep conversations another sampled unit); the lean forward
    pads every dense product to MIN_ROWS rows."""
    from duplexsim.models.lean import MIN_ROWS, LeanLlama

    model = build_model(ModelCard(size="small", n_units=N_UNITS, text_vocab_size=300),
                        VOCAB.size, VOCAB.pad, VOCAB.bos, VOCAB.eos, seed=0)
    rng = np.random.default_rng(0)
    prompts = [rng.integers(0, VOCAB.size, n).tolist() for n in (5, 1, 3, 8, 2, 6)]
    rows = list(range(len(prompts)))
    alone, together = LeanLlama(model, len(rows), 64), LeanLlama(model, len(rows), 64)
    pairs = LeanLlama(model, len(rows), 64)  # two rows per forward: 2 to 14 tokens
    solo = [alone.forward([r], [p], [0])[0] for r, p in zip(rows, prompts, strict=True)]
    both = torch.cat([pairs.forward(rows[i:i + 2], prompts[i:i + 2], [0, 0])
                      for i in range(0, len(rows), 2)])
    batched = together.forward(rows, prompts, [0] * len(rows))
    for r in rows:
        assert torch.equal(solo[r], batched[r]) and torch.equal(both[r], batched[r]), r
    for step in range(3):  # decode: 1 token alone, 2 in a pair, 6 together
        new = [[int(t)] for t in rng.integers(0, VOCAB.size, len(rows))]
        starts = [len(p) + step for p in prompts]
        solo = [alone.forward([r], [new[r]], [starts[r]])[0] for r in rows]
        both = torch.cat([pairs.forward(rows[i:i + 2], new[i:i + 2], starts[i:i + 2])
                          for i in range(0, len(rows), 2)])
        batched = together.forward(rows, new, starts)
        for r in rows:
            assert torch.equal(solo[r], batched[r]) and torch.equal(both[r], batched[r]), (step, r)
    assert MIN_ROWS == 4


@pytest.mark.parametrize("backend", ["lean", "hf"])
def test_a_row_listed_twice_is_fed_once_and_a_row_is_released_once(backend: str) -> None:
    """``logits([r, r])`` fed row r's new tokens twice: its cache count went past its tokens
    (6 of 3) and the next forward failed. Releasing a row twice put it on the free list twice,
    so two later ``add_row`` calls handed the same row to two conversations."""
    model = COVERED["card-tiny"]()
    lm = LMRows(model, N_UNITS, 64, backend=backend)  # type: ignore[arg-type]
    r = lm.add_row()
    lm.append(r, [1, 2, 3])
    twice = lm.logits([r, r])
    assert lm.n_cached[r] == 3 and torch.equal(twice[0], twice[1])
    torch.testing.assert_close(twice[0], hf_logits(model, [1, 2, 3]), atol=1e-5, rtol=1e-5)
    lm.append(r, [4])
    torch.testing.assert_close(lm.logits([r])[0], hf_logits(model, [1, 2, 3, 4]),
                               atol=1e-5, rtol=1e-5)
    lm.release_row(r)
    with pytest.raises(ValueError, match=r"release_row\(0\): not a row in use"):
        lm.release_row(r)
    with pytest.raises(ValueError, match=r"release_row\(7\): not a row in use"):
        lm.release_row(7)
    assert lm.add_row() != lm.add_row()
