"""The receive buffer's give-up rules, pinned chunk by chunk (module docstring of
:mod:`duplexsim.sim.buffer`)."""

from __future__ import annotations

import numpy as np

from duplexsim.sim.buffer import ReceiveBuffer

U = np.zeros(4, np.int64)


def test_a_chunk_given_up_just_below_the_release_point_is_late() -> None:
    """Chunk 1 given up as lost (the release point is now 2) then arriving is "late": it is
    not held, not released, not reported as released."""
    buf = ReceiveBuffer(give_up_ms=100)
    buf.arrive(0, U, 0)
    buf.give_up_lost(1, 200)
    assert buf.next_chunk == 2 and buf.given_up == {1}
    assert buf.arrive(1, U, 300) == "late"
    assert buf.waiting == {} and [c for c, *_ in buf.take()] == [0]


def test_every_due_chunk_gives_up_the_gaps_before_it() -> None:
    """Two chunks have both waited give_up_ms behind two gaps: both gaps are given up and
    both chunks released at once (the latest due chunk decides, not the earliest)."""
    buf = ReceiveBuffer(give_up_ms=100)
    buf.arrive(0, U, 0), buf.arrive(2, U, 10), buf.arrive(4, U, 20)
    buf.expire(120)
    assert [c for c, *_ in buf.take()] == [0, 2, 4]
    assert buf.given_up == {1, 3} and buf.next_chunk == 5 and buf.waiting == {}


def test_give_up_through_gives_up_the_chunk_named_too() -> None:
    """give_up_through(k) gives up every missing chunk up to and including k."""
    buf = ReceiveBuffer(give_up_ms=-1)
    buf.arrive(0, U, 0), buf.arrive(3, U, 10)
    buf.give_up_through(2, 50)
    assert buf.given_up == {1, 2} and buf.next_chunk == 4
    assert [(c, t) for c, _, t in buf.take()] == [(0, 0), (3, 50)]


def test_give_up_at_once_releases_on_arrival() -> None:
    """give_up_ms = 0: a chunk after a gap is released the moment it arrives, the gap given
    up, with no later expire call needed."""
    buf = ReceiveBuffer(give_up_ms=0)
    assert buf.arrive(0, U, 0) == "released"
    assert buf.arrive(2, U, 170) == "released"
    assert buf.given_up == {1} and [(c, t) for c, _, t in buf.take()] == [(0, 0), (2, 170)]
    assert buf.arrive(1, U, 180) == "late"


def test_receive_buffer_policy() -> None:
    buf = ReceiveBuffer(give_up_ms=100)
    u = np.zeros(4, np.int64)
    assert buf.arrive(0, u, 10) == "released"
    assert buf.arrive(2, u, 20) == "waiting" and buf.arrive(3, u, 30) == "waiting"
    buf.expire(119)
    assert [c for c, *_ in buf.take()] == [0]
    buf.expire(120)  # chunk 2 has waited 100 ms: give up 1, release 2 and 3
    assert [c for c, *_ in buf.take()] == [2, 3] and buf.given_up == {1}
    assert buf.arrive(1, u, 130) == "late" and buf.arrive(3, u, 140) == "duplicate"
    # chunks that overtook each other: 4 arrives before 3, 2 is lost; the gap is given up
    # once 4 has waited (not only once 3, the lowest waiting, has)
    late = ReceiveBuffer(give_up_ms=400)
    late.arrive(0, u, 0), late.arrive(1, u, 160), late.arrive(4, u, 500), late.arrive(3, u, 800)
    late.expire(899)
    assert [c for c, *_ in late.take()] == [0, 1]
    late.expire(900)
    assert [(c, t) for c, _, t in late.take()] == [(3, 900), (4, 900)] and late.given_up == {2}
    never = ReceiveBuffer(give_up_ms=-1)
    never.arrive(1, u, 0)
    never.expire(10**9)
    assert never.take() == [] and never.arrive(0, u, 5) == "released"
    assert [c for c, *_ in never.take()] == [0, 1]


def test_a_chunk_known_lost_is_given_up_alone() -> None:
    """give_up_lost(3) gave up 2 too (give_up_through) while 2 was only delayed: arriving
    later it was "late", its units never reached the agent."""
    buf = ReceiveBuffer(give_up_ms=100)
    u = np.zeros(4, np.int64)
    buf.arrive(0, u, 0), buf.arrive(1, u, 160)
    buf.give_up_lost(3, 600)  # 2 is still in flight
    assert buf.next_chunk == 2 and buf.given_up == set() and buf.take() != []
    buf.arrive(4, u, 610)
    assert buf.arrive(2, u, 650) == "released"  # 2, then past the lost 3, 4
    assert [c for c, *_ in buf.take()] == [2, 4] and buf.given_up == {3}
    assert buf.next_chunk == 5 and not buf.lost
    buf.give_up_lost(5, 700)  # nothing before it missing: given up at once
    assert buf.next_chunk == 6 and buf.given_up == {3, 5}
