"""The simulated conversation: accounting, determinism, stepping, clocks, closing."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from sim_scenarios import CostlyEcho, scripted

from duplexsim.agents.base import ChunkReport
from duplexsim.config.link import LinkConfig
from duplexsim.config.link_presets import PRESETS
from duplexsim.config.network import NetworkConfig
from duplexsim.config.scenario import ComputeConfig, SideConfig
from duplexsim.sim import Session, run


def test_every_chunk_is_accounted_for() -> None:
    link = LinkConfig(delay_ms=150.0, jitter_ms=60.0, jitter_dist="normal", ordering="reorder",
                      loss=0.1, loss_model="gilbert-elliott", burst=2.0, duplicate=0.1)
    trace = run(scripted(160, 20.0, network=NetworkConfig(a_to_b=link, b_to_a=link),
                         buffer=dataclasses.replace(scripted().buffer, give_up_ms=20)))
    net, n = trace.network, trace.scenario.n_chunks
    statuses = {"used", "released", "waiting", "late", "duplicate", "lost", "in-flight"}
    assert set(net["status"]) <= statuses
    for _direction, g in net.groupby("direction"):
        first = g[g["copy"] == 0]
        assert sorted(first["chunk"]) == list(range(n))  # sent = every chunk, once
        arrived = g["arrival_ms"].notna().sum()
        assert len(g) == arrived + g["lost"].sum() + (g["status"] == "in-flight").sum()
        assert g["reordered"].any() and g["superseded"].sum() == 0  # scripted: no estimates
    for status in ("lost", "late", "duplicate", "used", "in-flight"):
        assert (net["status"] == status).any(), status
    assert all(v["accounted"] for v in trace.summary()["directions"].values())
    # a chunk is lost when no copy arrived (a lost first copy with a delivered duplicate is
    # not), of those not still in flight: the summary and a sweep row say the same
    from duplexsim.metrics.latency import network_metrics

    for direction, g in net.groupby("direction"):
        per_chunk = g.groupby("chunk").agg(lost=("lost", "all"),
                                           arrived=("arrival_ms", lambda a: a.notna().any()))
        settled = per_chunk[per_chunk["lost"] | per_chunk["arrived"]]
        want = float(settled["lost"].mean())
        assert trace.summary()["directions"][direction]["loss_rate"] == want
        assert network_metrics(g, 160)["loss_rate"] == pytest.approx(want)
    # what each side heard is exactly the partner's released chunks, in order
    heard_a = trace.heard["a"]
    assert set(np.unique(heard_a)) <= set(np.unique(trace.units[1]))


def test_same_seed_same_bytes(tmp_path) -> None:  # noqa: ANN001
    scenario = scripted(200, 6.0, network=NetworkConfig(preset="mobile-lte"))
    outs = [run(scenario).save(tmp_path / name, audio=True) for name in ("one", "two")]
    other = run(dataclasses.replace(scenario, seed=1)).save(tmp_path / "three", audio=True)
    files = sorted(p.name for p in outs[0].iterdir())
    assert files == ["audio.wav", "decisions.parquet", "network.parquet", "scenario.toml",
                     "summary.json", "timeline.parquet"]
    for name in files:
        assert (outs[0] / name).read_bytes() == (outs[1] / name).read_bytes(), name
    assert (other / "network.parquet").read_bytes() != (outs[0] / "network.parquet").read_bytes()


def test_trace_tables_and_timeline() -> None:
    trace = run(scripted(200, 4.0, delay_ms=40.0))
    assert trace.units.shape == (2, 100)
    for key, row in (("a", 0), ("b", 1)):  # played units on the global grid, chunk by chunk
        d = trace.decisions[trace.decisions["agent"] == key]
        played = np.concatenate([np.asarray(u) for u in d["played_units"]])
        assert (trace.units[row] == played[:100]).all()
    net = trace.network
    got = net[net["status"] == "used"]
    assert (got["arrival_ms"] == got["sent_ms"] + 40).all()
    assert (got["mouth_to_ear_ms"] == 240).all()  # 200 ms chunk + 40 ms network
    # B hears A's chunk k from 40 ms after its end
    k = 3
    start = (k + 1) * 200 + 40
    assert (trace.heard["b"][start // 40:start // 40 + 5] == trace.units[0][k * 5:k * 5 + 5]).all()


def test_session_steps_like_run() -> None:
    scenario = scripted(160, 5.0, network=NetworkConfig(preset="continental"))
    session = Session(scenario)
    while not session.done:
        before = session.now
        session.advance_chunk()
        assert session.now > before or session.done
    stepped = session.finish()
    whole = run(scenario)
    assert stepped.network.equals(whole.network)
    assert stepped.decisions.drop(columns="compute_wall_ms").equals(
        whole.decisions.drop(columns="compute_wall_ms"))


def test_clock_offset_and_drift() -> None:
    base = scripted(200, 30.0)
    drifting = dataclasses.replace(base, a=dataclasses.replace(base.a, clock_drift_ppm=2000.0,
                                                               clock_offset_ms=-100))
    trace = run(drifting)
    a = trace.network[trace.network["direction"] == "A->B"]
    # local end of chunk k = (k+1)*200; global = (local + 100) / 1.002
    assert list(a["sent_ms"][:3]) == [round(300 / 1.002), round(500 / 1.002), round(700 / 1.002)]
    assert a["sent_ms"].iloc[-1] == round((150 * 200 + 100) / 1.002)


def test_a_clock_ahead_starts_first_and_squeezes_no_chunk() -> None:
    """Only the sides' offset against each other matters: a clock 1000 ms ahead speaks its
    chunks 1000 ms before the other's, every chunk a whole chunk long, sent at its end (it
    used to squeeze its first five chunks into 0 ms at t = 0)."""
    base = scripted(200, 4.0)
    ahead = run(dataclasses.replace(base, a=dataclasses.replace(base.a, clock_offset_ms=1000)))
    behind = run(dataclasses.replace(base, b=dataclasses.replace(base.b, clock_offset_ms=-1000)))
    for trace in (ahead, behind):
        sent = trace.network.groupby("direction")["sent_ms"].apply(list)
        assert sent["A->B"][:3] == [200, 400, 600] and sent["B->A"][:3] == [1200, 1400, 1600]
    assert ahead.network.equals(behind.network)
    # the timeline runs to the end of the later side's last chunk (B's ends 1000 ms late)
    assert ahead.units.shape[1] == (4000 + 1000) // 40
    last = ahead.decisions[ahead.decisions["agent"] == "b"].iloc[-1]
    assert list(ahead.units[1, -5:]) == list(last["played_units"])


def test_two_clocks_behind_are_shifted_like_any_other_pair() -> None:
    """Offsets -300 / -500 are A 200 ms ahead of B, as 200 / 0 are: the same trace (both
    behind, A used to start at 300 ms and B at 500 ms, the timeline 300 ms longer)."""
    base = scripted(200, 4.0, delay_ms=30.0)

    def offsets(a_ms: int, b_ms: int) -> object:
        return run(dataclasses.replace(
            base, a=dataclasses.replace(base.a, clock_offset_ms=a_ms),
            b=dataclasses.replace(base.b, clock_offset_ms=b_ms)))

    behind, shifted = offsets(-300, -500), offsets(200, 0)
    assert behind.network.equals(shifted.network)
    assert behind.decisions.equals(shifted.decisions)
    assert (behind.units == shifted.units).all() and behind.units.shape[1] == 105
    assert behind.network.groupby("direction")["sent_ms"].min().to_dict() == {
        "A->B": 200, "B->A": 400}


def test_syncllm_pair_estimates_and_wait(tiny_agent_dir) -> None:  # noqa: ANN001
    side = SideConfig(kind="syncllm", agent=str(tiny_agent_dir), temperature=0.0)
    scenario = dataclasses.replace(scripted(200, 3.0, delay_ms=250.0), a=side, b=side)
    trace = run(scenario)
    d = trace.decisions
    late = d[d["chunk"] >= 3]
    assert (late["lookahead"] == 3).all() and (late["agent_lookahead"] == 3).all()
    # each decision estimates the one partner chunk it had neither received nor estimated
    assert all(len(e) == len(r) == 5 for e, r in zip(late["estimated_units"],
                                                       late["real_units"], strict=True))
    assert trace.network["superseded"].sum() > 0  # estimates replaced by real chunks
    waiting = dataclasses.replace(scenario, a=dataclasses.replace(side, estimation="wait"))
    w = run(waiting).decisions
    wa = w[(w["agent"] == "a") & (w["chunk"] >= 1)]
    # stalls for the real chunks (partner chunk j-1 arrives 250 ms after its end, j C):
    # nothing estimated, chunk j starts when j-1 is there, 250 ms late (tests/sim/test_wait.py)
    assert (wa["lookahead"] == 0).all() and not any(len(e) for e in wa["estimated_units"])
    assert (wa["deadline_ms"] == wa["chunk"] * 200 + 250).all() and (wa["slip_ms"] == 250).all()
    assert not wa["deadline_miss"].any()


def test_a_delay_longer_than_the_conversation_gives_a_strict_json_summary(tmp_path) -> None:  # noqa: ANN001
    """Every chunk still in flight at the end: no loss rate (null, as the empty means), not
    ``NaN``, which is not JSON (summary.json used to hold ``"loss_rate": NaN``)."""
    import json

    trace = run(scripted(240, 1.0, delay_ms=3000.0))
    out = trace.save(tmp_path / "run", audio=False)
    summary = json.loads((out / "summary.json").read_text(),
                         parse_constant=lambda c: pytest.fail(f"{c} in summary.json"))
    for direction in summary["directions"].values():
        assert direction["in-flight"] == direction["chunks_sent"] == 5
        assert direction["accounted"] and direction["loss_rate"] is None
        assert direction["delay_mean_ms"] is None and direction["mouth_to_ear_mean_ms"] is None
    json.dumps(trace.summary(), allow_nan=False)
    assert (trace.decisions["lookahead"] == trace.decisions["chunk"]).all()  # nothing came


def test_a_closed_session_is_freed_without_the_garbage_collector() -> None:
    """Mid-conversation a session is in cycles (speakers waiting on queued events, links
    handing over into it); closed, dropping it frees it at once, and what it recorded
    stays readable (a vector env ends thousands: left to the cyclic collector they reach
    its oldest generation, whose passes walk every object of the process)."""
    import gc
    import weakref

    session = Session(scripted(200, 6.0, delay_ms=60.0))
    session.run_until(3000)
    played = dict(session.recorder.played["a"])
    session.close()
    with pytest.raises(RuntimeError, match="closed at 3000 ms; it cannot run further"):
        session.run_until(4000)
    gc.disable()
    try:
        ref = weakref.ref(session)
        del session
        assert ref() is None
    finally:
        gc.enable()
    assert len(played) >= 14


def test_run_closes_its_session_and_gives_the_same_trace() -> None:
    scenario = scripted(200, 4.0, network=NetworkConfig(preset="mobile-lte"))
    open_session = Session(scenario)
    kept = open_session.finish()
    closed = run(scenario)
    assert kept.decisions.equals(closed.decisions) and kept.network.equals(closed.network)
    assert np.array_equal(kept.units, closed.units)


def test_decision_rows_stay_out_of_the_garbage_collector() -> None:
    """A session keeps a row per decision: rows holding fresh tuples were tracked by the
    cyclic collector until a full collection (CPython untracks dicts only there), and the
    rows of the sessions running in a vector env kept filling its oldest generation. Rows
    of numbers, strings and int64 arrays are never tracked; the table still has lists."""
    import gc

    session = Session(scripted(200, 4.0, delay_ms=40.0))
    trace = session.finish()
    rows = session.recorder.decisions
    assert rows and not any(gc.is_tracked(row) for row in rows)
    assert all(isinstance(v, list) for v in trace.decisions["played_units"])
    assert all(isinstance(u, int) for v in trace.decisions["played_units"] for u in v)


def test_mouth_to_ear_does_not_carry_one_late_chunk_forward() -> None:
    """Per chunk: network + receive buffer up to its release. It was the start of playback
    in a player that never catches up, so one delay spike raised every later chunk's."""
    trace = run(scripted(160, 30.0, network=NetworkConfig(preset="mobile-lte")))
    net = trace.network[trace.network["status"] == "used"]
    m2e = net["mouth_to_ear_ms"].to_numpy()
    start = net["sent_ms"].to_numpy() - 160  # first spoken frame (no clock drift here)
    assert (m2e == net["released_ms"].to_numpy() - start).all()
    assert (net["released_ms"] >= net["arrival_ms"]).all()
    playback_lag = (net["heard_ms"] - net["released_ms"]).to_numpy()
    assert playback_lag.max() > 0  # the player fell behind at some point...
    assert m2e.mean() < (net["heard_ms"].to_numpy() - start).mean()  # ...m2e does not follow


