"""experiments/selfplay.py runs end to end on the tiny world, in a subprocess."""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from experiment_run import run_experiment
from PIL import Image

from duplexsim.metrics.intervals import MIN_BOOT_UNITS

ROOT = Path(__file__).parents[2]


def test_selfplay_smoke(tmp_path: Path) -> None:
    out = tmp_path / "selfplay"
    proc = run_experiment("selfplay.py", "--smoke", "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = pd.read_csv(out / "summary.csv")
    assert set(summary.source) == {"fisher", "candor", "fisher-like", "candor-like"}
    corpus = summary[summary.kind == "corpus"]
    few = corpus.n < MIN_BOOT_UNITS  # the tiny world's 4 dialogues: no bootstrap CI
    assert np.isfinite(corpus.value).all() and corpus.ci_lo[few].isna().all()
    assert (corpus.ci_lo[~few] <= corpus.value[~few] + 1e-9).all()
    assert (summary[summary.kind == "agent"].n == 2).all()  # the smoke's conversations
    assert (summary.runs == 1).all() and not (out / "runs.csv").exists()
    verdicts = pd.read_csv(out / "verdicts.csv")
    assert len(verdicts) == 10 and verdicts.met.dtype == bool
    assert "Verdicts (" in (out / "REPORT.md").read_text() and (out / "selfplay.png").is_file()
    assert "Command: `python experiments/selfplay.py --smoke" in (out / "REPORT.md").read_text()
    assert Image.open(out / "selfplay.png").info["Description"].startswith(
        "Command: `python experiments/selfplay.py --smoke")  # the figure names it too
    again = run_experiment("selfplay.py", "--smoke", "--out", str(out))
    assert again.returncode == 0  # reuses its conversations: same numbers
    assert pd.read_csv(out / "summary.csv").equals(summary)
    coord = pd.read_csv(out / "coordination.csv")
    assert list(coord.source) == ["fisher", "fisher-like", "candor", "candor-like"]
    both = coord.frame_overlap_share
    assert ((both >= 0) & (both <= coord.speech_share_per_side + 1e-9)).all()
    # one figure over reports (here the same report twice)
    png = tmp_path / "compare.png"
    fig = run_experiment("selfplay_compare.py", str(out), str(out), "--out", str(png),
                         timeout=300)
    assert fig.returncode == 0, fig.stderr[-2000:]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    bad = run_experiment("selfplay_compare.py", str(tmp_path / "nowhere"), "--out", str(png),
                         timeout=300)
    assert bad.returncode == 2 and "no summary.csv in:" in bad.stderr
    assert "Traceback" not in bad.stderr
    _two_training_runs(out, summary)


def _two_training_runs(smoke: Path, one_run: pd.DataFrame) -> None:
    """The smoke's agents and a second training run of their cards (another train seed):
    the CIs resample runs and their conversations; each run alone in runs.csv, and the
    first run's conversations are the one-run report's."""
    sys.path.insert(0, str(ROOT / "experiments"))
    from tiny_world import build_tiny_world

    world = smoke / "world"
    second, _ = build_tiny_world(world, train_seed=1)
    out = smoke.parent / "two-runs"
    args = ["--agents", str(world / "agents"), str(second), "--corpora", str(world / "corpora"),
            "--out", str(out), "--conversations", "2", "--duration-s", "6", "--chunk-ms",
            "160", "--n-boot", "50"]
    proc = run_experiment("selfplay.py", *args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = pd.read_csv(out / "summary.csv")
    agents = summary[summary.kind == "agent"]
    assert (agents.n == 4).all() and (agents.runs == 2).all()
    assert (summary[summary.kind == "corpus"].runs == 1).all()
    runs = pd.read_csv(out / "runs.csv")
    assert list(runs.run) == [str(world / "agents")] * 2 + [str(second)] * 2
    assert runs.run_verdicts_met.str.endswith(" of 10").all()
    first = runs[runs.run == str(world / "agents")].set_index("agent")
    alone = one_run[one_run.kind == "agent"].pivot(index="source", columns="stat",
                                                    values="value")
    for stat in ("overlap_share", "backchannels_per_min"):
        assert np.allclose(first.loc[["fisher", "candor"], stat],
                           alone.loc[["fisher", "candor"], stat], equal_nan=True)
    assert "Training runs (each alone" in (out / "REPORT.md").read_text()
    spread = pd.read_csv(out / "run_variance.csv")
    assert len(spread) == 8 and (spread.runs <= 2).all()
    finite = spread.dropna()
    assert (finite.sd_of_runs_themselves <= finite.sd_between_runs + 1e-12).all()
    per_conv = pd.read_csv(out / "per_conversation.csv")
    assert per_conv.groupby(["agent", "run"]).size().tolist() == [2, 2, 2, 2]
    bad = run_experiment("selfplay.py", "--agents", str(second), str(second), "--out",
                         str(smoke.parent / "x"))
    assert bad.returncode == 2 and "given twice" in bad.stderr and "Traceback" not in bad.stderr
    bad = run_experiment("selfplay.py", "--agents", str(world / "corpora"), "--out",
                         str(smoke.parent / "x"))
    assert bad.returncode == 2 and (f"no trained agent at {world / 'corpora' / 'fisher'}, "
                                  f"{world / 'corpora' / 'candor'} (allowed:") in bad.stderr


def test_who_ends_an_overlap() -> None:
    sys.path.insert(0, str(ROOT / "experiments"))
    from selfplay_tables import coordination, ended_by

    from duplexsim.metrics.activity import runs

    vad = np.zeros((2, 40), bool)
    vad[0, 0:10] = True   # side 0 speaks, side 1 comes in at 8: side 0 stops at 10 (holder)
    vad[1, 8:20] = True
    vad[1, 8:26] = True   # side 0 comes in at 18 over side 1 and stops first (incomer)
    vad[0, 18:22] = True
    vad[0, 32:38] = True  # both start together at 32: not counted
    vad[1, 32:36] = True
    starts, ends = runs(vad[0] & vad[1])
    assert ended_by(vad, starts, ends) == [("holder", 2), ("incomer", 4)]
    coord = coordination([vad])
    assert coord["ended_by_holder_share"] == 0.5
    assert abs(coord["holder_ended_mean_s"] - 0.08) < 1e-9


def test_coordination_of_nothing_is_undefined_not_zero() -> None:
    """No overlap episode, onset or ended episode: their mean length and shares are NaN (a
    mean over no episode read 0 s, and 'the holder ends none of them' read as 0 %)."""
    sys.path.insert(0, str(ROOT / "experiments"))
    from selfplay_tables import coordination

    vad = np.zeros((2, 50), bool)
    vad[0, :] = True  # side 0 talks from the first frame to the last; side 1 never
    coord = coordination([vad])
    assert coord["speech_share_per_side"] == 0.5
    assert coord["frame_overlap_share"] == 0.0 and coord["overlap_episodes_per_min"] == 0.0
    for key in ("overlap_episode_mean_s", "onsets_over_partner_share",
                "ended_by_holder_share", "holder_ended_mean_s", "incomer_ended_mean_s"):
        assert np.isnan(coord[key]), key


def _summary(tmp_path: Path, name: str, edit) -> Path:  # noqa: ANN001 - a table -> table
    rows = [(source, kind, stat, 0.5, 0.4, 0.6, 12)
            for source, kind in (("fisher", "agent"), ("fisher-like", "corpus"))
            for stat in ("overlap_share", "backchannels_per_min", "listener_onsets_per_s",
                         "fto_median_ms")]
    table = pd.DataFrame(rows, columns=["source", "kind", "stat", "value", "ci_lo", "ci_hi",
                                        "n"])
    folder = tmp_path / name
    folder.mkdir()
    edit(table).to_csv(folder / "summary.csv", index=False)
    return folder


def test_compare_reads_only_whole_summaries(tmp_path: Path) -> None:
    """A report's summary.csv that lacks a column, a row or a number, or holds a CI with its
    ends swapped or a row twice, is one line naming the file and row."""
    import pytest

    sys.path.insert(0, str(ROOT / "experiments"))
    from selfplay_compare import read_summary

    from duplexsim.errors import InputError

    good = read_summary(_summary(tmp_path, "good", lambda t: t), "fisher")
    assert good.loc[("fisher-like", "fto_median_ms")].value == 0.5
    empty = read_summary(_summary(tmp_path, "empty", lambda t: t.assign(
        value=t.value.where(t.stat != "fto_median_ms"))), "fisher")  # no transitions: empty
    assert np.isnan(empty.loc[("fisher", "fto_median_ms")].value)
    # a percentile bootstrap of a median can leave its estimate outside the CI: kept
    outside = read_summary(_summary(tmp_path, "outside", lambda t: t.assign(value=0.9)),
                           "fisher")
    assert outside.loc[("fisher", "fto_median_ms")].value == 0.9

    def set_cell(row: int, col: str, value: object):  # noqa: ANN202
        def edit(t: pd.DataFrame) -> pd.DataFrame:
            t[col] = t[col].astype(object)
            t.loc[row, col] = value
            return t
        return edit

    cases = {
        "nocol": (lambda t: t.drop(columns="ci_hi"), "no column ci_hi"),
        "word": (set_cell(2, "value", "abc"), "line 4: value: 'abc'"),
        "inf": (set_cell(1, "ci_lo", float("-inf")), "line 3: ci_lo"),
        "swapped": (set_cell(0, "ci_lo", 0.9), r"row 2: CI \[0.9, 0.6\] has its low end"),
        "twice": (lambda t: pd.concat([t, t.iloc[[3]]]), "row 10: source 'fisher', stat "
                  "'fto_median_ms' a second time"),
        "norow": (lambda t: t[t.source != "fisher-like"], "no row for source 'fisher-like'"),
    }
    for name, (edit, message) in cases.items():
        with pytest.raises(InputError, match=message.replace("(", r"\(")):
            read_summary(_summary(tmp_path, name, edit), "fisher")
    with pytest.raises(InputError, match="no row for source 'candor'"):
        read_summary(_summary(tmp_path, "other", lambda t: t), "candor")


def test_truncated_sampling_reaches_both_sides_and_the_cache_key(tmp_path: Path) -> None:
    """``--top-p`` / ``--top-k`` set both sides' sampling and key the conversation cache
    apart from untruncated runs (never read back as one); a bad value is one line."""
    sys.path.insert(0, str(ROOT / "experiments"))
    from cached import conversation_path
    from selfplay_plan import Plan, scenarios

    plain = Plan(agents=tmp_path, corpora=tmp_path, out=tmp_path, conversations=2)
    nucleus = Plan(agents=tmp_path, corpora=tmp_path, out=tmp_path, conversations=2,
                   top_p=0.9, top_k=20)
    cut = scenarios(nucleus, "fisher")
    assert all((s.a.top_p, s.b.top_p, s.a.top_k, s.b.top_k) == (0.9, 0.9, 20, 20) for s in cut)
    assert {conversation_path(tmp_path, s) for s in cut}.isdisjoint(
        conversation_path(tmp_path, s) for s in scenarios(plain, "fisher"))
    bad = run_experiment("selfplay.py", "--top-p", "0", "--out", str(tmp_path / "x"))
    assert bad.returncode == 2 and "--top-p" in bad.stderr and "Traceback" not in bad.stderr


def conversation(overlap_frames: int):  # noqa: ANN201 (continuation_stats.Scored)
    """A 20 s two-speaker conversation whose second speaker starts ``overlap_frames``
    before the first stops."""
    sys.path.insert(0, str(ROOT / "experiments"))
    from continuation_stats import Scored

    vad = np.zeros((2, 500), bool)
    vad[0, 0:200] = True
    vad[1, 200 - overlap_frames:400] = True
    return Scored.of(vad)


def test_two_level_bootstrap_covers_the_runs() -> None:
    """Three training runs, each playing four identical conversations that differ between
    runs: resampling conversations alone sees them as 12 independent draws; resampling runs
    first gives the spread of the run values themselves (wider), and a single run label is
    the one-level bootstrap exactly."""
    sys.path.insert(0, str(ROOT / "experiments"))
    from selfplay_tables import boot_draws, run_variance

    parts = [conversation(k) for k in (5, 20, 60) for _ in range(4)]
    runs = [k for k in range(3) for _ in range(4)]
    flat = boot_draws(parts, 400, 0).overlap_share
    nested = boot_draws(parts, 400, 0, runs).overlap_share
    assert nested.std() > 1.3 * flat.std()
    mixes = itertools.combinations_with_replacement((5, 20, 60), 3)  # 3 runs drawn
    assert set(np.round(nested, 9)) <= {round(float(np.mean(m)) * 40 / 20000, 9) for m in mixes}
    assert boot_draws(parts, 50, 0, [0] * 12).equals(boot_draws(parts, 50, 0))
    per_run = pd.DataFrame([{"agent": "fisher", **dict.fromkeys(
        ("overlap_share", "backchannels_per_min", "listener_onsets_per_s", "fto_median_ms"), v),
        **dict.fromkeys(("se_overlap_share", "se_backchannels_per_min",
                         "se_listener_onsets_per_s", "se_fto_median_ms"), se)}
        for v, se in ((1.0, 0.5), (3.0, 0.5))])
    row = run_variance(per_run).iloc[0]
    assert row.runs == 2 and abs(row.sd_between_runs - np.sqrt(2)) < 1e-12
    assert abs(row.sd_of_runs_themselves - np.sqrt(2 - 0.25)) < 1e-12


def test_two_level_intervals_count_the_runs_as_their_units() -> None:
    """The agents' two-level bootstrap resamples training runs first: 3 runs of 12
    conversations each are 3 units (no interval, as for 3 conversations), not 36 (an
    interval from 10 distinct upper-level draws); 5 runs get one; a corpus (one run) counts
    its conversations."""
    sys.path.insert(0, str(ROOT / "experiments"))
    from continuation_stats import Scored
    from selfplay_tables import boot_draws, summarize, verdict_table

    def conversation(overlap_frames: int) -> Scored:
        vad = np.zeros((2, 500), bool)
        vad[0, 0:200] = True
        vad[1, 200 - overlap_frames:400] = True
        vad[0, 300:310] = True  # a backchannel
        return Scored.of(vad)

    for n_runs, has_ci in ((3, False), (MIN_BOOT_UNITS, True)):
        runs = [r for r in range(n_runs) for _ in range(12)]
        played = {a: [conversation(5 + 7 * r + k + 2 * i) for r in range(n_runs)
                      for k in range(12)] for i, a in enumerate(("fisher", "candor"))}
        refs = {c: [conversation(10 + k) for k in range(12)]
                for c in ("fisher-like", "candor-like")}
        draws = {**{a: boot_draws(p, 200, i, runs) for i, (a, p) in enumerate(played.items())},
                 **{c: boot_draws(p, 200, 9) for c, p in refs.items()}}
        summary = summarize(played, refs, draws, runs=n_runs)
        agents = summary[summary.kind == "agent"]
        assert (agents.n == 12 * n_runs).all() and (agents.runs == n_runs).all()
        assert agents.ci_lo.notna().any() == has_ci and agents.ci_lo.isna().any() != has_ci
        assert summary[summary.kind == "corpus"].ci_lo.notna().any()
        diff = verdict_table(summary, draws).iloc[-1]
        assert "nan" not in diff.agent and ("no CI" not in diff.agent) == has_ci, diff.agent
        assert not diff.met or has_ci  # no interval: not met


def test_each_training_run_resamples_its_own_conversations_independently() -> None:
    """Two runs that played the same conversations: every run's bootstrap used the same
    seeds, so their resamples (and standard errors) were the same draws, correlated runs
    where they should be independent ones."""
    sys.path.insert(0, str(ROOT / "experiments"))
    from selfplay_plan import AGENTS, Plan
    from selfplay_tables import boot_draws, run_table

    parts = [conversation(5 + 3 * k) for k in range(8)]
    plan = Plan(agents=Path("run0"), corpora=Path("corpora"), out=Path("out"), n_boot=100,
                replicates=(Path("run1"),))
    played = {a: parts + parts for a in AGENTS}  # run 1 played what run 0 played
    refs = {c: parts for c in AGENTS.values()}
    ref_draws = {c: boot_draws(p, 100, 9) for c, p in refs.items()}
    table = run_table(plan, played, refs, ref_draws, [0] * 8 + [1] * 8)
    fisher = table[table.agent == "fisher"]
    assert (fisher.overlap_share.iloc[0] == fisher.overlap_share.iloc[1])  # same data ...
    assert fisher.se_overlap_share.iloc[0] != fisher.se_overlap_share.iloc[1]  # ... own draws
    # the stream is the run's: the same seed and run give the same draws
    assert boot_draws(parts, 50, 0, stream=(1,)).equals(boot_draws(parts, 50, 0, stream=(1,)))


def test_the_corpus_reference_counts_every_silence_unit_as_silence(monkeypatch):
    """A tokenizer with two silence units: frames of the second were speech in the corpus
    reference (VAD from ``{silence_unit}``), as they are not in the agents' conversations
    (``silence_units``)."""
    sys.path.insert(0, str(ROOT / "experiments"))
    from types import SimpleNamespace

    import selfplay_plan

    units = np.zeros((2, 100), np.int64)
    units[0, 10:40], units[1, 50:90] = 5, 1  # channel 1 speaks in unit 1, a silence unit
    corpus = SimpleNamespace(
        n_units=8, ids=lambda: ["d0"], units=lambda id: units,
        tokenizer=lambda: SimpleNamespace(silence_unit=0, silence_units=frozenset({0, 1})))
    monkeypatch.setattr("duplexsim.corpora.load_corpus", lambda path: corpus)
    plan = selfplay_plan.Plan(Path("a"), Path("c"), Path("o"), chunk_ms=200)
    vads, silence = selfplay_plan.corpus_reference(plan, "fisher-like")
    assert silence == {0, 1}
    assert not vads[0][1].any() and vads[0][0].sum() == 30


def test_compare_figure_names_its_command_and_commit(tmp_path: Path) -> None:
    """The figure is all selfplay_compare.py writes: it carries the provenance line (under
    the plot and in the PNG's Description), as every report does."""
    sys.path.insert(0, str(ROOT / "experiments"))
    import selfplay_compare

    folder = _summary(tmp_path, "good", lambda t: t)
    png = tmp_path / "compare.png"
    assert selfplay_compare.main([str(folder), "--out", str(png)]) == 0
    outside = _summary(tmp_path, "outside", lambda t: t.assign(value=0.9))  # above its CI
    assert selfplay_compare.main([str(outside), "--out", str(tmp_path / "o.png")]) == 0
    description = Image.open(png).info.get("Description", "")
    assert description.startswith("Command: `python experiments/selfplay_compare.py ")
    assert "(commit " in description
