"""The native vector env's partners and closing: SyncLLM partners sharing one model and
token rows, partner pools, a partner's bad unit, and close() closing every conversation and
its partners (split from test_vector.py)."""

from __future__ import annotations

import dataclasses

import gymnasium as gym
import numpy as np
import pytest
from test_vector import kwargs, same  # (tests/envs is on the path: rootdir-less import)

import duplexsim  # noqa: F401  (registers the envs)
from duplexsim.envs.registration import TURN_TAKING_ID
from duplexsim.envs.vector import TurnTakingVectorEnv
from duplexsim.envs.world import default_scenario


def test_syncllm_partners_share_one_model_and_batch_with_the_same_rollouts(tiny_agents) -> None:
    """SyncLLM partners of one agent directory share one model and token rows across the
    conversations, their forwards batched in lock step, and every conversation's rollout
    is still the one the single env gives (Gymnasium's SyncVectorEnv)."""
    s = dataclasses.replace(default_scenario(), duration_s=3.2)
    pool = [{"kind": "syncllm", "agents": [str(a) for a in tiny_agents]}]
    args = {"scenario": s, "max_episode_steps": s.n_chunks, "partner": pool}
    native = gym.make_vec(TURN_TAKING_ID, num_envs=4, vectorization_mode="vector_entry_point",
                          **args)
    sync = gym.make_vec(TURN_TAKING_ID, num_envs=4, vectorization_mode="sync", **args)
    assert same(native.reset(seed=3), sync.reset(seed=3))
    rng = np.random.default_rng(1)
    for _ in range(25):  # past one episode end (20 steps): autoreset draws again
        actions = rng.integers(0, 4, 4)
        assert same(native.step(actions), sync.step(actions))
    models = native.unwrapped._models
    assert sorted(models) == sorted(a.resolve() for a in tiny_agents)  # one per directory
    rows = [lm for _, lm in models.values()]
    assert sum(len(lm.tokens) for lm in rows) >= 4  # a row per conversation that drew it
    steps_forwarded = sum(lm.n_forwards for lm in rows)
    singles = [agent.lm for env in sync.envs for agent in env.unwrapped.pool._agents.values()]
    assert len(singles) > len(rows)  # one env each: a model (and token rows) per env
    assert steps_forwarded < sum(lm.n_forwards for lm in singles)  # batched: fewer calls


