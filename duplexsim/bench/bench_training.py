"""Training benchmarks (``python -m duplexsim.bench.bench_training``); prints, asserts nothing.

What the demo's step budgets and the training CLI's thread choice rest on:

1. **Steps per second of each stage at 1 thread** for every card given (default
   ``agents/fisher.toml`` and ``agents/candor.toml``), and the wall time the card's step
   counts would take at that speed.
2. **Threads**: stage 3 of the first card at 1 and 2 torch threads, alone and beside a
   concurrent 2-thread torch matmul process (the "other work" of a shared machine); the
   four are interleaved over the repeats and printed side by side as ratios.
3. **Two agents**: the first two cards' stage 3 as two 1-thread processes side by side
   against one after the other (what ``duplexsim demo`` does), ``--repeats`` of each in
   turn; side by side counts from the first timed step of either to the last of both.
4. **The demo's training under load**: those two side-by-side processes alone against the
   same beside a concurrent 2-thread torch process (``--repeats`` pairs, interleaved).
5. **Attention**: stage-3 steps of the first card with HF's ``sdpa`` attention against the
   blocked causal attention the trainer uses on the CPU (:mod:`duplexsim.models.attention`),
   two trainers in one 1-thread process, interleaved over the repeats.

Each measurement is a fresh process (thread counts are per process) that builds the
stage's data, runs one warm-up step and times the next ones. Every line also says how busy
the machine was meanwhile (``/proc/stat``: busy cores out of all, of which ours), because
on a shared machine absolute speeds mean little; the ratios measured side by side do.
Corpora: ``--corpus CARD=DIR`` (the corpus the card trains on); without one a synthetic
corpus of random units stands in (speeds only).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from duplexsim.bench.load import torch_load
from duplexsim.bench.measure import interleaved, spread
from duplexsim.cli import HelpFormatter, number


def _cpu_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies over all CPUs since boot; (0, 0) where /proc/stat is absent."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    except OSError:
        return 0, 0
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields) - idle, sum(fields)


class Busy:
    """How many cores were busy between ``start()`` and ``stop()`` (all processes)."""

    def start(self) -> None:
        self.b0, self.t0 = _cpu_jiffies()

    def stop(self) -> float:
        b1, t1 = _cpu_jiffies()
        n = os.cpu_count() or 1
        return n * (b1 - self.b0) / max(1, t1 - self.t0)


def _trainer(card_path: str, corpus: str, stage: str, attention: str = ""):
    """A trainer for ``stage`` of the card after one warm-up step, and the stage's data."""
    from duplexsim.config.card import load_card
    from duplexsim.training.datasets import DialogueLike
    from duplexsim.training.distributed import Dist
    from duplexsim.training.recipe import build_data, make_vocab
    from duplexsim.training.trainer import Trainer

    card = load_card(card_path)
    if corpus:
        from duplexsim.corpora import load_corpus

        c = load_corpus(corpus)
        train: list[DialogueLike] = list(c.dialogues(split="train"))
    else:
        import numpy as np

        from duplexsim.bench.bench_models import random_dialogue

        train = [random_dialogue(np.random.default_rng(i), 600.0) for i in range(4)]
    vocab, tok = make_vocab(card, train)
    trainer = Trainer(card, vocab, Path("/nonexistent"), Dist(), progress=False)
    if attention:
        trainer.model.set_attn_implementation(attention)
    data, _ = build_data(card, vocab, tok, train, train[:1])
    s = card.stages()[stage]
    trainer.optimizer = trainer.new_optimizer(s)
    trainer.step(data[stage], s, 0, s.total_steps)  # warm-up: allocations, first kernels
    return trainer, data[stage], s


