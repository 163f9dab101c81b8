"""Reward terms on hand-made timelines: each term fires where a person would expect."""

from __future__ import annotations

from collections.abc import Collection

import numpy as np
import pytest

from duplexsim.config.loader import FieldError
from duplexsim.config.reward import RewardConfig
from duplexsim.envs.rewards import RewardTracker

F = 4  # frames per chunk (160 ms)


def run(own: str, partner: str, bc: Collection[int] = (), config: RewardConfig | None = None
        ) -> tuple[float, RewardTracker]:
    """Score two '1'/'0' frame strings chunk by chunk; ``bc``: the chunks (indices) played
    as backchannel (a string of them, ``str(k) in bc``, also matched chunks 1 and 9 in
    "19")."""
    tracker = RewardTracker(config or RewardConfig())
    o = np.array([c == "1" for c in own])
    p = np.array([c == "1" for c in partner])
    total = 0.0
    for k in range(len(o) // F):
        r, _ = tracker.add_chunk(o[k * F:(k + 1) * F], p[k * F:(k + 1) * F], k in bc)
        total += r
    return total, tracker


def test_overlap_costs_per_second() -> None:
    total, t = run("1" * 8, "1" * 8)
    assert t.counts["overlap_ms"] == 320
    assert total == pytest.approx(-0.32)


def test_short_gaps_are_free_long_gaps_cost() -> None:
    # partner speaks, 400 ms silence (free), then learner
    free, t = run("0" * 16 + "1" * 8, "1" * 6 + "0" * 18)
    assert t.counts["gap_ms"] == 0
    long_gap, t2 = run("0" * 24 + "1" * 4, "1" * 4 + "0" * 24)
    assert t2.counts["gap_ms"] == (20 - 10) * 40
    assert long_gap < free


def test_fto_rewards_typical_offsets_over_outliers() -> None:
    config = RewardConfig(gap_per_s=0.0)
    typical, t = run("0" * 12 + "1" * 4, "1" * 8 + "0" * 8, config=config)  # FTO 160 ms
    assert t.counts["transitions"] == 1
    assert typical == pytest.approx(0.5 * config.fto_score(160))
    late, _ = run("0" * 60 + "1" * 4, "1" * 8 + "0" * 56, config=config)  # FTO 2080 ms
    assert late < 0 < typical


def test_a_start_on_the_partners_last_frame_has_fto_0() -> None:
    """The learner starts in the frame the partner stops: FTO 0, as ``detect_events`` says.
    It was scored against the partner's previous offset (a first turn: the -8 floor)."""
    from duplexsim.metrics.turntaking import detect_events

    config = RewardConfig(gap_per_s=0.0)
    own, partner = "0" * 8 + "1" * 8, "1" * 8 + "0" * 8
    first, t = run(own, partner, config=config)
    assert t.counts["transitions"] == 1
    assert first == pytest.approx(config.fto * config.fto_score(0))
    later, _ = run("0" * 20 + "1" * 8, "1" * 8 + "0" * 4 + "1" * 8 + "0" * 8, config=config)
    assert later == pytest.approx(config.fto * config.fto_score(0))
    events = detect_events(np.array([[c == "1" for c in partner], [c == "1" for c in own]]))
    assert events["fto_ms"].dropna().tolist() == [0]


def test_overlapping_takeover_gets_negative_fto_and_interrupt() -> None:
    config = RewardConfig(overlap_per_s=0.0)
    total, t = run("0" * 4 + "1" * 12, "1" * 8 + "0" * 8, config=config)  # starts 160 ms early
    assert t.counts["interruptions"] == 1
    assert t.counts["transitions"] == 1
    assert total == pytest.approx(-0.5 + 0.5 * config.fto_score(-160))


def test_backchannel_placement() -> None:
    good, t = run("0" * 4 + "11" + "00" + "0" * 4, "1" * 12, bc={1})
    assert t.counts["backchannels_good"] == 1 and t.counts["overlap_ms"] == 0
    assert good == pytest.approx(0.2)
    bad, t2 = run("0" * 40 + "1100", "1" * 4 + "0" * 40, bc={10}, config=RewardConfig(gap_per_s=0))
    assert t2.counts["backchannels_bad"] == 1 and bad == pytest.approx(-0.2)


def test_state_carries_across_chunk_borders_and_resets() -> None:
    _, t = run("0" * 8 + "1" * 8, "1" * 6 + "0" * 10)
    assert t.counts["transitions"] == 1 and t.counts["learner_onsets"] == 1
    t.reset()
    assert all(v == 0 for v in t.counts.values())


def test_config_errors_name_the_field() -> None:
    with pytest.raises(FieldError, match="fto_sd_ms"):
        RewardConfig(fto_sd_ms=0.0)
    with pytest.raises(FieldError, match="overlap_per_s"):
        RewardConfig(overlap_per_s=-1.0)


def test_backchannels_are_not_a_loophole() -> None:
    # back-to-back backchannels while the partner talks: only the first is well placed
    spam, t = run("0000" + "1100" * 3 + "0000", "1" * 20, bc={1, 2, 3})
    assert t.counts["backchannels_good"] == 1 and t.counts["backchannels_bad"] == 2
    assert t.counts["overlap_ms"] == 4 * 40  # the misplaced ones overlap like speech
    assert spam == pytest.approx(0.2 - 2 * 0.2 - 0.16)
    # speech straight after a backchannel is an interrupting start and overlaps
    _, t2 = run("0000" + "1" * 12, "1" * 16, bc={1})
    assert t2.counts["backchannels_good"] == 1
    assert t2.counts["interruptions"] == 1 and t2.counts["overlap_ms"] == 8 * 40
    # a backchannel in dead air is misplaced and does not fill the gap
    _, t3 = run("0" * 40 + "1100", "1" * 4 + "0" * 40, bc={10})
    assert t3.counts["backchannels_bad"] == 1 and t3.counts["gap_ms"] == (40 - 10) * 40


def test_fto_score_is_the_log_likelihood_ratio_to_two_sd_by_hand() -> None:
    """2 - z**2 / 2 under N(180, 450): 2 at the mean, 1.5 one sd out, 0 two sd out, floored
    at -8 (z = 10 would give -48). A transition of FTO 180 + 450 = 630 ms is not on the
    frame grid, so the tracker is checked with mean 160, sd 400: a 560 ms FTO (z = 1) gives
    0.5 * 1.5 (mutations dropping the 1/2 or the floor passed every test)."""
    config = RewardConfig()
    assert config.fto_score(180) == pytest.approx(2.0)
    assert config.fto_score(180 - 450) == pytest.approx(1.5)
    assert config.fto_score(180 + 900) == pytest.approx(0.0)
    assert config.fto_score(180 + 4500) == pytest.approx(-8.0)
    grid = RewardConfig(gap_per_s=0.0, fto_mean_ms=160.0, fto_sd_ms=400.0)
    total, t = run("0" * 18 + "1" * 6, "1" * 4 + "0" * 20, set(), grid)  # 14 frames: 560 ms
    assert t.counts["transitions"] == 1 and total == pytest.approx(0.5 * 1.5)


def test_a_backchannel_960_ms_after_the_partners_speech_is_well_placed() -> None:
    """bc_context_ms = 1000: the partner's last frame is frame 3, the backchannel starts at
    frame 28 (24 silent frames, 960 ms): well placed (+0.2); at frame 34 (1200 ms) misplaced
    (a mutation making the context bound strict, 920 ms, passed every test)."""
    config = RewardConfig(gap_per_s=0.0)
    partner = "1" * 4 + "0" * 36
    good, t = run("0" * 28 + "1100" + "0" * 8, partner, {7}, config)
    assert t.counts["backchannels_good"] == 1 and good == pytest.approx(0.2)
    bad, t = run("0" * 34 + "11" + "0" * 4, partner, {8}, config)
    assert t.counts["backchannels_bad"] == 1 and bad == pytest.approx(-0.2)
    # the bound is the metric's (detect_events): 25 silent frames, 1000 ms, still count; 26
    # do not (the reward stopped at 960 ms, one frame before the metric)
    edge, t = run("0" * 29 + "110" + "0" * 8, partner, {7}, config)
    assert t.counts["backchannels_good"] == 1 and edge == pytest.approx(0.2)
    past, t = run("0" * 30 + "11" + "0" * 8, partner, {7}, config)
    assert t.counts["backchannels_bad"] == 1 and past == pytest.approx(-0.2)


def test_backchannels_exactly_bc_min_interval_apart_are_both_well_placed() -> None:
    """bc_min_interval_ms = 3000 is 75 frames: onsets at frames 4 and 79 are both well
    placed (+0.4); 74 frames apart (2960 ms) the second is too frequent (0.2 - 0.2, and
    its double talk costs 2 frames of overlap); a mutation making the bound strict
    passed every test."""
    config = RewardConfig()
    partner = "1" * 88
    both, t = run("0" * 4 + "1100" + "0" * 68 + "0001" + "1" + "0" * 7, partner,
                     {1, 19, 20}, config)
    assert t.counts["backchannels_good"] == 2 and both == pytest.approx(0.4)
    close, t = run("0" * 4 + "1100" + "0" * 68 + "0011" + "0" * 8, partner, {1, 19}, config)
    assert t.counts["backchannels_bad"] == 1
    assert close == pytest.approx(0.2 - 0.2 - 2 * 0.040)


def test_a_backchannel_while_the_learner_holds_the_floor_is_misplaced() -> None:
    """The partner speaks (frames 0-3), the learner takes the floor (4-11), then plays a
    backchannel at frame 16: the partner spoke within 1 s, but the learner was the last
    sole speaker, so nobody is being backchannelled (a mutation dropping the last-sole
    check passed every test)."""
    config = RewardConfig(gap_per_s=0.0, fto=0.0)
    _, t = run("0" * 4 + "1" * 8 + "0" * 4 + "1100" + "0" * 4, "1" * 4 + "0" * 20, {4},
                  config)
    assert t.counts["backchannels_bad"] == 1 and t.counts["backchannels_good"] == 0


def test_speech_inside_the_partners_turn_that_ends_with_it_is_no_takeover() -> None:
    """The learner starts 160 ms into the partner's speech and both stop on the same
    frame: the learner never speaks alone, so there is no floor transition and no FTO
    (detect_events agrees), only the interruption (a mutation scoring the pending onset
    when the partner stops, learner speaking or not, passed every test)."""
    from duplexsim.metrics.turntaking import detect_events

    own, partner = "0" * 4 + "1" * 8 + "0" * 8, "1" * 12 + "0" * 8
    total, t = run(own, partner, set(), RewardConfig(overlap_per_s=0.0, gap_per_s=0.0))
    assert t.counts["interruptions"] == 1 and t.counts["transitions"] == 0
    assert total == pytest.approx(-0.5)
    vad = np.array([[c == "1" for c in partner], [c == "1" for c in own]])
    assert detect_events(vad)["fto_ms"].isna().all()


def test_an_onset_in_the_partners_first_frame_is_no_interruption() -> None:
    """As the env's Rewards spec says: the partner must be voiced in the frame before."""
    together, later = RewardTracker(), RewardTracker()
    assert together.add_frames([False, True, True], [False, True, True], False)[1][
        "interrupt"] == 0.0
    assert later.add_frames([False, False, True], [False, True, True], False)[1][
        "interrupt"] == -later.config.interrupt


def test_a_tracker_seeded_with_the_partners_earlier_speech_scores_as_if_it_had_heard_it(
        ) -> None:
    """seed_partner (a learner whose chunk 0 plays after the partner began): its floor terms
    (overlap, fto, interrupt, backchannel) and their counts are those of the whole timeline
    with the learner silent before frame 0; joint silence counts from frame 0. Unseeded, a
    first onset into the partner's ongoing speech was no interruption and a takeover after
    it no floor transfer."""
    rng = np.random.default_rng(0)
    config = RewardConfig(gap_per_s=0.0)
    floor = ("transitions", "interruptions", "backchannels_good", "backchannels_bad",
             "overlap_ms", "learner_onsets")
    for _ in range(40):
        before = rng.random(int(rng.integers(1, 60))) < 0.7
        own, partner = rng.random((2, 80)) < rng.random(2)[:, None]
        bc = int(rng.integers(20))
        seeded, whole = RewardTracker(config), RewardTracker(config)
        seeded.seed_partner(before.tolist())
        whole.add_frames([False] * len(before), before.tolist(), False)
        for k in range(20):  # chunk bc is played as a backchannel
            o, p = own[k * F:(k + 1) * F].tolist(), partner[k * F:(k + 1) * F].tolist()
            assert seeded.add_frames(o, p, k == bc) == whole.add_frames(o, p, k == bc)
        assert {c: seeded.counts[c] for c in floor} == {c: whole.counts[c] for c in floor}
    # a start into speech the partner began before frame 0 interrupts it
    t = RewardTracker()
    t.seed_partner([True, True])
    assert t.add_frames([True], [True], False)[1]["interrupt"] == -t.config.interrupt
    # a takeover 200 ms after an offset 120 ms before frame 0: FTO 200 ms, gap free from 0
    t = RewardTracker(RewardConfig(gap_free_ms=120.0))
    t.seed_partner([True, True, False, False, False])
    _, terms = t.add_frames([False, False, True], [False] * 3, False)
    assert terms["fto"] == pytest.approx(t.config.fto * t.config.fto_score(200))
    assert terms["gap"] == 0.0 and t.counts["gap_ms"] == 0 and t.counts["partner_onsets"] == 0
    # a partner silent before frame 0 leaves nothing to seed
    quiet = RewardTracker()
    quiet.seed_partner([False] * 10)
    assert vars(quiet) == vars(RewardTracker())
