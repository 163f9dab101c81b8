"""TurnTaking-v0 with a real (tiny) SyncLLM: as the partner, and as the learner's own model."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

import duplexsim  # noqa: F401  (registers the envs)
from duplexsim.agents.base import AgentWrapper
from duplexsim.config.scenario import SideConfig
from duplexsim.envs.registration import TURN_TAKING_ID
from duplexsim.envs.world import default_scenario


@pytest.fixture(scope="module")
def agent_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny SyncLLM trained for 2 steps on the shipped dialogue (same 501 units)."""
    from duplexsim.bench.bench_envs import train_tiny_agent

    return train_tiny_agent(tmp_path_factory.mktemp("agent") / "tiny")


@pytest.fixture
def closes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """``id`` of each SyncLLM agent as its ``close()`` is called (which then runs as ever)."""
    from duplexsim.agents.syncllm import SyncLLMAgent

    closed: list[int] = []
    close = SyncLLMAgent.close

    def counting(self: SyncLLMAgent) -> None:
        closed.append(id(self))
        close(self)

    monkeypatch.setattr(SyncLLMAgent, "close", counting)
    return closed


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


class Spy(AgentWrapper):
    """Passes everything to a real agent and remembers what it proposed per chunk (no
    ``produce_steps``: the session calls :meth:`produce`)."""

    def __init__(self, inner: Any) -> None:
        super().__init__(inner)
        self.proposals: dict[int, np.ndarray] = {}

    def reset(self, seed: int) -> None:
        self.proposals = {}
        self.inner.reset(seed)

    def produce(self, chunk: int) -> Any:
        report = self.inner.produce(chunk)
        self.proposals[chunk] = np.asarray(report.units).copy()
        return report


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
    # the observation shows a chunk the model already produced (decided, not yet played:
    # with a lead of 2 chunks, chunk j - 1 at the decision of j) as those units, not as
    # silence (with a lead of 1, chunk j - 1 starts playing at the decision of j)
    env = gym.make(TURN_TAKING_ID, model=str(agent_dir),
                   scenario=dataclasses.replace(scenario(), decision_lead_chunks=2)).unwrapped
    env.reset(seed=0)
    F, W, seen, voiced = env.scenario.frames_per_chunk, env.learner.window, 0, 0
    for _ in range(10):
        obs, *_ = env.step(1)
        j, agent = env.world.chunk, env.learner.agent
        for i, k in enumerate(range(j - W, j)):
            if k in agent.decided and k not in agent.played_chunks:
                assert np.array_equal(obs["own_units"][i * F:(i + 1) * F], agent.decided[k])
                seen += 1
                voiced += int(np.any(agent.decided[k] != 0))
    assert seen and voiced  # (rows of silence would not tell the two apart)
    with pytest.raises(ValueError, match="model"):
        gym.make(TURN_TAKING_ID, scenario=scenario(), model=str(agent_dir), action_mode="units")


def delayed(delay_ms: float):  # noqa: ANN201
    from duplexsim.config.link import LinkConfig
    from duplexsim.config.network import NetworkConfig

    link = LinkConfig(delay_ms=delay_ms)
    return dataclasses.replace(scenario(), network=NetworkConfig(preset="ideal", a_to_b=link,
                                                                 b_to_a=link))


@pytest.mark.parametrize("estimation", ["wait", "model"])
def test_rewards_hear_the_partner_where_it_played(agent_dir: Path, estimation: str) -> None:
    from duplexsim.envs.rewards import RewardTracker

    # 200 ms each way: a waiting partner's chunk j waits for the learner's chunk j - 1,
    # which arrives 200 ms after it ended, so its playout slips 200 ms (5 frames) from chunk 1
    partner = SideConfig(kind="syncllm", agent=str(agent_dir), estimation=estimation)
    env = gym.make(TURN_TAKING_ID, scenario=delayed(200.0), partner=partner).unwrapped
    env.reset(seed=1)
    actions = [1, 1, 1, 0, 0, 2, 0, 0, 1, 1, 3, 0, 0, 0, 1]
    rewards = []
    for a in actions:
        _, reward, _, truncated, _ = env.step(a)
        rewards.append(reward)
    assert truncated and len(actions) == env.world.n_chunks
    trace = env.world.session.finish()
    b = trace.decisions[trace.decisions["agent"] == "b"]
    assert b["slip_ms"].tolist() == ([0] + [200] * 14 if estimation == "wait" else [0] * 15)
    # what was scored = what the two sides played on the global timeline (Trace.units)
    W = len(actions) * 4
    silence = sorted(env.learner.source.silence_units)
    want = ~np.isin(trace.units[:, :W], silence)  # [2, W]: learner (a), partner (b)
    scored = np.concatenate(env.learner.vad, axis=1)
    assert np.array_equal(scored, want)
    assert want[1].any()  # the partner spoke in the window
    by_index = ~np.isin(np.concatenate(b["played_units"].to_list()[:15]), silence)
    assert np.array_equal(by_index, want[1]) == (estimation != "wait")
    # and the rewards are those of the tracker over that timeline
    tracker = RewardTracker(env.learner.tracker.config)
    total = sum(tracker.add_chunk(want[0, 4 * k:4 * k + 4], want[1, 4 * k:4 * k + 4],
                                  k in env.learner.backchannel_chunks)[0] for k in range(15))
    assert sum(rewards) == pytest.approx(total)


def test_a_learner_side_that_waits_is_refused() -> None:
    from duplexsim.envs.parallel import DuplexParallelEnv

    waiting = SideConfig(kind="syncllm", agent="runs/agents/none", estimation="wait")
    with pytest.raises(ValueError, match=r"scenario a\.estimation: 'wait' on side a, which "
                                         r"the learner plays: .* cannot stall"):
        gym.make(TURN_TAKING_ID, scenario=dataclasses.replace(scenario(), a=waiting))
    with pytest.raises(ValueError, match=r"scenario b\.estimation: 'wait'"):
        DuplexParallelEnv(scenario=dataclasses.replace(scenario(), b=waiting))


