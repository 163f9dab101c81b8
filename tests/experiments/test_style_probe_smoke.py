"""experiments/style_probe.py: the decisions it scores on a hand-made conversation, what
the style regression gains with and without a style in the data, and the run end to end on
the tiny world (in a subprocess)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from experiment_run import run_experiment
from PIL import Image

ROOT = Path(__file__).parents[2]
sys.path.insert(0, str(ROOT / "experiments"))


def test_chunk_events_stops_and_starts() -> None:
    from style_probe_decisions import chunk_events

    from duplexsim.tokens import SyncFormat

    fmt = SyncFormat(chunk_ms=160, n_units=10, silence_unit=0)  # 4 frames a chunk
    own = np.array([0, 0, 0, 0,   5, 6, 7, 8,   8, 8, 8, 8,   0, 0, 0, 0,
                    0, 0, 3, 3,   3, 0, 0, 0,   0, 0, 0, 0])
    partner = np.zeros_like(own)
    ids, s0, speaking, outcome = chunk_events(fmt, own, partner, np.array([0]))
    assert len(s0) == 7 and (ids[s0] == fmt.S0).all()
    # speaking at the end of the chunk before: chunks 2 and 3 (after 8s), 5 (after a 3)
    assert speaking.tolist() == [False, False, True, True, False, True, False]
    # chunk 1 starts (5 new), 2 goes on with the same unit (no new unit: no stop), 3 stops
    # (first new unit silence), 4 starts mid-chunk (first new unit 3), 5 goes on with 3 then
    # stops, but its first new unit is the silence: a stop; 6 stays silent
    assert outcome.tolist() == [False, True, False, True, True, True, False]


def test_heard_style_counts_whole_ipus_and_pauses_only() -> None:
    from style_probe_decisions import heard_style

    ipus = np.array([[0, 1000], [1500, 4000], [4600, 5200], [6000, 9000]], float)
    # window [500, 9000): the first IPU began before it, the last has no 200 ms of silence
    # after it in the window; whole IPUs 2.5 s and 0.6 s; pauses 0.5, 0.6 and 0.8 s
    ipu, pause = heard_style(ipus, 500, 9000, 200)
    assert ipu == pytest.approx(1.55) and pause == pytest.approx((0.5 + 0.6 + 0.8) / 3)
    # window [1500, 5300): the IPU ending at 5200 has only 100 ms of silence after it
    assert heard_style(ipus, 1500, 5300, 200) == pytest.approx((2.5, 0.6))
    ipu, pause = heard_style(ipus, 6100, 9500, 200)  # nothing whole
    assert np.isnan(ipu) and np.isnan(pause)


def test_style_gain_finds_a_style_and_only_a_style() -> None:
    from style_probe_stats import style_gain

    rng = np.random.default_rng(0)
    rows = []
    for d in range(40):
        for side in (0, 1):
            ipu = float(np.exp(rng.normal(0.3, 0.5)))
            p = 0.3 / ipu  # long-IPU speakers stop less
            rows.append(pd.DataFrame({
                "dialogue": f"d{d}", "side": side, "ipu_median_s": ipu,
                "pause_median_s": float(np.exp(rng.normal(-0.7, 0.4))),
                "event": (rng.random(300) < p).astype(int),
                "p_long": p, "p_short": 0.2}))
    dec = pd.concat(rows, ignore_index=True)
    # a view that knows nothing of the speaker: the style adds a clear gain
    assert np.nanmean(style_gain(dec, "p_short")) > 0.005
    # a view that already knows it: the style adds about nothing
    assert abs(np.nanmean(style_gain(dec, "p_long"))) < 0.002
    # a heard style that is the drawn one, read with noise, gains too
    noisy = dec.assign(heard_ipu_s=dec.ipu_median_s * np.exp(rng.normal(0, 0.2, len(dec))),
                       heard_pause_s=np.nan)
    assert np.nanmean(style_gain(noisy, "p_short", "heard")) > 0.003
    # events independent of the style: no gain beyond noise
    dec_flat = dec.assign(event=(rng.random(len(dec)) < 0.15).astype(int))
    assert np.nanmean(style_gain(dec_flat, None)) < 0.002


def test_style_probe_smoke(tmp_path: Path) -> None:
    out = tmp_path / "probe"
    proc = run_experiment("style_probe.py", "--smoke", "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    dec, summary = pd.read_csv(out / "decisions.csv"), pd.read_csv(out / "summary.csv")
    assert len(summary) == 2 and set(dec.state) == {"speaking", "silent"}
    for view in ("p_long", "p_short"):
        assert ((dec[view] >= 0) & (dec[view] <= 1)).all()
    assert (dec.history_chunks >= dec.short_chunks).all()
    assert "Command: `python experiments/style_probe.py --smoke" in (out / "REPORT.md").read_text()
    assert Image.open(out / "style_probe.png").info["Description"].startswith(
        "Command: `python experiments/style_probe.py --smoke")  # the figure names it too
    # the decisions of a run analysed again give the same summary
    again = tmp_path / "again"
    proc = run_experiment("style_probe.py", "--decisions", str(out / "decisions.csv"),
                          "--out", str(again), "--n-boot", "50")
    assert proc.returncode == 0, proc.stderr[-3000:]
    pd.testing.assert_frame_equal(pd.read_csv(again / "summary.csv"), summary)
    # two agents in folders of one name: one label each (both were "fisher on fisher-like",
    # and --decisions then pooled their decisions as one agent's)
    world = out / "world"
    shutil.copytree(world / "agents" / "candor", tmp_path / "other" / "fisher")
    corpus = str(world / "corpora" / "fisher-like")
    both = tmp_path / "both"
    proc = run_experiment("style_probe.py", "--pair", str(world / "agents" / "fisher"), corpus,
                          "--pair", str(tmp_path / "other" / "fisher"), corpus, "--chunk-ms",
                          "160", "--short-chunks", "2", "--start-s", "3", "--max-dialogues",
                          "1", "--n-boot", "5", "--out", str(both))
    assert proc.returncode == 0, proc.stderr[-3000:]
    labels = pd.read_csv(both / "summary.csv").label.tolist()
    assert len(set(labels)) == 2 and all(label.endswith(f" on {corpus}") for label in labels)
    # a split with no dialogue (the tiny corpora have none in val) says so, in one line; it
    # said "no chunk to score (allowed: dialogues longer than --start-s ...)"
    proc = run_experiment("style_probe.py", "--pair", str(world / "agents" / "fisher"),
                          str(world / "corpora" / "fisher-like"), "--split", "val",
                          "--out", str(tmp_path / "val"))
    assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert "--split: val:" in proc.stderr and "has no dialogue in it" in proc.stderr
    assert "(allowed: a split it has: test, train, all)" in proc.stderr
    # past the end of every dialogue: nothing to score, one line in the project's form and
    # status (it was a bare SystemExit: status 1, no flag named)
    proc = run_experiment("style_probe.py", "--pair", str(world / "agents" / "fisher"),
                          str(world / "corpora" / "fisher-like"), "--start-s", "3600",
                          "--out", str(tmp_path / "late"))
    err = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(err) == 1, proc.stderr[-3000:]
    assert err[0].startswith("--start-s: 3600: ") and "no chunk to score" in err[0], err
    assert "(allowed: " in err[0], err


def _decisions_frame() -> pd.DataFrame:
    from style_probe_decisions import DECISION_COLUMNS

    row = {"label": "a on b", "dialogue": "d0", "side": 0, "chunk": 5, "state": "silent",
           "event": 1, "history_chunks": 5, "p_long": 0.25, "p_short": 0.5,
           "heard_ipu_s": np.nan, "heard_pause_s": 0.4, "chunk_ms": 200, "short_chunks": 5,
           "start_s": 10.0, "ipu_median_s": np.nan, "pause_median_s": np.nan}
    assert set(row) == set(DECISION_COLUMNS)
    return pd.DataFrame([row, {**row, "chunk": 6, "state": "speaking", "event": 0}])


def test_read_decisions_reads_what_a_run_writes(tmp_path: Path) -> None:
    from style_probe_decisions import read_decisions

    path = tmp_path / "decisions.csv"
    _decisions_frame().to_csv(path, index=False)
    got = read_decisions(path)
    assert len(got) == 2 and got.p_long.tolist() == [0.25, 0.25]
    assert got.ipu_median_s.isna().all()  # a dialogue without a drawn style


@pytest.mark.parametrize(("change", "expected"), [
    (lambda f: f.drop(columns="p_long"), "no column p_long"),
    (lambda f: f.iloc[:0], "no rows"),
    (lambda f: f.assign(p_long=[0.2, 1.5]), "line 3: p_long: 1.5 (allowed: a number in [0, 1])"),
    (lambda f: f.assign(chunk=["5", "six"]), "line 3: chunk: 'six' (allowed: an integer)"),
    (lambda f: f.assign(side=[0, 0.5]), "line 3: side: 0.5 (allowed: an integer)"),
    (lambda f: f.assign(state=["silent", "talking"]), "line 3: state: 'talking'"),
    (lambda f: f.assign(event=[1, 2]), "line 3: event: 2 (allowed: 0 or 1)"),
    (lambda f: f.assign(chunk_ms=[200, 160]), "chunk_ms: 2 different values"),
    (lambda f: f.assign(chunk=[5, 5], state=["silent", "silent"], event=[1, 1]),
     "line 3: label: 'a on b' (allowed: one row per label, dialogue, side and chunk"),
    (lambda f: f.assign(heard_pause_s=[0.4, "x"]), "line 3: heard_pause_s: 'x'"),
    (lambda f: f.assign(start_s=[10.0, "inf"]), "line 3: start_s: inf (allowed: a number)"),
])
def test_read_decisions_refuses_what_it_cannot_analyse(tmp_path: Path, change,
                                                       expected: str) -> None:
    """Before, ``--decisions`` read any CSV: a missing column was a KeyError traceback,
    a probability of 1.5 or a word among the numbers went into the regressions."""
    from style_probe_decisions import read_decisions

    from duplexsim.errors import InputError

    path = tmp_path / "decisions.csv"
    change(_decisions_frame()).to_csv(path, index=False)
    with pytest.raises(InputError) as err:
        read_decisions(path)
    assert expected in str(err.value) and str(path) in str(err.value)
    assert "\n" not in str(err.value)


def test_read_decisions_refuses_a_file_that_is_not_csv(tmp_path: Path) -> None:
    from style_probe_decisions import read_decisions

    from duplexsim.errors import InputError

    for name, data in (("empty.csv", b""), ("latin1.csv", b"label,p\n\xe9t\xe9,1\n")):
        (tmp_path / name).write_bytes(data)
        with pytest.raises(InputError, match="not a readable CSV"):
            read_decisions(tmp_path / name)


def test_an_unknown_split_is_one_line_before_anything_runs(tmp_path: Path) -> None:
    """Before: any --split was taken, and one not in the corpus failed only after the agent
    was loaded, naming "split" rather than the flag."""
    proc = run_experiment("style_probe.py", "--split", "tset", "--pair", str(tmp_path / "a"),
                          str(tmp_path / "c"), "--out", str(tmp_path / "o"), timeout=120)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr and "--split" in proc.stderr
    assert "'tset'" in proc.stderr and "test" in proc.stderr
