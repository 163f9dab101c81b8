"""The demo's results page: corpus rows as recorded and through the token format, and a
corpus without a test split named as such."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cli_workspace import write_corpus

from duplexsim.demo.report import corpus_rows, write_demo_report

LINE = "Command: `duplexsim demo --out runs/demo` (commit abc1234)."


def fake_simulation(out: Path, chunk_ms: int) -> Path:
    """What the demo's simulation stage leaves: metrics, a timeline, the resolved scenario."""
    out.mkdir(parents=True)
    (out / "metrics.json").write_text(json.dumps({
        "fto_median_ms": 120.0, "fto_values_ms": [80.0, 160.0], "silence_units": [0]}))
    pd.DataFrame({"t_ms": np.arange(0, 2000, 40), "a_played": 1, "b_played": 0}).to_parquet(
        out / "timeline.parquet")
    (out / "scenario.toml").write_text(f'name = "x"\nchunk_ms = {chunk_ms}\n')
    return out


def test_corpus_rows_as_recorded_and_through_the_format(tmp_path):
    """The simulated conversations speak through the token format at 200 ms: they are held
    against the corpus through it too (it was the raw corpus alone), and a corpus without a
    test split says it covers every dialogue (it fell back without a word)."""
    write_corpus(tmp_path / "fl")
    write_corpus(tmp_path / "cl", splits=("train", "val"))
    rows, scope = corpus_rows(tmp_path / "fl", [None, 200])
    recorded, through = rows[None][0], rows[200][0]
    assert scope == "test split"
    assert recorded["speech_share"] != through["speech_share"]  # onsets on the chunk grid
    assert corpus_rows(tmp_path / "cl")[1] == "every dialogue (no test split)"
    sim = fake_simulation(tmp_path / "sims" / "fisher-candor-200ms", 200)
    table = write_demo_report([sim], {"fisher-like": tmp_path / "fl",
                                      "candor-like": tmp_path / "cl"}, tmp_path / "out",
                              provenance=LINE)
    assert list(table.index) == [
        "corpus fisher-like recorded", "corpus fisher-like through the format (200 ms)",
        "corpus candor-like recorded [every dialogue (no test split)]",
        "corpus candor-like through the format (200 ms) [every dialogue (no test split)]",
        "fisher-candor-200ms"]
    share = table["speech share"]
    assert (share.iloc[0], share.iloc[1]) == (recorded["speech_share"], through["speech_share"])
    summary = (tmp_path / "out" / "SUMMARY.md").read_text()
    assert "candor-like: every dialogue (no test split)" in summary


def test_each_test_dialogue_is_read_once_for_every_chunk_size(tmp_path, monkeypatch):
    """The recorded row and the rows through the format come from one read of each
    dialogue's units (each was read once per row: twice with one chunk size, ~2 s of the
    demo's report)."""
    from collections import Counter

    from duplexsim.corpora.corpus import Corpus

    write_corpus(tmp_path / "fl")
    reads: Counter = Counter()
    units = Corpus.units

    def counted(self, id):  # noqa: ANN001, ANN202, A002 - the real read, counted
        reads[id] += 1
        return units(self, id)

    monkeypatch.setattr(Corpus, "units", counted)
    sims = [fake_simulation(tmp_path / "sims" / f"s{c}", c) for c in (160, 200)]
    table = write_demo_report(sims, {"fisher-like": tmp_path / "fl"}, tmp_path / "out",
                              provenance=LINE)
    assert len(table) == 3 + 2  # recorded, through 160 and 200 ms; two simulations
    test_ids = Corpus(tmp_path / "fl").ids("test")
    assert reads and set(reads) == set(test_ids) and set(reads.values()) == {1}


def test_the_summary_and_the_plot_name_the_command_and_commit_that_made_them(tmp_path,
                                                                          monkeypatch):
    """SUMMARY.md and demo.png carry the ``duplexsim demo`` line with every setting and the
    commit (they named neither: a figure could not be traced to the code or the sizes that
    made it), and the line's arguments run the same plan."""
    import argparse
    import shlex

    from PIL import Image

    from duplexsim.demo import DemoPlan, add_arguments, demo_args, plan_from_args
    from duplexsim.provenance import commit

    write_corpus(tmp_path / "fl")
    sim = fake_simulation(tmp_path / "sims" / "fisher-candor-200ms", 200)
    write_demo_report([sim], {"fisher-like": tmp_path / "fl"}, tmp_path / "out",
                      provenance=LINE)
    assert (tmp_path / "out" / "SUMMARY.md").read_text().splitlines()[:3] == [
        "# duplexsim demo", "", LINE]
    assert Image.open(tmp_path / "out" / "demo.png").info["Description"] == LINE
    plan = DemoPlan(root=tmp_path / "r", out=tmp_path / "o", corpus_hours=0.123456789,
                    train_side_by_side=False, train_max_minutes=2.5, sim_seconds=7.0, seed=3)
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert plan_from_args(parser.parse_args(demo_args(plan))) == plan
    # the demo writes its results with that line (the stages stand in)
    from duplexsim.demo import cli as demo_cli

    calls = []
    for stage in ("build_corpora", "train_agents", "check_cards", "check_scenarios"):
        monkeypatch.setattr(demo_cli, stage, lambda plan: None)
    monkeypatch.setattr(demo_cli, "simulate", lambda plan: [sim])
    monkeypatch.setattr("duplexsim.demo.report.write_demo_report",
                        lambda *a, **k: calls.append(k["provenance"]) or pd.DataFrame())
    assert demo_cli.run(parser.parse_args(demo_args(plan))) == 0
    assert calls == [f"Command: `duplexsim demo {shlex.join(demo_args(plan))}` "
                     f"(commit {commit()})."]


def test_the_plot_counts_every_fto_the_legend_counts(tmp_path, monkeypatch):
    """An FTO beyond the histogram's -1500..2000 ms lands in its end bin (the legend's n
    counts it): it was left out, and the density of the others raised to make up for it."""
    from matplotlib.axes import Axes

    write_corpus(tmp_path / "fl")
    sim = fake_simulation(tmp_path / "sims" / "fisher-candor-200ms", 200)
    metrics = json.loads((sim / "metrics.json").read_text())
    metrics["fto_values_ms"] = [-3000.0, -2500.0, 100.0, 5000.0]
    (sim / "metrics.json").write_text(json.dumps(metrics))
    drawn = {}
    hist = Axes.hist

    def recorded(self, x, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        result = hist(self, x, *args, **kwargs)
        drawn[kwargs.get("label", "").split(" (")[0]] = result[0]
        return result

    monkeypatch.setattr(Axes, "hist", recorded)
    write_demo_report([sim], {"fisher-like": tmp_path / "fl"}, tmp_path / "out",
                      provenance=LINE)
    density = drawn["fisher-candor-200ms"]
    assert (density[0] * 100, density[-1] * 100) == pytest.approx((0.5, 0.25))
