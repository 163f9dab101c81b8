"""Baseline turn policies: the corpus reference's actions, the VAP-style rule's behaviour."""

from __future__ import annotations

import dataclasses

import gymnasium as gym
import numpy as np
import pytest

import duplexsim  # noqa: F401  (registers the envs)
from duplexsim.corpora import Segment
from duplexsim.envs.actions import TurnAction
from duplexsim.envs.baselines import (
    ConstantPolicy,
    CorpusReference,
    PeriodicPolicy,
    RulePolicy,
    reference_actions,
)
from duplexsim.envs.registration import TURN_TAKING_ID
from duplexsim.envs.world import default_scenario

S, SP, B, ST = (int(a) for a in TurnAction)


def test_reference_actions_follow_the_channel_chunk_by_chunk() -> None:
    segs = [Segment(1, 0.10, 0.50), Segment(0, 0.0, 2.0),  # the partner's: ignored
            Segment(1, 0.80, 1.00, kind="backchannel"), Segment(1, 1.30, 1.45)]
    # 160 ms chunks from 0: IPU 100-500 ms covers chunk 0 (38%), 1, 2 (100%), 3 (13%);
    # backchannel 800-1000 ms chunk 5 (100%), 6 (25%); IPU 1300-1450 ms chunk 8 (88%)
    assert reference_actions(segs, 1, 0.0, 160, 10).tolist() == [
        ST, SP, SP, ST, ST, B, ST, ST, SP, ST]
    # started 160 ms later, everything moves one chunk earlier
    assert reference_actions(segs, 1, 160.0, 160, 4).tolist() == [SP, SP, ST, ST]
    assert reference_actions(segs, 0, 0.0, 160, 14).tolist() == [SP] * 13 + [ST]  # 12.5 chunks


def run(env: gym.Env, policy, seeds=range(6)) -> dict[str, float]:  # noqa: ANN001
    totals = {"reward": 0.0, "overlap_ms": 0.0, "gap_ms": 0.0, "interruptions": 0.0}
    for seed in seeds:
        obs, _ = env.reset(seed=seed)
        policy.reset(env, np.random.default_rng(seed))
        done = False
        while not done:
            obs, reward, terminated, truncated, info = env.step(policy(obs))
            totals["reward"] += reward
            done = terminated or truncated
        for key in ("overlap_ms", "gap_ms", "interruptions"):
            totals[key] += info["events"][key]
    return totals


@pytest.mark.parametrize("delay_ms", [0.0, 480.0])
def test_rule_listens_yields_and_takes_turns(delay_ms: float) -> None:
    from duplexsim.config.link import LinkConfig

    base = dataclasses.replace(default_scenario(), duration_s=20.0)
    link = LinkConfig(delay_ms=delay_ms)
    s = dataclasses.replace(base, network=dataclasses.replace(base.network, a_to_b=link,
                                                              b_to_a=link))
    env = gym.make(TURN_TAKING_ID, scenario=s, max_episode_steps=s.n_chunks,
                   partner={"kind": "replay", "start_s": "random"})
    rule = run(env, RulePolicy(silence_ms=200))
    speak = run(env, ConstantPolicy(SP))
    silent = run(env, ConstantPolicy(S))
    # it yields; at 480 ms one way each partner onset reaches it half a second late, which
    # costs overlap it cannot avoid (default dialogue: 0.55x always-speak's)
    assert rule["overlap_ms"] < (0.5 if delay_ms == 0 else 0.65) * speak["overlap_ms"]
    assert rule["gap_ms"] < 0.5 * silent["gap_ms"]  # it takes the turn in silences
    assert rule["reward"] > max(speak["reward"], silent["reward"])
    no_yield = run(env, RulePolicy(silence_ms=200, yield_to_partner=False))
    assert no_yield["overlap_ms"] > rule["overlap_ms"]


def test_rule_backchannels_only_while_the_partner_talks() -> None:
    env = gym.make(TURN_TAKING_ID, partner={"kind": "replay", "start_s": "random"})
    rule = RulePolicy(silence_ms=400, backchannel_after_ms=1000)
    good = bad = 0
    for seed in range(3):
        obs, _ = env.reset(seed=seed)
        rule.reset(env, np.random.default_rng(seed))
        done = False
        while not done:
            obs, _, _, truncated, info = env.step(rule(obs))
            done = truncated
        good += info["events"]["backchannels_good"]
        bad += info["events"]["backchannels_bad"]
    assert good >= 3 and bad <= good / 3


def test_periodic_cycle_and_reference_needs_a_replay_pool() -> None:
    p = PeriodicPolicy([SP, SP, ST])
    p.reset(None, np.random.default_rng(0))
    assert [p({}) for _ in range(7)] == [SP, SP, ST, SP, SP, ST, SP]
    assert p.name == "periodic-113"
    env = gym.make(TURN_TAKING_ID)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="not a replay from a partner pool"):
        CorpusReference().reset(env, np.random.default_rng(0))


@pytest.mark.parametrize(("key", "value"), [("silence_ms", float("nan")), ("silence_ms", "200"),
                                            ("silence_ms", -1), ("backchannel_after_ms", None),
                                            ("backchannel_every_ms", float("inf")),
                                            ("silence_ms", True), ("silence_ms", 10**400)])
def test_rule_settings_that_are_no_finite_ms_are_one_line(key: str, value: object) -> None:
    """``silence_ms=nan`` never took the turn and ``backchannel_every_ms=inf`` never
    backchannelled, without a word; a str or None failed in the name's format, and 10**400
    in math.isfinite (an OverflowError traceback)."""
    with pytest.raises(ValueError, match=rf"^{key}: .* \(allowed: a finite number of ms >= 0\)$"):
        RulePolicy(**{key: value})  # type: ignore[arg-type]
    assert RulePolicy(np.int64(240), backchannel_after_ms=np.float64(0)).name == "rule-240ms"
