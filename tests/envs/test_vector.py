"""The native vector env (vector_entry_point): same rollouts as Gymnasium's SyncVectorEnv
over the single env, checks, errors (its SB3 adapter: test_sb3.py; its partners and
closing: test_vector_partners.py)."""

from __future__ import annotations

import dataclasses

import gymnasium as gym
import numpy as np
import pytest

import duplexsim  # noqa: F401  (registers the envs)
from duplexsim.envs.registration import TURN_TAKING_ID
from duplexsim.envs.vector import TurnTakingVectorEnv
from duplexsim.envs.world import default_scenario

KEYS = ["own_vad", "partner_vad", "partner_received", "lookahead", "own_state"]

def kwargs(duration_s: float = 1.6) -> dict:
    s = dataclasses.replace(default_scenario(), duration_s=duration_s)
    return {"scenario": s, "max_episode_steps": s.n_chunks,
            "partner": [{"kind": "replay", "start_s": "random"}, "scripted"]}


def same(x, y) -> bool:  # noqa: ANN001
    if isinstance(x, dict):
        return x.keys() == y.keys() and all(same(x[k], y[k]) for k in x)
    if isinstance(x, tuple | list) or (isinstance(x, np.ndarray) and x.dtype == object):
        return len(x) == len(y) and all(same(a, b) for a, b in zip(x, y, strict=True))
    x, y = np.asarray(x), np.asarray(y)
    return np.array_equal(x, y, equal_nan=x.dtype.kind == "f")  # NaN medians: no such event


@pytest.mark.parametrize("mode", ["NextStep", "SameStep"])
def test_native_vector_env_equals_sync_vector_env(mode: str) -> None:
    native = gym.make_vec(TURN_TAKING_ID, num_envs=3, vectorization_mode="vector_entry_point",
                          autoreset_mode=mode, **kwargs())
    assert isinstance(native.unwrapped, TurnTakingVectorEnv)
    assert native.metadata["autoreset_mode"] == gym.vector.AutoresetMode(mode)
    sync = gym.make_vec(TURN_TAKING_ID, num_envs=3, vectorization_mode="sync",
                        vector_kwargs={"autoreset_mode": gym.vector.AutoresetMode(mode)},
                        **kwargs())
    assert native.observation_space == sync.observation_space
    assert native.single_action_space == sync.single_action_space
    assert same(native.reset(seed=11), sync.reset(seed=11))
    rng = np.random.default_rng(0)
    ends = 0
    for _ in range(30):  # three episodes of 10 steps each, autoresets included
        actions = rng.integers(0, 4, 3)
        got, want = native.step(actions), sync.step(actions)
        assert same(got, want)
        assert native.observation_space.contains(got[0])
        ends += int(got[3].sum())
    assert ends >= 6


@pytest.mark.parametrize("mode", ["NextStep", "SameStep"])
def test_reset_mask_resets_only_the_masked_conversations(mode: str) -> None:
    """``options={"reset_mask": m}`` resets conversation i only where m[i], as
    SyncVectorEnv does: the others keep their observation and episode (an autoreset due
    stays due), the info has only the reset ones."""
    native = gym.make_vec(TURN_TAKING_ID, num_envs=3, vectorization_mode="vector_entry_point",
                          autoreset_mode=mode, **kwargs())
    sync = gym.make_vec(TURN_TAKING_ID, num_envs=3, vectorization_mode="sync",
                        vector_kwargs={"autoreset_mode": gym.vector.AutoresetMode(mode)},
                        **kwargs())
    assert same(native.reset(seed=2), sync.reset(seed=2))
    rng = np.random.default_rng(0)
    masks = {3: ([True, False, False], 40), 9: ([True, False, True], None),
             12: ([False, True, False], [5, 6, 7])}  # 10-step episodes: 9 is an end
    for t in range(16):
        actions = rng.integers(0, 4, 3)
        assert same(native.step(actions), sync.step(actions))
        if t in masks:
            mask, seed = masks[t]
            got = native.reset(seed=seed, options={"reset_mask": np.array(mask)})
            want = sync.reset(seed=seed, options={"reset_mask": np.array(mask)})
            assert same(got, want)
            assert set(got[1]["_partner"].nonzero()[0]) == set(np.flatnonzero(mask))
    options = {"reset_mask": np.array([True, False, True])}
    native.reset(options=options)
    assert "reset_mask" in options  # the caller's dict is left as it was
    for bad, error, message in [
            ([True, False, True], TypeError, "a list"),
            (np.array([1, 0, 1]), TypeError, "dtype int64"),
            (np.array([True, False]), ValueError, r"shape \(2,\)"),
            (np.zeros(3, bool), ValueError, "no True")]:
        with pytest.raises(error, match=r"^options\['reset_mask'\]: " + message
                           + r".*\(allowed: a numpy bool array of shape \(3,\) with a True"):
            native.reset(options={"reset_mask": bad})


def test_same_seed_same_rollouts_and_seed_lists() -> None:
    def run(seed):  # noqa: ANN001, ANN202
        venv = gym.make_vec(TURN_TAKING_ID, num_envs=2, **kwargs())
        out = [venv.reset(seed=seed)]
        out += [venv.step(np.array([1, 0])) for _ in range(12)]
        return out

    assert same(run(4), run(4)) and same(run(4), run([4, 5]))
    assert not same(run(4), run(5))
    venv = gym.make_vec(TURN_TAKING_ID, num_envs=2, **kwargs())
    _, info = venv.reset(seed=[1, 1])
    assert info["partner"][0] == info["partner"][1]


