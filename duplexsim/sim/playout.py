"""Playout rules: what a side does when its chunk is not ready by the time it should start.

Owns the registry :data:`PLAYOUT_RULES` (``deadline`` | ``wait``) and :func:`playout_rule`
(a scenario side's rule). Must not run the simulation: the session asks its side's rule.

- ``deadline`` (every side that does not wait): chunk ``j`` starts on the side's clock,
  ready or not. A decision that starts after the chunk's start is skipped (no
  ``produce``); a decision whose compute ends after it is a miss; both play silence or
  repeat the last unit (``compute.on_miss``). Chunks that end before the side's worker is
  free are settled as misses on the clock.
- ``wait`` (a syncllm side with ``estimation = "wait"``) *stalls* instead of estimating:

  - its decision for chunk ``j`` starts as above, then waits, with no deadline, until every
    partner chunk ``< j`` has been released or given up (``buffer.next_chunk >= j``), so
    its lookahead is 0 unless a chunk was given up (then the model estimates that one);
  - playout slips instead of missing: when chunk ``j`` is ready (decision + compute; a
    prologue chunk's compute is not counted) after its start, the side's slip grows by the
    difference (``stall_ms``) so chunk ``j`` starts exactly when ready. Chunk ``j`` and
    every later chunk of the side (decision time, start = ``deadline_ms``, end = send time)
    are shifted by the accumulated slip (``slip_ms``), which never shrinks. Slip gaps are
    silence on the global timeline. A waiting side never misses a deadline or skips;
  - a partner chunk lost on the wire (every copy) is given up ``buffer.give_up_ms`` after
    it was due (its send time + the path's base delay, the sum of the hops'
    ``delay_ms``), if the buffer has not given it up before (that chunk only: one before it
    still in flight is waited for as usual): a waiting side may be the very
    reason no later chunk comes (both sides wait, or the stream ended), so the gap rule
    alone could stall it forever. (``give_up_ms = -1`` with a waiting side and a lossy
    incoming link is refused by the scenario.)

  With a constant one-way delay ``d``, lead 1 and no compute, a waiting side against a
  partner that does not wait slips by ``d`` once (at chunk 1) and then keeps pace; when
  both sides wait, each chunk after the first takes ``C + d`` (chunk ``j >= 1`` starts at
  ``j (C + d)``). The end of the conversation (``Session.end_ms``) moves with the slip.
"""

from __future__ import annotations

from dataclasses import dataclass

from duplexsim.config.scenario import SideConfig
from duplexsim.sim.buffer import ReceiveBuffer


@dataclass(frozen=True)
class Placement:
    """Where a decided chunk goes: its (possibly slipped) start and whether it missed."""

    stall_ms: int
    """How much later than planned the chunk starts (added to the side's slip)."""
    miss: bool


ON_TIME = Placement(stall_ms=0, miss=False)
MISSED = Placement(stall_ms=0, miss=True)


@dataclass(frozen=True)
class DeadlineRule:
    """Chunks start on the clock; late ones are misses (see the module docstring)."""

    name: str = "deadline"
    waits: bool = False
    settles_misses_on_clock: bool = True

    def blocked(self, buffer: ReceiveBuffer, j: int) -> bool:  # noqa: ARG002
        """Must the decision for chunk ``j`` wait for partner chunks? Never."""
        return False

    def skips(self, now: int, deadline: int, prologue: bool) -> bool:
        """A decision starting after its chunk's start is skipped (prologue excepted)."""
        return now > deadline and not prologue

    def place(self, now: int, ready: int, deadline: int, prologue: bool) -> Placement:  # noqa: ARG002
        return MISSED if ready > deadline and not prologue else ON_TIME


@dataclass(frozen=True)
class WaitRule:
    """Decisions wait for the partner's chunks; playout slips instead of missing."""

    name: str = "wait"
    waits: bool = True
    settles_misses_on_clock: bool = False

    def blocked(self, buffer: ReceiveBuffer, j: int) -> bool:
        """The decision for chunk ``j`` waits until every partner chunk ``< j`` is released
        or given up."""
        return buffer.next_chunk < j

    def skips(self, now: int, deadline: int, prologue: bool) -> bool:  # noqa: ARG002
        return False

    def place(self, now: int, ready: int, deadline: int, prologue: bool) -> Placement:
        # the chunk starts when it is ready (a prologue chunk's compute is not counted)
        return Placement(stall_ms=max(0, (now if prologue else ready) - deadline), miss=False)


PlayoutRule = DeadlineRule | WaitRule
PLAYOUT_RULES: dict[str, PlayoutRule] = {"deadline": DeadlineRule(), "wait": WaitRule()}


def playout_rule(side: SideConfig) -> PlayoutRule:
    """A scenario side's playout rule: ``wait`` for ``estimation = "wait"``, else ``deadline``."""
    return PLAYOUT_RULES["wait" if side.waits else "deadline"]
