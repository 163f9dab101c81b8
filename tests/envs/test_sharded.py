"""The vector env split over processes (``workers=2``): byte for byte the rollouts of the
one-process vector env, its attributes and methods reachable, errors named by shard."""

from __future__ import annotations

import dataclasses
import os
import signal

import gymnasium as gym
import numpy as np
import pytest
from test_vector import KEYS, kwargs, same  # (tests/envs is on the path: rootdir-less import)

import duplexsim  # noqa: F401  (registers the envs)
from duplexsim.envs.registration import TURN_TAKING_ID
from duplexsim.envs.sharded import ShardedVectorEnv, split
from duplexsim.envs.vector import TurnTakingVectorEnv, make_vector_env
from duplexsim.envs.world import default_scenario


def make(num_envs: int, workers: int, **extra):  # noqa: ANN003, ANN201
    return gym.make_vec(TURN_TAKING_ID, num_envs=num_envs, workers=workers,
                        vectorization_mode="vector_entry_point", **extra)


def test_split_is_contiguous_and_even() -> None:
    assert split(5, 2) == [range(0, 3), range(3, 5)]
    assert split(16, 3) == [range(0, 6), range(6, 11), range(11, 16)]
    assert split(2, 2) == [range(0, 1), range(1, 2)]


def test_a_numpy_int_counts_workers() -> None:
    """``workers=np.int64(1)`` went to the sharded env and was refused ("allowed: an int
    2..num_envs"), ``np.int64(2)`` too: a count from NumPy counts processes as an int does."""
    one = make(2, np.int64(1), **kwargs())
    sharded = make(2, np.int64(2), **kwargs())
    try:
        assert isinstance(one.unwrapped, TurnTakingVectorEnv)
        assert isinstance(sharded.unwrapped, ShardedVectorEnv)
        assert same(sharded.reset(seed=5), one.reset(seed=5))
    finally:
        one.close()
        sharded.close()


@pytest.mark.parametrize("mode", ["NextStep", "SameStep"])
def test_sharded_equals_one_process(mode: str) -> None:
    """Five conversations over two processes (3 here, 2 in a worker), partners drawn from a
    pool at every reset, three episodes with autoresets: every array and info the same."""
    sharded = make(5, 2, autoreset_mode=mode, **kwargs())
    one = make(5, 1, autoreset_mode=mode, **kwargs())
    try:
        assert isinstance(sharded.unwrapped, ShardedVectorEnv)
        assert isinstance(one.unwrapped, TurnTakingVectorEnv)
        assert sharded.observation_space == one.observation_space
        assert sharded.action_space == one.action_space
        assert sharded.metadata["autoreset_mode"] == one.metadata["autoreset_mode"]
        assert same(sharded.reset(seed=11), one.reset(seed=11))
        rng = np.random.default_rng(0)
        ends = 0
        for _ in range(30):
            actions = rng.integers(0, 4, 5)
            got, want = sharded.step(actions), one.step(actions)
            assert same(got, want)
            ends += int(got[3].sum())
        assert ends >= 10
        assert sharded.unwrapped.get_attr("partner_info") == one.unwrapped.get_attr(
            "partner_info")
        for a, b in zip(sharded.unwrapped.call("events"), one.unwrapped.call("events"),
                        strict=True):
            assert a.equals(b)
        assert same(sharded.reset(seed=[3, 1, 4, 1, 5]), one.reset(seed=[3, 1, 4, 1, 5]))
        assert same(sharded.reset(), one.reset())  # on from each conversation's own rng
    finally:
        sharded.close()


