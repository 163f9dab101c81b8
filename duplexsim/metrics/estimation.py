"""Estimation accuracy: how well an agent guessed the partner chunks it had not received.

Reads ``Trace.decisions`` (one row per agent decision, columns ``agent``, ``chunk``,
``lookahead``, ``estimated_units``, ``real_units``; the unit columns hold the frames of
the partner chunks estimated at that decision, as one array or a list of per-chunk
arrays, and the real frames once known). Scores unit accuracy (same unit id, frame by
frame) and voice-activity agreement (both silence or both speech) against the lookahead
depth. Pure functions; must not run the simulator.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

ESTIMATION_COLUMNS = ["agent", "chunk", "lookahead", "frames", "unit_accuracy", "va_agreement"]


def _flat(cell: object) -> np.ndarray:
    """Frames of a unit cell: None / NaN / [] -> empty; nested per-chunk arrays concatenated."""
    if cell is None or (isinstance(cell, float) and np.isnan(cell)):
        return np.zeros(0, dtype=np.int64)
    arr = np.asarray(cell, dtype=object) if isinstance(cell, list | tuple) else cell
    if isinstance(arr, np.ndarray) and arr.dtype == object:
        parts = [np.asarray(p, dtype=np.int64).ravel() for p in arr if p is not None]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
    return np.asarray(arr, dtype=np.int64).ravel()


def estimation_table(decisions: pd.DataFrame, silence_units: Iterable[int]) -> pd.DataFrame:
    """One row per decision that estimated something whose real frames are known.

    ``frames`` compared (the shorter of estimate and real), ``unit_accuracy`` and
    ``va_agreement`` in [0, 1]. Decisions without an estimate (lookahead 0) or without
    real frames are left out (the simulator's ``real_units`` are what the partner played,
    known whether or not the chunk arrived: an estimate of a lost chunk is scored too).
    """
    silence = np.fromiter(silence_units, dtype=np.int64)
    rows = []
    for agent, chunk, lookahead, est_cell, real_cell in decisions[
        ["agent", "chunk", "lookahead", "estimated_units", "real_units"]
    ].itertuples(index=False):
        est, real = _flat(est_cell), _flat(real_cell)
        n = min(len(est), len(real))
        if n == 0:
            continue
        est, real = est[:n], real[:n]
        rows.append((agent, int(chunk), int(lookahead), n, float((est == real).mean()),
                     float((np.isin(est, silence) == np.isin(real, silence)).mean())))
    return pd.DataFrame(rows, columns=ESTIMATION_COLUMNS)


def accuracy_by_lookahead(table: pd.DataFrame) -> pd.DataFrame:
    """Frame-weighted unit accuracy and VA agreement per (agent, lookahead), with counts."""
    if table.empty:
        return pd.DataFrame(columns=["agent", "lookahead", "decisions", "frames",
                                     "unit_accuracy", "va_agreement"])
    t = table.assign(u=table["unit_accuracy"] * table["frames"],
                     v=table["va_agreement"] * table["frames"])
    g = t.groupby(["agent", "lookahead"], as_index=False).agg(
        decisions=("chunk", "size"), frames=("frames", "sum"), u=("u", "sum"), v=("v", "sum"))
    g["unit_accuracy"] = g["u"] / g["frames"]
    g["va_agreement"] = g["v"] / g["frames"]
    return g.drop(columns=["u", "v"])


def estimation_summary(table: pd.DataFrame) -> dict[str, float]:
    """Overall frame-weighted ``est_unit_accuracy``, ``est_va_agreement``, ``est_decisions``."""
    frames = float(table["frames"].sum()) if len(table) else 0.0
    if frames == 0:
        return {"est_unit_accuracy": float("nan"), "est_va_agreement": float("nan"),
                "est_decisions": 0.0}
    return {
        "est_unit_accuracy": float((table["unit_accuracy"] * table["frames"]).sum() / frames),
        "est_va_agreement": float((table["va_agreement"] * table["frames"]).sum() / frames),
        "est_decisions": float(len(table)),
    }
