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
