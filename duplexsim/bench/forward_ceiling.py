"""The ceiling of ``bench_sim``: the lean forward alone, its cost per row-token at a few
batch sizes (decode steps, and packed re-feeds of several tokens a row), printed beside
what the batched simulations achieved per row-token forwarded.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any


def bench_ceiling(files: Any, counts: Sequence[int], context: int = 300, steps: int = 20,
                  fed: int = 1) -> dict[int, float]:
    """The lean forward alone: ms per row-token of steps feeding ``fed`` tokens a row (1: a
    decode step; more: a packed re-feed) at ``context`` tokens."""
    from duplexsim.models.rows import LMRows

    out = {}
    for n in counts:
        lm = LMRows(files.model, files.vocab.n_units, context + steps * fed + 1, rows=n)
        rows = [lm.add_row() for _ in range(n)]
        for row in rows:
            lm.append(row, [i % files.vocab.n_units for i in range(context)])
        lm.logits(rows)
        t0 = time.perf_counter()
        for i in range(steps):
            for row in rows:
                lm.append(row, [(i + k) % files.vocab.n_units for k in range(fed)])
            lm.logits(rows)
        out[n] = (time.perf_counter() - t0) * 1000 / (steps * n * fed)
    return out


def report_ceiling(files: Any, achieved: dict[int, tuple[float, float]]) -> None:
    """Print the lean forward's cost per row-token alone (decode steps, packed re-feeds)
    beside what each batched simulation achieved (``achieved``: per conversation count, ms
    per row-token forwarded and the share re-fed, from ``bench_sim.bench_batches``)."""
    ceiling = bench_ceiling(files, (1, 16, 64))
    print("\nceiling: the lean forward alone, decode steps at a 300-token context, ms per "
          "row-token: " + ", ".join(f"{n} rows {ms:.3f}" for n, ms in ceiling.items()))
    refeed = bench_ceiling(files, (1, 16, 64), fed=12)
    print("the same, re-feeding 12 tokens a row per forward (packed), ms per row-token: "
          + ", ".join(f"{n} rows {ms:.3f}" for n, ms in refeed.items()))
    for n, (ms, fed) in achieved.items():
        print(f"batched simulation of {n}: {ms:.3f} ms of wall time per row-token "
              "forwarded (everything included: SimPy, agents, sampling, forwards); "
              f"{fed:.0%} of those tokens re-fed (received chunks, re-fed tails), not "
              "sampled: packed, they cost matmul work per token that batching does "
              "not share")