@pytest.mark.parametrize("drift_ppm", [50_000.0, -50_000.0, 100.0])
def test_transit_starts_at_the_first_spoken_frame_on_the_speakers_clock(drift_ppm: float,
                                                                          ) -> None:
    """transit_* added the nominal chunk_ms to the send time: a 5% fast clock's 152.4 ms
    chunks over a fixed 40 ms link gave transit 200 ms against a mouth-to-ear of 192.4 ms
    (transit can never exceed it: the buffer releases a chunk no earlier than it arrives)."""
    from duplexsim.metrics.latency import network_metrics

    base = scripted(160, 12.0, delay_ms=40.0)
    scenario = dataclasses.replace(base, a=dataclasses.replace(base.a,
                                                               clock_drift_ppm=drift_ppm))
    net = run(scenario).network
    a = net[(net["direction"] == "A->B") & (net["status"] == "used")]
    clock_rate = 1 + drift_ppm * 1e-6
    # nothing waits in the buffer on a fixed-delay link: transit is mouth-to-ear
    got = network_metrics(a, 160)
    assert got["transit_mean_ms"] == pytest.approx(got["mouth_to_ear_mean_ms"])
    assert got["transit_mean_ms"] == pytest.approx(40 + 160 / clock_rate, abs=0.5)
    start = np.array([round(k * 160 / clock_rate) for k in a["chunk"]])  # A's chunk starts
    assert (a["transit_ms"].to_numpy() == a["arrival_ms"].to_numpy() - start).all()
    assert (a["transit_ms"] == a["mouth_to_ear_ms"]).all()


