"""Semantic proxy: perplexity of unit streams under a reference unit n-gram LM.

The paper scores meaningfulness with a text LM on ASR transcripts; offline we use the
unit-level analogue (as dGSLM/GSLM do with unit LMs): an interpolated Witten-Bell n-gram
LM trained on held-out corpus units, deduplicated as the SyncLLM token format does
(repeated frames carry duration, not content). A generated stream whose perplexity is
close to held-out real speech is locally plausible; babble is far off. Counting is
vectorised (n-grams as int64 keys, sorted arrays, searchsorted lookups); the model is
saved as ``.npz`` (no pickle). Must not import models or the simulator.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from duplexsim.atomic import atomic_path


def _unit_ids(units: np.ndarray) -> np.ndarray:
    """``units`` as a flat int64 array; a one-line error unless they are integers (a NumPy
    integer array or a list of ints): the cast took unit 2.7 as unit 2 and True as unit 1,
    silently, as :func:`~duplexsim.metrics.activity.vad_from_units` once took silence unit
    0.5 as 0. An empty stream is one of any dtype."""
    arr = np.asarray(units)
    if arr.size and (arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.integer)):
        raise ValueError(f"unit ids must be integers, got a {arr.dtype} array (allowed: "
                         "integer unit ids, e.g. an int64 array)")
    return arr.astype(np.int64).ravel()


def dedup(units: np.ndarray) -> np.ndarray:
    """Drop frames equal to the previous frame (SyncLLM deduplication of one stream)."""
    u = _unit_ids(units)
    if len(u) == 0:
        return u
    return u[np.r_[True, u[1:] != u[:-1]]]


def _checked(seq: np.ndarray, n_units: int) -> np.ndarray:
    """``seq`` if its unit ids lie in ``0..n_units-1``; else a one-line error (an id outside
    would alias another n-gram's integer key and be scored as that n-gram)."""
    if len(seq) and (seq.min() < 0 or seq.max() >= n_units):
        raise ValueError(f"unit ids must be in 0..{n_units - 1}, got {seq.min()}..{seq.max()}")
    return seq


def _streams(sequences: Iterable[np.ndarray]) -> list[np.ndarray]:
    """``sequences`` as a list; a one-line error for an entry that is a single unit: one
    1-D stream given bare (``fit(units)``, not ``fit([units])``) was read unit by unit, each
    a stream of its own, so the model and the perplexity were unigram ones, without a word."""
    streams = list(sequences)
    for i, seq in enumerate(streams):
        if np.ndim(seq) == 0:
            raise ValueError(f"sequences[{i}]: a single unit {seq!r}, not a stream (allowed: "
                             "1-D unit arrays, one per stream: [units] for one stream)")
    return streams


def _max_order(n_units: int) -> int:
    """The highest n-gram order whose keys (``n_units ** order`` values, ``n_units >= 2``)
    fit in int64."""
    order = 0
    while n_units ** (order + 1) <= 2**63:
        order += 1
    return order


def _check_order(n_units: int, order: int) -> None:
    """One-line error unless ``1 <= order`` and every ``order``-gram key fits in int64 (a key
    past it wrapped around silently: other n-grams' counts, negative contexts)."""
    if order < 1:
        raise ValueError(f"order must be >= 1, got {order}")
    if n_units >= 2 and n_units**order > 2**63:
        raise ValueError(f"order={order} with n_units={n_units}: n-gram keys need "
                         f"n_units**order = {float(n_units**order):.3g} values, more than int64 "
                         f"holds (2**63) (allowed: order <= {_max_order(n_units)} for "
                         f"{n_units} units)")


def _keys(seq: np.ndarray, k: int, base: int) -> np.ndarray:
    """Integer key of every k-gram of ``seq`` (positions k-1..end)."""
    n = len(seq) - k + 1
    if n <= 0:
        return np.zeros(0, dtype=np.int64)
    key = np.zeros(n, dtype=np.int64)
    for i in range(k):
        key = key * base + seq[i : i + n]
    return key


def _lookup(sorted_keys: np.ndarray, values: np.ndarray, query: np.ndarray) -> np.ndarray:
    """values[key] for each query key, 0 where absent."""
    if len(sorted_keys) == 0:
        return np.zeros(len(query), dtype=np.float64)
    i = np.clip(np.searchsorted(sorted_keys, query), 0, len(sorted_keys) - 1)
    return np.where(sorted_keys[i] == query, values[i], 0).astype(np.float64)


@dataclass
class UnitNgramLM:
    """Interpolated Witten-Bell n-gram LM over unit ids ``0..n_units-1``."""

    n_units: int
    order: int
    ngram_keys: list[np.ndarray]
    """Per order k (index k-1): sorted unique k-gram keys."""
    ngram_counts: list[np.ndarray]
    ctx_keys: list[np.ndarray]
    """Per order k >= 2 (index k-1; index 0 unused): sorted (k-1)-gram context keys."""
    ctx_counts: list[np.ndarray]
    ctx_types: list[np.ndarray]
    """Distinct continuations of each context (Witten-Bell's T(h))."""

    @classmethod
    def fit(cls, sequences: Iterable[np.ndarray], n_units: int, order: int = 3,
            deduplicate: bool = True) -> UnitNgramLM:
        """Count n-grams of ``sequences`` (1-D unit arrays, e.g. each channel of a dialogue)."""
        _check_order(n_units, order)
        seqs = [_checked(dedup(s) if deduplicate else _unit_ids(s), n_units)
                for s in _streams(sequences)]
        keys, counts, cks, ccs, cts = [], [], [], [], []
        for k in range(1, order + 1):
            allk = np.concatenate([_keys(s, k, n_units) for s in seqs] or [np.zeros(0, np.int64)])
            uk, uc = np.unique(allk, return_counts=True)
            keys.append(uk)
            counts.append(uc)
            ctx = uk // n_units  # the (k-1)-gram before the last unit
            c_unique, c_index = np.unique(ctx, return_inverse=True)
            cks.append(c_unique)
            ccs.append(np.bincount(c_index, weights=uc, minlength=len(c_unique)))
            cts.append(np.bincount(c_index, minlength=len(c_unique)).astype(np.float64))
        return cls(n_units, order, keys, counts, cks, ccs, cts)

    def log_prob(self, units: np.ndarray, deduplicate: bool = True) -> np.ndarray:
        """Natural-log probability of each unit of a stream given up to order-1 previous
        (unit ids outside ``0..n_units-1`` are an error, as in :meth:`fit`)."""
        seq = _checked(dedup(units) if deduplicate else _unit_ids(units),
                       self.n_units)
        n = len(seq)
        # order 1: Witten-Bell between unigram counts and uniform
        total, types = float(self.ngram_counts[0].sum()), float(len(self.ngram_keys[0]))
        c1 = _lookup(self.ngram_keys[0], self.ngram_counts[0], seq)
        prob = (c1 + types / self.n_units) / (total + types) if total else \
            np.full(n, 1.0 / self.n_units)
        for k in range(2, self.order + 1):
            if n < k:
                break
            pos = np.arange(k - 1, n)  # positions that have k-1 units of history
            gram = _keys(seq, k, self.n_units)
            ctx = gram // self.n_units
            c_hw = _lookup(self.ngram_keys[k - 1], self.ngram_counts[k - 1], gram)
            c_h = _lookup(self.ctx_keys[k - 1], self.ctx_counts[k - 1], ctx)
            t_h = _lookup(self.ctx_keys[k - 1], self.ctx_types[k - 1], ctx)
            seen = c_h > 0  # unseen context: back off entirely to the lower order
            lower = prob[pos]
            mixed = (c_hw + t_h * lower) / np.where(seen, c_h + t_h, 1.0)
            prob[pos] = np.where(seen, mixed, lower)
        return np.log(prob)

    def perplexity(self, sequences: Iterable[np.ndarray], deduplicate: bool = True) -> float:
        """exp(mean negative log-probability) over all units of ``sequences``."""
        lps = [self.log_prob(s, deduplicate) for s in _streams(sequences)]
        lp = np.concatenate(lps) if lps else np.zeros(0)
        return float(np.exp(-lp.mean())) if len(lp) else float("nan")

    def save(self, path: str | Path) -> None:
        """Write the counts to ``path`` (.npz), atomically."""
        arrays = {"meta": np.array([self.n_units, self.order], dtype=np.int64)}
        for k in range(self.order):
            arrays.update({f"keys{k}": self.ngram_keys[k], f"counts{k}": self.ngram_counts[k],
                           f"ckeys{k}": self.ctx_keys[k], f"ccounts{k}": self.ctx_counts[k],
                           f"ctypes{k}": self.ctx_types[k]})
        with atomic_path(path, suffix=".npz") as tmp:
            # mypy matches **arrays against savez_compressed's allow_pickle: bool; no key is it
            np.savez_compressed(tmp, **arrays)  # type: ignore[arg-type]

    @classmethod
    def load(cls, path: str | Path) -> UnitNgramLM:
        with np.load(path, allow_pickle=False) as z:
            n_units, order = (int(x) for x in z["meta"])
            _check_order(n_units, order)
            get = [[z[f"{name}{k}"] for k in range(order)]
                   for name in ("keys", "counts", "ckeys", "ccounts", "ctypes")]
        return cls(n_units, order, *get)


def unit_perplexity(units: np.ndarray, lm: UnitNgramLM) -> dict[str, float]:
    """Perplexity of each channel of ``[2, T]`` units and of both pooled."""
    arr = np.atleast_2d(np.asarray(units))
    out = {f"unit_ppl_{i}": lm.perplexity([row]) for i, row in enumerate(arr)}
    out["unit_ppl"] = lm.perplexity(list(arr))
    return out
