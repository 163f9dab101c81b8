"""Slice decoding for TDM agents: every model call a TDM agent makes goes through here.

Owns :class:`SliceDecoder`: bringing one row of :class:`~duplexsim.models.rows.LMRows` to
a given token list (keep the common prefix and its KV cache, re-feed the rest) and sampling
one's own slice piece a few units at a time under the TDM format's constraints
(:mod:`duplexsim.tdm_tokens`): the first token of a piece is a unit or ``<idle>``, later
ones a unit or ``<eos>``, at most ``S`` units. Sampling is the one sampler of the project
(:func:`duplexsim.models.sampling.sample_tokens`) on a counter-based stream, as SyncLLM
agents sample. Must not know about slices in time, partners or the simulator
(:mod:`duplexsim.agents.tdm` does).
"""

from __future__ import annotations

import torch

from duplexsim.models.rows import LMRows
from duplexsim.models.sampling import CounterRNG, SamplingConfig, sample_tokens
from duplexsim.tdm_tokens import TdmFormat


class SliceDecoder:
    """Feeds and samples TDM pieces on one model's rows."""

    def __init__(self, lm: LMRows, fmt: TdmFormat) -> None:
        self.lm, self.fmt = lm, fmt
        units = torch.zeros(lm.vocab_size, dtype=torch.bool, device=lm.device)
        units[: fmt.n_units] = True
        self.first_mask = units.clone()  # a piece opens with a unit or <idle>
        self.first_mask[fmt.idle] = True
        self.next_mask = units.clone()  # then units, or <eos> to stop inside the slice
        self.next_mask[fmt.eos] = True

    def sync(self, row: int, tokens: list[int]) -> int:
        """Make ``row`` hold exactly ``tokens``: crop back to the common prefix, append the
        rest (fed at the next sample). Returns how many tokens were kept."""
        old = self.lm.tokens[row]
        keep = 0
        limit = min(len(old), len(tokens))
        while keep < limit and old[keep] == tokens[keep]:
            keep += 1
        if keep < len(old):
            self.lm.crop(row, keep)
        self.lm.append(row, tokens[keep:])
        return keep

    def sample_units(self, row: int, n_units: int, opened: bool, cfg: SamplingConfig,
                     rng: CounterRNG) -> tuple[list[int], int | None]:
        """Sample up to ``n_units`` more units of the current piece (appended to ``row``).

        ``opened``: the piece already has a unit (so ``<idle>`` is no longer allowed).
        Returns the units and the closing token if one was sampled (``<idle>`` or ``<eos>``,
        appended too), else None.
        """
        units: list[int] = []
        while len(units) < n_units:
            mask = self.next_mask if (opened or units) else self.first_mask
            logits = self.lm.logits([row])
            token = sample_tokens(logits, mask[None], [cfg], [rng.uniform()])[0]
            self.lm.append(row, [token])
            if token in (self.fmt.idle, self.fmt.eos):
                return units, token
            units.append(token)
        return units, None
