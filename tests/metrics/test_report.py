"""`duplexsim report` on a real (small) sweep run: tables with CIs, PNG plots."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from duplexsim.cli import main
from duplexsim.metrics.report import summarize
from duplexsim.sweeps import load_sweep, run_sweep

SWEEPS = Path(__file__).parents[1] / "sweeps"


@pytest.fixture()
def run_dir(tmp_path, monkeypatch) -> Path:
    monkeypatch.syspath_prepend(str(SWEEPS))
    (tmp_path / "base.toml").write_text("name = 'b'\n[a]\nkind = 'replay'\n[network]\n"
                                        "preset = 'lan'\n[network.a_to_b]\ndelay_ms = 0.0\n")
    (tmp_path / "s.toml").write_text(f"""[sweep]
name = "rep"
base = "{tmp_path / 'base.toml'}"
seeds = [0, 1, 2]
workers = 1
cell = "sweep_cellfns:turntaking_cell"
[sweep.grid]
"network.a_to_b.delay_ms" = [0, 160, 480]
"a.estimation" = ["model", "silence"]
""")
    out = tmp_path / "run"
    run_sweep(load_sweep(tmp_path / "s.toml", check_scenarios=False), out, progress=False)
    return out


def test_report_writes_tables_and_plots(run_dir):
    assert main(["report", str(run_dir)]) == 0
    report = (run_dir / "report" / "REPORT.md").read_text()
    assert report.startswith("# Sweep report: rep\n")  # the sweep's name, not the folder's
    assert "| network.a_to_b.delay_ms | a.estimation | seeds |" in report
    assert "±" in report and "![gap_median_ms]" in report
    pngs = {p.name for p in (run_dir / "report").glob("*.png")}
    assert {"gap_median_ms_vs_delay_ms.png", "fto_hist.png",
            "estimation_vs_lookahead.png"} <= pngs
    assert f"Command: `duplexsim report {run_dir}` (commit " in report
    for name in pngs:  # real PNG files, each naming the command that made it
        png = (run_dir / "report" / name).read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and b"Command: `duplexsim report" in png
    assert "| 480 | model | 4 | 120 | 0.225 |" in report  # 0.9 / depth 4, 3 seeds x 40 frames


def test_a_rerun_removes_only_the_files_a_report_wrote(run_dir):
    """``duplexsim report`` cleared ``report/`` whole: a user's notes there were lost. It
    removes what the earlier report wrote and does not write again (its plots against a
    delay, rerun with another --x), and leaves the rest."""
    folder = run_dir / "report"
    assert main(["report", str(run_dir)]) == 0
    plots = {p.name for p in folder.glob("*_vs_delay_ms.png")}
    assert "gap_median_ms_vs_delay_ms.png" in plots
    (folder / "notes.md").write_text("my notes\n")
    (folder / "mine.png").write_bytes(b"\x89PNG mine")
    (folder / "drafts").mkdir()
    (folder / "drafts" / "a.txt").write_text("draft\n")
    assert main(["report", str(run_dir), "--x", "a.estimation"]) == 0  # no plots against it
    left = {p.name for p in folder.iterdir()}
    assert not plots & left and {"REPORT.md", "summary.csv", "fto_hist.png"} <= left
    assert (folder / "notes.md").read_text() == "my notes\n"
    assert (folder / "mine.png").read_bytes() == b"\x89PNG mine"
    assert (folder / "drafts" / "a.txt").read_text() == "draft\n"



def _recorded(folder: Path) -> dict[str, list[str]]:
    """The report's record of its files: name -> sha256 digests."""
    import json

    return json.loads((folder / "report_files.json").read_text())["files"]


def _sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_rerun_replaces_its_own_files_and_records_them(run_dir):
    """Each file the report wrote is recorded with the sha256 of its bytes; a rerun writes
    the same bytes over them (its output the same as before the record was kept)."""
    folder = run_dir / "report"
    assert main(["report", str(run_dir)]) == 0
    first = {p.name: p.read_bytes() for p in folder.iterdir()}
    assert _recorded(folder) == {n: [_sha256(folder / n)] for n in first
                                 if n != "report_files.json"}
    (folder / "fto_hist.png").write_bytes(b"\x89PNG edited")  # the rerun draws it again
    assert main(["report", str(run_dir)]) == 0
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == first


