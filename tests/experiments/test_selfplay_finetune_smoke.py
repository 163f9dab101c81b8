"""experiments/selfplay_finetune.py runs end to end on the tiny world, in a subprocess."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from experiment_run import run_experiment
from safetensors.numpy import load_file

ROOT = Path(__file__).parents[2]


def test_selfplay_finetune_smoke(tmp_path: Path) -> None:
    out = tmp_path / "ft"
    proc = run_experiment("selfplay_finetune.py", "--smoke", "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    table = pd.read_csv(out / "selection.csv")
    assert list(table.seed) == [1000, 1001, 1002, 1003] and table.kept.sum() == 1
    assert table.distance[table.kept].max() <= table.distance[~table.kept].min()
    info = json.loads((out / "agent" / "agent.json").read_text())
    assert info["kept_step"] == {"stage3": 2} and math.isfinite(info["val_loss"]["stage3"])
    assert info["card"]["model"]["init_from"].endswith("fisher/model")
    base = load_file(out / "world" / "agents" / "fisher" / "model" / "model.safetensors")
    tuned = load_file(out / "agent" / "model" / "model.safetensors")
    assert base.keys() == tuned.keys()
    assert any((base[k] != tuned[k]).any() for k in base)  # it trained from the base weights
    assert (out / "agent" / "tokenizer").is_dir()
    assert "Command: `python experiments/selfplay_finetune.py --smoke" in \
        (out / "REPORT.md").read_text()


def test_distance_to_the_corpus() -> None:
    sys.path.insert(0, str(ROOT / "experiments"))
    from selfplay_finetune import distance

    corpus = {"overlap_share": 0.1, "listener_onsets_per_s": 0.3, "backchannels_per_min": 5.0}
    assert distance(corpus, corpus) == 0.0
    twice = {k: 2 * v for k, v in corpus.items()}
    half = {k: v / 2 for k, v in corpus.items()}
    assert math.isclose(distance(twice, corpus), 3 * math.log(2))
    assert math.isclose(distance(half, corpus), distance(twice, corpus))
    silent = {"overlap_share": 0.0, "listener_onsets_per_s": float("nan"),
              "backchannels_per_min": 0.0}
    assert math.isclose(distance(silent, corpus), 3 * math.log(10))  # floored, not NaN


def test_pieces_are_whole_windows_or_whole_conversations() -> None:
    sys.path.insert(0, str(ROOT / "experiments"))
    from selfplay_finetune import pieces

    convs = [np.arange(2 * 130).reshape(2, 130), np.zeros((2, 130), np.int64)]
    whole = pieces(convs, 7, 0.0)
    assert [(s, a, u.shape) for s, a, u in whole] == [(7, 0, (2, 130)), (8, 0, (2, 130))]
    windows = pieces(convs, 7, 2.0)  # 50 frames: two whole windows each, the rest dropped
    assert [(s, a) for s, a, _ in windows] == [(7, 0), (7, 50), (8, 0), (8, 50)]
    assert np.array_equal(windows[1][2], convs[0][:, 50:100])


def test_select_drops_pieces_with_onsets_over_the_partner() -> None:
    sys.path.insert(0, str(ROOT / "experiments"))
    from selfplay_finetune import select

    apart = np.zeros((2, 150), np.int64)  # unit 0 = silence
    apart[0, 5:50], apart[1, 60:110] = 5, 7  # a gap between the turns: no onset over
    over = np.zeros((2, 150), np.int64)
    over[0, 5:50], over[1, 20:70] = 5, 7  # side 1 starts while side 0 speaks
    corpus = {"overlap_share": 0.1, "listener_onsets_per_s": 0.3, "backchannels_per_min": 5.0}
    parts = [(1, 0, apart), (2, 0, over)]
    table = select(parts, {0}, corpus, keep=1.0)
    assert list(table.kept) == [True, True]
    assert list(table.onsets_over_partner_share) == [0.0, 0.5]
    strict = select(parts, {0}, corpus, keep=1.0, max_onsets_over=0.4)
    assert list(strict.kept) == [True, False]


def test_bad_arguments_are_one_line(tmp_path: Path) -> None:
    for args, message in ((["--keep", "0"], "--keep: 0 is out of range (allowed: a number > 0 "
                           "and <= 1)"),
                          (["--agents", str(tmp_path)], f"--agents: no trained agent at {tmp_path}"
                           "/fisher (allowed: a folder that `duplexsim train")):
        proc = run_experiment("selfplay_finetune.py", *args, "--out", str(tmp_path / "x"),
                              timeout=300)
        assert proc.returncode == 2 and message in proc.stderr
        assert "Traceback" not in proc.stderr
