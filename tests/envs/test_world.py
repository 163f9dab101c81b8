"""duplexsim/envs/world.py: the learner observes, at each step, what its decision is handed."""

from __future__ import annotations

import dataclasses

import gymnasium as gym
import pytest

from duplexsim.config.link import LinkConfig
from duplexsim.config.network import NetworkConfig
from duplexsim.envs.registration import TURN_TAKING_ID
from duplexsim.envs.world import default_scenario


@pytest.mark.parametrize(("delay_ms", "jitter_ms", "loss", "expected"), [
    (0.0, 0.0, 0.0, 1), (160.0, 0.0, 0.0, 2), (240.0, 0.0, 0.0, 3), (320.0, 0.0, 0.0, 3),
    (200.0, 40.0, 0.1, None),
])
def test_the_observed_lookahead_is_the_decisions(delay_ms: float, jitter_ms: float,
                                                 loss: float, expected: int | None) -> None:
    """The observation's ``lookahead`` is the trace's for the learner's own decision at
    every step: partner chunks that arrive by the decision's ms (at it, too: 0 ms, 160 ms
    one way with 160 ms chunks) are in it. It was one chunk stale: the world stopped 1 ms
    short of the decision and the learner only learnt of chunks at its decision, so the
    observation held what the previous decision had been handed (2 at 0 ms, 4 at 240)."""
    base = dataclasses.replace(default_scenario(), duration_s=8.0)
    link = LinkConfig(delay_ms=delay_ms, jitter_ms=jitter_ms, loss=loss)
    s = dataclasses.replace(base, network=NetworkConfig(preset="ideal", a_to_b=link,
                                                        b_to_a=link))
    env = gym.make(TURN_TAKING_ID, scenario=s, max_episode_steps=s.n_chunks)
    obs, _ = env.reset(seed=3)
    world, window = env.unwrapped.world, len(obs["partner_received"])
    observed = {world.chunk: obs}
    done = False
    while not done:
        obs, _, terminated, truncated, _ = env.step(1)
        done = terminated or truncated
        if not done:
            observed[world.chunk] = obs
    recorder = world.session.recorder
    rows = {r["chunk"]: r for r in recorder.decisions if r["agent"] == "a"}
    used = recorder.used_ms["a"]
    for j, o in observed.items():  # the rows the decision had been handed, holes included
        decided = rows[j]["decided_ms"]
        expect = [int(k < 0 or used.get(k, decided + 1) <= decided)
                  for k in range(j - window, j)]
        assert o["partner_received"].tolist() == expect, j
    lookahead = {j: int(o["lookahead"][0]) for j, o in observed.items()}
    if expected is not None:  # without loss: the trace's lookahead, past the first chunks
        assert lookahead == {j: rows[j]["lookahead"] for j in observed}
        assert {v for j, v in lookahead.items() if j >= 5} == {expected}
