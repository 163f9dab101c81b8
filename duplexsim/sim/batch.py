"""Simulate many conversations at once in one thread, batching their agents' forwards.

Owns :func:`run_batch`. Each scenario is an ordinary :class:`~duplexsim.sim.Session`; its
run is an engine program (:meth:`~duplexsim.sim.Session.finish_program`) and
:func:`~duplexsim.models.engine.run_lockstep` advances all of them together: every
session runs its SimPy events until one of its agents asks for a token, then one forward
per agent directory serves every conversation's request of that round (each SyncLLM or TDM
side holds a row of that directory's :class:`~duplexsim.models.rows.LMRows`). Must not change
what a session computes: the simulation, network and agents are exactly those of
:func:`duplexsim.sim.run`.

Same seed, same trace, alone or in any batch: sampling uses each agent's own
counter-based random stream, and the lean forward's logits of a row are the same bits at
any batch (:mod:`duplexsim.models.lean` pads every dense product to 4 rows; before, one
conversation in 20 of a sweep sampled another unit in a batch than alone). The HF
fallback forward (architectures the lean one does not cover) has no such guarantee: a
token could differ where float rounding moves a cumulative probability across its draw.
When it pays: ``python -m duplexsim.bench.bench_sim`` prints the ratio against one by one.

Limits: ``compute.model = "measured"`` is refused (a decision's wall time would include
the other conversations' forwards, so it would not be that agent's cost); use ``none`` or
``profile``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from duplexsim.closing import close_each
from duplexsim.config.scenario import Scenario
from duplexsim.errors import DuplexsimError, with_note
from duplexsim.models.engine import AnyProgram, run_lockstep
from duplexsim.models.rows import Backend
from duplexsim.sim.build import shared_model_agents
from duplexsim.sim.session import Session, check_scenario

if TYPE_CHECKING:
    from duplexsim.sim.trace import Trace


def run_batch(scenarios: Sequence[Scenario], *, progress: bool = False,
              backend: Backend = "auto") -> list[Trace]:
    """Simulate every scenario, forwards batched across them; traces in input order.

    Each trace is what :func:`duplexsim.sim.run` gives for that scenario (see the module
    docstring). A scenario whose agents or session cannot be built raises that error with
    a note naming it (``run_batch scenario 1 'name'``) before anything runs; one that fails
    while running raises ``RuntimeError`` naming it, after the others have finished.
    ``backend``: the agents' forward (:mod:`duplexsim.models.rows`).
    """
    if isinstance(scenarios, Scenario | str):  # (a str would be read one letter a scenario)
        raise TypeError(f"scenarios: got {type(scenarios).__name__} (allowed: a list of "
                        "Scenarios; run(scenario) simulates one)")
    scenarios = list(scenarios)
    for i, scenario in enumerate(scenarios):
        check_scenario(scenario, f"scenarios[{i}]")
    for scenario in scenarios:
        if scenario.compute.model == "measured":
            raise ValueError(f"{scenario.name}: compute.model: 'measured' cannot be batched "
                             "(wall time is shared by the batch) (allowed here: none, profile)")
    given = shared_model_agents(scenarios, backend,
                                  scenario_note=lambda i: _which(i, scenarios[i]))
    sessions: list[Session] = []
    bar = None
    try:  # closed however it ends: a later scenario's build error left the first ones open
        for i, (scenario, agents) in enumerate(zip(scenarios, given, strict=True)):
            sessions.append(_session(i, scenario, agents))
        bar = _bar(progress, len(sessions))
        results = run_lockstep([_guarded(s.finish_program(), bar) for s in sessions])
    finally:  # the sessions, then the model sides built here (given to them: ours), the bar
        close_each([*sessions, *(a for agents in given for a in agents.values()), bar])
    for i, result in enumerate(results):
        if isinstance(result, Exception):
            raise RuntimeError(f"run_batch: scenario {i} ({scenarios[i].name!r}) failed: "
                               f"{result}") from result
    return results


def _which(i: int, scenario: Scenario) -> str:
    """How a build error names scenario ``i`` of the batch (a sweep's cells often share one
    name, so by index too)."""
    return f"run_batch scenario {i} {scenario.name!r}"


def _session(i: int, scenario: Scenario, given: dict[str, Any]) -> Session:
    """Scenario ``i``'s session; a build error names the scenario (:func:`_which`)."""
    try:
        # the session builds the other sides (and closes them); the model sides are ours
        return Session(scenario, given)
    except DuplexsimError as e:
        raise with_note(e, _which(i, scenario)) from None


def _guarded(program: AnyProgram[Trace], bar: Any) -> AnyProgram[Trace | Exception]:
    """``program``, its exception returned instead of raised (the others go on)."""
    try:
        trace = yield from program
    except Exception as e:  # noqa: BLE001 - re-raised by run_batch once all have finished
        return e
    finally:
        if bar is not None:
            bar.update(1)
    return trace


def _bar(progress: bool, total: int) -> Any:
    if not progress:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="conv", desc="simulate batch")
