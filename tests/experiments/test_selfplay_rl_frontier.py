"""experiments/selfplay_rl_frontier.py: the line over baseline runs, residuals, bad input."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).parents[2]


def _frontier():  # noqa: ANN202
    sys.path.insert(0, str(ROOT / "experiments"))
    import selfplay_rl_frontier

    return selfplay_rl_frontier


def run_folder(root: Path, name: str, onsets: list[float], overlap: list[float]) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    pd.DataFrame({"iteration": range(len(onsets)), "listener_onsets_per_s": onsets,
                  "overlap_share": overlap, "kl": 0.0}).to_csv(folder / "iterations.csv",
                                                               index=False)
    return folder


def test_the_line_and_the_residuals(tmp_path: Path) -> None:
    fr = _frontier()
    a = run_folder(tmp_path, "flat", [0.1, 0.2, 0.3, 0.4], [0.05, 0.09, 0.13, 0.17])  # 0.4x + 0.01
    b = run_folder(tmp_path, "better", [0.2, 0.3, float("nan")], [0.06, 0.10, 0.5])
    out = tmp_path / "out"
    assert fr.main([str(a), str(b), "--baseline", "flat", "--corpus-overlap", "0.075",
                    "--corpus-onsets", "0.33", "--out", str(out)]) == 0
    rows = pd.read_csv(out / "frontier.csv")
    assert len(rows) == 6  # the row without an onset rate is left out
    assert rows["iteration"].dtype == np.int64  # written as whole numbers
    assert np.allclose(rows.loc[rows.run == "flat", "residual"], 0.0, atol=1e-4)
    assert np.allclose(rows.loc[rows.run == "better", "residual"], -0.03, atol=1e-4)
    text = (out / "REPORT.md").read_text()
    assert "overlap = 0.400 x onsets/s + 0.010 (r = 1.00)" in text
    assert "the line gives 0.1420 there (1.89x)" in text
    assert (out / "frontier.png").stat().st_size > 0


def test_a_shared_iteration_0_is_fitted_once(tmp_path: Path) -> None:
    """Baseline runs of one base agent and --first-seed share their iteration 0 (the same
    untrained rollouts): the line counts it once (it was fitted on it twice, e.g. the
    shipped frontier's 18 rows, 17 distinct: 0.278 x + 0.021 instead of 0.267 x + 0.023).
    Iteration-0 rows that differ (other seeds) are two measurements and both count."""
    fr = _frontier()
    a = run_folder(tmp_path, "a", [0.1, 0.2, 0.3], [0.10, 0.09, 0.13])
    b = run_folder(tmp_path, "b", [0.1, 0.25, 0.35], [0.10, 0.10, 0.16])
    c = run_folder(tmp_path, "c", [0.15, 0.2], [0.12, 0.08])
    out = tmp_path / "out"
    assert fr.main([str(a), str(b), "--baseline", "a", "b", "--out", str(out)]) == 0
    rows = pd.read_csv(out / "frontier.csv")
    assert len(rows) == 6  # each run keeps its own rows in the table
    slope, intercept = np.polyfit([0.1, 0.2, 0.3, 0.25, 0.35], [0.10, 0.09, 0.13, 0.10, 0.16], 1)
    text = (out / "REPORT.md").read_text()
    assert "Line fitted on the 5 rows of a, b (their shared iteration 0" in text
    assert "1 repeat left out" in text
    assert f"overlap = {slope:.3f} x onsets/s + {intercept:.3f}" in text
    assert np.allclose(rows["residual"],
                       rows["overlap_share"] - (slope * rows["listener_onsets_per_s"]
                                                + intercept), atol=1e-4)
    assert fr.main([str(a), str(c), "--baseline", "a", "c", "--out", str(out)]) == 0
    text = (out / "REPORT.md").read_text()
    assert "Line fitted on the 5 rows of a, c: overlap" in text


@pytest.mark.parametrize(("extra", "match"), [
    (["--baseline", "nope"], "--baseline: 'nope' is not one of the runs"),
    (["--baseline", "flat", "--corpus-overlap", "0.1"], "give both or neither"),
])
def test_bad_arguments_are_one_line_errors(tmp_path: Path, capsys: pytest.CaptureFixture,
                                           extra: list[str], match: str) -> None:
    fr = _frontier()
    a = run_folder(tmp_path, "flat", [0.1, 0.2, 0.3], [0.05, 0.09, 0.13])
    with pytest.raises(SystemExit) as e:
        fr.main([str(a), *extra, "--out", str(tmp_path / "out")])
    assert e.value.code == 2 and match in capsys.readouterr().err


@pytest.mark.parametrize(("table", "match"), [
    ("iteration,overlap_share\n0,0.1\n", "no column listener_onsets_per_s"),
    ("iteration,overlap_share,listener_onsets_per_s\n0,0.1,lots\n",
     "line 2: listener_onsets_per_s: 'lots'"),
    ("iteration,overlap_share,listener_onsets_per_s\n0,0.1,0.2\n1.5,0.1,0.2\n",
     "line 3: iteration: 1.5 .allowed: a whole number"),
])
def test_a_damaged_iterations_csv_is_one_line(tmp_path: Path, table: str, match: str) -> None:
    """Before, a word among the numbers reached the fit as a TypeError traceback."""
    from duplexsim.errors import InputError

    fr = _frontier()
    a = run_folder(tmp_path, "flat", [0.1, 0.2, 0.3], [0.05, 0.09, 0.13])
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "iterations.csv").write_text(table)
    with pytest.raises(InputError, match=match) as err:
        fr.main([str(a), str(bad), "--baseline", "flat", "--out", str(tmp_path / "out")])
    assert str(err.value).startswith(str(bad / "iterations.csv"))


def test_the_figure_names_its_command_and_commit(tmp_path: Path) -> None:
    from PIL import Image

    fr = _frontier()
    a = run_folder(tmp_path, "flat", [0.1, 0.2, 0.3], [0.05, 0.09, 0.13])
    out = tmp_path / "out"
    assert fr.main([str(a), "--baseline", "flat", "--out", str(out)]) == 0
    description = Image.open(out / "frontier.png").info.get("Description", "")
    assert description.startswith("Command: `python experiments/selfplay_rl_frontier.py ")
