"""The paper's prompt -> continuation protocol on hand-made timelines with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from duplexsim.metrics.protocol import (
    PAPER_EVENTS,
    common_prompts,
    correlations,
    correlations_over_runs,
    mean_durations,
    per_prompt_means,
    split_prompt,
    window_frames,
)


def turns(n_frames: int, ipu: int, gap: int) -> np.ndarray:
    """Alternating turns of ``ipu`` frames separated by ``gap`` frames of silence (40 ms)."""
    vad = np.zeros((2, n_frames), dtype=bool)
    t, s = 0, 0
    while t + ipu <= n_frames:  # whole IPUs only, so every mean is exact
        vad[s, t : t + ipu] = True
        t += ipu + gap
        s = 1 - s
    return vad


def test_split_prompt_cuts_30_and_90_seconds():
    units = np.arange(2 * 3100).reshape(2, 3100)
    prompt, cont = split_prompt(units)
    assert prompt.shape == (2, 750) and cont.shape == (2, 2250)
    assert cont[0, 0] == units[0, 750]
    with pytest.raises(ValueError, match="shorter than prompt"):
        split_prompt(units[:, :2000])


def test_mean_durations_of_regular_turns():
    means = mean_durations(turns(500, ipu=50, gap=8))  # 2 s IPUs, 320 ms gaps
    assert means["ipu"] == pytest.approx(2000)
    assert means["gap"] == pytest.approx(320) and means["fto"] == pytest.approx(320)
    assert np.isnan(means["pause"]) and np.isnan(means["overlap"])
    # a switch on the same frame is a transition (FTO 0) with no gap: the gap mean was 274
    vad = turns(500, ipu=50, gap=8)
    vad[1, 50:58] = True  # B's first IPU starts as A's first ends
    means = mean_durations(vad)
    assert means["gap"] == pytest.approx(320) and means["fto"] < 320
    # overlap: transition overlaps only (A's 400 ms backchannel in B's turn was pooled: 280)
    vad = turns(500, ipu=50, gap=8)
    vad[1, 46:58] = True  # B takes the turn in 160 ms of overlap with A's first IPU
    vad[0, 75:85] = True  # 400 ms inside B's turn, 1 s after A's first IPU: a backchannel
    assert mean_durations(vad)["overlap"] == pytest.approx(160)


def test_correlations_recover_known_relations_across_prompts():
    vads = {}
    for i, (ipu, gap) in enumerate([(30, 5), (40, 8), (50, 11), (60, 14), (45, 6)]):
        vads[(f"p{i}", "ground_truth")] = turns(1000, ipu, gap)
        vads[(f"p{i}", "good")] = turns(1000, ipu + 5, gap + 2)  # same ordering, shifted
        vads[(f"p{i}", "flipped")] = turns(1000, 100 - ipu, 20 - gap)  # reversed ordering
    table = per_prompt_means(vads)
    assert len(table) == 15 and set(table["source"]) == {"ground_truth", "good", "flipped"}
    r = correlations(table).set_index("source")
    assert r.loc["good", "ipu"] == pytest.approx(1.0)
    assert r.loc["good", "fto"] == pytest.approx(1.0)
    assert r.loc["flipped", "ipu"] == pytest.approx(-1.0)
    assert r.loc["flipped", "gap"] == pytest.approx(-1.0)
    # no pauses anywhere: that event is NaN and the average is over the events that exist,
    # flagged as partial; no prompt has all three events
    assert np.isnan(r.loc["good", "pause"]) and r.loc["good", "avg"] == pytest.approx(1.0)
    assert r.loc["good", "avg_events"] == 2 and r.loc["good", "n_prompts"] == 0
    assert list(r.columns[: len(PAPER_EVENTS)]) == list(PAPER_EVENTS)


def test_correlations_against_the_prompt_and_missing_reference():
    table = pd.DataFrame({
        "prompt": ["a", "b", "c", "d"] * 2, "source": ["prompt"] * 4 + ["gen"] * 4,
        "ipu": [1.0, 2, 3, 4, 2, 4, 6, 8.5], "pause": [1.0, 2, 3, 4, 4, 3, 2, 1],
        "gap": np.nan, "overlap": np.nan, "fto": [1.0, 2, 3, 4, 1, 2, 3, 4],
    })
    r = correlations(table, reference="prompt").set_index("source")
    assert r.loc["gen", "pause"] == pytest.approx(-1.0)
    assert r.loc["gen", "avg"] == pytest.approx((r.loc["gen", "ipu"] - 1 + 1) / 3)
    with pytest.raises(ValueError, match="ground_truth"):
        correlations(table)


def test_correlations_bootstrap_cis_over_prompts():
    rng = np.random.default_rng(1)
    n = 60
    truth = rng.normal(size=(n, 3))
    rows = []
    for i in range(n):
        for source, values in (("ground_truth", truth[i]),
                               ("follows", truth[i] + 0.3 * rng.normal(size=3)),
                               ("ignores", rng.normal(size=3))):
            rows.append({"prompt": f"p{i}", "source": source, "gap": np.nan, "overlap": np.nan,
                         **dict(zip(PAPER_EVENTS, values, strict=True))})
    table = pd.DataFrame(rows)
    r = correlations(table, n_boot=500, seed=3).set_index("source")
    for name in (*PAPER_EVENTS, "avg"):
        assert (r[f"{name}_lo"] <= r[name]).all() and (r[name] <= r[f"{name}_hi"]).all()
        assert r.loc["follows", f"{name}_lo"] > 0.8  # a source that follows: CI far from 0
    # a source that ignores the truth: each event's CI about as wide as theory says for
    # n = 60 at r = 0 (2 x 1.96 / sqrt(60) = 0.51); the average of three independent
    # events' r about sqrt(3) narrower
    width = r.loc["ignores", [f"{e}_hi" for e in PAPER_EVENTS]].to_numpy() \
        - r.loc["ignores", [f"{e}_lo" for e in PAPER_EVENTS]].to_numpy()
    assert ((width > 0.35) & (width < 0.7)).all()
    assert 0.15 < r.loc["ignores", "avg_hi"] - r.loc["ignores", "avg_lo"] < 0.45
    # deterministic from the seed; without n_boot, the point values and no CI columns
    again = correlations(table, n_boot=500, seed=3).set_index("source")
    pd.testing.assert_frame_equal(r, again)
    plain = correlations(table).set_index("source")
    assert "avg_lo" not in plain.columns
    pd.testing.assert_frame_equal(plain, r[plain.columns])


def _runs_of(truth: np.ndarray, gains: list[float], seed: int) -> list[pd.DataFrame]:
    """One per-prompt table per training run: the same prompts and ground truth, a source
    ``gen`` that follows the truth with the run's ``gain`` (0: ignores it) plus noise."""
    rng = np.random.default_rng(seed)
    tables = []
    for gain in gains:
        rows = []
        for i, values in enumerate(truth):
            for source, v in (("ground_truth", values),
                              ("gen", gain * values + rng.normal(size=3))):
                rows.append({"prompt": f"p{i}", "source": source, "gap": np.nan,
                             "overlap": np.nan, **dict(zip(PAPER_EVENTS, v, strict=True))})
        tables.append(pd.DataFrame(rows))
    return tables


