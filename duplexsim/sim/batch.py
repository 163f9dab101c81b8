"""Simulate many conversations at once, batching their agents' model calls.

Owns :func:`run_batch`. Each scenario becomes an ordinary :class:`~duplexsim.sim.Session`
running in its own thread; every SyncLLM side gets a row of one shared batched KV cache
per agent directory (:mod:`duplexsim.models.lockstep`), so a model step of all the
conversations' agents is one forward. Must not change what a session computes: the
simulation, network and agents are exactly those of :func:`duplexsim.sim.run`.

When it pays: a chunk of an agent is a few one-token forwards; 16 rows of a small model
cost about twice one row, so the forward's share of the work shrinks. The rest (sampling,
the agent's bookkeeping, SimPy) is Python, runs one thread at a time under the GIL and is
not batched. Measured on 2 CPU cores with two 3.4M-parameter agents: 16 conversations 1.22x
faster than one by one, 4 conversations 0.77x. Larger models and GPUs, where the forward
dominates, gain more. ``python -m duplexsim.bench.bench_sim`` prints the ratio.

Limits: ``compute.model = "measured"`` is refused (a decision's wall time includes
waiting for the other conversations, so it would not be that agent's cost); use ``none``
or ``profile``. A batch is reproducible byte for byte for the same list of scenarios; a
conversation in a batch equals its solo run up to float rounding of the batched matmuls
(which flips a sampled token only at a near-tie of the sampler).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from duplexsim.config.scenario import Scenario
from duplexsim.sim.build import SIDES, build_agents
from duplexsim.sim.session import Session

MARGIN_TOKENS = 64
"""Slots past an agent's context window (a decision's worst case before it slides)."""


def _shared_syncllm_agents(scenarios: Sequence[Scenario], lockstep: Any,
                           ) -> list[dict[str, Any]]:
    """SyncLLM agents for every syncllm side, one shared batched model per agent directory."""
    from duplexsim.agents.syncllm import SyncLLMAgent
    from duplexsim.models.agentdir import load_agent_files
    from duplexsim.models.lockstep import shared_streams
    from duplexsim.sim.build import syncllm_options

    sides: dict[Path, list[tuple[int, str]]] = {}
    for i, scenario in enumerate(scenarios):
        for key in SIDES:
            side = getattr(scenario, key)
            if side.kind == "syncllm":
                sides.setdefault(Path(side.agent).resolve(), []).append((i, key))
    agents: list[dict[str, Any]] = [{} for _ in scenarios]
    for root, users in sides.items():
        first = scenarios[users[0][0]]
        try:
            files = load_agent_files(root)
        except (ValueError, FileNotFoundError) as e:
            raise ValueError(f"{first.name}: {users[0][1]}.agent: {e}") from e
        lm, streams = shared_streams(files.model, files.vocab.n_units, len(users),
                                     files.context_tokens + MARGIN_TOKENS, lockstep)
        for (i, key), stream in zip(users, streams, strict=True):
            scenario = scenarios[i]
            sampling, estimation = syncllm_options(getattr(scenario, key))
            try:
                files.check_chunk_ms(scenario.chunk_ms)
            except ValueError as e:
                raise ValueError(f"{scenario.name}: {key}.agent: {e}") from e
            agents[i][key] = SyncLLMAgent(files, scenario.chunk_ms, sampling=sampling,
                                          estimation=estimation, seed=scenario.seed,
                                          name=f"{key}:{root.name}", lm=lm, state=stream)
    return agents


def run_batch(scenarios: Sequence[Scenario], *, progress: bool = False) -> list[Any]:
    """Simulate every scenario, model calls batched across them; traces in input order.

    Each trace is what :func:`duplexsim.sim.run` would give for that scenario (see the
    module docstring for the float-rounding caveat). A scenario that fails raises
    ``RuntimeError`` naming it, after the others have finished.
    """
    from duplexsim.models.lockstep import Lockstep

    scenarios = list(scenarios)
    for scenario in scenarios:
        if scenario.compute.model == "measured":
            raise ValueError(f"{scenario.name}: compute.model: 'measured' cannot be batched "
                             "(wall time is shared by the batch) (allowed here: none, profile)")
    lockstep = Lockstep()
    given = _shared_syncllm_agents(scenarios, lockstep)
    sessions = [Session(s, build_agents(s, g)) for s, g in zip(scenarios, given, strict=True)]
    traces: list[Any] = [None] * len(sessions)
    errors: dict[int, BaseException] = {}
    bar = _bar(progress, len(sessions))

    def work(i: int) -> None:
        try:
            traces[i] = sessions[i].finish()
        except BaseException as e:  # noqa: BLE001 - re-raised in the caller's thread
            errors[i] = e
        finally:
            lockstep.leave()
            if bar is not None:
                bar.update(1)

    lockstep.join(len(sessions))  # all registered before any thread can start a round
    threads = [threading.Thread(target=work, args=(i,), name=f"duplexsim-sim-{i}", daemon=True)
               for i in range(len(sessions))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if bar is not None:
        bar.close()
    if errors:
        i = min(errors)
        raise RuntimeError(f"run_batch: scenario {i} ({scenarios[i].name!r}) failed: "
                           f"{errors[i]}") from errors[i]
    return traces


def _bar(progress: bool, total: int) -> Any:
    if not progress:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="conv", desc="simulate batch")
