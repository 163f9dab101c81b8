"""Voice activity as arrays: read off units, checked, cut into runs and put back together.

The primitives the turn-taking events (:mod:`~duplexsim.metrics.turntaking`) and the
audio VAD's agreement (:mod:`~duplexsim.metrics.vad`) work on: ``bool [channels, T]``
arrays of frames, True = speech (their runs: :mod:`duplexsim.frame_runs`, whose ``runs`` and
``mask_of_runs`` are importable from here). Pure numpy; knows no event definitions.
"""

from __future__ import annotations

import numpy as np

from duplexsim.frame_runs import mask_of_runs, runs


def vad_from_units(units: np.ndarray, silence_units: frozenset[int] | set[int]) -> np.ndarray:
    """Voice activity ``bool [2, T]``: True where a frame's unit is not a silence unit."""
    arr = np.asarray(units)
    if arr.ndim != 2:
        raise ValueError(f"units must have shape [channels, T], got {arr.shape}")
    return ~np.isin(arr, _unit_ids(silence_units))


def _unit_ids(silence_units: object) -> np.ndarray:
    """``silence_units`` as int64 unit ids, else a one-line error: ``np.fromiter`` took the
    unit 0.5 (and each digit of the string ``"0"``) as unit 0, silently, and failed on None
    or an id past int64 with NumPy's own words."""
    try:
        if isinstance(silence_units, str | bytes):
            raise TypeError
        ids = list(silence_units)  # type: ignore[call-overload]
    except TypeError:
        raise TypeError(f"silence_units must be a set of unit ids (ints), got "
                        f"{type(silence_units).__name__}") from None
    for unit in ids:
        if isinstance(unit, bool) or not isinstance(unit, int | np.integer) \
                or not -(2**63) <= unit < 2**63:
            raise ValueError(f"silence_units must hold unit ids (whole numbers in int64), got "
                             f"{unit!r}")
    return np.array(ids, dtype=np.int64)


def as_vad(vad: np.ndarray, what: str = "vad") -> np.ndarray:
    """``vad`` as a bool array; a one-line error unless it is bool or holds only 0 and 1.

    A plain cast made every non-zero value speech: a speech-probability VAD (0.1 is
    silence to anyone reading it) or a NaN frame came out as talk, without a word."""
    arr = np.asarray(vad)
    if arr.dtype == bool:
        return arr
    if arr.dtype.kind not in "iuf" or not ((arr == 0) | (arr == 1)).all():
        odd = arr[(arr != 0) & (arr != 1)].ravel()[:1] if arr.dtype.kind in "iuf" else []
        got = f"the value {odd[0].item()!r}" if len(odd) else f"dtype {arr.dtype}"
        raise ValueError(f"{what} must be voice activity, bool or 0/1 (True/1 = speech), got "
                         f"{got} (threshold a speech-probability VAD first)")
    return arr.astype(bool)


# runs and mask_of_runs live in duplexsim/frame_runs.py (units uses them too): importable
# from here as before
__all__ = ["as_vad", "mask_of_runs", "runs", "vad_from_units"]
