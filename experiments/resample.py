"""The two-level (cluster) bootstrap the experiment scripts share: which items each resample
draws, and each grid point's own stream to draw them from. Intervals from the draws are
:mod:`duplexsim.metrics.intervals`' (it must not resample: the scripts know what their
clusters are)."""

from __future__ import annotations

from collections.abc import Hashable, Sequence

from duplexsim.digests import key_of

import numpy as np


def cluster_weights(clusters: Sequence[Hashable], n_boot: int,
                    seed: int | np.random.Generator = 0) -> np.ndarray:
    """``[n_boot, items]``: how often each item is drawn in each resample of the two-level
    bootstrap, the clusters (``clusters[i]``: item ``i``'s) with replacement, then the items
    of each drawn cluster with replacement (the hierarchical bootstrap of Saravanan et al.
    2020, as ``selfplay_tables.boot_draws``). ``seed``: an int, or a Generator to draw from.

    Items of one cluster (episodes of one dialogue, blocks of one conversation) share it, and
    resampling them as if independent gives too narrow an interval for a claim about other
    clusters. With one item per cluster this is the plain bootstrap over items."""
    rng = (seed if isinstance(seed, np.random.Generator)
           else np.random.default_rng(np.random.SeedSequence(seed)))
    labels = list(clusters)
    groups = [np.flatnonzero([x == d for x in labels]) for d in dict.fromkeys(labels)]
    if not groups:
        return np.zeros((n_boot, 0))
    drawn = rng.multinomial(len(groups), np.full(len(groups), 1 / len(groups)), size=n_boot)
    weights = np.zeros((n_boot, len(labels)))
    for g, members in enumerate(groups):  # a cluster drawn c times: c * m of its m items
        weights[:, members] = rng.multinomial(drawn[:, g] * len(members),
                                              np.full(len(members), 1 / len(members)))
    return weights


def point_rng(seed: int, keys: Sequence[str], key: tuple) -> np.random.Generator:
    """The bootstrap stream of one grid point ``key`` (values of ``keys``): the study
    ``seed`` and the point's own digest (:func:`~duplexsim.digests.key_of`), as the corpus
    builder keys each conversation's stream (``SeedSequence(seed, spawn_key=...)``). One
    stream for all points moved every point's interval when a point was added or removed."""
    point = {k: v.item() if isinstance(v, np.generic) else v
             for k, v in zip(keys, key, strict=True)}
    return np.random.default_rng(np.random.SeedSequence(
        seed, spawn_key=(int(key_of(point), 16),)))
