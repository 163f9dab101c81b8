"""Playout rules: what a side does when its chunk is not ready by the time it should start.

Owns the registry :data:`PLAYOUT_RULES` (``deadline`` | ``wait``) and :func:`playout_rule`
(a scenario side's rule). Must not run the simulation: the session asks its side's rule.

- ``deadline`` (every side that does not wait): chunk ``j`` starts on the side's clock,
  ready or not. A decision that starts after the chunk's start is skipped (no
  ``produce``); a decision whose compute ends after it is a miss; both play silence or
  repeat the last unit (``compute.on_miss``). Chunks that end before the side's worker is
  free are settled as misses on the clock.
- ``wait`` (a syncllm side with ``estimation = "wait"``): the decision for chunk ``j``
  stalls until every partner chunk ``< j`` is released or given up; when the chunk is ready
  after its start, the side's playout slips so it starts when ready. Never a miss or a
  skip. A partner chunk lost on the wire is given up ``buffer.give_up_ms`` after it was due.
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
        return Placement(stall_ms=0, miss=ready > deadline and not prologue)


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