def test_a_side_hears_at_the_pace_of_its_own_clock() -> None:
    """Both clocks 5% fast on an ideal network: chunks come every 152 ms and the receiver
    plays them in 152 ms, so playback keeps up (at the nominal 160 ms it fell ~3 s behind
    in 60 s)."""
    fast = SideConfig(kind="scripted", policy="random-talker", clock_drift_ppm=50_000.0)
    scenario = dataclasses.replace(scripted(160, 60.0), a=fast,
                                   b=dataclasses.replace(fast, policy="fixed-turns"))
    net = run(scenario).network
    used = net[net["status"] == "used"]
    assert (used["heard_ms"] - used["released_ms"]).max() <= 1


def test_decision_ms_is_the_planned_time_a_busy_worker_decides_later() -> None:
    """What interfaces.md now says (it called decision_ms exact for a side that never waits):
    it is the trace's planned_ms; a worker whose compute outruns the chunk starts at
    max(planned, previous ready_ms). 250 ms per 200 ms chunk: planned 200/400/600, decided
    250/500/750."""
    compute = ComputeConfig(model="profile", overhead_ms=250.0)
    session = Session(scripted(200, 2.0, compute=compute), agents={"a": CostlyEcho()})
    said = [session.decision_ms("a", j) for j in range(session.n_chunks)]
    trace = session.finish()
    session.close()
    a = trace.decisions[trace.decisions["agent"] == "a"].reset_index(drop=True)
    assert a["planned_ms"].tolist() == said
    ready = a["ready_ms"].where(~a["prologue"]).ffill().shift().fillna(0)
    assert a["decided_ms"].tolist() == np.maximum(a["planned_ms"], ready).astype(int).tolist()
    assert a["decided_ms"].tolist()[2:5] == [250, 500, 750] and said[2:5] == [200, 400, 600]


