"""Runs of True frames and back (:mod:`duplexsim.frame_runs`)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from duplexsim.frame_runs import mask_of_runs, runs


@given(st.lists(st.booleans(), max_size=80))
def test_mask_of_runs_undoes_runs(bits: list[bool]) -> None:
    mask = np.array(bits, dtype=bool)
    starts, ends = runs(mask)
    assert (starts < ends).all() and (starts[1:] > ends[:-1]).all()  # separate, non-empty
    assert mask_of_runs(starts, ends, len(mask)).tolist() == bits


def test_runs_may_overlap_and_reach_the_end() -> None:
    """A VAD's stamps may overlap or run past the last frame (clipped to it)."""
    assert mask_of_runs(np.array([1, 2, 6]), np.array([4, 3, 6]), 6).tolist() == [
        False, True, True, True, False, False]
    assert mask_of_runs(np.array([4]), np.array([6]), 6).tolist() == [False] * 4 + [True] * 2
    assert mask_of_runs(np.array([], np.int64), np.array([], np.int64), 3).tolist() == [False] * 3


def test_the_tokenizers_voice_activity_needs_no_metrics() -> None:
    """units.energy_vad fills holes with the runs of this leaf module, not metrics.activity's
    (the units would have loaded the metrics, and the two kept a cumulative-sum trick each)."""
    code = ("import sys, duplexsim.units.energy_vad; "
            "print(sorted(m for m in sys.modules if m.startswith('duplexsim.metrics')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
