"""duplexsim.errors' number checks: :func:`finite_number` on the inputs that fooled the
checks it replaced, and the transcript fields that use it as a type guard."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from duplexsim.corpora.candor import _count
from duplexsim.corpora.fisher import seconds_field
from duplexsim.errors import finite_number


@pytest.mark.parametrize(("value", "finite"), [
    (3, True), (3.0, True), (-2.5, True), (np.float64(2.5), True), (np.float32(1), True),
    (np.int64(4), True), (Fraction(1, 3), True), (None, False), (True, False),
    (np.True_, False), (float("nan"), False), (float("inf"), False), (-float("inf"), False),
    (np.float32("nan"), False), (10**400, False), ("3", False), (1j, False)])
def test_finite_number_is_a_finite_real_and_not_a_bool(value: object, finite: bool) -> None:
    assert finite_number(value) is finite  # 10**400: no OverflowError


@pytest.mark.parametrize("text", ["nan", "inf", "-inf", "1e400", "1" + "0" * 400, "x", "1_0"])
def test_a_time_or_count_that_is_no_finite_plain_number_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"^start '.*' is not a time in seconds \(allowed: "
                       r"a finite decimal number, e.g. 12.5\)$"):
        seconds_field(text, "start")
    with pytest.raises(ValueError, match=r"^count '.*' at row 3 \(allowed: a whole number "
                       r">= 1\)$"):
        _count(text, "count", " at row 3")
    assert seconds_field(" 12.5 ", "start") == 12.5 and _count("2.0", "count", "") == 2
