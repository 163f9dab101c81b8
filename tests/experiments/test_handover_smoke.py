"""experiments/handover.py runs end to end on the tiny world, in a subprocess."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
from experiment_run import run_experiment
from PIL import Image

ROOT = Path(__file__).parents[2]
sys.path.insert(0, str(ROOT / "experiments"))


def test_handover_smoke(tmp_path: Path) -> None:
    out = tmp_path / "handover"
    proc = run_experiment("handover.py", "--smoke", "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    events, summary = pd.read_csv(out / "events.csv"), pd.read_csv(out / "summary.csv")
    assert set(events.kind) == {"transfer", "hold"} and len(summary) == 2
    assert ((events.p_onset >= 0) & (events.p_onset <= 1)).all()
    # a hold is followed by the same speaker, a transfer by the other, after a silent chunk
    assert (events.gap_s > 0.2).all()
    scored = (summary.n_transfer > 0) & (summary.n_hold > 0)  # else the AUC is undefined
    assert scored.any() and summary.auc[~scored].isna().all()
    assert ((summary.auc[scored] >= 0) & (summary.auc[scored] <= 1)).all()
    assert "Command: `python experiments/handover.py --smoke" in (out / "REPORT.md").read_text()
    assert Image.open(out / "handover.png").info["Description"].startswith(
        "Command: `python experiments/handover.py --smoke")  # the figure names it too


def test_auc_counts_pairs_and_ties() -> None:
    from handover import auc, summarize

    assert auc(np.array([0.9, 0.8]), np.array([0.1, 0.2])) == 1.0
    assert auc(np.array([0.1]), np.array([0.9])) == 0.0
    assert auc(np.array([0.5]), np.array([0.5])) == 0.5
    events = pd.DataFrame({"dialogue": [d for d in "abcde" for _ in range(2)],
                           "kind": ["transfer", "hold"] * 5,
                           "p_onset": [0.9, 0.1, 0.8, 0.2, 0.7, 0.3, 0.95, 0.05, 0.6, 0.4]})
    s = summarize(events, n_boot=20)
    assert s["auc"] == 1.0 and s["auc_lo"] == 1.0 and s["n_transfer"] == 5
    # under MIN_BOOT_UNITS dialogues no CI: resamples of 2 never leave their range
    two = summarize(events[events.dialogue.isin(["a", "b"])], n_boot=20)
    assert two["auc"] == 1.0 and np.isnan(two["auc_lo"]) and np.isnan(two["auc_hi"])
    # one dialogue: every resample is that dialogue, no CI (was [auc, auc])
    one = summarize(events[events.dialogue == "a"], n_boot=20)
    assert one["auc"] == 1.0 and np.isnan(one["auc_lo"]) and np.isnan(one["auc_hi"])


def test_an_ipu_inside_the_ending_one_is_not_what_follows_it() -> None:
    """Before: the next IPU by start time was taken as what follows an IPU's end, so a
    listener's IPU inside it (an attempt that stops first) made the end a 'transfer' with
    a negative gap even when the same speaker went on."""
    from handover import scorable_ends

    from duplexsim.corpora.types import Segment

    x = Segment(0, 0.0, 5.0)
    inside = Segment(1, 1.0, 2.0)
    after = Segment(0, 6.0, 8.0)
    ends = scorable_ends([x, inside, after], 0.2, 0)
    assert [(e[0], e[1], e[2]) for e in ends] == [(x, after, 26)]  # a hold, chunk 5.2-5.4 s
    # a transfer, a backchannel (not an IPU) in between, and the context rule kept
    y = Segment(1, 5.6, 7.0)
    bc = Segment(1, 3.0, 3.3, kind="backchannel")
    assert [(e[0], e[1]) for e in scorable_ends([x, bc, y], 0.2, 0)] == [(x, y)]
    assert scorable_ends([x, y], 0.2, 27) == []  # chunk 26 has fewer than 27 before it
    # someone heard between the end and the scored chunk: not scorable
    assert scorable_ends([x, Segment(1, 5.1, 5.3, kind="backchannel"), y], 0.2, 0) == []


def test_pair_labels_keep_pairs_of_the_same_folder_names_apart() -> None:
    from handover import pair_labels

    pairs = [(Path("runs/a/fisher"), Path("corpora/fisher-like")),
             (Path("runs/b/fisher"), Path("corpora/fisher-like")),
             (Path("runs/a/candor"), Path("corpora/fisher-like"))]
    assert pair_labels(pairs) == ["runs/a/fisher on corpora/fisher-like",
                                  "runs/b/fisher on corpora/fisher-like",
                                  "candor on fisher-like"]
