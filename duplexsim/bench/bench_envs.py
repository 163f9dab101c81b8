"""Env speed: TurnTaking-v0 steps per second, replay vs SyncLLM partner, vector speedup.

Prints steps/s of one env with a replay partner (the baseline), with a SyncLLM partner
(``--agent DIR``; else the first agent in ``runs/agents/``; else a tiny agent trained for
a few steps on the shipped dialogue in a temporary folder; ratio against the replay
baseline), and of ``SyncVectorEnv`` / ``AsyncVectorEnv`` with ``--n-envs`` copies (ratios
against the single env: the vector-env speedup). Nothing here is asserted; run
``python -m duplexsim.bench.bench_envs``. Owns :func:`train_tiny_agent` (also used by the
env tests); must not change the envs.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import gymnasium as gym
import numpy as np

import duplexsim  # noqa: F401  (registers the env)
from duplexsim.config.scenario import SideConfig
from duplexsim.envs.registration import TURN_TAKING_ID
from duplexsim.envs.world import default_scenario
from duplexsim.threads import use_threads


def env_factory(duration_s: float, partner: SideConfig | None = None) -> Callable[[], gym.Env]:
    scenario = dataclasses.replace(default_scenario(), duration_s=duration_s)
    if partner is not None:
        scenario = dataclasses.replace(scenario, b=partner)

    def make() -> gym.Env:
        return gym.make(TURN_TAKING_ID, scenario=scenario, max_episode_steps=scenario.n_chunks)

    return make


def train_tiny_agent(out: str | Path, steps: int = 2) -> Path:
    """A tiny SyncLLM (160 ms chunks, 501 units) trained for ``steps`` on the shipped dialogue."""
    from duplexsim.config.card import AgentCard, ModelCard, StageCard, TrainCard
    from duplexsim.corpora import default_dialogue
    from duplexsim.training.recipe import train_agent

    dialogue = default_dialogue()
    stage = StageCard(steps=steps, batch_tokens=256, seq_len=64, warmup_steps=1, lr=3e-3,
                      window_chunks=12)
    card = AgentCard(model=ModelCard(size="tiny", n_units=501, text_vocab_size=300),
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


def steps_per_s(env: gym.Env | gym.vector.VectorEnv, steps: int, n: int = 1) -> float:
    """Env steps per second (a vector step counts ``n`` env steps); resets auto/by hand."""
    rng = np.random.default_rng(0)
    env.reset(seed=0)
    t0 = time.perf_counter()
    for _ in range(steps):
        if n == 1:
            _, _, term, trunc, _ = env.step(int(rng.integers(4)))
            if term or trunc:
                env.reset()
        else:
            env.step(rng.integers(0, 4, n))
    return steps * n / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--n-envs", type=int, default=2)
    p.add_argument("--agent", default="", help="trained SyncLLM agent directory (default: "
                   "the first in runs/agents/, else a tiny one trained now)")
    p.add_argument("--threads", type=int, default=None,
                    help="torch threads (default: $DUPLEXSIM_THREADS or 1)")
    args = p.parse_args(argv)
    use_threads(args.threads)
    make = env_factory(30.0)
    single = steps_per_s(make(), args.steps)
    print(f"TurnTaking-v0, replay partner:   {single:9.1f} steps/s  (baseline)")
    with tempfile.TemporaryDirectory(prefix="bench-envs-") as tmp:
        agent, origin = find_agent(args.agent, tmp)
        llm = env_factory(30.0, SideConfig(kind="syncllm", agent=agent))()
        rate = steps_per_s(llm, max(20, args.steps // 10))
        print(f"TurnTaking-v0, SyncLLM partner:  {rate:9.1f} steps/s  "
              f"(x{rate / single:.3f} of replay; agent {agent}: {origin})")
    for cls in (gym.vector.SyncVectorEnv, gym.vector.AsyncVectorEnv):
        venv = cls([make] * args.n_envs)
        rate = steps_per_s(venv, args.steps // args.n_envs, args.n_envs)
        venv.close()
        print(f"{cls.__name__:14s} x{args.n_envs}:          {rate:9.1f} steps/s  "
              f"(speedup x{rate / single:.2f} vs one env)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
