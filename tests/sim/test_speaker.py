"""A side's speaker, per chunk: lookahead, compute time, deadline misses, a worker behind
its clock, and what its agent is told and can change (:mod:`duplexsim.sim.speaker`)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from sim_scenarios import CostlyEcho, scripted

from duplexsim.agents.base import ChunkReport
from duplexsim.config.link import LinkConfig
from duplexsim.config.network import NetworkConfig
from duplexsim.config.scenario import ComputeConfig, SideConfig
from duplexsim.sim import Session, run


@pytest.mark.parametrize("chunk_ms,delay_ms,lead", [
    (200, 0.0, 1), (200, 30.0, 1), (200, 200.0, 1), (160, 450.0, 1), (240, 0.0, 2),
])
def test_lookahead_follows_the_formula(chunk_ms: int, delay_ms: float, lead: int) -> None:
    trace = run(scripted(chunk_ms, 8.0, delay_ms=delay_ms, decision_lead_chunks=lead))
    expected = lead + math.ceil(delay_ms / chunk_ms)  # L = lead + ceil(d / C)
    d = trace.decisions
    assert (d["lookahead"] == np.minimum(d["chunk"], expected)).all()
    if delay_ms == 0 and lead == 1:  # the paper's setting: one chunk of latency from chunking
        assert set(d.loc[d["chunk"] >= 1, "lookahead"]) == {1}


@pytest.mark.parametrize("decode_ms,on_miss", [(5.0, "silence"), (30.0, "silence"),
                                               (30.0, "repeat")])
def test_profile_compute_and_deadline_misses(decode_ms: float, on_miss: str) -> None:
    compute = ComputeConfig(model="profile", decode_ms_per_token=decode_ms,
                            prefill_ms_per_token=1.0, overhead_ms=2.0, on_miss=on_miss)
    agent = CostlyEcho()
    trace = run(scripted(200, 4.0, compute=compute), agents={"a": agent})
    d = trace.decisions[trace.decisions["agent"] == "a"]
    cost = 10 * decode_ms + 4 + 2
    assert set(d["compute_ms"]) <= {cost, 0}
    late = d[~d["prologue"]]
    if cost <= 200:  # decided at the start of the previous chunk: 200 ms to spare
        assert not late["deadline_miss"].any()
        assert [agent.played_log[j][0] for j in range(20)] == [7 + j % 3 for j in range(20)]
    else:  # 306 ms per chunk: the worker falls behind, misses and skips
        assert late["deadline_miss"].all() or late["deadline_miss"].mean() > 0.3
        assert late["skipped"].any()
        missed = late[late["deadline_miss"]]
        for j, prev in zip(missed["chunk"], missed["chunk"] - 1, strict=True):
            want = 0 if on_miss == "silence" else agent.played_log[prev][-1]
            assert (agent.played_log[j] == want).all()
    # scripted side b reports no model work: no compute time, no misses
    b = trace.decisions[trace.decisions["agent"] == "b"]
    assert (b["compute_ms"] == 0).all() and not b["deadline_miss"].any()


def _miss_ok(rows, on_miss: str) -> None:  # noqa: ANN001
    """Every missed chunk played the miss units: silence, or the previous chunk's last unit."""
    played = [np.asarray(u) for u in rows["played_units"]]
    for j in rows.index[rows["deadline_miss"]]:
        want = 0 if on_miss == "silence" or j == 0 else played[j - 1][-1]
        assert (played[j] == want).all(), j


@pytest.mark.parametrize("overhead_ms,on_miss", [(360.0, "silence"), (450.0, "repeat"),
                                                 (1000.0, "silence")])