def test_correlations_over_runs_average_runs_and_resample_them():
    truth = np.random.default_rng(0).normal(size=(40, 3))
    one = _runs_of(truth, [1.0], seed=1)
    # one run: correlations' numbers and CIs (the same prompt draws from the seed)
    flat = correlations(one[0], n_boot=300, seed=5).set_index("source")
    single = correlations_over_runs(one, n_boot=300, seed=5).set_index("source")
    for name in (*PAPER_EVENTS, "avg", "avg_lo", "avg_hi", "ipu_lo", "fto_hi"):
        assert single.loc["gen", name] == pytest.approx(flat.loc["gen", name], abs=1e-12)
    assert single.loc["gen", "n_runs"] == 1 and np.isnan(single.loc["gen", "sd_runs"])
    # several runs: r is the mean of the runs' r; runs that differ widen the CI beyond the
    # prompt noise of any one of them, since another run could be any of them
    runs = _runs_of(truth, [0.0, 0.5, 2.0], seed=2)
    each = [correlations(t, n_boot=300, seed=5).set_index("source").loc["gen"] for t in runs]
    pooled = correlations_over_runs(runs, n_boot=300, seed=5).set_index("source").loc["gen"]
    assert pooled["avg"] == pytest.approx(np.mean([e["avg"] for e in each]))
    assert pooled["sd_runs"] == pytest.approx(np.std([e["avg"] for e in each], ddof=1))
    assert pooled["avg_lo"] <= pooled["avg"] <= pooled["avg_hi"]
    assert pooled["avg_hi"] - pooled["avg_lo"] > max(e["avg_hi"] - e["avg_lo"] for e in each)
    # the same run three times: a point and CI no wider than that run's own
    same = correlations_over_runs(runs[1:2] * 3, n_boot=300, seed=5).set_index("source")
    assert same.loc["gen", "avg"] == pytest.approx(each[1]["avg"])
    assert same.loc["gen", "sd_runs"] == pytest.approx(0.0)
    # runs that continued other prompts, or with other sources, are refused
    other = _runs_of(truth[::-1].copy(), [1.0], seed=3)
    with pytest.raises(ValueError, match="run 1: other prompts or other ground_truth"):
        correlations_over_runs([one[0], other[0]])
    with pytest.raises(ValueError, match="run 1: sources"):
        correlations_over_runs([one[0], one[0][one[0].source == "ground_truth"]])