def test_a_rerun_keeps_a_users_plot_linked_from_an_edited_report(run_dir):
    """A rerun removed every plot its REPORT.md linked: a user's own plot, linked from their
    edit of it, too. It removes what its record names, where the bytes are still the ones
    it wrote: a plot of its own that the user replaced stays too."""
    folder = run_dir / "report"
    assert main(["report", str(run_dir)]) == 0
    with (folder / "REPORT.md").open("a") as f:
        f.write("\n![mine](mine.png)\n")
    (folder / "mine.png").write_bytes(b"\x89PNG mine")
    (folder / "gap_median_ms_vs_delay_ms.png").write_bytes(b"\x89PNG my own redraw")
    assert main(["report", str(run_dir), "--x", "a.estimation"]) == 0  # no plots against it
    left = {p.name for p in folder.iterdir()}
    assert {p for p in left if p.endswith("_vs_delay_ms.png")} == \
        {"gap_median_ms_vs_delay_ms.png"}
    assert (folder / "mine.png").read_bytes() == b"\x89PNG mine"
    assert (folder / "gap_median_ms_vs_delay_ms.png").read_bytes() == b"\x89PNG my own redraw"
    assert "![mine]" not in (folder / "REPORT.md").read_text()  # the report's, anew
    assert set(_recorded(folder)) == {"REPORT.md", "summary.csv", "fto_hist.png",
                                      "estimation_vs_lookahead.png"}


def test_plots_of_a_report_killed_before_its_report_md_are_removed(run_dir):
    """A report killed after moving its plots in, before REPORT.md (moved last), left plots
    that no REPORT.md linked: no rerun removed them. Its record, written before the moves,
    names them. (A kill runs no cleanup: SIGKILL at the move of REPORT.md.)"""
    import subprocess
    import sys
    import textwrap

    folder = run_dir / "report"
    code = textwrap.dedent(f"""
        import os, signal
        from pathlib import Path
        from duplexsim.cli import main
        replace = os.replace
        def killed_at_the_marker(src, dst):
            if Path(dst) == Path({str(folder)!r}) / "REPORT.md":
                os.kill(os.getpid(), signal.SIGKILL)
            replace(src, dst)
        os.replace = killed_at_the_marker
        main(["report", {str(run_dir)!r}])
    """)
    assert subprocess.run([sys.executable, "-c", code]).returncode == -9
    plots = {p.name for p in folder.glob("*_vs_delay_ms.png")}
    assert "gap_median_ms_vs_delay_ms.png" in plots and not (folder / "REPORT.md").exists()
    assert main(["report", str(run_dir), "--x", "a.estimation"]) == 0
    assert not plots & {p.name for p in folder.iterdir()}
    assert not list(folder.glob(".staging-*"))  # the killed report's, removed by the rerun


def _fail_at_the_second_move(monkeypatch, folder: Path, error: BaseException) -> None:
    """os.replace raises ``error`` at the second file moved from the staging folder into
    ``folder`` (the first one is moved in)."""
    import os

    replace, moves = os.replace, []

    def failing(src, dst):
        if Path(dst).parent == folder and Path(src).parent.name.startswith(".staging-"):
            moves.append(dst)
            if len(moves) == 2:
                raise error
        replace(src, dst)
    monkeypatch.setattr(os, "replace", failing)


