"""The two sides of a conversation by name: :data:`SIDES` and :func:`other`.

A leaf module (no imports), so that agents, digests and the env's speech source can name a
side's partner without importing the simulator (:mod:`duplexsim.sim`, which loads torch).
"""

from __future__ import annotations

SIDES = ("a", "b")
"""The two sides' keys, in the order the simulator builds, runs and records them."""


def other(side: str) -> str:
    """The key of the side across from ``side`` (one of :data:`SIDES`); anything else is a
    one-line ``ValueError`` (it was side "a": ``other("x")`` named a side of the scenario)."""
    if side == "a":
        return "b"
    if side == "b":
        return "a"
    raise ValueError(f"side {side!r} is not a side of the conversation (allowed: "
                     f"{', '.join(map(repr, SIDES))})")
