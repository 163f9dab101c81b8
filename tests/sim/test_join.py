"""Both sides' decisions of the same ms run side by side (one forward of two rows) and the
trace is exactly the one of deciding them one after the other."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from duplexsim.config.link import LinkConfig
from duplexsim.config.network import NetworkConfig
from duplexsim.config.scenario import BufferConfig, ComputeConfig, Scenario, SideConfig
from duplexsim.sim import Session


def _syncllm(agent: Path, **kw: object) -> SideConfig:
    return SideConfig(kind="syncllm", agent=str(agent), **kw)  # type: ignore[arg-type]


def scenarios(agent: Path) -> dict[str, Scenario]:
    lossy = LinkConfig(delay_ms=60.0, jitter_ms=25.0, jitter_dist="paretonormal", loss=0.08,
                       loss_model="bernoulli", ordering="reorder")
    base = Scenario(name="join", chunk_ms=160, duration_s=5.0, seed=3, a=_syncllm(agent),
                    b=_syncllm(agent), network=NetworkConfig(preset="ideal"))
    return {
        "aligned-clocks": base,
        "lossy-reordering": dataclasses.replace(
            base, network=NetworkConfig(preset="ideal", a_to_b=lossy, b_to_a=lossy)),
        "one-side-waits": dataclasses.replace(
            base, a=_syncllm(agent, estimation="wait"), buffer=BufferConfig(give_up_ms=200),
            network=NetworkConfig(preset="ideal", a_to_b=lossy, b_to_a=lossy)),
        "misses-and-skips": dataclasses.replace(
            base, compute=ComputeConfig(model="profile", decode_ms_per_token=45.0,
                                        prefill_ms_per_token=2.0, on_miss="repeat")),
        "scripted-partner": dataclasses.replace(
            base, b=SideConfig(kind="scripted", policy="random-talker"),
            network=NetworkConfig(preset="continental")),
        "offset-drift": dataclasses.replace(
            base, b=_syncllm(agent, clock_offset_ms=37, clock_drift_ppm=-1500.0),
            decision_lead_chunks=2),
    }


@pytest.mark.parametrize("name", ["aligned-clocks", "lossy-reordering", "one-side-waits",
                                  "misses-and-skips", "scripted-partner", "offset-drift"])
def test_joined_decisions_give_the_sequential_trace(tiny_agent_dir: Path, name: str) -> None:
    scenario = scenarios(tiny_agent_dir)[name]
    runs = {}
    for join in (True, False):
        session = Session(scenario)
        session.join_simultaneous = join
        runs[join] = (session.finish(), session)
    (joined, s_joined), (alone, s_alone) = runs[True], runs[False]
    for table in ("decisions", "network"):
        a = getattr(joined, table).drop(columns=["compute_wall_ms"], errors="ignore")
        b = getattr(alone, table).drop(columns=["compute_wall_ms"], errors="ignore")
        assert a.equals(b), table
    assert np.array_equal(joined.units, alone.units)
    if name == "aligned-clocks":  # every decision of A has B's beside it: shared forwards
        forwards = {j: s.agents["a"].lm.n_forwards + s.agents["b"].lm.n_forwards
                    for j, s in ((True, s_joined), (False, s_alone))}
        assert forwards[True] < 0.75 * forwards[False]


class _TokenLM:
    """Just enough of LMRows for the engine: flat logits over four ids."""

    vocab_size = n_units = 4

    def __init__(self) -> None:
        self.mask_cache: dict = {}

    def logits(self, rows: list[int]) -> object:
        import torch

        return torch.zeros(len(rows), self.vocab_size)


class _ProgramAgent:
    """A protocol agent whose decision is an engine program of three token requests; it
    notes whether another agent's program was in flight while its own ran (its measured
    wall time would then include that program's forwards)."""

    frames_per_chunk = 4
    silence_unit = 0
    name = "program"

    def __init__(self, lm: _TokenLM, in_flight: set) -> None:
        self.lm, self.in_flight, self.overlapped = lm, in_flight, 0

    def reset(self, seed: int) -> None:
        from duplexsim.models.sampling import CounterRNG

        self.rng = CounterRNG(seed)

    def observe_partner(self, chunk: int, units: np.ndarray) -> None:
        pass

    def produce(self, chunk: int):  # noqa: ANN201
        from duplexsim.models.engine import drive

        return drive(self.produce_steps(chunk))

    def produce_steps(self, chunk: int):  # noqa: ANN201
        from duplexsim.agents.base import ChunkReport
        from duplexsim.models.engine import TokenRequest
        from duplexsim.models.sampling import SamplingConfig

        self.in_flight.add(id(self))
        for _ in range(3):
            yield TokenRequest(self.lm, 0, SamplingConfig(), self.rng)
            self.overlapped += len(self.in_flight) > 1
        self.in_flight.discard(id(self))
        return ChunkReport(chunk=chunk, units=np.zeros(4, np.int64), generated_tokens=3,
                           compute_wall_ms=1.0)

    def played(self, chunk: int, units: np.ndarray) -> None:
        pass


@pytest.mark.parametrize("model", ["measured", "profile"])
def test_measured_compute_never_shares_a_decision_with_the_partner(model: str) -> None:
    """Under ``measured`` compute a decision's wall time is its cost, so the two sides'
    decisions of one ms run one after the other (joined, A's measured time included B's
    forwards: about twice its own); other compute models still share rounds."""
    compute = ComputeConfig(model=model, decode_ms_per_token=1.0 if model == "profile" else 0.0)
    scenario = Scenario(name="measured", chunk_ms=160, duration_s=2.0,
                        a=SideConfig(kind="scripted"), b=SideConfig(kind="scripted"),
                        network=NetworkConfig(preset="ideal"), compute=compute)
    in_flight: set = set()
    agents = {k: _ProgramAgent(_TokenLM(), in_flight) for k in "ab"}
    session = Session(scenario, agents)
    assert session.join_simultaneous == (model != "measured")
    session.finish()
    overlapped = sum(a.overlapped for a in agents.values())
    assert overlapped == 0 if model == "measured" else overlapped > 0
