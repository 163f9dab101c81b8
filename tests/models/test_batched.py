"""Batched generation: stream b of a batch == stream b alone (tokens and logits), crop,
constrained pieces, and clear errors. Tiny random-init Llama (speed does not need training)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
from syncllm_fixtures import N_UNITS, synthetic_dialogues  # noqa: E402

from duplexsim.config.card import ModelCard  # noqa: E402
from duplexsim.models.agentdir import AgentFiles  # noqa: E402
from duplexsim.models.batched import BatchedStreamingLM, piece, run_streams  # noqa: E402
from duplexsim.models.continuation import continue_dialogue, continue_dialogues  # noqa: E402
from duplexsim.models.model import build_model  # noqa: E402
from duplexsim.models.streaming import SamplingConfig, StreamingLM, StreamState  # noqa: E402
from duplexsim.models.vocab import Vocab  # noqa: E402

VOCAB = Vocab(N_UNITS, 300)


@pytest.fixture(scope="module")
def model():
    card = ModelCard(size="tiny", n_units=N_UNITS, text_vocab_size=300)
    return build_model(card, VOCAB.size, VOCAB.pad, VOCAB.bos, VOCAB.eos, seed=0)


def files_for(model, context_tokens: int) -> AgentFiles:
    info = {"name": "tiny", "chunk_ms": [160, 200], "silence_unit": 0, "n_units": N_UNITS,
            "n_text": 300, "context_tokens": context_tokens}
    return AgentFiles(Path("tiny-agent"), info, model, VOCAB)


@pytest.mark.parametrize("cfg", [SamplingConfig(), SamplingConfig(0.8, top_k=5, top_p=0.8),
                                 SamplingConfig(temperature=0.0)])
def test_batched_continuation_equals_one_by_one(model, cfg) -> None:
    # context 48 tokens: streams slide (reset + re-prefill) every few chunks, at different
    # times, so decode and prefill forwards mix; max_batch=3 splits 5 prompts in 2 batches
    files = files_for(model, 48)
    d = synthetic_dialogues(2, seconds=20.0)
    prompts = [d[0].units[:, :101], d[1].units[:, :37], d[0].units[:, :3],
               d[1].units[:, 50:250], d[0].units[:, 200:260]]
    seeds = [4, 5, 6, 7, 4]
    batched = continue_dialogues(files, prompts, seconds=6.0, chunk_ms=200, seeds=seeds,
                                 sampling=cfg, max_batch=3)
    for prompt, seed, got in zip(prompts, seeds, batched, strict=True):
        alone = continue_dialogue(files, prompt, 6.0, chunk_ms=200, seed=seed, sampling=cfg)
        assert got.dtype == np.int64 and np.array_equal(got, alone)
        n_prompt = prompt.shape[1] // 5 * 5
        assert got.shape == (2, n_prompt + 30 * 5)
        assert np.array_equal(got[:, :n_prompt], prompt[:, :n_prompt])
    if cfg.temperature > 0:  # the seed matters: same prompt, other seed -> other units
        other = continue_dialogues(files, prompts[:1], 6.0, chunk_ms=200, seeds=[5],
                                   sampling=cfg)[0]
        assert not np.array_equal(other, batched[0])


def test_logits_match_single_stream_and_crop(model) -> None:
    rng = np.random.default_rng(0)
    seqs = [rng.integers(0, N_UNITS + 2, size=n).tolist() for n in (30, 7, 1)]
    lm = BatchedStreamingLM(model, N_UNITS, batch_size=3, max_tokens=64)
    single = StreamingLM(model, N_UNITS)

    def alone(tokens: list[int]) -> torch.Tensor:
        state = StreamState()
        state.append(tokens[:-2])
        single.logits(state)  # same prefill-then-decode split as the batched streams
        state.append(tokens[-2:])
        return single.logits(state)

    for b, s in enumerate(seqs):
        lm.append(b, s)
    lm.logits([0, 1, 2])  # prefill of unequal lengths (right-padded)
    for b in range(3):
        lm.append(b, [b + 1, b + 2])
        seqs[b] += [b + 1, b + 2]
    got = lm.logits([0, 1, 2])  # [3, V]
    for b in range(3):
        torch.testing.assert_close(got[b], alone(seqs[b]), atol=1e-5, rtol=1e-5)
    # crop stream 0 back into its prompt and continue differently; others keep their cache
    lm.crop(0, 12)
    lm.append(0, [3, 9, 4])
    got = lm.logits([0, 2])
    torch.testing.assert_close(got[0], alone(seqs[0][:12] + [3, 9, 4]), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(got[1], alone(seqs[2]), atol=1e-5, rtol=1e-5)
    assert lm.n_cached == [15, len(seqs[1]), len(seqs[2])]


def test_pieces_are_constrained(model) -> None:
    lm = BatchedStreamingLM(model, N_UNITS, batch_size=4, max_tokens=256)
    S0, S1, F = VOCAB.S0, VOCAB.S1, 4

    def program(b: int):  # noqa: ANN202 - a stream program
        pieces = []
        lm.append(b, [S0])
        for _ in range(12):
            start = lm.length(b)
            prev = pieces[-1][0][-1] if pieces and pieces[-1][0] else None
            units, end = yield from piece(lm, b, prev, F, (S0, S1), min_units=b % 2)
            pieces.append((prev, units, end, lm.tokens[b][start:]))
            lm.append(b, [end if end is not None else S0])
        return pieces

    gens = [torch.Generator().manual_seed(s) for s in range(4)]
    results = run_streams(lm, [program(b) for b in range(4)], gens, SamplingConfig(1.5))
    ends = set()
    for b, pieces in enumerate(results):
        for prev, units, end, appended in pieces:
            assert appended == units  # the end tag is returned, not appended
            assert b % 2 <= len(units) <= F and all(0 <= u < N_UNITS for u in units)
            assert np.all(np.diff([prev if prev is not None else -1, *units]) != 0)  # no repeats
            assert end in (S0, S1, None) and (end is not None or len(units) == F)
            ends.add(end)
    assert ends == {S0, S1, None}  # every way a piece can end happened


def test_errors(model) -> None:
    files = files_for(model, 48)
    prompt = np.zeros((2, 20), dtype=np.int64)
    with pytest.raises(ValueError, match=r"seeds: 1 given for 2 prompts"):
        continue_dialogues(files, [prompt, prompt], 1.0, chunk_ms=200, seeds=[1])
    with pytest.raises(ValueError, match=r"prompts\[1\]: shape \(20,\)"):
        continue_dialogues(files, [prompt, prompt[0]], 1.0, chunk_ms=200)
    with pytest.raises(ValueError, match="chunk_ms=240"):
        continue_dialogues(files, [prompt], 1.0, chunk_ms=240)
    lm = BatchedStreamingLM(model, N_UNITS, batch_size=2, max_tokens=8)
    lm.append(1, list(range(9)))
    with pytest.raises(ValueError, match=r"stream 1: 9 tokens \(allowed: <= max_tokens=8\)"):
        lm.logits([1])
    with pytest.raises(ValueError, match="stream 0: no tokens"):
        lm.logits([0])
    with pytest.raises(ValueError, match="at most batch_size=2"):
        run_streams(lm, [iter(())] * 3, [torch.Generator()] * 3, SamplingConfig())


def test_bench_batched_smoke(tmp_path, capsys) -> None:
    import json

    from duplexsim.bench import bench_batched

    rc = bench_batched.main(["--size", "tiny", "--batch", "1", "3", "--seconds", "0.5",
                             "--prompt-s", "1", "--out", str(tmp_path)])
    assert rc == 0 and "speedup" in capsys.readouterr().out
    rows = json.loads((tmp_path / "bench_batched.json").read_text())["rows"]
    assert [r["batch"] for r in rows] == [1, 3] and all(r["identical_units"] for r in rows)
    assert (tmp_path / "bench_batched.png").stat().st_size > 0
