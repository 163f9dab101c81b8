"""TurnTaking-v0 with a real (tiny) SyncLLM: as the partner, and as the learner's own model."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

import duplexsim  # noqa: F401  (registers the envs)
from duplexsim.config.scenario import SideConfig
from duplexsim.envs.registration import TURN_TAKING_ID
from duplexsim.envs.world import default_scenario


@pytest.fixture(scope="module")
def agent_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny SyncLLM trained for 2 steps on the shipped dialogue (same 501 units)."""
    from duplexsim.bench.bench_envs import train_tiny_agent

    return train_tiny_agent(tmp_path_factory.mktemp("agent") / "tiny")


def scenario():  # noqa: ANN201
    return dataclasses.replace(default_scenario(), duration_s=2.4)


def episode(env: gym.Env, actions: list[int], seed: int) -> list[np.ndarray]:
    env.reset(seed=seed)
    out = []
    for a in actions:
        obs, reward, _, truncated, info = env.step(a)
        out.append(np.concatenate([obs["partner_units"], obs["own_units"], [reward]]))
        if truncated:
            break
    return out


def test_syncllm_partner_is_heard_and_reproducible(agent_dir: Path) -> None:
    def make() -> gym.Env:
        return gym.make(TURN_TAKING_ID, scenario=scenario(),
                        partner=SideConfig(kind="syncllm", agent=str(agent_dir)))

    actions = [0, 1, 2, 3] * 5
    a, b = episode(make(), actions, 3), episode(make(), actions, 3)
    assert len(a) == scenario().n_chunks
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert any(np.any(x[:32] != 0) for x in a)  # the sampled partner produced units we heard


@dataclass
class Spy:
    """Passes everything to a real agent and remembers what it proposed per chunk."""

    inner: Any
    proposals: dict[int, np.ndarray] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def frames_per_chunk(self) -> int:
        return self.inner.frames_per_chunk

    def reset(self, seed: int) -> None:
        self.proposals = {}
        self.inner.reset(seed)

    def observe_partner(self, chunk: int, units: np.ndarray) -> None:
        self.inner.observe_partner(chunk, units)

    def produce(self, chunk: int) -> Any:
        report = self.inner.produce(chunk)
        self.proposals[chunk] = np.asarray(report.units).copy()
        return report

    def played(self, chunk: int, units: np.ndarray) -> None:
        self.inner.played(chunk, units)


def test_speak_plays_the_learners_own_model(agent_dir: Path) -> None:
    from duplexsim.agents import load

    spy = Spy(load(str(agent_dir), chunk_ms=160, seed=0))
    env = gym.make(TURN_TAKING_ID, scenario=scenario(), model=spy).unwrapped
    env.reset(seed=0)
    actions = [1, 1, 1, 0, 1, 1, 0, 0]
    for a in actions:
        env.step(a)
    played = env.learner.agent.played_chunks
    assert len(played) >= 6
    for k, units in played.items():
        if actions[k] == 1:  # SPEAK: exactly the model's proposal for that chunk
            assert np.array_equal(units, spy.proposals[k])
        else:  # SILENT: silence, though the model still proposed something
            assert not units.any() and k in spy.proposals
    assert any(np.any(spy.proposals[k] != 0) for k in played)
    with pytest.raises(ValueError, match="model"):
        gym.make(TURN_TAKING_ID, scenario=scenario(), model=str(agent_dir), action_mode="units")
