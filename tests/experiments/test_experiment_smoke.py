"""Experiment scripts run end to end in smoke mode, in a subprocess (CleanRL style).

They need the simulator (``duplexsim.sim``); until it is importable they are skipped.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from experiment_run import run_experiment
from PIL import Image

from duplexsim.sweeps.config import SweepConfig, dump_sweep

ROOT = Path(__file__).parents[2]


def _sim_available() -> bool:
    try:
        from duplexsim.sim import run  # noqa: F401
    except ImportError:
        return False
    return True


def test_dump_sweep_round_trips():
    import tomllib

    cfg = SweepConfig(name="x", base="b.toml", seeds=(0, 2), set={"duration_s": 5.0},
                      grid={"network.a_to_b.delay_ms+network.b_to_a.delay_ms": [0, 80],
                            "a.estimation": ["model", "wait"]})
    data = tomllib.loads(dump_sweep(cfg))["sweep"]
    assert data["grid"] == {"network.a_to_b.delay_ms+network.b_to_a.delay_ms": [0, 80],
                            "a.estimation": ["model", "wait"]}
    assert data["seeds"] == [0, 2] and data["set"] == {"duration_s": 5.0}


def test_dump_sweep_writes_numpy_values_as_the_numbers_they_hold():
    import tomllib

    cfg = SweepConfig(name="x", base="b.toml", seeds=tuple(np.arange(2)),
                      grid={"network.a_to_b.delay_ms": list(np.linspace(0, 200, 3)),
                            "network.a_to_b.jitter_ms": list(np.arange(0, 20, 10))})
    data = tomllib.loads(dump_sweep(cfg))["sweep"]  # np.int64 failed, np.float64 wrote itself
    assert data["seeds"] == [0, 1] and data["grid"] == {
        "network.a_to_b.delay_ms": [0.0, 100.0, 200.0], "network.a_to_b.jitter_ms": [0, 10]}


@pytest.mark.parametrize("script", ["latency_sweep.py", "pairing.py", "presets.py"])
def test_experiment_smoke(script, tmp_path):
    if not _sim_available():
        pytest.skip("duplexsim.sim (the simulator) is not there yet")
    out = tmp_path / "out"
    proc = run_experiment(script, "--smoke", "--workers", "1", "--out", str(out), timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = sorted(out.rglob("results.parquet"))
    assert results
    for path in results:
        table = pd.read_parquet(path)
        assert len(table) == 2 and table["ipus_per_min"].notna().all()
        assert (path.parent / "report" / "REPORT.md").is_file()
    if script == "latency_sweep.py":  # replay sides do not react to delay: zero effect
        eff = pd.read_csv(out / "F-F" / "delay" / "effects_vs_delay0.csv")
        assert (eff["n_transitions"] > 0).all() and (eff["d_fto_median_ms"] == 0).all()
        assert Image.open(out / "F-F" / "delay" / "latency.png").info["Description"].startswith(
            "Command: `python experiments/latency_sweep.py --smoke")  # the figure names it too
        assert "Command: `python experiments/latency_sweep.py" in (
            out / "F-F" / "delay" / "report" / "REPORT.md").read_text()
    if script == "presets.py":
        assert (out / "report" / "presets.png").stat().st_size > 0


def test_full_mode_without_agents_says_what_to_train(tmp_path):
    proc = run_experiment("pairing.py", "--agents", str(tmp_path / "none"), "--out",
                          str(tmp_path / "o"), timeout=120)
    assert proc.returncode == 2 and "duplexsim train" in proc.stderr


def test_continuation_smoke_scores_every_source_and_regenerates_identically(tmp_path):
    """Tiny world (real corpora, tiny trained agents): every table is there, the resynthesis
    topline tracks the ground truth, and regenerated continuations give the same bytes."""
    out = tmp_path / "cont"
    args = ("continuation.py", "--smoke", "--out", str(out))
    proc = run_experiment(*args, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (out / "REPORT.md").is_file() and (out / "continuation.png").stat().st_size > 0
    per_prompt = pd.read_csv(out / "per_prompt.csv")
    sources = {f"syncllm-{a}-{c}" for a in "fc" for c in (160, 200, 240)}
    sources |= {f"inter-{pair}-{c}" for pair in ("ff", "fc") for c in (160, 200, 240)}
    formats = {f"format-{c}" for c in (160, 200, 240)}
    assert set(per_prompt["source"]) == sources | formats | {"ground_truth", "resynth", "prompt"}
    counts = per_prompt.groupby("source")["prompt"].nunique()
    assert (counts == 8).all()  # 4 prompts from each corpus, scored for every source
    # every source on the ground truth's frames: 6 s from the 3 s prompt's end (3 s is no
    # whole number of 160 or 240 ms chunks: the agents' were 5.92 s from 2.96 s and 6 s
    # from 2.88 s, format-160 and -240 6.12 s)
    assert (per_prompt["seconds"].drop(per_prompt.index[per_prompt.source == "prompt"])
            == 6.0).all()
    corr = pd.read_csv(out / "correlations.csv")
    pooled = corr[(corr["reference"] == "ground_truth") & (corr["prompts"] == "all")]
    assert set(pooled["source"]) == sources | formats | {"resynth", "prompt"}
    assert pooled.set_index("source").loc["resynth", "ipu"] > 0.9
    assert set(corr.loc[corr["reference"] == "prompt", "source"]) >= sources
    for name in ("ipu", "pause", "fto", "avg"):  # every r with its bootstrap CI over prompts
        r = corr.dropna(subset=[f"{name}_lo"])
        assert len(r) and (r[f"{name}_lo"] >= -1).all() and (r[f"{name}_hi"] <= 1).all()
        assert (r[f"{name}_lo"] <= r[f"{name}_hi"]).all()
    assert "### In distribution: each agent on its own corpus's prompts" in \
        (out / "REPORT.md").read_text()
    comp = pd.read_csv(out / "corpus_comparison.csv")
    assert set(comp["source"]) >= {"syncllm-f-all", "syncllm-c-all"}
    assert set(comp["metric"]) == {"fto_median_ms", "backchannels_per_min",
                                   "listener_onsets_per_s", "overlap_share"}
    bc = comp[comp["metric"] == "backchannels_per_min"]
    assert (bc["own_value"] != bc["other_value"]).all()
    hazard = comp[comp["metric"] == "listener_onsets_per_s"]
    assert (hazard["own_value"] > 0).all() and (hazard["own_value"] != hazard["other_value"]).all()
    assert "sampling temperature 1;" in (out / "REPORT.md").read_text()
    assert "Command: `python experiments/continuation.py --smoke --out " in \
        (out / "REPORT.md").read_text()
    for png in ("continuation.png", "sources.png"):  # the figures name it too
        assert Image.open(out / png).info["Description"].startswith(
            "Command: `python experiments/continuation.py --smoke --out ")
    fmt = per_prompt[per_prompt["source"].str.startswith("format-")]
    assert set(fmt["source"]) == {"format-160", "format-200", "format-240"}
    assert fmt["prompt"].nunique() == 8
    assert comp["nearer_own_format"].notna().any()
    assert (comp["own_format"] != comp["own_value"]).any()  # the format moves statistics
    table = pd.read_csv(out / "sources.csv")
    assert set(table["prompts"]) == {"fisher-like", "candor-like", "all"}
    table = table[table["prompts"] == "all"].set_index("source")
    assert set(table.index) == sources | formats | {"ground_truth", "resynth"}
    assert (table["n_continuations"] == 8).all()
    assert table["overlap_share"].between(0, 1).all()
    assert (table["overlap_share_lo"] <= table["overlap_share"] + 1e-12).all()
    assert (out / "sources.png").stat().st_size > 0
    persist = pd.read_csv(out / "persistence.csv")
    assert set(persist["window"]) == {"0-3 s", "3-6 s"}
    assert set(persist["source"]) == sources | {"ground_truth"}
    first = (out / "per_prompt.csv").read_bytes()
    for path in [*(out / "units").glob("syncllm-f-160_*.npy"),
                 *(out / "units").glob("inter-fc-160_*.npy")]:
        path.unlink()
    proc = run_experiment(*args, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (out / "per_prompt.csv").read_bytes() == first


def test_continuation_over_two_training_runs(tmp_path):
    """``--agents A B``: each run's one-run report in OUT/runs/runK (the same bytes as the
    run alone), one units cache, every r the mean over the runs with a two-level CI."""
    sys.path.insert(0, str(ROOT / "experiments"))
    from tiny_world import build_tiny_world

    first, corpora = build_tiny_world(tmp_path / "world")
    second, _ = build_tiny_world(tmp_path / "world", train_seed=1)
    study = ["--corpora", str(corpora), "--prompt-s", "3", "--continuation-s", "6",
             "--prompts", "4", "--splits", "train", "val", "test", "--chunk-ms", "160",
             "--no-resynth", "--pairs", "--windows", "0", "3", "6"]
    out = tmp_path / "two"
    proc = run_experiment("continuation.py", "--agents", str(first), str(second),
                          "--out", str(out), *study, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert not (out / "runs" / "run0" / "units").exists() and any((out / "units").iterdir())
    runs = pd.read_csv(out / "runs.csv")
    assert set(runs["run"]) == {0, 1} and set(runs["source"]) == {"syncllm-f-160",
                                                                  "syncllm-c-160"}
    pooled = pd.read_csv(out / "runs_in_distribution.csv").set_index("source")
    assert (pooled["n_runs"] == 2).all()
    for source, group in runs.groupby("source"):
        assert pooled.loc[source, "avg_r"] == pytest.approx(group["avg_r"].mean(), abs=1e-3,
                                                            nan_ok=True)
    corr = pd.read_csv(out / "runs_correlations.csv")
    prompt = corr[(corr["source"] == "prompt") & (corr["prompts"] == "all")
                  & (corr["reference"] == "ground_truth")].iloc[0]
    assert prompt["sd_runs"] == pytest.approx(0.0)  # no agent in it: the same in both runs
    report = (out / "REPORT.md").read_text()
    assert "# Continuation study over 2 training runs" in report and str(second) in report
    assert (out / "runs.png").stat().st_size > 0
    assert Image.open(out / "runs.png").info["Description"].startswith(
        "Command: `python experiments/continuation.py --agents ")
    # the first run alone, with its own cache: the same per-prompt bytes as inside the study
    inside = (out / "runs" / "run0" / "per_prompt.csv").read_bytes()
    alone = tmp_path / "alone"
    proc = run_experiment("continuation.py", "--agents", str(first), "--out", str(alone),
                          *study, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (alone / "per_prompt.csv").read_bytes() == inside
    bad = run_experiment("continuation.py", "--agents", str(first), str(first), "--out",
                         str(tmp_path / "x"), *study, timeout=120)
    assert bad.returncode == 2 and "a training run repeats" in bad.stderr


def test_effects_pool_seeds_and_difference_against_the_baseline_point():
    sys.path.insert(0, str(ROOT / "experiments"))
    from effects import effects

    table = pd.DataFrame({
        "delay": [0, 0, 320, 320], "seed": [0, 1, 0, 1],
        "fto_values_ms": [[-100.0, 200.0], [300.0], [400.0, 500.0], [-50.0, 600.0]],
    })
    eff = effects(table, ["delay"], "delay", 0).set_index("delay")
    assert eff.loc[0, "n_transitions"] == 3 and eff.loc[320, "n_transitions"] == 4
    assert eff.loc[0, "fto_median_ms"] == 200.0 and eff.loc[320, "fto_median_ms"] == 450.0
    assert eff.loc[320, "d_fto_median_ms"] == 250.0 and eff.loc[0, "d_fto_median_ms"] == 0.0
    assert eff.loc[320, "overlap_transition_share"] == 0.25
    lo, hi = eff.loc[320, ["d_fto_median_ms_lo", "d_fto_median_ms_hi"]]
    assert np.isnan(lo) and np.isnan(hi)  # 2 seeds: a bootstrap interval would have no level


def test_effects_intervals_hold_their_level_over_few_seeds():
    """A known truth, 5 seeds per point: the means' t intervals and the FTO medians'
    expanded bootstrap intervals cover it 95-100 % of the time (the plain percentile
    interval: 85-92 %); one seed gives no interval at all."""
    sys.path.insert(0, str(ROOT / "experiments"))
    import effects as E

    rng = np.random.default_rng(5)
    hits, reps = np.zeros(3), 60
    for rep in range(reps):
        u, v = rng.normal(0, 0.03, 5), rng.normal(0, 100, 5)
        table = pd.DataFrame([
            {"delay": d, "seed": s, "overlap_share": mu + u[s] + rng.normal(0, 0.02),
             "fto_values_ms": list(rng.normal(m + v[s], 300, 30))}
            for d, mu, m in ((0, 0.10, 100.0), (160, 0.15, 200.0)) for s in range(5)])
        e = E.effects(table, ["delay"], "delay", 0, seed=rep).set_index("delay").loc[160]
        hits += [e.overlap_share_lo <= 0.15 <= e.overlap_share_hi,
                 e.d_overlap_share_lo <= 0.05 <= e.d_overlap_share_hi,
                 e.fto_median_ms_lo <= 200 <= e.fto_median_ms_hi]
    assert (hits / reps >= 0.9).all(), hits / reps  # plain percentile: 0.85 for the mean
    one = E.effects(table[table.seed == 0], ["delay"], "delay", 0).set_index("delay")
    assert one.filter(like="_lo").isna().all().all()


def test_effects_interval_of_a_point_does_not_move_when_another_point_is_added():
    """A point's bootstrap depends on its data and the study seed only: adding a grid point
    (delay 80, sorting before the others) left every other point's FTO intervals and their
    difference intervals as they were (one stream for all points shifted them); another
    study seed moves them."""
    sys.path.insert(0, str(ROOT / "experiments"))
    from effects import effects, interactions

    rng = np.random.default_rng(3)
    rows = [{"b": b, "delay": d, "seed": s, "fto_values_ms": list(rng.normal(d, 300, 20))}
            for b in "fc" for d in (0, 80, 160) for s in range(6)]
    full = pd.DataFrame(rows)
    less = full[full.delay != 80]
    cols = ["fto_median_ms_lo", "fto_median_ms_hi", "d_fto_median_ms_lo", "d_fto_median_ms_hi"]
    keys = ["b", "delay"]
    got = effects(full, keys, "delay", 0).set_index(keys).loc[less.set_index(keys).index
                                                               .unique(), cols]
    pd.testing.assert_frame_equal(got, effects(less, keys, "delay", 0).set_index(keys)[cols])
    other = effects(less, keys, "delay", 0, seed=1).set_index(keys)[cols]
    assert not np.allclose(other.to_numpy(float), got.to_numpy(float), equal_nan=True)
    dd = ["dd_fto_median_ms_lo", "dd_fto_median_ms_hi"]
    with_80 = interactions(full, keys, "delay", 0, "b", "f").set_index(keys)
    pd.testing.assert_frame_equal(with_80.loc[[("c", 160)], dd], interactions(
        less, keys, "delay", 0, "b", "f").set_index(keys)[dd])


def test_effects_resample_conversations_and_pair_differences_by_seed():
    """Transitions of one conversation are not independent: 12 conversations whose 40
    transitions each sit at one conversation-level value give a CI as wide as the spread
    between conversations, not one 40x narrower; a point that is its baseline plus a
    constant in every seed has a paired difference CI of exactly that constant."""
    sys.path.insert(0, str(ROOT / "experiments"))
    from effects import effects

    level = np.linspace(-400.0, 400.0, 12)
    share = np.linspace(0.05, 0.30, 12)
    table = pd.DataFrame({
        "delay": [0] * 12 + [320] * 12, "seed": list(range(12)) * 2,
        "fto_values_ms": [[v] * 40 for v in level] + [[v + 100.0] * 40 for v in level],
        "overlap_share": np.concatenate([share, share + 0.02]),
    })
    eff = effects(table, ["delay"], "delay", 0).set_index("delay")
    assert eff.loc[0, "n_seeds"] == 12 and eff.loc[0, "n_transitions"] == 480
    lo, hi = eff.loc[0, ["fto_median_ms_lo", "fto_median_ms_hi"]]
    assert hi - lo > 200.0  # resampling the 480 transitions instead: [-36, 36]
    lo, hi = eff.loc[320, ["d_overlap_share_lo", "d_overlap_share_hi"]]
    assert abs(lo - 0.02) < 1e-9 and abs(hi - 0.02) < 1e-9
    assert abs(eff.loc[320, "d_fto_median_ms"] - 100.0) < 1e-9
    # a failed cell (delay 320, seed 11): the difference is over the 11 shared seeds, its
    # estimate inside its own CI; the point's own statistics over its 11 conversations
    partial = table.drop(index=23)
    eff = effects(partial, ["delay"], "delay", 0).set_index("delay")
    assert eff.loc[320, "n_seeds"] == 11 and eff.loc[320, "n_paired"] == 11
    assert abs(eff.loc[320, "d_overlap_share"] - 0.02) < 1e-9
    lo, hi = eff.loc[320, ["d_overlap_share_lo", "d_overlap_share_hi"]]
    assert abs(lo - 0.02) < 1e-9 and abs(hi - 0.02) < 1e-9
    assert abs(eff.loc[320, "overlap_share"] - (share[:11] + 0.02).mean()) < 1e-9


def test_interactions_difference_the_differences_by_seed():
    """A delay that adds 0.02 overlap with one partner and 0.05 with the other: the
    difference in differences is 0.03 exactly (paired by seed, so the seeds' own spread
    cancels), and 0 for a partner whose delay cost equals the baseline partner's."""
    sys.path.insert(0, str(ROOT / "experiments"))
    from effects import interactions

    base = np.linspace(0.05, 0.30, 10)
    cost = {"f": 0.02, "c": 0.05, "g": 0.02}
    rows = [{"b": b, "delay": d, "seed": s, "fto_values_ms": [100.0 * s + d],
             "overlap_share": base[s] + (cost[b] if d else 0.0) + (0.1 if b == "c" else 0.0)}
            for b in cost for d in (0, 240) for s in range(10)]
    dd = interactions(pd.DataFrame(rows), ["b", "delay"], "delay", 0, "b", "f").set_index("b")
    assert set(dd.index) == {"c", "g"} and (dd["n_seeds"] == 10).all()
    for b, want in (("c", 0.03), ("g", 0.0)):
        row = dd.loc[b]
        assert abs(row["dd_overlap_share"] - want) < 1e-9
        assert abs(row["dd_overlap_share_lo"] - want) < 1e-9
        assert abs(row["dd_overlap_share_hi"] - want) < 1e-9
        assert row["dd_fto_median_ms"] == 0.0  # the same +240 ms shift for every partner