def test_no_bootstrap_ci_over_fewer_than_five_prompts() -> None:
    """An r needs 3 distinct prompts, so every draw over 3 prompts that had one was the
    same 3 prompts: the CI came out [r, r], and over 4 it was the spread of 4 subsets.
    Under MIN_BOOT_UNITS prompts with the event there is no CI; from 5 there is one."""
    rng = np.random.default_rng(4)

    def table(n: int) -> pd.DataFrame:
        x = rng.normal(size=(n, 3))
        return pd.DataFrame(
            [{"prompt": p, "source": "ground_truth", **dict(zip(PAPER_EVENTS, x[p],
                                                                strict=True))}
             for p in range(n)]
            + [{"prompt": p, "source": "gen", **dict(zip(PAPER_EVENTS,
                                                          x[p] + rng.normal(0, 0.5, 3),
                                                          strict=True))} for p in range(n)])

    for n in (3, 4):
        c = correlations(table(n), n_boot=500).iloc[0]
        assert np.isfinite(c.avg) and c.n_prompts == n
        assert c[[f"{e}_{end}" for e in (*PAPER_EVENTS, "avg") for end in ("lo", "hi")]
                 ].isna().all()
    c = correlations(table(5), n_boot=500).iloc[0]
    assert c.avg_lo < c.avg_hi and c.ipu_lo < c.ipu_hi


def test_the_avg_ci_averages_the_events_the_avg_does() -> None:
    """FTO has an r over 5 of 16 prompts only: bootstrap draws without 3 of those 5 have no
    FTO r, and averaging ipu and pause alone there put the CI's top at 0.995 for an average
    of 0.325 (FTO r -1; over 4 of 12 prompts): another statistic. Such a draw has no
    average."""
    rng = np.random.default_rng(1)
    x, rows = rng.normal(size=16), []
    for p in range(16):
        fto = x[p] if p < 5 else np.nan
        rows += [{"prompt": p, "source": "ground_truth", "ipu": x[p], "pause": 2 * x[p],
                  "fto": fto, "gap": 1.0, "overlap": 1.0},
                 {"prompt": p, "source": "gen", "ipu": x[p] + rng.normal(0, 0.1),
                  "pause": 2 * x[p] + rng.normal(0, 0.2), "fto": -fto, "gap": 1.0,
                  "overlap": 1.0}]
    c = correlations(pd.DataFrame(rows), n_boot=1000).iloc[0]
    assert c.fto == pytest.approx(-1.0) and c.avg == pytest.approx(0.325, abs=0.005)
    assert c.avg_lo <= c.avg <= c.avg_hi < 0.4