def test_delay_spikes_start_at_a_point_of_their_period_drawn_from_the_seed() -> None:
    """satellite-leo's handovers (+60 ms for 300 ms every 15 s) ran on the simulation clock:
    every conversation began inside one, at every seed, and a 10-14 s episode saw no other.
    Now the schedule's phase comes from the seed, the same for both directions."""
    leo = dataclasses.replace(PRESETS["satellite-leo"], jitter_ms=0.0, loss=0.0)
    starts = []
    for seed in range(6):
        trace = run(scripted(200, 32.0, seed=seed,
                             network=NetworkConfig(a_to_b=leo, b_to_a=leo)))
        net = trace.network[(trace.network["copy"] == 0) & trace.network["arrival_ms"].notna()]
        spiked = net["arrival_ms"] - net["sent_ms"] > 25.5
        assert set((net["arrival_ms"] - net["sent_ms"]).round()) <= {25.0, 85.0}
        firsts = []
        for direction in net["direction"].unique():
            mine = net[(net["direction"] == direction) & spiked]
            assert 0 < len(mine) <= 3 * 2  # 2-3 spikes in 32 s, at most 2 chunks sent in each
            firsts.append(float(mine["sent_ms"].min()) % 15000)
        assert max(firsts) - min(firsts) <= 200  # one schedule for both directions
        starts.append(min(firsts))
    assert len({round(s / 1000) for s in starts}) >= 4  # spread over the period, not all at 0