def test_reset_mask_resets_only_the_masked_conversations_in_their_shards() -> None:
    """``options={"reset_mask": m}``: each shard resets its masked conversations (a shard
    with none is not reset at all), as the one-process env does."""
    sharded, one = make(5, 2, **kwargs()), make(5, 1, **kwargs())
    try:
        assert same(sharded.reset(seed=1), one.reset(seed=1))
        rng = np.random.default_rng(0)
        masks = {2: [False, True, False, False, False], 5: [False, False, False, True, False],
                 9: [True, False, False, False, True]}  # shard 0 only, the worker only, both
        for t in range(14):
            actions = rng.integers(0, 4, 5)
            assert same(sharded.step(actions), one.step(actions))
            if t in masks:
                options = {"reset_mask": np.array(masks[t])}
                got, want = sharded.reset(seed=t, options=options), one.reset(seed=t,
                                                                          options=options)
                assert same(got, want)
        with pytest.raises(ValueError, match=r"^options\['reset_mask'\]: shape \(3,\)"):
            sharded.reset(options={"reset_mask": np.ones(3, bool)})
    finally:
        sharded.close()


def test_conversations_that_end_apart_merge_like_one_process() -> None:
    """Shards whose infos have different keys (an episode summary only where a conversation
    ended) merge as Gymnasium's vector envs merge them: absent = empty, mask False."""
    base = default_scenario()
    scenarios = [dataclasses.replace(base, duration_s=d) for d in (0.8, 0.8, 1.6, 1.6)]
    args = {"scenario": scenarios, "max_episode_steps": scenarios[-1].n_chunks}
    sharded, one = make(4, 2, **args), make(4, 1, **args)
    try:
        assert same(sharded.reset(seed=0), one.reset(seed=0))
        keysets = set()
        for _ in range(2 * scenarios[-1].n_chunks):
            got, want = sharded.step(np.array([1, 2, 0, 1])), one.step(np.array([1, 2, 0, 1]))
            assert same(got, want)
            keysets.add(tuple(sorted(got[4])))
        assert len(keysets) > 1  # the merge of differing keys was exercised
    finally:
        sharded.close()


def test_a_partner_pool_object_is_copied_into_every_shard() -> None:
    """A PartnerPool object of specs reaches each worker (pickled) and each conversation
    draws from its own copy: the rollouts of the one-process env given the same pool (it
    was refused: "a PartnerPool object cannot be shared by num_envs=4")."""
    from duplexsim.envs.partners import parse_pool

    args = kwargs()
    pool = parse_pool(args.pop("partner"), args["scenario"], "b")
    sharded, one = make(4, 2, partner=pool, **args), make(4, 1, partner=pool, **args)
    try:
        assert same(sharded.reset(seed=5), one.reset(seed=5))
        rng = np.random.default_rng(3)
        for _ in range(20):
            actions = rng.integers(0, 4, 4)
            assert same(sharded.step(actions), one.step(actions))
        assert sharded.unwrapped.get_attr("partner_info") == one.unwrapped.get_attr(
            "partner_info")
    finally:
        sharded.close()


def test_syncllm_partners_batch_in_each_process_with_the_same_rollouts(tiny_agents) -> None:
    s = dataclasses.replace(default_scenario(), duration_s=3.2)
    pool = [{"kind": "syncllm", "agents": [str(a) for a in tiny_agents]}]
    args = {"scenario": s, "max_episode_steps": s.n_chunks, "partner": pool}
    sharded, one = make(4, 2, **args), make(4, 1, **args)
    try:
        assert same(sharded.reset(seed=3), one.reset(seed=3))
        rng = np.random.default_rng(1)
        for _ in range(25):  # past one episode end (20 steps): autoreset draws again
            actions = rng.integers(0, 4, 4)
            assert same(sharded.step(actions), one.step(actions))
    finally:
        sharded.close()


