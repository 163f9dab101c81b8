"""The project's one rule for turning a time into whole ms, frames or samples.

Owns :func:`round_half_up` (half up, never to even), :func:`round_ms` (the simulator's
times), :func:`ms_from_s` and :func:`frames_from_s` (a length given in seconds). Imports
nothing of duplexsim, so that corpora, models, metrics and the simulator may all use it
(:mod:`duplexsim.sim.clock` re-exports ``round_ms`` and ``ms_from_s``). Must not know about
clocks, the network or files.

Python's ``round`` goes to even (``round(115.5) == 116`` but ``round(116.5) == 116``), which
made ties go both ways; ``floor(x + 0.5)`` carries a value just under a half up when the
sum rounds (``0.49999999999999994 + 0.5 == 1.0``), so the fraction is compared instead.
"""

from __future__ import annotations

import math


def round_half_up(x: float) -> int:
    """``x`` to the nearest whole number, half up (312.5 -> 313, 937.5 -> 938, -0.5 -> 0),
    exactly as given (no snapping: 0.58 * 25 = 14.499999999999998 -> 14)."""
    whole = math.floor(x)
    return whole + 1 if x - whole >= 0.5 else whole


def round_ms(ms: float) -> int:
    """``ms`` to the nearest whole ms, half a ms up (:func:`round_half_up`): every time the
    simulator rounds to whole ms (a drifting clock's instants, link arrivals, a heard
    chunk's span)."""
    return round_half_up(ms)


def ms_from_s(seconds: float) -> int:
    """``seconds`` in whole ms, half a ms up (1.0005 s -> 1001 ms).

    Every seconds-to-ms conversion of a time or length a user gives (a scenario's
    ``duration_s``, a continuation's ``--seconds``) goes through here. The product is first
    snapped to a millionth of a ms, so that float error in ``seconds * 1000`` (2.0005 * 1000 =
    2000.5000000000002, 0.0035 - 0.001 = 0.0024999999999999996 s) neither makes nor breaks
    a tie."""
    return round_half_up(round(seconds * 1000.0, 6))


def frames_from_s(seconds: float, frame_ms: int) -> int:
    """``seconds`` in whole frames of ``frame_ms``, half a frame up (4.66 s of 40 ms frames
    -> 117; ``round`` gave 116), snapped first as :func:`ms_from_s` does (4.62 s * 25 =
    115.49999999999999 frames is the tie 115.5 -> 116)."""
    return round_half_up(round(seconds * 1000.0 / frame_ms, 6))
