"""Batched continuation benchmark (``python -m duplexsim.bench.bench_batched``); asserts nothing.

Continues B = 1, 4, 16 prompt dialogues with one freshly initialised ``small`` model
(h256, 4 layers; speed does not depend on the weights) two ways: batched
(:func:`duplexsim.models.continuation.continue_dialogues`, one forward per step for all
streams) and one at a time (:func:`~duplexsim.models.continuation.continue_dialogue` per
prompt, the single-stream reference), side by side ``--repeats`` times, interleaved.
Prints simulated seconds per wall second for each (median times; a conversation's
simulated time counts once per conversation), the speedup (one at a time / batched wall
time) as min / median / max over the repeats, and whether both ways produced the same
units in every repeat. ``--out DIR`` also writes
``bench_batched.json`` and ``bench_batched.png``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from functools import partial
from pathlib import Path

import numpy as np

from duplexsim.atomic import write_json, write_png
from duplexsim.bench.measure import interleaved, spread
from duplexsim.cli import HelpFormatter, number
from duplexsim.config.card import AgentCard, AgentInfo
from duplexsim.config.card_tables import ModelCard, ModelSize, TrainCard
from duplexsim.models.agentdir import AgentFiles
from duplexsim.models.continuation import continue_dialogue, continue_dialogues
from duplexsim.models.model import build_model
from duplexsim.models.sampling import SamplingConfig
from duplexsim.models.vocab import Vocab
from duplexsim.threads import use_threads
from duplexsim.tokens import DEFAULT_N_UNITS

N_TEXT = 300


def bench_agent(size: ModelSize, seed: int = 0) -> AgentFiles:
    """An untrained agent of preset ``size`` held in memory (no directory needed); its
    ``info`` is the agent.json training would write for its card
    (:func:`~duplexsim.training.recipe.agent_info`)."""
    from duplexsim.training.checkpoints import RunState
    from duplexsim.training.recipe import agent_info

    card = AgentCard(agent=AgentInfo(name=f"bench-{size}"),
                     model=ModelCard(size=size, n_units=DEFAULT_N_UNITS,
                                     text_vocab_size=N_TEXT),
                     train=TrainCard(chunk_ms=(160, 200, 240)))
    vocab = Vocab(DEFAULT_N_UNITS, N_TEXT)
    model = build_model(card.model, vocab.size, vocab.pad, vocab.bos, vocab.eos, seed=seed)
    return AgentFiles(Path(f"bench-{size}"), agent_info(card, vocab, RunState(), corpus=""),
                      model, vocab)


def prompts_for(n: int, seconds: float, seed: int = 0) -> list[np.ndarray]:
    """Turn-taking prompts: 3 s turns of doubled random units, the listener silent."""
    rng = np.random.default_rng(seed)
    T = int(seconds * 25)
    out = []
    for _ in range(n):
        units = np.repeat(rng.integers(1, DEFAULT_N_UNITS, size=(2, (T + 1) // 2)), 2,
                          axis=1)[:, :T]
        talk = (np.arange(T) // 75) % 2
        units[0, talk == 1] = 0
        units[1, talk == 0] = 0
        out.append(units)
    return out


def _one_at_a_time(files: AgentFiles, prompts: list[np.ndarray], seconds: float,
                   chunk_ms: int, seeds: list[int], cfg: SamplingConfig) -> list[np.ndarray]:
    return [continue_dialogue(files, p, seconds, chunk_ms, s, cfg)
            for p, s in zip(prompts, seeds, strict=True)]


def run(files: AgentFiles, batch_sizes: list[int], seconds: float, prompt_s: float,
        chunk_ms: int, repeats: int = 3) -> list[dict[str, float]]:
    """Each B: both ways ``repeats`` times, interleaved (:func:`.measure.interleaved`), after
    one untimed warm-up of each; the ratios are per repeat, the speeds from median times."""
    cfg = SamplingConfig()
    # warm-up (first-call costs; continue_dialogue is continue_dialogues of one prompt)
    continue_dialogue(files, prompts_for(1, prompt_s)[0], chunk_ms / 1000, chunk_ms, 0, cfg)
    rows = []
    for B in batch_sizes:
        prompts, seeds = prompts_for(B, prompt_s, seed=B), list(range(B))
        alone = partial(_one_at_a_time, files, prompts, seconds, chunk_ms, seeds, cfg)
        batched = partial(continue_dialogues, files, prompts, seconds, chunk_ms, seeds, cfg,
                          max_batch=B)
        runs_alone, runs_batched = interleaved([alone, batched], repeats)
        # a speed-up that changes the units is no speed-up: every repeat, both ways alike
        same = all(np.array_equal(a, b) for (_, one), (_, many) in
                   zip(runs_alone, runs_batched, strict=True)
                   for a, b in zip(one, many, strict=True))
        lo, med, hi = spread([ta / tb for (ta, _), (tb, _) in
                              zip(runs_alone, runs_batched, strict=True)])
        t_alone = statistics.median(t for t, _ in runs_alone)
        t_batched = statistics.median(t for t, _ in runs_batched)
        # simulated seconds as generated: the frames past each prompt's cut to whole chunks
        # (the continuation covers at least ``seconds``, rounding up to a whole chunk)
        per_chunk = chunk_ms // 40
        sim_s = sum(u.shape[1] - p.shape[1] // per_chunk * per_chunk
                    for u, p in zip(runs_batched[0][1], prompts, strict=True)) * 0.04
        row = {"batch": B, "sim_s": sim_s, "repeats": repeats,
               "wall_one_at_a_time_s": t_alone, "wall_batched_s": t_batched,
               "sim_per_wall_one_at_a_time": sim_s / t_alone,
               "sim_per_wall_batched": sim_s / t_batched, "speedup": med,
               "speedup_min": lo, "speedup_max": hi, "identical_units": same}
        rows.append(row)
        print(f"B={B:3d}  {sim_s:6.1f} sim-s  one at a time "
              f"{row['sim_per_wall_one_at_a_time']:6.2f}"
              f" sim-s/wall-s  batched {row['sim_per_wall_batched']:6.2f} sim-s/wall-s  "
              f"speedup {lo:5.2f}x {med:5.2f}x {hi:5.2f}x  identical units: "
              f"{'yes' if same else 'NO'}", flush=True)
    return rows


def plot(rows: list[dict[str, float]], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5))
    xs = [str(r["batch"]) for r in rows]
    w = 0.4
    idx = np.arange(len(rows))
    ax.bar(idx - w / 2, [r["sim_per_wall_one_at_a_time"] for r in rows], w, label="one at a time")
    ax.bar(idx + w / 2, [r["sim_per_wall_batched"] for r in rows], w, label="batched")
    ax.set_xticks(idx, xs)
    ax.set_xlabel("conversations B")
    ax.set_ylabel("simulated s per wall s")
    ax.set_title(title, fontsize=9)
    ax.legend()
    write_png(fig, path, dpi=120)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m duplexsim.bench.bench_batched",
                                     description=__doc__.splitlines()[0],
                                     formatter_class=HelpFormatter)
    parser.add_argument("--size", default="small", choices=("tiny", "small"),
                        help="model size preset (untrained: speed does not depend on the weights) "
                             "(default: %(default)s)")
    parser.add_argument("--batch", type=number(1, 4096, integer=True), nargs="+",
                        default=[1, 4, 16], help="numbers of conversations (default: %(default)s)")
    parser.add_argument("--seconds", type=number(0, 3600, low_open=True), default=8.0,
                        help="continued seconds each (default: %(default)s)")
    parser.add_argument("--prompt-s", type=number(0, 3600, low_open=True), default=10.0,
                        help="prompt seconds each (default: %(default)s)")
    parser.add_argument("--chunk-ms", type=int, default=160, choices=(160, 200, 240),
                        help="chunk length in ms (default: %(default)s)")
    parser.add_argument("--repeats", type=number(1, 1000, integer=True), default=3,
                        help="side-by-side repeats per B (default: %(default)s)")
    parser.add_argument("--out", default="", help="also write JSON + PNG here")
    parser.add_argument("--threads", type=number(0, 1024, integer=True), default=None,
                         help="torch threads (default: $DUPLEXSIM_THREADS or 1)")
    args = parser.parse_args(argv)
    use_threads(args.threads)
    import torch

    files = bench_agent(args.size)
    n_params = sum(p.numel() for p in files.model.parameters())
    title = (f"continuation, {args.size} model ({n_params / 1e6:.1f}M params), "
             f"{args.chunk_ms} ms chunks, {torch.get_num_threads()} threads; speedup min / "
             f"median / max of {args.repeats} repeats side by side")
    print(title)
    rows = run(files, args.batch, args.seconds, args.prompt_s, args.chunk_ms, args.repeats)
    if args.out:
        out = Path(args.out)
        write_json(out / "bench_batched.json", {"title": title, "args": vars(args),
                                                "rows": rows})
        plot(rows, out / "bench_batched.png", title)
        print(f"wrote {out / 'bench_batched.json'} and {out / 'bench_batched.png'}")
    return 0


if __name__ == "__main__":
    from duplexsim.cli import run_reporting

    sys.exit(run_reporting(main, "python -m duplexsim.bench.bench_batched"))  # bad input: one line
