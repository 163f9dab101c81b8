"""Partner pools of TurnTaking-v0: drawn per reset, reproducible, checked, clear errors."""

from __future__ import annotations

import dataclasses
from collections import Counter
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import duplexsim  # noqa: F401  (registers the envs)
from duplexsim.corpora import load_corpus
from duplexsim.envs.registration import TURN_TAKING_ID
from duplexsim.envs.world import default_scenario


def scenario(duration_s: float = 4.0):  # noqa: ANN201
    return dataclasses.replace(default_scenario(), duration_s=duration_s)


def make(partner, duration_s: float = 4.0, **kw) -> gym.Env:  # noqa: ANN001
    s = scenario(duration_s)
    return gym.make(TURN_TAKING_ID, scenario=s, partner=partner, max_episode_steps=s.n_chunks,
                    **kw)


def rollout(env: gym.Env, seed: int, steps: int = 25) -> list:
    obs, info = env.reset(seed=seed)
    out = [info["partner"], obs["partner_units"].copy()]
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        obs, reward, _, truncated, info = env.step(int(rng.integers(4)))
        out += [obs["partner_units"].copy(), obs["own_units"].copy(), reward]
        if truncated:
            break
    return out


def same(a: list, b: list) -> bool:
    return len(a) == len(b) and all(np.array_equal(np.asarray(x), np.asarray(y))
                                    for x, y in zip(a, b, strict=True))


def test_replay_pool_draws_split_dialogues_with_their_other_channel(tiny_corpus: Path) -> None:
    corpus = load_corpus(tiny_corpus)
    train = set(corpus.ids("train"))
    env = make({"kind": "replay", "corpus": str(tiny_corpus), "split": "train",
                "start_s": "random"})
    pool = env.unwrapped.pool
    assert len(pool.members) == 2 * len(train)  # both channels of every train dialogue
    seen, starts = Counter(), set()
    for seed in range(30):
        _, info = env.reset(seed=seed)
        p = env.unwrapped.partner_info
        assert info["partner"] == p["label"] and p["dialogue"] in train
        assert p["speech_dialogue"] == p["dialogue"] and p["speech_channel"] == 1 - p["channel"]
        assert 0 <= p["start_s"] <= 20.0 - 4.0
        seen[(p["dialogue"], p["channel"])] += 1
        starts.add(p["start_s"])
    assert len(seen) == len(pool.members) and len(starts) > 10
    # the partner plays that dialogue's channel from the drawn start, as received
    env.reset(seed=3)
    p = env.unwrapped.partner_info
    units = corpus.dialogue(p["dialogue"]).units[p["channel"]]
    first = round(p["start_s"] * 25)
    heard = {}
    for _ in range(15):
        obs, *_ = env.step(0)
        heard.update({k: obs["partner_units"][i * 4:(i + 1) * 4]
                      for i, k in enumerate(range(env.unwrapped.world.chunk - 8,
                                                  env.unwrapped.world.chunk))
                      if k >= 0 and obs["partner_received"][i]})
    assert len(heard) >= 10
    for k, got in heard.items():
        assert np.array_equal(got, units[first + 4 * k:first + 4 * k + 4])


def test_the_learner_speaks_the_pool_dialogue(tiny_corpus: Path) -> None:
    env = make({"kind": "replay", "corpus": str(tiny_corpus), "dialogues":
                [load_corpus(tiny_corpus).ids("test")[0]], "channels": [1]})
    env.reset(seed=0)
    p = env.unwrapped.partner_info
    channel = load_corpus(tiny_corpus).dialogue(p["dialogue"]).units[0]
    spoken = np.concatenate([env.step(1)[0]["own_units"][-4:] for _ in range(12)])
    spoken = spoken[spoken != env.unwrapped.learner.source.silence_unit]
    assert len(spoken) and np.isin(spoken, channel).all()  # units of the other channel


