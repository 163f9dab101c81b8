"""The side keys (:mod:`duplexsim.sides`)."""

from __future__ import annotations

import subprocess
import sys

from duplexsim.sides import SIDES, other


def test_other_names_the_side_across_from_each_side() -> None:
    """The one way the simulator, its trace, the agents and the envs name a side's partner."""
    assert SIDES == ("a", "b") and [other(key) for key in SIDES] == ["b", "a"]


def test_the_side_keys_import_nothing_heavy() -> None:
    """Agents and digests read the side keys without loading the simulator or torch."""
    code = ("import sys, duplexsim.sides, duplexsim.agents.scripted, duplexsim.digests; "
            "print(sorted(m for m in ('torch', 'simpy', 'duplexsim.sim') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
