"""Building a session's parts from a scenario: agents per side and the compute-time model.

Owns the registry ``kind -> agent builder`` (replay, scripted, syncllm, tdm), the sharing of
one agent directory's model by the sides (and env learners' own models) built from it
(:func:`sharing_models`), the check that an agent speaks the scenario's chunk size, where a
unit tokenizer for vocoding is found, and the compute-time registry (none | measured |
profile). Must not run the simulation.

Compute time (simulated ms, rounded up): ``none`` = 0; ``measured`` = the agent's reported
wall time of its model calls x ``scale`` (not reproducible run to run: wall time);
``profile`` = ``prefill_ms_per_token * prefill_tokens + decode_ms_per_token *
generated_tokens + overhead_ms``, 0 for a decision without tokens (the profile reads no
wall time). An agent that reports no model work (no tokens and no wall time: replay,
scripted) takes no compute time under any model.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from duplexsim.agents.base import (
    Agent,
    ChunkReport,
    UnitInventory,
    n_units_of,
    unwrapped,
)
from duplexsim.closing import close_each
from duplexsim.config.scenario import ComputeConfig, Scenario, SideConfig
from duplexsim.errors import DuplexsimError, InputError, with_note
from duplexsim.sides import SIDES, other


def _replay(side: SideConfig, scenario: Scenario, key: str) -> Agent:
    from duplexsim.agents.replay import ReplayAgent

    return ReplayAgent.from_side(side, scenario, key)


def _scripted(side: SideConfig, scenario: Scenario, key: str,
              partner: Agent | UnitInventory | None = None) -> Agent:
    """Side ``key``'s scripted agent, speaking ``partner``'s inventory when that agent object
    (or an env learner's speech inventory) is given and says one, else the scenario's
    partner side's."""
    from duplexsim.agents.scripted import ScriptedAgent

    return ScriptedAgent.from_side(side, scenario, key, partner)


def syncllm_options(side: SideConfig) -> tuple[Any, str]:
    """A syncllm side's sampling config and the agent's estimation setting."""
    from duplexsim.models.sampling import SamplingConfig

    sampling = SamplingConfig(temperature=side.temperature, top_k=side.top_k, top_p=side.top_p,
                              estimate_temperature=side.estimate_temperature)
    # "wait" is the simulator's business (it stalls the decision until the partner chunks
    # arrive); the model estimates only a chunk the receive buffer gave up on
    estimation = "model" if side.estimation == "wait" else side.estimation
    return sampling, estimation


_SHARED_MODELS: ContextVar[dict[Path, Any] | None] = ContextVar("duplexsim_shared_models",
                                                                default=None)


@contextmanager
def sharing_models(share: dict[Path, Any] | None = None) -> Iterator[dict[Path, Any]]:
    """Within the block, SyncLLM and TDM sides built from one agent directory, and env
    learners' own models loaded from it (:func:`load_agent_dir`), share one model and one
    :class:`~duplexsim.models.rows.LMRows` (a row each), so that an engine driver
    (:func:`~duplexsim.models.engine.run_lockstep`) batches the sides' forwards across
    conversations and the weights are held once. ``share``: the cache to use (e.g. held by a
    vector env across its calls); default a fresh one. Outside any block every agent loads
    its own model."""
    share = {} if share is None else share
    token = _SHARED_MODELS.set(share)
    try:
        yield share
    finally:
        _SHARED_MODELS.reset(token)


def _syncllm(side: SideConfig, scenario: Scenario, key: str) -> Agent:
    from duplexsim.agents.syncllm import load_agent  # named kind errors

    share = _SHARED_MODELS.get()
    try:
        if share is None:
            sampling, estimation = syncllm_options(side)
            return load_agent(side.agent, chunk_ms=scenario.chunk_ms, sampling=sampling,
                              estimation=estimation, seed=scenario.seed,  # type: ignore[arg-type]
                              name=f"{key}:{Path(side.agent).name}")
        files, lm = _shared_rows(share, side.agent, side.kind)
        return syncllm_on_rows(files, lm, side, scenario, key)
    except DuplexsimError as e:
        raise with_note(e, f"scenario {key}.agent") from None


def _shared_rows(share: dict[Path, Any], agent: str | Path, kind: str) -> tuple[Any, Any]:
    """The agent files and token rows of directory ``agent`` in ``share`` (loaded at the
    first side or learner that names the directory; one of another ``kind`` gets the
    loader's named error)."""
    from duplexsim.models.agentdir import load_agent_files
    from duplexsim.models.rows import LMRows

    root = Path(agent).resolve()
    if root not in share or share[root][0].kind != kind:
        files = load_agent_files(root, kind=kind)
        share[root] = (files, LMRows(files.model, files.vocab.n_units, files.context_tokens))
    return share[root]


def load_agent_dir(path: str | Path, scenario: Scenario) -> Agent:
    """The trained agent directory ``path`` (SyncLLM or TDM, as its ``agent.json`` says) for
    ``scenario`` (its chunk size, seed and decision lead), as :func:`duplexsim.agents.load`
    loads it (default sampling, named as the directory's agent): an env learner's own
    ``model=``. Within :func:`sharing_models`, on a row of the shared model and token rows of
    its directory (as a side's); outside, on a model of its own."""
    share = _SHARED_MODELS.get()
    if share is None:
        from duplexsim.agents import load

        return load(str(path), chunk_ms=scenario.chunk_ms, seed=scenario.seed,
                    lead_chunks=scenario.decision_lead_chunks)
    from duplexsim.models.agentdir import agent_kind, read_agent_json

    kind = agent_kind(read_agent_json(path))  # (a missing agent.json named as load names it)
    files, lm = _shared_rows(share, path, kind)
    if kind == "tdm":
        from duplexsim.agents.tdm import TdmAgent

        return TdmAgent(files, scenario.chunk_ms, seed=scenario.seed,
                        lead_chunks=scenario.decision_lead_chunks, lm=lm)
    from duplexsim.agents.syncllm import SyncLLMAgent

    return SyncLLMAgent(files, scenario.chunk_ms, seed=scenario.seed, lm=lm)


def syncllm_on_rows(files: Any, lm: Any, side: SideConfig, scenario: Scenario,
                    key: str) -> Agent:
    """Side ``key``'s SyncLLM agent on a row of the shared token rows ``lm`` of ``files``'
    model (its chunk size checked against the agent's)."""
    from duplexsim.agents.syncllm import SyncLLMAgent

    sampling, estimation = syncllm_options(side)
    files.check_chunk_ms(scenario.chunk_ms)
    return SyncLLMAgent(files, scenario.chunk_ms, sampling=sampling,
                        estimation=estimation,  # type: ignore[arg-type]
                        seed=scenario.seed, name=f"{key}:{Path(side.agent).name}", lm=lm)


def _tdm(side: SideConfig, scenario: Scenario, key: str) -> Agent:
    from duplexsim.agents.tdm import SliceError, load_tdm_agent

    share = _SHARED_MODELS.get()
    try:
        if share is None:
            return load_tdm_agent(side.agent, chunk_ms=scenario.chunk_ms,
                                  slice_ms=side.slice_ms or None,  # 0: the agent's first that fits
                                  sampling=_tdm_sampling(side), seed=scenario.seed,
                                  name=f"{key}:{Path(side.agent).name}",
                                  lead_chunks=scenario.decision_lead_chunks)
        files, lm = _shared_rows(share, side.agent, side.kind)
        return tdm_on_rows(files, lm, side, scenario, key)
    except SliceError as e:
        raise with_note(e, f"scenario {key}.slice_ms") from None
    except DuplexsimError as e:
        raise with_note(e, f"scenario {key}.agent") from None


def _tdm_sampling(side: SideConfig) -> Any:
    from duplexsim.models.sampling import SamplingConfig

    return SamplingConfig(temperature=side.temperature, top_k=side.top_k, top_p=side.top_p)


def tdm_on_rows(files: Any, lm: Any, side: SideConfig, scenario: Scenario, key: str) -> Agent:
    """Side ``key``'s TDM agent on a row of the shared token rows ``lm`` of ``files``' model
    (as :func:`~duplexsim.agents.tdm.load_tdm_agent` builds it, on a private row set)."""
    from duplexsim.agents.tdm import TdmAgent

    return TdmAgent(files, scenario.chunk_ms, slice_ms=side.slice_ms or None,
                    sampling=_tdm_sampling(side), seed=scenario.seed,
                    name=f"{key}:{Path(side.agent).name}",
                    lead_chunks=scenario.decision_lead_chunks, lm=lm)


_ON_ROWS: dict[str, Callable[[Any, Any, SideConfig, Scenario, str], Agent]] = {
    "syncllm": syncllm_on_rows, "tdm": tdm_on_rows,
}
"""Model kinds whose sides of one agent directory share one model and token rows."""


AGENT_BUILDERS: dict[str, Callable[[SideConfig, Scenario, str], Agent]] = {
    "replay": _replay, "scripted": _scripted, "syncllm": _syncllm, "tdm": _tdm,
}


def shared_model_agents(scenarios: Sequence[Scenario], backend: str = "auto",
                        skip: Sequence[Mapping[str, Agent]] = (),
                        scenario_note: Callable[[int], str] | None = None,
                        ) -> list[dict[str, Agent]]:
    """Agents for the model sides (syncllm, tdm) of ``scenarios`` (not those in ``skip[i]``):
    one model and one :class:`~duplexsim.models.rows.LMRows` per agent directory, a row per
    side, so the sides' forwards can share one batched call (both sides of one conversation
    deciding at the same ms, or many conversations: :func:`duplexsim.sim.batch.run_batch`).
    Errors name the side (``scenario a.agent``, as its own builder does) and, with
    ``scenario_note``, which scenario: a second note ``scenario_note(i)`` for
    ``scenarios[i]`` (the caller knows what its indices and names mean). ``backend`` is
    checked even where no side uses a model (a typo is not silently unused)."""
    from duplexsim.models.rows import check_backend

    check_backend(backend)

    def noted(e: DuplexsimError, i: int, key: str, field: str = "agent") -> DuplexsimError:
        e = with_note(e, f"scenario {key}.{field}")
        return e if scenario_note is None else with_note(e, scenario_note(i))

    users: dict[tuple[Path, str], list[tuple[int, str]]] = {}
    for i, scenario in enumerate(scenarios):
        for key in SIDES:
            side = getattr(scenario, key)
            if side.kind in _ON_ROWS and key not in (skip[i] if i < len(skip) else {}):
                users.setdefault((Path(side.agent).resolve(), side.kind), []).append((i, key))
    agents: list[dict[str, Agent]] = [{} for _ in scenarios]
    try:
        _build_shared(users, scenarios, agents, backend, noted)
    except BaseException:  # the caller gets none of them: it cannot close them
        close_each(a for built in agents for a in built.values())
        raise
    return agents


def _build_shared(users: dict[tuple[Path, str], list[tuple[int, str]]],
                  scenarios: Sequence[Scenario], agents: list[dict[str, Agent]],
                  backend: str, noted: Callable[..., DuplexsimError]) -> None:
    """:func:`shared_model_agents`' loop: fill ``agents`` (model, rows, then a row a side)."""
    from duplexsim.agents.tdm import SliceError
    from duplexsim.models.agentdir import load_agent_files
    from duplexsim.models.rows import LMRows

    for (root, kind), sides in users.items():
        try:
            files = load_agent_files(root, kind=kind)
        except DuplexsimError as e:  # as the side's own builder names it
            raise noted(e, *sides[0]) from None
        lm = LMRows(files.model, files.vocab.n_units, files.context_tokens, rows=len(sides),
                    backend=backend)  # type: ignore[arg-type]
        for i, key in sides:
            scenario = scenarios[i]
            try:
                agents[i][key] = _ON_ROWS[kind](files, lm, getattr(scenario, key), scenario, key)
            except SliceError as e:  # as _tdm names it
                raise noted(e, i, key, "slice_ms") from None
            except DuplexsimError as e:
                raise noted(e, i, key) from None


def build_agents(scenario: Scenario, given: Mapping[str, Agent] | None = None) -> dict[str, Agent]:
    """An agent per side: ``given[side]`` if there, else built from the scenario side (the
    model sides of one agent directory share one model: :func:`shared_model_agents`)."""
    given = _given_agents(given)
    if len(given) == 2 and unwrapped(given["a"]) is unwrapped(given["b"]):
        raise ValueError(f"agents: a and b are one agent object "
                         f"({getattr(given['a'], 'name', '?')!r}) (allowed: one agent per "
                         "side; an agent holds one side of one conversation: make a second one)")
    built = shared_model_agents([scenario], skip=[given])[0]
    agents: dict[str, Agent] = {}
    try:
        _build_sides(scenario, given, built, agents)
        _check_one_vocabulary(agents)
    except BaseException:  # the caller gets none of the agents built here: close them
        close_each([*built.values(), *(a for k, a in agents.items() if k not in given)])
        raise
    return agents


def _given_agents(given: Mapping[str, Agent] | None) -> dict[str, Agent]:
    """``given`` as a dict side -> Agent, else a one-line error (a list or a string failed
    in ``dict()``, ``{"a": None}`` as an AttributeError deep in the session)."""
    if given is None:
        return {}
    if not isinstance(given, Mapping):
        raise TypeError(f"agents: got {type(given).__name__} (allowed: None, or a dict of "
                        "side -> Agent, e.g. {'a': agent})")
    unknown = set(given) - set(SIDES)
    if unknown:
        raise ValueError(f"agents: unknown side(s) {sorted(unknown, key=repr)} (allowed: a, b)")
    for key, agent in given.items():
        if not isinstance(agent, Agent):
            raise TypeError(f"agents: {key}: got {type(agent).__name__} (allowed: an Agent: "
                            "name, frames_per_chunk, silence_unit, reset, observe_partner, "
                            "produce, played; leave the side out to build it from the scenario)")
    return dict(given)


def _build_sides(scenario: Scenario, given: Mapping[str, Agent], built: Mapping[str, Agent],
                 agents: dict[str, Agent]) -> None:
    """:func:`build_agents`' loop: fill ``agents`` side by side (``given``, else ``built``,
    else from the scenario side), each checked against the scenario's chunk size. The
    caller closes the agents it did not give if this raises (they are in ``agents``)."""
    for key in SIDES:
        side: SideConfig = getattr(scenario, key)
        # membership, not truthiness: an agent may define __len__ (0 before its first chunk)
        if key in given:
            agent = given[key]
        elif key in built:
            agent = built[key]
        elif side.kind == "scripted":  # it speaks what its partner hears
            agent = _scripted(side, scenario, key, given.get(other(key)))
        else:
            agent = AGENT_BUILDERS[side.kind](side, scenario, key)
        agents[key] = agent  # (before the check: an agent refused here is still closed)
        if agent.frames_per_chunk != scenario.frames_per_chunk:  # (int() took 5.5 as 5)
            raise InputError(
                key, "", f"agent {getattr(agent, 'name', '?')!r} speaks "
                f"{agent.frames_per_chunk} frames per chunk",
                f"{scenario.frames_per_chunk} = chunk_ms {scenario.chunk_ms} / 40")


def _check_one_vocabulary(agents: Mapping[str, Agent]) -> None:
    """Both sides must speak one unit inventory where both say theirs
    (:func:`~duplexsim.agents.base.n_units_of`): each hears the other's unit ids. The
    scenario file check compares what agent.json and manifest.json say; a scenario built in
    Python (``duplexsim.sim.run``, a sweep run with ``--no-check``) was not checked, and ran
    until the first unit outside the hearer's inventory."""
    sizes = {key: n_units_of(agent) for key, agent in agents.items()}
    a, b = sizes["a"], sizes["b"]
    if a is None or b is None or a == b:
        return
    names = {key: getattr(agent, "name", "?") for key, agent in agents.items()}
    raise InputError("b", "", f"agent {names['b']!r} speaks {b} units (ids 0..{b - 1}), but "
                     f"a's agent {names['a']!r} speaks {a} (ids 0..{a - 1})", "two sides with "
                     "one unit vocabulary (n_units): an agent trained on the replayed "
                     "corpus, or a corpus built with the agent's unit tokenizer")


def silence_unit_of(agent: Agent) -> int:
    """The agent's silence unit (part of the :class:`~duplexsim.agents.base.Agent` protocol)."""
    return int(agent.silence_unit)


def tokenizer_dir(scenario: Scenario) -> Path | None:
    """The unit tokenizer directory the agents' units can be vocoded with, if one is known.

    Sides whose agent or corpus each hold a tokenizer must hold the same one (the same
    files, :func:`~duplexsim.units.shared_tokenizer`): else an :class:`InputError` naming
    both. Units of another tokenizer are other sounds: each agent read the other's units in
    its own inventory, and ``audio.wav`` vocoded side b's channel with side a's tokenizer."""
    from duplexsim.units import shared_tokenizer

    return shared_tokenizer(scenario.tokenizer_folders())


def _no_compute(report: ChunkReport, cfg: ComputeConfig) -> float:  # noqa: ARG001
    return 0.0


def _measured(report: ChunkReport, cfg: ComputeConfig) -> float:
    return report.compute_wall_ms * cfg.scale


def _profile(report: ChunkReport, cfg: ComputeConfig) -> float:
    if not (report.prefill_tokens or report.generated_tokens):
        # no model work (a TDM chunk after its slice's <idle> / <eos>): the wall time it
        # took to say so (a few us) must not decide whether overhead_ms is charged
        return 0.0
    return (cfg.prefill_ms_per_token * report.prefill_tokens
            + cfg.decode_ms_per_token * report.generated_tokens + cfg.overhead_ms)


COMPUTE_MODELS: dict[str, Callable[[ChunkReport, ComputeConfig], float]] = {
    "none": _no_compute, "measured": _measured, "profile": _profile,
}


def compute_ms(report: ChunkReport, cfg: ComputeConfig) -> int:
    """Simulated ms to produce ``report`` (0 for agents that did no model work)."""
    if not (report.generated_tokens or report.prefill_tokens or report.compute_wall_ms):
        return 0
    return int(math.ceil(COMPUTE_MODELS[cfg.model](report, cfg) - 1e-9))
