"""The k-means tokenizers' voice activity: hole filling."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from duplexsim.units.energy_vad import fill_holes


@given(st.lists(st.booleans(), min_size=1, max_size=60), st.integers(0, 4))
def test_fill_holes_only_fills_short_inner_gaps(bits: list[bool], k: int) -> None:
    x = np.array(bits)
    y = fill_holes(x, k)
    assert np.all(y[x])  # never removes speech
    if x.any():
        first, last = np.flatnonzero(x)[[0, -1]]
        assert not y[:first].any() and not y[last + 1 :].any()
    changed = np.flatnonzero(y & ~x)
    for i in changed:  # each filled frame sits in a hole of length <= k
        lo = i
        while lo > 0 and not x[lo - 1]:
            lo -= 1
        hi = i
        while hi < len(x) - 1 and not x[hi + 1]:
            hi += 1
        assert hi - lo + 1 <= k