def test_bad_arguments_are_named() -> None:
    # a bool is not a count: max_episode_steps=True cut every episode after one step
    with pytest.raises(ValueError, match=r"^max_episode_steps: True \(allowed: None or an "):
        TurnTakingVectorEnv(num_envs=1, max_episode_steps=True)
    with pytest.raises(ValueError, match="autoreset_mode: 'Sometimes' .*allowed"):
        TurnTakingVectorEnv(num_envs=1, autoreset_mode="Sometimes")
    with pytest.raises(ValueError, match="partner\\[0\\]\\.kind"):
        TurnTakingVectorEnv(num_envs=2, partner={"kind": "robot"})
    venv = TurnTakingVectorEnv(num_envs=2)
    with pytest.raises(ValueError, match="3 seeds for num_envs=2"):
        venv.reset(seed=[1, 2, 3])
    # a bad action leaves every conversation where it was
    venv.reset(seed=0)
    twin = TurnTakingVectorEnv(num_envs=2)
    twin.reset(seed=0)
    with pytest.raises(ValueError, match=r"^actions\[1\]: a: action np.int64\(9\) is not in "
                       r"Discrete\(4\) \(allowed: an integer, 0 = silent"):
        venv.step(np.array([1, 9]))  # which conversation's action is named
    for _ in range(3):
        a, b = venv.step(np.array([1, 1])), twin.step(np.array([1, 1]))
        assert same(a[0], b[0]) and np.array_equal(a[1], b[1])


@pytest.mark.parametrize("mode", ["NextStep", "SameStep"])
def test_a_step_with_a_conversation_never_reset_moves_none(mode: str) -> None:
    """After a first reset masked to some conversations, a step raised in the first one left
    out only after the ones before it had queued their actions: they were a chunk ahead of
    their observations (a rerun of the step played two chunks there)."""
    venv = TurnTakingVectorEnv(num_envs=3, autoreset_mode=mode)
    twin = TurnTakingVectorEnv(num_envs=3, autoreset_mode=mode)
    mask = np.array([True, False, True])
    for env in (venv, twin):
        env.reset(seed=0, options={"reset_mask": mask})
    with pytest.raises(RuntimeError, match=r"^conversation 1: step\(\) after the episode "
                       r"ended \(or before reset\(\)\): call reset\(\) first$"):
        venv.step(np.array([1, 1, 1]))
    for env in (venv, twin):
        env.reset(seed=[None, 1, None], options={"reset_mask": ~mask})
    for _ in range(3):
        a, b = venv.step(np.array([1, 2, 1])), twin.step(np.array([1, 2, 1]))
        assert same(a, b)


def test_one_scenario_per_conversation() -> None:
    from duplexsim.config.link import LinkConfig

    base = kwargs()["scenario"]
    delayed = [dataclasses.replace(base, network=dataclasses.replace(
        base.network, a_to_b=LinkConfig(delay_ms=d), b_to_a=LinkConfig(delay_ms=d)))
        for d in (0.0, 480.0)]
    venv = TurnTakingVectorEnv(num_envs=2, scenario=delayed, max_episode_steps=10)
    venv.reset(seed=0)
    for _ in range(6):
        obs, *_ = venv.step(np.zeros(2, np.int64))
    assert obs["lookahead"][1, 0] > obs["lookahead"][0, 0]  # the 480 ms one hears later
    with pytest.raises(ValueError, match="3 scenarios for num_envs=2"):
        TurnTakingVectorEnv(num_envs=2, scenario=[base] * 3)
    other = dataclasses.replace(base, chunk_ms=200)
    with pytest.raises(ValueError, match=r"scenario\[1\]: its spaces differ"):
        TurnTakingVectorEnv(num_envs=2, scenario=[base, other])


def _info_types(info: dict, prefix: str = "") -> dict[str, type]:
    out: dict[str, type] = {}
    for key, value in info.items():
        if isinstance(value, dict):
            out.update(_info_types(value, f"{prefix}{key}."))
        else:
            out[prefix + key] = type(value)
    return out


def test_every_info_key_has_one_type_in_every_conversation() -> None:
    """The vector env batches each info key into an array of its first conversation's
    dtype (as Gymnasium's ``VectorEnv._add_info`` does): a later conversation giving an
    int where the first gave a float, or a float where it gave an int, would be cast
    silently. Every key has one type, whatever the partner, seed or step."""
    seen: dict[str, set[type]] = {}
    rng = np.random.default_rng(0)
    for seed in range(4):
        env = gym.make(TURN_TAKING_ID, **kwargs())
        infos = [env.reset(seed=seed)[1]]
        done = False
        while not done:
            *_, terminated, truncated, info = env.step(int(rng.integers(0, 4)))
            infos.append(info)
            done = terminated or truncated
        for info in infos:
            for key, kind in _info_types(info).items():
                seen.setdefault(key, set()).add(kind)
    assert {"chunk", "time_ms", "partner", "reward_terms.gap", "events.gap_ms",
            "turntaking.fto_median_ms"} <= seen.keys()
    assert {key: kinds for key, kinds in seen.items() if len(kinds) > 1} == {}
    assert seen["chunk"] == seen["time_ms"] == {int} and seen["partner"] == {str}
    assert all(seen[key] == {float} for key in seen
               if key.split(".")[0] in ("reward_terms", "events", "turntaking"))


def test_native_vector_env_renders_nothing_as_the_single_env_does() -> None:
    """render_mode is None, the only mode: ``render()`` computes nothing and returns None,
    as ``TurnTakingEnv.render`` does (VectorEnv's own raised a bare NotImplementedError)."""
    env = TurnTakingVectorEnv(2, scenario=dataclasses.replace(default_scenario(),
                                                              duration_s=0.32))
    env.reset(seed=0)
    assert env.render_mode is None and env.render() is None
    env.close()
