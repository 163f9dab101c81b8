"""Slice decoding for TDM agents: every model call a TDM agent makes goes through here.

Owns :class:`SliceDecoder`: bringing a :class:`~duplexsim.models.streaming.StreamState` to a
given token list (keep the common prefix and its KV cache, re-feed the rest) and sampling
one's own slice piece a few units at a time under the TDM format's constraints
(:mod:`duplexsim.tdm_tokens`): the first token of a piece is a unit or ``<idle>``, later
ones a unit or ``<eos>``, at most ``S`` units. Must not know about slices in time,
partners or the simulator (:mod:`duplexsim.agents.tdm` does).

Kept to these two calls on the public :class:`~duplexsim.models.streaming.StreamingLM`
API so that a per-chunk step API can replace them in one place.
"""

from __future__ import annotations

import torch

from duplexsim.models.streaming import SamplingConfig, StreamingLM, StreamState
from duplexsim.tdm_tokens import TdmFormat


class SliceDecoder:
    """Feeds and samples TDM pieces on one model."""

    def __init__(self, lm: StreamingLM, fmt: TdmFormat) -> None:
        self.lm, self.fmt = lm, fmt
        units = torch.zeros(lm.vocab_size, dtype=torch.bool, device=lm.device)
        units[: fmt.n_units] = True
        self.first_mask = units.clone()  # a piece opens with a unit or <idle>
        self.first_mask[fmt.idle] = True
        self.next_mask = units.clone()  # then units, or <eos> to stop inside the slice
        self.next_mask[fmt.eos] = True

    def sync(self, state: StreamState, tokens: list[int]) -> int:
        """Make ``state`` hold exactly ``tokens``: crop back to the common prefix, append the
        rest (fed at the next sample). Returns how many tokens were kept."""
        old = state.tokens
        keep = 0
        limit = min(len(old), len(tokens))
        while keep < limit and old[keep] == tokens[keep]:
            keep += 1
        if keep < len(old):
            state.crop(keep)
        state.append(tokens[keep:])
        return keep

    def sample_units(self, state: StreamState, n_units: int, opened: bool,
                     cfg: SamplingConfig, generator: torch.Generator,
                     ) -> tuple[list[int], int | None]:
        """Sample up to ``n_units`` more units of the current piece (appended to ``state``).

        ``opened``: the piece already has a unit (so ``<idle>`` is no longer allowed).
        Returns the units and the closing token if one was sampled (``<idle>`` or ``<eos>``,
        appended too), else None.
        """
        units: list[int] = []
        while len(units) < n_units:
            mask = self.next_mask if (opened or units) else self.first_mask
            token = self.lm.sample(state, mask, cfg, generator)
            state.append([token])
            if token in (self.fmt.idle, self.fmt.eos):
                return units, token
            units.append(token)
        return units, None