def attention_worker(card_path: str, corpus: str, steps: int, repeats: int) -> dict[str, Any]:
    """Seconds per stage-3 step with ``sdpa`` and with the blocked attention, interleaved."""
    from duplexsim.models import attention

    arms = {name: _trainer(card_path, corpus, "stage3", name)
            for name in ("sdpa", attention.NAME)}
    times: dict[str, list[float]] = {name: [] for name in arms}
    for r in range(repeats):
        for name, (trainer, data, s) in arms.items():
            t0 = time.perf_counter()
            for step in range(1 + r * steps, 1 + (r + 1) * steps):
                trainer.step(data, s, step, s.total_steps)
            times[name].append((time.perf_counter() - t0) / steps)
    return {"s_per_step": times}


def bench_attention(card: str, corpus: str, steps: int, repeats: int) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-m", "duplexsim.bench.bench_training",
                          "--attention-worker", card, corpus, str(steps), str(repeats)],
                         env=env, capture_output=True, text=True, check=True)
    times = json.loads(out.stdout.strip().splitlines()[-1])["s_per_step"]
    base, new = times.pop("sdpa"), next(iter(times.values()))
    ratios = sorted(b / n for b, n in zip(base, new, strict=True))
    print(f"5. attention: {card} stage3, {steps} steps x {repeats} repeats, one 1-thread "
          "process, interleaved")
    print(f"   sdpa {statistics.median(base):.3f} s/step, blocked causal "
          f"{statistics.median(new):.3f} s/step: min {ratios[0]:.2f}x, median "
          f"{statistics.median(ratios):.2f}x, max {ratios[-1]:.2f}x", flush=True)


def worker(card_path: str, corpus: str, stage: str, steps: int) -> dict[str, Any]:
    """Time ``steps`` optimizer steps of ``stage`` (after one warm-up step), this process."""
    import resource

    import torch

    trainer, data, s = _trainer(card_path, corpus, stage)
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.monotonic()  # the machine's clock: comparable across processes (see _span)
    for step in range(1, steps + 1):
        trainer.step(data, s, step, s.total_steps)
    t1 = time.monotonic()
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime
    return {"steps": steps, "steps_per_s": steps / (t1 - t0), "wall_s": t1 - t0, "cpu_s": cpu,
            "threads": torch.get_num_threads(), "start_s": t0, "end_s": t1}


def _span(rows: list[dict[str, Any]]) -> float:
    """Seconds from the first worker's first timed step to the last one's end. (The slowest
    worker's own wall time is not it: workers building their data at different speeds time
    windows that overlap only in part, so a side-by-side run looked faster than it was.)"""
    return max(r["end_s"] for r in rows) - min(r["start_s"] for r in rows)


