"""Barge-ins and unanswered turns: interruption recovery, zombie output, deafness.

Owns the definitions (thresholds in :class:`InterruptionParams`) and their per-speaker
summary. Works on boolean voice activity ``[2, T]`` like
:mod:`duplexsim.metrics.turntaking`, whose IPUs (silences under ``min_pause_ms``
bridged) it uses. Must not touch audio, models or the simulator.

The two failure signatures of duplex agents that time-division multiplexing invites (the
agent hears its partner only at slice boundaries, Zhang et al. 2024, arXiv 2406.15718),
measured for a *speaker* ``s`` against its partner:

- **Barge-in**: the partner starts an IPU of at least ``min_barge_in_ms`` while ``s`` is
  inside an IPU it began at least ``min_held_ms`` earlier. **Recovery** is the time from
  the partner's onset to the end of ``s``'s IPU (how long ``s`` talks on; divide by the
  chunk or slice length for chunks or slices). When ``s``'s IPU runs to the last frame the
  end is not seen: ``recovery_ms`` is the time left, a lower bound, and
  ``recovery_censored`` is True; the summary's ``recovery_median_ms`` leaves these out and
  counts them in ``recovery_censored`` (a median that took the time left as the recovery
  was pulled towards however much conversation remained after the barge-in).
- **Zombie output**: ``s`` talks through the whole barge-in: its IPU ends after the
  partner's. (The ``yield`` share is the rest: ``s`` stopped while the partner spoke.)
  A barge-in during which both are still talking at the last frame has no outcome
  (right-censored, as a turn end is): it is no row.
- **Deafness**: a partner IPU of at least ``min_turn_ms`` ends while ``s`` is silent and
  nobody speaks for the next ``deaf_ms``: the turn went unanswered (in a corpus this is a
  long mutual silence, so compare with the corpus's own rate).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from duplexsim.config.field_errors import FieldError, raise_errors
from duplexsim.errors import finite_number
from duplexsim.metrics.turntaking import TurnTakingParams, ipu_activity

BARGE_IN_COLUMNS = ["speaker", "onset_ms", "recovery_ms", "barge_in_ms", "zombie",
                    "recovery_censored"]
TURN_END_COLUMNS = ["speaker", "end_ms", "silence_ms", "deaf"]


@dataclass(frozen=True)
class InterruptionParams:
    """Thresholds in milliseconds (IPUs themselves follow :class:`TurnTakingParams`)."""

    min_barge_in_ms: float = 1000.0
    """A barge-in lasts at least this long (longer than a backchannel, ``bc_max_ms``)."""
    min_held_ms: float = 400.0
    """The interrupted speaker had been speaking this long (an IPU just begun is a clash of
    onsets, not an interruption)."""
    min_turn_ms: float = 1000.0
    """A partner IPU this long expects an answer (shorter: backchannel-sized)."""
    deaf_ms: float = 2000.0
    """Mutual silence after such an IPU that counts as no answer (gaps in conversation
    are a few hundred ms; Heldner & Edlund 2010)."""

    def __post_init__(self) -> None:
        # "not >= 0" alone called NaN negative and let a string or None fail as TypeError
        names = ("min_barge_in_ms", "min_held_ms", "min_turn_ms", "deaf_ms")
        values = {name: getattr(self, name) for name in names}
        raise_errors([FieldError(name, f"{v!r} is not a finite number", "a finite number >= 0")
                      if not finite_number(v) else FieldError(name, f"{v} is negative", ">= 0")
                      for name, v in values.items() if not (finite_number(v) and v >= 0)])


def _params(params: InterruptionParams | None,
            turntaking: TurnTakingParams | None) -> InterruptionParams:
    """``params``, None the defaults; a one-line TypeError for anything but the two
    dataclasses (a dict of thresholds failed as "'dict' object has no attribute ...")."""
    for key, value, cls in (("params", params, InterruptionParams),
                            ("turntaking", turntaking, TurnTakingParams)):
        if value is not None and not isinstance(value, cls):
            raise TypeError(f"{key}: got {type(value).__name__} (allowed: None or "
                            f"{cls.__name__}(**thresholds))")
    return params or InterruptionParams()


def barge_ins(vad: np.ndarray, frame_ms: float = 40,
              params: InterruptionParams | None = None,
              turntaking: TurnTakingParams | None = None) -> pd.DataFrame:
    """One row per barge-in *on* each speaker (``speaker`` = the interrupted one);
    ``recovery_censored``: the interrupted IPU runs to the last frame (``recovery_ms`` is
    then only a lower bound; ``zombie`` is known: the barge-in ended before). A partner IPU
    cut by the last frame before it lasts ``min_barge_in_ms`` is not known to be a barge-in
    and gives no row (nor a ``recovery_censored`` count), as a right-censored IPU is never a
    backchannel: onsets in a window's last ``min_barge_in_ms`` are not seen."""
    p = _params(params, turntaking)
    _, ipus, masks = ipu_activity(vad, frame_ms, turntaking)
    n = masks.shape[1]
    rows = []
    for s in (0, 1):
        own_starts, own_ends = ipus[s]
        for onset, end in zip(*ipus[1 - s], strict=True):
            if (end - onset) * frame_ms < p.min_barge_in_ms:
                continue
            i = np.searchsorted(own_starts, onset, side="right") - 1  # own IPU started before
            if i < 0 or own_ends[i] <= onset:
                continue
            if (onset - own_starts[i]) * frame_ms < p.min_held_ms:
                continue
            if own_ends[i] >= n and end >= n:  # both talk at the cut: yield or zombie unknown
                continue
            rows.append((s, onset * frame_ms, (own_ends[i] - onset) * frame_ms,
                         (end - onset) * frame_ms, bool(own_ends[i] > end),
                         bool(own_ends[i] >= n)))
    return pd.DataFrame(rows, columns=BARGE_IN_COLUMNS)


