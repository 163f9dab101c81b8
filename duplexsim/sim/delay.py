"""Delay models: base delay + jitter (netem's families or an empirical trace), AR(1), spikes.

Owns the jitter marginals (standardised to mean 0, sd 1, then scaled by ``jitter_ms``),
the AR(1) correlation and the periodic delay spikes. Must not know about packets, loss
or SimPy: a :class:`DelayModel` turns (send time) into a delay in ms.

Correlation (unlike netem, whose correlation shrinks the jitter): an AR(1) process runs on
an underlying standard-normal variate, ``z_t = c z_{t-1} + sqrt(1 - c^2) e_t`` (stationary,
so ``z_t`` stays N(0, 1)), and each draw is ``jitter_ms * Q(Phi(z_t))`` with ``Q`` the
standardised marginal's inverse CDF. The marginal, and so the sd, are kept exactly. The
lag-1 (Pearson) correlation of the jitter is ``c`` for ``normal-analytic`` (about ``c`` for
netem's normal table); for the others
the rank correlation is kept: Spearman's rho = ``(6 / pi) asin(c / 2)`` (Gaussian copula),
while Pearson's is lower for heavy tails (for c = 0.8: about 0.73 for netem's ``pareto``
table, 0.76 for ``paretonormal``, 0.64 for the unclipped ``pareto-analytic``).

Marginals (``Q`` as a function of ``z``). ``normal``, ``pareto`` and ``paretonormal`` are
netem's own tables, computed as iproute2 computes them (``netem/normal.c``, ``pareto.c``,
``paretonormal.c``; entry for entry equal to its ``normal.dist``, ``pareto.dist``,
``paretonormal.dist``, 4096 values ``t_k`` each, in units of netem's sigma; built in
:mod:`duplexsim.config.netem`). The kernel
(``net/sched/sch_netem.c`` ``tabledist``) draws an entry uniformly: ``delay = mu + sigma
t_k``. We take the entry ``k = floor(4096 Phi(z))`` (uniform too) and standardise the table
to mean 0, sd 1, so that ``jitter_ms`` stays the sd:
- ``normal``: ``normal.c`` sweeps ``x = -10, -10 + 0.00005, ...`` (accumulated in doubles)
  and stores each ``x`` at ``rint(16384 Phi(x))``, the last one winning; the table keeps
  every 4th, ``t = rint(8192 x) / 8192`` clipped to 16 bits (so it spans -4.0 .. +3.52
  sigma); mean -0.0008, sd 1.0001;
- ``pareto``: ``pareto.c``, Pareto with shape 3, ``t_k = min(rint(8192 * 4/3 * ((1 -
  k/4096)^(-1/3) - 3/2)), 32767) / 8192`` (clipped at 4 sigma); mean -0.0335, sd 0.8197,
  spans -0.667 .. +4.0 sigma (standardised: -0.77 .. +4.92 sd);
- ``paretonormal``: ``paretonormal.c``, 0.25 of the normal table plus 0.75 of the Pareto
  one on the same quantile, ``t_k = trunc((rint(8192 N_k) + 3 P_k) / 4) / 8192`` with ``N_k``
  the normal table at ``u = (4k + 0.5) / 16384``; mean -0.0253, sd 0.8339, spans
  -1.77 .. +4.68 sd standardised;
- ``normal-analytic``: ``z`` itself (unbounded, continuous; the AR(1) lag-1 correlation of
  the jitter is then exactly ``c``);
- ``pareto-analytic``: Pareto with shape 3, ``x = (1 - u)^(-1/3)``, standardised
  ``(x - 3/2) / sqrt(3/4)``, unclipped (its right tail is heavier than netem's);
- ``uniform``: ``sqrt(3) (2 Phi(z) - 1)`` (uniform on ``[-sqrt 3, sqrt 3]``; netem's
  default when no distribution is named: uniform on ``[mu - sigma, mu + sigma)``);
- ``trace``: the empirical quantile function of the file's samples, centred on their mean
  and scaled so the sd is ``jitter_ms`` (``jitter_ms = 0`` keeps the file's own spread).

From ``tc qdisc ... netem delay D J [distribution X]`` to a scenario link
(:func:`link_from_netem`): ``ordering = "reorder"`` (netem's time-sorted queue),
``jitter_dist = X`` (``uniform`` without a distribution),
``delay_ms = D + J mean(t_X)``, ``jitter_ms = J sd(t_X)``; e.g. ``paretonormal``:
``delay_ms = D - 0.0253 J``, ``jitter_ms = 0.834 J``; ``normal``: ``D - 0.0008 J`` and
``1.0001 J``; ``pareto``: ``D - 0.0335 J`` and ``0.820 J``; no distribution: ``D`` and
``J / sqrt 3``. With a table, ``D`` below ``-J mean(t_X)`` (``0.0335 J`` for ``pareto``) would
need a base below 0 and is refused (netem's mean delay is then below 0 too, before its clamp).
netem's correlation (``delay D J C%``) has no equivalent: ours keeps the
marginal (see above), set ``correlation`` separately.
A delay below 0 (a jitter large against the base: below -4 sd for normal, -1.77 sd for
paretonormal, -0.77 sd for pareto, -1.73 sd for uniform) is clamped to 0, as netem sends it at once.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
from scipy import special

from duplexsim.config.link import LinkConfig, read_jitter_trace
from duplexsim.config.netem import NETEM_TABLES, netem_delay_keys

PARETO_SHAPE = 3.0
_PARETO_MEAN = PARETO_SHAPE / (PARETO_SHAPE - 1.0)  # x_m = 1
_PARETO_SD = math.sqrt(PARETO_SHAPE / ((PARETO_SHAPE - 1.0) ** 2 * (PARETO_SHAPE - 2.0)))


def _normal_analytic(z: float) -> float:
    return z


def _uniform(z: float) -> float:
    return math.sqrt(3.0) * (2.0 * float(special.ndtr(z)) - 1.0)


def _pareto_analytic(z: float) -> float:
    tail = float(special.ndtr(-z))  # 1 - Phi(z), accurate in the right tail
    x = tail ** (-1.0 / PARETO_SHAPE)
    return (x - _PARETO_MEAN) / _PARETO_SD


class _NetemTable:
    """Standardised netem table as a marginal: entry ``floor(4096 Phi(z))``."""

    def __init__(self, table: np.ndarray):
        self.values = (table - table.mean()) / table.std()

    def __call__(self, z: float) -> float:
        k = min(int(float(special.ndtr(z)) * len(self.values)), len(self.values) - 1)
        return float(self.values[k])


MARGINALS: dict[str, Callable[[float], float]] = {
    **{name: _NetemTable(make()) for name, make in NETEM_TABLES.items()},
    "normal-analytic": _normal_analytic, "pareto-analytic": _pareto_analytic,
    "uniform": _uniform,
}


def link_from_netem(delay_ms: float, jitter_ms: float, distribution: str | None = None,
                    ) -> LinkConfig:
    """The link keys of ``tc qdisc ... netem delay {delay_ms}ms {jitter_ms}ms [distribution
    {distribution}]``: same delay distribution (module doc). ``None``: netem's default,
    uniform on ``[D - J, D + J)``. Only the delay keys and ``ordering = "reorder"`` are set
    (``resolve_link`` fills in the rest from a preset): netem's time-sorted queue lets a
    packet with a shorter draw overtake one sent before it. A whole netem argument string
    (loss, duplicate, rate too): :func:`duplexsim.config.netem.netem_keys`, or the link key
    ``netem`` of a scenario."""
    return LinkConfig(**netem_delay_keys(delay_ms, jitter_ms, distribution))


def load_jitter_trace(path: str | Path) -> np.ndarray:
    """Delay samples (ms), sorted; the file is read and checked by
    :func:`duplexsim.config.link.read_jitter_trace`."""
    return np.sort(np.asarray(read_jitter_trace(path), dtype=float))


class _Empirical:
    """The trace's samples, centred (and standardised unless ``keep_spread``), each drawn
    with probability 1/n: sample ``floor(n * Phi(z))`` of the sorted trace, so the draws'
    mean is 0 and their sd exactly the trace's (or 1), however short it is (an
    interpolated quantile function would shrink the spread of a short trace)."""

    def __init__(self, samples: np.ndarray, keep_spread: bool):
        sd = float(samples.std())
        self.values = (samples - samples.mean()) / (1.0 if keep_spread or sd == 0 else sd)
        self.n = len(samples)

    def __call__(self, z: float) -> float:
        return float(self.values[min(int(self.n * float(special.ndtr(z))), self.n - 1)])


class DelayModel:
    """One hop's delay: base + jitter (AR(1) on the underlying normal) + periodic spikes."""

    def __init__(self, link: LinkConfig, rng: np.random.Generator, spike_phase: float = 0.0):
        """``spike_phase`` in [0, 1): where in the spike period the simulation starts (0: in
        a spike's first ms; the session draws it from the scenario's seed)."""
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
        self.spike_period_ms = float(link.spike_period_s) * 1000.0  # type: ignore[arg-type]
        self.spike_ms = float(link.spike_ms)  # type: ignore[arg-type]
        self.spike_duration_ms = float(link.spike_duration_ms)  # type: ignore[arg-type]
        self.spike_offset_ms = float(spike_phase) * self.spike_period_ms

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
        into = (t_ms + self.spike_offset_ms) % self.spike_period_ms
        return self.spike_ms if into < self.spike_duration_ms else 0.0

    def draw_ms(self) -> float:
        """Base + next jitter draw (before spikes and clamping)."""
        return self.base_ms + self.jitter_ms()

    def delay_ms(self, t_ms: float, drawn: float | None = None) -> float:
        """Delay (ms, >= 0) of a packet entering the hop at ``t_ms`` (``drawn``: a
        :meth:`draw_ms` value already taken for it)."""
        drawn = self.draw_ms() if drawn is None else drawn
        return max(0.0, drawn + self.spike_at(t_ms))
