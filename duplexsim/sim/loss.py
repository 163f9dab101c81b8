"""Loss models: none, Bernoulli, Gilbert-Elliott; a registry keyed by ``loss_model``.

Gilbert-Elliott (DESIGN.md: p, r, loss in the bad and good states; netem's ``loss gemodel
p r 1-h 1-k``): a two-state chain, good -> bad with probability ``p`` per packet, bad ->
good with ``r``, a packet lost with ``loss_bad`` in the bad state and ``loss_good`` in the
good one. A link gives ``ge_p`` / ``ge_r`` directly, or (the presets) the mean loss and the
mean stay in the bad state, ``burst``: ``r = 1 / burst`` and ``p`` such that the stationary
loss is ``loss`` (:func:`~duplexsim.config.link_presets.gilbert_elliott_chain`; with the
defaults ``loss_bad = 1``, ``loss_good = 0`` bursts of losses are geometric with mean
``burst``). A packet is lost (or not) in the state it meets, then the chain moves, as in
netem's ``loss_gilb_ell``; the chain starts from its stationary distribution (netem's in the
good state). Must not know about delays,
packets or SimPy.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from duplexsim.config.link import LinkConfig
from duplexsim.config.link_presets import gilbert_elliott_chain


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
    """Two-state Markov chain: ``p`` good -> bad, ``r`` bad -> good per packet; a packet is
    lost with ``loss_bad`` / ``loss_good`` in the state it meets."""

    def __init__(self, p: float, r: float, rng: np.random.Generator,
                 loss_bad: float = 1.0, loss_good: float = 0.0):
        self.p, self.r = p, r
        self.loss_bad, self.loss_good = loss_bad, loss_good
        self.rng = rng
        self.bad = bool(rng.random() < (p / (p + r) if p + r > 0 else 0.0))

    def lost(self) -> bool:
        """Advance the chain one packet; True if this packet is lost."""
        bad = self.bad
        u = self.rng.random()
        self.bad = (u >= self.r) if bad else (u < self.p)
        if bad and self.loss_bad == 1.0 or not bad and self.loss_good == 0.0:
            return bad  # the all-or-nothing states draw nothing more (the presets' stream)
        return bool(self.rng.random() < (self.loss_bad if bad else self.loss_good))


LOSS_MODELS: dict[str, Callable[[LinkConfig, np.random.Generator], object]] = {
    "none": lambda link, rng: NoLoss(),
    "bernoulli": lambda link, rng: BernoulliLoss(float(link.loss), rng),  # type: ignore[arg-type]
    "gilbert-elliott": lambda link, rng: GilbertElliottLoss(
        *gilbert_elliott_chain(link), rng, float(link.loss_bad),  # type: ignore[arg-type]
        float(link.loss_good)),  # type: ignore[arg-type]
}


LossModel = NoLoss | BernoulliLoss | GilbertElliottLoss


def make_loss(link: LinkConfig, rng: np.random.Generator) -> LossModel:
    """The loss model named by ``link.loss_model``; none at all where
    :meth:`~duplexsim.config.link.LinkConfig.can_lose` says the link loses nothing."""
    if not link.can_lose():
        return NoLoss()
    return LOSS_MODELS[link.loss_model](link, rng)  # type: ignore[index,return-value]
