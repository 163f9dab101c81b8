"""Delay models: base delay + jitter (netem's families or an empirical trace), AR(1), spikes.

Owns the jitter marginals (standardised to mean 0, sd 1, then scaled by ``jitter_ms``),
the AR(1) correlation and the periodic delay spikes. Must not know about packets, loss
or SimPy: a :class:`DelayModel` turns (send time) into a delay in ms.

Correlation (unlike netem, whose correlation shrinks the jitter): an AR(1) process runs on
an underlying standard-normal variate, ``z_t = c z_{t-1} + sqrt(1 - c^2) e_t`` (stationary,
so ``z_t`` stays N(0, 1)), and each draw is ``jitter_ms * Q(Phi(z_t))`` with ``Q`` the
standardised marginal's inverse CDF. The marginal, and so the sd, are kept exactly. The
lag-1 (Pearson) correlation of the jitter is ``c`` for the normal family; for the others
the rank correlation is kept: Spearman's rho = ``(6 / pi) asin(c / 2)`` (Gaussian copula),
while Pearson's is lower for heavy tails (pareto-like: about 0.64 for c = 0.8).

Marginals (``Q`` as a function of ``z``):
- ``normal``: ``z``;
- ``uniform``: ``sqrt(3) (2 Phi(z) - 1)`` (uniform on ``[-sqrt 3, sqrt 3]``);
- ``pareto``: Pareto with shape 3 (netem's family), ``x = (1 - u)^(-1/3)``, standardised:
  ``(x - 3/2) / sqrt(3/4)``; its minimum is ``-0.577 sd`` (a delay never drops far below
  base), its right tail is heavy (unbounded here; netem's table clips it at 4 sigma);
- ``paretonormal``: netem's own table, entry for entry: iproute2 ``netem/paretonormal.c``
  writes 4096 values ``t_k = trunc((rint(S * N_k) + 3 * min(rint(S * 4/3 * ((1 - k/4096)^(-1/3)
  - 3/2)), 32767)) / 4)``, ``S = NETEM_DIST_SCALE = 8192`` and ``N_k`` its normal table at
  ``u = (4k + 0.5) / 16384`` (0.25 normal + 0.75 x 4/3-scaled Pareto(3) on the same quantile,
  the Pareto part clipped at 4 sigma), and the kernel (``net/sched/sch_netem.c``
  ``tabledist``) draws an entry uniformly: ``delay = mu + sigma * t / S``. We take the entry
  ``k = floor(4096 Phi(z))`` and standardise the table: it has mean ``-0.0253`` and sd
  ``0.8339`` (in units of netem's sigma) and spans ``-1.77 .. +4.68`` sd. So netem's
  ``delay D J distribution paretonormal`` is ``delay_ms = D - 0.0253 J``,
  ``jitter_ms = 0.834 J`` here;
- ``trace``: the empirical quantile function of the file's samples, centred on their mean
  and scaled so the sd is ``jitter_ms`` (``jitter_ms = 0`` keeps the file's own spread).
A delay below 0 (possible only with a large normal/uniform jitter over a small base) is
clamped to 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import numpy as np
from scipy import special

from duplexsim.config.network import LinkConfig, read_jitter_trace

PARETO_SHAPE = 3.0
_PARETO_MEAN = PARETO_SHAPE / (PARETO_SHAPE - 1.0)  # x_m = 1
_PARETO_SD = math.sqrt(PARETO_SHAPE / ((PARETO_SHAPE - 1.0) ** 2 * (PARETO_SHAPE - 2.0)))


def _normal(z: float) -> float:
    return z


def _uniform(z: float) -> float:
    return math.sqrt(3.0) * (2.0 * float(special.ndtr(z)) - 1.0)


def _pareto(z: float) -> float:
    tail = float(special.ndtr(-z))  # 1 - Phi(z), accurate in the right tail
    x = tail ** (-1.0 / PARETO_SHAPE)
    return (x - _PARETO_MEAN) / _PARETO_SD


NETEM_DIST_SCALE = 8192  # include/uapi/linux/pkt_sched.h: table values are sigma * 8192
NETEM_TABLESIZE = 16384  # iproute2 netem/*.c: the normal CDF grid; paretonormal keeps 1 in 4


@lru_cache(maxsize=1)
def netem_paretonormal_table() -> np.ndarray:
    """iproute2's ``paretonormal.dist`` [4096], in units of netem's sigma (ascending).

    Computed as ``netem/paretonormal.c`` does: its normal table comes from sweeping
    ``x = -10, -10 + 0.00005, ...`` (accumulated in doubles) and storing each ``x`` at
    ``rint(16384 Phi(x))``, the last one winning.
    """
    steps = np.full(int(20.05 / 0.00005) + 2, 0.00005)
    x = np.cumsum(np.r_[-10.0, steps])  # sequential sums, like the C loop's x += .00005
    x = x[x < 10.05]
    index = np.rint(NETEM_TABLESIZE * (0.5 + 0.5 * special.erf(x / math.sqrt(2.0))))
    normal = np.empty(NETEM_TABLESIZE + 1)
    normal[index.astype(np.int64)] = x  # x ascends: the last (largest) x per index stays
    i = np.arange(0, NETEM_TABLESIZE, 4)
    pareto = (4.0 / 3.0) * NETEM_DIST_SCALE * (((65536 - 4 * i) / 65536.0) ** (-1 / 3) - 1.5)
    pareto = np.rint(np.minimum(pareto, 32767))
    value = np.trunc((np.rint(normal[i] * NETEM_DIST_SCALE) + 3 * pareto) / 4)  # C int /
    return np.clip(value, -32768, 32767) / NETEM_DIST_SCALE


@lru_cache(maxsize=1)
def _paretonormal_standard() -> np.ndarray:
    table = netem_paretonormal_table()
    return (table - table.mean()) / table.std()


def _paretonormal(z: float) -> float:
    table = _paretonormal_standard()
    k = min(int(float(special.ndtr(z)) * len(table)), len(table) - 1)
    return float(table[k])


MARGINALS: dict[str, Callable[[float], float]] = {
    "normal": _normal, "uniform": _uniform, "pareto": _pareto, "paretonormal": _paretonormal,
}


def load_jitter_trace(path: str | Path) -> np.ndarray:
    """Delay samples (ms), sorted; the file is read and checked by
    :func:`duplexsim.config.network.read_jitter_trace`."""
    return np.sort(np.asarray(read_jitter_trace(path), dtype=float))


class _Empirical:
    """Standardised empirical quantile function of trace samples."""

    def __init__(self, samples: np.ndarray, keep_spread: bool):
        sd = float(samples.std())
        self.values = (samples - samples.mean()) / (1.0 if keep_spread or sd == 0 else sd)
        self.grid = (np.arange(len(samples)) + 0.5) / len(samples)

    def __call__(self, z: float) -> float:
        return float(np.interp(float(special.ndtr(z)), self.grid, self.values))


class DelayModel:
    """One hop's delay: base + jitter (AR(1) on the underlying normal) + periodic spikes."""

    def __init__(self, link: LinkConfig, rng: np.random.Generator):
        self.base_ms = float(link.delay_ms)  # type: ignore[arg-type]
        self.sd_ms = float(link.jitter_ms)  # type: ignore[arg-type]
        self.c = float(link.correlation)  # type: ignore[arg-type]
        self.rng = rng
        self.z: float | None = None
        self.marginal: Callable[[float], float] | None = None
        if link.jitter_dist == "trace":
            samples = load_jitter_trace(link.jitter_trace)  # type: ignore[arg-type]
            self.marginal = _Empirical(samples, keep_spread=self.sd_ms == 0)
            self.sd_ms = self.sd_ms or 1.0
        elif link.jitter_dist != "none" and self.sd_ms > 0:
            self.marginal = MARGINALS[link.jitter_dist]  # type: ignore[index]
        self.spike_period_ms = float(link.spike_period_s) * 1000.0  # type: ignore[operator]
        self.spike_ms = float(link.spike_ms)  # type: ignore[arg-type]
        self.spike_duration_ms = float(link.spike_duration_ms)  # type: ignore[arg-type]

    def jitter_ms(self) -> float:
        """Next jitter draw (ms): mean 0, sd ``jitter_ms``, AR(1)-correlated."""
        if self.marginal is None:
            return 0.0
        e = float(self.rng.standard_normal())
        self.z = e if self.z is None else self.c * self.z + math.sqrt(1 - self.c**2) * e
        return self.sd_ms * self.marginal(self.z)

    def spike_at(self, t_ms: float) -> float:
        if self.spike_period_ms <= 0 or self.spike_ms <= 0:
            return 0.0
        return self.spike_ms if (t_ms % self.spike_period_ms) < self.spike_duration_ms else 0.0

    def draw_ms(self) -> float:
        """Base + next jitter draw (before spikes and clamping)."""
        return self.base_ms + self.jitter_ms()

    def delay_ms(self, t_ms: float, drawn: float | None = None) -> float:
        """Delay (ms, >= 0) of a packet entering the hop at ``t_ms`` (``drawn``: a
        :meth:`draw_ms` value already taken for it)."""
        drawn = self.draw_ms() if drawn is None else drawn
        return max(0.0, drawn + self.spike_at(t_ms))
