"""Building a session's parts from a scenario: agents per side and the compute-time model.

Owns the registry ``kind -> agent builder`` (replay, scripted, syncllm, tdm), the check that
an agent speaks the scenario's chunk size, where a unit tokenizer for vocoding is found,
and the compute-time registry (none | measured | profile). Must not run the simulation.

Compute time (simulated ms, rounded up): ``none`` = 0; ``measured`` = the agent's reported
wall time of its model calls x ``scale`` (not reproducible run to run: wall time);
``profile`` = ``prefill_ms_per_token * prefill_tokens + decode_ms_per_token *
generated_tokens + overhead_ms``. An agent that reports no model work (no tokens and no
wall time: replay, scripted) takes no compute time under any model.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from duplexsim.agents.base import Agent, ChunkReport
from duplexsim.config.scenario import ComputeConfig, Scenario, SideConfig

SIDES = ("a", "b")


def _replay(side: SideConfig, scenario: Scenario, key: str) -> Agent:
    from duplexsim.agents.replay import ReplayAgent

    return ReplayAgent.from_side(side, scenario, key)


def _scripted(side: SideConfig, scenario: Scenario, key: str) -> Agent:
    from duplexsim.agents.scripted import ScriptedAgent

    return ScriptedAgent.from_side(side, scenario, key)


def syncllm_options(side: SideConfig) -> tuple[Any, str]:
    """A syncllm side's sampling config and the agent's estimation setting."""
    from duplexsim.models.streaming import SamplingConfig

    sampling = SamplingConfig(temperature=side.temperature, top_k=side.top_k, top_p=side.top_p)
    # "wait" is the simulator's business (it stalls the decision until the partner chunks
    # arrive); the model estimates only a chunk the receive buffer gave up on
    estimation = "model" if side.estimation == "wait" else side.estimation
    return sampling, estimation


def _syncllm(side: SideConfig, scenario: Scenario, key: str) -> Agent:
    from duplexsim.agents.syncllm import load_agent  # only a SyncLLM agent (named error)

    sampling, estimation = syncllm_options(side)
    try:
        return load_agent(side.agent, chunk_ms=scenario.chunk_ms, sampling=sampling,
                    estimation=estimation, seed=scenario.seed,
                    name=f"{key}:{Path(side.agent).name}")
    except (ValueError, FileNotFoundError) as e:
        raise ValueError(f"{key}.agent: {e}") from e


def _tdm(side: SideConfig, scenario: Scenario, key: str) -> Agent:
    from duplexsim.agents.tdm import SliceError, load_tdm_agent
    from duplexsim.models.streaming import SamplingConfig

    sampling = SamplingConfig(temperature=side.temperature, top_k=side.top_k, top_p=side.top_p)
    try:
        return load_tdm_agent(side.agent, chunk_ms=scenario.chunk_ms, slice_ms=side.slice_ms,
                              sampling=sampling, seed=scenario.seed,
                              name=f"{key}:{Path(side.agent).name}",
                              lead_chunks=scenario.decision_lead_chunks)
    except SliceError as e:
        raise ValueError(f"{key}.slice_ms: {e}") from e
    except (ValueError, FileNotFoundError) as e:
        raise ValueError(f"{key}.agent: {e}") from e


AGENT_BUILDERS: dict[str, Callable[[SideConfig, Scenario, str], Agent]] = {
    "replay": _replay, "scripted": _scripted, "syncllm": _syncllm, "tdm": _tdm,
}


def build_agents(scenario: Scenario, given: Mapping[str, Agent] | None = None) -> dict[str, Agent]:
    """An agent per side: ``given[side]`` if there, else built from the scenario side."""
    given = dict(given or {})
    unknown = set(given) - set(SIDES)
    if unknown:
        raise ValueError(f"agents: unknown side(s) {sorted(unknown)} (allowed: a, b)")
    agents: dict[str, Agent] = {}
    for key in SIDES:
        side: SideConfig = getattr(scenario, key)
        agent = given.get(key) or AGENT_BUILDERS[side.kind](side, scenario, key)
        if int(agent.frames_per_chunk) != scenario.frames_per_chunk:
            raise ValueError(
                f"{key}: agent {getattr(agent, 'name', '?')!r} speaks {agent.frames_per_chunk} "
                f"frames per chunk (allowed: {scenario.frames_per_chunk} = chunk_ms "
                f"{scenario.chunk_ms} / 40)")
        agents[key] = agent
    return agents


def silence_unit_of(agent: Any) -> int:
    unit = getattr(agent, "silence_unit", None)
    if unit is None:
        unit = getattr(getattr(agent, "fmt", None), "silence_unit", 0)
    return int(unit)


def tokenizer_dir(scenario: Scenario) -> Path | None:
    """A unit tokenizer directory the agents' units can be vocoded with, if one is known."""
    for key in SIDES:
        side: SideConfig = getattr(scenario, key)
        root = {"syncllm": side.agent, "tdm": side.agent,
                "replay": side.corpus}.get(side.kind, "")
        if root and (Path(root) / "tokenizer" / "config.json").is_file():
            return Path(root) / "tokenizer"
    return None


def _no_compute(report: ChunkReport, cfg: ComputeConfig) -> float:  # noqa: ARG001
    return 0.0


def _measured(report: ChunkReport, cfg: ComputeConfig) -> float:
    return report.compute_wall_ms * cfg.scale


def _profile(report: ChunkReport, cfg: ComputeConfig) -> float:
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