def test_same_seed_same_rollouts_across_a_mixed_pool(tiny_agents: list[Path]) -> None:
    pool = [{"kind": "replay", "start_s": "random"},
            {"kind": "syncllm", "agents": [str(a) for a in tiny_agents], "weight": 2},
            {"kind": "scripted", "policies": ["random-talker", "fixed-turns"]}]
    a, b = make(pool, 2.4), make(pool, 2.4)
    runs = [(rollout(a, s), rollout(b, s)) for s in range(6)]
    assert all(same(x, y) for x, y in runs)
    assert len({x[0] for x, _ in runs}) >= 3  # several partners drawn
    assert not same(runs[0][0], runs[1][0])
    assert len(a.unwrapped.pool._agents) <= 2 + 1 + 2  # each agent built once, then reused


@pytest.mark.parametrize("kind", ["scripted", "syncllm"])
def test_a_pool_object_given_to_several_envs_gives_each_its_own_rollouts(
        kind: str, tiny_agents: list[Path]) -> None:
    """A PartnerPool object given to two envs (gym.make twice, make_vec "sync"): each env
    draws from its own copy with its own agents, so each rollout is the one its spec gives
    (they drove the same cached agents: scripted rollouts differed, a SyncLLM raised)."""
    from duplexsim.envs.partners import parse_pool

    spec = ([{"kind": "scripted", "policies": ["random-talker"]}] if kind == "scripted" else
            [{"kind": "syncllm", "agents": [str(tiny_agents[0])]}])
    pool = parse_pool(spec, scenario(1.6), "b")
    shared, alone = [make(pool, 1.6) for _ in range(2)], [make(spec, 1.6) for _ in range(2)]
    runs = [[env.reset(seed=5 + k % 2)[0]["partner_units"]]
            for k, env in enumerate(shared + alone)]
    for t in range(9):  # the two envs stepped in turn
        for k, env in enumerate(shared + alone):
            obs, reward, *_ = env.step(t % 4)
            runs[k] += [obs["partner_units"], reward]
    assert same(runs[0], runs[2]) and same(runs[1], runs[3])
    assert shared[0].unwrapped.pool is not pool
    args = {"scenario": scenario(1.6), "max_episode_steps": scenario(1.6).n_chunks}
    vecs = [gym.make_vec(TURN_TAKING_ID, num_envs=2, vectorization_mode="sync", partner=p,
                         **args) for p in (pool, spec)]
    assert same(*[[v.reset(seed=3)[0]["partner_units"]] for v in vecs])
    for _ in range(9):
        assert same(*[[obs["partner_units"], reward] for obs, reward, *_ in
                      [v.step(np.array([1, 0])) for v in vecs]])


def test_a_pool_pickles_the_same_after_envs_used_it(tiny_corpus: Path) -> None:
    """The env copies share the pool's speech banks and corpora, which were pickled with it:
    a scripted pool of 1364 bytes pickled to 12749 after one env step (a sharded env's
    workers got the banks the caller's other envs had cut). Now the caches stay behind and
    a pool unpickled (as a worker gets it) gives the same rollouts."""
    import pickle

    from duplexsim.envs.partners import parse_pool

    spec = {"kind": "replay", "corpus": str(tiny_corpus), "split": "train"}
    pool = parse_pool(spec, scenario(1.6), "b")
    before = pickle.dumps(pool)
    used = [rollout(make(pool, 1.6), seed, steps=9) for seed in range(4)]
    assert pool._sources and pickle.dumps(pool) == before
    shipped = pickle.loads(before)
    assert not shipped._corpora and not shipped._sources
    for seed, run in enumerate(used):
        assert same(run, rollout(make(shipped, 1.6), seed, steps=9))


def test_a_pool_holding_agent_objects_is_for_one_env() -> None:
    """An Agent object in a pool cannot be copied: a second env given that pool is refused."""
    from duplexsim.agents.scripted import ScriptedAgent
    from duplexsim.envs.partners import parse_pool

    s = scenario()
    pool = parse_pool([ScriptedAgent("random-talker", s.frames_per_chunk, s.n_chunks),
                       "scripted"], s, "b")
    env = make(pool)
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"^partner: a PartnerPool holding Agent objects "
                                         r"\(partner\[0\]\) is used by another env"):
        make(pool)
    with pytest.raises(ValueError, match="is used by another env"):
        make(env.unwrapped.pool)


