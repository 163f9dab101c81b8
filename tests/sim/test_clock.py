"""Chunk clocks on the global frame grid: a drifting clock's frames are resampled by sample
and hold, so continuous speech stays continuous on the timeline and as heard."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from sim_scenarios import scripted

from duplexsim.sim import run
from duplexsim.sim.clock import ChunkClock, place_frames
from duplexsim.sim.side import SideState
from duplexsim.timebase import ms_from_s, round_ms


def test_the_global_clock_places_frame_i_on_first_plus_i() -> None:
    at = place_frames(np.array([130, 170, 210, 250]), 290, 40)  # a slip of 10 ms
    assert at.frames.tolist() == [3, 4, 5, 6] and at.local.tolist() == [0, 1, 2, 3]
    assert at.end == at.final == 7
    # 25 ms into a frame: the last frame plays 25 ms of frame 7 and is held there, until a
    # chunk played back to back takes it (from frame 7 on nothing is final)
    at = place_frames(np.array([145, 185, 225, 265]), 305, 40)
    assert at.frames.tolist() == [3, 4, 5, 6, 7] and at.local.tolist() == [0, 1, 2, 3, 3]
    assert (at.end, at.final) == (8, 7)


@pytest.mark.parametrize("slip_ms", [0, 10, 19, 20, 39, 40, 77])
def test_the_global_clock_shortcut_is_the_general_rule(slip_ms: int) -> None:
    clock = ChunkClock(chunk_ms=160)
    side = SideState(key="a", agent=None, clock=clock, buffer=None, rule=None,  # type: ignore[arg-type]
                     silence_unit=0, frames_per_chunk=4, due_ms=0, slip_ms=slip_ms)
    for j in (0, 1, 7):
        starts = np.array([clock.frame_start(j, i, 40) + slip_ms for i in range(4)])
        want = place_frames(starts, clock.chunk_end(j) + slip_ms, 40)
        got = side.chunk_placement(j)
        assert got.frames.tolist() == want.frames.tolist()
        assert got.local.tolist() == want.local.tolist()
        assert (got.end, got.final) == (want.end, want.final)


def test_a_slow_clock_holds_a_frame_over_two_global_frames() -> None:
    at = place_frames(np.array([0, 50, 100, 150, 200]), 250, 40)  # 25% slow: 50 ms frames
    # none starts in global frame 4 (160-199 ms): frame 3 plays on there, not silence
    assert at.frames.tolist() == [0, 1, 2, 3, 4, 5]
    assert at.local.tolist() == [0, 1, 2, 3, 3, 4]
    assert at.end == at.final == 6  # the next chunk starts at 250 ms, in global frame 6


def test_a_fast_clock_drops_the_earlier_of_two_frames_in_one_global_frame() -> None:
    at = place_frames(np.array([0, 36, 72, 108, 144]), 180, 40)  # 10% fast: 36 ms frames
    assert at.frames.tolist() == [0, 1, 2, 3, 4]
    assert at.local.tolist() == [1, 2, 3, 4, 4]  # frames 0 and 1 both start in 0-39 ms
    assert (at.end, at.final) == (5, 4)  # frame 4 plays 20 of global frame 4's 40 ms


def _runs(talk: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lengths of the talk runs and of the silence runs between them (not the edges)."""
    edges = np.flatnonzero(np.diff(talk.astype(int))) + 1
    runs = np.diff(np.r_[0, edges, len(talk)])
    starts = talk[np.r_[0, edges]]
    inner = slice(1, -1)
    return runs[inner][starts[inner]], runs[inner][~starts[inner]]


@pytest.mark.parametrize("drift_ppm", [-100_000.0, -2_000.0, 0.0, 2_000.0, 100_000.0])
def test_turns_stay_whole_on_a_drifting_clock(drift_ppm: float) -> None:
    """Both sides talk 2 s and listen 2 s on their own clocks: on the global timeline and as
    heard every turn is one run of 2000 / rate ms (a 10% slow clock used to leave a silent
    frame in every chunk: turns of 9 frames with 1-frame gaps)."""
    base = scripted(200, 30.0)
    side = dataclasses.replace(base.a, policy="fixed-turns", clock_drift_ppm=drift_ppm)
    trace = run(dataclasses.replace(base, a=side, b=side))
    turn = 2000 / (1 + drift_ppm * 1e-6) / 40  # frames
    silence = list(trace.silence_units)
    for name, row in (("A played", trace.units[0]), ("B played", trace.units[1]),
                      ("heard by A", trace.heard["a"]), ("heard by B", trace.heard["b"])):
        talk, quiet = _runs(~np.isin(row, silence))
        assert len(talk) >= 5, name
        assert np.abs(talk - turn).max() <= 1.5, (name, talk.tolist())  # a frame either end
        assert np.abs(quiet - turn).max() <= 1.5, (name, quiet.tolist())


def test_round_ms_takes_half_a_ms_up() -> None:
    assert [round_ms(x) for x in (312.5, 937.5, 0.5, 1.5, 2.4999, 7.0)] == [313, 938, 1, 2, 2, 7]
    assert round_ms(0.49999999999999994) == 0  # floor(x + 0.5) would carry it up to 1


