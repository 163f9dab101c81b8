"""Timing variants side by side: the one way the benchmarks interleave their repeats.

Owns :func:`interleaved` (each repeat runs every variant once, the order rotated from
repeat to repeat, so neither always runs first: warm caches, a load that comes and goes and
the garbage collector's timing fall on all of them) and :func:`spread` (min / median / max
of per-repeat ratios). Nothing here asserts a time.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")


def interleaved(variants: Sequence[Callable[[], T]], repeats: int,
                ) -> list[list[tuple[float, T]]]:
    """``repeats`` rounds of every variant once, round ``r`` starting at variant
    ``r % len(variants)``; per variant, per round: (wall seconds, what it returned)."""
    if repeats < 1 or not variants:
        raise ValueError(f"repeats={repeats}, {len(variants)} variants (allowed: >= 1 of each)")
    out: list[list[tuple[float, T]]] = [[] for _ in variants]
    for r in range(repeats):
        for k in range(len(variants)):
            i = (r + k) % len(variants)
            t0 = time.perf_counter()
            result = variants[i]()
            out[i].append((time.perf_counter() - t0, result))
    return out


def spread(values: Sequence[float]) -> tuple[float, float, float]:
    """(min, median, max) of a measurement's repeats."""
    return min(values), statistics.median(values), max(values)
