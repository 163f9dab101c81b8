"""How rl_turn_policy.py trains and evaluates turn policies in ``duplexsim/TurnTaking-v0``:
the partner pools (:func:`train_pool`, :func:`eval_sets`), PPO's training (:func:`train`) or
an earlier run's policy (:func:`load_policy`), the rule baseline's tuning (:func:`tune_rule`),
a cell's episodes side by side in the vector env (:func:`run_episodes`) and the
reward-farming check (:func:`farming`). Must not parse flags, compute the report's
statistics (:mod:`rl_stats`) or write the report (:mod:`rl_report`)."""

from __future__ import annotations

import copy
import dataclasses
import time
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import duplexsim  # noqa: F401  (registers duplexsim/TurnTaking-v0)
from duplexsim.atomic import atomic_path
from duplexsim.config import load_scenario
from duplexsim.config.link import LinkConfig
from duplexsim.envs.baselines import CorpusReference, RulePolicy, TurnPolicy, fixed_policies
from duplexsim.envs.rewards import TERMS
from duplexsim.envs.vector import TurnTakingVectorEnv, make_vector_env
from duplexsim.errors import InputError

import gymnasium as gym
import numpy as np
import pandas as pd
from resample import cluster_weights  # the two-level bootstrap over dialogues
from rl_stats import COUNTS, N_BOOT, STATS, ci95

if TYPE_CHECKING:  # its Config is only a type here
    from rl_config import Config

ROOT = Path(__file__).resolve().parents[1]
# no "time": a clock would let the policy learn when dialogues tend to have turns instead
# of listening; no raw units: turn-taking is about voice activity
POLICY_KEYS = ["own_vad", "partner_vad", "partner_received", "lookahead", "own_state"]


def base_scenario(cfg: Config, delay_ms: float) -> Any:
    s = load_scenario(ROOT / cfg.scenario)  # (an absolute path stays as it is)
    link = LinkConfig(delay_ms=float(delay_ms))
    return dataclasses.replace(s, duration_s=cfg.duration_s, seed=cfg.seed,
                               network=dataclasses.replace(s.network, a_to_b=link,
                                                           b_to_a=link))


def policy_space(cfg: Config) -> gym.spaces.Dict:
    """The observation keys PPO sees (flattened in this order by the SB3 adapter)."""
    env = TurnTakingVectorEnv(num_envs=1, scenario=base_scenario(cfg, 0),
                              partner=replay_pool(cfg, "train"), window=cfg.window)
    space = env.single_observation_space
    assert isinstance(space, gym.spaces.Dict)  # the turn-taking env's always is
    return gym.spaces.Dict({k: space[k] for k in POLICY_KEYS})


def replay_pool(cfg: Config, split: str) -> dict[str, Any]:
    return {"kind": "replay", "corpus": cfg.corpus, "split": split, "start_s": "random"}


def train_pool(cfg: Config) -> list[dict[str, Any]]:
    pool: list[dict[str, Any]] = [replay_pool(cfg, "train")]
    if cfg.train_agents:
        pool.append({"kind": "syncllm", "agents": cfg.train_agents, "weight": cfg.agent_weight,
                     "speech_corpus": cfg.corpus, "speech_split": "train"})
    return pool


def eval_sets(cfg: Config, every: bool = False) -> dict[str, Any]:
    """Evaluation set name -> partner pool: the ones ``cfg.sets`` names (``every``, or
    none named: all)."""
    sets: dict[str, Any] = {"train-dialogues": replay_pool(cfg, "train"),
                            "test-dialogues": replay_pool(cfg, "test")}
    if cfg.test_corpus:  # every dialogue of it: none was trained on
        sets["test-corpus"] = {"kind": "replay", "corpus": cfg.test_corpus,
                               "start_s": "random"}
    # the learner's lines against a held-out agent: --corpus's test split, or with a
    # --test-corpus the train split of that one (none of its dialogues was trained on; its
    # test split is a tenth of them, too few dialogues to resample)
    speech = ({"speech_corpus": cfg.test_corpus, "speech_split": "train"} if cfg.test_corpus
              else {"speech_corpus": cfg.corpus, "speech_split": "test"})
    for name, agent in cfg.eval_agents.items():
        sets[f"agent-{name}"] = {"kind": "syncllm", "agent": agent, **speech}
    if every or not cfg.sets:
        return sets
    return {name: pool for name, pool in sets.items() if name in cfg.sets}


