"""Simulator benchmarks (``python -m duplexsim.bench.bench_sim``); prints ratios, asserts nothing.

1. Simulated seconds per wall second at 160/200/240 ms chunks: two SyncLLM agents (a
   freshly initialised ``tiny`` or ``small`` card, trained 1 step: speed does not depend on
   the weights) across a continental network, against the same run with every agent's KV
   cache dropped before each decision (recomputing the full context every chunk), and
   against two replay agents (the simulator's own overhead).
2. Lookahead and estimation accuracy against one-way delay: the SyncLLM agent (greedy)
   against a talking replay partner. With the 1-step bench agent the accuracy numbers only
   show the machinery; use ``--agent DIR`` with a trained agent for meaningful ones.

3. Many conversations: N two-agent conversations (different seeds) simulated one after
   another with :func:`duplexsim.sim.run` against all at once with
   :func:`duplexsim.sim.batch.run_batch` (one batched forward per model step).

The full-recompute baseline resets ``agent.state``'s cache from outside (bench only).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from duplexsim.agents.base import ChunkReport
from duplexsim.agents.replay import ReplayAgent
from duplexsim.config.network import LinkConfig, NetworkConfig
from duplexsim.config.scenario import Scenario, SideConfig
from duplexsim.sim import run

N_UNITS = 60


class _Dlg:
    def __init__(self, seed: int, seconds: float = 60.0) -> None:
        rng = np.random.default_rng(seed)
        T = int(seconds * 25)
        self.units = np.repeat(rng.integers(0, N_UNITS, size=(2, T // 2)), 2, axis=1)
        talk = (np.arange(self.units.shape[1]) // 75) % 2
        self.units[0, talk == 1] = 0
        self.units[1, talk == 0] = 0
        self.segments: list[Any] = []


def train_bench_agent(size: str, out: Path) -> Path:
    from duplexsim.config.card import AgentCard, ModelCard, StageCard, TrainCard
    from duplexsim.training.recipe import train_agent

    stage = StageCard(steps=1, batch_tokens=256, seq_len=128, warmup_steps=1, window_chunks=12)
    card = AgentCard(model=ModelCard(size=size, n_units=N_UNITS, text_vocab_size=300),  # type: ignore[arg-type]
                     train=TrainCard(chunk_ms=(160, 200, 240), bf16=False, val_every=1,
                                     val_batches=1, checkpoint_every=1),
                     stage1=StageCard(enabled=False), stage2=StageCard(enabled=False),
                     stage3=stage)
    train_agent(card, [_Dlg(0)], [_Dlg(1)], out, progress=False)
    return out


class FullRecompute:
    """Wraps a SyncLLM agent; drops its KV cache before every decision (baseline)."""

    def __init__(self, agent: Any) -> None:
        self.agent = agent
        self.name = agent.name + ":recompute"
        self.frames_per_chunk = agent.frames_per_chunk

    def reset(self, seed: int) -> None:
        self.agent.reset(seed)

    def observe_partner(self, chunk: int, units: np.ndarray) -> None:
        self.agent.observe_partner(chunk, units)

    def produce(self, chunk: int) -> ChunkReport:
        state = self.agent.state
        state.cache, state.n_cached, state.last_logits = None, 0, None
        return self.agent.produce(chunk)

    def played(self, chunk: int, units: np.ndarray) -> None:
        self.agent.played(chunk, units)


def _scenario(chunk_ms: int, seconds: float, delay_ms: float | None = None) -> Scenario:
    network = NetworkConfig(preset="continental") if delay_ms is None else NetworkConfig(
        preset="ideal", a_to_b=LinkConfig(delay_ms=delay_ms), b_to_a=LinkConfig(delay_ms=delay_ms))
    return Scenario(name="bench", chunk_ms=chunk_ms, duration_s=seconds, seed=0,
                    a=SideConfig(kind="scripted"), b=SideConfig(kind="scripted"), network=network)


def _speed(scenario: Scenario, agents: dict[str, Any]) -> float:
    t0 = time.perf_counter()
    run(scenario, agents=agents)
    return scenario.duration_s / (time.perf_counter() - t0)


def bench_speed(agent_dir: Path, seconds: float, sizes: tuple[int, ...]) -> None:
    from duplexsim.agents import load
    from duplexsim.models.sampling import SamplingConfig

    sampling = SamplingConfig(temperature=0.9)
    print(f"{'chunk':>6} {'cached sim-s/s':>15} {'recompute sim-s/s':>18} {'speedup':>8} "
          f"{'replay sim-s/s':>15}")
    for chunk_ms in sizes:
        scenario = _scenario(chunk_ms, seconds)

        def pair(wrap: Any = None, c: int = chunk_ms) -> dict[str, Any]:
            agents = {k: load(agent_dir, chunk_ms=c, sampling=sampling, name=k) for k in "ab"}
            return {k: wrap(a) if wrap else a for k, a in agents.items()}

        cached = _speed(scenario, pair())
        recompute = _speed(scenario, pair(FullRecompute))
        F = chunk_ms // 40
        units = _Dlg(0, seconds + 2).units
        replay = _speed(scenario, {"a": ReplayAgent(units[0], F), "b": ReplayAgent(units[1], F)})
        print(f"{chunk_ms:>6} {cached:>15.2f} {recompute:>18.2f} {cached / recompute:>7.2f}x "
              f"{replay:>15.1f}")


def bench_lookahead(agent_dir: Path, seconds: float) -> None:
    from duplexsim.agents import load
    from duplexsim.metrics.estimation import estimation_summary, estimation_table
    from duplexsim.models.sampling import SamplingConfig

    print(f"\n{'delay ms':>8} {'lookahead':>10} {'unit acc':>9} {'va agree':>9}  (200 ms chunks)")
    for delay in (0.0, 100.0, 200.0, 400.0, 800.0):
        # estimating agent A against a talking replay partner B (real speech to guess)
        agents = {"a": load(agent_dir, chunk_ms=200, sampling=SamplingConfig(temperature=0.0),
                            name="a"), "b": ReplayAgent(_Dlg(2, seconds + 2).units[1], 5)}
        scenario = dataclasses.replace(_scenario(200, seconds, delay))
        trace = run(scenario, agents=agents)
        est = estimation_summary(estimation_table(trace.decisions, {0}))
        a = trace.decisions[trace.decisions["agent"] == "a"]
        print(f"{delay:>8.0f} {a['lookahead'].mean():>10.2f} "
              f"{est['est_unit_accuracy']:>9.3f} {est['est_va_agreement']:>9.3f}")


def bench_batch(agent_dir: Path, seconds: float, counts: tuple[int, ...]) -> None:
    from duplexsim.sim.batch import run_batch

    print(f"\n{'convs':>6} {'one by one sim-s/s':>19} {'batched sim-s/s':>16} {'speedup':>8}"
          "  (160 ms chunks, continental, total simulated s / wall s)")
    for n in counts:
        scenarios = [dataclasses.replace(
            _scenario(160, seconds), seed=s, name=f"bench-{s}",
            a=SideConfig(kind="syncllm", agent=str(agent_dir)),
            b=SideConfig(kind="syncllm", agent=str(agent_dir))) for s in range(n)]
        t0 = time.perf_counter()
        for scenario in scenarios:
            run(scenario)
        alone = n * seconds / (time.perf_counter() - t0)
        t0 = time.perf_counter()
        run_batch(scenarios)
        batched = n * seconds / (time.perf_counter() - t0)
        print(f"{n:>6} {alone:>19.2f} {batched:>16.2f} {batched / alone:>7.2f}x")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="tiny", choices=("tiny", "small"))
    parser.add_argument("--seconds", type=float, default=20.0, help="simulated seconds per run")
    parser.add_argument("--agent", default="", help="use this trained agent directory instead")
    parser.add_argument("--batch", type=int, nargs="*", default=[4, 16],
                        help="conversation counts for the batched comparison (none = skip)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        agent_dir = Path(args.agent) if args.agent else train_bench_agent(args.size,
                                                                          Path(tmp) / "agent")
        from duplexsim.models.agentdir import load_agent_files

        n_params = sum(p.numel() for p in load_agent_files(agent_dir).model.parameters())
        print(f"two SyncLLM agents, {n_params / 1e6:.2f}M parameters each, "
              f"{args.seconds:.0f} simulated s per run, continental network")
        bench_speed(agent_dir, args.seconds, (160, 200, 240))
        bench_lookahead(agent_dir, args.seconds)
        if args.batch:
            bench_batch(agent_dir, args.seconds, tuple(args.batch))
    return 0


if __name__ == "__main__":
    sys.exit(main())
