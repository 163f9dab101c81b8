"""Re-score the committed RL runs' episodes with intervals over dialogues (2026-12-07).

Every run under docs/results/rl was reported with 95% t-intervals over episodes; episodes of
one dialogue are not independent (eval-100's 1200 test-dialogue episodes come from 12
dialogues), and ``experiments/rl_turn_policy.py`` now resamples dialogues
(``cluster_weights``). The committed ``episodes.csv`` files predate its ``dialogue`` column:
on replay cells it is read off the partner label (``replay:CORPUS:DIALOGUE:CHANNEL``, both
channels one dialogue); cells against an agent did not record the learner's dialogue and
are left out (``heldout-corpus/`` was made with intervals over dialogues). Each verdict row
also has the paired difference PPO minus the best baseline, seed by seed, with its interval
over dialogues (``paired_gap``), and PPO minus each baseline (``paired_<baseline>``, and
``paired_beats_all``: every one of those lower bounds above 0). Usage, from the repository root::

    python docs/results/rl/rescore_dialogues.py > docs/results/rl/rescore_dialogues.txt
"""

from __future__ import annotations

import sys
from pathlib import Path

import duplexsim  # noqa: F401  (before numpy: it pins OpenBLAS, duplexsim/threads.py)

import pandas as pd

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "experiments"))

from rl_stats import summarize, verdicts  # noqa: E402

for csv in sorted((ROOT / "docs/results/rl").glob("**/episodes.csv")):
    if "heldout-corpus" in csv.parts:  # made with intervals over dialogues already
        continue
    df = pd.read_csv(csv)
    replay = df["partner"].str.startswith("replay:")
    df = df[replay].copy()
    df["dialogue"] = df["partner"].str.rsplit(":", n=1).str[0]
    print(f"## {csv.relative_to(ROOT)} (replay cells; {int((~replay).sum())} agent-cell "
          "episodes left out)\n")
    s = summarize(df)
    cols = ["set", "delay_ms", "policy", "episodes", "dialogues", "reward", "reward_lo",
            "reward_hi"]
    print(s[cols].round(2).to_markdown(index=False))
    print()
    print(verdicts(s, df).round(2).to_markdown(index=False))
    print()
