"""Total stall per side in the decision metrics (a side with estimation = "wait" slips)."""

from __future__ import annotations

import math

import pandas as pd

from duplexsim.metrics.latency import decision_metrics


def table(**extra: list) -> pd.DataFrame:
    return pd.DataFrame({
        "agent": ["a", "a", "a", "b", "b"], "chunk": [0, 1, 2, 0, 1],
        "lookahead": [0, 0, 0, 1, 1], "compute_ms": [0, 0, 0, 0, 0],
        "deadline_miss": [False, False, False, False, True], **extra,
    })


def test_stall_totals_per_side() -> None:
    row = decision_metrics(table(stall_ms=[0, 80, 40, 0, 0], slip_ms=[0, 80, 120, 0, 0]))
    assert row["stall_total_ms_a"] == 120.0 and row["stall_total_ms_b"] == 0.0
    assert row["deadline_miss_rate"] == 0.2


def test_no_stall_column_means_nothing_waited() -> None:
    row = decision_metrics(table().assign(agent=["A", "A", "A", "B", "B"]))
    assert row["stall_total_ms_a"] == 0.0 and row["stall_total_ms_b"] == 0.0
    empty = decision_metrics(pd.DataFrame())
    assert math.isnan(empty["stall_total_ms_a"]) and math.isnan(empty["stall_total_ms_b"])
