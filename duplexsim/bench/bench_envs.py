"""Env speed: TurnTaking-v0 steps per second, replay vs SyncLLM partner, vector speedup.

Prints steps/s of one env with a replay partner (the baseline), with a SyncLLM partner
when a trained agent is given (``--agent DIR``; ratio against the replay baseline), and of
``SyncVectorEnv`` / ``AsyncVectorEnv`` with ``--n-envs`` copies (ratios against the single
env: the vector-env speedup). Nothing here is asserted; run
``python -m duplexsim.bench.bench_envs``.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from collections.abc import Callable

import gymnasium as gym
import numpy as np

import duplexsim  # noqa: F401  (registers the env)
from duplexsim.config.scenario import SideConfig
from duplexsim.envs.registration import TURN_TAKING_ID
from duplexsim.envs.world import default_scenario


def env_factory(duration_s: float, partner: SideConfig | None = None) -> Callable[[], gym.Env]:
    scenario = dataclasses.replace(default_scenario(), duration_s=duration_s)
    if partner is not None:
        scenario = dataclasses.replace(scenario, b=partner)

    def make() -> gym.Env:
        return gym.make(TURN_TAKING_ID, scenario=scenario, max_episode_steps=scenario.n_chunks)

    return make


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
    p.add_argument("--agent", default="", help="trained SyncLLM agent directory (optional)")
    args = p.parse_args(argv)
    make = env_factory(30.0)
    single = steps_per_s(make(), args.steps)
    print(f"TurnTaking-v0, replay partner:   {single:9.1f} steps/s  (baseline)")
    if args.agent:
        llm = env_factory(30.0, SideConfig(kind="syncllm", agent=args.agent))()
        rate = steps_per_s(llm, max(20, args.steps // 20))
        print(f"TurnTaking-v0, SyncLLM partner:  {rate:9.1f} steps/s  "
              f"(x{rate / single:.3f} of replay)")
    else:
        print("TurnTaking-v0, SyncLLM partner:  skipped (pass --agent runs/agents/fisher)")
    for cls in (gym.vector.SyncVectorEnv, gym.vector.AsyncVectorEnv):
        venv = cls([make] * args.n_envs)
        rate = steps_per_s(venv, args.steps // args.n_envs, args.n_envs)
        venv.close()
        print(f"{cls.__name__:14s} x{args.n_envs}:          {rate:9.1f} steps/s  "
              f"(speedup x{rate / single:.2f} vs one env)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
