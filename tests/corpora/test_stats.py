"""``duplexsim corpus stats``'s table: every column name over its values."""

from __future__ import annotations

import pytest

from duplexsim.corpora.stats import (
    KEYS,
    corpus_stats,
    format_table,
    paper_prompt_r,
    segment_stats,
)
from duplexsim.corpora.types import Dialogue, Segment


def _columns(table: str, header_start: str, names: tuple[str, ...]) -> list[list[str]]:
    """The cells under each of ``names`` in the table whose header starts ``header_start``:
    each name's last character is its column's right edge, and every row of the table (up
    to its closing ``(`` line) must end a cell exactly there."""
    lines = table.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith(header_start))
    header = lines[first]
    edges = [header.index(name) + len(name) for name in names]
    assert edges == sorted(edges) and edges[-1] == len(header), header
    columns: list[list[str]] = [[] for _ in names]
    for row in lines[first + 1:]:
        if row.startswith("("):
            break
        assert len(row) == len(header), (header, row)
        starts = [row.index(" "), *edges[:-1]]  # the row's label has no space
        for k, (start, edge) in enumerate(zip(starts, edges, strict=True)):
            assert row[edge - 1] != " " and row[start] == " ", (header, row)
            columns[k].append(row[start:edge].strip())
    return columns


def _decimal_points(cells: list[str]) -> set[int]:
    """Where each number's decimal point sits, counted from the cell's end ("-": none)."""
    return {len(c) - c.index(".") for c in cells if c != "-"}


@pytest.mark.parametrize("preset", ["fisher-like", "candor-like"])
def test_the_column_names_sit_over_their_values(preset: str) -> None:
    """The prompt -> continuation table right-aligned the paper's r as Python printed it:
    candor's pause 0.3 ended under "paper GT" with its decimal point one place right of
    0.54's and 0.12's (now 0.30)."""
    view = {k: 1000.0 + i for i, k in enumerate(KEYS)} | {"speech_share": 0.5}
    r = {"ipu": {"r": 0.5, "ci_low": 0.1, "ci_high": 0.7, "n": 40},
         "pause": {"r": -0.25, "ci_low": -0.5, "ci_high": 0.05, "n": 40},
         "fto": {"r": float("nan"), "ci_low": float("nan"), "ci_high": float("nan"), "n": 40}}
    stats = {"units": view, "annotations": view, "target": {"fto_median_ms": 80.0},
             "hours": {"dialogues": 40.0, "audio_hours": 1.0},
             "prompt_continuation": {"prompt_s": 30.0, "continuation_s": 90.0,
                                     "paper": paper_prompt_r(preset), "units": r,
                                     "annotations": r}}
    table = format_table(stats)
    for cells in _columns(table, "statistic", ("units", "annotations", "target")):
        assert len(_decimal_points(cells)) == 1, cells
    units, annotations, paper = _columns(table, "event", ("units", "annotations", "paper GT"))
    assert units[:2] == annotations[:2] == ["+0.50 [+0.10, +0.70]", "-0.25 [-0.50, +0.05]"]
    assert units[2] == annotations[2] == "-"
    assert len(_decimal_points(paper)) == 1, paper


@pytest.mark.parametrize(("flag", "value"), [("--prompt-s", "0.02"), ("--prompt-s", "0"),
                                             ("--continuation-s", "0.039"),
                                             ("--prompt-s", "nan"), ("--continuation-s", "-1")])
def test_stats_windows_shorter_than_a_frame_are_refused(tmp_path, capsys, flag, value):
    """--prompt-s 0.02 was a prompt of 0 frames: no durations in it, every dialogue dropped
    out of the r, and the table said "(0 dialogues of at least 10.02 s)" of 60 s dialogues
    (--continuation-s 10), as if they were too short. (nan, -1: refused before, pinned.)"""
    from duplexsim.cli import main

    with pytest.raises(SystemExit) as e:
        main(["corpus", "stats", str(tmp_path), flag, value])
    assert e.value.code == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [f"duplexsim corpus stats: {flag}: {value} is out of range (allowed: a "
                   "number >= 0.04 (one 40 ms frame) and <= 86400)"]


def _fisher_tree(root, lengths_s: tuple[float, ...]) -> None:
    """One Fisher call per length: A talks from 0.5 s to the end but for a 3 s gap of B."""
    root.mkdir(parents=True, exist_ok=True)
    for i, end in enumerate(lengths_s):
        (root / f"fe_03_{i:05d}.txt").write_text(
            f"0.50 20.00 A: hello\n20.30 23.00 B: hi\n23.40 {end:.2f} A: and so on\n")


