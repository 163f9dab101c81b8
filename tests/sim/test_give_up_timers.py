"""The session's give-up timers, timed to the ms: the gap timer of a chunk that waits behind
a lost one, and the lost-chunk timer of a waiting side (due = send + the path's base delay,
then ``give_up_ms``; :mod:`duplexsim.sim.playout`)."""

from __future__ import annotations

from sim_scenarios import scripted

from duplexsim.config.network import LinkConfig, NetworkConfig
from duplexsim.config.scenario import BufferConfig
from duplexsim.sim import run

C, D = 160, 80  # ms per chunk, one-way base delay B->A
LOSSY = LinkConfig(delay_ms=float(D), loss=0.2, loss_model="bernoulli")


def test_a_one_ms_gap_timer_releases_the_chunk_behind_a_lost_one() -> None:
    """give_up_ms = 1: the chunk after a lost one is released 1 ms after it arrives (the
    gap given up), not held to the end."""
    scenario = scripted(C, 3.2, seed=0, network=NetworkConfig(preset="ideal", b_to_a=LOSSY),
                        buffer=BufferConfig(give_up_ms=1))
    net = run(scenario).network
    net = net[net["direction"] == "B->A"].set_index("chunk")
    lost = sorted(net.index[net["lost"]])
    assert lost and lost[0] + 1 < len(net) and not net.loc[lost[0] + 1, "lost"]
    after = net.loc[lost[0] + 1]
    assert after["released_ms"] == after["arrival_ms"] + 1