def test_effects_estimate_and_interval_of_a_difference_use_the_same_seeds():
    """A conversation without a value (NaN) in one of two paired points: the difference's
    estimate was the mean over the point's seeds minus the mean over all the baseline's
    (0.038 here), its t interval over the seeds both have (exactly 0.02): an estimate
    outside its own zero-width CI. Both are over the seeds both have now; the same for a
    difference in differences."""
    sys.path.insert(0, str(ROOT / "experiments"))
    from effects import effects, interactions

    share = np.linspace(0.05, 0.30, 8)
    after = share + 0.02
    after[0] = np.nan  # seed 0's lowest value is missing at delay 320 only
    table = pd.DataFrame({"delay": [0] * 8 + [320] * 8, "seed": list(range(8)) * 2,
                          "fto_values_ms": [[100.0]] * 16,
                          "overlap_share": np.concatenate([share, after])})
    row = effects(table, ["delay"], "delay", 0).set_index("delay").loc[320]
    assert abs(row["d_overlap_share"] - 0.02) < 1e-9
    assert abs(row["d_overlap_share_lo"] - 0.02) < 1e-9
    assert abs(row["d_overlap_share_hi"] - 0.02) < 1e-9
    assert abs(row["overlap_share"] - np.nanmean(after)) < 1e-9  # the point: its own seeds
    rows = [{"b": b, "delay": d, "seed": s, "fto_values_ms": [100.0],
             "overlap_share": share[s] + (0.05 if b == "c" and d else 0.0)
             + (0.02 if b == "f" and d else 0.0)} for b in "fc" for d in (0, 240)
            for s in range(8)]
    rows[8 + 0]["overlap_share"] = np.nan  # b=f, delay 240, seed 0
    dd = interactions(pd.DataFrame(rows), ["b", "delay"], "delay", 0, "b", "f").loc[0]
    assert abs(dd["dd_overlap_share"] - 0.03) < 1e-9
    assert abs(dd["dd_overlap_share_lo"] - 0.03) < 1e-9