def test_stats_json_is_strict_json(tmp_path, capsys) -> None:
    """--json printed an r over too few dialogues as NaN, which is not JSON (jq, browsers
    and strict parsers refuse it; the files duplexsim writes have null there)."""
    import json

    from duplexsim.cli import main

    _fisher_tree(tmp_path, (240.0,))
    assert main(["corpus", "stats", str(tmp_path), "--json"]) == 0
    text = capsys.readouterr().out
    assert "NaN" not in text
    stats = json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} in the JSON"))
    assert stats["prompt_continuation"]["annotations"]["ipu"]["r"] is None


def test_the_window_line_counts_dialogues_long_enough_not_those_with_an_ipu(
        tmp_path, capsys) -> None:
    """The line under the r table counted the dialogues with an IPU in both windows as
    those "of at least" the windows' length: with --prompt-s 0.2 (silent: speech starts at
    0.5 s) three 240 s calls read "(0 dialogues of at least 90.2 s)"; the length is the
    rounded frames' (--prompt-s 0.05 is one frame: 90.04 s), and fewer than 3 dialogues
    say an r needs 3."""
    from duplexsim.cli import main

    _fisher_tree(tmp_path, (240.0, 240.0, 240.0, 60.0))
    assert main(["corpus", "stats", str(tmp_path), "--prompt-s", "0.2",
                 "--continuation-s", "90"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-2:] == ["(3 dialogues of at least 90.2 s)",
                          "(r over fewer dialogues, an event missing from a window: "
                          "ipu annotations 0, pause annotations 0, fto annotations 0)"]
    assert main(["corpus", "stats", str(tmp_path), "--prompt-s", "0.05",
                 "--continuation-s", "200"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-2] == "(3 dialogues of at least 200.04 s)"
    assert main(["corpus", "stats", str(tmp_path), "--continuation-s", "220"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == (
        "(0 dialogues of at least 250 s; an r needs at least 3)")


def test_prompt_continuation_r_has_no_ci_over_three_dialogues() -> None:
    """Every bootstrap draw of 3 dialogues that has an r holds the same 3 dialogues (an r
    needs 3 distinct ones), so the CI came out [r, r]: a CI of zero width claiming r
    exactly. Under metrics.intervals.MIN_BOOT_UNITS dialogues there is none."""
    import numpy as np

    from duplexsim.corpora.stats import prompt_continuation_r

    def dialogue(on: int, pause: int, gap: int) -> np.ndarray:
        """[2, 120 s] at 40 ms: A talks on, pauses, talks on; a gap; B the same; a gap."""
        turn = np.r_[np.ones(on), np.zeros(pause), np.ones(on)]
        cycle = np.zeros((2, 2 * (len(turn) + gap)), dtype=bool)
        cycle[0, : len(turn)] = turn
        cycle[1, len(turn) + gap: 2 * len(turn) + gap] = turn
        return np.tile(cycle, 200)[:, :3000]

    vads = [dialogue(30, 8, 5), dialogue(40, 12, 9), dialogue(25, 15, 4)]
    out = prompt_continuation_r(vads, n_boot=300)
    for ev in ("ipu", "pause", "fto"):
        assert out[ev]["n"] == 3 and np.isfinite(out[ev]["r"])
        assert np.isnan(out[ev]["ci_low"]) and np.isnan(out[ev]["ci_high"])


def test_segment_stats_time_is_the_vads_frames() -> None:
    """Speech share over the frames segment_vad gives: speaker 0 frames 0-7 (0.3 s is 7.5,
    half up), speaker 1 frames 13-16 of a dialogue 16.5 frames long, 17 with half up: 12 of
    17 frames (round() to even gave 16 frames and 11 of them)."""
    d = Dialogue("x", [Segment(0, 0.0, 0.3, "a"), Segment(1, 0.5, 0.66, "b")])
    assert segment_stats([d])["speech_share"] == pytest.approx(12 / 17)


def test_corpus_stats_of_a_path_is_one_line(tmp_path) -> None:
    """A corpus folder's path failed as ``'str' object has no attribute 'dialogues'``."""
    for corpus in (str(tmp_path), tmp_path):
        with pytest.raises(TypeError, match=r"^corpus: got \w+ \(allowed: a corpus object: "
                                            r"duplexsim.corpora.load_corpus\(dir\) or "
                                            r"open_corpus\(dir\)\)$"):
            corpus_stats(corpus)