def test_agent_directories_and_weights(tiny_agents: list[Path]) -> None:
    env = make([str(tiny_agents[0]), {"kind": "syncllm", "agent": str(tiny_agents[1]),
                                      "weight": 3, "temperature": 0.5}], 0.8)
    drawn = Counter()
    for seed in range(40):
        env.reset(seed=seed)
        drawn[env.unwrapped.partner_info["agent"]] += 1
    assert set(drawn) == {str(a) for a in tiny_agents}
    assert drawn[str(tiny_agents[1])] > 2 * drawn[str(tiny_agents[0])]  # weight 3 vs 1
    assert env.unwrapped.partner_info["speech_corpus"] == ""  # no training corpus: shipped


def test_checkers_pass_with_pools(tiny_corpus: Path) -> None:
    from gymnasium.utils.env_checker import check_env
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    pool = {"kind": "replay", "corpus": str(tiny_corpus), "split": "train",
            "start_s": "random"}
    check_env(make(pool).unwrapped, skip_render_check=True)
    sb3_check_env(make(pool).unwrapped, warn=True)
    check_env(make(pool, action_mode="units").unwrapped, skip_render_check=True)


def test_no_pool_draws_nothing_extra() -> None:
    """Without a pool the env draws exactly what it drew before pools existed."""
    env = gym.make(TURN_TAKING_ID, scenario=scenario())
    env.reset(seed=5)
    rng = np.random.default_rng(np.random.SeedSequence(5))
    # reset draws the episode seed first, then the utterance order (a permutation)
    assert env.unwrapped.world.session is not None
    episode_seed = int(rng.integers(2**31 - 1))
    assert env.unwrapped.world.session.scenario.seed == episode_seed


def test_a_given_agent_is_described_by_its_own_kind() -> None:
    """partner=<Agent> (fixed or in a pool): partner_info has the agent's kind, not the
    scenario side's, and no dialogue, so the corpus reference refuses it."""
    from duplexsim.agents.base import AgentWrapper
    from duplexsim.agents.replay import ReplayAgent
    from duplexsim.agents.scripted import ScriptedAgent
    from duplexsim.envs.baselines import CorpusReference

    s = scenario()
    scripted = ScriptedAgent("random-talker", s.frames_per_chunk, s.n_chunks)
    replay = ReplayAgent(np.zeros(400, np.int64), s.frames_per_chunk)
    assert s.b.kind == "replay"  # the scenario's own partner side, which a given agent replaces
    for partner, kind in [(scripted, "scripted"), ([scripted], "scripted"),
                          (AgentWrapper(scripted), "scripted"), ([replay], "replay")]:
        env = make(partner)
        env.reset(seed=0)
        p = env.unwrapped.partner_info
        assert p["kind"] == kind and p["dialogue"] is None and p["corpus"] is None
        with pytest.raises(ValueError, match="not a replay from a partner pool"):
            CorpusReference().reset(env, np.random.default_rng(0))
    env = make("scripted")  # built from the scenario: its side, as before
    env.reset(seed=0)
    assert env.unwrapped.partner_info["kind"] == "scripted"


def test_the_shipped_dialogue_is_named_by_its_id_in_a_pool_as_for_a_fixed_partner() -> None:
    """partner_info["speech_dialogue"]: the shipped dialogue's id whether the partner is
    fixed or drawn from a pool (a pool's said "", a fixed partner's the id); a replay's
    "dialogue", the one it plays, is that id too (it said "", the scenario key unset)."""
    from duplexsim.corpora.default import default_dialogue_id

    shipped = default_dialogue_id()
    assert shipped
    for partner in [None, "scripted", {"kind": "replay"}, ["scripted"],
                    [{"kind": "scripted"}, {"kind": "replay", "channels": [0]}]]:
        env = make(partner)
        for seed in range(3):
            env.reset(seed=seed)
            p = env.unwrapped.partner_info
            assert (p["speech_corpus"], p["speech_dialogue"]) == ("", shipped), (partner, p)
            assert p["dialogue"] == (shipped if p["kind"] == "replay" else ""), (partner, p)
