"""RL on turn-taking (issue 6): PPO learns when to speak against a replayed partner.

The learner takes side A of ``duplexsim/TurnTaking-v0`` (turn actions: silent, speak,
backchannel, stop) against a replay of the shipped dialogue across the default network,
so it hears the partner at least one chunk late and must anticipate. PPO
(stable-baselines3, MLP policy on the voice-activity part of the observation, without
the episode clock) trains for
a small budget; the learned policy, a random policy and an always-speak policy are then
evaluated on held-out seeds: episode reward and turn-taking statistics.
Writes ``OUT/results.csv``, ``OUT/results.md`` (mean +- sd over episodes), ``OUT/rl.png``,
``OUT/config.json`` and ``OUT/ppo.zip``.

    python experiments/rl_turn_policy.py --out runs/rl_turn_policy          # full (~10 min)
    python experiments/rl_turn_policy.py --smoke --out /tmp/rl_smoke        # seconds
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pandas as pd
from tqdm import tqdm

import duplexsim  # noqa: F401  (registers duplexsim/TurnTaking-v0)
from duplexsim.atomic import atomic_path, write_json, write_text
from duplexsim.envs.actions import TurnAction
from duplexsim.envs.registration import TURN_TAKING_ID
from duplexsim.envs.world import default_scenario
from duplexsim.threads import use_threads

# no "time": the replay partner plays the same dialogue every episode, and a clock would let
# the policy memorise when to talk instead of listening for the partner's pauses
POLICY_KEYS = ["own_vad", "partner_vad", "partner_received", "lookahead", "own_state"]
STATS = ["overlap_share", "silence_share", "speech_share", "fto_median_ms", "ipus_per_min",
         "backchannels_per_min"]
COUNTS = ["overlap_ms", "gap_ms", "transitions", "interruptions"]


def make_env(duration_s: float) -> gym.Env:
    """The env the policy sees: the voice-activity keys of the observation, flattened."""
    scenario = dataclasses.replace(default_scenario(), duration_s=duration_s)
    env = gym.make(TURN_TAKING_ID, scenario=scenario, max_episode_steps=scenario.n_chunks)
    env = gym.wrappers.FilterObservation(env, POLICY_KEYS)
    return gym.wrappers.FlattenObservation(env)


def evaluate(policy: Callable[[np.ndarray, np.random.Generator], int], name: str,
             duration_s: float, seeds: list[int]) -> list[dict[str, Any]]:
    """One row per episode: total reward, turn-taking summary and event counts."""
    rows = []
    env = make_env(duration_s)
    for seed in tqdm(seeds, desc=f"eval {name}", leave=False):
        obs, _ = env.reset(seed=seed)
        rng = np.random.default_rng(seed)
        total, done, info = 0.0, False, {}
        while not done:
            obs, reward, terminated, truncated, info = env.step(policy(obs, rng))
            total += float(reward)
            done = terminated or truncated
        summary = info.get("turntaking", {})
        rows.append({"policy": name, "seed": seed, "reward": total,
                     **{k: summary.get(k, float("nan")) for k in STATS},
                     **{k: info["events"][k] for k in COUNTS}})
    env.close()
    return rows


def train(timesteps: int, duration_s: float, seed: int, out: Path) -> Any:
    from stable_baselines3 import PPO

    env = make_env(duration_s)
    model = PPO("MlpPolicy", env, seed=seed, n_steps=min(512, max(64, timesteps)),
                batch_size=64, learning_rate=3e-4, gamma=0.98, ent_coef=0.01, verbose=0,
                device="cpu")
    model.learn(total_timesteps=timesteps, progress_bar=True)
    with atomic_path(out / "ppo.zip", suffix=".zip") as tmp:
        model.save(tmp)
    return model


def plot(df: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    policies = list(dict.fromkeys(df["policy"]))
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.5))
    for ax, (col, label) in zip(axes, [("reward", "episode reward"),
                                       ("overlap_share", "overlap share"),
                                       ("silence_share", "joint silence share")], strict=True):
        g = df.groupby("policy", sort=False)[col]
        ax.bar(policies, g.mean()[policies], yerr=g.std(ddof=0)[policies], capsize=4,
               color=["tab:green", "tab:gray", "tab:red", "tab:blue"][: len(policies)])
        ax.set_title(label)
    fig.suptitle("TurnTaking-v0 vs replay partner: PPO vs baselines")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)


def table(df: pd.DataFrame) -> str:
    cols = ["reward", *STATS, *COUNTS]
    g = df.groupby("policy", sort=False)[cols]
    mean, sd = g.mean(), g.std(ddof=0)
    lines = ["| policy | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for name in mean.index:
        cells = [f"{mean.loc[name, c]:.3g} +- {sd.loc[name, c]:.2g}" for c in cols]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("runs/rl_turn_policy"))
    p.add_argument("--smoke", action="store_true", help="tiny budget, short episodes")
    p.add_argument("--timesteps", type=int, default=None, help="PPO budget (full: 60000)")
    p.add_argument("--duration-s", type=float, default=None, help="episode length (full: 30)")
    p.add_argument("--episodes", type=int, default=None, help="eval episodes per policy")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None,
                   help="torch threads (default: $DUPLEXSIM_THREADS or 1)")
    args = p.parse_args(argv)
    use_threads(args.threads)
    timesteps = args.timesteps or (256 if args.smoke else 60_000)
    # smoke: 12 s, long enough that the replayed partner (channel 1 of the shipped default
    # dialogue, silent until 8.6 s) speaks, so the baselines differ in overlap
    duration_s = args.duration_s or (12.0 if args.smoke else 30.0)
    episodes = args.episodes or (2 if args.smoke else 20)
    args.out.mkdir(parents=True, exist_ok=True)
    config = {"timesteps": timesteps, "duration_s": duration_s, "episodes": episodes,
              "seed": args.seed, "scenario": default_scenario().to_dict()}
    write_json(args.out / "config.json", config)
    model = train(timesteps, duration_s, args.seed, args.out)
    seeds = [10_000 + i for i in range(episodes)]  # held out: training used args.seed
    policies: dict[str, Callable[[np.ndarray, np.random.Generator], int]] = {
        "ppo": lambda obs, rng: int(model.predict(obs, deterministic=True)[0]),
        "random": lambda obs, rng: int(rng.integers(len(TurnAction))),
        "always-speak": lambda obs, rng: int(TurnAction.SPEAK),
        "silent": lambda obs, rng: int(TurnAction.SILENT),
    }
    rows = [r for name, pol in policies.items() for r in evaluate(pol, name, duration_s, seeds)]
    df = pd.DataFrame(rows)
    with atomic_path(args.out / "results.csv") as tmp:
        df.to_csv(tmp, index=False)
    text = table(df)
    write_text(args.out / "results.md", text)
    plot(df, args.out / "rl.png")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