def _seeded(n_prompts: int, n_seeds: int, noise: float, seed: int = 0) -> pd.DataFrame:
    """A ground truth per prompt and a source ``gen`` whose continuation of each prompt
    follows it with sampling noise that differs per seed (column ``seed``; -1: one row)."""
    rng = np.random.default_rng(seed)
    truth = rng.normal(size=(n_prompts, 3))
    rows = [{"prompt": f"p{i}", "source": "ground_truth", "seed": -1,
             **dict(zip(PAPER_EVENTS, truth[i], strict=True))} for i in range(n_prompts)]
    rows += [{"prompt": f"p{i}", "source": "gen", "seed": k,
              **dict(zip(PAPER_EVENTS, truth[i] + noise * rng.normal(size=3), strict=True))}
             for k in range(n_seeds) for i in range(n_prompts)]
    return pd.DataFrame(rows)


def test_several_seeds_give_the_mean_of_the_per_seed_r() -> None:
    """The paper scores one continuation per prompt. r of the prompts' means over 4 seeds
    takes the sampling noise out and came out 0.64 where every seed alone gave 0.34-0.46
    (an audit); r is per seed, then averaged, its CI the two-level bootstrap with seeds."""
    table = _seeded(40, 4, noise=2.0)
    each = [correlations(table[table.seed.isin([-1, k])]).iloc[0] for k in range(4)]
    assert all(e.n_seeds == 1 and np.isnan(e.sd_seeds) for e in each)
    got = correlations(table, n_boot=300, seed=2).iloc[0]
    assert got.n_seeds == 4
    assert got.avg == pytest.approx(np.mean([e.avg for e in each]))
    assert got.ipu == pytest.approx(np.mean([e.ipu for e in each]))
    assert got.sd_seeds == pytest.approx(np.std([e.avg for e in each], ddof=1))
    means = table.groupby(["prompt", "source"], as_index=False)[list(PAPER_EVENTS)].mean()
    assert correlations(means).iloc[0].avg > got.avg + 0.15  # what it was: inflated
    over_seeds = correlations_over_runs(
        [table[table.seed.isin([-1, k])].drop(columns="seed") for k in range(4)],
        n_boot=300, seed=2).iloc[0]  # the same statistic with seeds as runs
    for name in ("avg", "avg_lo", "avg_hi", "fto", "ipu_lo"):
        assert got[name] == pytest.approx(over_seeds[name], abs=1e-12)
    with pytest.raises(ValueError, match="one of the seeds"):
        correlations(pd.concat([table, table.assign(source="other")[table.seed == 0]]))


def test_each_event_counts_the_prompts_its_r_is_over() -> None:
    """n_prompts counts prompts with every event; each r is over the prompts with that
    event: the counts per event say so (FTO missing in 5 of 12 prompts)."""
    table = _seeded(12, 1, noise=0.5)
    table.loc[table.prompt.isin([f"p{i}" for i in range(5)]) & (table.source == "gen"),
              "fto"] = np.nan
    table.loc[(table.prompt == "p11") & (table.source == "ground_truth"), "pause"] = np.nan
    r = correlations(table).iloc[0]
    assert (r.n_ipu, r.n_pause, r.n_fto, r.n_prompts) == (12, 11, 7, 6)


def test_extra_events_are_optional() -> None:
    """A table with the paper's events only: the default extras (gap, overlap) are left
    out rather than a KeyError."""
    r = correlations(_seeded(8, 1, noise=0.5).drop(columns="seed"))
    assert "gap" not in r.columns and np.isfinite(r.iloc[0].avg)


def test_a_missing_event_column_or_a_bad_n_boot_is_a_one_line_error() -> None:
    """An event of ``events`` that the table lacks was pandas' bare KeyError: 'fto'; a
    negative n_boot numpy's 'negative dimensions are not allowed'."""
    table = _seeded(8, 1, noise=0.5).drop(columns="seed")
    with pytest.raises(ValueError, match=r"the per-prompt table has no column 'fto' \(allowed"):
        correlations(table.drop(columns="fto"))
    with pytest.raises(ValueError, match=r"run 1's per-prompt table has no column 'fto'"):
        correlations_over_runs([table, table.drop(columns="fto")])
    for n_boot in (-1, 2.5, "10"):
        with pytest.raises(ValueError, match="n_boot must be a whole number >= 0"):
            correlations(table, n_boot=n_boot)
    # events given as a generator are still all scored
    r = correlations(table, events=(e for e in ("ipu", "pause"))).iloc[0]
    assert np.isfinite(r["ipu"]) and r["avg_events"] == 2


