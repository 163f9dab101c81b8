"""Simulator benchmarks (``python -m duplexsim.bench.bench_sim``); prints ratios, asserts nothing.

Every ratio is measured side by side in one run and repeated (``--repeats``, default 3):
each repeat times both variants back to back, the order rotated per repeat (after one
untimed run of each one-conversation variant), and the min / median / max of baseline time
/ candidate time is printed. Where both variants should play the same conversations (lean
vs HF forward, batched vs one by one) the line says whether they did in every repeat.
Absolute speeds are printed for orientation only: the machine may be shared.

1. One conversation (two SyncLLM agents, 200 ms chunks, continental network): the engine
   with the lean forward (:mod:`duplexsim.models.lean`) against today's HF path, kept
   frozen as the baseline (:mod:`duplexsim.bench.baseline_today`: the pre-engine agent,
   HF's ``LlamaForCausalLM`` with a ``DynamicCache`` per side, ``torch.multinomial``), and
   against the engine with HF's forward (``backend="hf"``: the forward alone).
2. N conversations (different seeds) batched in one thread
   (:func:`duplexsim.sim.batch.run_batch`) against the same N run one by one
   (:func:`duplexsim.sim.run`), N in ``--batch`` (default 16 and 64).
3. Processes: the same conversations on two 1-thread worker processes against one
   (aggregate throughput; the workers are started and warm before the clock starts).
4. ``--under-load``: one conversation alone against the same beside a concurrent process
   running torch matmuls on 2 threads (the slowdown a shared machine inflicts).

Then the ceiling: the lean forward's cost per row-token at 1, 16 and 64 rows (decode
steps at a 300-token context, and packed re-feeds of 12 tokens a row), against what the
batched simulations achieved per row-token forwarded and the share of those tokens that
were re-fed (batching shares the weights' reads of a decode step across rows; a re-fed
token costs its matmul work whatever the batch). The agents are freshly initialised
``small`` (3.25M parameters with the bench's 60 units) or ``tiny`` cards trained for 1
step: speed does not depend on the weights. ``--lookahead`` adds the lookahead /
estimation-accuracy table against one-way delay.
"""

from __future__ import annotations

import argparse
import dataclasses
import multiprocessing
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from duplexsim.bench.forward_ceiling import report_ceiling
from duplexsim.bench.load import torch_load
from duplexsim.bench.measure import interleaved, spread
from duplexsim.cli import HelpFormatter, number
from duplexsim.config.link import LinkConfig
from duplexsim.config.network import NetworkConfig
from duplexsim.config.scenario import Scenario, SideConfig
from duplexsim.sides import SIDES
from duplexsim.sim.trace import Trace
from duplexsim.threads import use_threads

if TYPE_CHECKING:
    from duplexsim.config.card_tables import ModelSize

N_UNITS = 60


