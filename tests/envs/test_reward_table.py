"""A scenario's [reward] table sets the envs' rewards; the reward= argument overrides it."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import pytest

import duplexsim  # noqa: F401  (registers the envs)
from duplexsim.config.reward import RewardConfig
from duplexsim.envs.registration import TURN_TAKING_ID
from duplexsim.errors import ConfigError

SCENARIO = """name = "rewarded"
chunk_ms = 160
duration_s = 16.0  # both sides of the shipped default dialogue speak in it (overlaps occur)
[a]
kind = "replay"
[b]
kind = "replay"
[network]
preset = "continental"
"""
TABLE = "[reward]\noverlap_per_s = 0.0\ngap_per_s = 3.0\nfto = 0.0\ninterrupt = 0.0\n"
AS_SET = RewardConfig(overlap_per_s=0.0, gap_per_s=3.0, fto=0.0, interrupt=0.0)


def write(tmp_path: Path, text: str, name: str = "s.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def terms(env: gym.Env) -> list[dict[str, float]]:
    """Per-step reward terms of one episode, speaking 6 chunks then silent 6 (seed 0)."""
    env.reset(seed=0)
    out, k, done = [], 0, False
    while not done:
        _, reward, _, done, info = env.step(int((k // 6) % 2 == 0))
        assert reward == pytest.approx(sum(info["reward_terms"].values()))
        out.append(info["reward_terms"])
        k += 1
    return out


def test_the_reward_table_sets_the_rewards(tmp_path: Path) -> None:
    plain = write(tmp_path, SCENARIO)
    table = terms(gym.make(TURN_TAKING_ID, scenario=write(tmp_path, SCENARIO + TABLE, "t.toml")))
    default = terms(gym.make(TURN_TAKING_ID, scenario=plain))
    # same episode (rewards do not change what happens), terms weighted as the table says
    assert sum(t["gap"] for t in default) < 0 and sum(t["overlap"] for t in default) < 0
    assert sum(t["fto"] != 0 for t in default) > 0
    for mine, base in zip(table, default, strict=True):
        assert mine["gap"] == pytest.approx(3.0 * base["gap"])
        assert mine["overlap"] == mine["fto"] == mine["interrupt"] == 0.0
        assert mine["backchannel"] == base["backchannel"]
    # the same as passing the weights from Python
    assert terms(gym.make(TURN_TAKING_ID, scenario=plain, reward=AS_SET)) == table


def test_the_reward_argument_overrides_the_table(tmp_path: Path) -> None:
    path = write(tmp_path, SCENARIO + TABLE)
    env = gym.make(TURN_TAKING_ID, scenario=path, reward={"gap_per_s": 2.0})
    # the argument replaces the whole table: keys it leaves out are RewardConfig defaults
    assert env.unwrapped.learner.tracker.config == RewardConfig(gap_per_s=2.0)
    assert gym.make(TURN_TAKING_ID, scenario=path).unwrapped.learner.tracker.config == AS_SET


def test_the_parallel_env_reads_the_table(tmp_path: Path) -> None:
    from duplexsim.envs.parallel import DuplexParallelEnv

    path = write(tmp_path, SCENARIO + TABLE)
    env = DuplexParallelEnv(scenario=path)
    assert all(side.tracker.config == AS_SET for side in env.sides.values())
    assert all(side.tracker.config == RewardConfig() for side in
               DuplexParallelEnv(scenario=path, reward=RewardConfig()).sides.values())
    env.reset(seed=0)
    infos = [env.step({"A": 0, "B": 0})[4] for _ in range(20)]  # both silent: dead air
    gap = sum(info["A"]["reward_terms"]["gap"] for info in infos)
    # after 20 steps chunks 0..19 are played (lead 1: chunk 19 starts at the ms chunk 20 is
    # decided, where the step stops): 20 x 160 ms of silence, 400 ms free
    assert gap == pytest.approx(-3.0 * (20 * 160 - 400) / 1000)


def test_a_bad_reward_key_is_a_clear_error(tmp_path: Path) -> None:
    path = write(tmp_path, SCENARIO + "[reward]\ncolour = 1.0\n")
    with pytest.raises(ConfigError) as info:
        gym.make(TURN_TAKING_ID, scenario=path)
    assert str(info.value).startswith(
        f"{path}: reward.colour: unknown key (allowed: backchannel, bc_context_ms,")
    with pytest.raises(ConfigError, match="reward.gap_per_s: -1.0 is out of range"):
        gym.make(TURN_TAKING_ID, scenario={"reward": {"gap_per_s": -1.0}})
    with pytest.raises(ConfigError, match=r"^<reward kwarg>: gap_free_ms: 30\.5 is not whole "
                       r"40 ms frames \(allowed: a multiple of 40, e\.g\. 0 or 40\)$"):
        gym.make(TURN_TAKING_ID, reward={"gap_free_ms": 30.5})
