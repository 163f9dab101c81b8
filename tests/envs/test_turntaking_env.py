"""TurnTaking-v0 through the ecosystem's own checkers, determinism, vector envs, errors."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import duplexsim  # noqa: F401  (registers the envs)
from duplexsim.envs.registration import DEFAULT_MAX_EPISODE_STEPS, TURN_TAKING_ID


def short_scenario(duration_s: float = 4.0):  # noqa: ANN201
    import dataclasses

    from duplexsim.envs.world import default_scenario

    return dataclasses.replace(default_scenario(), duration_s=duration_s)


def test_make_with_no_arguments_runs_a_full_episode() -> None:
    from duplexsim.envs.world import default_scenario

    assert default_scenario().n_chunks == DEFAULT_MAX_EPISODE_STEPS
    env = gym.make(TURN_TAKING_ID)
    obs, info = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    steps, truncated, terminated = 0, False, False
    while not (truncated or terminated):
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        steps += 1
        # the chunk the action was for, and the time the step reached (the next chunk's)
        assert info["chunk"] == steps - 1
        assert info["time_ms"] == steps * default_scenario().chunk_ms
        assert set(info["reward_terms"]) == {"overlap", "gap", "fto", "interrupt", "backchannel"}
        assert reward == pytest.approx(sum(info["reward_terms"].values()))
    assert steps == DEFAULT_MAX_EPISODE_STEPS and truncated and not terminated
    assert info["turntaking"]["speech_share"] > 0
    assert set(info["events"]) >= {"overlap_ms", "gap_ms", "transitions"}
    with pytest.raises(RuntimeError, match="reset"):
        env.unwrapped.step(0)


def test_a_refused_action_is_one_line_whatever_its_shape() -> None:
    """A 2-D action (a batch given to one env) and a 30-frame chunk's space printed over
    several lines (numpy wraps an array's repr): an error is one line."""
    import dataclasses

    for chunk_ms, action in ((160, np.zeros((2, 4), np.int64)), (1200, np.zeros(30))):
        scenario = dataclasses.replace(short_scenario(), chunk_ms=chunk_ms)
        env = gym.make(TURN_TAKING_ID, scenario=scenario, action_mode="units").unwrapped
        env.reset(seed=0)
        with pytest.raises(ValueError, match=r"^a: action array\(\[.*\]\) is not in "
                                             r"MultiDiscrete\(\[501 .*501\]\) \(allowed: "
                                             r"\d+ integer unit ids in 0..500\)$") as info:
            env.step(action)
        assert "\n" not in str(info.value)


def test_gymnasium_check_env() -> None:
    from gymnasium.utils.env_checker import check_env

    env = gym.make(TURN_TAKING_ID, scenario=short_scenario()).unwrapped
    check_env(env, skip_render_check=True)
    env_units = gym.make(TURN_TAKING_ID, scenario=short_scenario(), action_mode="units").unwrapped
    check_env(env_units, skip_render_check=True)


def test_render_with_no_render_mode_renders_nothing_and_close_twice_is_fine() -> None:
    """render() raised a bare NotImplementedError (no message): with render_mode None,
    Gymnasium's convention is that no render is computed."""
    from duplexsim.envs.parallel import DuplexParallelEnv

    env = gym.make(TURN_TAKING_ID, scenario=short_scenario())
    parallel = DuplexParallelEnv(scenario=short_scenario())
    for e in (env, env.unwrapped, parallel):
        if e is not env:  # (gymnasium.make's OrderEnforcing refuses a render before reset)
            assert e.render() is None
        e.reset(seed=0)
        assert e.render() is None
        e.close()
        e.close()


def test_sb3_check_env() -> None:
    import warnings

    from stable_baselines3.common.env_checker import check_env

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(gym.make(TURN_TAKING_ID, scenario=short_scenario()).unwrapped, warn=True)
    # SB3 accepts the spaces as they are: no "unconventional shape" or other advice
    assert [str(w.message) for w in caught if "stable_baselines3" in w.filename] == []


def rollout(env: gym.Env, seed: int, actions: list[int]) -> list:
    obs, _ = env.reset(seed=seed)
    out = [obs]
    for a in actions:
        obs, r, term, trunc, info = env.step(a)
        out.append((obs, r, info["events"]))
        if term or trunc:
            break
    return out


def same(x, y) -> bool:  # noqa: ANN001
    if isinstance(x, dict):
        return x.keys() == y.keys() and all(same(x[k], y[k]) for k in x)
    if isinstance(x, tuple | list):
        return len(x) == len(y) and all(same(a, b) for a, b in zip(x, y, strict=True))
    return np.array_equal(np.asarray(x), np.asarray(y))


def test_same_seed_and_actions_give_identical_rollouts() -> None:
    actions = np.random.default_rng(3).integers(0, 4, 40).tolist()
    scenario = short_scenario(6.4)
    a = rollout(gym.make(TURN_TAKING_ID, scenario=scenario), 7, actions)
    b = rollout(gym.make(TURN_TAKING_ID, scenario=scenario), 7, actions)
    assert same(a, b)
    c = rollout(gym.make(TURN_TAKING_ID, scenario=scenario), 8, actions)
    assert not same(a, c)


def test_copying_an_env_from_reset_until_close_is_one_clear_error() -> None:
    """copy.deepcopy or pickle of an env between reset() and close() failed deep in the
    simulator ("cannot pickle 'generator' object": SimPy processes are generators). Before
    reset() and after close() a copy still works and rolls out as the original does."""
    import copy
    import pickle

    from duplexsim.envs.parallel import DuplexParallelEnv

    def copies(env):  # noqa: ANN001, ANN202
        return [copy.deepcopy(env), pickle.loads(pickle.dumps(env))]

    actions = [1, 1, 0, 2, 0, 1, 3, 0, 1, 1]
    env = gym.make(TURN_TAKING_ID, scenario=short_scenario(), partner="scripted")
    before = copies(env)
    want = rollout(env, 3, actions)
    env.reset(seed=3)
    env.step(1)  # mid-episode
    parallel = DuplexParallelEnv(scenario=short_scenario())
    parallel.reset(seed=0)
    for live in (env, env.unwrapped, parallel):
        for attempt in (copy.deepcopy, pickle.dumps):
            with pytest.raises(TypeError, match=r"^env: cannot be copied or pickled from "
                               r"reset\(\) until close\(\): .*SimPy generators \(allowed: "
                               r"copy it before reset\(\) or after close\(\); .*replay the "
                               r"actions"):
                attempt(live)
    env.close()
    for copied in before + copies(env):
        assert same(rollout(copied, 3, actions), want)


def test_partner_is_heard_late() -> None:
    env = gym.make(TURN_TAKING_ID, scenario=short_scenario())
    env.reset(seed=0)
    lookaheads = []
    for _ in range(10):
        obs, *_ = env.step(0)
        lookaheads.append(float(obs["lookahead"][0]))
    assert min(lookaheads) >= 1  # never the chunk being spoken right now


def test_vector_envs() -> None:
    def make() -> gym.Env:
        return gym.make(TURN_TAKING_ID, scenario=short_scenario(2.0))

    for cls in (gym.vector.SyncVectorEnv, gym.vector.AsyncVectorEnv):
        venv = cls([make, make])
        obs, _ = venv.reset(seed=[1, 2])
        assert obs["own_vad"].shape == (2, 8 * 4)
        for _ in range(15):
            obs, rewards, term, trunc, _ = venv.step(np.array([1, 0]))
            assert rewards.shape == (2,)
        venv.close()


def test_clear_errors() -> None:
    env = gym.make(TURN_TAKING_ID, scenario=short_scenario()).unwrapped
    env.reset(seed=0)
    for bad in (4, -1, 1.5, "speak", [1, 2]):
        with pytest.raises(ValueError, match="allowed"):
            env.step(bad)
    units = gym.make(TURN_TAKING_ID, scenario=short_scenario(), action_mode="units").unwrapped
    units.reset(seed=0)
    with pytest.raises(ValueError, match="unit ids"):
        units.step(np.array([0, 1, 2, 10_000]))
    with pytest.raises(ValueError, match="unit ids"):
        units.step(np.array([0, 1]))
    with pytest.raises(ValueError, match="unknown kind 'robot'"):
        gym.make(TURN_TAKING_ID, partner="robot")
    with pytest.raises(ValueError, match=r"an agent directory goes in a list: "
                                         r"partner=\['runs/agents/fisher'\]"):
        gym.make(TURN_TAKING_ID, partner="runs/agents/fisher")
    for kind in ("syncllm", "tdm"):  # was 'agent: ...', a key the caller never wrote
        with pytest.raises(ValueError, match=rf"^partner: '{kind}': agent: .*needs its trained "
                           rf"agent directory.*partner=\[DIR\] or \{{'kind': '{kind}', 'agent'"):
            gym.make(TURN_TAKING_ID, partner=kind)
    for key, value in (("weight", True), ("start_s", True)):
        with pytest.raises(ValueError, match=rf"partner\[0\]\.{key}: True"):
            gym.make(TURN_TAKING_ID, partner={"kind": "replay", key: value})
    from duplexsim.envs.parallel import DuplexParallelEnv

    with pytest.raises(TypeError, match="models: got int"):
        DuplexParallelEnv(models=5)
    fresh = gym.make(TURN_TAKING_ID, scenario=short_scenario()).unwrapped
    with pytest.raises(RuntimeError, match="reset"):
        fresh.step(0)


def test_a_settings_file_of_another_kind_is_one_line(tmp_path) -> None:  # noqa: ANN001
    """scenario= an agent card listed each of its tables as an unknown scenario key."""
    from duplexsim.errors import ConfigError

    card = tmp_path / "card.toml"
    card.write_text('[agent]\nname = "c"\n[model]\nsize = "tiny"\n')
    with pytest.raises(ConfigError, match="is an agent card file, not a scenario") as e:
        gym.make(TURN_TAKING_ID, scenario=str(card))
    assert len(e.value.problems) == 1


def test_a_partner_in_another_unit_inventory_is_refused(tiny_corpus) -> None:  # noqa: ANN001
    """A scripted partner speaks the units of the scenario's other side (here a replay of a
    32-unit corpus), a given replay agent those of its corpus, while the learner's speech,
    and the spaces, came from the shipped dialogue's 501: both were accepted, the partner's
    units then observed and scored in the learner's inventory."""
    import dataclasses
    import re

    from duplexsim.agents.replay import ReplayAgent
    from duplexsim.config.scenario import SideConfig
    from duplexsim.errors import ConfigError

    replay = SideConfig(kind="replay", corpus=str(tiny_corpus))
    learner_replays = dataclasses.replace(short_scenario(), a=replay)
    agent = ReplayAgent.from_side(replay, short_scenario(), "b")
    for scenario, partner, name in [
            (dataclasses.replace(learner_replays, b=SideConfig(kind="scripted")), None,
             "scripted:random-talker:b"),
            (learner_replays, "scripted", "scripted:random-talker:b"),
            (short_scenario(), agent, agent.name)]:
        with pytest.raises(ConfigError, match=rf"^partner '{re.escape(name)}': speaks 32 "
                           r"units, the learner's speech \(the shipped dialogue\) 501 "
                           r"\(allowed: a partner in the learner's unit inventory: .*; for "
                           r"a partner in other units give it as a pool spec, e\.g\. "
                           r"partner=\{'kind': 'tdm', 'agent': DIR\}: the learner then "
                           r"speaks the agent's training corpus, or a 'speech_corpus' in the "
                           r"partner's units\)$"):
            gym.make(TURN_TAKING_ID, scenario=scenario, partner=partner)
    shipped = ReplayAgent.from_side(SideConfig(kind="replay"), short_scenario(), "b")
    for partner in ("scripted", shipped, replay):  # one inventory: fine
        gym.make(TURN_TAKING_ID, scenario=short_scenario(), partner=partner).reset(seed=0)


def test_a_partner_unit_outside_the_observation_space_is_one_clear_error() -> None:
    """A partner (or own model) that does not say its inventory (a replay of bare units) is
    taken as it is, but a unit it sends past the learner's inventory is refused when it is
    heard (proposed): it was observed as it came, an observation outside
    ``observation_space``."""
    from duplexsim.agents.replay import ReplayAgent

    # the partner's chunk when heard; the learner's own model's proposal (played by speak,
    # then observed)
    for role, whose in (("partner", "partner chunk 0"), ("model", "its model's chunk 0")):
        agent = ReplayAgent(np.full(4 * 200, 700, np.int64), 4, 0)
        env = gym.make(TURN_TAKING_ID, scenario=short_scenario(), **{role: agent})
        env.reset(seed=0)
        with pytest.raises(ValueError, match=rf"^learner-a: {whose} has unit 700, outside "
                           r"the learner's unit inventory 0\.\.500 \(allowed: "):
            for _ in range(5):
                env.step(1)


def test_a_partner_that_says_its_inventory_is_checked_as_it_sends() -> None:
    """A partner that says the learner's n_units (corpus replay, scripted, one of the user's
    own) has each chunk checked by the simulator as it produces it, so the learner does not
    look at it again as it is heard; a unit outside still stops the step with one clear
    error, the simulator's, in a pool too. One that does not say (bare units), or whose
    silence unit (what a missed chunk plays) is outside, is checked as heard."""
    from duplexsim.agents.replay import ReplayAgent
    from duplexsim.config.scenario import SideConfig

    shipped = ReplayAgent.from_side(SideConfig(kind="replay"), short_scenario(), "b")
    F = shipped.frames_per_chunk

    class Shifted(ReplayAgent):  # says the learner's n_units, sends units past it
        def chunk_units(self, chunk: int) -> np.ndarray:
            return super().chunk_units(chunk) + 700

    loud = ReplayAgent(shipped.units, F, n_units=shipped.n_units)
    loud.silence_unit = 700
    for partner, checked in ((None, True), ("scripted", True), (shipped, True),
                             (ReplayAgent(shipped.units, F), False), (loud, False),
                             (Shifted(shipped.units, F, n_units=shipped.n_units), True),
                             ([Shifted(shipped.units, F, n_units=shipped.n_units)], True)):
        env = gym.make(TURN_TAKING_ID, scenario=short_scenario(), partner=partner)
        env.reset(seed=0)
        assert env.unwrapped.learner.agent.partner_checked is checked, partner
        if isinstance(partner, Shifted | list):
            with pytest.raises(ValueError, match=r"^side b \(replay\): produce\(0\)\.units"
                               r"\[0\] = 7\d\d: not a unit id \(allowed: 0\.\.500\)"):
                for _ in range(5):
                    env.step(1)


def test_an_episode_cut_by_the_registered_limit_warns_once() -> None:
    import warnings

    def episode(env: gym.Env) -> int:
        env.reset(seed=0)
        steps, done = 0, False
        while not done:
            done = env.step(0)[3]
            steps += 1
        return steps

    cut = gym.make(TURN_TAKING_ID, scenario=short_scenario(60.0), partner="scripted")
    assert episode(cut) == DEFAULT_MAX_EPISODE_STEPS  # the registered TimeLimit
    with pytest.warns(UserWarning, match="after 188 of .* 375 steps.*max_episode_steps=375"):
        cut.reset(seed=1)
    whole = gym.make(TURN_TAKING_ID, scenario=short_scenario(60.0), partner="scripted",
                     max_episode_steps=375)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the right limit: no warning, neither made nor reset
        assert episode(whole) == 375
        whole.reset(seed=1)


def test_partner_kinds_and_side_b() -> None:
    env = gym.make(TURN_TAKING_ID, scenario=short_scenario(), partner="scripted", side="b")
    env.reset(seed=0)
    total = sum(env.step(1)[1] for _ in range(20))
    assert np.isfinite(total)


def test_reset_refuses_an_options_key_instead_of_ignoring_it() -> None:
    """``reset(options=...)`` ignored every key: a typo'd option did nothing (review). The
    env takes none; Gymnasium's checker resets with ``options={}``, which is fine."""
    env = gym.make(TURN_TAKING_ID, scenario=short_scenario())
    with pytest.raises(ValueError, match=r"^options: unknown key 'sed' \(allowed: no keys: "
                                         r"reset takes no options\)$"):
        env.reset(options={"sed": 1})
    first, _ = env.reset(seed=3, options={})
    again, _ = env.reset(seed=3, options=None)
    assert all(np.array_equal(first[k], again[k]) for k in first)
    env.close()


def test_the_event_table_counts_backchannels_by_shape_the_running_counts_by_action() -> None:
    """The spec's two accounts (Rewards): ``info["events"]`` and the reward go by the
    learner's actions, the event table and ``info["turntaking"]`` by the shape of its
    voice activity, as for a corpus. Inside the partner's IPUs of the shipped dialogue
    (global frames 247-307 and 463-543), one speak chunk (68: 160 ms) is a backchannel row
    but an interruption in the counts, and ten backchannel actions (118-127: 1.6 s) are
    one IPU row but three backchannels (one well placed, two too soon) in the counts."""
    from duplexsim.envs.turntaking import TurnTakingEnv

    env = TurnTakingEnv()
    env.reset(seed=0)
    truncated, j = False, 0
    while not truncated:
        *_, truncated, info = env.step(1 if j == 68 else 2 if 118 <= j < 128 else 0)
        j += 1
    counts, table = info["events"], env.events()
    turns = table[(table.speaker == 1) & (table.kind == "ipu")]
    for lo, hi in ((68, 69), (118, 128)):  # the partner's IPU holds both
        assert ((turns.start_ms < lo * 160) & (turns.end_ms > hi * 160)).any()
    learner = table[(table.speaker == 0) & table.kind.isin(["ipu", "backchannel"])]
    assert list(zip(learner.kind, learner.start_ms, learner.end_ms, strict=True)) == [
        ("backchannel", 68 * 160.0, 69 * 160.0), ("ipu", 118 * 160.0, 128 * 160.0)]
    assert counts["learner_onsets"] == counts["interruptions"] == 1  # the speak chunk
    assert (counts["backchannels_good"], counts["backchannels_bad"]) == (1, 2)
    assert info["turntaking"]["learner_backchannels_per_min"] == pytest.approx(
        1 / (188 * 0.16 / 60))


def test_close_closes_the_partners_the_env_built_once_and_never_a_given_one(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """env.close() freed the simulation but never closed the partner agent the env built
    (nothing in the library called Agent.close()). Now once per built partner (Gymnasium
    may close an env twice), for a fixed partner, a pool's and each conversation of the
    vector env; a partner given as an Agent is its caller's and stays open."""
    from duplexsim.agents.scripted import ScriptedAgent

    closed: list[int] = []
    monkeypatch.setattr(ScriptedAgent, "close", lambda self: closed.append(id(self)),
                        raising=False)

    def episode(env: gym.Env, seed: int = 0) -> None:
        env.reset(seed=seed)
        for _ in range(3):
            env.step(1)

    env = gym.make(TURN_TAKING_ID, scenario=short_scenario(), partner="scripted")
    episode(env)
    partner = env.unwrapped.world.partner.inner
    env.close()
    env.close()
    assert closed == [id(partner)]
    episode(env, 1)  # a reset after close builds a new partner; closing closes that one
    env.close()
    assert len(closed) == 2 and closed[1] == id(env.unwrapped.world.partner.inner) != closed[0]

    closed.clear()
    mine = ScriptedAgent("fixed-turns", short_scenario().frames_per_chunk,
                         short_scenario().n_chunks, n_units=env.unwrapped.learner.source.n_units,
                         name="mine")
    for given in (mine, [mine]):  # alone and as a pool member
        env = gym.make(TURN_TAKING_ID, scenario=short_scenario(), partner=given)
        episode(env)
        env.close()
    assert closed == []

    pool = gym.make(TURN_TAKING_ID, scenario=short_scenario(),
                    partner=[{"kind": "scripted", "policies": ["fixed-turns", "random-talker"]}])
    for seed in range(4):
        episode(pool, seed)
    built = list(pool.unwrapped.pool._agents.values())
    pool.close()
    pool.close()
    assert sorted(closed) == sorted(id(a) for a in built) and built

    closed.clear()
    venv = gym.make_vec(TURN_TAKING_ID, num_envs=3, vectorization_mode="vector_entry_point",
                        scenario=short_scenario(), partner="scripted")
    venv.reset(seed=0)
    venv.step(np.ones(3, np.int64))
    partners = [id(e.world.partner.inner) for e in venv.unwrapped.envs]
    venv.close()
    venv.close()
    assert sorted(closed) == sorted(partners) and len(set(partners)) == 3


def test_close_closes_every_part_even_if_one_raises_then_raises_the_first(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """env.close() frees the simulation, closes the partner, then the learner's model, each
    even if an earlier one raises; it raised the last error (an ExitStack's), now the first."""
    from duplexsim.agents.scripted import ScriptedAgent

    closed: list[str] = []

    def failing(name: str) -> None:
        closed.append(name)
        raise RuntimeError(f"{name} failed")

    monkeypatch.setattr(ScriptedAgent, "close", lambda self: closed.append("partner"),
                        raising=False)
    env = gym.make(TURN_TAKING_ID, scenario=short_scenario(), partner="scripted").unwrapped
    env.reset(seed=0)
    monkeypatch.setattr(env.world, "close", lambda: failing("world"))
    monkeypatch.setattr(env.learner, "close_model", lambda: failing("model"))
    with pytest.raises(RuntimeError, match="^world failed") as info:
        env.close()
    assert closed == ["world", "partner", "model"]
    assert info.value.__notes__ == ["closing the rest then raised RuntimeError: model failed"]