def _contents(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


@pytest.mark.parametrize("error,code", [(OSError(28, "No space left on device"), 2),
                                        (KeyboardInterrupt(), 130)])
def test_a_failed_report_leaves_no_new_report_folder(run_dir, monkeypatch, capsys, error, code):
    """A report that failed among its moves left a brand-new report/ half-built: its
    record (written before the moves) and the files moved before the failure. What it
    created goes; the run folder is as before."""
    before = _contents(run_dir)
    _fail_at_the_second_move(monkeypatch, run_dir / "report", error)
    assert main(["report", str(run_dir)]) == code
    assert not (run_dir / "report").exists()
    assert _contents(run_dir) == before
    assert len(capsys.readouterr().err.splitlines()) == 1


def test_a_failed_report_keeps_what_its_folder_held(run_dir, monkeypatch):
    """In a report/ that was there (a user's notes, an empty folder of theirs), a failure
    removes the record and files it created and keeps the rest; a rerun then writes the
    report as if the failed one never ran."""
    import os

    folder, replace = run_dir / "report", os.replace
    (folder / "drafts").mkdir(parents=True)
    (folder / "notes.md").write_text("my notes\n")
    before = _contents(run_dir)
    _fail_at_the_second_move(monkeypatch, folder, OSError(28, "No space left on device"))
    assert main(["report", str(run_dir)]) == 2
    assert _contents(run_dir) == before and (folder / "drafts").is_dir()
    assert sorted(p.name for p in folder.iterdir()) == ["drafts", "notes.md"]
    monkeypatch.setattr(os, "replace", replace)
    assert main(["report", str(run_dir)]) == 0
    assert (folder / "notes.md").read_text() == "my notes\n"
    assert set(_recorded(folder)) == {p.name for p in folder.iterdir()} - {
        "drafts", "notes.md", "report_files.json"}


def test_a_report_made_before_its_record_is_cleaned_by_its_links(run_dir):
    """A report without the record (made before reports kept one) is what its REPORT.md
    links, as before; the rerun records its own files."""
    folder = run_dir / "report"
    assert main(["report", str(run_dir)]) == 0
    (folder / "report_files.json").unlink()
    (folder / "mine.png").write_bytes(b"\x89PNG mine")  # not linked: stays
    assert main(["report", str(run_dir), "--x", "a.estimation"]) == 0
    left = {p.name for p in folder.iterdir()}
    assert not {p for p in left if p.endswith("_vs_delay_ms.png")}
    assert (folder / "mine.png").read_bytes() == b"\x89PNG mine"
    assert set(_recorded(folder)) == left - {"mine.png", "report_files.json"}


@pytest.mark.parametrize("record,key", [
    ('{"files": {"../results.parquet": []}}', "files.'../results.parquet'"),
    ('{"files": {"fto_hist.png": ["abc"]}}', "files.'fto_hist.png'"),
    ('{"files": ["fto_hist.png"]}', "files"),
    ('{"files": {', "line 1"),
])
def test_a_bad_record_is_refused_before_any_write(run_dir, capsys, record, key):
    """A record naming a file outside report/ (the sweep's results) is no licence to
    remove it; nor is one without digests: one line, and nothing written."""
    folder = run_dir / "report"
    folder.mkdir()
    (folder / "report_files.json").write_text(record)
    assert main(["report", str(run_dir)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and f"report_files.json: {key}" in err[0], err
    assert (run_dir / "results.parquet").is_file()
    assert {p.name for p in folder.iterdir()} == {"report_files.json"}

def test_summary_means_match_the_table(run_dir):
    import pandas as pd

    table = pd.read_parquet(run_dir / "results.parquet")
    s = summarize(table, ["network.a_to_b.delay_ms"], ["gap_median_ms"])
    assert s["seeds"].tolist() == [6, 6, 6]
    expect = table.groupby("network.a_to_b.delay_ms", sort=False)["gap_median_ms"].mean()
    assert s["gap_median_ms"].to_numpy() == pytest.approx(expect.to_numpy())


def test_report_x_must_be_swept_and_partial_means_say_n(run_dir, capsys):
    for x in ("seed", "gap_median_ms"):
        assert main(["report", str(run_dir), "--x", x]) == 2
        assert f"--x: '{x}' is not a swept column" in capsys.readouterr().err
    import pandas as pd

    table = pd.read_parquet(run_dir / "results.parquet")
    table.loc[0, "gap_median_ms"] = float("nan")  # one conversation without a gap
    from duplexsim.metrics.report import markdown_table

    keys = ["network.a_to_b.delay_ms", "a.estimation"]
    text = markdown_table(summarize(table, keys, ["gap_median_ms"]), ["gap_median_ms"], keys)
    first, second = text.splitlines()[2:4]
    assert first.startswith("| 0 | model | 3 |") and first.endswith("(n=2) |")
    assert "(n=" not in second  # all three seeds there: no note


def test_a_sweep_json_that_does_not_describe_the_table_is_refused(run_dir, capsys):
    """sweep.json without a grid key the table varies (a later sweep killed mid-run wrote
    it before the cells it describes): its cells would pool as seeds, a seed counted twice."""
    import json

    meta = json.loads((run_dir / "sweep.json").read_text())
    meta["grid_keys"] = ["network.a_to_b.delay_ms"]
    (run_dir / "sweep.json").write_text(json.dumps(meta))
    assert main(["report", str(run_dir)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "sweep.json: grid_keys" in err[0] and "a seed twice" in err[0]
    (run_dir / "sweep.json").unlink()
    assert main(["report", str(run_dir)]) == 2


def test_the_sweep_json_is_written_with_the_table(tmp_path, monkeypatch):
    """A run that stops before its table is written leaves the earlier sweep.json."""
    monkeypatch.syspath_prepend(str(SWEEPS))
    (tmp_path / "base.toml").write_text("name = 'b'\n[a]\nkind = 'replay'\n")
    (tmp_path / "s.toml").write_text(f"""[sweep]
name = "rep"
base = "{tmp_path / 'base.toml'}"
seeds = [0]
workers = 1
cell = "sweep_cellfns:turntaking_cell"
""")
    out = tmp_path / "run"
    import duplexsim.sweeps.runner as runner

    def killed(*_a, **_k):
        raise KeyboardInterrupt
    monkeypatch.setattr(runner, "collect", killed)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(load_sweep(tmp_path / "s.toml", check_scenarios=False), out, progress=False)
    assert not (out / "sweep.json").exists()


def test_report_on_a_missing_run_says_what_to_do(tmp_path, capsys):
    assert main(["report", str(tmp_path / "nothing")]) == 2
    assert "duplexsim sweep" in capsys.readouterr().err


def test_report_of_a_sweep_without_finished_cells_is_refused(tmp_path, capsys):
    """A sweep whose every cell failed wrote a REPORT.md of "0 cells" and exit 0."""
    import pandas as pd

    (tmp_path / "run").mkdir()
    pd.DataFrame({"seed": pd.Series([], dtype=int)}).to_parquet(
        tmp_path / "run" / "results.parquet")
    (tmp_path / "run" / "failures.json").write_text('{"abc": {"error": "boom"}}')
    assert main(["report", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "results.parquet: no finished cells (see " in err[0], err
    assert not (tmp_path / "run" / "report").exists()
    # none ran (--limit 0): the sweep's failures.json is {}, so not pointed to
    (tmp_path / "run" / "failures.json").write_text("{}")
    assert main(["report", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "results.parquet: no finished cells (allowed: " in err[0], err


def test_report_without_sweep_json_is_titled_by_its_folder(tmp_path):
    """A results table with no sweep.json beside it (no recorded sweep name) takes the
    folder's name as its title."""
    import pandas as pd

    (tmp_path / "mine").mkdir()
    pd.DataFrame({"seed": [0, 1], "gap_median_ms": [100.0, 120.0]}).to_parquet(
        tmp_path / "mine" / "results.parquet")
    assert main(["report", str(tmp_path / "mine")]) == 0
    report = (tmp_path / "mine" / "report" / "REPORT.md").read_text()
    assert report.startswith("# Sweep report: mine\n")


def test_fto_histogram_without_transfers_is_drawn_without_a_warning(tmp_path):
    """A sweep of short conversations with no floor transfer printed matplotlib's "No
    artists with labels found to put in legend" warning from `duplexsim report`."""
    import warnings

    import pandas as pd

    from duplexsim.metrics.report import plot_fto_hist

    table = pd.DataFrame({"delay": [0, 80], "fto_values_ms": [[], []]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plot_fto_hist(table, ["delay"], None, tmp_path / "fto_hist.png")
    assert (tmp_path / "fto_hist.png").stat().st_size > 0


def test_list_columns_holding_nan_are_rows_without_lists(tmp_path):
    """A table of ``trace_metrics`` rows made with and without ``lists=True`` holds NaN (not
    None, as a Parquet null reads) where a row lacks the lists: both readers of those
    columns failed on it (``zip`` over a float, ``np.asarray(nan)`` is 0-d)."""
    import pandas as pd

    from duplexsim.metrics.report import estimation_by_lookahead, plot_fto_hist

    table = pd.DataFrame([
        {"delay": 0, "fto_values_ms": [100.0, -40.0], "est_lookahead": [1, 2],
         "est_unit_accuracy_by_lookahead": [0.5, 0.25], "est_frames_by_lookahead": [4.0, 4.0]},
        {"delay": 0},  # no lists: NaN in each list column
    ])
    assert table["est_lookahead"].isna().tolist() == [False, True]
    est = estimation_by_lookahead(table, ["delay"])
    assert est[["lookahead", "frames", "unit_accuracy"]].values.tolist() == [
        [1, 4.0, 0.5], [2, 4.0, 0.25]]
    plot_fto_hist(table, ["delay"], None, tmp_path / "fto_hist.png")
    assert (tmp_path / "fto_hist.png").stat().st_size > 0


def test_report_names_effects_tables_made_from_earlier_results(run_dir, monkeypatch, capsys):
    """An experiment's effects table beside a sweep goes stale when the sweep is extended or
    rerun; `duplexsim report` then says which (it left them as they were without a word)."""
    import pandas as pd

    monkeypatch.syspath_prepend(str(Path(__file__).parents[2] / "experiments"))
    from effects import write_effects

    keys = ["network.a_to_b.delay_ms", "a.estimation"]
    write_effects(run_dir, keys, "network.a_to_b.delay_ms", 0, name="effects_vs_delay0")
    assert main(["report", str(run_dir)]) == 0  # made from these results: current
    assert "Stale" not in (run_dir / "report" / "REPORT.md").read_text()
    assert "note:" not in capsys.readouterr().err
    table = pd.read_parquet(run_dir / "results.parquet")  # a rerun with one seed fewer
    table[table["seed"] != 2].to_parquet(run_dir / "results.parquet")
    assert main(["report", str(run_dir)]) == 0
    assert "**Stale beside this report**: effects_vs_delay0.md" in \
        (run_dir / "report" / "REPORT.md").read_text()
    assert "effects_vs_delay0.md" in capsys.readouterr().err
    write_effects(run_dir, keys, "network.a_to_b.delay_ms", 0, name="effects_vs_delay0")
    assert main(["report", str(run_dir)]) == 0
    assert "Stale" not in (run_dir / "report" / "REPORT.md").read_text()


def test_report_looks_for_stale_tables_once(run_dir, monkeypatch, capsys):
    """The report and the command's note name the stale tables from one look (the command
    looked again after writing the report, reading every table and digest a second time)."""
    import pandas as pd

    import duplexsim.metrics.report as report

    monkeypatch.syspath_prepend(str(Path(__file__).parents[2] / "experiments"))
    from effects import write_effects

    write_effects(run_dir, ["network.a_to_b.delay_ms", "a.estimation"],
                  "network.a_to_b.delay_ms", 0, name="effects_vs_delay0")
    table = pd.read_parquet(run_dir / "results.parquet")
    table[table["seed"] != 2].to_parquet(run_dir / "results.parquet")
    looks = []
    look = report.stale_tables
    monkeypatch.setattr(report, "stale_tables", lambda d: looks.append(d) or look(d))
    assert main(["report", str(run_dir)]) == 0
    assert len(looks) == 1
    assert "**Stale beside this report**: effects_vs_delay0.md" in \
        (run_dir / "report" / "REPORT.md").read_text()
    assert "note: effects_vs_delay0.md" in capsys.readouterr().err


def test_a_corpus_without_test_transfers_is_said_not_silently_dropped(run_dir, tmp_path):
    """``--corpus`` with an empty test split (one conversation: ``assign_splits`` gives it to
    train) drew the histogram without a reference and said nothing about it."""
    from duplexsim.corpora import load_corpus
    from duplexsim.corpora.build import build_corpus
    from duplexsim.corpora.config import load_config

    corpus = tmp_path / "one"
    build_corpus(corpus, load_config("fisher-like", conversation_s=20.0), hours=20 / 3600,
                 seed=0, preset="fisher-like", cache_dir=tmp_path / "tts", workers=1,
                 n_units=32)
    assert not load_corpus(corpus).ids(split="test")
    assert main(["report", str(run_dir), "--corpus", str(corpus)]) == 0
    report = (run_dir / "report" / "REPORT.md").read_text()
    assert "(the corpus's test split has no floor transfers: no corpus reference)" in report


def test_a_report_interrupted_after_its_files_moved_in_keeps_them(run_dir, monkeypatch):
    """Ctrl-C while output_dir removed its staging folder, every file moved in: the
    report's cleanup took the finished write for a failed one and removed the new plots
    (new names) while the new REPORT.md that links them stayed."""
    import shutil

    from duplexsim import atomic

    assert main(["report", str(run_dir), "--x", "a.estimation"]) == 0
    folder, rmtree = run_dir / "report", shutil.rmtree

    def late(path, *args, **kwargs):
        rmtree(path, *args, **kwargs)
        if Path(path).name.startswith(".staging-") and (folder / "REPORT.md").exists():
            raise KeyboardInterrupt
    monkeypatch.setattr(atomic.shutil, "rmtree", late)
    assert main(["report", str(run_dir)]) == 130
    linked = re.findall(r"^!\[.*\]\((.+\.png)\)$", (folder / "REPORT.md").read_text(), re.M)
    assert any(n.endswith("_vs_delay_ms.png") for n in linked)  # new names, all there
    assert all((folder / n).is_file() for n in linked)
