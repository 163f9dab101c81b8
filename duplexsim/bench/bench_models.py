"""Model benchmarks (``python -m duplexsim.bench.bench_models``); prints ratios, asserts nothing.

1. Training tokens/s: the recipe's step (:meth:`Trainer.step`: autocast, accumulation,
   clipping, schedule) against a plain torch loop (forward, cross-entropy, backward, AdamW)
   on the same model and the same batch.
2. Chunk generation: the KV-cached rows with the lean forward, the same with HF's forward,
   and recomputing the whole context for every sampled token (HF), same model, same
   context length.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from duplexsim.cli import number
from duplexsim.config.card import AgentCard, ModelCard, ModelSize, StageCard, TrainCard
from duplexsim.models.sampling import CounterRNG, SamplingConfig, sample_tokens
from duplexsim.models.vocab import Vocab
from duplexsim.threads import use_threads
from duplexsim.training.datasets import StageData, prepare
from duplexsim.training.recipe import Dist, Trainer

N_UNITS = 501


class _Seg:
    def __init__(self, speaker: int, a: float, b: float) -> None:
        self.speaker, self.start_s, self.end_s, self.text = speaker, a, b, "hello there"


class _Dlg:
    def __init__(self, rng: np.random.Generator, seconds: float = 120.0) -> None:
        T = int(seconds * 25)
        self.units: np.ndarray | None = np.repeat(rng.integers(0, N_UNITS, size=(2, T // 2)),
                                                  2, axis=1)
        self.segments = [_Seg(i % 2, i * 2.0, i * 2.0 + 1.5) for i in range(int(seconds / 2))]


def card_for(size: ModelSize, seq_len: int, bf16: bool) -> AgentCard:
    stage = StageCard(steps=1000, batch_tokens=seq_len * 8, seq_len=seq_len, warmup_steps=1)
    return AgentCard(model=ModelCard(size=size, n_units=N_UNITS, text_vocab_size=300),
                     train=TrainCard(bf16=bf16), stage3=stage,
                     stage1=StageCard(enabled=False), stage2=StageCard(enabled=False))


def bench_training(size: ModelSize, steps: int, seq_len: int, bf16: bool) -> None:
    card = card_for(size, seq_len, bf16)
    vocab = Vocab(N_UNITS, 300)
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(card, vocab, Path(tmp), Dist(), progress=False)
    data = StageData("stage3", card, prepare([_Dlg(np.random.default_rng(0))], vocab, _NoText()),
                     vocab)
    batch = data.batch(0)
    trainer.optimizer = trainer.new_optimizer(card.stage3)
    n_tokens = batch.numel()

    def recipe() -> None:
        # (a stand-in StageData: step reads only its batch())
        trainer.step(_Fixed(batch), card.stage3, 5, 1000)  # type: ignore[arg-type]

    model = trainer.model
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def plain() -> None:
        logits = model(input_ids=batch[:, :-1]).logits
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                                 batch[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()

    t_recipe, t_plain = _time(recipe, steps), _time(plain, steps)
    print(f"training {size} (card bf16 {bf16}, autocast {trainer.bf16}: bf16 only where the "
          f"processor computes it), {n_tokens} tokens/step: recipe "
          f"{n_tokens / t_recipe:,.0f} tok/s, plain fp32 torch loop {n_tokens / t_plain:,.0f} "
          f"tok/s, ratio {t_plain / t_recipe:.2f}x")


class _NoText:
    def encode(self, text: str):  # noqa: ANN201 - tokenizers-like stub for benchmark text
        return type("E", (), {"ids": []})()


class _Fixed:
    def __init__(self, batch: torch.Tensor) -> None:
        self._batch = batch

    def batch(self, *args, **kwargs) -> torch.Tensor:  # noqa: ANN002, ANN003
        return self._batch


def bench_generation(size: ModelSize, context: int, chunks: int) -> None:
    from duplexsim.models.engine import drive, piece
    from duplexsim.models.model import build_model
    from duplexsim.models.rows import LMRows

    vocab = Vocab(N_UNITS, 300)
    model = build_model(ModelCard(size=size, n_units=N_UNITS), vocab.size, vocab.pad,
                        vocab.bos, vocab.eos).eval()
    prompt = np.random.default_rng(0).integers(0, N_UNITS, context).tolist()
    cfg = SamplingConfig(1.0)

    def cached(backend: str) -> None:
        lm = LMRows(model, N_UNITS, context + 5 * chunks, backend=backend)  # type: ignore[arg-type]
        row, rng = lm.add_row(), CounterRNG(0)
        lm.append(row, prompt)
        for _ in range(chunks):
            lm.append(row, [vocab.S0])
            drive(piece(lm, row, None, 4, (vocab.S0, vocab.S1), cfg, rng))

    @torch.inference_mode()
    def recompute() -> None:
        tokens, rng = list(prompt), CounterRNG(0)
        mask = torch.zeros(1, vocab.size, dtype=torch.bool)
        mask[0, :N_UNITS] = True
        for _ in range(chunks):
            tokens.append(vocab.S0)
            for _ in range(4):
                logits = model(input_ids=torch.tensor([tokens])).logits[0, -1:]
                tokens.append(sample_tokens(logits, mask, [cfg], [rng.uniform()])[0])

    t_lean, t_hf = _time(lambda: cached("lean"), 1), _time(lambda: cached("hf"), 1)
    t_full = _time(recompute, 1)
    print(f"generation {size}, context {context} tokens, {chunks} chunks: KV-cached lean "
          f"{1000 * t_lean / chunks:.1f} ms/chunk, KV-cached HF {1000 * t_hf / chunks:.1f} "
          f"ms/chunk, full recompute {1000 * t_full / chunks:.1f} ms/chunk; lean vs HF "
          f"{t_hf / t_lean:.1f}x, lean vs recompute {t_full / t_lean:.1f}x")


def _time(fn, repeats: int) -> float:  # noqa: ANN001
    fn()  # warm-up
    t0 = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - t0) / repeats


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", default="small", choices=["tiny", "small"])
    parser.add_argument("--steps", type=number(1, 100_000, integer=True), default=5)
    parser.add_argument("--threads", type=number(0, 1024, integer=True), default=None,
                         help="torch threads (default: $DUPLEXSIM_THREADS or 1)")
    args = parser.parse_args(argv)
    use_threads(args.threads)
    bench_training(args.size, args.steps, seq_len=256, bf16=True)
    bench_training(args.size, args.steps, seq_len=256, bf16=False)
    bench_generation(args.size, context=400, chunks=20)
    return 0


if __name__ == "__main__":
    from duplexsim.cli import run_reporting

    # bad input: one line
    raise SystemExit(run_reporting(main, "python -m duplexsim.bench.bench_models"))
