"""DuplexParallelEnv: PettingZoo's own API test, defaults, determinism."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest


def test_parallel_api_test_on_defaults() -> None:
    from pettingzoo.test import parallel_api_test

    from duplexsim.envs.parallel import DuplexParallelEnv

    env = DuplexParallelEnv()
    assert env.possible_agents == ["A", "B"]
    # PettingZoo's test resets with options={"options": 1}: warned of, not refused
    with pytest.warns(UserWarning, match="unknown key 'options'"):
        parallel_api_test(env, num_cycles=200)


def test_two_learners_same_seed_same_episode() -> None:
    from duplexsim.envs.parallel import DuplexParallelEnv
    from duplexsim.envs.world import default_scenario

    scenario = dataclasses.replace(default_scenario(), duration_s=3.2)

    def episode(seed: int) -> list:
        env = DuplexParallelEnv(scenario=scenario)
        env.reset(seed=seed)
        rng = np.random.default_rng(0)
        out = []
        while env.agents:
            acts = {n: int(rng.integers(4)) for n in env.agents}
            obs, rew, _, trunc, _ = env.step(acts)
            out.append((obs["A"]["partner_vad"].copy(), obs["B"]["partner_vad"].copy(),
                        rew["A"], rew["B"]))
        assert all(trunc.values())
        return out

    a, b = episode(5), episode(5)
    assert len(a) == scenario.n_chunks
    assert all(np.array_equal(x[0], y[0]) and np.array_equal(x[1], y[1]) and x[2:] == y[2:]
               for x, y in zip(a, b, strict=True))
    c = episode(6)
    assert not all(np.array_equal(x[0], y[0]) and x[2:] == y[2:] for x, y in zip(a, c, strict=True))
    env = DuplexParallelEnv(scenario=scenario)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="exactly"):
        env.step({"A": 0})
    with pytest.raises(ValueError, match=r"^actions\['B'\]: b: action 5 is not in Discrete\(4\) "
                       r"\(allowed: an integer, 0 = silent"):
        env.step({"A": 0, "B": 5})  # the bad one named by its agent


def test_bad_actions_and_agent_names_are_one_line() -> None:
    """step(None) was "'NoneType' object is not iterable", a list of actions "got agents
    [1, 1]", observation_space('C') a bare KeyError."""
    from duplexsim.envs.parallel import DuplexParallelEnv

    env = DuplexParallelEnv()
    env.reset(seed=0)
    for bad, kind in ((None, "NoneType"), ([1, 1], "list")):
        with pytest.raises(ValueError, match=rf"^actions: a {kind} \(allowed: a dict agent name "
                           r"\(A, B\) -> action\)$"):
            env.step(bad)
    for space in (env.observation_space, env.action_space):
        with pytest.raises(ValueError, match=r"^agent: 'C' \(allowed: A, B\)$"):
            space("C")
    env.step({"A": 1, "B": 0})  # nothing moved before: steps on


def test_each_learner_is_scored_on_its_own_side() -> None:
    """A speaks every chunk, B stays silent: A's reward tracker counts A's onsets and B's
    counts none (each learner is scored with its own stream as "own", not A's for both)."""
    from duplexsim.envs.actions import TurnAction
    from duplexsim.envs.parallel import DuplexParallelEnv
    from duplexsim.envs.world import default_scenario

    env = DuplexParallelEnv(scenario=dataclasses.replace(default_scenario(), duration_s=2.4))
    env.reset(seed=0)
    infos: dict = {}
    while env.agents:
        _, _, _, _, infos = env.step({"A": int(TurnAction.SPEAK), "B": int(TurnAction.SILENT)})
    assert infos["A"]["events"]["learner_onsets"] >= 1
    assert infos["B"]["events"]["learner_onsets"] == 0
    assert infos["B"]["events"]["partner_onsets"] >= 1


def test_sides_speaking_two_unit_inventories_are_refused(tiny_corpus) -> None:  # noqa: ANN001
    """Side a replays a 32-unit corpus, side b the shipped 501-unit dialogue: learner B's
    spaces are in 32 units, and it would hear A's 501. It was made, and B's observations
    fell outside its observation space; now it is one line when the env is made."""
    from duplexsim.config.scenario import SideConfig
    from duplexsim.envs.parallel import DuplexParallelEnv
    from duplexsim.envs.world import default_scenario
    from duplexsim.errors import ConfigError

    scenario = dataclasses.replace(default_scenario(), duration_s=3.2,
                                   a=SideConfig(kind="replay", corpus=str(tiny_corpus)))
    with pytest.raises(ConfigError, match=r"^scenario: learner A speaks in 501 units \(the "
                       r"shipped dialogue\), learner B in 32 \(dialogue .* of .*\) \(allowed: "):
        DuplexParallelEnv(scenario=scenario)