@pytest.mark.parametrize("t_ms", [1500.5, float("nan"), "1500", True])
def test_run_until_a_time_that_is_no_whole_number_is_one_line(t_ms: object) -> None:
    session = Session(scripted(200, 4.0))
    with pytest.raises(ValueError, match=r"^run_until: t_ms=.* \(allowed: a whole number of ms"):
        session.run_until(t_ms)  # type: ignore[arg-type]
    session.run_until(np.int64(1000))
    assert session.now == 1000


@pytest.mark.parametrize(("call", "args", "error"), [
    ("decision_ms", ("c", 1), "decision_ms: no side 'c' (allowed: 'a', 'b')"),
    ("chunk_placement", ("A", 0), "chunk_placement: no side 'A' (allowed: 'a', 'b')"),
    ("hand_over", ("c",), "hand_over: no side 'c' (allowed: 'a', 'b')"),
    ("decision_ms", ("a", 1.5), "decision_ms: j=1.5 (allowed: a whole number >= 0)"),
    ("decision_ms", ("b", -1), "decision_ms: j=-1 (allowed: a whole number >= 0)"),
    ("chunk_placement", ("a", 1.5), "chunk_placement: j=1.5 (allowed: a whole number >= 0)"),
    ("chunk_placement", ("a", True), "chunk_placement: j=True (allowed: a whole number >= 0)"),
])
def test_a_side_or_chunk_that_is_none_is_one_line(call: str, args: tuple, error: str) -> None:
    """A side other than a or b was a bare ``KeyError: 'c'``; chunk 1.5 was planned between
    chunks 1 and 2 (and placed on frames 7.5..), chunk -1 at 0 ms, without a word."""
    session = Session(scripted(200, 4.0))
    with pytest.raises(ValueError) as info:
        getattr(session, call)(*args)
    assert str(info.value) == error
    assert session.decision_ms("a", np.int64(3)) == session.decision_ms("a", 3)
    assert session.chunk_placement("b", np.int32(2)).end == session.chunk_placement("b", 2).end
    session.close()


@pytest.mark.parametrize("scenario", ["scenarios/replay-lan.toml", {"chunk_ms": 160}, None])
def test_a_scenario_that_is_no_scenario_object_is_one_line(scenario: object) -> None:
    """``run("scenarios/x.toml")`` (the envs take a path or a dict) failed deep in the build
    as ``AttributeError: 'str' object has no attribute 'a'``."""
    for call in (run, Session):
        with pytest.raises(TypeError, match=r"^scenario: got (str|dict|NoneType) \(allowed: "
                                            r"a Scenario; a scenario file is read with "
                                            r"duplexsim.config.load_scenario\(path\)\)$"):
            call(scenario)  # type: ignore[operator]


def test_one_directions_link_keys_leave_the_other_directions_draws_alone() -> None:
    """Each direction draws from its own streams (the scenario seed spawns one per link):
    more jitter, loss and duplicates on A->B (more draws there) give B->A the very same
    sends, losses and arrivals. Scripted talkers do not react to what they hear, so every
    B->A difference would be the network's."""
    base = NetworkConfig(preset="mobile-lte")
    busy = NetworkConfig(preset="mobile-lte", a_to_b=LinkConfig(
        jitter_ms=30.0, loss=0.2, burst=3.0, duplicate=0.3, ordering="reorder"))
    columns = ["chunk", "copy", "sent_ms", "arrival_ms", "lost", "duplicate"]
    nets = [run(scripted(200, 20.0, seed=4, network=net)).network for net in (base, busy)]
    a_to_b, b_to_a = ([n[n["direction"] == d][columns].reset_index(drop=True) for n in nets]
                      for d in ("A->B", "B->A"))
    assert not a_to_b[0].equals(a_to_b[1])  # A->B did change
    assert b_to_a[1]["lost"].any() or b_to_a[1]["arrival_ms"].nunique() > 1  # jittery, lossy
    pd.testing.assert_frame_equal(b_to_a[0], b_to_a[1])


