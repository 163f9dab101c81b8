"""experiments/architectures.py: its turn-taking statistics are the metrics library's."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).parents[2]


def _experiments() -> None:
    """experiments/ on the path: architectures.py's modules import each other by bare name."""
    sys.path.insert(0, str(ROOT / "experiments"))


def test_overlap_median_is_the_transition_overlaps_of_the_metrics_library(
        tmp_path: Path) -> None:
    """A speaks 0-1.8 s and 2.2-2.4 s, B from 1.6 s: the transition into B has two double-talk
    runs of 200 ms with 400 ms of silence between. The experiment took -FTO (800 ms, the
    silence included) as the overlap; the library's transition overlaps
    (:func:`event_durations`, what ``summarize_events`` reports) are 200 and 200 ms."""
    from duplexsim.metrics.turntaking import detect_events, summarize_events

    _experiments()
    from architectures_grid import Plan
    from architectures_stats import blocks, statistics

    vad = np.zeros((2, 150), bool)
    vad[0, 0:45] = vad[0, 55:60] = True
    vad[1, 40:45] = vad[1, 55:150] = True
    plan = Plan(agents=tmp_path, corpora=tmp_path, out=tmp_path, block_s=6.0)
    stats = statistics(blocks(vad, (0, 1), plan))
    library = summarize_events(detect_events(vad, 40), 6000.0)
    assert stats["fto_median_ms"] == library["fto_median_ms"] == -800.0
    assert stats["overlap_median_ms"] == library["overlap_median_ms"] == 200.0


def test_recovery_median_leaves_out_recoveries_cut_off_at_the_end(tmp_path: Path) -> None:
    """A is barged in on twice; the second time A talks to the last frame, so its 2 s
    "recovery" is only the time left. The median took it (1200 ms, the mean of 400 and
    2000); like the library's summary it is now the seen one's (400 ms), and the barge-in
    still counts for the zombie rate and the barge-in count."""
    from duplexsim.metrics.interruptions import interruption_summary

    _experiments()
    from architectures_grid import Plan
    from architectures_stats import blocks, statistics

    vad = np.zeros((2, 200), bool)
    vad[0, 0:60] = vad[0, 110:200] = True
    vad[1, 50:90] = vad[1, 150:190] = True
    plan = Plan(agents=tmp_path, corpora=tmp_path, out=tmp_path, block_s=8.0)
    parts = blocks(vad, (0, 1), plan)
    stats = statistics(parts)
    library = interruption_summary(vad, 40)
    assert stats["recovery_median_ms"] == library["recovery_median_ms"] == 400.0
    assert stats["zombie_rate"] == library["zombie_rate"] == 0.5
    assert sum(len(p["zombie"]) for p in parts) == library["barge_ins"] == 2
    assert sum(p["recovery_censored"] for p in parts) == library["recovery_censored"] == 1