def test_several_continuations_of_a_prompt_without_a_seed_are_an_error() -> None:
    """4 continuations per prompt and no seed column were averaged per prompt by the pivot:
    r of the means over seeds (the statistic the seed column exists to avoid), n_seeds 1."""
    table = _seeded(8, 4, noise=2.0)
    with pytest.raises(ValueError, match=r"the per-prompt table has 24 repeated row\(s\) of "
                       r"one prompt/source \(first: prompt='p0', source='gen'\)"):
        correlations(table.drop(columns="seed"))
    with pytest.raises(ValueError, match=r"run 0's per-prompt table has 8 repeated row\(s\) of "
                       "one prompt/source/seed"):
        correlations_over_runs([pd.concat([table, table[table.seed == 1]]), table])
    assert correlations(table).iloc[0].n_seeds == 4  # one row per prompt, source and seed


def test_window_lengths_must_be_positive_numbers():
    """A negative prompt_s cut the 'prompt' from the stream's end (stream[..., :-25]) and
    frame_ms = 0 was a bare ZeroDivisionError."""
    units = np.arange(2 * 3100).reshape(2, 3100)
    for kwargs, name in (({"prompt_s": -1.0}, "prompt_s"),
                         ({"continuation_s": 0}, "continuation_s"),
                         ({"frame_ms": 0}, "frame_ms"), ({"prompt_s": float("nan")}, "prompt_s")):
        with pytest.raises(ValueError, match=f"{name} must be a finite number > 0"):
            split_prompt(units, **kwargs)
    assert window_frames(np.float64(30.0), np.int64(90), 40) == (750, 2250)


@pytest.mark.parametrize(("kwargs", "name"), [({"prompt_s": True}, "prompt_s"),
                                              ({"frame_ms": True}, "frame_ms"),
                                              ({"continuation_s": 10**400}, "continuation_s"),
                                              ({"prompt_s": "30"}, "prompt_s")])
def test_a_window_that_is_no_finite_number_is_a_one_line_error(kwargs, name) -> None:
    """prompt_s=True was a 1 s prompt (a bool is no length), and 10**400 s an
    OverflowError traceback from math.isfinite: one line naming the argument."""
    with pytest.raises(ValueError, match=f"^{name} must be a finite number > 0, got "):
        window_frames(**kwargs)


def test_avg_is_over_the_paper_events_only_not_the_extras() -> None:
    """The paper's avg (Table 2 / 6) is the mean r over ipu, pause and fto: here +1 each.
    gap and overlap, reported as extras, follow the reference reversed (r = -1); an avg
    that took them in was (1 + 1 + 1 - 1 - 1) / 5 = 0.2 (a mutation doing so passed)."""
    up, down = [1.0, 2, 3, 4, 6], [6.0, 5, 4, 3, 1]  # down = 7 - up
    table = pd.DataFrame({
        "prompt": list("abcde") * 2, "source": ["ground_truth"] * 5 + ["gen"] * 5,
        "ipu": up + up, "pause": up + up, "fto": up + up,
        "gap": up + down, "overlap": up + down,
    })
    r = correlations(table).set_index("source").loc["gen"]
    assert r["gap"] == pytest.approx(-1.0) and r["overlap"] == pytest.approx(-1.0)
    assert r["avg"] == pytest.approx(1.0) and r["avg_events"] == 3
    boot = correlations(table, n_boot=200, seed=0).set_index("source").loc["gen"]
    assert boot["avg_lo"] == pytest.approx(1.0) and boot["avg_hi"] == pytest.approx(1.0)


def test_each_events_ci_over_runs_resamples_the_runs_too() -> None:
    """Runs whose gen follows the truth with gains 0, 0.5 and 2: every event's CI (not only
    avg's) includes how much another run would differ, so it is wider than any one run's
    CI of that event (a mutation that averaged every run in each draw passed)."""
    truth = np.random.default_rng(0).normal(size=(40, 3))
    runs = _runs_of(truth, [0.0, 0.5, 2.0], seed=2)
    each = [correlations(t, n_boot=300, seed=5).set_index("source").loc["gen"] for t in runs]
    pooled = correlations_over_runs(runs, n_boot=300, seed=5).set_index("source").loc["gen"]
    for ev in PAPER_EVENTS:
        width = pooled[f"{ev}_hi"] - pooled[f"{ev}_lo"]
        assert width > max(e[f"{ev}_hi"] - e[f"{ev}_lo"] for e in each), ev