def test_a_model_in_another_unit_inventory_is_refused(agent_dir: Path, tiny_corpus: Path,
                                                      closes: list[int]) -> None:
    """The learner's model (501 units) against a replay of a 32-unit corpus: was accepted,
    its own units (up to 500) then fell outside own_units' Box(0, 31). The model loaded
    for the refused env is closed (it was left open: no one else could close it)."""
    from duplexsim.envs.parallel import DuplexParallelEnv

    replay = SideConfig(kind="replay", corpus=str(tiny_corpus))
    for partner in (replay, [{"kind": "replay", "corpus": str(tiny_corpus)}]):
        with pytest.raises(ValueError, match=r"^model: speaks 501 units, the learner's speech "
                           r"and its partner 32 \(allowed: a model in their unit inventory"):
            gym.make(TURN_TAKING_ID, scenario=scenario(), partner=partner, model=agent_dir)
    both = dataclasses.replace(scenario(), a=replay, b=replay)
    with pytest.raises(ValueError, match=r"^models\['B'\]: speaks 501 units"):
        DuplexParallelEnv(scenario=both, models={"B": str(agent_dir)})
    assert len(closes) == 3 == len(set(closes))
    gym.make(TURN_TAKING_ID, scenario=scenario(), model=agent_dir)  # same inventory: fine


def test_close_closes_the_learners_model_the_env_loaded_once_and_never_a_given_one(
        agent_dir: Path, closes: list[int], tmp_path: Path) -> None:
    """A ``model=`` an env loaded from a directory was never closed (its token row never
    given back). Now env.close() closes it once (Gymnasium may close twice) and a reset
    after close loads it anew, playing the same episode; a model given as an Agent is its
    caller's and stays open; an env refused after loading its model closes it."""
    from duplexsim.agents import load
    from duplexsim.envs.parallel import DuplexParallelEnv

    actions = [1, 1, 0, 1, 3, 1]
    env = gym.make(TURN_TAKING_ID, scenario=scenario(), model=str(agent_dir))
    first = episode(env, actions, 4)
    model = env.unwrapped.learner.agent.model
    env.close()
    env.close()
    assert closes == [id(model)] and model.closed
    again = episode(env, actions, 4)  # a new model, the same conversation
    assert all(np.array_equal(x, y) for x, y in zip(first, again, strict=True))
    assert env.unwrapped.learner.agent.model is not model
    env.close()
    assert closes[1:] == [id(env.unwrapped.learner.agent.model)]

    def both_speak(penv: DuplexParallelEnv) -> None:
        penv.reset(seed=0)
        for _ in range(3):
            penv.step({"A": 1, "B": 1})

    closes.clear()
    penv = DuplexParallelEnv(scenario=scenario(),
                             models={"A": str(agent_dir), "B": str(agent_dir)})
    both_speak(penv)
    models = [side.agent.model for side in penv.sides.values()]
    penv.close()
    penv.close()
    assert sorted(closes) == sorted(map(id, models)) and len(set(closes)) == 2
    both_speak(penv)  # reset after close: both loaded anew
    penv.close()
    assert sorted(closes[2:]) == sorted(id(side.agent.model) for side in penv.sides.values())

    closes.clear()
    mine = load(str(agent_dir), chunk_ms=160, seed=0)
    env = gym.make(TURN_TAKING_ID, scenario=scenario(), model=mine)
    episode(env, actions, 4)
    env.close()
    penv = DuplexParallelEnv(scenario=scenario(), models={"A": mine})
    both_speak(penv)
    penv.close()
    assert closes == [] and not mine.closed

    missing = SideConfig(kind="syncllm", agent=str(tmp_path / "none"))
    with pytest.raises(ValueError, match="none"):  # the partner fails after the model loaded
        gym.make(TURN_TAKING_ID, scenario=scenario(), partner=missing, model=str(agent_dir))
    assert len(closes) == 1
    with pytest.raises(TypeError, match=r"models\['B'\]"):  # B refused after A loaded
        DuplexParallelEnv(scenario=scenario(), models={"A": str(agent_dir), "B": 5})
    assert len(closes) == 2


def test_a_learner_side_that_cannot_be_made_closes_the_model_it_loaded(
        agent_dir: Path, closes: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    """The learner's model was loaded before its LearnerSide was made and registered for
    closing only after: a side failing in between (here its observation space, as a window
    too big for memory would) left the loaded model open. Now loading and making the side
    are one step that closes the model on failure, in both envs; a given model stays open."""
    from duplexsim.agents import load
    from duplexsim.envs import side
    from duplexsim.envs.parallel import DuplexParallelEnv

    def no_memory(*args: Any) -> None:
        raise MemoryError("observation space")

    monkeypatch.setattr(side, "observation_space", no_memory)
    with pytest.raises(MemoryError):
        gym.make(TURN_TAKING_ID, scenario=scenario(), model=str(agent_dir))
    assert len(closes) == 1
    with pytest.raises(MemoryError):  # A's side fails: A's model closed, B's never loaded
        DuplexParallelEnv(scenario=scenario(), models={"A": str(agent_dir), "B": str(agent_dir)})
    assert len(closes) == 2 and len(set(closes)) == 2
    mine = load(str(agent_dir), chunk_ms=160, seed=0)
    with pytest.raises(MemoryError):
        gym.make(TURN_TAKING_ID, scenario=scenario(), model=mine)
    assert len(closes) == 2 and not mine.closed
