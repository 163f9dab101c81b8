"""A partner's silence unit is part of the Agent protocol: inside the env it stays its own.

The partner here speaks unit 3 but misses every deadline after its first chunk (its compute
profile costs more than a chunk), so everything else it plays is its silence: unit 7, in its
own vocabulary, never the default unit 0.
"""

from __future__ import annotations

import dataclasses

import gymnasium as gym
import numpy as np

import duplexsim  # noqa: F401  (registers the envs)
from duplexsim.agents.base import Agent, ChunkReport
from duplexsim.config.scenario import ComputeConfig
from duplexsim.envs.learner import RecordingAgent
from duplexsim.envs.registration import TURN_TAKING_ID
from duplexsim.envs.world import default_scenario

SILENCE = 7


class SlowTalker:
    """Always speaks unit 3, reports 10 generated tokens per chunk; silence unit 7."""

    name = "slow-talker"
    frames_per_chunk = 4
    silence_unit = SILENCE

    def reset(self, seed: int) -> None:
        pass

    def observe_partner(self, chunk: int, units: np.ndarray) -> None:
        pass

    def produce(self, chunk: int) -> ChunkReport:
        return ChunkReport(chunk=chunk, units=np.full(4, 3, np.int64), generated_tokens=10)

    def played(self, chunk: int, units: np.ndarray) -> None:
        pass


def test_silence_unit_is_part_of_the_protocol() -> None:
    assert isinstance(SlowTalker(), Agent)
    no_silence = type("NoSilence", (), {k: v for k, v in vars(SlowTalker).items()
                                        if k != "silence_unit"})
    assert not isinstance(no_silence(), Agent)
    assert RecordingAgent(SlowTalker()).silence_unit == SILENCE  # wrappers pass it on


def test_partner_in_the_env_plays_its_own_silence_unit() -> None:
    # 10 tokens x 100 ms: every partner chunk misses its deadline and is played as silence
    scenario = dataclasses.replace(default_scenario(), duration_s=3.2, compute=ComputeConfig(
        model="profile", decode_ms_per_token=100.0, on_miss="silence"))
    env = gym.make(TURN_TAKING_ID, scenario=scenario, partner=SlowTalker()).unwrapped
    env.reset(seed=0)
    for _ in range(15):
        env.step(0)
    # what the learner heard of its partner; chunk 0 is decided with no deadline before it
    received = {k: u for k, u in env.learner.agent.received.items() if k > 0}
    assert len(received) >= 5
    assert all((units == SILENCE).all() for units in received.values()), received
    played = {k: u for k, u in env.world.partner.played_chunks.items() if k > 0}
    assert played and all((units == SILENCE).all() for units in played.values())
