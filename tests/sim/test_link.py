"""A fifo Hop pinned directly: a tie of entry times keeps entry order."""

from __future__ import annotations

import dataclasses

import numpy as np

from duplexsim.config.link import LinkConfig
from duplexsim.config.link_presets import resolve_link
from duplexsim.sim.link import Hop


def _ideal(**keys: object) -> LinkConfig:
    return dataclasses.replace(resolve_link("ideal"), **keys)  # type: ignore[arg-type]


def test_fifo_hop_keeps_a_tie_of_entry_times_in_entry_order() -> None:
    """A packet that entered a fifo hop at the same ms as an earlier one, after a later
    packet overtook it upstream, still leaves behind that earlier one."""
    hop = Hop(_ideal(delay_ms=5.0, ordering="fifo"), np.random.SeedSequence(0))
    first = hop.cross(10.0, 50, drawn=40.0)  # a slow draw: leaves at 50
    assert first == 50.0
    assert hop.cross(30.0, 50, drawn=5.0) == 50.0  # behind the first
    # entered at 10, as the first did, but after it (the 30 one overtook it upstream)
    assert hop.cross(10.0, 50, drawn=5.0) == first
