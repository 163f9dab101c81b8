"""The paper's protocol's correlations across prompts (``correlations``): known relations
recovered, bootstrap CIs over prompts, the prompts each r is over, one-line errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_protocol import turns

from duplexsim.metrics.protocol import (
    PAPER_EVENTS,
    correlations,
    correlations_over_runs,
    per_prompt_means,
)


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
