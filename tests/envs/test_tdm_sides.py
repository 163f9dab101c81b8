"""A tiny TDM agent in the envs: TurnTaking-v0's partner (check_env) and a parallel-env
learner's own model (parallel_api_test); same seed, same episode."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import duplexsim  # noqa: F401  (registers the envs)
from duplexsim.config.scenario import SideConfig
from duplexsim.envs.registration import TURN_TAKING_ID
from duplexsim.envs.world import default_scenario

sys.path.insert(0, str(Path(__file__).parents[1] / "models"))
from tdm_fixtures import train_tiny_tdm_agent  # noqa: E402


@pytest.fixture(scope="module")
def tdm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_tiny_tdm_agent(tmp_path_factory.mktemp("tdm") / "tiny-tdm", steps=2)


def scenario():  # noqa: ANN201
    return dataclasses.replace(default_scenario(), duration_s=3.2)  # 160 ms chunks


def partner(tdm_dir: Path) -> SideConfig:
    return SideConfig(kind="tdm", agent=str(tdm_dir), slice_ms=640)


def test_turntaking_env_with_a_tdm_partner_passes_check_env(tdm_dir: Path) -> None:
    from gymnasium.utils.env_checker import check_env

    env = gym.make(TURN_TAKING_ID, scenario=scenario(), partner=partner(tdm_dir))
    check_env(env.unwrapped, skip_render_check=True)
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    sb3_check_env(env.unwrapped, warn=False)


def test_tdm_partner_same_seed_same_episode(tdm_dir: Path) -> None:
    def episode(seed: int) -> list[np.ndarray]:
        env = gym.make(TURN_TAKING_ID, scenario=scenario(), partner=partner(tdm_dir))
        env.reset(seed=seed)
        out = []
        for a in [1, 1, 0, 2, 3, 0, 1, 1] * 3:
            obs, reward, _, truncated, _ = env.step(a)
            out.append(np.concatenate([obs["partner_units"], obs["own_units"], [reward]]))
            if truncated:
                break
        return out

    a, b, c = episode(7), episode(7), episode(8)
    assert len(a) == scenario().n_chunks
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c, strict=True))
    assert any(np.any(x[:32] != 0) for x in a)  # the TDM partner's speech was heard


def test_partner_kind_name_tdm_needs_an_agent() -> None:
    with pytest.raises(ValueError, match="a tdm side needs its trained agent directory"):
        gym.make(TURN_TAKING_ID, scenario=scenario(), partner="tdm")


def test_parallel_env_with_a_tdm_learner_model(tdm_dir: Path) -> None:
    from pettingzoo.test import parallel_api_test

    from duplexsim.envs.parallel import DuplexParallelEnv

    def make() -> DuplexParallelEnv:
        return DuplexParallelEnv(scenario=scenario(), models={"A": str(tdm_dir)})

    # PettingZoo's test resets with options={"options": 1}: warned of, not refused
    with pytest.warns(UserWarning, match="unknown key 'options'"):
        parallel_api_test(make(), num_cycles=100)

    def episode(seed: int) -> list:
        env = make()
        env.reset(seed=seed)
        out = []
        while env.agents:
            obs, rew, _, _, _ = env.step({"A": 1, "B": 1})  # A speaks its TDM's proposals
            out.append((obs["B"]["partner_units"].copy(), rew["A"], rew["B"]))
        return out

    a, b = episode(3), episode(3)
    assert all(np.array_equal(x[0], y[0]) and x[1:] == y[1:] for x, y in zip(a, b, strict=True))
    played = make()
    played.reset(seed=3)
    while played.agents:
        played.step({"A": 1, "B": 0})
    model = played.sides["A"].agent.model
    assert type(model).__name__ == "TdmAgent" and model.decisions  # its slices were decided
    with pytest.raises(ValueError, match=r"models: unknown agent\(s\) \['C'\]"):
        DuplexParallelEnv(scenario=scenario(), models={"C": str(tdm_dir)})


def test_a_tdm_partner_without_a_slice_gets_one_that_fits_the_chunks(tdm_dir: Path) -> None:
    """The scenario's fixed default of 1200 ms is no whole number of the env's 160 ms chunks:
    the documented TurnTakingEnv(partner=SideConfig(kind="tdm", agent=...)) was refused."""
    env = gym.make(TURN_TAKING_ID, scenario=scenario(),
                   partner=SideConfig(kind="tdm", agent=str(tdm_dir)))
    env.reset(seed=0)
    env.step(env.action_space.sample())
    env.close()


def test_vector_env_tdm_partners_share_one_model_with_the_same_rollouts(tdm_dir: Path) -> None:
    from duplexsim.agents.base import kind_of, unwrapped

    """TDM partners of one agent directory share one model and token rows across the
    conversations of the native vector env, their forwards batched in lock step, and every
    conversation's rollout is the one the single env gives (Gymnasium's SyncVectorEnv)."""
    s = scenario()
    args = {"scenario": s, "max_episode_steps": s.n_chunks, "partner": partner(tdm_dir)}
    native = gym.make_vec(TURN_TAKING_ID, num_envs=3, vectorization_mode="vector_entry_point",
                          **args)
    sync = gym.make_vec(TURN_TAKING_ID, num_envs=3, vectorization_mode="sync", **args)

    def rollout(venv: gym.vector.VectorEnv) -> list[np.ndarray]:
        obs, _ = venv.reset(seed=5)
        out = [obs["partner_units"]]
        rng = np.random.default_rng(1)
        for _ in range(s.n_chunks):
            obs, reward, *_ = venv.step(rng.integers(0, 4, 3))
            out += [obs["partner_units"], obs["own_units"], reward]
        return out

    a, b = rollout(native), rollout(sync)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert any(np.any(x != 0) for x in a[1::3])  # the TDM partners spoke
    models = native.unwrapped._models
    assert sorted(models) == [tdm_dir.resolve()]  # one model for the three conversations
    (_, lm), = models.values()
    singles = [unwrapped(agent).lm for env in sync.envs  # type: ignore[attr-defined]
               for agent in env.unwrapped.world.session.agents.values() if kind_of(agent) == "tdm"]
    assert len(singles) == 3 and lm.n_forwards < sum(x.n_forwards for x in singles) / 2