def test_sb3_adapter_on_the_sharded_env() -> None:
    from duplexsim.envs.sb3 import SB3VecEnv

    ours = SB3VecEnv(make(3, 2, autoreset_mode="SameStep", **kwargs()), keys=KEYS)
    theirs = SB3VecEnv(make(3, 1, autoreset_mode="SameStep", **kwargs()), keys=KEYS)
    try:
        ours.seed(7)
        theirs.seed(7)
        assert np.array_equal(ours.reset(), theirs.reset())
        assert ours.get_attr("render_mode") == [None, None, None]
        rng = np.random.default_rng(1)
        for _ in range(25):
            actions = rng.integers(0, 4, 3)
            (o1, r1, d1, i1), (o2, r2, d2, i2) = ours.step(actions), theirs.step(actions)
            assert np.array_equal(o1, o2) and np.array_equal(r1, r2) and np.array_equal(d1, d2)
            for a, b in zip(i1, i2, strict=True):
                assert same(a, b)
        labels = ours.get_attr("partner_info", indices=[2, 0])
        assert [x["label"] for x in labels] == [x["label"] for x in theirs.get_attr(
            "partner_info", indices=[2, 0])]
        ours.set_attr("marker", 5, indices=[1])
        assert ours.env_method("__getattribute__", "marker", indices=[1]) == [5]
        assert not hasattr(theirs.inner.envs[0], "marker")
    finally:
        ours.close()


def test_bad_arguments_and_actions_are_named() -> None:
    with pytest.raises(ValueError, match=r"^workers: 3 for num_envs=2 \(allowed: an int "):
        make(2, 3)
    with pytest.raises(ValueError, match="^workers: 1 for num_envs=2"):
        ShardedVectorEnv(num_envs=2, workers=1)
    with pytest.raises(ValueError, match="^workers: True"):
        ShardedVectorEnv(num_envs=2, workers=True)
    with pytest.raises(ValueError,
                       match=r"^num_envs: True \(allowed: an int from 1 to 4096\)$"):
        ShardedVectorEnv(num_envs=True, workers=2)  # was "workers: 2 for num_envs=True"
    with pytest.raises(ValueError, match="3 scenarios for num_envs=2"):
        make(2, 2, scenario=[default_scenario()] * 3)
    # an error in a worker's construction: its type, the shard and the conversations named
    with pytest.raises(ValueError, match=r"^shard 1 \(conversations 1\.\.1, local indices "
                                         r"from 0, a worker process\): .*chunk_ms: -5"):
        make(2, 2, scenario=[default_scenario(), {"chunk_ms": -5}])
    with pytest.raises(ValueError, match=r"^shard 0 \(conversations 0\.\.0, this process\): "
                                         r"partner\[1\]\.kind: 'robot'"):
        make(2, 2, partner=["scripted", {"kind": "robot"}])
    venv = make(4, 2, **kwargs())
    twin = make(4, 1, **kwargs())
    try:
        venv.reset(seed=0)
        twin.reset(seed=0)
        with pytest.raises(ValueError, match=r"^actions\[3\]: .* is not in Discrete\(4\)"):
            venv.step(np.array([1, 1, 1, 9]))
        with pytest.raises(ValueError, match=r"^actions: shape \(3,\)"):
            venv.step(np.array([1, 1, 1]))
        with pytest.raises(ValueError, match=r"^actions\[0\]"):
            venv.step(np.array([1.0, 1.0, 1.0, 1.0]))
        for _ in range(3):  # nothing moved: the same as a twin that never saw those
            assert same(venv.step(np.array([1, 1, 1, 1])), twin.step(np.array([1, 1, 1, 1])))
        with pytest.raises(ValueError, match=r"^indices: 4 \(allowed: 0\.\.3\)"):
            venv.unwrapped.apply([4], "get", "partner_info")
        with pytest.raises(AttributeError, match=r"^shard 0 \(conversations 0\.\.1, this "
                                                 r"process\): .*'nope'"):
            venv.unwrapped.get_attr("nope")
        with pytest.raises(AttributeError, match=r"^shard 1 \(conversations 2\.\.3.*'nope'"):
            venv.unwrapped.apply([3], "get", "nope")
        with pytest.raises(Exception, match=r"^shard 1 \(conversations 2\.\.3.*pickle"):
            venv.unwrapped.apply([0, 3], "set", "marker", lambda: 1)  # shard 1 cannot get it
        assert not any(hasattr(e, "marker") for e in venv.unwrapped._handles[0].env.envs)
        assert same(venv.step(np.array([0, 0, 0, 0])), twin.step(np.array([0, 0, 0, 0])))
    finally:
        venv.close()
    with pytest.raises(RuntimeError, match="closed"):
        venv.unwrapped.step(np.array([1, 1, 1, 1]))


