"""The paper's protocol's correlations over training runs and sampling seeds
(``correlations_over_runs``): r averaged over runs, then seeds; the bootstrap resamples runs,
then each drawn run's seeds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_protocol_correlations import _seeded

from duplexsim.metrics.protocol import (
    PAPER_EVENTS,
    correlations,
    correlations_over_runs,
)


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
