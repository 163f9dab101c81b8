"""The rule baseline's tuning table (experiments/rl_train.py, ``tuning_rows``) and how the
report names its ties (experiments/rl_report.py, ``tie_text``), on synthetic episodes whose
answers are known: a setting a hair below the winner on the same seeds is a tie, one well
below is not."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[2]


def setting(rewards: np.ndarray, dialogues: int) -> pd.DataFrame:
    """A setting's episodes as ``run_episodes`` returns them (seed order): episode ``i`` of
    dialogue ``d{i % dialogues}``."""
    return pd.DataFrame({"seed": 20_000 + np.arange(len(rewards)), "reward": rewards,
                         "dialogue": [f"d{i % dialogues}" for i in range(len(rewards))]})


def tuning(dialogues: int) -> pd.DataFrame:
    sys.path.insert(0, str(ROOT / "experiments"))
    from rl_train import tuning_rows

    rng = np.random.default_rng(0)
    base = rng.normal(-4.5, 2.0, 40)  # episodes differ far more than the settings do

    def noise() -> np.ndarray:  # the settings' own episode noise, mean 0 exactly
        x = rng.normal(0, 0.3, 40)
        return x - x.mean()

    cell = [({"delay_ms": 240, "silence_ms": s, "backchannel_ms": b}, setting(r, dialogues))
            for s, b, r in ((80, 1500, base - 0.01 + noise()), (240, 0, base),
                            (640, 0, base - 0.8 + noise()))]
    return pd.DataFrame(tuning_rows(cell))


def test_tuning_rows_show_which_settings_tie_with_the_winner() -> None:
    """20 tuning episodes once picked 240 ms over 80 ms / 1500 ms by 0.012 and the table said
    only the means: a reader could not see that the pick was a coin flip."""
    table = tuning(10).set_index("silence_ms")
    assert (table["episodes"] == 40).all() and (table["dialogues"] == 10).all()
    assert table["reward"].idxmax() == 240
    assert table.loc[240, ["minus_best", "minus_best_lo", "minus_best_hi"]].tolist() == [0, 0, 0]
    assert (table["reward_lo"] < table["reward"]).all()
    assert (table["reward"] < table["reward_hi"]).all()
    tie = table.loc[80]
    assert tie["minus_best_lo"] < tie["minus_best"] < 0 <= tie["minus_best_hi"]
    # the separate intervals overlap even for the clear loser: the paired one tells it apart
    assert table.loc[640, "reward_hi"] > table.loc[240, "reward_lo"]
    assert table.loc[640, "minus_best_hi"] < 0


def test_the_report_names_the_ties() -> None:
    sys.path.insert(0, str(ROOT / "experiments"))
    from rl_report import tie_text

    from duplexsim.envs.baselines import RulePolicy

    winner = RulePolicy(240, backchannel_after_ms=0)
    text = tie_text(tuning(10), winner)
    assert text.startswith(" (tied with 80 ms silence, backchannel after 1500 ms, -0.")
    assert "640" not in text
    assert tie_text(tuning(10)[lambda t: t["silence_ms"] != 80], winner) == ""
    # three dialogues: no interval (intervals.MIN_BOOT_UNITS), and the report says so
    assert "too few dialogues" in tie_text(tuning(3), winner)


PROGRESS_SCRIPT = """
import json, sys
sys.path.insert(0, "experiments")
from stable_baselines3.common.logger import CSVOutputFormat
from rl_train import progress_log

rows = [{"time/fps": 69, "time/iterations": 1, "time/time_elapsed": 29,
         "time/total_timesteps": 2048, "rollout/ep_len_mean": 188.0,
         "rollout/ep_rew_mean": -16.25},
        {"time/fps": 70, "time/iterations": 2, "train/loss": 0.5, "train/n_updates": 10,
         "train/clip_range": 0.2, "train/approx_kl": 0.01, "train/note": 'a "b", c',
         "train/excluded": 1}]
excluded = {"train/excluded": ("csv",)}
out = {}
for name, make in (("ours", progress_log), ("sb3", CSVOutputFormat)):
    for order in ("given", "reversed"):
        path = f"{sys.argv[1]}/{name}-{order}.csv"
        log = make(path)
        for step, row in enumerate(rows):
            log.write(dict(reversed(row.items())) if order == "reversed" else row, excluded,
                      step)
        log.close()
        out[f"{name}-{order}"] = open(path).read()
print(json.dumps(out))
"""


def progress_files(tmp_path: Path, hash_seed: str) -> dict[str, str]:
    """The CSV training logs that rl_train's ``progress_log`` and SB3's own
    ``CSVOutputFormat`` write for the same two rows (the second bringing new keys), each
    with the keys given in two orders, in a process under ``PYTHONHASHSEED=hash_seed``."""
    import json
    import os
    import subprocess

    folder = tmp_path / hash_seed
    folder.mkdir()
    env = {**os.environ, "PYTHONHASHSEED": hash_seed, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", PROGRESS_SCRIPT, str(folder)], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


def test_ppo_progress_columns_do_not_change_from_run_to_run(tmp_path: Path) -> None:
    """SB3's CSV log adds new columns in set order, which PYTHONHASHSEED changes run to run;
    ppo_progress.csv adds them sorted, and is otherwise SB3's file (same rows and cells, the
    header rewritten and earlier rows padded when new keys come)."""
    import csv
    import io

    runs = [progress_files(tmp_path, seed) for seed in ("0", "1", "2")]
    ours = {text for run in runs for name, text in run.items() if name.startswith("ours")}
    assert len(ours) == 1  # the same bytes whatever the hash seed or the keys' order
    (text,) = ours
    header = text.splitlines()[0].split(",")
    first = ["rollout/ep_len_mean", "rollout/ep_rew_mean", "time/fps", "time/iterations",
             "time/time_elapsed", "time/total_timesteps"]
    assert header == first + ["train/approx_kl", "train/clip_range", "train/loss",
                              "train/n_updates", "train/note"]
    assert text.splitlines()[1:] == ["188.0,-16.25,69,1,29,2048,,,,,",  # padded
                                     ',,70,2,,,0.01,0.2,0.5,10,"a ""b"", c"']
    # the check is live: SB3's own order differs between these hash seeds
    assert len({run["sb3-given"].splitlines()[0] for run in runs}) > 1

    def cells(text: str) -> list[dict[str, str]]:
        return list(csv.DictReader(io.StringIO(text)))

    for run in runs:
        assert cells(run["sb3-given"]) == cells(text) == cells(run["sb3-reversed"])