def test_syncllm_partners_hold_a_fixed_set_of_rows_across_episodes(tiny_agents) -> None:
    """The shared token rows (kept for the vector env's life) do not grow with episodes:
    each conversation builds a pool member's agent once, on one row, and reuses it (reset)
    at every later draw; a closed session gives no row back, as its agents outlive it. Every
    row is held by exactly one agent (none shared, none released while held)."""
    s = dataclasses.replace(default_scenario(), duration_s=0.8)  # 5 steps an episode
    pool = [{"kind": "syncllm", "agents": [str(a) for a in tiny_agents]}]
    env = gym.make_vec(TURN_TAKING_ID, num_envs=3, vectorization_mode="vector_entry_point",
                       scenario=s, max_episode_steps=s.n_chunks, partner=pool)
    env.reset(seed=5)
    rng = np.random.default_rng(0)
    counts = []
    for _ in range(8):  # 8 episodes a conversation, each drawing a member again
        for _ in range(s.n_chunks + 1):  # (NextStep: one more step to reset)
            env.step(rng.integers(0, 4, 3))
        counts.append(sum(len(lm.tokens) for _, lm in env.unwrapped._models.values()))
    agents = [a for e in env.unwrapped.envs for a in e.pool._agents.values()]
    held = [(id(a.lm), a.generator.row) for a in agents]
    assert len(set(held)) == len(held) == counts[-1] <= 3 * len(tiny_agents)
    assert counts[-1] == counts[len(counts) // 2]  # every member drawn by then: no growth
    assert not any(lm._free for _, lm in env.unwrapped._models.values())
    env.close()


def test_closing_again_after_a_reset_closes_the_partners_that_reset_built(tiny_agents) -> None:
    """A reset after close() builds the conversations' partners anew, but a second close()
    did nothing (Gymnasium's VectorEnv.close returns once ``closed`` is set): the rebuilt
    SyncLLM partners kept their token rows. Now every close closes what is open, and the
    reopened vector env plays what it played before."""
    from duplexsim.config.scenario import SideConfig

    s = dataclasses.replace(default_scenario(), duration_s=0.8)
    env = TurnTakingVectorEnv(num_envs=2, scenario=s,
                              partner=SideConfig(kind="syncllm", agent=str(tiny_agents[0])))

    def partners() -> list:
        return [e.world.partner.inner for e in env.envs]  # (inside the RecordingAgent)

    def rollout() -> list:
        out = [env.reset(seed=2)]
        out += [env.step(np.array([1, 2]))[:4] for _ in range(3)]
        return out

    first = rollout()
    for _ in range(2):
        env.close()
        assert all(p.closed for p in partners())
        assert same(rollout(), first) and not any(p.closed for p in partners())
    env.close()
    env.close()  # closing again does nothing more
    assert all(p.closed for p in partners())


def test_partners_rebuilt_after_close_share_the_vector_envs_model(tiny_agents) -> None:
    """SyncLLM partners rebuilt after close() are built on the vector env's shared model and
    token rows (reusing the rows the closed ones gave back), whether the reset is the vector
    env's or one through ``call("reset")``: that one built them outside the share, a model
    and token rows per conversation, so their forwards no longer batched together."""
    from duplexsim.config.scenario import SideConfig

    s = dataclasses.replace(default_scenario(), duration_s=0.8)
    env = TurnTakingVectorEnv(num_envs=2, scenario=s,
                              partner=SideConfig(kind="syncllm", agent=str(tiny_agents[0])))
    env.reset(seed=2)
    ((_, lm),) = env._models.values()
    rows = len(lm.tokens)
    for reopen in (lambda: env.reset(seed=2), lambda: env.call("reset", seed=2)):
        env.close()
        reopen()
        partners = [e.world.partner.inner for e in env.envs]
        assert all(p.lm is lm and not p.closed for p in partners)
        assert len(lm.tokens) == rows and len({p.generator.row for p in partners}) == 2
    env.close()


def test_a_partner_pool_object_gives_each_conversation_its_own_copy(tiny_agents) -> None:
    """A PartnerPool object (of specs) given to the vector env: each conversation draws from
    its own copy, with agents of its own, so the rollouts are those of the pool's specs
    (it was refused: "a PartnerPool object cannot be shared by num_envs=3"). A pool holding
    Agent objects, which no copy can renew, is refused naming its member."""
    from duplexsim.agents.scripted import ScriptedAgent
    from duplexsim.envs.partners import parse_pool

    s = dataclasses.replace(default_scenario(), duration_s=1.6)
    spec = [{"kind": "replay", "start_s": "random"},
            {"kind": "scripted", "policies": ["random-talker", "fixed-turns"]},
            {"kind": "syncllm", "agents": [str(tiny_agents[0])]}]
    pool = parse_pool(spec, s, "b")
    args = {"scenario": s, "max_episode_steps": s.n_chunks}
    given, specs = (gym.make_vec(TURN_TAKING_ID, num_envs=3, partner=p,
                                 vectorization_mode="vector_entry_point", **args)
                    for p in (pool, spec))
    pools = [env.pool for env in given.unwrapped.envs]
    assert len({id(p) for p in pools}) == 3 and all(p is not pool for p in pools)
    got, want = given.reset(seed=7), specs.reset(seed=7)
    assert same(got, want)
    partners = set(got[1]["partner"])
    rng = np.random.default_rng(2)
    for _ in range(30):  # three episodes: every conversation draws again at its autoresets
        actions = rng.integers(0, 4, 3)
        got = given.step(actions)
        assert same(got, specs.step(actions))
        partners |= set(got[4].get("partner", []))
    assert len(partners) >= 3
    held = parse_pool([ScriptedAgent("random-talker", s.frames_per_chunk, s.n_chunks),
                       "scripted"], s, "b")
    with pytest.raises(ValueError, match=r"^partner: a PartnerPool holding Agent objects "
                                         r"\(partner\[0\]\) cannot be shared by num_envs=2 "):
        TurnTakingVectorEnv(num_envs=2, partner=held, **args)
    TurnTakingVectorEnv(num_envs=1, partner=held, **args)  # one conversation: fine


def test_close_frees_the_last_episodes_simulation() -> None:
    """Closing the env (or the vector env, which closes each) closes its session: freed at
    once, not by a full garbage collection; a reset afterwards starts a new one."""
    import gc
    import weakref

    env = gym.make(TURN_TAKING_ID)
    env.reset(seed=0)
    env.step(1)
    ref = weakref.ref(env.unwrapped.world.session)
    gc.disable()
    try:
        env.close()
        assert env.unwrapped.world.session.closed
        # a step after close was the simulator's "the session was closed at 0 ms; it cannot
        # run further (make a new Session)": a Session is nothing an env user makes
        with pytest.raises(RuntimeError, match=r"^step\(\) after close\(\): call reset\(\) "
                           r"first \(a new episode\)$"):
            env.step(1)
        env.reset(seed=0)  # a new session (the closed one is dropped)
        assert ref() is None
    finally:
        gc.enable()
    vec = gym.make_vec(TURN_TAKING_ID, num_envs=2, vectorization_mode="vector_entry_point")
    vec.reset(seed=0)
    vec.close()
    assert all(e.world.session.closed for e in vec.envs)
    with pytest.raises(RuntimeError, match=r"^conversation 0: step\(\) after close\(\): "):
        vec.step(np.array([1, 1]))
    vec.reset(seed=0)
    vec.step(np.array([1, 1]))
    from duplexsim.envs.parallel import DuplexParallelEnv

    parallel = DuplexParallelEnv()
    parallel.reset(seed=0)
    parallel.close()
    with pytest.raises(RuntimeError, match=r"^step\(\) after close\(\): call reset"):
        parallel.step({"A": 1, "B": 1})
    parallel.reset(seed=0)
    parallel.step({"A": 1, "B": 1})


def test_a_partner_unit_outside_the_inventory_names_its_conversation_and_partner() -> None:
    """A partner that does not say its inventory (a replay of bare units) sends a unit past
    the learner's: the one-line error names the conversation (of several advancing
    together) and its partner; it named neither."""
    from duplexsim.agents.replay import ReplayAgent

    s = dataclasses.replace(default_scenario(), duration_s=1.6)
    venv = TurnTakingVectorEnv(num_envs=3, scenario=s, max_episode_steps=s.n_chunks)
    bad = ReplayAgent(np.full(4 * 200, 700, np.int64), 4, 0, name="bare-units")
    venv.envs[1].world.set_partner(s, bad)
    venv.reset(seed=0)
    with pytest.raises(ValueError, match=r"^conversation 1 \(partner 'bare-units'\): "
                       r"learner-a: partner chunk 0 has unit 700, outside the learner's unit "
                       r"inventory 0\.\.500 \(allowed: [^\n]*\)$"):
        for _ in range(5):
            venv.step(np.ones(3, np.int64))


def test_a_vector_env_refused_after_building_closes_its_conversations(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Scenarios whose spaces differ (or measured compute) were refused after every
    conversation was built, and the partners they built were never closed (no one held the
    vector env to close). Now each conversation is closed, its partner once."""
    from duplexsim.agents.scripted import ScriptedAgent

    closed: list[int] = []
    monkeypatch.setattr(ScriptedAgent, "close", lambda self: closed.append(id(self)),
                        raising=False)
    base = dataclasses.replace(default_scenario(), duration_s=1.6)
    other = dataclasses.replace(base, chunk_ms=200)
    with pytest.raises(ValueError, match=r"scenario\[1\]: its spaces differ"):
        TurnTakingVectorEnv(num_envs=3, scenario=[base, other, base], partner="scripted")
    assert len(closed) == 3 == len(set(closed))


def test_close_closes_every_conversation_even_if_one_raises_then_raises_the_first(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Every conversation is closed, in order, even if an earlier one's close raises; the
    first error is the one raised (the ExitStack it replaces raised the last)."""
    env = TurnTakingVectorEnv(num_envs=3, **kwargs())
    closed: list[int] = []

    def closing(i: int) -> None:
        closed.append(i)
        if i != 1:
            raise RuntimeError(f"conversation {i} failed")

    for i, conversation in enumerate(env.envs):
        monkeypatch.setattr(conversation, "close", lambda i=i: closing(i))
    with pytest.raises(RuntimeError, match="^conversation 0 failed"):
        env.close()
    assert closed == [0, 1, 2]