def _units(seed: int, seconds: float) -> np.ndarray:
    """``[2, T]`` random units, the channels taking turns every 3 s (silence unit 0)."""
    rng = np.random.default_rng(seed)
    T = int(seconds * 25)
    units = np.repeat(rng.integers(0, N_UNITS, size=(2, T // 2)), 2, axis=1)
    talk = (np.arange(units.shape[1]) // 75) % 2
    units[0, talk == 1] = 0
    units[1, talk == 0] = 0
    return units


class _Dlg:
    def __init__(self, seed: int, seconds: float = 60.0) -> None:
        self.units: np.ndarray | None = _units(seed, seconds)  # (a corpus Dialogue's type)
        self.segments: list[Any] = []


def train_bench_agent(size: ModelSize, out: Path) -> Path:
    from duplexsim.config.card import AgentCard
    from duplexsim.config.card_tables import ModelCard, StageCard, TrainCard
    from duplexsim.training.recipe import train_agent

    stage = StageCard(steps=1, batch_tokens=256, seq_len=128, warmup_steps=1, window_chunks=12)
    card = AgentCard(model=ModelCard(size=size, n_units=N_UNITS, text_vocab_size=300),
                     train=TrainCard(chunk_ms=(160, 200, 240), bf16=False, val_every=1,
                                     val_batches=1, checkpoint_every=1),
                     stage1=StageCard(enabled=False), stage2=StageCard(enabled=False),
                     stage3=stage)
    train_agent(card, [_Dlg(0)], [_Dlg(1)], out, progress=False)
    return out


# ---------------------------------------------------------------------- scenarios
def _scenario(chunk_ms: int, seconds: float, delay_ms: float | None = None) -> Scenario:
    network = NetworkConfig(preset="continental") if delay_ms is None else NetworkConfig(
        preset="ideal", a_to_b=LinkConfig(delay_ms=delay_ms), b_to_a=LinkConfig(delay_ms=delay_ms))
    return Scenario(name="bench", chunk_ms=chunk_ms, duration_s=seconds, seed=0,
                    a=SideConfig(kind="scripted"), b=SideConfig(kind="scripted"), network=network)


def conversations(agent_dir: Path, n: int, seconds: float, first_seed: int = 0,
                  ) -> list[Scenario]:
    """``n`` two-agent conversations (seeds ``first_seed...``), 200 ms chunks, continental."""
    side = SideConfig(kind="syncllm", agent=str(agent_dir))
    return [dataclasses.replace(_scenario(200, seconds), seed=s, name=f"bench-{s}", a=side,
                                b=side) for s in range(first_seed, first_seed + n)]


def run_one_by_one(scenarios: Sequence[Scenario], files: Any) -> list[Trace]:
    """Each scenario alone, its agents on the engine with the lean forward (agent files
    loaded once, as the batch loads them once)."""
    return [run_backend(scenario, files, "auto") for scenario in scenarios]


def forwarded_tokens(traces: Trace | Sequence[Trace]) -> int:
    """Tokens the agents of finished conversations forwarded: sampled and (re-)fed."""
    return sum(int(t.decisions["generated_tokens"].sum() + t.decisions["prefill_tokens"].sum())
               for t in ([traces] if isinstance(traces, Trace) else traces))


def same_conversations(x: Trace | Sequence[Trace], y: Trace | Sequence[Trace]) -> bool:
    """Whether two runs played the same units, conversation by conversation."""
    xs = [x] if isinstance(x, Trace) else list(x)
    ys = [y] if isinstance(y, Trace) else list(y)
    return len(xs) == len(ys) and all(np.array_equal(a.units, b.units)
                                      for a, b in zip(xs, ys, strict=True))


def run_today(scenario: Scenario, files: Any) -> Trace:
    """``scenario`` with both agents on today's HF path (:mod:`.baseline_today`; its
    sampler is not the engine's: other units, other work)."""
    from duplexsim.bench.baseline_today import TodayAgent
    from duplexsim.closing import close_each
    from duplexsim.sim import run

    agents = {key: TodayAgent(files, scenario.chunk_ms, seed=scenario.seed, name=key)
              for key in SIDES}
    try:
        return run(scenario, agents=agents)
    finally:  # built here, given to run: ours to close
        close_each(agents.values())


def run_backend(scenario: Scenario, files: Any, backend: str) -> Trace:
    """``scenario`` on the engine with the ``backend`` forward, both agents on rows of one
    model (as :func:`duplexsim.sim.run` builds them; the files are loaded once, outside)."""
    from duplexsim.agents.syncllm import SyncLLMAgent
    from duplexsim.closing import close_each
    from duplexsim.models.rows import LMRows
    from duplexsim.sim import run

    lm = LMRows(files.model, files.vocab.n_units, files.context_tokens, rows=2,
                backend=backend)  # type: ignore[arg-type]
    agents: dict[str, SyncLLMAgent] = {}
    try:
        for key in SIDES:
            agents[key] = SyncLLMAgent(files, scenario.chunk_ms, seed=scenario.seed, name=key,
                                       lm=lm)
        return run(scenario, agents=agents)
    finally:  # built here, given to run: ours to close (their rows go back to lm)
        close_each(agents.values())


# ---------------------------------------------------------------------- measuring
def _time(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _ratios(name: str, baseline: Callable[[], Any], candidate: Callable[[], Any],
            repeats: int, sim_s: float, target: str, same: bool = False,
            ) -> tuple[list[float], list[tuple[float, Any]]]:
    """Time both side by side ``repeats`` times, the order rotated per repeat
    (:func:`.measure.interleaved`); print min/median/max of baseline/candidate time. When
    both return traces: with ``same``, whether they played the same conversations in every
    repeat (a speed-up that changes the output is no speed-up); and when their tokens
    forwarded differ (other samplers, so other conversations), a second line with the
    ratios per forwarded token. Returns the ratios and the candidate's (seconds, result)."""
    base_runs, cand_runs = interleaved([baseline, candidate], repeats)
    ratios = [tb / tc for (tb, _), (tc, _) in zip(base_runs, cand_runs, strict=True)]
    lo, med, hi = spread(ratios)
    base_s = statistics.median(sim_s / t for t, _ in base_runs)
    cand_s = statistics.median(sim_s / t for t, _ in cand_runs)
    traced = all(isinstance(out, (Trace, list)) for _, out in base_runs + cand_runs)
    verdict = ""
    if traced and same:
        alike = all(same_conversations(b, c)
                    for (_, b), (_, c) in zip(base_runs, cand_runs, strict=True))
        verdict = f"; same conversations: {'yes' if alike else 'NO'}"
    print(f"{name:<44} {lo:5.2f}x {med:5.2f}x {hi:5.2f}x   "
          f"{base_s:7.1f} -> {cand_s:7.1f} sim-s/s   (target {target}){verdict}", flush=True)
    if traced:
        counts = [(forwarded_tokens(b), forwarded_tokens(c))
                  for (_, b), (_, c) in zip(base_runs, cand_runs, strict=True)]
        if all(nb and nc for nb, nc in counts) and any(nb != nc for nb, nc in counts):
            per_token = [(tb / nb) / (tc / nc) for ((tb, _), (tc, _)), (nb, nc)
                         in zip(zip(base_runs, cand_runs, strict=True), counts,
                                strict=True)]
            shown = ", ".join(f"{b} vs {c}" for b, c in sorted(set(counts)))
            print(f"{'  the same, per forwarded token':<44} {min(per_token):5.2f}x "
                  f"{statistics.median(per_token):5.2f}x {max(per_token):5.2f}x   "
                  f"(tokens forwarded {shown}: not the same conversation)", flush=True)
    return ratios, cand_runs


def _worker_run(scenarios: list[Scenario], agent_dir: Path) -> float:
    from duplexsim.models.agentdir import load_agent_files

    use_threads(1)
    files = load_agent_files(agent_dir)
    return _time(lambda: run_one_by_one(scenarios, files))


def bench_processes(agent_dir: Path, n: int, seconds: float, repeats: int) -> list[float]:
    """``2 n`` conversations on one warm 1-thread worker vs split over two."""
    scenarios = conversations(agent_dir, 2 * n, seconds, first_seed=1000)
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(2, mp_context=ctx) as pool:
        # start both workers and warm them with a first conversation each, side by side
        for f in [pool.submit(_worker_run, scenarios[i: i + 1], agent_dir) for i in range(2)]:
            f.result()

        def one() -> None:
            pool.submit(_worker_run, scenarios, agent_dir).result()

        def two() -> None:
            halves = [pool.submit(_worker_run, scenarios[:n], agent_dir),
                      pool.submit(_worker_run, scenarios[n:], agent_dir)]
            for f in halves:
                f.result()

        return _ratios(f"two 1-thread processes vs one ({2 * n} convs)", one, two, repeats,
                       2 * n * seconds, ">= 1.6x")[0]


def bench_under_load(agent_dir: Path, files: Any, seconds: float, repeats: int) -> list[float]:
    (scenario,) = conversations(agent_dir, 1, seconds, first_seed=2000)

    def alone() -> float:
        return _time(lambda: run_backend(scenario, files, "auto"))

    def loaded() -> float:
        with torch_load():  # timed from when the load is "busy", not from its start
            return alone()

    # the order rotated per repeat: the conversation alone does not always go first
    alone_runs, loaded_runs = interleaved([alone, loaded], repeats)
    ratios = [t / a for (_, a), (_, t) in zip(alone_runs, loaded_runs, strict=True)]
    print(f"{'one conversation beside a 2-thread torch job':<44} {min(ratios):5.2f}x "
          f"{statistics.median(ratios):5.2f}x {max(ratios):5.2f}x   slower than alone "
          "(target <= 1.8x)", flush=True)
    return ratios


def bench_lookahead(agent_dir: Path, seconds: float) -> None:
    from duplexsim.agents import load
    from duplexsim.agents.replay import ReplayAgent
    from duplexsim.closing import close_each
    from duplexsim.metrics.estimation import estimation_summary, estimation_table
    from duplexsim.models.sampling import SamplingConfig
    from duplexsim.sim import run

    print(f"\n{'delay ms':>8} {'lookahead':>10} {'unit acc':>9} {'va agree':>9}  (200 ms chunks)")
    for delay in (0.0, 100.0, 200.0, 400.0, 800.0):
        model = load(agent_dir, chunk_ms=200, sampling=SamplingConfig(temperature=0.0),
                     name="a")
        try:
            trace = run(_scenario(200, seconds, delay),
                        agents={"a": model, "b": ReplayAgent(_units(2, seconds + 2)[1], 5)})
        finally:  # loaded here, given to run: ours to close
            close_each([model])
        est = estimation_summary(estimation_table(trace.decisions, {0}))
        a = trace.decisions[trace.decisions["agent"] == "a"]
        print(f"{delay:>8.0f} {a['lookahead'].mean():>10.2f} "
              f"{est['est_unit_accuracy']:>9.3f} {est['est_va_agreement']:>9.3f}")


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    threads = use_threads(args.threads)
    from duplexsim.models.agentdir import load_agent_files

    with tempfile.TemporaryDirectory() as tmp:
        agent_dir = Path(args.agent) if args.agent else train_bench_agent(args.size,
                                                                          Path(tmp) / "agent")
        files = load_agent_files(agent_dir)
        n_params = sum(p.numel() for p in files.model.parameters())
        print(f"two SyncLLM agents, {n_params / 1e6:.2f}M parameters each, {args.seconds:.0f} "
              f"simulated s for one conversation, {args.batch_seconds:.0f} s each in the "
              "batch / process / load runs, 200 ms chunks, continental network, torch "
              f"threads {threads}; ratios min / median / max of {args.repeats} repeats, each "
              "measured side by side (a shared machine moves the absolute speeds)")
        print(f"{'':<44} {'min':>6} {'median':>6} {'max':>6}   baseline -> candidate")
        bench_one_conversation(agent_dir, files, args.seconds, args.repeats)
        achieved = bench_batches(agent_dir, files, args.batch or [], args.batch_seconds,
                                 args.repeats)
        if args.processes:
            bench_processes(agent_dir, args.processes, args.batch_seconds, args.repeats)
        if args.under_load:
            bench_under_load(agent_dir, files, args.batch_seconds, args.repeats)
        report_ceiling(files, achieved)
        if args.lookahead:
            bench_lookahead(agent_dir, args.seconds)
    return 0


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line (each number checked against its range)."""
    parser = argparse.ArgumentParser(prog="python -m duplexsim.bench.bench_sim",
                                     description=__doc__.splitlines()[0],
                                     formatter_class=HelpFormatter)
    parser.add_argument("--size", default="small", choices=("tiny", "small"),
                        help="model size preset of the agent trained for the run (not read with "
                             "--agent) (default: %(default)s)")
    parser.add_argument("--seconds", type=number(1, 86_400), default=20.0,
                        help="simulated seconds of the one-conversation runs"
                             " (default: %(default)s)")
    parser.add_argument("--batch-seconds", type=number(1, 86_400), default=10.0,
                        help="simulated seconds per conversation of the batch, process and "
                             "under-load runs (default: %(default)s)")
    parser.add_argument("--agent", default="", help="use this trained agent directory instead")
    parser.add_argument("--batch", type=number(1, 4096, integer=True), nargs="*", default=[16, 64],
                        help="conversation counts for batched vs one by one (none = skip)"
                             " (default: %(default)s)")
    parser.add_argument("--processes", type=number(0, 4096, integer=True), default=8,
                        help="conversations per worker for the process comparison (0 = skip)"
                             " (default: %(default)s)")
    parser.add_argument("--repeats", type=number(1, 1000, integer=True), default=3,
                        help="side-by-side repeats of each comparison (default: %(default)s)")
    parser.add_argument("--under-load", action="store_true",
                        help="also: one conversation beside a concurrent 2-thread torch job")
    parser.add_argument("--lookahead", action="store_true",
                        help="also: lookahead and estimation accuracy against delay")
    parser.add_argument("--threads", type=number(0, 1024, integer=True), default=None,
                        help="torch threads (default: $DUPLEXSIM_THREADS or 1)")
    return parser.parse_args(argv)


def bench_one_conversation(agent_dir: Path, files: Any, seconds: float, repeats: int) -> None:
    """One conversation: the engine's lean forward against today's HF path, then against the
    engine with HF's forward (each variant run once untimed first)."""
    (one,) = conversations(agent_dir, 1, seconds)
    lean = partial(run_backend, one, files, "auto")
    today, hf = partial(run_today, one, files), partial(run_backend, one, files, "hf")
    for warm in (today, hf, lean):
        warm()  # warm-up: first-call costs out of the way, for each variant
    _ratios("one conversation: lean + step API vs HF today", today, lean, repeats,
            seconds, ">= 1.6x")
    _ratios("one conversation: lean vs HF forward (engine)", hf, lean, repeats,
            seconds, "-", same=True)


def bench_batches(agent_dir: Path, files: Any, counts: Sequence[int], seconds: float,
                  repeats: int) -> dict[int, tuple[float, float]]:
    """N conversations batched against the same run one by one, N in ``counts``; per N, the
    batched runs' median ms per row-token forwarded and share of those tokens re-fed."""
    from duplexsim.sim.batch import run_batch

    achieved = {}
    for n in counts:
        scenarios = conversations(agent_dir, n, seconds, first_seed=100)
        _, batched = _ratios(f"{n} conversations batched vs one by one",
                             partial(run_one_by_one, scenarios, files),
                             partial(run_batch, scenarios), repeats,
                             n * seconds, ">= 2.5x" if n <= 16 else ">= 3.5x",
                             same=True)
        achieved[n] = (statistics.median(t * 1000 / max(forwarded_tokens(traces), 1)
                                         for t, traces in batched),
                       statistics.median(_refed_share(traces) for _, traces in batched))
    return achieved


def _refed_share(traces: Sequence[Trace]) -> float:
    """The share of the tokens forwarded that were re-fed rather than sampled."""
    fed = sum(int(t.decisions["prefill_tokens"].sum()) for t in traces)
    return fed / max(forwarded_tokens(traces), 1)


if __name__ == "__main__":
    from duplexsim.cli import run_reporting

    sys.exit(run_reporting(main, "python -m duplexsim.bench.bench_sim"))  # bad input: one line
