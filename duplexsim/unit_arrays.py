"""Checked arrays of unit ids and token ids: how a token format, an agent and the simulator
take a stream or a chunk of units, or a sequence of token ids (a ValueError naming the array
and the position otherwise). Moved here from :mod:`duplexsim.tokens` (which still re-exports
them): they belong to no one format (:mod:`duplexsim.tdm_tokens` takes them too).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["ArrayLike", "as_id_array", "check_chunk", "check_units"]

ArrayLike = Sequence[int] | np.ndarray


def check_units(units: ArrayLike, name: str, n_units: int) -> np.ndarray:
    """``units`` as a 1-D int64 array of unit ids ``0..n_units-1``; anything else (another
    shape, floats, an id out of range) is a ValueError naming ``name`` and the position."""
    u = np.asarray(units)
    if u.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D array of unit ids, got shape {u.shape}")
    if u.size and not np.issubdtype(u.dtype, np.integer):
        raise ValueError(f"{name}: expected integer unit ids, got dtype {u.dtype}")
    u = u.astype(np.int64, copy=False)
    if not u.size or (u.min() >= 0 and u.max() < n_units):  # the common case: cheap
        return u
    bad = np.flatnonzero((u < 0) | (u >= n_units))
    i = int(bad[0])
    raise ValueError(f"{name}[{i}] = {int(u[i])}: not a unit id (allowed: 0..{n_units - 1}); "
                     f"{bad.size} bad value(s) in all")


def check_chunk(units: ArrayLike, name: str, n_units: int, frames_per_chunk: int) -> np.ndarray:
    """One chunk's frames: ``units`` flattened to ``frames_per_chunk`` unit ids (int64,
    :func:`check_units`); another length is a ValueError naming ``name``."""
    frames = np.asarray(units).reshape(-1)
    if len(frames) != frames_per_chunk:
        raise ValueError(f"{name}: {len(frames)} frames (allowed: {frames_per_chunk})")
    return check_units(frames, name, n_units)


def as_id_array(ids: ArrayLike) -> np.ndarray:
    """``ids`` as a 1-D int64 array; another shape or non-integer ids are a ValueError."""
    arr = np.asarray(ids)
    if arr.ndim != 1:
        raise ValueError(f"token ids: expected a 1-D sequence, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"token ids: expected integers, got dtype {arr.dtype}")
    return arr.astype(np.int64, copy=False)
