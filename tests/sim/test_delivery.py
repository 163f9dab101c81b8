"""The give-up timers of :mod:`duplexsim.sim.delivery`, timed to the ms: the gap timer of a
chunk that waits behind a lost one, and the lost-chunk timer of a waiting side (due = send +
the path's base delay, then ``give_up_ms``; :mod:`duplexsim.sim.playout`)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from sim_scenarios import scripted
from syncllm_fixtures import synthetic_dialogues

from duplexsim.agents.replay import ReplayAgent
from duplexsim.config.link import LinkConfig
from duplexsim.config.network import NetworkConfig
from duplexsim.config.scenario import BufferConfig, Scenario, SideConfig
from duplexsim.sim import Trace, run

C, D = 160, 80  # ms per chunk, one-way base delay B->A
LOSSY = LinkConfig(delay_ms=float(D), loss=0.2, loss_model="bernoulli")
K = 3  # the partner chunk lost: the first lost one, the one after it delivered


def b_to_a(trace: Trace) -> pd.DataFrame:
    net = trace.network
    return net[net["direction"] == "B->A"].set_index("chunk")


def first_lost(net: pd.DataFrame) -> list[int]:
    """The B->A chunks up to ``K + 1`` that were lost (``[K]`` is what the tests need)."""
    return sorted(k for k in net.index[net["lost"]] if k <= K + 1)


def seed_losing_k(duration_s: float) -> int:
    """The first seed whose B->A link loses chunk ``K`` and no chunk before or just after
    it. The link's loss draws come from the scenario seed alone (one per packet sent, in
    order; :mod:`duplexsim.sim.session`), whatever the sides are, so two scripted talkers
    find it cheaply; the tests check the loss in their own run."""
    network = NetworkConfig(preset="ideal", b_to_a=LOSSY)
    for seed in range(200):
        if first_lost(b_to_a(run(scripted(C, duration_s, seed=seed, network=network)))) == [K]:
            return seed
    raise AssertionError(f"no seed in 0..199 loses B->A chunk {K} alone")


def test_a_one_ms_gap_timer_releases_the_chunk_behind_a_lost_one() -> None:
    """give_up_ms = 1: the chunk after a lost one is released 1 ms after it arrives (the
    gap given up), not held to the end."""
    scenario = scripted(C, 3.2, seed=seed_losing_k(3.2),
                        network=NetworkConfig(preset="ideal", b_to_a=LOSSY),
                        buffer=BufferConfig(give_up_ms=1))
    net = b_to_a(run(scenario))
    assert first_lost(net) == [K]
    after = net.loc[K + 1]
    assert after["released_ms"] == after["arrival_ms"] + 1


def test_a_waiting_side_gives_up_a_lost_chunk_its_base_delay_plus_give_up_after_sending(
        tiny_agent_dir: Path) -> None:
    """Partner chunk k (a replay partner: sent at (k + 1) C) lost on a path of base delay D
    is given up at (k + 1) C + D + give_up_ms, and the waiting decision of own chunk k + 1
    starts then, not give_up_ms after the send."""
    give_up = 100
    scenario = Scenario(chunk_ms=C, duration_s=4.8, seed=seed_losing_k(4.8),
                        a=SideConfig(kind="syncllm", agent=str(tiny_agent_dir),
                                     temperature=0.0, estimation="wait"),
                        b=SideConfig(kind="replay"),
                        network=NetworkConfig(preset="ideal", b_to_a=LOSSY),
                        buffer=BufferConfig(give_up_ms=give_up))
    partner = ReplayAgent(synthetic_dialogues(1, seconds=10.0)[0].units[1], C // 40,
                          name="replay")
    trace = run(scenario, agents={"b": partner})
    net = b_to_a(trace)
    assert first_lost(net) == [K]
    k = K
    assert net.loc[k, "sent_ms"] == (k + 1) * C
    a = trace.decisions[trace.decisions["agent"] == "a"].set_index("chunk")
    assert a.loc[k, "decided_ms"] < (k + 1) * C + D  # planned before the give-up
    assert a.loc[k + 1, "decided_ms"] == (k + 1) * C + D + give_up
    assert k in set(a.loc[k + 1, "estimated_chunks"])  # the given-up chunk is estimated