def test_event_counts_over_seeds_are_the_fewest_of_any_seed() -> None:
    """Two seeds of gen over 12 prompts; seed 1's continuations have no pause in 4 of them:
    n_pause is 8, the fewest of any seed (as n_prompts), not seed 0's 12 (a mutation taking
    the most passed every test)."""
    table = _seeded(12, 2, noise=0.5)
    table.loc[(table.seed == 1) & table.prompt.isin(["p0", "p1", "p2", "p3"]), "pause"] = np.nan
    r = correlations(table).iloc[0]
    assert (r.n_ipu, r.n_pause, r.n_fto, r.n_prompts) == (12, 8, 12, 8)


def test_runs_with_several_seeds_resample_runs_then_their_seeds() -> None:
    """3 training runs that differ, each continued with 4 near-identical sampling seeds: the
    second level drew the 12 (run, seed) replicates one by one, as 12 runs, and the CI of
    avg came out 0.52 wide against 0.93 for the same runs with one seed each. Runs are
    drawn, then their seeds: about as wide as one seed per run."""
    truth = np.random.default_rng(0).normal(size=(40, 3))
    rng = np.random.default_rng(1)
    one, four = [], []
    for gain in (0.0, 1.0, 3.0):
        gen = gain * truth + rng.normal(size=truth.shape)
        gt = [{"prompt": f"p{i}", "source": "ground_truth",
               **dict(zip(PAPER_EVENTS, truth[i], strict=True))} for i in range(40)]
        one.append(pd.DataFrame(gt + [{"prompt": f"p{i}", "source": "gen",
                                       **dict(zip(PAPER_EVENTS, gen[i], strict=True))}
                                      for i in range(40)]))
        four.append(pd.DataFrame([{**row, "seed": -1} for row in gt] + [
            {"prompt": f"p{i}", "source": "gen", "seed": k,
             **dict(zip(PAPER_EVENTS, gen[i] + 0.01 * rng.normal(size=3), strict=True))}
            for k in range(4) for i in range(40)]))
    a = correlations_over_runs(one, n_boot=1000).iloc[0]
    b = correlations_over_runs(four, n_boot=1000).iloc[0]
    assert b.n_seeds == 4 and b.avg == pytest.approx(a.avg, abs=0.01)
    assert b.avg_hi - b.avg_lo > 0.9 * (a.avg_hi - a.avg_lo)
    again = correlations_over_runs(four, n_boot=1000).iloc[0]
    assert (again.avg_lo, again.avg_hi) == (b.avg_lo, b.avg_hi)  # seeded: the same draws


def test_the_seeds_of_each_drawn_run_are_drawn_too() -> None:
    """The second level draws each drawn run's seeds with replacement: seeds whose r differ
    (gains 0 to 4) widen the CI of avg (0.57 wide here). Taking every seed of a drawn run
    left out how much another sampling seed would differ: 0.12 wide, the prompts' share
    only."""
    truth = np.random.default_rng(0).normal(size=(40, 3))
    rng = np.random.default_rng(1)
    runs = []
    for _ in range(2):
        rows = [{"prompt": f"p{i}", "source": "ground_truth", "seed": -1,
                 **dict(zip(PAPER_EVENTS, truth[i], strict=True))} for i in range(40)]
        for k, gain in enumerate((0.0, 0.3, 1.0, 4.0)):
            gen = gain * truth + rng.normal(size=truth.shape)
            rows += [{"prompt": f"p{i}", "source": "gen", "seed": k,
                      **dict(zip(PAPER_EVENTS, gen[i], strict=True))} for i in range(40)]
        runs.append(pd.DataFrame(rows))
    r = correlations_over_runs(runs, n_boot=1000).iloc[0]
    assert r.n_runs == 2 and r.n_seeds == 4 and r.avg_lo < r.avg < r.avg_hi
    assert r.avg_hi - r.avg_lo > 0.4


