"""Small scenarios, and protocol agents, for the simulator tests."""

from __future__ import annotations

import numpy as np

from duplexsim.agents.base import ChunkReport
from duplexsim.config.link import LinkConfig
from duplexsim.config.network import NetworkConfig
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


class CostlyEcho:
    """Protocol agent that reports model work (tokens) so compute models apply."""

    name = "costly"
    frames_per_chunk = 5
    silence_unit = 0

    def reset(self, seed: int) -> None:
        self.played_log: dict[int, np.ndarray] = {}

    def observe_partner(self, chunk: int, units: np.ndarray) -> None:
        pass

    def produce(self, chunk: int) -> ChunkReport:
        return ChunkReport(chunk=chunk, units=np.full(5, 7 + chunk % 3), generated_tokens=10,
                           prefill_tokens=4)

    def played(self, chunk: int, units: np.ndarray) -> None:
        self.played_log[chunk] = np.asarray(units)


class Reporting:
    """Protocol agent that returns what ``report(chunk)`` makes (a bad report, say)."""

    name = "odd"
    frames_per_chunk = 5
    silence_unit = 0
    n_units = 20

    def __init__(self, report) -> None:  # noqa: ANN001
        self.report = report

    def reset(self, seed: int) -> None:
        pass

    def observe_partner(self, chunk: int, units: np.ndarray) -> None:
        pass

    def produce(self, chunk: int) -> ChunkReport:
        return self.report(chunk)

    def played(self, chunk: int, units: np.ndarray) -> None:
        pass
