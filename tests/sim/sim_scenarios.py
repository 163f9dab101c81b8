"""Small scenarios for the simulator tests."""

from __future__ import annotations

from duplexsim.config.network import LinkConfig, NetworkConfig
from duplexsim.config.scenario import Scenario, SideConfig


def scripted(chunk_ms: int = 200, duration_s: float = 12.0, seed: int = 0,
             delay_ms: float | None = None, **kw: object) -> Scenario:
    """Two scripted talkers; ``delay_ms`` = a constant one-way delay both ways."""
    network = kw.pop("network", None)
    if network is None:
        link = None if delay_ms is None else LinkConfig(delay_ms=delay_ms)
        network = NetworkConfig(preset="ideal", a_to_b=link, b_to_a=link)
    return Scenario(chunk_ms=chunk_ms, duration_s=duration_s, seed=seed,
                    a=SideConfig(kind="scripted", policy="random-talker"),
                    b=SideConfig(kind="scripted", policy="fixed-turns"),
                    network=network, **kw)  # type: ignore[arg-type]