def measure(card: str, corpus: str, stage: str, steps: int, threads: int,
            load: bool = False) -> dict[str, Any]:
    """One worker process (``threads`` torch threads), optionally beside the load."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    cmd = [sys.executable, "-m", "duplexsim.bench.bench_training", "--worker", card,
           corpus, stage, str(steps)]
    with torch_load() if load else contextlib.nullcontext():
        busy = Busy()
        busy.start()
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
        cores = busy.stop()
    row = json.loads(out.stdout.strip().splitlines()[-1])
    row["busy_cores"] = cores  # includes data building before the timed steps
    return row


def _fmt(rows: list[dict[str, Any]]) -> str:
    sps = [r["steps_per_s"] for r in rows]
    busy = statistics.median(r["busy_cores"] for r in rows)
    ours = statistics.median(r["cpu_s"] / r["wall_s"] for r in rows)
    cpu_step = statistics.median(r["cpu_s"] / r["steps"] for r in rows)
    return (f"{statistics.median(sps):.2f} steps/s (min {min(sps):.2f}, max {max(sps):.2f}); "
            f"{cpu_step:.2f} CPU s/step; ours {ours:.1f} cores of a machine busy "
            f"{busy:.1f}/{os.cpu_count()}")


def bench_stages(cards: list[str], corpora: dict[str, str], steps: int) -> None:
    from duplexsim.config.card import load_card

    print("1. steps/s per stage, 1 torch thread")
    for card in cards:
        c = load_card(card)
        total_s = cpu_s = 0.0
        for stage, s in c.stages().items():
            if not s.enabled:
                continue
            r = measure(card, corpora.get(card, ""), stage, steps, 1)
            total_s += s.total_steps / r["steps_per_s"]
            cpu_s += s.total_steps * r["cpu_s"] / r["steps"]
            print(f"   {card} {stage} ({s.total_steps} steps, {s.seqs_per_micro}x{s.seq_len} "
                  f"tokens/step): {_fmt([r])}", flush=True)
        print(f"   {card}: the card's steps at these speeds: {total_s / 60:.1f} min wall, "
              f"{cpu_s / 60:.1f} min of CPU (about the wall time on an idle core)", flush=True)


def bench_threads(card: str, corpus: str, steps: int, repeats: int) -> None:
    print("2. threads: stage3, alone and beside a 2-thread torch matmul process")
    keys = [(threads, load) for load in (False, True) for threads in (1, 2)]
    # interleaved with the order rotated per repeat, so a change in the machine's load (or
    # going first) falls on all four
    runs = interleaved([partial(measure, card, corpus, "stage3", steps, threads, load)
                        for threads, load in keys], repeats)
    rows = {key: [row for _, row in done] for key, done in zip(keys, runs, strict=True)}
    med = {k: statistics.median(r["steps_per_s"] for r in v) for k, v in rows.items()}
    for (threads, load), v in rows.items():
        print(f"   {threads} thread(s), {'beside the load' if load else 'alone'}: {_fmt(v)}")
    print(f"   2 threads / 1 thread: alone {med[2, False] / med[1, False]:.2f}x, beside the load "
          f"{med[2, True] / med[1, True]:.2f}x")
    print(f"   beside the load / alone: 1 thread {med[1, True] / med[1, False]:.2f}x, "
          f"2 threads {med[2, True] / med[2, False]:.2f}x", flush=True)


def _side_by_side(cards: list[str], corpora: dict[str, str], steps: int,
                  load: bool = False) -> tuple[float, float]:
    """The first two cards' stage 3 as two 1-thread processes at once, optionally beside
    the load: (wall s from the first timed step to the last, busy cores meanwhile)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    with torch_load() if load else contextlib.nullcontext():
        busy = Busy()
        busy.start()
        procs = [subprocess.Popen([sys.executable, "-m", "duplexsim.bench.bench_training",
                                   "--worker", card, corpora.get(card, ""), "stage3",
                                   str(steps)], env=env, stdout=subprocess.PIPE, text=True)
                 for card in cards[:2]]
        par = [json.loads(p.communicate()[0].strip().splitlines()[-1]) for p in procs]
        cores = busy.stop()
    return _span(par), cores