def test_reset_warns_of_an_options_key_it_ignores() -> None:
    """A typo'd option did nothing without a word (review). PettingZoo's parallel_api_test
    resets with ``options={"options": 1}``, so the parallel env warns instead of refusing."""
    import warnings

    from duplexsim.envs.parallel import DuplexParallelEnv

    env = DuplexParallelEnv()
    with pytest.warns(UserWarning, match=r"options: unknown key 'sed' \(allowed: no keys"):
        env.reset(options={"sed": 1})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        env.reset(seed=0, options={})
    env.close()


def test_one_agent_directory_for_both_learners_is_loaded_once(
        tiny_agents, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    """``models={"A": d, "B": d}`` loaded ``d`` twice (two copies of the weights), and again
    at each reset after close(). Now both learners are rows of one model and token row set
    (as a vector env's conversations), loaded once, and play what two separately loaded
    models play."""
    import duplexsim.models.agentdir as agentdir
    from duplexsim.agents import load
    from duplexsim.envs.parallel import DuplexParallelEnv
    from duplexsim.envs.world import default_scenario

    loads: list[str] = []
    load_files = agentdir.load_agent_files

    def counting(path, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        loads.append(str(path))
        return load_files(path, *args, **kwargs)

    scenario = dataclasses.replace(default_scenario(), duration_s=1.6)

    def rollout(env: DuplexParallelEnv) -> list:
        out: list = []
        rng = np.random.default_rng(2)
        for seed in (4, 5):
            out.append(env.reset(seed=seed)[0])
            while env.agents:
                out.append(env.step({n: int(rng.integers(4)) for n in env.agents})[:3])
            env.close()  # the next reset reloads nothing: the share outlives it
        return out

    d = tiny_agents[0]
    apart = {n: load(str(d), chunk_ms=scenario.chunk_ms, seed=scenario.seed) for n in "AB"}
    expected = rollout(DuplexParallelEnv(scenario=scenario, models=apart))
    monkeypatch.setattr(agentdir, "load_agent_files", counting)
    env = DuplexParallelEnv(scenario=scenario, models={"A": str(d), "B": d})
    models = [side.agent.model for side in env.sides.values()]
    assert models[0].lm is models[1].lm and models[0].files is models[1].files
    assert models[0].generator.row != models[1].generator.row
    got = rollout(env)
    assert loads == [str(d.resolve())]
    assert len(flat(got)) == len(flat(expected))
    assert all(np.array_equal(x, y) for x, y in zip(flat(got), flat(expected), strict=True))
    speak = {n: 1 for n in "AB"}  # TurnAction.SPEAK: the models' proposals are played
    env.reset(seed=4)
    assert any(np.any(env.step(speak)[0][n]["own_units"] != 0) for _ in range(4) for n in "AB")


def flat(x) -> list:  # noqa: ANN001
    """Every value of nested dicts / tuples / lists, in order (dicts by sorted key)."""
    if isinstance(x, dict):
        return [v for k in sorted(x) for v in [k, *flat(x[k])]]
    if isinstance(x, list | tuple):
        return [v for item in x for v in flat(item)]
    return [x]


def test_a_closed_env_let_go_frees_its_learners_weights(tiny_agents) -> None:  # noqa: ANN001
    """No cache outlives the env: once a closed parallel env is let go, the weights its
    learners shared are freed (a closed env still holds them: a reset reopens it on them)."""
    import gc
    import weakref

    from duplexsim.envs.parallel import DuplexParallelEnv
    from duplexsim.envs.world import default_scenario

    d = str(tiny_agents[0])
    env = DuplexParallelEnv(scenario=dataclasses.replace(default_scenario(), duration_s=0.8),
                            models={"A": d, "B": d})
    env.reset(seed=0)
    env.step({"A": 1, "B": 1})
    weights = weakref.ref(env.sides["A"].agent.model.files.model)
    env.close()
    gc.collect()
    assert weights() is not None
    del env
    gc.collect()
    assert weights() is None
