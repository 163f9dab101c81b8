"""What one sweep cell computes: a resolved scenario dict -> one flat metrics row.

The default cell simulates the scenario (``duplexsim.sim.run``) and scores the trace
with :func:`duplexsim.metrics.latency.trace_metrics`. A cell function must be importable
as ``module:function`` (it runs in worker processes) and deterministic in its config.
It may carry a ``batched`` attribute: a function of a list of configs returning their
rows in order, which the runner uses for sweeps with ``batch > 1``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from duplexsim.config.scenario import Scenario

DEFAULT_CELL = "duplexsim.sweeps.cells:simulate_cell"
"""The cell a sweep's ``cell = ""`` runs; named in full it is the same cell (one cache key)."""
UNSCORED_KEYS = ("name", "output", "reward")
"""Scenario keys (and tables) the default cell's rows do not depend on: the name labels a
run, ``[output]`` says what ``simulate`` writes besides the trace and ``[reward]`` is read
by the RL envs only. Swept with the default cell, every value gave the same rows; they are
no part of its cells' cache keys either."""


def simulate_cell(config: dict[str, Any]) -> dict[str, Any]:
    """Simulate the scenario ``config`` and return its metrics row."""
    return simulate_cells([config])[0]


def simulate_cells(configs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Simulate several scenarios together (model calls batched) and score each trace.

    Scenarios with ``compute.model = "measured"`` run one at a time (their wall time must be
    their own); the others go through :func:`duplexsim.sim.batch.run_batch`.
    """
    from duplexsim.config.scenario import scenario_from_dict

    return simulate_scenarios([scenario_from_dict(c, file="<sweep cell>") for c in configs])


def simulate_scenarios(scenarios: list[Scenario]) -> list[dict[str, Any]]:
    """:func:`simulate_cells` of scenarios already built: the runner hands a default cell's
    :attr:`~duplexsim.sweeps.config.Cell.scenario` (resolved for its key) to its worker."""
    from duplexsim.metrics.latency import trace_metrics
    from duplexsim.sim import run
    from duplexsim.sim.batch import run_batch

    alone = [i for i, s in enumerate(scenarios)
             if s.compute.model == "measured" or len(scenarios) == 1]
    together = [i for i in range(len(scenarios)) if i not in alone]
    traces: dict[int, Any] = {i: run(scenarios[i]) for i in alone}
    traces.update(zip(together, run_batch([scenarios[i] for i in together]), strict=True))
    return [trace_metrics(traces[i], chunk_ms=s.chunk_ms, lists=True)
            for i, s in enumerate(scenarios)]


simulate_cell.batched = simulate_cells  # type: ignore[attr-defined]