def test_a_worker_that_dies_is_said_to_have_died() -> None:
    venv = make(2, 2).unwrapped
    venv.reset(seed=0)
    worker = venv._handles[1].proc
    os.kill(worker.pid, signal.SIGKILL)
    worker.join()
    with pytest.raises(RuntimeError, match=r"^shard 1 .* died \(exit code -9\); the vector "
                                           r"env is closed"):
        venv.step(np.array([1, 1]))
    with pytest.raises(RuntimeError, match="closed"):
        venv.step(np.array([1, 1]))
    # shard 0's conversations (in this process) were left running: their sessions held
    # until a garbage collection, and close() found the env already closed
    assert all(env.world.session.closed for env in venv._handles[0].env.envs)
    venv.close()


def test_an_interrupted_step_closes_the_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C between sending the workers their actions and reading their answers leaves
    answers in the pipes: the env is closed, not left to read the wrong ones later."""
    venv = make(2, 2).unwrapped
    venv.reset(seed=0)

    def interrupted() -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(venv._handles[0], "result", interrupted)
    with pytest.raises(KeyboardInterrupt):
        venv.step(np.array([1, 1]))
    with pytest.raises(RuntimeError, match="closed"):
        venv.step(np.array([1, 1]))
    assert not venv._handles[1].proc.is_alive()
    assert all(env.world.session.closed for env in venv._handles[0].env.envs)
    venv.close()


def test_a_step_with_a_conversation_never_reset_moves_no_shard() -> None:
    """After a first reset masked to shard 0's conversations, a step raised in shard 1
    after shard 0 had stepped: its conversations a chunk ahead of the one-process env's."""
    venv, twin = make(4, 2), make(4, 1)
    try:
        mask = np.array([True, True, False, True])
        for env in (venv, twin):
            env.reset(seed=0, options={"reset_mask": mask})
            with pytest.raises(RuntimeError, match=r"^conversation 2: step\(\) after the "
                               r"episode ended \(or before reset\(\)\): call reset\(\) first$"):
                env.step(np.array([1, 1, 1, 1]))
            env.reset(seed=[None, None, 3, None], options={"reset_mask": ~mask})
        for _ in range(3):
            assert same(venv.step(np.array([1, 2, 1, 0])), twin.step(np.array([1, 2, 1, 0])))
    finally:
        venv.close()


def test_make_vector_env_keeps_one_process_for_one_worker() -> None:
    assert isinstance(make_vector_env(2), TurnTakingVectorEnv)
    with pytest.raises(ValueError, match="^workers: True for num_envs=2"):
        make_vector_env(2, workers=True)  # not taken for 1
    with pytest.raises(ValueError, match="^workers: 0 for num_envs=2"):
        make_vector_env(2, workers=0)


