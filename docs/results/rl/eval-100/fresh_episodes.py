"""PPO against the tuned rule on the 60 episodes this evaluation added to the 40 of ../REPORT.md
(seeds 10040-10099 of every replay cell; the first 40 are ../episodes.csv's, episode for
episode): each policy's mean with a 95% t interval, and the paired difference (every policy
plays the same seeds: the same dialogues, starts and networks).

Run from the repository root: python docs/results/rl/eval-100/fresh_episodes.py
"""

from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

HERE = Path(__file__).resolve().parent


def interval(x: pd.Series) -> str:
    m, h = x.mean(), stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x))
    return f"{m:.2f} [{m - h:.2f}, {m + h:.2f}]"


episodes = pd.read_csv(HERE / "episodes.csv")
earlier = pd.read_csv(HERE.parent / "episodes.csv")
print(f"{'set':16} {'delay_ms':>8} {'n':>3}   {'ppo':20} {'rule':20} ppo - rule (paired)")
for (name, delay), cell in episodes.groupby(["set", "delay_ms"], sort=False):
    ppo = cell[cell.policy == "ppo"].set_index("seed").reward.sort_index()
    rule = cell[cell.policy == "rule"].set_index("seed").reward.sort_index()
    before = earlier[(earlier.set == name) & (earlier.delay_ms == delay)
                     & (earlier.policy == "ppo")].set_index("seed").reward.sort_index()
    assert np.array_equal(ppo.loc[before.index].to_numpy(), before.to_numpy())  # same 40
    fresh = ppo.index.difference(before.index)
    print(f"{name:16} {delay:8} {len(fresh):3}   {interval(ppo[fresh]):20} "
          f"{interval(rule[fresh]):20} {interval(ppo[fresh] - rule[fresh])}")
