"""Runs of True frames in a 1-D bool array: :func:`runs` and :func:`mask_of_runs`, its inverse.

The one way a frame mask is cut into ``[start, end)`` runs and put back together (a run's
frames marked by a cumulative sum of +1 at its start and -1 at its end): voice activity's
IPUs and events (:mod:`duplexsim.metrics.activity`), a speech detector's stamps
(:mod:`duplexsim.metrics.vad`) and the k-means tokenizers' hole filling
(:mod:`duplexsim.units.energy_vad`). Pure numpy and imports nothing of duplexsim, so that
units and metrics may both use it; knows nothing of speech.
"""

from __future__ import annotations

import numpy as np


def runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (exclusive) frame indices of the True runs of a 1-D bool array."""
    padded = np.concatenate(([False], mask.astype(bool), [False])).astype(np.int8)
    edges = np.diff(padded)
    return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)


def mask_of_runs(starts: np.ndarray, ends: np.ndarray, n: int) -> np.ndarray:
    """``bool [n]``, True inside the runs ``[starts[i], ends[i])``: :func:`runs` undone.
    Starts and ends may be ``n`` (a run to the end); runs may overlap."""
    delta = np.zeros(n + 1, dtype=np.int64)
    np.add.at(delta, starts, 1)
    np.add.at(delta, ends, -1)
    return np.cumsum(delta[:n]) > 0