def bench_side_by_side(cards: list[str], corpora: dict[str, str], steps: int,
                       repeats: int) -> None:
    print("3. two agents' stage3: two 1-thread processes side by side vs one after the other, "
          "interleaved")

    def one_after_the_other() -> float:
        return sum(measure(card, corpora.get(card, ""), "stage3", steps, 1)["wall_s"]
                   for card in cards[:2])

    # the order rotated per repeat; each returns the seconds of its timed steps
    ways: list[Callable[[], Any]] = [one_after_the_other,
                                     partial(_side_by_side, cards, corpora, steps)]
    seq_runs, par_runs = interleaved(ways, repeats)
    for (_, seq_s), (_, (par_s, cores)) in zip(seq_runs, par_runs, strict=True):
        print(f"   one after the other: {seq_s:.1f} s of timed steps; side by side: {par_s:.1f} "
              f"s (machine busy {cores:.1f} cores): {seq_s / par_s:.2f}x faster", flush=True)
    lo, med, hi = spread([seq_s / par_s for (_, seq_s), (_, (par_s, _)) in
                          zip(seq_runs, par_runs, strict=True)])
    print(f"   side by side vs one after the other: min {lo:.2f}x, median {med:.2f}x, "
          f"max {hi:.2f}x", flush=True)
    print("4. the same side by side (what `duplexsim demo` trains), alone and beside a 2-thread "
          "torch matmul process, interleaved")
    alone_runs, loaded_runs = interleaved(
        [partial(_side_by_side, cards, corpora, steps),
         partial(_side_by_side, cards, corpora, steps, load=True)], repeats)
    ratios = []
    for (_, (alone, _)), (_, (loaded, cores)) in zip(alone_runs, loaded_runs, strict=True):
        ratios.append(loaded / alone)
        print(f"   alone {alone:.1f} s, beside the load {loaded:.1f} s (machine busy "
              f"{cores:.1f} cores): {loaded / alone:.2f}x slower", flush=True)
    print(f"   beside the load / alone: min {min(ratios):.2f}x, median "
          f"{statistics.median(ratios):.2f}x, max {max(ratios):.2f}x (the demo's training, "
          "most of its time; target for the whole demo <= 1.5x)", flush=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m duplexsim.bench.bench_training",
                                description=__doc__.split("\n")[0],
                                formatter_class=HelpFormatter)
    p.add_argument("--cards", nargs="+", default=["agents/fisher.toml", "agents/candor.toml"],
                   help="agent card files to time (threads and attention: the first; side by side: "
                        "the first two) (default: %(default)s)")
    p.add_argument("--corpus", action="append", default=[], metavar="CARD=DIR",
                   help="a card's corpus, CARD as given in --cards, repeatable (none: synthetic "
                        "random units) (default: %(default)s)")
    p.add_argument("--steps", type=number(1, 1_000_000, integer=True), default=10,
                   help="timed steps per measurement (default: %(default)s)")
    p.add_argument("--repeats", type=number(1, 1000, integer=True), default=3,
                   help="side-by-side repeats of each comparison (default: %(default)s)")
    p.add_argument("--only", choices=["stages", "threads", "side-by-side", "attention"],
                   default=None, help="run one benchmark only: stages (1.), threads (2.), "
                   "side-by-side (3. and 4.; needs two --cards), attention (5.) (default: all)")
    p.add_argument("--worker", nargs=4, default=None, help=argparse.SUPPRESS)
    p.add_argument("--attention-worker", nargs=4, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        card, corpus, stage, steps = args.worker
        print(json.dumps(worker(card, corpus, stage, int(steps))))
        return 0
    if args.attention_worker:
        card, corpus, steps, repeats = args.attention_worker
        print(json.dumps(attention_worker(card, corpus, int(steps), int(repeats))))
        return 0
    cards = args.cards  # each one, or the ratios would compare other things than asked
    missing = [c for c in cards if not Path(c).is_file()]
    if missing:
        p.error(f"--cards: {', '.join(missing)} not found (allowed: agent card files; the "
                "default ones are relative to the repository root)")
    corpora = {}
    for kv in args.corpus:  # CARD=DIR; one naming no card given was ignored
        card, _, folder = kv.partition("=")
        if card not in cards or not Path(folder).is_dir():
            p.error(f"--corpus {kv}: allowed CARD=DIR, CARD one of --cards ({', '.join(cards)}) "
                    "and DIR a corpus folder")
        corpora[card] = folder
    print(f"load average at start: {os.getloadavg()[0]:.1f} ({os.cpu_count()} cores)")
    if args.only in (None, "stages"):
        bench_stages(cards, corpora, args.steps)
    if args.only in (None, "threads"):
        bench_threads(cards[0], corpora.get(cards[0], ""), args.steps, args.repeats)
    if args.only in (None, "side-by-side") and len(cards) > 1:
        bench_side_by_side(cards, corpora, args.steps * 3, args.repeats)
    if args.only in (None, "attention"):
        bench_attention(cards[0], corpora.get(cards[0], ""), args.steps, args.repeats)
    return 0


if __name__ == "__main__":
    from duplexsim.cli import run_reporting

    sys.exit(run_reporting(main, "python -m duplexsim.bench.bench_training"))  # bad input: one line
