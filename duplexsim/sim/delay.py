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
- ``pareto``: Pareto with shape 3 (netem's table), ``x = (1 - u)^(-1/3)``, standardised:
  ``(x - 3/2) / sqrt(3/4)``; its minimum is ``-0.577 sd`` (a delay never drops far below
  base), its right tail is heavy;
- ``paretonormal``: like netem's table, ``0.25 * normal + 0.75 * pareto`` on the same
  quantile (a monotone mix, so it stays an inverse CDF), rescaled to sd 1;
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
from scipy import integrate, special

from duplexsim.config.network import LinkConfig

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


@lru_cache(maxsize=1)
def _paretonormal_sd() -> float:
    """sd of 0.25 z + 0.75 pareto(z) for z ~ N(0, 1) (its mean is 0)."""
    def integrand(z: float) -> float:
        return z * _pareto(z) * math.exp(-z * z / 2) / math.sqrt(2 * math.pi)

    cross = integrate.quad(integrand, -12.0, 12.0, limit=200)[0]  # E[z * pareto(z)]
    return math.sqrt(0.25**2 + 0.75**2 + 2 * 0.25 * 0.75 * cross)


def _paretonormal(z: float) -> float:
    return (0.25 * z + 0.75 * _pareto(z)) / _paretonormal_sd()


MARGINALS: dict[str, Callable[[float], float]] = {
    "normal": _normal, "uniform": _uniform, "pareto": _pareto, "paretonormal": _paretonormal,
}


def load_jitter_trace(path: str | Path) -> np.ndarray:
    """Delay samples (ms), one per line; blank lines and ``#`` comments skipped; sorted."""
    path = Path(path)
    values = []
    for n, line in enumerate(path.read_text().splitlines(), start=1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        try:
            values.append(float(text))
        except ValueError:
            raise ValueError(f"{path}: line {n}: {text!r} is not a number "
                             "(allowed: one delay sample in ms per line)") from None
    if len(values) < 2:
        raise ValueError(f"{path}: {len(values)} samples (allowed: at least 2 delay samples)")
    return np.sort(np.asarray(values, dtype=float))


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
