"""Turn-taking events from two-channel voice activity: IPU, pause, gap, overlap, backchannel.

Owns the event definitions (Heldner & Edlund 2010, "Pauses, gaps and overlaps in
conversations", J. Phonetics 38) and their summary statistics. Works on boolean voice
activity ``[2, T]`` at a fixed frame rate, so it serves unit streams (exact VAD from
silence units), audio VAD and corpus annotations alike. Pure numpy/pandas, vectorised:
it runs over hours of corpus. Must not touch audio, models or the simulator.
The floor analysis (backchannels; pauses, gaps, overlaps and FTOs) is in floor.py, the
voice activity primitives (``vad_from_units``, ``as_vad``, ``runs``) in activity.py.

Definitions (all thresholds in :class:`TurnTakingParams`):

- **IPU** (inter-pausal unit): a speaker's speech run after bridging silences shorter
  than ``min_pause_ms``; runs shorter than ``min_ipu_ms`` are dropped.
- **Backchannel**: a short, isolated IPU (``<= bc_max_ms``, own silence of at least
  ``bc_pre_silence_ms`` before it) while the partner holds the floor (partner speech
  within ``bc_context_ms`` before/during it, not counting the partner's own backchannels,
  decided in time order) and gives no floor change (the partner speaks after its last
  frame, within ``bc_context_ms`` of its end, before the backchanneller does: a short IPU
  that ends with the partner's speech, the partner not going on, is no backchannel).
  Backchannels are taken out of the floor analysis below; their overlap with partner
  speech is reported as a within-turn ``overlap`` row (speaker = backchanneller).
  An IPU that starts at the first frame of the analysed VAD is left-censored (a window cut
  from a dialogue: its speaker may have been talking before the cut, so its own silence
  before it is unknown): never a backchannel, and never a listener onset
  (:func:`listener_onsets`). Silence at the window's start counts as silence. Likewise an
  IPU that ends at the last frame is right-censored (it may go on past the cut, so it is
  not known to be short): never a backchannel.
- On the joint state (silence / A only / B only / both) without backchannels, every
  stretch between two consecutive *sole-speaker* runs is an interval. Same speaker on
  both sides: its silences are **pauses**, its double talk **within-turn overlaps**.
  Different speakers: a **floor transition**; its silences are **gaps**, its double talk
  **transition overlaps**. The transition's **floor-transfer offset** (FTO) is the start
  of the incoming speaker's IPU minus the end of the outgoing speaker's IPU (negative =
  overlap): the incoming speaker's first IPU after the outgoing speaker's sole run and
  the outgoing speaker's last IPU before the incoming speaker's, so a transition has a
  negative FTO exactly when it has double talk (A, silence, both, B: B's start minus the
  end of A's speech over B's, not of A's speech before the silence). It is stored on the
  interval's first row (a zero-length gap row is added when the speakers switch with
  neither silence nor overlap row between them: it carries the FTO and is no gap, see
  :func:`event_durations`).
- Silence before the first / after the last sole run belongs to no one and is not an
  event; double talk there is a non-transition overlap.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from duplexsim.config.field_errors import FieldError, check, raise_errors
from duplexsim.errors import finite_number
from duplexsim.frame_runs import mask_of_runs, runs
from duplexsim.metrics.activity import as_vad, vad_from_units
from duplexsim.metrics.floor import (
    event_rows,
    floor_events,
    is_backchannel,
    no_floor_from_backchannels,
)

EVENT_COLUMNS = ["kind", "speaker", "start_ms", "end_ms", "duration_ms", "fto_ms", "transition"]
EVENT_KINDS = ("ipu", "pause", "gap", "overlap", "backchannel")
SUMMARY_KEYS = (
    "ipu_median_ms", "ipu_mean_ms", "pause_median_ms", "gap_median_ms", "overlap_median_ms",
    "fto_median_ms", "fto_mean_ms", "fto_sd_ms", "overlap_transition_share",
    "backchannels_per_min", "ipus_per_min", "speech_share", "silence_share", "overlap_share",
)


@dataclass(frozen=True)
class TurnTakingParams:
    """Every threshold of the event definitions, in milliseconds.

    - ``min_pause_ms = 200``: shorter silences inside one speaker's speech are bridged
      (not pauses). Heldner & Edlund (2010) use 180 ms; 200 ms is the common rounding
      (e.g. the Switchboard/Fisher turn-taking literature) and 5 unit frames of 40 ms.
    - ``min_ipu_ms = 0``: speech runs shorter than this are discarded as noise (0 keeps
      every frame; unit VAD is exact, audio VAD may want 40-80 ms).
    - ``min_overlap_ms = 0``: double talk shorter than this produces no ``overlap`` row
      (the transition's FTO is still exact). Heldner & Edlund count every overlap. The
      shares of :func:`summarize_events` are computed from the rows, so above 0 the shorter
      double talk leaves ``overlap_share`` and is counted twice in ``speech_share`` (which
      then overstates the time anyone speaks by that much); keep 0 for the shares.
    - ``bc_max_ms = 1000``: longest backchannel; VAP turn-taking events
      (Ekstedt & Skantze 2022) use ``bc_max_duration = 1.0 s``.
    - ``bc_pre_silence_ms = 1000``: own silence required before a backchannel (VAP's
      ``bc_pre_cond_time = 1.0 s``), so a short IPU that continues a turn is not one.
    - ``bc_context_ms = 1000``: the partner must speak within this window before/during
      the backchannel and resume within it afterwards (no floor change; Heldner,
      Hjalmarsson & Edlund 2013 place backchannels inside the partner's turn).
    """

    min_pause_ms: float = 200.0
    min_ipu_ms: float = 0.0
    min_overlap_ms: float = 0.0
    bc_max_ms: float = 1000.0
    bc_pre_silence_ms: float = 1000.0
    bc_context_ms: float = 1000.0

    def __post_init__(self) -> None:
        errors = []
        for name in ("min_pause_ms", "min_ipu_ms", "min_overlap_ms", "bc_max_ms",
                     "bc_pre_silence_ms", "bc_context_ms"):
            try:  # inf would pass ">= 0" and fail as OverflowError when made whole frames
                check(finite_number(getattr(self, name)) and getattr(self, name) >= 0, name,
                      f"must be a finite number >= 0, got {getattr(self, name)!r}",
                      "a finite number >= 0")
            except FieldError as e:
                errors.append(e)
        raise_errors(errors)


def _ipus(active: np.ndarray, min_pause: int, min_ipu: int) -> tuple[np.ndarray, np.ndarray]:
    """IPUs of one channel: bridge silences shorter than ``min_pause`` frames, drop short runs."""
    starts, ends = runs(active)
    if len(starts) > 1:
        keep_gap = (starts[1:] - ends[:-1]) >= min_pause
        starts = np.concatenate((starts[:1], starts[1:][keep_gap]))
        ends = np.concatenate((ends[:-1][keep_gap], ends[-1:]))
    long_enough = (ends - starts) >= max(min_ipu, 1)
    return starts[long_enough], ends[long_enough]


def _frames(params: TurnTakingParams, frame_ms: float) -> dict[str, int]:
    """Thresholds in whole frames (a silence of ``min_pause_ms`` exactly counts as a pause).

    "At least" thresholds round up, "at most" ones (``bc_max_ms``, ``bc_context_ms``) down:
    ``ctx`` is one more than the most frames between the partner's speech and the
    backchannel. It rounded up, so with 40 ms frames a ``bc_context_ms`` of 500 let the
    partner resume 520 ms after (the same whenever the frame does not divide it)."""
    return {
        "min_pause": int(np.ceil(params.min_pause_ms / frame_ms - 1e-9)),
        "min_ipu": int(np.ceil(params.min_ipu_ms / frame_ms - 1e-9)),
        "min_overlap": int(np.ceil(params.min_overlap_ms / frame_ms - 1e-9)),
        "bc_max": int(np.floor(params.bc_max_ms / frame_ms + 1e-9)),
        "pre": int(np.ceil(params.bc_pre_silence_ms / frame_ms - 1e-9)),
        "ctx": int(np.floor(params.bc_context_ms / frame_ms + 1e-9)) + 1,
    }


def ipu_activity(
    vad: np.ndarray, frame_ms: float, params: TurnTakingParams | None
) -> tuple[dict[str, int], list[tuple[np.ndarray, np.ndarray]], np.ndarray]:
    """The IPUs of a two-channel voice activity ``[2, T]``, every input checked (one-line
    errors): the thresholds in whole frames, each speaker's IPUs as ``(starts, ends)``
    frames (ends exclusive) and their masks ``bool [2, T]``; ``params`` None: the defaults.
    What the events here and the interruptions (:mod:`~duplexsim.metrics.interruptions`)
    are found on."""
    vad = as_vad(vad)
    if vad.ndim != 2 or vad.shape[0] != 2:
        raise ValueError(f"vad must have shape [2, T] (two speakers), got {vad.shape}")
    if not (finite_number(frame_ms) and frame_ms > 0):  # NaN passed "<= 0" and failed in int()
        raise ValueError(f"frame_ms must be a finite number > 0, got {frame_ms!r}")
    if params is not None and not isinstance(params, TurnTakingParams):  # ({} was the defaults)
        raise TypeError(f"params must be a TurnTakingParams or None, got "
                        f"{type(params).__name__} (e.g. TurnTakingParams(min_pause_ms=180))")
    p = _frames(params or TurnTakingParams(), frame_ms)
    ipus = [_ipus(vad[s], p["min_pause"], p["min_ipu"]) for s in (0, 1)]
    return p, ipus, np.stack([mask_of_runs(*ipus[s], vad.shape[1]) for s in (0, 1)])


def detect_events(
    vad: np.ndarray, frame_ms: float = 40, params: TurnTakingParams | None = None
) -> pd.DataFrame:
    """Turn-taking events of a two-channel voice activity ``bool [2, T]``.

    Returns one row per event, sorted by ``start_ms`` then kind, with columns
    ``kind`` (ipu | pause | gap | overlap | backchannel), ``speaker`` (0/1: the IPU's or
    backchannel's speaker, the pausing speaker, the incoming speaker of a transition, the
    intruding speaker of a within-turn overlap, -1 if unknown), ``start_ms``, ``end_ms``,
    ``duration_ms``, ``fto_ms`` (the floor-transfer offset, on one row per transition:
    its first overlap row if it has double talk, else its gap row; NaN elsewhere) and
    ``transition`` (the row belongs to a floor transition).
    """
    return pd.DataFrame(event_columns(vad, frame_ms, params), columns=EVENT_COLUMNS)


def event_columns(
    vad: np.ndarray, frame_ms: float = 40, params: TurnTakingParams | None = None,
    context_frames: int = 0,
) -> dict[str, np.ndarray]:
    """:func:`detect_events` as numpy columns (the same rows, in the same order), for
    callers that summarise many short episodes (a DataFrame costs more than the detection).

    ``context_frames``: the first frames of ``vad`` are context before the window that is
    reported (a speaker who was talking before it, as a late-starting RL learner's partner):
    events are detected over the whole ``vad``, times are relative to the window's first
    frame, rows wholly before it are dropped and rows across it are cut at 0 (an FTO keeps
    its value: a transition into the window from speech before it is a zero-length gap row
    at 0 when its silence lay before it)."""
    p, ipus, masks = ipu_activity(vad, frame_ms, params)
    n = masks.shape[1]
    if isinstance(context_frames, bool) or not (isinstance(context_frames, int)
                                                and 0 <= context_frames <= n):
        raise ValueError(f"context_frames must be an int in 0..{n} (the vad's frames), "
                         f"got {context_frames!r}")
    is_bc = no_floor_from_backchannels([is_backchannel(s, ipus, masks, p) for s in (0, 1)],
                                       ipus, masks, p)
    floor_ipus = [(ipus[s][0][~is_bc[s]], ipus[s][1][~is_bc[s]]) for s in (0, 1)]
    floor = np.stack([mask_of_runs(*floor_ipus[s], n) for s in (0, 1)])
    parts, bc_masks = [], []
    for s in (0, 1):
        parts.append(event_rows("ipu", s, *floor_ipus[s]))
        bc_start, bc_end = ipus[s][0][is_bc[s]], ipus[s][1][is_bc[s]]
        parts.append(event_rows("backchannel", s, bc_start, bc_end))
        bc_masks.append(mask_of_runs(bc_start, bc_end, n))
        # double talk of a backchannel (B's counted once when both backchannel at once)
        counted = bc_masks[0] if s == 1 else np.zeros(n, dtype=bool)
        ov_start, ov_end = runs(bc_masks[s] & masks[1 - s] & ~counted)
        parts.append(event_rows("overlap", s, ov_start, ov_end))
    parts += floor_events(floor, floor_ipus, p)
    col = {c: np.concatenate([part[c] for part in parts]) for c in parts[0]}
    if context_frames:
        first, last = col["start_ms"] - context_frames, col["end_ms"] - context_frames
        keep = (last > 0) | (first >= 0) | ~np.isnan(col["fto_ms"])
        col = {c: v[keep] for c, v in col.items()}
        col["start_ms"] = np.maximum(first[keep], 0)
        col["end_ms"] = np.maximum(last[keep], 0)
    start = col["start_ms"].astype(np.float64) * frame_ms
    end = col["end_ms"].astype(np.float64) * frame_ms
    rank = {k: i for i, k in enumerate(EVENT_KINDS)}
    kind_rank = np.fromiter((rank[k] for k in col["kind"]), np.int64, len(col["kind"]))
    order = np.lexsort((col["speaker"], kind_rank, start))  # stable, by start, kind, speaker
    return {
        "kind": col["kind"][order], "speaker": col["speaker"][order],
        "start_ms": start[order], "end_ms": end[order], "duration_ms": (end - start)[order],
        "fto_ms": col["fto_ms"][order] * frame_ms, "transition": col["transition"][order],
    }


def event_durations(events: Mapping[str, np.ndarray], kind: str) -> np.ndarray:
    """Durations (ms) of the events of ``kind`` in :func:`event_columns` / :func:`detect_events`
    that every duration statistic reads (:func:`summarize_columns`, the protocol's means).

    A zero-length gap row only carries the FTO of a switch with no silence between the
    speakers (Heldner & Edlund's "no-gap-no-overlap", or double talk below
    ``min_overlap_ms``): no silence, so no gap; its FTO still counts. An overlap is a
    transition overlap (reads ``transition``): Heldner & Edlund's between-speaker overlap,
    the counterpart of a gap, as a pause is of a within-turn silence; the double talk of
    backchannels, within-turn overlaps and overlaps outside any transition is not one
    (all double talk is in ``overlap_share``).
    """
    kinds = np.asarray(events["kind"], dtype=object)
    durations = np.asarray(events["duration_ms"], dtype=np.float64)
    keep = kinds == kind
    if kind == "gap":
        keep &= durations > 0
    elif kind == "overlap":
        keep &= np.asarray(events["transition"], dtype=bool)
    return durations[keep]


def _median(x: np.ndarray) -> float:
    return float(np.median(x)) if len(x) else float("nan")


def summarize_events(events: pd.DataFrame, duration_ms: float) -> dict[str, float]:
    """Summary statistics of an event table over a conversation of ``duration_ms``.

    Durations are medians/means in ms (NaN when there is no such event) of
    :func:`event_durations` (``overlap_median_ms``: transition overlaps only);
    ``overlap_transition_share`` is the share of floor transitions made in overlap
    (FTO < 0); rates are per minute of ``duration_ms``; ``speech_share`` (time at least
    one speaker talks), ``silence_share`` and ``overlap_share`` (both talk) are fractions
    of ``duration_ms`` computed from IPU-level activity (short pauses bridged).
    """
    if not isinstance(events, pd.DataFrame):  # (a dict was an AttributeError of to_numpy)
        raise TypeError(f"events must be the DataFrame of detect_events, got "
                        f"{type(events).__name__} (summarize_columns reads event_columns' dict)")
    missing = [c for c in ("kind", "duration_ms", "fto_ms", "transition")
               if c not in events.columns]
    if missing:
        raise ValueError(f"events must have the columns of detect_events, missing "
                         f"{', '.join(missing)}")
    return summarize_columns({"kind": events["kind"].to_numpy(dtype=object),
                              "duration_ms": events["duration_ms"].to_numpy(dtype=np.float64),
                              "fto_ms": events["fto_ms"].to_numpy(dtype=np.float64),
                              "transition": events["transition"].to_numpy(dtype=bool)},
                             duration_ms)


def summarize_columns(events: Mapping[str, np.ndarray], duration_ms: float) -> dict[str, float]:
    """:func:`summarize_events` of :func:`event_columns` (``kind``, ``duration_ms``,
    ``fto_ms`` and ``transition`` are read)."""
    if not (finite_number(duration_ms) and duration_ms > 0):  # NaN gave NaN rates, inf zero ones
        raise ValueError(f"duration_ms must be a finite number > 0, got {duration_ms!r}")
    by_kind = {k: event_durations(events, k) for k in EVENT_KINDS}  # numpy: called per episode
    fto = np.asarray(events["fto_ms"], dtype=np.float64)
    fto = fto[~np.isnan(fto)]
    minutes = duration_ms / 60_000.0
    talk = float(by_kind["ipu"].sum() + by_kind["backchannel"].sum())
    kinds = np.asarray(events["kind"], dtype=object)
    both = float(np.asarray(events["duration_ms"], dtype=np.float64)[kinds == "overlap"].sum())
    speech = (talk - both) / duration_ms
    return {
        "ipu_median_ms": _median(by_kind["ipu"]),
        "ipu_mean_ms": float(by_kind["ipu"].mean()) if len(by_kind["ipu"]) else float("nan"),
        "pause_median_ms": _median(by_kind["pause"]),
        "gap_median_ms": _median(by_kind["gap"]),
        "overlap_median_ms": _median(by_kind["overlap"]),
        "fto_median_ms": _median(fto),
        "fto_mean_ms": float(fto.mean()) if len(fto) else float("nan"),
        "fto_sd_ms": float(fto.std(ddof=1)) if len(fto) > 1 else float("nan"),
        "overlap_transition_share": float((fto < 0).mean()) if len(fto) else float("nan"),
        "backchannels_per_min": len(by_kind["backchannel"]) / minutes,
        "ipus_per_min": len(by_kind["ipu"]) / minutes,
        "speech_share": speech,
        "silence_share": 1.0 - speech,
        "overlap_share": both / duration_ms,
    }


def listener_onsets(
    vad: np.ndarray, frame_ms: float = 40, params: TurnTakingParams | None = None
) -> tuple[int, float]:
    """Listener onsets and the listening time they could start in: ``(onsets, seconds)``.

    A speaker is *listening* in a frame where the partner is inside an IPU and the speaker
    has been silent (outside its own IPUs) for at least ``bc_pre_silence_ms``; an *onset* is
    an own IPU starting right after a listening frame (so not one at the window's first
    frame: left-censored, as for backchannels). ``onsets / seconds`` is the hazard of
    speaking up while listening, the thing a backchannel rate is made of, freed from how much
    listening time a conversation happens to offer (both speakers pooled).
    """
    starts, seconds = listener_onset_frames(vad, frame_ms, params)
    return sum(len(s) for s in starts), seconds


def listener_onset_frames(
    vad: np.ndarray, frame_ms: float = 40, params: TurnTakingParams | None = None
) -> tuple[tuple[np.ndarray, np.ndarray], float]:
    """The frames at which each speaker's listener onsets start (see :func:`listener_onsets`)
    and the listening seconds of both pooled: ``((starts of side 0, of side 1), seconds)``."""
    p, ipus, masks = ipu_activity(vad, frame_ms, params)
    t = np.arange(masks.shape[1])
    found, frames = [], 0
    for s in (0, 1):
        last_active = np.maximum.accumulate(np.where(masks[s], t, -(10**9)))
        # at least one frame: silent now (bc_pre_silence_ms = 0 counted its own talk over
        # the partner as listening time, t - last_active being 0 in a frame it speaks)
        listening = ((t - last_active) >= max(p["pre"], 1)) & masks[1 - s]
        frames += int(listening.sum())
        starts = ipus[s][0]
        starts = starts[starts > 0]
        found.append(starts[listening[starts - 1]])
    return (found[0], found[1]), frames * frame_ms / 1000.0


# vad_from_units, as_vad and runs live in activity.py: importable from here as before
__all__ = ["EVENT_COLUMNS", "EVENT_KINDS", "SUMMARY_KEYS", "TurnTakingParams", "as_vad",
           "detect_events", "event_columns", "event_durations", "ipu_activity",
           "listener_onset_frames", "listener_onsets", "runs", "summarize_columns",
           "summarize_events", "vad_from_units"]
