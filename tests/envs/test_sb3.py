"""The SB3 adapter (:class:`~duplexsim.envs.sb3.SB3VecEnv`) over the native vector env: the
same rollouts and infos as SB3's DummyVecEnv over the single env, PPO trains on it, its
options, indices and errors."""

from __future__ import annotations

import dataclasses

import gymnasium as gym
import numpy as np
import pytest
from test_vector import KEYS, kwargs, same  # (tests/envs is on the path: rootdir-less import)

import duplexsim  # noqa: F401  (registers the envs)
from duplexsim.envs.registration import TURN_TAKING_ID
from duplexsim.envs.world import default_scenario


def test_sb3_adapter_equals_dummy_vec_env_and_trains() -> None:
    from stable_baselines3 import PPO
    from stable_baselines3.common.logger import Logger
    from stable_baselines3.common.vec_env import DummyVecEnv, VecMonitor

    from duplexsim.envs.sb3 import SB3VecEnv

    def single() -> gym.Env:
        env = gym.make(TURN_TAKING_ID, **kwargs())
        return gym.wrappers.FlattenObservation(gym.wrappers.FilterObservation(env, KEYS))

    ours = SB3VecEnv(gym.make_vec(TURN_TAKING_ID, num_envs=3, autoreset_mode="SameStep",
                                  **kwargs()), keys=KEYS)
    theirs = DummyVecEnv([single] * 3)
    assert ours.observation_space == theirs.observation_space
    ours.seed(7)
    theirs.seed(7)
    assert np.array_equal(ours.reset(), theirs.reset())
    rng = np.random.default_rng(1)
    for _ in range(25):
        actions = rng.integers(0, 4, 3)
        (o1, r1, d1, i1), (o2, r2, d2, i2) = ours.step(actions), theirs.step(actions)
        assert np.array_equal(o1, o2) and np.allclose(r1, r2) and np.array_equal(d1, d2)
        for a, b, done in zip(i1, i2, d1, strict=True):
            if done:
                assert np.array_equal(a["terminal_observation"], b["terminal_observation"])
                assert a["TimeLimit.truncated"] == b["TimeLimit.truncated"]
                assert set(a["turntaking"]) == set(b["turntaking"])
    model = PPO("MlpPolicy", VecMonitor(ours), n_steps=32, batch_size=48, n_epochs=1,
                device="cpu", seed=0)
    model.set_logger(Logger(folder=None, output_formats=[]))  # no tempdir/SB3-<time> folder
    model.learn(96)
    assert model.num_timesteps >= 96
    with pytest.raises(ValueError, match="SameStep"):
        SB3VecEnv(gym.make_vec(TURN_TAKING_ID, num_envs=2, **kwargs()))
    with pytest.raises(ValueError, match="keys: unknown"):
        SB3VecEnv(gym.make_vec(TURN_TAKING_ID, num_envs=2, autoreset_mode="SameStep",
                               **kwargs()), keys=["nope"])
    # keys="own_vad" was "unknown ['o', 'w', ...]", keys=[] numpy's "need at least one array
    # to concatenate", and a key given twice was taken once
    allowed = r"\(allowed: a list of one or more of lookahead, .*, time, each once"
    for bad, said in (("own_vad", r"a str 'own_vad'"), ([], r"\[\]"),
                      (["own_vad", "own_vad"], r"\['own_vad', 'own_vad'\]")):
        with pytest.raises(ValueError, match=rf"^keys: {said} {allowed}"):
            SB3VecEnv(gym.make_vec(TURN_TAKING_ID, num_envs=2, autoreset_mode="SameStep",
                                   **kwargs()), keys=bad)
    # the user's vector wrappers stay in the loop
    wrapped = gym.wrappers.vector.TransformReward(
        gym.make_vec(TURN_TAKING_ID, num_envs=2, autoreset_mode="SameStep", **kwargs()),
        lambda r: r * 0 + 5.0)
    venv = SB3VecEnv(wrapped)
    venv.reset()
    assert np.array_equal(venv.step(np.array([1, 1]))[1], [5.0, 5.0])


