"""Slice decoding for TDM agents: every model call a TDM agent makes goes through here.

Owns :class:`SliceDecoder`: bringing one row of :class:`~duplexsim.models.rows.LMRows` to
a given token list (keep the common prefix and its KV cache, re-feed the rest) and sampling
one's own slice piece a few units at a time under the TDM format's constraints
(:mod:`duplexsim.tdm_tokens`): the first token of a piece is a unit or ``<idle>``, later
ones a unit or ``<eos>``, at most ``S`` units. Sampling is an engine program
(:mod:`duplexsim.models.engine`: it yields token requests on a counter-based stream), so a
TDM agent's forwards batch with other conversations' as SyncLLM agents' do. Must not know
about slices in time, partners or the simulator (:mod:`duplexsim.agents.tdm` does).
"""

from __future__ import annotations

from duplexsim.models.engine import Program, TokenRequest
from duplexsim.models.rows import LMRows
from duplexsim.models.sampling import CounterRNG, SamplingConfig
from duplexsim.tdm_tokens import TdmFormat


class SliceDecoder:
    """Feeds and samples TDM pieces on one model's rows."""

    def __init__(self, lm: LMRows, fmt: TdmFormat) -> None:
        if lm.n_units != fmt.n_units:  # the engine allows units 0..lm.n_units-1
            raise ValueError(f"SliceDecoder: the token rows have {lm.n_units} units, the TDM "
                             f"format {fmt.n_units} (allowed: the same unit inventory)")
        self.lm, self.fmt = lm, fmt

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
                     rng: CounterRNG) -> Program[tuple[list[int], int | None]]:
        """Sample up to ``n_units`` more units of the current piece (appended to ``row``), as
        an engine program (run it with :func:`~duplexsim.models.engine.drive`).

        ``opened``: the piece already has a unit (so ``<idle>`` is no longer allowed): a
        piece opens with a unit or ``<idle>``, then units or ``<eos>`` to stop inside the
        slice. Returns the units and the closing token if one was sampled (``<idle>`` or
        ``<eos>``, appended too), else None.
        """
        units: list[int] = []
        while len(units) < n_units:
            close = self.fmt.eos if (opened or units) else self.fmt.idle
            token = yield TokenRequest(self.lm, row, cfg, rng, units=True, tags=(close,))
            self.lm.append(row, [token])
            if token in (self.fmt.idle, self.fmt.eos):
                return units, token
            units.append(token)
        return units, None