def test_runs_with_unequal_seed_counts_weigh_the_same() -> None:
    """Runs of 2, 4 and 4 sampling seeds: r is the mean over runs of each run's mean over
    its seeds (it pooled the 10 (run, seed) r, so the 2-seed run weighed half), and n_seeds
    is the fewest of any run, 2 (it said 10 // 3 = 3, a count no run had)."""
    truth = np.random.default_rng(0).normal(size=(30, 3))
    rng = np.random.default_rng(1)
    runs = []
    for gain, n_seeds in ((3.0, 2), (0.0, 4), (0.2, 4)):
        rows = [{"prompt": f"p{i}", "source": "ground_truth", "seed": -1,
                 **dict(zip(PAPER_EVENTS, truth[i], strict=True))} for i in range(30)]
        rows += [{"prompt": f"p{i}", "source": "gen", "seed": k,
                  **dict(zip(PAPER_EVENTS, gain * truth[i] + rng.normal(size=3), strict=True))}
                 for k in range(n_seeds) for i in range(30)]
        runs.append(pd.DataFrame(rows))
    each = [correlations(t).iloc[0] for t in runs]
    got = correlations_over_runs(runs, n_boot=200, seed=3).iloc[0]
    assert got.n_seeds == 2 and got.n_runs == 3
    for name in ("avg", *PAPER_EVENTS):
        assert got[name] == pytest.approx(np.mean([e[name] for e in each]))
    assert got.sd_runs == pytest.approx(np.std([e.avg for e in each], ddof=1))
    assert got.avg_lo < got.avg < got.avg_hi


def _one_seed_and_alike_seeds(runs: list[tuple[float, int]]) -> tuple[pd.Series, pd.Series]:
    """``correlations_over_runs``' row (2000 draws) of runs ``(gain, n_seeds)`` over 30
    prompts, each run once with one seed and once with ``n_seeds`` identical seeds."""
    truth = np.random.default_rng(0).normal(size=(30, 3))
    rng = np.random.default_rng(1)
    multi, single = [], []
    for gain, n_seeds in runs:
        gt = [{"prompt": f"p{i}", "source": "ground_truth",
               **dict(zip(PAPER_EVENTS, truth[i], strict=True))} for i in range(30)]
        gen = gain * truth + rng.normal(size=truth.shape)
        one = [{"prompt": f"p{i}", "source": "gen",
                **dict(zip(PAPER_EVENTS, gen[i], strict=True))} for i in range(30)]
        single.append(pd.DataFrame(gt + one))
        multi.append(pd.DataFrame([{**r, "seed": -1} for r in gt]
                                  + [{**r, "seed": k} for k in range(n_seeds) for r in one]))
    return (correlations_over_runs(single, n_boot=2000).iloc[0],
            correlations_over_runs(multi, n_boot=2000).iloc[0])


def test_a_run_of_fewer_seeds_is_padded_with_no_replicate() -> None:
    """Runs of 4, 2 and 4 seeds, each run's seeds alike: the CI is that of the same runs
    with one seed each (a run of fewer seeds is padded with a NaN replicate, left out of
    its mean). Padded with replicate 0 (the first run's first seed), the 2-seed run's r was
    pulled towards the first run's in every draw: avg_hi 0.45 against 0.94."""
    a, b = _one_seed_and_alike_seeds([(0.0, 4), (3.0, 2), (0.2, 4)])
    assert b.avg == pytest.approx(a.avg)
    assert b.avg_lo == pytest.approx(a.avg_lo, abs=0.05)
    assert b.avg_hi == pytest.approx(a.avg_hi, abs=0.05)


def test_a_reference_without_a_seed_is_in_every_seeds_table() -> None:
    """A reference whose ``seed`` is NaN (no seed) is shared by every seed's table, as one
    with seed -1 is: NaN seeds were each a seed of their own (NaN != NaN), an error about
    'sources with other seeds', or with one generated seed the reference vanished ('not in
    the table'). A source with a seed on some rows only is a one-line error."""
    table = _seeded(10, 3, noise=0.5)
    no_seed = table.assign(seed=table.seed.where(table.seed >= 0))
    for seeds in (3, 1):
        kept = table[table.seed < seeds]
        got = correlations(no_seed[table.seed < seeds]).iloc[0]
        want = correlations(kept).iloc[0]
        assert got.n_seeds == want.n_seeds == seeds and got.avg == pytest.approx(want.avg)
    half = no_seed.copy()
    half.loc[(half.source == "gen") & (half.seed == 0), "seed"] = np.nan
    with pytest.raises(ValueError, match=r"sources \['gen'\] have rows with a seed and rows "
                                         r"without"):
        correlations(half)


