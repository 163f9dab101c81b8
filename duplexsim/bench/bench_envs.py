"""Env speed: TurnTaking-v0 steps per second, one env against vectorised ones, side by side.

Prints, in one run: steps/s of one env with a replay partner (the baseline), of Gymnasium's
``SyncVectorEnv`` and of the native vector env (``gym.make_vec(...,
vectorization_mode="vector_entry_point")``) with ``--n-envs`` replay conversations (target:
10k steps/s at 16), then (unless ``--replay-only``) one env with a SyncLLM partner
(``--agent DIR``; else the first agent in ``runs/agents/``; else a tiny agent trained now)
against the native vector env with ``--n-envs`` SyncLLM partners (target: 8x one env); each
vector env also split over ``--workers`` processes (:mod:`duplexsim.envs.sharded`). A
vector step counts ``n`` env steps; each variant is measured ``--repeats`` times in turn
with the others, the order rotated per repeat (median [min, max]; ratios per repeat). The
SimPy events per env step of the replay vector env are counted in a separate untimed run,
and with ``--phases`` where its time goes (one more run, its methods wrapped in timers
while it lasts). Nothing here is asserted; run ``python -m duplexsim.bench.bench_envs``.
Owns :func:`train_tiny_agent` (also used by the env tests); must not change the envs.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

import duplexsim  # noqa: F401  (registers the env)
from duplexsim.bench.env_costs import events_per_step, full_collections, phase_costs
from duplexsim.bench.measure import interleaved
from duplexsim.cli import HelpFormatter, number
from duplexsim.config.scenario import SideConfig
from duplexsim.envs.registration import TURN_TAKING_ID
from duplexsim.envs.world import default_scenario
from duplexsim.threads import use_threads
from duplexsim.tokens import DEFAULT_N_UNITS


def env_kwargs(duration_s: float, partner: SideConfig | None = None) -> dict[str, Any]:
    scenario = dataclasses.replace(default_scenario(), duration_s=duration_s)
    if partner is not None:
        scenario = dataclasses.replace(scenario, b=partner)
    return {"scenario": scenario, "max_episode_steps": scenario.n_chunks}


def env_factory(duration_s: float, partner: SideConfig | None = None) -> Callable[[], gym.Env]:
    kwargs = env_kwargs(duration_s, partner)

    def make() -> gym.Env:
        return gym.make(TURN_TAKING_ID, **kwargs)

    return make


def train_tiny_agent(out: str | Path, steps: int = 2) -> Path:
    """A tiny SyncLLM (160 ms chunks, 501 units) trained for ``steps`` on the shipped dialogue."""
    from duplexsim.config.card import AgentCard
    from duplexsim.config.card_tables import ModelCard, StageCard, TrainCard
    from duplexsim.corpora import default_dialogue
    from duplexsim.training.recipe import train_agent

    dialogue = default_dialogue()
    stage = StageCard(steps=steps, batch_tokens=256, seq_len=64, warmup_steps=1, lr=3e-3,
                      window_chunks=12)
    card = AgentCard(model=ModelCard(size="tiny", n_units=DEFAULT_N_UNITS, text_vocab_size=300),
                     train=TrainCard(chunk_ms=(160,), bf16=False, val_every=steps,
                                     val_batches=1, checkpoint_every=steps),
                     stage1=stage, stage2=stage, stage3=stage)
    train_agent(card, [dialogue.crop(0.0, 40.0)], [dialogue.crop(40.0, 60.0)], out,
                progress=False)
    return Path(out)


def find_agent(given: str, tmp: str) -> tuple[str, str]:
    """(agent directory, where it came from) for the SyncLLM partner."""
    if given:
        return given, "given"
    found = sorted(Path("runs/agents").glob("*/agent.json"))
    if found:
        return str(found[0].parent), "runs/agents"
    return str(train_tiny_agent(Path(tmp) / "tiny")), "tiny, trained now"


def episode_steps_per_s(env: gym.Env | gym.vector.VectorEnv, n: int = 1) -> float:
    """Env steps per second over one whole episode from ``reset(seed=0)`` (of every env, for
    a vector env of ``n``): one env and a vector env are timed over the same chunks. A
    SyncLLM partner's steps get dearer as its context fills, so a fixed step count compared
    a vector env's first chunks with one env's whole episode (16 envs, 300 steps: chunks
    1-18 against 1-188 and 112 of the next; the ratio 7-30 % high)."""
    rng = np.random.default_rng(0)
    env.reset(seed=0)
    ended, steps = np.zeros(n, bool), 0
    t0 = time.perf_counter()
    while not ended.all():
        _, _, term, trunc, _ = env.step(rng.integers(0, 4, n) if n > 1 else int(rng.integers(4)))
        ended |= np.logical_or(term, trunc)
        steps += 1
    return steps * n / (time.perf_counter() - t0)


def steps_per_s(env: gym.Env | gym.vector.VectorEnv, steps: int, n: int = 1) -> float:
    """Env steps per second over ``steps`` calls (a vector step counts ``n``); one warm-up
    step first (a SyncLLM partner's first forward builds its caches)."""
    rng = np.random.default_rng(0)
    env.reset(seed=0)
    env.step(rng.integers(0, 4, n) if n > 1 else 0)
    t0 = time.perf_counter()
    for _ in range(steps):
        if n == 1:
            _, _, term, trunc, _ = env.step(int(rng.integers(4)))
            if term or trunc:
                env.reset()
        else:
            env.step(rng.integers(0, 4, n))
    return steps * n / (time.perf_counter() - t0)


def ppo_steps_per_s(n: int, steps: int) -> float:
    """Env steps per second of Stable-Baselines3 PPO learning ``steps`` on
    :class:`~duplexsim.envs.sb3.SB3VecEnv` over ``n`` replay conversations (what a learner
    gets: the env and the policy's updates together; ``MlpPolicy`` on the voice-activity
    keys, ``n_steps`` 256, batch 1024, 2 epochs, seed 0)."""
    from stable_baselines3 import PPO
    from stable_baselines3.common.logger import Logger
    from stable_baselines3.common.vec_env import VecMonitor

    from duplexsim.envs.sb3 import SB3VecEnv

    venv = SB3VecEnv(gym.make_vec(TURN_TAKING_ID, num_envs=n,
                                  vectorization_mode="vector_entry_point",
                                  autoreset_mode="SameStep", **env_kwargs(30.0)),
                     keys=["own_vad", "partner_vad", "partner_received"])
    model = PPO("MlpPolicy", VecMonitor(venv), n_steps=256, batch_size=1024, n_epochs=2,
                seed=0, device="cpu")
    model.set_logger(Logger(folder=None, output_formats=[]))  # no tempdir/SB3-<time> folder
    t0 = time.perf_counter()
    model.learn(steps)
    return steps / (time.perf_counter() - t0)


def make_sharded(n: int, workers: int, kwargs: dict[str, Any]) -> gym.vector.VectorEnv | None:
    """The vector env of ``n`` conversations over ``workers`` processes (None for one)."""
    if workers < 2:
        return None
    return gym.make_vec(TURN_TAKING_ID, num_envs=n, workers=workers,
                        vectorization_mode="vector_entry_point", **kwargs)


def _spread(values: list[float]) -> str:
    """``median [min, max]`` of a measurement's repeats."""
    return (f"{statistics.median(values):9.1f} [{min(values):.1f}, {max(values):.1f}]")


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    use_threads(args.threads)
    n, repeats = args.n_envs, max(1, args.repeats)
    native = _replay_speeds(args, n, repeats)
    _replay_costs(args, native, n, repeats)
    if args.replay_only:
        return 0
    _syncllm_speeds(args, n, repeats)
    return 0


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line, checked (a broken ``--agent`` is one line now, before any run)."""
    p = argparse.ArgumentParser(prog="python -m duplexsim.bench.bench_envs",
                                description=__doc__.splitlines()[0],
                                formatter_class=HelpFormatter)
    p.add_argument("--steps", type=number(1, 10_000_000, integer=True), default=6016,
                   help="replay env steps per measurement (default: %(default)s, two whole "
                        "188-step episodes of 16 envs, so episode ends and resets count)")
    p.add_argument("--n-envs", type=number(1, 4096, integer=True), default=16,
                   help="envs in each vector env (default: %(default)s)")
    p.add_argument("--repeats", type=number(1, 1000, integer=True), default=3,
                   help="measurements of each variant, side by side in turn "
                        "(default: %(default)s): steps/s print as median [min, max], ratios "
                        "as the median of the per-repeat ratios; one full garbage collection "
                        "of the process (about 0.15 s) can fall into a measurement or not")
    p.add_argument("--ppo-steps", type=number(0, 10_000_000, integer=True), default=0,
                   help="also time Stable-Baselines3 PPO learning this many steps on the "
                        "native vector env of replay partners (default: %(default)s: skipped)")
    p.add_argument("--phases", action="store_true",
                   help="also break a replay vector step down by phase (simulation, "
                        "observation, reward, infos, resets...), in a separate timed run")
    p.add_argument("--agent", default="", help="trained SyncLLM agent directory (default: "
                   "the first in runs/agents/, else a tiny one trained now)")
    p.add_argument("--replay-only", action="store_true",
                   help="measure the replay partners only: skip the SyncLLM part (no agent "
                        "is looked up or trained)")
    p.add_argument("--threads", type=number(0, 1024, integer=True), default=None,
                   help="torch threads (default: $DUPLEXSIM_THREADS or 1)")
    p.add_argument("--workers", type=number(1, 1024, integer=True),
                   default=min(2, len(os.sched_getaffinity(0))),
                   help="processes of the sharded vector env measured beside the one-process "
                        "one (default: 2, or 1 on a one-core machine: not measured)")
    args = p.parse_args(argv)
    if not 1 <= args.workers <= args.n_envs:
        p.error(f"--workers {args.workers}: allowed 1..--n-envs ({args.n_envs})")
    if args.replay_only and args.agent:
        p.error(f"--agent {args.agent}: not with --replay-only (allowed: one of the two)")
    if args.agent:  # a missing or broken agent is one line now, not after the replay runs
        from duplexsim.models.agentdir import read_agent_json

        read_agent_json(Path(args.agent))
    return args


def _replay_speeds(args: argparse.Namespace, n: int, repeats: int) -> gym.vector.VectorEnv:
    """Print the replay partners' steps/s: one env, then ``SyncVectorEnv``, the native vector
    env and the sharded one of ``n``, side by side; the native vector env, for the costs."""
    kwargs = env_kwargs(30.0)
    one = gym.make(TURN_TAKING_ID, **kwargs)
    sync = gym.make_vec(TURN_TAKING_ID, num_envs=n, vectorization_mode="sync", **kwargs)
    native = gym.make_vec(TURN_TAKING_ID, num_envs=n,
                          vectorization_mode="vector_entry_point", **kwargs)
    sharded = make_sharded(n, args.workers, kwargs)
    vector_steps = max(1, args.steps // n)
    variants = [partial(steps_per_s, one, args.steps),
                *(partial(steps_per_s, env, vector_steps, n)
                  for env in (sync, native, sharded) if env is not None)]
    rates = _rates(variants, repeats)
    single, synced, batched = rates[:3]
    spread = rates[3] if sharded is not None else []
    print(f"steps/s: median [min, max] of {repeats} repeats, each variant in turn, the order "
          "rotated per repeat")
    print(f"replay partner, one env:              {_spread(single)} steps/s  (baseline)")
    print(f"replay partner, SyncVectorEnv x{n}:    {_spread(synced)} steps/s  "
          f"(x{_ratio(synced, single):.2f})")
    print(f"replay partner, native vector x{n}:    {_spread(batched)} steps/s  "
          f"(x{_ratio(batched, single):.2f}; target: 10k steps/s at 16)")
    if sharded is not None:
        sharded.close()
        print(f"replay partner, {args.workers} processes x{n}:     {_spread(spread)} steps/s  "
              f"(x{_ratio(spread, single):.2f}; x{_ratio(spread, batched):.2f} of one process)")
    return native


def _replay_costs(args: argparse.Namespace, native: gym.vector.VectorEnv, n: int,
                  repeats: int) -> None:
    """Print where the native replay vector env's time goes, each in a separate run: SimPy
    events per step, full garbage collections, ``--phases`` and ``--ppo-steps``."""
    print(f"replay partner, SimPy events per env step: "
          f"{events_per_step(native, max(1, args.steps // n), n):.1f}")
    passes, share = full_collections(native, 8 * max(1, args.steps // n), n)
    print(f"replay partner, native vector x{n}: {passes} full garbage collections in "
          f"{8 * max(1, args.steps // n) * n} env steps, {share:.1%} of the time")
    if args.phases:
        phases = phase_costs(native, 8 * max(1, args.steps // n), n)
        total = phases[0][1]
        print(f"replay partner, native vector x{n}: where an env step's time goes "
              "(us per env step, inclusive, timers on):")
        for label, us in phases:
            print(f"  {label:34s} {us:7.1f} us  {us / total:6.1%}")
    if args.ppo_steps > 0:
        ppo = [ppo_steps_per_s(n, args.ppo_steps) for _ in range(repeats)]
        print(f"SB3 PPO on the native vector x{n}:     {_spread(ppo)} steps/s  "
              f"({args.ppo_steps} steps each)")


def _syncllm_speeds(args: argparse.Namespace, n: int, repeats: int) -> None:
    """Print the SyncLLM partners' steps/s (whole episodes): one env, the native vector env
    and the sharded one of ``n``, side by side (the agent found or trained now)."""
    with tempfile.TemporaryDirectory(prefix="bench-envs-") as tmp:
        agent, origin = find_agent(args.agent, tmp)
        llm = env_kwargs(30.0, SideConfig(kind="syncllm", agent=agent))
        one = gym.make(TURN_TAKING_ID, **llm)
        native = gym.make_vec(TURN_TAKING_ID, num_envs=n,
                              vectorization_mode="vector_entry_point", **llm)
        sharded = make_sharded(n, args.workers, llm)
        envs: list[tuple[gym.Env | gym.vector.VectorEnv, int]] = [
            (one, 1), *((env, n) for env in (native, sharded) if env is not None)]
        for env, k in envs:  # warm-up, untimed: first-call costs (caches, workers, torch)
            env.reset(seed=0)
            env.step(np.zeros(k, np.int64) if k > 1 else 0)
        variants = [partial(episode_steps_per_s, env, k) for env, k in envs]
        rates = _rates(variants, repeats)
        single, batched = rates[:2]
        spread = rates[2] if sharded is not None else []
        print(f"SyncLLM partner, one env:             {_spread(single)} steps/s  "
              f"(agent {agent}: {origin}; each a whole 30 s episode from reset)")
        print(f"SyncLLM partner, native vector x{n}:   {_spread(batched)} steps/s  "
              f"(x{_ratio(batched, single):.2f} of one SyncLLM env; target 8x)")
        if sharded is not None:
            sharded.close()
            print(f"SyncLLM partner, {args.workers} processes x{n}:   {_spread(spread)} "
                  f"steps/s  (x{_ratio(spread, single):.2f} of one SyncLLM env; "
                  f"x{_ratio(spread, batched):.2f} of one process)")


def _rates(variants: Sequence[Callable[[], float]], repeats: int) -> list[list[float]]:
    """Each variant's steps/s per repeat, the variants in turn, the order rotated per repeat
    (:func:`duplexsim.bench.measure.interleaved`)."""
    return [[rate for _, rate in runs] for runs in interleaved(variants, repeats)]


def _ratio(candidate: list[float], baseline: list[float]) -> float:
    """Median over repeats of candidate / baseline measured in the same repeat."""
    return statistics.median(c / b for c, b in zip(candidate, baseline, strict=True))


if __name__ == "__main__":
    from duplexsim.cli import run_reporting

    sys.exit(run_reporting(main, "python -m duplexsim.bench.bench_envs"))  # bad input: one line