def turn_ends(vad: np.ndarray, frame_ms: float = 40,
              params: InterruptionParams | None = None,
              turntaking: TurnTakingParams | None = None) -> pd.DataFrame:
    """One row per partner IPU of at least ``min_turn_ms`` that ends while ``speaker`` is
    silent: the mutual silence after it (censored at the end) and whether it was deaf."""
    p = _params(params, turntaking)
    _, ipus, masks = ipu_activity(vad, frame_ms, turntaking)
    n = masks.shape[1]
    at = np.where(masks.any(axis=0), np.arange(n), n)
    # next_speech[t]: the first frame >= t where anyone speaks (n: nobody does again)
    next_speech = np.append(np.minimum.accumulate(at[::-1])[::-1], n)
    rows = []
    for s in (0, 1):
        for start, end in zip(*ipus[1 - s], strict=True):
            if (end - start) * frame_ms < p.min_turn_ms or masks[s, end - 1]:
                continue
            silence = (next_speech[end] - end) * frame_ms
            censored = next_speech[end] >= n and silence < p.deaf_ms
            if censored:
                continue  # the conversation ended before an answer could be judged
            rows.append((s, end * frame_ms, silence, bool(silence >= p.deaf_ms)))
    return pd.DataFrame(rows, columns=TURN_END_COLUMNS)


def interruption_summary(vad: np.ndarray, frame_ms: float = 40,
                         params: InterruptionParams | None = None,
                         speakers: tuple[int, ...] = (0, 1),
                         turntaking: TurnTakingParams | None = None) -> dict[str, float]:
    """Counts and rates for ``speakers`` pooled: ``barge_ins``, ``recovery_median_ms`` (over
    the barge-ins whose recovery was seen), ``recovery_censored`` (those whose interrupted
    IPU ran to the last frame: left out of the median), ``zombie_rate`` (every barge-in),
    ``turn_ends``, ``deaf_rate`` (NaN when there is nothing to rate). ``turntaking``: the
    IPU thresholds, as :func:`barge_ins` and :func:`turn_ends` take them (None: the
    defaults)."""
    # (2,) or () summed no one, without a word; 0 failed in pandas' isin
    chosen = [] if isinstance(speakers, str) else np.atleast_1d(speakers).ravel().tolist()
    if not chosen or not all(s in (0, 1) and not isinstance(s, bool) for s in chosen):
        raise ValueError(f"speakers: {speakers!r} (allowed: speakers 0 and/or 1, e.g. (0, 1) "
                         "or (0,))")
    b = barge_ins(vad, frame_ms, params, turntaking)
    t = turn_ends(vad, frame_ms, params, turntaking)
    b, t = b[b["speaker"].isin(chosen)], t[t["speaker"].isin(chosen)]
    nan = float("nan")
    censored = b["recovery_censored"].astype(bool)
    seen = b.loc[~censored, "recovery_ms"]
    return {
        "barge_ins": float(len(b)),
        "recovery_median_ms": float(seen.median()) if len(seen) else nan,
        "recovery_censored": float(censored.sum()),
        "zombie_rate": float(b["zombie"].mean()) if len(b) else nan,
        "turn_ends": float(len(t)),
        "deaf_rate": float(t["deaf"].mean()) if len(t) else nan,
    }