def test_a_step_that_fails_in_one_shard_closes_the_env() -> None:
    """A step that raised in shard 1 left the env open with shard 0 a chunk ahead: every
    later step mixed conversations of different chunks. Now it is closed, its workers
    ended, the error naming the shard on one line."""
    venv = make(4, 2).unwrapped
    venv.reset(seed=0)
    venv.apply([3], "set", "learner", None)  # conversation 3 (shard 1) cannot step
    with pytest.raises(AttributeError, match=r"^shard 1 \(conversations 2\.\.3, local indices "
                       r"from 0, a worker process\): .*; the vector env is closed \(reset\(\) "
                       r"starts it anew; or make a new one\)$") as e:
        venv.step(np.array([1, 1, 1, 1]))
    assert "\n" not in str(e.value)
    assert not venv._handles[1].proc.is_alive()
    assert all(env.world.session.closed for env in venv._handles[0].env.envs)
    # refused as closed before any shard is asked (not a dead worker's error)
    with pytest.raises(RuntimeError, match=r"^the vector env is closed \(reset\(\) starts it "
                       r"anew; or make a new one\)$"):
        venv.step(np.array([1, 1, 1, 1]))
    venv.close()


def test_a_reset_after_close_starts_the_shards_anew() -> None:
    """After close() every reset raised "the vector env is closed (make a new one)", where
    the one-process env resets after its close. Now a reset with seeds starts the shards
    anew: the rollouts of a fresh env under the same seeds (and of the one-process env
    after its close), autoresets included; closing twice is nothing."""
    venv, fresh, one = make(3, 2, **kwargs()), make(3, 2, **kwargs()), make(3, 1, **kwargs())
    try:
        rng = np.random.default_rng(0)
        for env in (venv, one):
            env.reset(seed=4)
            for _ in range(5):
                env.step(rng.integers(0, 4, 3))
            env.close()
        venv.close()  # again: nothing
        workers = [h.proc for h in venv.unwrapped._handles[1:]]
        assert workers and not any(w.is_alive() for w in workers)
        with pytest.raises(RuntimeError, match=r"^the vector env is closed \(reset\(\) starts"):
            venv.step(np.array([1, 1, 1]))
        first = venv.reset(seed=[9, 2, 6])
        assert same(first, fresh.reset(seed=[9, 2, 6]))
        assert same(first, one.reset(seed=[9, 2, 6]))
        ends = 0
        for _ in range(14):
            actions = rng.integers(0, 4, 3)
            got = venv.step(actions)
            assert same(got, fresh.step(actions))
            assert same(got, one.step(actions))
            ends += int(got[3].sum())
        assert ends >= 3
        assert venv.unwrapped.get_attr("partner_info") == fresh.unwrapped.get_attr(
            "partner_info")
        venv.close()
        assert not any(h.proc.is_alive() for h in venv.unwrapped._handles[1:])
        venv.close()
    finally:
        for env in (venv, fresh, one):
            env.close()


def test_a_reset_after_close_that_a_fresh_env_would_not_match_is_refused() -> None:
    """The shards started anew have none of the closed ones' random states or set_attr
    changes: a reset after close() that would need them is refused, on one line, before any
    shard starts (the one-process env would continue from them)."""
    venv = make(3, 2, **kwargs())
    venv.reset(seed=0)
    venv.unwrapped.set_attr("marker", 1)
    venv.close()
    refusals = [
        ({}, ValueError, r"^seed: None after close\(\) \(allowed: an int >= 0, or a list of one "
                         r"int >= 0 per env: a reset after close\(\) starts the shards anew, "
                         r"without the conversations' random states\)$"),
        ({"seed": [1, None, 2]}, ValueError, r"^seed\[1\]: None after close\(\) \(allowed: "),
        ({"seed": 1, "options": {"reset_mask": np.array([True, False, True])}}, ValueError,
         r"^options\['reset_mask'\]: after close\(\) \(allowed: no mask: a reset after "
         r"close\(\) starts the shards anew, every conversation\)$"),
        ({"seed": 1}, RuntimeError, r"^reset\(\) after close\(\): set_attr changed the "
                                    r"conversations, .*\(allowed: a new env\)$")]
    for reset_kwargs, error, message in refusals:
        with pytest.raises(error, match=message) as e:
            venv.reset(**reset_kwargs)
        assert "\n" not in str(e.value)
        assert venv.unwrapped.closed
        assert not any(h.proc.is_alive() for h in venv.unwrapped._handles[1:])
