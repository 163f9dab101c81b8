"""Model benchmarks (``python -m duplexsim.bench.bench_models``); prints ratios, asserts nothing.

1. Training tokens/s: the recipe's step (:meth:`Trainer.step`: autocast, accumulation,
   clipping, schedule) against a plain torch loop (forward, cross-entropy, backward, AdamW)
   on the same model and the same batch.
2. Chunk generation: the KV-cached rows with the lean forward, the same with HF's forward,
   and recomputing the whole context for every sampled token (HF), same model, same
   context, same sampler and seed: the tokens are checked equal.

Each comparison runs ``--repeats`` times side by side, the order rotated per repeat, after
a warm-up; ratios print as min / median / max of the per-repeat ratios.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

import numpy as np
import torch

from duplexsim.bench.measure import interleaved, spread
from duplexsim.cli import HelpFormatter, number
from duplexsim.config.card import AgentCard
from duplexsim.config.card_tables import ModelCard, ModelSize, StageCard, TrainCard
from duplexsim.models.engine import drive, piece
from duplexsim.models.rows import LMRows
from duplexsim.models.sampling import CounterRNG, SamplingConfig
from duplexsim.models.vocab import Vocab
from duplexsim.threads import use_threads
from duplexsim.tokens import DEFAULT_N_UNITS
from duplexsim.training.datasets import DialogueLike, StageData, prepare
from duplexsim.training.distributed import Dist
from duplexsim.training.trainer import Trainer


class _Seg:
    def __init__(self, speaker: int, a: float, b: float) -> None:
        self.speaker, self.start_s, self.end_s, self.text = speaker, a, b, "hello there"


class _Dlg:
    def __init__(self, rng: np.random.Generator, seconds: float = 120.0) -> None:
        T = int(seconds * 25)
        self.units: np.ndarray | None = np.repeat(
            rng.integers(0, DEFAULT_N_UNITS, size=(2, T // 2)), 2, axis=1)
        self.segments = [_Seg(i % 2, i * 2.0, i * 2.0 + 1.5) for i in range(int(seconds / 2))]


def random_dialogue(rng: np.random.Generator, seconds: float = 120.0) -> DialogueLike:
    """A stand-in dialogue for the training benchmarks (here and ``bench_training`` without
    a corpus): random units, each held two frames, on both channels, and a 1.5 s "hello
    there" every 2 s, the speakers alternating."""
    return _Dlg(rng, seconds)


def card_for(size: ModelSize, seq_len: int, bf16: bool) -> AgentCard:
    stage = StageCard(steps=1000, batch_tokens=seq_len * 8, seq_len=seq_len, warmup_steps=1)
    return AgentCard(model=ModelCard(size=size, n_units=DEFAULT_N_UNITS, text_vocab_size=300),
                     train=TrainCard(bf16=bf16), stage3=stage,
                     stage1=StageCard(enabled=False), stage2=StageCard(enabled=False))


def bench_training(size: ModelSize, steps: int, seq_len: int, bf16: bool,
                   repeats: int) -> None:
    card = card_for(size, seq_len, bf16)
    vocab = Vocab(DEFAULT_N_UNITS, 300)
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(card, vocab, Path(tmp), Dist(), progress=False)
    dialogue = random_dialogue(np.random.default_rng(0))
    data = StageData("stage3", card, prepare([dialogue], vocab, _NoText()), vocab)
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

    recipe()  # warm-up: allocations, first kernels
    plain()
    runs_recipe, runs_plain = interleaved([partial(_steps, recipe, steps),
                                           partial(_steps, plain, steps)], repeats)
    t_recipe = statistics.median(t for t, _ in runs_recipe) / steps
    t_plain = statistics.median(t for t, _ in runs_plain) / steps
    lo, med, hi = spread([p / r for (r, _), (p, _) in zip(runs_recipe, runs_plain, strict=True)])
    print(f"training {size} (card bf16 {bf16}, autocast {trainer.bf16}: bf16 only where the "
          f"processor computes it), {n_tokens} tokens/step: recipe "
          f"{n_tokens / t_recipe:,.0f} tok/s, plain fp32 torch loop {n_tokens / t_plain:,.0f} "
          f"tok/s; plain time / recipe time (above 1: the recipe is faster) {lo:.2f}x "
          f"{med:.2f}x {hi:.2f}x")


def _steps(step: Callable[[], None], n: int) -> None:
    for _ in range(n):
        step()


class _NoText:
    def encode(self, text: str):  # noqa: ANN201 - tokenizers-like stub for benchmark text
        return type("E", (), {"ids": []})()


class _Fixed:
    def __init__(self, batch: torch.Tensor) -> None:
        self._batch = batch

    def batch(self, *args, **kwargs) -> torch.Tensor:  # noqa: ANN002, ANN003
        return self._batch


