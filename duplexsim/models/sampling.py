"""Sampling next tokens: the settings, a counter-based random stream, and the batched sampler.

Owns :class:`SamplingConfig`, :class:`CounterRNG` and :func:`sample_tokens`, the one
sampler every generator uses (alone or as rows of a batch). Must not touch models'
forwards, agents or the simulator.

Why a counter-based random stream: a draw is a pure function of (key, counter) (SplitMix64
over the pair), so a conversation's draws do not depend on which other conversations share
its batch, and one vectorised call samples every row. ``torch.multinomial`` with a
``torch.Generator`` per row needs one call per row instead.

Sampling one row (inverse transform): mask the logits to the allowed ids, apply the
temperature, top-k and top-p, softmax, then pick the first id whose cumulative probability
exceeds ``u * total`` for the row's uniform ``u``; a masked id (probability 0) can never
be picked. Temperature 0 is greedy (argmax; it still advances the counter, so switching
a conversation's temperature does not shift its other draws).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Integral

import torch

from duplexsim.errors import finite_number

MASK64 = (1 << 64) - 1


@dataclass(frozen=True)
class SamplingConfig:
    """Sampling of unit tokens."""

    temperature: float = 1.0
    """0 = greedy; 1 = the model's own distribution. Lower values cut how often an agent
    speaks up while listening (measured at 0.9: about 0.43x its corpus's rate, against 0.8x
    at 1.0; docs/results/continuation)."""
    top_k: int = 0
    """0 = off."""
    top_p: float = 1.0
    """1 = off."""
    estimate_temperature: float | None = None
    """Temperature of a SyncLLM agent's estimates of partner chunks it has not received
    (None: ``temperature``; 0: the most likely continuation of the partner). Its own units
    keep ``temperature``."""

    def __post_init__(self) -> None:
        estimate = self.estimate_temperature
        for name, ok, allowed in (
                ("temperature", finite_number(self.temperature) and self.temperature >= 0,
                 "a finite number >= 0"),
                ("top_k", not isinstance(self.top_k, bool)
                 and isinstance(self.top_k, Integral) and self.top_k >= 0, "an integer >= 0"),
                ("top_p", finite_number(self.top_p) and 0 < self.top_p <= 1,
                 "a number, 0 < top_p <= 1"),
                ("estimate_temperature", estimate is None
                 or (finite_number(estimate) and estimate >= 0), "None or a finite number >= 0")):
            if not ok:
                raise ValueError(f"SamplingConfig.{name}: {getattr(self, name)!r} "
                                 f"(allowed: {allowed})")

    def for_estimates(self) -> SamplingConfig:
        """The config partner estimates are sampled with (``self`` unless
        ``estimate_temperature`` sets another temperature)."""
        if self.estimate_temperature is None or self.estimate_temperature == self.temperature:
            return self
        return dataclasses.replace(self, temperature=self.estimate_temperature,
                                   estimate_temperature=None)


def _splitmix64(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) & MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK64
    return x ^ (x >> 31)


class CounterRNG:
    """A stream of uniforms in [0, 1): draw ``i`` is a pure function of (seed, i)."""

    def __init__(self, seed: int = 0) -> None:
        self.reset(seed)

    def reset(self, seed: int) -> None:
        """Start the stream of ``seed``, a whole number (an int or NumPy integer; a negative
        one is taken modulo 2**64). A float or a bool is refused: ``int()`` ran seed 1.5 as
        seed 1."""
        if isinstance(seed, bool) or not isinstance(seed, Integral):
            raise ValueError(f"seed={seed!r} (allowed: a whole number, an int or NumPy integer)")
        self.key: int = _splitmix64(int(seed) & MASK64)
        self.counter: int = 0

    def uniform(self) -> float:
        """The next uniform (53 random bits); advances the counter."""
        x = _splitmix64(self.key ^ _splitmix64(self.counter))
        self.counter += 1
        return (x >> 11) * (1.0 / (1 << 53))


def sample_tokens(logits: torch.Tensor, allowed: torch.Tensor,
                  configs: Sequence[SamplingConfig], uniforms: Sequence[float]) -> list[int]:
    """One id per row of ``logits`` [R, V], restricted to ``allowed`` [R, V] (bool), row ``r``
    sampled with ``configs[r]`` from the uniform ``uniforms[r]``. Each row is computed on its
    own: its result does not depend on the other rows. Runs on the CPU."""
    R = logits.shape[0]
    out = [0] * R
    groups: dict[SamplingConfig, list[int]] = {}
    for r, cfg in enumerate(configs):
        groups.setdefault(cfg, []).append(r)
    # sampling runs on the CPU whatever device made the logits (the uniforms are CPU
    # float64; a mask built on the CPU beside CUDA logits would not combine)
    masked = torch.where(allowed.cpu(), logits.float().cpu(), float("-inf"))  # [R, V]
    # a softmax of NaN or +inf, or of nothing but -inf, is NaN: the inverse transform would
    # then pick the last id, whatever the mask says
    bad = torch.isnan(masked).any(dim=-1) | torch.isposinf(masked).any(dim=-1) \
        | torch.isneginf(masked).all(dim=-1)  # [R]
    if bad.any():
        rows = [int(r) for r in bad.nonzero()[:, 0]]
        raise ValueError(f"the model's logits are NaN or infinite in rows {rows} of {R} (its "
                         "weights or inputs are not finite)")
    for cfg, rows in groups.items():
        x = masked if len(rows) == R else masked[rows]
        if cfg.temperature == 0:
            picked = x.argmax(dim=-1).tolist()
        else:
            if cfg.temperature != 1.0:
                x = _tempered(x, cfg.temperature)
            u = torch.tensor([uniforms[r] for r in rows], dtype=torch.float64)
            picked = _inverse_transform(_filter(x, cfg), u).tolist()
        for r, token in zip(rows, picked, strict=True):
            out[r] = int(token)
    return out


def _tempered(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """``logits / temperature`` [R, V]. A row that a tiny temperature takes out of float32
    (+inf, or NaN where it rounds to 0) gets its limit instead: greedy, 0 at the row's
    maximum (ties share it), -inf elsewhere."""
    x = logits / temperature
    over = ~torch.isfinite(x.max(dim=-1).values)  # [R]
    if over.any():
        top = logits == logits.max(dim=-1, keepdim=True).values
        limit = torch.zeros_like(logits).masked_fill(~top, float("-inf"))
        x = torch.where(over[:, None], limit, x)
    return x


def _filter(logits: torch.Tensor, cfg: SamplingConfig) -> torch.Tensor:
    """Top-k then top-p (nucleus) on tempered logits [R, V]."""
    if cfg.top_k > 0:
        k = min(cfg.top_k, logits.shape[-1])
        kth = torch.topk(logits, k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if cfg.top_p < 1.0:
        sorted_logits, order = torch.sort(logits, descending=True, dim=-1)
        probs = _softmax64(sorted_logits)
        drop_sorted = probs.cumsum(dim=-1) - probs >= cfg.top_p
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    return logits


def _inverse_transform(logits: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """The first id whose cumulative probability exceeds ``u * total``, per row."""
    cum = _softmax64(logits).cumsum(dim=-1)  # [R, V]
    target = (u * cum[:, -1]).unsqueeze(-1)  # [R, 1], < total since u < 1
    return torch.searchsorted(cum, target, right=True).squeeze(-1).clamp_(max=cum.shape[-1] - 1)


def _softmax64(logits: torch.Tensor) -> torch.Tensor:
    """Softmax over the last axis in float64, written out: ``torch.softmax``'s kernel
    differs in the last bits between AVX2 and AVX-512 (see :mod:`duplexsim.models.lean`)."""
    x = logits.double()
    e = torch.exp(x - x.amax(dim=-1, keepdim=True))
    return e / e.sum(dim=-1, keepdim=True)
