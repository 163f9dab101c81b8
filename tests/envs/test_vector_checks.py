"""The vector envs' argument and action-batch checks (:mod:`duplexsim.envs.vector_checks`):
one-line errors naming the argument, and a refused batch moves no conversation."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from test_vector import same  # (tests/envs is on the path: rootdir-less import)

from duplexsim.envs.vector import TurnTakingVectorEnv
from duplexsim.envs.world import default_scenario


def test_bad_num_envs_shared_agents_and_measured_compute_are_named() -> None:
    with pytest.raises(ValueError, match="num_envs: 0"):
        TurnTakingVectorEnv(num_envs=0)
    # a bool is not a count: num_envs=True was a bare numpy "an integer is required"
    # TypeError from batch_space
    with pytest.raises(ValueError,
                       match=r"^num_envs: True \(allowed: an int from 1 to 4096\)$"):
        TurnTakingVectorEnv(num_envs=True)
    # an Agent object holds one conversation's state: not shared by several
    from duplexsim.envs.world import build_partner

    s = default_scenario()
    agent = build_partner(s, "b")
    with pytest.raises(ValueError, match=r"^partner: a .* object cannot be shared by num_envs=2"):
        TurnTakingVectorEnv(num_envs=2, scenario=s, partner=agent)
    with pytest.raises(ValueError, match=r"^partner\[1\]: a .* object cannot be shared"):
        TurnTakingVectorEnv(num_envs=2, scenario=s, partner=["scripted", agent])
    TurnTakingVectorEnv(num_envs=1, scenario=s, partner=agent)  # one conversation: fine
    # measured compute: each env's wall time would include the others' forwards
    from duplexsim.config.scenario import ComputeConfig

    measured = dataclasses.replace(s, compute=ComputeConfig(model="measured"))
    with pytest.raises(ValueError, match=r"^scenario\[0\]: compute.model: 'measured' cannot"):
        TurnTakingVectorEnv(num_envs=2, scenario=measured)
    TurnTakingVectorEnv(num_envs=1, scenario=measured)


def test_a_numpy_int_is_a_count_of_conversations() -> None:
    """``num_envs=np.int64(2)`` (a size taken from an array) was refused as not an int; it
    is the count it holds, stored as a Python int. A float or a bool is still no count."""
    from duplexsim.envs.vector_checks import check_num_envs

    venv = TurnTakingVectorEnv(num_envs=np.int64(2))
    assert (venv.num_envs, type(venv.num_envs), len(venv.envs)) == (2, int, 2)
    assert type(check_num_envs(np.int32(16))) is int
    for bad in (2.0, np.float64(2.0), True, np.bool_(True)):
        with pytest.raises(ValueError, match=r"^num_envs: .* \(allowed: an int from 1 to "):
            check_num_envs(bad)


def test_num_envs_past_the_bound_is_one_line_before_any_conversation_is_built() -> None:
    """``gym.make_vec(..., num_envs=10**9)`` built conversations until memory ran out (it
    looked hung); the bound is a sweep's batch bound."""
    import gymnasium as gym

    from duplexsim.envs.vector_checks import MAX_NUM_ENVS, check_num_envs

    check_num_envs(MAX_NUM_ENVS)
    for num_envs in (MAX_NUM_ENVS + 1, 10**9):
        with pytest.raises(ValueError, match=rf"^num_envs: {num_envs} \(allowed: an int from 1 "
                                             rf"to {MAX_NUM_ENVS}\)$"):
            check_num_envs(num_envs)
    for mode in ({}, {"vectorization_mode": "vector_entry_point"}):
        for workers in (1, 2):  # (2: ShardedVectorEnv)
            with pytest.raises(ValueError, match=r"^num_envs: 1000000000 \(allowed"):
                gym.make_vec("duplexsim/TurnTaking-v0", num_envs=10**9, workers=workers, **mode)


def test_an_action_batch_of_the_wrong_length_is_refused() -> None:
    """One action per conversation: 3 actions for 2 conversations used the first two (the
    third silently dropped), 1 raised a bare IndexError after the first had moved."""
    venv = TurnTakingVectorEnv(num_envs=2)
    venv.reset(seed=0)
    for bad in (np.array([1, 2, 3]), [1, 2, 3], np.array([1]), 1, np.array([[1], [2]])):
        with pytest.raises(ValueError, match=r"^actions: shape .*\(allowed: 2 actions of "
                           r"Discrete\(4\), shape \(2,\)\)"):
            venv.step(bad)
    units = TurnTakingVectorEnv(num_envs=2, action_mode="units")
    units.reset(seed=0)
    with pytest.raises(ValueError, match=r"^actions: shape \(2,\) .*shape \(2, 4\)"):
        units.step(np.array([1, 2]))
    twin = TurnTakingVectorEnv(num_envs=2)
    twin.reset(seed=0)  # the refused batches moved nothing
    a, b = venv.step(np.array([1, 0])), twin.step(np.array([1, 0]))
    assert same(a[0], b[0]) and np.array_equal(a[1], b[1])


def test_a_batch_of_the_wrong_shape_is_one_line_for_a_long_chunk() -> None:
    """The 30 unit ids of a 1200 ms chunk's space were printed over two lines."""
    scenario = dataclasses.replace(default_scenario(), chunk_ms=1200, duration_s=4.8)
    venv = TurnTakingVectorEnv(num_envs=2, action_mode="units", scenario=scenario)
    venv.reset(seed=0)
    with pytest.raises(ValueError, match=r"^actions: shape \(2, 4\) \(allowed: 2 actions of "
                                         r"MultiDiscrete\(\[501( 501){29}\]\), shape "
                                         r"\(2, 30\)\)$"):
        venv.step(np.zeros((2, 4), np.int64))
    venv.close()