@pytest.fixture
def closed_scripted(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The scripted agent with a ``close()`` (as a user's agent holding a file would have):
    the names of the agents closed, one entry per call."""
    from duplexsim.agents.scripted import ScriptedAgent

    closed: list[str] = []
    monkeypatch.setattr(ScriptedAgent, "close", lambda self: closed.append(self.name),
                        raising=False)
    return closed


def test_a_session_closes_the_agents_it_built_once_and_never_a_given_one(
        closed_scripted: list[str]) -> None:
    """Nothing in the library called an agent's ``close()``: a model row, a file or a GPU
    context an agent held was never given back. The owner closes: the session the side it
    built, not the one the caller passed in (which it still owns)."""
    from duplexsim.agents.scripted import ScriptedAgent

    scenario = scripted(200, 1.0)
    mine = ScriptedAgent("fixed-turns", scenario.frames_per_chunk, scenario.n_chunks,
                         name="mine")
    run(scenario, agents={"a": mine})
    assert closed_scripted == ["scripted:fixed-turns:b"]
    closed_scripted.clear()
    session = Session(scenario)
    session.finish()
    assert closed_scripted == []  # open until its owner is done
    session.close()
    session.close()  # again: nothing more
    assert closed_scripted == ["scripted:random-talker:a", "scripted:fixed-turns:b"]  # in order


def test_a_run_that_fails_still_closes_the_agents_it_built(closed_scripted: list[str]) -> None:
    from duplexsim.agents.scripted import ScriptedAgent

    class Failing(ScriptedAgent):
        def produce(self, chunk: int) -> ChunkReport:
            if chunk == 3:
                raise RuntimeError("broken at chunk 3")
            return super().produce(chunk)

    scenario = scripted(200, 2.0)
    mine = Failing("fixed-turns", scenario.frames_per_chunk, scenario.n_chunks, name="mine")
    with pytest.raises(RuntimeError, match="broken at chunk 3"):
        run(scenario, agents={"a": mine})
    assert closed_scripted == ["scripted:fixed-turns:b"]
    # a side refused while building: the side built before it is closed, the given one not
    closed_scripted.clear()
    wrong = ScriptedAgent("fixed-turns", scenario.frames_per_chunk + 1, scenario.n_chunks,
                          name="wrong")
    with pytest.raises(ValueError, match="frames per chunk"):
        Session(scenario, agents={"b": wrong})
    assert closed_scripted == ["scripted:random-talker:a"]


class ClosingSpy:
    """Stands in for a speaker's process: logs its ``close()``, closes the process and
    raises ``error`` if given."""

    def __init__(self, log: list[str], name: str, process: object,
                 error: Exception | None = None) -> None:
        self.log, self.name, self.process, self.error = log, name, process, error

    def close(self) -> None:
        self.log.append(self.name)
        self.process.close()  # type: ignore[attr-defined]
        if self.error is not None:
            raise self.error


def test_a_speaker_whose_close_raises_leaves_none_of_the_rest_open(
        closed_scripted: list[str]) -> None:
    """close() closed the speakers in a plain loop: one raising left the next one's process
    open (its frame holding the session) and the session not marked closed. Every speaker is
    closed now, in order, the rest of the session let go, and the first error raised (the
    later one a note on it)."""
    import inspect

    session = Session(scripted(200, 2.0, delay_ms=40.0))
    session.run_until(1000)
    a, b = session._speakers
    log: list[str] = []
    session._speakers = [ClosingSpy(log, "a", a, RuntimeError("a broke")),  # type: ignore[list-item]
                         ClosingSpy(log, "b", b, ValueError("b broke"))]
    with pytest.raises(RuntimeError) as info:
        session.close()
    assert str(info.value) == "a broke" and log == ["a", "b"]
    assert inspect.getgeneratorstate(b) == inspect.GEN_CLOSED  # type: ignore[arg-type]
    assert info.value.__notes__ == ["closing the rest then raised ValueError: b broke"]
    assert closed_scripted == ["scripted:random-talker:a", "scripted:fixed-turns:b"]
    assert session.closed
    with pytest.raises(RuntimeError, match="closed at 1000 ms; it cannot run further"):
        session.run_until(2000)
    session.close()  # again: nothing more
    assert log == ["a", "b"] and len(closed_scripted) == 2