def test_sb3_adapter_infos_and_reset_infos_are_dummy_vec_envs() -> None:
    """Every step's info (chunk, time_ms, reward_terms, events; an ended conversation's
    final step's), and ``reset_infos`` after a reset and after each autoreset, are those
    DummyVecEnv gives over the single env; VecMonitor can log an info key."""
    from stable_baselines3.common.vec_env import DummyVecEnv, VecMonitor

    from duplexsim.envs.sb3 import SB3VecEnv

    def single() -> gym.Env:
        env = gym.make(TURN_TAKING_ID, **kwargs())
        return gym.wrappers.FlattenObservation(gym.wrappers.FilterObservation(env, KEYS))

    ours = SB3VecEnv(gym.make_vec(TURN_TAKING_ID, num_envs=3, autoreset_mode="SameStep",
                                  **kwargs()), keys=KEYS)
    theirs = DummyVecEnv([single] * 3)
    ours.seed(7)
    theirs.seed(7)
    ours.reset()
    theirs.reset()
    assert same(ours.reset_infos, theirs.reset_infos)
    rng = np.random.default_rng(1)
    ends = 0
    for _ in range(25):
        actions = rng.integers(0, 4, 3)
        (_, _, d1, i1), (_, _, _, i2) = ours.step(actions), theirs.step(actions)
        assert set(i1[0]) >= {"chunk", "time_ms", "reward_terms", "events"}
        assert same(i1, i2)
        assert same(ours.reset_infos, theirs.reset_infos)
        ends += int(d1.sum())
    assert ends >= 6
    monitored = VecMonitor(SB3VecEnv(gym.make_vec(
        TURN_TAKING_ID, num_envs=2, autoreset_mode="SameStep", **kwargs())),
        info_keywords=("events",))
    monitored.reset()
    for _ in range(kwargs()["max_episode_steps"]):
        _, _, dones, infos = monitored.step(np.array([1, 0]))
    assert dones.all() and all(info["episode"]["events"] == info["events"] for info in infos)


def test_sb3_adapter_passes_its_options_to_reset(monkeypatch: pytest.MonkeyPatch) -> None:
    """``set_options`` reaches the next reset (once, as in DummyVecEnv); options that differ
    between conversations are refused (the vector env takes one), and so is a key no
    conversation takes (it was ignored)."""
    from duplexsim.envs.sb3 import SB3VecEnv
    from duplexsim.envs.vector import TurnTakingVectorEnv

    seen = []
    original = TurnTakingVectorEnv.reset

    def spy(self, *, seed=None, options=None):  # noqa: ANN001, ANN202
        seen.append(options)  # (the env takes no such key: it is not given "level")
        return original(self, seed=seed)

    monkeypatch.setattr(TurnTakingVectorEnv, "reset", spy)
    venv = SB3VecEnv(gym.make_vec(TURN_TAKING_ID, num_envs=2, autoreset_mode="SameStep",
                                  **kwargs()))
    venv.set_options({"level": 3})
    venv.reset()
    assert seen == [{"level": 3}]
    venv.reset()
    assert seen[1:] == [None]  # used once
    venv.set_options([{"level": 3}, {"level": 4}])
    with pytest.raises(ValueError, match=r"^options\[1\]: \{'level': 4\} differs from "
                                         r"options\[0\] .*\(allowed: the same options"):
        venv.reset()
    venv.set_options({"reset_mask": np.array([True, False])})
    with pytest.raises(ValueError, match=r"^options: 'reset_mask' \(allowed: "):
        venv.reset()
    monkeypatch.setattr(TurnTakingVectorEnv, "reset", original)
    venv.set_options({"level": 3})  # no conversation takes it: refused, not ignored
    with pytest.raises(ValueError, match=r"^options: unknown key 'level' \(allowed: "
                                         r"'reset_mask'\)$"):
        venv.reset()


def test_sb3_adapter_gives_a_summary_only_to_conversations_that_ended() -> None:
    """A conversation cut by max_episode_steps has no episode summary (not zeros)."""
    from duplexsim.envs.sb3 import SB3VecEnv

    base = default_scenario()
    scenarios = [dataclasses.replace(base, duration_s=d) for d in (0.8, 1.6)]
    venv = SB3VecEnv(gym.make_vec(TURN_TAKING_ID, num_envs=2, autoreset_mode="SameStep",
                                  scenario=scenarios, max_episode_steps=scenarios[0].n_chunks))
    venv.reset()
    for _ in range(scenarios[0].n_chunks):
        _, _, dones, infos = venv.step(np.array([1, 1]))
    assert dones.all()
    assert "turntaking" in infos[0] and "turntaking" not in infos[1]
    assert infos[1]["TimeLimit.truncated"]


@pytest.mark.parametrize("workers", [1, 2])
def test_sb3_adapter_takes_indices_as_any_iterable(workers: int) -> None:
    """SB3's ``VecEnvIndices`` is any iterable of ints: a one-shot one (a generator) reaches
    the same conversations as a list (it was read once to check it, then found empty)."""
    from duplexsim.envs.sb3 import SB3VecEnv

    venv = SB3VecEnv(gym.make_vec(TURN_TAKING_ID, num_envs=3, autoreset_mode="SameStep",
                                  workers=workers, vectorization_mode="vector_entry_point",
                                  **kwargs()))
    try:
        venv.reset()
        assert venv.get_attr("render_mode", indices=(i for i in (2, 0))) == [None, None]
        venv.set_attr("marker", 5, indices=iter([1]))
        assert venv.env_method("__getattribute__", "marker", indices=iter([1])) == [5]
    finally:
        venv.close()