def test_a_worker_more_than_two_chunks_behind_still_plays_every_chunk(
        tiny_agent_dir, overhead_ms: float, on_miss: str) -> None:  # noqa: ANN001
    # compute per chunk > 2 chunks (C = 160): the single worker reaches chunks it must skip
    # only after they ended, and its last (skipped) decisions after the last send
    C = 160
    side = SideConfig(kind="syncllm", agent=str(tiny_agent_dir), temperature=0.0)
    compute = ComputeConfig(model="profile", overhead_ms=overhead_ms, on_miss=on_miss)
    scenario = dataclasses.replace(scripted(C, 3.2, delay_ms=60.0), a=side, b=side,
                                   compute=compute)
    n = scenario.n_chunks
    trace = run(scenario)
    d = trace.decisions
    assert (d["decided_ms"] > (d["chunk"] + 1) * C).any()  # the case this test is about
    for key, row, direction in (("a", 0, "A->B"), ("b", 1, "B->A")):
        rows = d[d["agent"] == key].reset_index(drop=True)
        assert rows["chunk"].tolist() == list(range(n))  # one decision row per chunk
        assert rows.loc[1:, "deadline_miss"].all() and rows["skipped"].any()
        _miss_ok(rows, on_miss)
        played = np.concatenate([np.asarray(u) for u in rows["played_units"]])
        assert np.array_equal(trace.units[row], played)  # the played stream is complete
        net = trace.network[(trace.network["direction"] == direction)
                            & (trace.network["copy"] == 0)]
        assert net["chunk"].tolist() == list(range(n))  # every chunk sent once ...
        assert (net["sent_ms"] == (net["chunk"] + 1) * C).all()  # ... at its end, on time
    assert all(v["accounted"] for v in trace.summary()["directions"].values())
    session = Session(scenario)
    while not session.done:
        session.advance_chunk()
    stepped = session.finish()
    assert stepped.network.equals(trace.network)
    assert stepped.decisions.drop(columns="compute_wall_ms").equals(
        d.drop(columns="compute_wall_ms"))


def test_a_protocol_agent_is_told_every_chunk_it_played_when_far_behind() -> None:
    compute = ComputeConfig(model="profile", decode_ms_per_token=70.0)  # 700 ms per chunk
    agent = CostlyEcho()
    trace = run(scripted(200, 4.0, compute=compute), agents={"a": agent})
    a = trace.decisions[trace.decisions["agent"] == "a"].reset_index(drop=True)
    assert a["chunk"].tolist() == list(range(20))
    assert sorted(agent.played_log) == list(range(20))  # told once per chunk
    for j, units in enumerate(a["played_units"]):
        assert np.array_equal(agent.played_log[j], units)
    _miss_ok(a, "silence")


class BufferReuser(CostlyEcho):
    """Returns its chunks in one array it overwrites at every decision, and writes into the
    partner chunks it is given (a user's agent may do either: the protocol does not say
    it must not)."""

    def reset(self, seed: int) -> None:
        super().reset(seed)
        self.buffer = np.zeros(5, np.int64)

    def observe_partner(self, chunk: int, units: np.ndarray) -> None:
        units[:] = 0

    def produce(self, chunk: int) -> ChunkReport:
        self.buffer[:] = 1 + chunk % 50
        return ChunkReport(chunk=chunk, units=self.buffer)


def test_an_agent_reusing_or_writing_into_arrays_changes_no_played_or_sent_chunk() -> None:
    # lead 1, 50 ms each way: chunk j is decided a chunk before it plays and sent a chunk
    # later, by when the agent had overwritten its array with chunk j + 1 (and B zeroed
    # what it was given): the trace and the partner got chunk j + 1's units as chunk j
    link = LinkConfig(delay_ms=50.0)
    scenario = scripted(200, 2.0, network=NetworkConfig(preset="ideal", a_to_b=link,
                                                        b_to_a=link))
    trace = run(scenario, agents={"a": BufferReuser(), "b": BufferReuser()})
    for row, key in enumerate("ab"):
        d = trace.decisions[trace.decisions["agent"] == key]
        assert [u[0] for u in d["played_units"]] == [1 + j for j in range(10)]
        assert trace.units[row].tolist() == [1 + j for j in range(10) for _ in range(5)]
    # what B heard of A: A's chunk 0 from 250 ms (sent at 200, 50 ms delay), global frames
    # 6-10, then chunk 1
    assert trace.heard["b"][5:12].tolist() == [0, 1, 1, 1, 1, 1, 2]


def test_a_chunk_the_worker_reaches_at_its_very_end_is_sent_before_that_ms_decisions() -> None:
    """600 ms per chunk (C = 200): the worker gets to chunks 2, 5, 8, ... exactly at their
    end. They are settled on the clock like earlier misses, so with zero delay the partner's
    decision at that ms sees them (lookahead 1, as for every other chunk); they used to be
    sent from the worker's skipped decision, after B had decided at that ms (lookahead 2)."""
    compute = ComputeConfig(model="profile", overhead_ms=600.0)
    trace = run(scripted(200, 3.0, delay_ms=0.0, compute=compute), agents={"a": CostlyEcho()})
    d = trace.decisions
    a = d[d["agent"] == "a"]
    assert (a["decided_ms"] == (a["chunk"] + 1) * 200).sum() >= 4  # the case: at the end
    b = d[(d["agent"] == "b") & (d["chunk"] >= 1)]
    assert set(b["lookahead"]) == {1}
    net = trace.network[trace.network["direction"] == "A->B"]
    used = net[net["used_ms"].notna()]
    assert (used["used_ms"] == used["sent_ms"]).all()