class _Recompute(LMRows):
    """Rows that forget their cache before every forward: each sampled token re-feeds the
    whole context (the same tokens, sampler and random numbers as the cached rows)."""

    def logits(self, rows: Sequence[int]) -> torch.Tensor:
        for row in rows:
            tokens = self.tokens[row]
            self.reset(row)
            self.append(row, tokens)
        return super().logits(rows)


def generate(lm: LMRows, prompt: list[int], chunks: int, vocab: Vocab,
             cfg: SamplingConfig) -> list[int]:
    """``chunks`` own pieces of at most 4 units after ``prompt``, each after an ``[S0]``
    (the engine's :func:`~duplexsim.models.engine.piece`, seed 0); the row's tokens."""
    row, rng = lm.add_row(), CounterRNG(0)
    lm.append(row, prompt)
    for _ in range(chunks):
        lm.append(row, [vocab.S0])
        drive(piece(lm, row, None, 4, (vocab.S0, vocab.S1), cfg, rng))
    return list(lm.tokens[row])


def bench_generation(size: ModelSize, context: int, chunks: int, repeats: int) -> None:
    from duplexsim.models.model import build_model

    vocab = Vocab(DEFAULT_N_UNITS, 300)
    model = build_model(ModelCard(size=size, n_units=DEFAULT_N_UNITS), vocab.size, vocab.pad,
                        vocab.bos, vocab.eos).eval()
    prompt = np.random.default_rng(0).integers(0, DEFAULT_N_UNITS, context).tolist()
    cfg = SamplingConfig(1.0)
    n = context + 5 * chunks

    def way(rows: type[LMRows], backend: str) -> Callable[[], list[int]]:
        return lambda: generate(rows(model, DEFAULT_N_UNITS, n, backend=backend),  # type: ignore[arg-type]
                                prompt, chunks, vocab, cfg)

    ways = [way(LMRows, "lean"), way(LMRows, "hf"), way(_Recompute, "hf")]
    for fn in ways:
        fn()  # warm-up
    lean, hf, full = interleaved(ways, repeats)
    # a speed-up that changes the tokens is no speed-up (HF's and the lean logits differ
    # by float rounding, so a near tie could, in principle, sample another unit)
    same = {tuple(out) for _, out in lean + hf + full}
    ms = [1000 * statistics.median(t for t, _ in v) / chunks for v in (lean, hf, full)]
    vs_hf = spread([h / t for (t, _), (h, _) in zip(lean, hf, strict=True)])
    vs_full = spread([f / t for (t, _), (f, _) in zip(lean, full, strict=True)])
    print(f"generation {size}, context {context} tokens, {chunks} chunks: KV-cached lean "
          f"{ms[0]:.1f} ms/chunk, KV-cached HF {ms[1]:.1f} ms/chunk, full recompute (HF) "
          f"{ms[2]:.1f} ms/chunk; same tokens: {'yes' if len(same) == 1 else 'NO'}")
    print(f"  lean vs HF {vs_hf[0]:.2f}x {vs_hf[1]:.2f}x {vs_hf[2]:.2f}x, lean vs recompute "
          f"{vs_full[0]:.2f}x {vs_full[1]:.2f}x {vs_full[2]:.2f}x (other's time / lean's; "
          f"min / median / max of {repeats} repeats side by side)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m duplexsim.bench.bench_models",
                                     description=__doc__,
                                     formatter_class=HelpFormatter)
    parser.add_argument("--size", default="small", choices=["tiny", "small"],
                        help="model size preset (untrained: speed does not depend on the weights) "
                             "(default: %(default)s)")
    parser.add_argument("--steps", type=number(1, 100_000, integer=True), default=5,
                        help="timed training steps per measurement (default: %(default)s)")
    parser.add_argument("--repeats", type=number(1, 1000, integer=True), default=3,
                        help="side-by-side repeats of each comparison (default: %(default)s)")
    parser.add_argument("--threads", type=number(0, 1024, integer=True), default=None,
                         help="torch threads (default: $DUPLEXSIM_THREADS or 1)")
    args = parser.parse_args(argv)
    use_threads(args.threads)
    bench_training(args.size, args.steps, seq_len=256, bf16=True, repeats=args.repeats)
    bench_training(args.size, args.steps, seq_len=256, bf16=False, repeats=args.repeats)
    bench_generation(args.size, context=400, chunks=20, repeats=args.repeats)
    return 0


if __name__ == "__main__":
    from duplexsim.cli import run_reporting

    # bad input: one line
    raise SystemExit(run_reporting(main, "python -m duplexsim.bench.bench_models"))
