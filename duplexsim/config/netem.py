"""netem's vocabulary: its delay tables, and netem's delay as link keys.

Owns iproute2's ``normal``, ``pareto`` and ``paretonormal`` tables (how they are built, and
how netem's ``delay D J distribution X`` maps onto our ``delay_ms`` / ``jitter_ms``:
:mod:`duplexsim.sim.delay`'s doc). Returns plain key dicts: it sits under
:mod:`duplexsim.config.network`, which builds the :class:`LinkConfig`; must not import it
or the simulator.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import numpy as np

from duplexsim.errors import InputError

NETEM_DIST_SCALE = 8192  # include/uapi/linux/pkt_sched.h: table values are sigma * 8192
NETEM_TABLESIZE = 16384  # iproute2 netem/*.c: the normal CDF grid; the tables keep 1 in 4
NETEM_ENTRIES = 4096  # entries of every .dist table


@lru_cache(maxsize=1)
def _netem_normal_grid() -> np.ndarray:
    """``normal.c``'s ``table[16385]``: the largest ``x`` of its sweep at each
    ``rint(16384 Phi(x))`` (the sweep accumulates ``x += 0.00005`` in doubles, as here)."""
    steps = np.full(int(20.05 / 0.00005) + 2, 0.00005)
    x = np.cumsum(np.r_[-10.0, steps])  # sequential sums, like the C loop's x += .00005
    x = x[x < 10.05]
    from scipy import special  # here: `duplexsim validate` imports this module

    index = np.rint(NETEM_TABLESIZE * (0.5 + 0.5 * special.erf(x / math.sqrt(2.0))))
    grid = np.empty(NETEM_TABLESIZE + 1)
    grid[index.astype(np.int64)] = x  # x ascends: the last (largest) x per index stays
    return grid


def _netem_pareto_ints() -> np.ndarray:
    """``pareto.c``'s 4096 integers: ``i = 65536, 65520, ..., 16``."""
    i = np.arange(65536, 0, -16, dtype=np.float64)
    value = (4.0 / 3.0) * NETEM_DIST_SCALE * ((i / 65536.0) ** (-1.0 / 3.0) - 1.5)
    return np.rint(np.minimum(value, 32767))


@lru_cache(maxsize=1)
def netem_normal_table() -> np.ndarray:
    """iproute2's ``normal.dist`` [4096], in units of netem's sigma (ascending)."""
    value = np.rint(_netem_normal_grid()[0:NETEM_TABLESIZE:4] * NETEM_DIST_SCALE)
    return np.clip(value, -32768, 32767) / NETEM_DIST_SCALE


@lru_cache(maxsize=1)
def netem_pareto_table() -> np.ndarray:
    """iproute2's ``pareto.dist`` [4096], in units of netem's sigma (ascending)."""
    return _netem_pareto_ints() / NETEM_DIST_SCALE


@lru_cache(maxsize=1)
def netem_paretonormal_table() -> np.ndarray:
    """iproute2's ``paretonormal.dist`` [4096], in units of netem's sigma (ascending):
    ``paretonormal.c`` mixes its normal grid at ``i = 0, 4, ...`` with the Pareto values."""
    normal = _netem_normal_grid()[0:NETEM_TABLESIZE:4]
    value = np.trunc((np.rint(normal * NETEM_DIST_SCALE) + 3 * _netem_pareto_ints()) / 4)
    return np.clip(value, -32768, 32767) / NETEM_DIST_SCALE  # C int division truncates


NETEM_TABLES: dict[str, Callable[[], np.ndarray]] = {
    "normal": netem_normal_table, "pareto": netem_pareto_table,
    "paretonormal": netem_paretonormal_table,
}
"""netem's distribution name -> its table (the names ``tc ... distribution X`` takes)."""


def netem_delay_keys(delay_ms: float, jitter_ms: float, distribution: str | None = None,
                     ) -> dict[str, Any]:
    """The link keys of netem's ``delay {delay_ms}ms {jitter_ms}ms [distribution X]``:
    ``delay_ms``, ``jitter_ms``, ``jitter_dist`` and ``ordering = "reorder"`` (module doc of
    :mod:`duplexsim.sim.delay`). ``None`` (or ``"uniform"``): netem's default without a
    table, uniform on ``[D - J, D + J)``."""
    if distribution in (None, "uniform"):
        return {"delay_ms": delay_ms, "jitter_ms": jitter_ms / math.sqrt(3.0),
                "jitter_dist": "uniform", "ordering": "reorder"}
    if distribution not in NETEM_TABLES:
        raise InputError("distribution", "", f"{distribution!r} is not one of netem's tables",
                         ", ".join(NETEM_TABLES))
    table = NETEM_TABLES[distribution]()
    base = delay_ms + jitter_ms * float(table.mean())
    if base < 0:  # the table's mean is below 0: a small D gives a base delay_ms below 0
        raise InputError("delay", "", f"{delay_ms} ms with jitter {jitter_ms} ms and "
                         f"distribution {distribution} has a mean delay below 0 ({base:.4g} "
                         "ms), which a link's delay_ms cannot be",
                         f"D >= {-float(table.mean()):.4f} J for {distribution}")
    return {"delay_ms": base, "jitter_ms": jitter_ms * float(table.std()),
            "jitter_dist": distribution, "ordering": "reorder"}


__all__ = ["NETEM_ENTRIES", "NETEM_TABLES", "netem_delay_keys", "netem_normal_table",
           "netem_pareto_table", "netem_paretonormal_table"]