def test_a_draw_averages_each_drawn_run_over_its_seeds_first() -> None:
    """Eight runs of 4 or 1 sampling seeds, each run's seeds alike: every bootstrap draw is
    the mean over its drawn runs of each run's mean over its seeds, so the CI is that of
    the same runs with one seed each. A draw that pooled the drawn runs' seeds weighed a
    4-seed run four times a 1-seed run and moved the CI."""
    gains = (0.0, 3.0, 0.2, 2.0, 0.5, 1.0, 0.1, 4.0)  # the 4-seed runs are the weaker ones
    a, b = _one_seed_and_alike_seeds([(g, 4 if k % 2 == 0 else 1) for k, g in enumerate(gains)])
    assert b.avg == pytest.approx(a.avg)
    assert b.avg_lo == pytest.approx(a.avg_lo, abs=0.03)
    assert b.avg_hi == pytest.approx(a.avg_hi, abs=0.03)


def test_window_frames_round_a_half_frame_up() -> None:
    """30.02 s is 750.5 frames of 40 ms: 751 (round() took it to 750, and 30.06 s to 752),
    by the project's one rule (duplexsim.timebase.frames_from_s)."""
    assert window_frames(30.02, 30.06, 40) == (751, 752)
    assert window_frames(0.1, 4.62, 40) == (3, 116)  # 2.5 and 4.62 * 25 = 115.49999999999999


def test_a_window_shorter_than_half_a_frame_is_an_error() -> None:
    """0.01 s is a quarter of a 40 ms frame: the window was 0 frames, the prompt or the
    continuation empty, every mean NaN and every r NaN, with no word (a whole study's report
    of NaN for ``--continuation-s 0.01``)."""
    units = np.arange(2 * 3100).reshape(2, 3100)
    for kwargs, name in (({"prompt_s": 0.01}, "prompt_s"),
                         ({"continuation_s": 0.019}, "continuation_s")):
        with pytest.raises(ValueError, match=f"{name}=0.01.* is 0 frames of 40 ms "
                                             r"\(allowed: >= 0.02 s"):
            split_prompt(units, **kwargs)
    assert window_frames(0.02, 0.02, 40) == (1, 1)  # half a frame: one, half up


def test_common_prompts_pair_the_sources_on_every_event():
    """An event that one of the sources (any of its seeds) lacks on a prompt is dropped for
    all of them there: their r are over the same prompts; other sources are untouched."""
    rows = []
    for i in range(6):
        rows.append({"prompt": f"p{i}", "source": "ground_truth", "seed": -1,
                     "ipu": i, "pause": i, "fto": i})
        rows.append({"prompt": f"p{i}", "source": "prompt", "seed": -1, "ipu": i,
                     "pause": i, "fto": np.nan if i == 0 else i})
        for seed in (0, 1):
            rows.append({"prompt": f"p{i}", "source": "agent", "seed": seed, "ipu": i,
                         "pause": np.nan if (i, seed) == (1, 1) else i, "fto": i})
        rows.append({"prompt": f"p{i}", "source": "other", "seed": -1, "ipu": i,
                     "pause": i, "fto": np.nan if i == 2 else i})
    table = pd.DataFrame(rows)
    before = correlations(table).set_index("source")
    assert before.loc["prompt", "n_fto"] == 5 and before.loc["agent", "n_fto"] == 6
    paired = common_prompts(table, ["prompt", "agent"])
    r = correlations(paired).set_index("source")
    assert r.loc["prompt", "n_fto"] == r.loc["agent", "n_fto"] == 5
    assert r.loc["prompt", "n_pause"] == r.loc["agent", "n_pause"] == 5  # seed 1 lacks p1
    assert r.loc["other", "n_fto"] == 5 and r.loc["other", "n_pause"] == 6
    assert paired[paired.source.isin(["ground_truth", "other"])].equals(
        table[table.source.isin(["ground_truth", "other"])])