def test_style_persistence_follows_a_style_that_fades():
    """Per window of the continuation, r against the prompt: a source that keeps each
    prompt's IPU length keeps r = 1 in every window, one that keeps it for the first window
    only and then plays one fixed style has r = 1 there and NaN (no spread) after."""
    sys.path.insert(0, str(ROOT / "experiments"))
    from continuation_plan import Plan, Prompt
    from continuation_stats import persistence_table

    frames_s = 1000 // 40  # FRAME_MS = 40

    def speech(ipu_s: float, seconds: float) -> np.ndarray:
        """[2, T]: speaker 0 talks ipu_s, both silent 0.6 s, repeated; speaker 1 silent."""
        on, off = round(ipu_s * frames_s), round(0.6 * frames_s)
        row = np.tile(np.r_[np.full(on, 5), np.zeros(off, int)], 200)[: round(seconds * frames_s)]
        return np.stack([row, np.zeros_like(row)])

    styles = [0.8, 1.2, 1.6, 2.0, 2.6]
    prompts = [Prompt(f"c/{i}", "c", speech(s, 10), speech(s, 20)) for i, s in enumerate(styles)]
    faded = {(p.id, "agent", 0): np.concatenate([speech(s, 10), speech(1.0, 10)], axis=1)
             for p, s in zip(prompts, styles, strict=True)}
    plan = Plan(Path("."), Path("."), Path("."), windows_s=(0.0, 10.0, 20.0, 30.0))
    table = persistence_table(plan, prompts, faded, silence={0}).set_index(["window", "source"])
    # 20-30 s is past every continuation's end: reported with no r, not dropped
    assert set(table.index.get_level_values("window")) == {"0-10 s", "10-20 s", "20-30 s"}
    past = table.loc["20-30 s"]
    assert past[["ipu", "pause", "fto"]].isna().all().all()
    assert (past["n_short"] == 5).all() and (table.loc["0-10 s", "n_short"] == 0).all()
    assert table.loc[("0-10 s", "ground_truth"), "ipu"] > 0.99
    assert table.loc[("10-20 s", "ground_truth"), "ipu"] > 0.9  # IPUs cut at the edges
    assert table.loc[("0-10 s", "agent"), "ipu"] > 0.99
    assert np.isnan(table.loc[("10-20 s", "agent"), "ipu"])


