"""The envs with clocks that are offset or drift: a full episode on every side, every sign
(the env asks the session when each learner decides, ``Session.decision_ms``)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from duplexsim.config.scenario import Scenario
from duplexsim.envs.registration import DEFAULT_MAX_EPISODE_STEPS
from duplexsim.envs.world import default_scenario


def with_clock(scenario: Scenario, side: str, offset_ms: int = 0, drift_ppm: float = 0.0,
               ) -> Scenario:
    cfg = dataclasses.replace(getattr(scenario, side), clock_offset_ms=offset_ms,
                              clock_drift_ppm=drift_ppm)
    return dataclasses.replace(scenario, **{side: cfg})


CLOCKS = [(-300, 0.0), (-50, 0.0), (50, 0.0), (300, 0.0), (0, 2000.0), (0, -2000.0),
          (300, -2000.0), (-300, 2000.0)]


@pytest.mark.parametrize("learner", ["a", "b"])
@pytest.mark.parametrize("clock_on", ["learner", "partner"])
@pytest.mark.parametrize(("offset_ms", "drift_ppm"), CLOCKS)
def test_full_episode_with_offset_or_drifting_clocks(learner: str, clock_on: str,
                                                     offset_ms: int, drift_ppm: float) -> None:
    from duplexsim.envs.turntaking import TurnTakingEnv

    partner = "b" if learner == "a" else "a"
    scenario = with_clock(default_scenario(), learner if clock_on == "learner" else partner,
                          offset_ms, drift_ppm)
    env = TurnTakingEnv(scenario=scenario, side=learner)
    env.reset(seed=1)
    rng = np.random.default_rng(0)
    steps, truncated, total = 0, False, 0.0
    while not truncated:
        _, reward, _, truncated, info = env.step(int(rng.integers(4)))
        total += reward
        steps += 1
    assert steps == DEFAULT_MAX_EPISODE_STEPS == 188
    assert np.isfinite(total) and info["turntaking"]["speech_share"] > 0
    # every own chunk was asked for in order, once, after its action was queued
    assert env.learner.agent.produced == list(range(188))
    assert len(env.learner.agent.played_chunks) == 188


def test_two_learners_on_different_clocks() -> None:
    from duplexsim.envs.parallel import DuplexParallelEnv

    scenario = with_clock(with_clock(default_scenario(), "a", 50, 2000.0), "b", -300, -2000.0)
    env = DuplexParallelEnv(scenario=scenario)
    env.reset(seed=3)
    steps = 0
    while env.agents:
        env.step({name: int(steps % 4) for name in env.agents})
        steps += 1
    assert steps == 188
    for side in env.sides.values():
        assert side.agent.produced == list(range(188))


@pytest.mark.parametrize("drift_ppm", [-100_000.0, 100_000.0])
def test_a_learner_speaking_on_a_drifting_clock_is_heard_without_gaps(drift_ppm: float,
                                                                      ) -> None:
    """The env scores where the simulator played (``Session.chunk_placement``): a learner
    that speaks every frame on a 10% slow clock used to leave a silent 40 ms frame in every
    other chunk of its own stream; its frames are final once scored (``known``)."""
    from duplexsim.envs.turntaking import TurnTakingEnv

    env = TurnTakingEnv(scenario=with_clock(default_scenario(), "a", 0, drift_ppm),
                        action_mode="units")
    env.reset(seed=0)
    speech = int(np.flatnonzero(env.learner.speech)[0])
    action = np.full(env.action_space.shape, speech, np.int64)
    world, seen = env.world, np.zeros(0, np.int64)
    truncated = False
    while not truncated:
        *_, truncated, _ = env.step(action)
        own, _, _, final = world.scorable("a")
        assert (own.units[:len(seen)] == seen).all()  # what was final stays as it was
        seen = own.units[:final].copy()
    end = world.window_end("a")
    assert (seen[:end] == speech).all() and end == len(seen)


@pytest.mark.parametrize("learner", ["a", "b"])
def test_a_learner_whose_clock_starts_late_is_scored_over_its_own_chunks_only(learner: str,
                                                                               ) -> None:
    """The partner's clock 2 s ahead: the learner's chunk 0 plays 50 frames into the global
    timeline. Its reward, events and summary cover its own 188 chunks (752 frames), as the
    spec says; the 50 frames before it spoke at all used to be scored too (gaps it could
    not fill, and its per-minute rates diluted)."""
    from duplexsim.envs.turntaking import TurnTakingEnv

    partner = "b" if learner == "a" else "a"
    env = TurnTakingEnv(scenario=with_clock(default_scenario(), partner, 2000), side=learner)
    env.reset(seed=0)
    truncated = False
    while not truncated:
        *_, truncated, _ = env.step(1)
    start = int(env.world.session.chunk_placement(learner, 0).frames[0])
    assert start == 50
    assert sum(v.shape[1] for v in env.learner.vad) == 188 * 4 == env.world.window_end(
        learner) - start


def test_a_late_learner_hears_who_holds_the_floor_at_its_chunk_0() -> None:
    """The partner's clock ahead: it spoke alone before the learner's chunk 0 (unscored, as
    the spec says), and still holds the floor there. Speaking into its ongoing speech is
    an interruption (it was none, and the partner's speech counted as a new onset), and
    taking over after it stopped is a floor transfer timed from its offset before chunk 0
    (it was no transfer at all)."""
    from duplexsim.envs.turntaking import TurnTakingEnv

    def first_steps(offset_ms: int) -> tuple[TurnTakingEnv, list[bool], dict, dict]:
        env = TurnTakingEnv(scenario=with_clock(default_scenario(), "a", offset_ms), side="b")
        env.reset(seed=0)
        terms = dict.fromkeys(("fto", "interrupt"), 0.0)
        for _ in range(6):  # speak from chunk 0
            _, _, _, _, info = env.step(1)
            for k in terms:
                terms[k] += info["reward_terms"][k]
        start = env.world.window_start("b")
        units, chunk = env.world.stream("a").frames(0, start)
        return env, env.learner._vad(chunk.tolist(), units.tolist()), terms, info["events"]

    env, before, terms, events = first_steps(2000)
    assert before[-1] and env.learner.vad[0][1, 0]  # the partner speaks across chunk 0
    cfg = env.learner.tracker.config
    assert events["interruptions"] == 1 and terms["interrupt"] == -cfg.interrupt
    assert events["partner_onsets"] == 0  # its speech began before chunk 0
    env, before, terms, events = first_steps(3000)
    silent = before[::-1].index(True)  # frames since it stopped, before chunk 0
    assert silent > 0 and not env.learner.vad[0][1, :4].any()
    onset = int(np.flatnonzero(np.concatenate(env.learner.vad, axis=1)[0])[0])
    assert events["transitions"] == 1
    assert terms["fto"] == pytest.approx(cfg.fto * cfg.fto_score((onset + silent) * 40))


@pytest.mark.parametrize("offset_ms", [2000, 3000])
def test_a_late_learners_event_table_agrees_with_its_running_counts(offset_ms: int) -> None:
    """The end-of-episode table (and ``info["turntaking"]``) sees the partner's speech
    before the learner's chunk 0 as the reward tracker does (the spec's Rewards): learner b
    speaks over chunks 0-9 (1.6 s, one IPU) with the partner's clock ahead. At +2 s it
    starts into the partner's ongoing speech: the table had that as the partner's onset
    at 0 and its intrusion (overlap speaker 1, no transition), the tracker as the learner's
    interruption and an overlapping takeover (FTO -720 ms). At +3 s it takes over 280 ms
    after the partner's offset before chunk 0: the table had no transition."""
    from duplexsim.envs.turntaking import TurnTakingEnv

    scenario = dataclasses.replace(with_clock(default_scenario(), "a", offset_ms),
                                   duration_s=5.0)
    env = TurnTakingEnv(scenario=scenario, side="b")
    env.reset(seed=0)
    truncated, step, fto_reward = False, 0, 0.0
    while not truncated:
        *_, truncated, info = env.step(1 if step < 10 else 0)
        fto_reward += info["reward_terms"]["fto"]
        step += 1
    counts, table = info["events"], env.events()
    start = env.world.window_start("b")
    units, chunk = env.world.stream("a").frames(0, start)
    before = env.learner._vad(chunk.tolist(), units.tolist())
    assert before[-1] == (offset_ms == 2000)  # +2 s: the partner speaks across chunk 0
    learner, partner = table[table.speaker == 0], table[table.speaker == 1]
    speech = learner[learner.kind == "ipu"]
    assert list(speech.start_ms) == [0.0] and list(speech.end_ms) == [1600.0]
    takeovers = learner.fto_ms.dropna()
    assert len(takeovers) == counts["transitions"] == 1
    assert list(takeovers) == [{2000: -720.0, 3000: 280.0}[offset_ms]]
    cfg = env.learner.tracker.config
    assert fto_reward == pytest.approx(cfg.fto * cfg.fto_score(takeovers.iloc[0]))
    assert info["turntaking"]["learner_fto_median_ms"] == takeovers.iloc[0]
    # the learner's intrusions into the partner's speech are its interruptions
    assert (learner.kind == "overlap").sum() == counts["interruptions"] == (offset_ms == 2000)
    # an IPU cut at 0 began before chunk 0: no onset there
    onsets = partner[partner.kind.isin(["ipu", "backchannel"]) & (partner.start_ms > 0)]
    assert len(onsets) == counts["partner_onsets"] == 1
    assert len(speech) == counts["learner_onsets"]