@dataclass
class PPOPolicy:
    """The trained PPO model as a :class:`TurnPolicy` on the env's own observation."""

    model: Any
    space: gym.spaces.Dict
    obs_norm: Any = None
    """The training run's observation normaliser (SB3 ``VecNormalize``), frozen."""
    name: str = "ppo"

    def reset(self, env: Any, rng: np.random.Generator) -> None:  # noqa: ARG002
        return

    def __call__(self, obs: dict[str, np.ndarray]) -> int:
        return int(self.batch({k: v[None] for k, v in obs.items()})[0])

    def batch(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        """Actions for a batch of observations (the vector env's ``[n, ...]`` arrays)."""
        n = len(next(iter(obs.values())))
        # a Dict space flattens to one array (gymnasium types flatten's result as any
        # space's: array, dict or tuple)
        flat = np.stack([cast(np.ndarray, gym.spaces.flatten(
            self.space, {k: obs[k][i] for k in self.space.spaces}))
                         for i in range(n)]).astype(np.float32)
        if self.obs_norm is not None:
            flat = self.obs_norm.normalize_obs(flat)
        return self.model.predict(flat, deterministic=True)[0]


def run_episodes(cfg: Config, partner: Any, delay_ms: float, policy: TurnPolicy,
                 seeds: Sequence[int]) -> list[dict[str, Any]]:
    """One row per episode: reward, its terms, event counts and turn-taking statistics.

    All episodes of a cell run side by side in the native vector env (every episode has
    the scenario's length, so they end together); a conversation gives the same rollout as
    alone. Baselines act per conversation (a copy each), PPO on the whole batch.
    """
    s = base_scenario(cfg, delay_ms)
    venv = TurnTakingVectorEnv(num_envs=len(seeds), scenario=s, partner=partner,
                               window=cfg.window, max_episode_steps=s.n_chunks)
    obs, _ = venv.reset(seed=list(seeds))
    copies = [copy.deepcopy(policy) for _ in seeds] if not isinstance(policy, PPOPolicy) else []
    for env, pol, seed in zip(venv.envs, copies, seeds, strict=False):
        pol.reset(env, np.random.default_rng(seed))
    totals = np.zeros(len(seeds))
    terms = {k: np.zeros(len(seeds)) for k in TERMS}
    done = False
    while not done:
        if isinstance(policy, PPOPolicy):
            actions = policy.batch(obs)
        else:
            actions = np.array([pol({k: v[i] for k, v in obs.items()})
                                for i, pol in enumerate(copies)])
        obs, rewards, terminated, truncated, info = venv.step(actions)
        totals += rewards
        for k in TERMS:
            terms[k] += info["reward_terms"][k]
        done = bool((terminated | truncated).all())
    rows = []
    for i, seed in enumerate(seeds):
        info_i = venv.envs[i].partner_info
        rows.append({"delay_ms": delay_ms, "policy": policy.name, "seed": seed,
                     "partner": info_i["label"], "dialogue": dialogue_of(info_i),
                     "reward": totals[i],
                     **{f"r_{k}": terms[k][i] for k in TERMS},
                     **{k: info["events"][k][i] for k in COUNTS},
                     **{k: info["turntaking"][k][i] for k in STATS}})
        good, bad = rows[-1]["backchannels_good"], rows[-1]["backchannels_bad"]
        rows[-1]["bc_placed_share"] = good / (good + bad) if good + bad else float("nan")
    venv.close()
    return rows


def dialogue_of(partner_info: dict[str, Any]) -> str:
    """The dialogue an episode is cut from, its resampling unit: the replayed one (both
    channels of a dialogue are one unit), against an agent the learner's lines' one."""
    return f"{Path(str(partner_info['speech_corpus'])).name}:{partner_info['speech_dialogue']}"


def progress_log(path: Path) -> Any:
    """SB3's ``CSVOutputFormat`` writing to ``path``, its new columns added in sorted order.

    SB3's own adds the keys a row brings in set order (``key_values.keys() - self.keys``),
    which changes with ``PYTHONHASHSEED`` from run to run; the file is otherwise SB3's: the
    header rewritten (earlier rows padded with empty cells) when new keys appear."""
    from stable_baselines3.common.logger import CSVOutputFormat, filter_excluded_keys

    class SortedCSVOutputFormat(CSVOutputFormat):
        def write(self, key_values: dict[str, Any], key_excluded: dict[str, tuple[str, ...]],
                  step: int = 0) -> None:
            new = sorted(filter_excluded_keys(key_values, key_excluded, "csv").keys()
                         - self.keys)
            if new:  # as SB3 does, in sorted order; SB3's write then finds no new keys
                self.keys.extend(new)
                self.file.seek(0)
                lines = self.file.readlines()
                self.file.seek(0)
                self.file.write(self.separator.join(self.keys) + "\n")
                for line in lines[1:]:
                    self.file.write(line[:-1] + self.separator * len(new) + "\n")
            super().write(key_values, key_excluded, step)

    return SortedCSVOutputFormat(str(path))


def train(cfg: Config, out: Path, workers: int = 1) -> tuple[Any, Any]:
    """PPO on the train pool, ``envs_per_latency`` conversations per latency in one native
    vector env through the SB3 adapter, split over ``workers`` processes (the same
    rollouts, so the same policy, with any number)."""
    from duplexsim.envs.sb3 import SB3VecEnv

    from stable_baselines3 import PPO
    from stable_baselines3.common.logger import Logger
    from stable_baselines3.common.vec_env import VecMonitor, VecNormalize

    scenarios = [base_scenario(cfg, d) for d in cfg.latencies_ms
                 for _ in range(cfg.envs_per_latency)]
    venv = SB3VecEnv(make_vector_env(
        num_envs=len(scenarios), workers=min(workers, len(scenarios)), scenario=scenarios,
        partner=train_pool(cfg),
        window=cfg.window, max_episode_steps=scenarios[0].n_chunks, autoreset_mode="SameStep"),
        keys=POLICY_KEYS)
    venv.seed(cfg.seed)
    # observations and rewards scaled by running statistics (lookahead counts chunks,
    # the rest is 0..1; reward scales differ by latency)
    norm = VecNormalize(VecMonitor(venv), norm_obs=True, norm_reward=True, gamma=0.98)
    n_steps = max(16, min(256, cfg.timesteps // (4 * len(scenarios))))
    model = PPO("MlpPolicy", norm, seed=cfg.seed, n_steps=n_steps,
                batch_size=min(512, n_steps * len(scenarios)), learning_rate=3e-4,
                gamma=0.98, gae_lambda=0.95, ent_coef=0.01, n_epochs=10, verbose=0,
                policy_kwargs={"net_arch": [128, 128]}, device="cpu")
    # SB3's own logger would make an empty tempdir/SB3-<time> folder per run; its training
    # curve (rollout reward, losses, per update) goes beside the policy instead
    # (written under a temporary name: an earlier run's log stays whole until this one ends;
    # its columns in sorted order, whatever PYTHONHASHSEED)
    progress = out / "ppo_progress.csv.partial"
    model.set_logger(Logger(folder=None, output_formats=[progress_log(progress)]))
    t0 = time.perf_counter()
    model.learn(total_timesteps=cfg.timesteps, progress_bar=True)
    model.logger.close()
    print(f"trained {cfg.timesteps} steps in {time.perf_counter() - t0:.0f} s", flush=True)
    with atomic_path(out / "ppo.zip", suffix=".zip") as tmp:
        model.save(tmp)
    norm.training = False
    with atomic_path(out / "obs_norm.npz", suffix=".npz") as tmp, tmp.open("wb") as fh:
        # SB3 types obs_rms as its Dict-observation form; PPO sees a flat Box here
        np.savez(fh, mean=norm.obs_rms.mean, var=norm.obs_rms.var,  # type: ignore[attr-defined]
                 clip_obs=norm.clip_obs, epsilon=norm.epsilon)
    progress.replace(out / "ppo_progress.csv")
    return model, norm


@dataclass(frozen=True)
class FrozenNorm:
    """A training run's observation normaliser as saved in ``obs_norm.npz``: what SB3's
    ``VecNormalize.normalize_obs`` computes with its statistics frozen."""

    mean: np.ndarray
    var: np.ndarray
    clip_obs: float
    epsilon: float

    def normalize_obs(self, obs: np.ndarray) -> np.ndarray:
        return np.clip((obs - self.mean) / np.sqrt(self.var + self.epsilon), -self.clip_obs,
                       self.clip_obs).astype(np.float32)


def load_policy(run: Path, out: Path) -> tuple[Any, FrozenNorm]:
    """The PPO model and normaliser saved by an earlier run, copied into ``out``."""
    from stable_baselines3 import PPO

    allowed = "the --out of an earlier rl_turn_policy.py run"
    try:
        model = PPO.load(run / "ppo.zip", device="cpu")
    except (zipfile.BadZipFile, ValueError, KeyError, EOFError) as err:
        raise InputError(str(run / "ppo.zip"), "", f"not a saved PPO policy ({err})",
                         allowed) from err
    try:
        with np.load(run / "obs_norm.npz") as saved:
            norm = FrozenNorm(saved["mean"], saved["var"], float(saved["clip_obs"]),
                              float(saved["epsilon"]))
    except (zipfile.BadZipFile, ValueError, KeyError, EOFError) as err:
        raise InputError(str(run / "obs_norm.npz"), "", f"not an observation normaliser "
                         f"({err}; needs mean, var, clip_obs, epsilon)", allowed) from err
    space = model.observation_space.shape
    if norm.mean.shape != space or norm.var.shape != space:
        raise InputError(str(run / "obs_norm.npz"), "mean", f"shape {norm.mean.shape} against "
                         f"the policy's observations {space}", "the normaliser saved with "
                         "ppo.zip")
    for name in ("ppo.zip", "obs_norm.npz"):
        if (out / name).resolve() != (run / name).resolve():
            with atomic_path(out / name, suffix=Path(name).suffix) as tmp:
                tmp.write_bytes((run / name).read_bytes())
    return model, norm


def tune_rule(cfg: Config, out: Path) -> tuple[dict[float, RulePolicy], pd.DataFrame]:
    """The best rule per latency on train dialogues (its own seeds, not the eval ones): the
    highest mean reward over ``cfg.tune_episodes`` episodes, every setting on the same seeds.

    ``rule_tuning.csv``, a row per latency and setting: its mean ``reward`` with the 95%
    interval over the dialogues (``reward_lo``, ``reward_hi``, :func:`rl_stats.ci95`), and
    ``minus_best``: the setting minus the latency's winner episode by episode, with its
    interval (``minus_best_lo``, ``minus_best_hi``; 0 for the winner). An upper bound at or
    above 0 is a setting these episodes cannot tell from the winner: at 240 ms on 20
    episodes two settings were 0.012 apart and the pick flipped with a change elsewhere.
    Returns the rule per latency and the table."""
    rows = []
    seeds = [20_000 + i for i in range(cfg.tune_episodes)]
    for delay in cfg.evaluated():
        cell = []
        for silence in cfg.rule_silence_ms:
            for bc in cfg.rule_backchannel_ms:
                rule = RulePolicy(silence, backchannel_after_ms=bc)
                got = run_episodes(cfg, replay_pool(cfg, "train"), delay, rule, seeds)
                cell.append(({"delay_ms": delay, "silence_ms": silence, "backchannel_ms": bc},
                             pd.DataFrame(got)))
        rows += tuning_rows(cell)
    table = pd.DataFrame(rows)
    with atomic_path(out / "rule_tuning.csv") as tmp:
        table.to_csv(tmp, index=False)
    best = table.loc[table.groupby("delay_ms")["reward"].idxmax()]
    return {float(r.delay_ms): RulePolicy(r.silence_ms, backchannel_after_ms=r.backchannel_ms,
                                          name="rule") for r in best.itertuples()}, table


def tuning_rows(cell: list[tuple[dict[str, Any], pd.DataFrame]]) -> list[dict[str, Any]]:
    """The rows of ``rule_tuning.csv`` for one latency: each setting (its keys, its episodes
    on the latency's seeds, in seed order) with its mean reward, interval over dialogues and
    paired difference from the best setting (:func:`tune_rule`)."""
    dialogues = cell[0][1]["dialogue"]  # the same seeds: the same dialogues for every setting
    weights = cluster_weights(dialogues.tolist(), N_BOOT)  # the same draws for every setting
    rewards = [got["reward"] for _, got in cell]
    winner = rewards[int(np.argmax([r.mean() for r in rewards]))]
    rows = []
    for (keys, got), reward in zip(cell, rewards, strict=True):
        mean, lo, hi, n = ci95(reward, dialogues, weights)
        gap, gap_lo, gap_hi, _ = ci95(reward - winner, dialogues, weights)
        rows.append({**keys, "reward": mean, "reward_lo": lo, "reward_hi": hi,
                     "episodes": len(got), "dialogues": n, "minus_best": gap,
                     "minus_best_lo": gap_lo, "minus_best_hi": gap_hi})
    return rows


def farming(cfg: Config, delays: Sequence[float], seeds: Sequence[int]) -> pd.DataFrame:
    """Every fixed policy against the corpus reference on test dialogues, paired."""
    rows = []
    pool = replay_pool(cfg, "test")
    for delay in delays:
        ref = pd.DataFrame(run_episodes(cfg, pool, delay, CorpusReference(), seeds))
        for policy in fixed_policies():
            got = pd.DataFrame(run_episodes(cfg, pool, delay, policy, seeds))
            mean, lo, hi, n = ci95(ref["reward"] - got["reward"], ref["dialogue"])
            rows.append({"delay_ms": delay, "policy": policy.name, "dialogues": n,
                         "reward": got["reward"].mean(), "reference": ref["reward"].mean(),
                         "reference_minus_policy": mean, "lo": lo, "hi": hi})
    return pd.DataFrame(rows)
