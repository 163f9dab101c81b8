"""The side keys (:mod:`duplexsim.sides`)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from duplexsim.sides import SIDES, other


def test_other_names_the_side_across_from_each_side() -> None:
    """The one way the simulator, its trace, the agents and the envs name a side's partner."""
    assert SIDES == ("a", "b") and [other(key) for key in SIDES] == ["b", "a"]


@pytest.mark.parametrize("side", ["x", "A", "", " a", None, 0])
def test_other_refuses_what_is_not_a_side(side: object) -> None:
    """``other("x")`` was "a": a typo named a side of the scenario, without a word."""
    with pytest.raises(ValueError, match=r"^side .* is not a side of the conversation "
                       r"\(allowed: 'a', 'b'\)$"):
        other(side)  # type: ignore[arg-type]


def test_the_side_keys_import_nothing_heavy() -> None:
    """Agents and digests read the side keys without loading the simulator or torch."""
    code = ("import sys, duplexsim.sides, duplexsim.agents.scripted, duplexsim.digests; "
            "print(sorted(m for m in ('torch', 'simpy', 'duplexsim.sim') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
