"""Loss models: none, Bernoulli, Gilbert-Elliott; a registry keyed by ``loss_model``.

Gilbert-Elliott is parametrised as in DESIGN.md by the mean loss and the mean burst
length: ``r = 1 / burst`` (bad -> good), ``p = loss * r / (1 - loss)`` (good -> bad), every
packet lost in the bad state and none in the good one, so the stationary loss is ``loss``
and bursts are geometric with mean ``burst``. The chain starts from its stationary
distribution. Must not know about delays, packets or SimPy.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from duplexsim.config.network import LinkConfig


class NoLoss:
    def lost(self) -> bool:
        return False


class BernoulliLoss:
    def __init__(self, loss: float, rng: np.random.Generator):
        self.loss = loss
        self.rng = rng

    def lost(self) -> bool:
        return bool(self.rng.random() < self.loss)


class GilbertElliottLoss:
    """Two-state Markov chain; ``bad`` loses every packet."""

    def __init__(self, loss: float, burst: float, rng: np.random.Generator):
        self.r = 1.0 / burst
        self.p = loss * self.r / (1.0 - loss) if loss < 1 else 1.0
        self.rng = rng
        self.bad = bool(rng.random() < loss)

    def lost(self) -> bool:
        """Advance the chain one packet; True if this packet is lost."""
        lost = self.bad
        u = self.rng.random()
        self.bad = (u >= self.r) if self.bad else (u < self.p)
        return lost


LOSS_MODELS: dict[str, Callable[[LinkConfig, np.random.Generator], object]] = {
    "none": lambda link, rng: NoLoss(),
    "bernoulli": lambda link, rng: BernoulliLoss(float(link.loss), rng),  # type: ignore[arg-type]
    "gilbert-elliott": lambda link, rng: GilbertElliottLoss(
        float(link.loss), float(link.burst), rng),  # type: ignore[arg-type]
}


LossModel = NoLoss | BernoulliLoss | GilbertElliottLoss


def make_loss(link: LinkConfig, rng: np.random.Generator) -> LossModel:
    """The loss model named by ``link.loss_model`` (no loss at all when ``loss`` is 0)."""
    if not link.loss:
        return NoLoss()
    return LOSS_MODELS[link.loss_model](link, rng)  # type: ignore[index,return-value]
