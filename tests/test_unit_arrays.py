"""duplexsim.unit_arrays: checked arrays of unit ids and token ids."""

from __future__ import annotations

import numpy as np
import pytest

from duplexsim.unit_arrays import as_id_array, check_chunk, check_units


def test_tokens_still_hands_out_the_checks() -> None:
    """The checks moved here from duplexsim.tokens, which re-exports them: code that imports
    them from there gets the same functions."""
    from duplexsim import tokens, unit_arrays

    for name in ("ArrayLike", "as_id_array", "check_chunk", "check_units"):
        assert getattr(tokens, name) is getattr(unit_arrays, name)
        assert name in tokens.__all__


def test_bad_arrays_are_one_line_errors_naming_the_position() -> None:
    assert check_units([3, 0, 4], "units", 5).dtype == np.int64
    with pytest.raises(ValueError, match=r"^units\[2\] = 5: not a unit id \(allowed: 0..4\); "
                                         r"2 bad value\(s\) in all$"):
        check_units([0, 1, 5, 7], "units", 5)
    with pytest.raises(ValueError, match="expected integer unit ids"):
        check_units([0.5], "units", 5)
    with pytest.raises(ValueError, match=r"^own: 3 frames \(allowed: 4\)$"):
        check_chunk([[0, 1, 2]], "own", 5, 4)
    with pytest.raises(ValueError, match="expected a 1-D sequence"):
        as_id_array([[1, 2]])
