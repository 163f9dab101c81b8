"""What both vector envs take through
:class:`~duplexsim.envs.conversation_access.ConversationAccess`: each conversation's seed
and ``reset``'s options, refused in one line naming the seed or key."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from test_vector import kwargs, same  # (tests/envs is on the path: rootdir-less import)

import duplexsim  # noqa: F401  (registers the envs)
from duplexsim.envs.registration import TURN_TAKING_ID
from duplexsim.envs.vector import TurnTakingVectorEnv


def test_bad_seeds_are_one_line_naming_the_seed() -> None:
    """A float seed was a bare "'float' object is not iterable" TypeError, a str of two
    digits taken as a list of two one-character seeds, a negative one gymnasium's
    "Seed must be greater or equal to zero" from inside a conversation's reset."""
    venv = TurnTakingVectorEnv(num_envs=2)
    for bad, where in ((1.5, r"seed: a float 1\.5"), ("12", r"seed: a str '12'"),
                       (True, r"seed: a bool True"), (-1, r"seed: -1"),
                       ([1, 2.0], r"seed\[1\]: 2\.0"), ([None, -3], r"seed\[1\]: -3")):
        with pytest.raises(ValueError, match=rf"^{where} \(allowed: None, an int >= 0, or a "
                           r"list of one int >= 0 \(or None\) per env\)$"):
            venv.reset(seed=bad)
    obs, _ = venv.reset(seed=np.array([3, 4]))  # numpy ints are ints
    assert same(obs, venv.reset(seed=[3, 4])[0]) and same(obs, venv.reset(seed=3)[0])
    venv.reset(seed=[None, 7])


@pytest.mark.parametrize("mode", ["native", "sharded"])
def test_an_unknown_reset_option_is_refused_before_any_conversation_resets(mode: str) -> None:
    """``options`` keys other than ``reset_mask`` were passed to every conversation's reset,
    which ignored them: a typo'd option did nothing (review)."""
    extra = {"vectorization_mode": "vector_entry_point"}
    if mode == "sharded":
        extra["workers"] = 2
    env = gym.make_vec(TURN_TAKING_ID, num_envs=2, **extra, **kwargs())
    try:
        with pytest.raises(ValueError, match=r"^options: unknown key 'reset_msk' \(allowed: "
                                             r"'reset_mask'\)$"):
            env.reset(seed=0, options={"reset_msk": np.array([True, False])})
        env.reset(seed=0, options={})  # no keys: fine
    finally:
        env.close()