@pytest.mark.parametrize("offset_ms", [2000, 3000])
def test_a_late_learners_rows_across_chunk_0_are_cut_and_its_fto_is_whole(offset_ms: int,
                                                                           ) -> None:
    """The spec's Rewards: rows across the learner's chunk 0 count their part from 0, FTOs
    their whole value. +2 s: the partner's IPU in progress at chunk 0 (1960 ms, 1240 of them
    before 0) is a 720 ms row from 0, and ipu_median_ms counts that. +3 s: the learner takes
    over at chunk 0, 280 ms after the partner's offset before it: the transition's FTO is
    280 ms (learner_fto_median_ms), but its silence lies before 0, so its gap row is
    zero-length and gap_median_ms has no gap."""
    from duplexsim.envs.turntaking import TurnTakingEnv
    from duplexsim.metrics.turntaking import detect_events

    scenario = dataclasses.replace(with_clock(default_scenario(), "a", offset_ms),
                                   duration_s=5.0)
    env = TurnTakingEnv(scenario=scenario, side="b")
    env.reset(seed=0)
    truncated, step = False, 0
    while not truncated:
        *_, truncated, info = env.step(1 if step < 10 else 0)
        step += 1
    before, summary = env.learner.before, info["turntaking"]
    vad = np.concatenate(env.learner.vad, axis=1)
    whole = detect_events(np.concatenate(  # uncut: the context's frames are the table's
        [np.array([[False] * len(before), before]), vad], axis=1))
    whole.start_ms -= 40 * len(before)
    whole.end_ms -= 40 * len(before)
    table = env.events()
    ipu = (table.speaker == 1) & (table.kind == "ipu")
    uncut = whole[(whole.speaker == 1) & (whole.kind == "ipu") & (whole.end_ms > 0)]
    if offset_ms == 2000:
        assert (uncut.start_ms.iloc[0], uncut.end_ms.iloc[0]) == (-1240.0, 720.0)
        assert (table[ipu].start_ms.iloc[0], table[ipu].end_ms.iloc[0]) == (0.0, 720.0)
        assert summary["ipu_median_ms"] == np.median(table[table.kind == "ipu"].duration_ms)
        assert 720.0 in set(table[table.kind == "ipu"].duration_ms)
    else:
        assert uncut.start_ms.iloc[0] > 0  # no partner IPU across 0
        gap = whole[whole.fto_ms.notna()].iloc[0]
        assert (gap.kind, gap.start_ms, gap.end_ms, gap.fto_ms) == ("gap", -280.0, 0.0, 280.0)
        takeover = table[table.fto_ms.notna()].iloc[0]
        assert (takeover.kind, takeover.start_ms, takeover.end_ms, takeover.fto_ms) == (
            "gap", 0.0, 0.0, 280.0)
        assert summary["learner_fto_median_ms"] == 280.0 and np.isnan(summary["gap_median_ms"])
