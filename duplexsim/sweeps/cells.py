"""What one sweep cell computes: a resolved scenario dict -> one flat metrics row.

The default cell simulates the scenario (``duplexsim.sim.run``) and scores the trace
with :func:`duplexsim.metrics.latency.trace_metrics`. A cell function must be importable
as ``module:function`` (it runs in worker processes) and deterministic in its config.
"""

from __future__ import annotations

from typing import Any


def simulate_cell(config: dict[str, Any]) -> dict[str, Any]:
    """Simulate the scenario ``config`` and return its metrics row."""
    from duplexsim.config.scenario import scenario_from_dict
    from duplexsim.metrics.latency import trace_metrics
    from duplexsim.sim import run

    scenario = scenario_from_dict(config, file="<sweep cell>")
    trace = run(scenario)
    return trace_metrics(trace, chunk_ms=scenario.chunk_ms, lists=True)