def test_ms_from_s_takes_half_a_ms_up_whatever_the_float_error() -> None:
    """Seconds to ms by round_ms's rule: 1.0005 s is 1000.5 ms exactly, which round() took
    down to even; 2.0005 * 1000 is 2000.5000000000002 and 0.0035 - 0.001 s is
    0.0024999999999999996: a tie either side in float, both rounded as the tie they are."""
    assert round(1.0005 * 1000) == 1000 and ms_from_s(1.0005) == 1001
    assert [ms_from_s(s) for s in (2.0005, 0.0035 - 0.001, 0.0125, 0.1 * 3, 30.0, 86_400.0)] \
        == [2001, 3, 13, 300, 30_000, 86_400_000]
    assert [ms_from_s(s) for s in (1.00049, 1.00051, 0.0004)] == [1000, 1001, 0]


def test_a_drifting_clock_and_its_link_round_a_tie_half_up() -> None:
    """At 24000 ppm a 320 ms chunk ends at 312.5 and 937.5 global ms: both round up (round()
    took 312.5 down to even and 937.5 up), and the link adds its 1.5 ms to the rounded send
    and rounds 314.5 up, as it rounds every exit time."""
    clock = ChunkClock(chunk_ms=320, drift_ppm=24_000.0)
    assert [clock.chunk_end(0), clock.chunk_end(2)] == [313, 938]
    base = scripted(320, 2.0, delay_ms=1.5)
    trace = run(dataclasses.replace(
        base, a=dataclasses.replace(base.a, clock_drift_ppm=24_000.0)))
    sent = trace.network[(trace.network["direction"] == "A->B") & (trace.network["copy"] == 0)]
    first = sent[sent["chunk"] == 0].iloc[0]
    third = sent[sent["chunk"] == 2].iloc[0]
    assert (first["sent_ms"], first["arrival_ms"]) == (313, 315)
    assert (third["sent_ms"], third["arrival_ms"]) == (938, 940)


def _fire_order(make_at: bool) -> list[tuple[float, str]]:
    """Events made at now = 5 ms, some by SimPy itself (timeout, schedule) and some at an
    absolute time (``At``, or the reference: a triggered Event given to ``schedule`` with
    the delay max(0, t - now)); the (time, label) order they fire in."""
    import simpy

    from duplexsim.sim.clock import ARRIVE, DECIDE, QUEUE, SEND, SETTLED, at

    env = simpy.Environment()
    env.run(until=5)
    fired: list[tuple[float, str]] = []

    def absolute(t_ms: int, priority: float, label: str) -> None:
        if make_at:
            event: simpy.Event = at(env, t_ms, priority)
        else:
            event = simpy.Event(env)
            event._ok, event._value = True, None
            env.schedule(event, priority, max(0, t_ms - int(env.now)))  # type: ignore[arg-type]
        event.callbacks.append(lambda _e: fired.append((env.now, label)))

    def simpy_own(delay: int, label: str, priority: int = simpy.events.NORMAL) -> None:
        event = env.timeout(delay) if priority == simpy.events.NORMAL else simpy.Event(env)
        if priority != simpy.events.NORMAL:
            event._ok, event._value = True, None
            env.schedule(event, priority, delay)  # type: ignore[arg-type]
        event.callbacks.append(lambda _e: fired.append((env.now, label)))

    simpy_own(5, "timeout 10 first")
    absolute(10, ARRIVE, "at 10 ARRIVE")  # ARRIVE == NORMAL: after the timeout made first
    simpy_own(5, "timeout 10 after")
    absolute(10, DECIDE, "at 10 DECIDE")
    absolute(10, SETTLED, "at 10 SETTLED")
    absolute(10, QUEUE, "at 10 QUEUE")
    absolute(np.int64(10), SEND, "at 10 SEND (numpy int)")  # type: ignore[arg-type]
    simpy_own(5, "urgent 10", simpy.events.URGENT)  # URGENT == SEND: after it, made later
    absolute(3, ARRIVE, "at 3 (past: now)")
    simpy_own(0, "timeout 0")
    absolute(5, SEND, "at 5 SEND")
    env.run()
    return fired


def test_an_at_fires_where_simpy_schedule_puts_it_beside_simpy_own_events() -> None:
    """``At`` pushes its heap entry itself (simpy's private _queue, _eid, _now): it must
    fire exactly where ``env.schedule`` would put it, against events SimPy makes at the same
    time and priority (creation order breaks a tie), and a time in the past fires now."""
    fired = _fire_order(make_at=True)
    assert fired == _fire_order(make_at=False)
    assert [label for _t, label in fired] == [
        "at 5 SEND", "at 3 (past: now)", "timeout 0",
        "at 10 SEND (numpy int)", "urgent 10", "at 10 QUEUE", "timeout 10 first",
        "at 10 ARRIVE", "timeout 10 after", "at 10 SETTLED", "at 10 DECIDE"]
    assert [t for t, _label in fired] == [5] * 3 + [10] * 8