def test_in_distribution_sets_each_agent_beside_its_corpus_prompt_row():
    """Each agent on its own corpus's prompts, beside that corpus's Prompt row over the same
    prompts: the prompt has no floor transfer on prompts 0-2, the agent none on prompt 3.
    Taken from the correlation table the Prompt row's fto r was over 9 of 12 prompts and the
    agent's over 11; both are over the 8 they share now, and n_fto says so."""
    sys.path.insert(0, str(ROOT / "experiments"))
    from continuation_stats import in_distribution

    from duplexsim.metrics.protocol import correlations

    rng = np.random.default_rng(0)
    rows = []
    for corpus in ("fisher-like", "candor-like"):
        for i in range(12):
            truth = rng.normal(size=3)
            means = {s: truth + rng.normal(size=3) for s in ("prompt", "syncllm-f-200",
                                                             "syncllm-c-200")}
            means["prompt"][2] = np.nan if i < 3 else means["prompt"][2]
            for agent in ("syncllm-f-200", "syncllm-c-200"):
                means[agent][2] = np.nan if i == 3 else means[agent][2]
            rows += [{"prompt": f"{corpus}/{i}", "corpus": corpus, "source": source,
                      "seed": 0 if source.startswith("syncllm") else -1,
                      **dict(zip(("ipu", "pause", "fto"), v, strict=True))}
                     for source, v in {"ground_truth": truth, **means}.items()]
    per_prompt = pd.DataFrame(rows)
    table = in_distribution([per_prompt])
    assert list(zip(table.agent, table.source, table.prompts, strict=True)) == [
        ("fisher", "syncllm-f-200", "fisher-like"), ("candor", "syncllm-c-200", "candor-like")]
    assert (table.n_fto == 8).all() and (table.n_ipu == 12).all()
    for row in table.itertuples():
        mine = per_prompt[(per_prompt.corpus == row.prompts)
                          & per_prompt.source.isin(["ground_truth", "prompt", row.source])]
        unpaired = correlations(mine).set_index("source")
        assert unpaired.loc["prompt", "n_fto"] == 9 and unpaired.loc[row.source, "n_fto"] == 11
        # by hand: fto of prompts 0-3 dropped from both rows
        shared = mine.assign(fto=mine.fto.mask(mine.prompt.str.endswith(("/0", "/1", "/2",
                                                                          "/3"))))
        paired = correlations(shared).set_index("source")
        assert row.prompt_avg_r == pytest.approx(paired.loc["prompt", "avg"])
        assert row.avg_r == pytest.approx(paired.loc[row.source, "avg"])
        assert row.ratio == pytest.approx(row.avg_r / row.prompt_avg_r)
        assert row.prompt_avg_r != pytest.approx(unpaired.loc["prompt", "avg"])
    # two runs of the same continuations: the same r, each run paired on its own
    two = in_distribution([per_prompt, per_prompt])
    assert two.avg_r.tolist() == pytest.approx(table.avg_r.tolist())
    assert two.prompt_avg_r.tolist() == pytest.approx(table.prompt_avg_r.tolist())
    assert (two.n_runs == 2).all() and (two.n_fto == 8).all()
