"""The learner's own ``model=`` in the native vector env: one model and one set of token rows
per agent directory for all conversations (a row each, as the partners'), the rollouts of
the single env, each learner's model closed once and rebuilt on the share after close."""

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
from duplexsim.envs.vector import TurnTakingVectorEnv
from duplexsim.envs.world import default_scenario

sys.path.insert(0, str(Path(__file__).parents[1] / "models"))
from tdm_fixtures import train_tiny_tdm_agent  # noqa: E402


@pytest.fixture(scope="module")
def tdm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_tiny_tdm_agent(tmp_path_factory.mktemp("tdm") / "tiny-tdm", steps=2)


def rollout(venv: gym.vector.VectorEnv, steps: int) -> list[np.ndarray]:
    obs, _ = venv.reset(seed=4)
    out = [obs["own_units"], obs["partner_units"]]
    venv.action_space.seed(7)
    for _ in range(steps):
        obs, reward, *_ = venv.step(venv.action_space.sample())
        out += [obs["own_units"], obs["partner_units"], reward]
    return out


def models_of(venv: gym.vector.VectorEnv) -> list:
    return [env.learner.agent.model for env in venv.unwrapped.envs]


@pytest.mark.parametrize("which", ["syncllm", "tdm", "syncllm partner of the same directory"])
def test_learner_models_share_one_model_and_play_as_they_do_alone(
        which: str, tiny_agents: list[Path], tdm_dir: Path) -> None:
    """A ``model=`` directory was loaded per conversation (16 envs: 16 copies of the weights).
    Now the conversations' learner models are rows of one model and one token row set (with
    the partners' of that directory, if any), and each conversation's rollout is the one the
    single env gives (Gymnasium's SyncVectorEnv: a model each)."""
    model = tdm_dir if which == "tdm" else tiny_agents[0]
    s = dataclasses.replace(default_scenario(), duration_s=1.6)
    args: dict = {"scenario": s, "max_episode_steps": s.n_chunks, "model": str(model)}
    if which.endswith("directory"):
        args["partner"] = SideConfig(kind="syncllm", agent=str(model))
    native = gym.make_vec(TURN_TAKING_ID, num_envs=3, vectorization_mode="vector_entry_point",
                          **args)
    sync = gym.make_vec(TURN_TAKING_ID, num_envs=3, vectorization_mode="sync", **args)
    a, b = rollout(native, s.n_chunks + 3), rollout(sync, s.n_chunks + 3)  # past an autoreset
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert any(np.any(x != 0) for x in a[2::3])  # the learners' models spoke
    ((files, lm),) = native.unwrapped._models.values()
    assert list(native.unwrapped._models) == [model.resolve()]  # loaded once
    learners = models_of(native)
    assert all(m.lm is lm and m.files is files for m in learners)
    rows = [m.row if which == "tdm" else m.generator.row for m in learners]
    assert len(set(rows)) == 3
    assert len({id(m.lm) for env in sync.envs for m in [env.unwrapped.learner.agent.model]}) == 3
    native.close()
    sync.close()


def test_closing_closes_each_learner_model_once_and_a_reset_rebuilds_it_on_the_share(
        tiny_agents: list[Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """Each conversation's learner model is still its own agent (closing rules unchanged):
    close() closes each once, giving its row back, however often it is called; a reset
    after it (the vector env's or one through ``call``) builds them on the same shared model
    (no second load, the rows reused) and plays what it played before."""
    from duplexsim.agents.syncllm import SyncLLMAgent

    closed: list[int] = []
    close = SyncLLMAgent.close

    def counting(self: SyncLLMAgent) -> None:
        closed.append(id(self))
        close(self)

    monkeypatch.setattr(SyncLLMAgent, "close", counting)
    s = dataclasses.replace(default_scenario(), duration_s=0.8)
    env = TurnTakingVectorEnv(num_envs=2, scenario=s, model=str(tiny_agents[0]))
    first = rollout(env, 3)
    ((files, lm),) = env._models.values()
    n_rows = len(lm.tokens)
    for through_call in (False, True):
        models = models_of(env)
        closed.clear()
        env.close()
        env.close()
        assert sorted(closed) == sorted(map(id, models)) and all(m.closed for m in models)
        assert len(lm._free) == 2
        if through_call:
            env.call("reset", seed=4)
        else:
            again = rollout(env, 3)
            assert all(np.array_equal(x, y) for x, y in zip(first, again, strict=True))
        now = models_of(env)
        assert all(m.lm is lm and m.files is files and not m.closed for m in now)
        assert len(lm.tokens) == n_rows and not lm._free
    env.close()


def test_a_closed_vector_env_let_go_frees_the_shared_weights(tiny_agents: list[Path]) -> None:
    """No cache outlives the vector env: once a closed one is let go, the model its learners
    and partners shared is freed (a closed one still holds it: a reset reopens it on it)."""
    import gc
    import weakref

    s = dataclasses.replace(default_scenario(), duration_s=0.8)
    env = TurnTakingVectorEnv(num_envs=2, scenario=s, model=str(tiny_agents[0]),
                              partner=SideConfig(kind="syncllm", agent=str(tiny_agents[0])))
    rollout(env, 2)
    weights = weakref.ref(next(iter(env._models.values()))[0].model)
    env.close()
    gc.collect()
    assert weights() is not None
    del env
    gc.collect()
    assert weights() is None
