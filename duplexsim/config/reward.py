"""The ``[reward]`` table of a scenario: weights and thresholds of the env's reward terms.

Owns :class:`RewardConfig` (the schema, validated in ``__post_init__``); what each term
means and how it is scored is :mod:`duplexsim.envs.rewards`, which re-exports it. Lives
in ``config`` so that a scenario file can carry it without the schema importing the
envs. The simulator ignores it. Must not import the envs, simulator, models or agents.
"""

from __future__ import annotations

from dataclasses import dataclass

from duplexsim.config.field_errors import FieldError, raise_errors
from duplexsim.config.field_values import check_field_types, plain_fields
from duplexsim.errors import finite_in
from duplexsim.tokens import FRAME_MS

MAX_WEIGHT = 1e6
"""Largest reward weight a scenario accepts."""
MAX_MS = 86_400_000
"""Largest time (ms) a reward threshold accepts: a day."""


@dataclass(frozen=True)
class RewardConfig:
    """Weights of the reward terms (:mod:`duplexsim.envs.rewards`); defaults give a balanced
    task."""

    overlap_per_s: float = 1.0
    gap_per_s: float = 1.0
    gap_free_ms: float = 400.0
    """Joint silence up to this long is free: gaps in real dialogue have a median near
    200 ms (Heldner & Edlund 2010), so 400 ms leaves room for typical offsets. Whole 40 ms
    frames (silence is scored frame by frame): 500 would have meant 480 silently."""
    fto: float = 0.5
    fto_mean_ms: float = 180.0
    """Target FTO distribution; fisher-like synthetic corpus N(180, 450) (DESIGN.md)."""
    fto_sd_ms: float = 450.0
    interrupt: float = 0.5
    backchannel: float = 0.2
    bc_context_ms: float = 1000.0
    """Partner speech this recent makes a backchannel well placed (turntaking params).
    Whole 40 ms frames (the tracker counts frames): 1010 would have meant 1000 silently."""
    bc_min_interval_ms: float = 3000.0
    """Backchannels closer together than this are too frequent: listeners produce a few
    per minute (about 10-20/min in Switchboard-style dialogue, Ward & Tsukahara 2000)."""

    def __post_init__(self) -> None:
        plain_fields(self)
        check_field_types(self)
        # bounds as the other tables have them: a weight past 1e6 or a time past a day is a
        # typo (rewards of 1e300 overflow the running sums RL libraries keep)
        errors = []
        for name in ("overlap_per_s", "gap_per_s", "fto", "interrupt", "backchannel"):
            value = getattr(self, name)
            if not finite_in(value, 0, MAX_WEIGHT):
                errors.append(FieldError(name, f"{value} is out of range",
                                         f"0 .. {MAX_WEIGHT:g}"))
        for name in ("gap_free_ms", "bc_context_ms", "bc_min_interval_ms"):
            value = getattr(self, name)
            if not finite_in(value, 0, MAX_MS):
                errors.append(FieldError(name, f"{value} is out of range", f"0 .. {MAX_MS}"))
        for name in ("gap_free_ms", "bc_context_ms"):  # scored in whole frames
            value = getattr(self, name)
            if finite_in(value, 0, MAX_MS) and value % FRAME_MS:
                below = value // FRAME_MS * FRAME_MS
                errors.append(FieldError(name, f"{value:g} is not whole {FRAME_MS} ms frames",
                                         f"a multiple of {FRAME_MS}, "
                                         f"e.g. {below:g} or {below + FRAME_MS:g}"))
        if not finite_in(self.fto_sd_ms, 0, MAX_MS, low_open=True):
            errors.append(FieldError("fto_sd_ms", f"{self.fto_sd_ms} is out of range",
                                     f"> 0 and <= {MAX_MS}"))
        if not finite_in(self.fto_mean_ms, -MAX_MS, MAX_MS):
            errors.append(FieldError("fto_mean_ms", f"{self.fto_mean_ms} is out of range",
                                     f"-{MAX_MS} .. {MAX_MS}"))
        raise_errors(errors)

    def fto_score(self, fto_ms: float) -> float:
        """Log-likelihood of ``fto_ms`` relative to the density at 2 sd: ``2 - z**2/2``."""
        z = (fto_ms - self.fto_mean_ms) / self.fto_sd_ms
        return max(2.0 - 0.5 * z * z, -8.0)
