"""Voice activity arrays: units to VAD, runs and back."""

from __future__ import annotations

import numpy as np
import pytest

from duplexsim import frame_runs
from duplexsim.metrics import turntaking
from duplexsim.metrics.activity import as_vad, mask_of_runs, runs, vad_from_units


@pytest.mark.parametrize(("silence", "error"), [
    ([0.5], "silence_units must hold unit ids (whole numbers in int64), got 0.5"),
    ({True}, "silence_units must hold unit ids (whole numbers in int64), got True"),
    ({2**70}, f"silence_units must hold unit ids (whole numbers in int64), got {2**70}"),
    ("0", "silence_units must be a set of unit ids (ints), got str"),
    (None, "silence_units must be a set of unit ids (ints), got NoneType"),
    (0, "silence_units must be a set of unit ids (ints), got int"),
])
def test_silence_units_that_are_no_unit_ids_are_one_line(silence: object, error: str) -> None:
    """np.fromiter(dtype=int64) took the unit 0.5, and the string "0", as unit 0 without a
    word; None and an id past int64 failed with NumPy's words."""
    units = np.array([[0, 5, 5, 1], [3, 0, 1, 1]])
    with pytest.raises((TypeError, ValueError)) as info:
        vad_from_units(units, silence)  # type: ignore[arg-type]
    assert str(info.value) == error
    for ids in ({np.int64(0), np.int32(1)}, [0, 1], frozenset({0, 1})):  # NumPy ints, any set
        assert vad_from_units(units, ids).tolist() == vad_from_units(units, {0, 1}).tolist()
    assert vad_from_units(units, set()).all()


def test_the_voice_activity_names_are_still_importable_from_turntaking() -> None:
    """They moved out of ``metrics.turntaking``; code importing them from there gets the
    same functions, and runs and mask_of_runs (now in duplexsim.frame_runs) come from here
    as before."""
    for f in (as_vad, runs, vad_from_units):
        assert getattr(turntaking, f.__name__) is f and f.__name__ in turntaking.__all__
    assert runs is frame_runs.runs and mask_of_runs is frame_runs.mask_of_runs
