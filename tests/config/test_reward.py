"""RewardConfig: the [reward] table's checks."""

from __future__ import annotations

import numpy as np
import pytest

from duplexsim.config.loader import from_dict
from duplexsim.config.reward import RewardConfig
from duplexsim.errors import ConfigError


@pytest.mark.parametrize(("kwargs", "expected"), [
    ({"gap_per_s": "1"}, "gap_per_s: wrong type string (allowed: number)"),
    ({"gap_per_s": True}, "gap_per_s: wrong type boolean (allowed: number)"),
    ({"fto": {}}, "fto: wrong type table (allowed: number)"),
    ({"gap_free_ms": "400"}, "gap_free_ms: wrong type string (allowed: number)"),
    ({"fto_sd_ms": None}, "fto_sd_ms: wrong type null (allowed: number)"),
])
def test_built_in_python_a_wrong_type_is_one_line(kwargs: dict, expected: str) -> None:
    """RewardConfig(gap_per_s="1") was "1 is out of range (allowed: 0 .. 1e+06)", a None or
    True the same: now what a [reward] table of the scenario file is told."""
    with pytest.raises(ConfigError) as info:
        RewardConfig(**kwargs)
    assert [str(p) for p in info.value.problems] == [expected]
    if None not in kwargs.values():  # (a file gives no None)
        with pytest.raises(ConfigError) as info:
            from_dict(RewardConfig, kwargs, file="f.toml")
        assert [str(p) for p in info.value.problems] == [f"f.toml: {expected}"]


def test_built_in_python_numbers_of_the_right_kind_still_build() -> None:
    """An int for a weight stays as given; a NumPy scalar is its Python number."""
    config = RewardConfig(gap_per_s=2, fto=np.float64(0.25), gap_free_ms=np.int64(440))
    assert (config.gap_per_s, type(config.gap_per_s)) == (2, int)
    assert (config.fto, config.gap_free_ms, type(config.gap_free_ms)) == (0.25, 440, int)
