"""Turn-taking events from two-channel voice activity: IPU, pause, gap, overlap, backchannel.

Owns the event definitions (Heldner & Edlund 2010, "Pauses, gaps and overlaps in
conversations", J. Phonetics 38) and their summary statistics. Works on boolean voice
activity ``[2, T]`` at a fixed frame rate, so it serves unit streams (exact VAD from
silence units), audio VAD and corpus annotations alike. Pure numpy/pandas, vectorised:
it runs over hours of corpus. Must not touch audio, models or the simulator.

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

import math
from collections.abc import Mapping
from dataclasses import dataclass
from numbers import Real

import numpy as np
import pandas as pd

from duplexsim.config.loader import FieldError, check, raise_errors

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
                check(_finite(getattr(self, name)) and getattr(self, name) >= 0, name,
                      f"must be a finite number >= 0, got {getattr(self, name)!r}",
                      "a finite number >= 0")
            except FieldError as e:
                errors.append(e)
        raise_errors(errors)


def _finite(x: object) -> bool:
    """Whether ``x`` is a finite real number (not a bool, a string or NaN)."""
    return isinstance(x, Real) and not isinstance(x, bool) and math.isfinite(x)


def vad_from_units(units: np.ndarray, silence_units: frozenset[int] | set[int]) -> np.ndarray:
    """Voice activity ``bool [2, T]``: True where a frame's unit is not a silence unit."""
    arr = np.asarray(units)
    if arr.ndim != 2:
        raise ValueError(f"units must have shape [channels, T], got {arr.shape}")
    return ~np.isin(arr, _unit_ids(silence_units))


def _unit_ids(silence_units: object) -> np.ndarray:
    """``silence_units`` as int64 unit ids, else a one-line error: ``np.fromiter`` took the
    unit 0.5 (and each digit of the string ``"0"``) as unit 0, silently, and failed on None
    or an id past int64 with NumPy's own words."""
    try:
        if isinstance(silence_units, str | bytes):
            raise TypeError
        ids = list(silence_units)  # type: ignore[call-overload]
    except TypeError:
        raise TypeError(f"silence_units must be a set of unit ids (ints), got "
                        f"{type(silence_units).__name__}") from None
    for unit in ids:
        if isinstance(unit, bool) or not isinstance(unit, int | np.integer) \
                or not -(2**63) <= unit < 2**63:
            raise ValueError(f"silence_units must hold unit ids (whole numbers in int64), got "
                             f"{unit!r}")
    return np.array(ids, dtype=np.int64)


def as_vad(vad: np.ndarray, what: str = "vad") -> np.ndarray:
    """``vad`` as a bool array; a one-line error unless it is bool or holds only 0 and 1.

    A plain cast made every non-zero value speech: a speech-probability VAD (0.1 is
    silence to anyone reading it) or a NaN frame came out as talk, without a word."""
    arr = np.asarray(vad)
    if arr.dtype == bool:
        return arr
    if arr.dtype.kind not in "iuf" or not ((arr == 0) | (arr == 1)).all():
        odd = arr[(arr != 0) & (arr != 1)].ravel()[:1] if arr.dtype.kind in "iuf" else []
        got = f"the value {odd[0].item()!r}" if len(odd) else f"dtype {arr.dtype}"
        raise ValueError(f"{what} must be voice activity, bool or 0/1 (True/1 = speech), got "
                         f"{got} (threshold a speech-probability VAD first)")
    return arr.astype(bool)


def runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (exclusive) frame indices of the True runs of a 1-D bool array."""
    padded = np.concatenate(([False], mask.astype(bool), [False])).astype(np.int8)
    edges = np.diff(padded)
    return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)


def _ipus(active: np.ndarray, min_pause: int, min_ipu: int) -> tuple[np.ndarray, np.ndarray]:
    """IPUs of one channel: bridge silences shorter than ``min_pause`` frames, drop short runs."""
    starts, ends = runs(active)
    if len(starts) > 1:
        keep_gap = (starts[1:] - ends[:-1]) >= min_pause
        starts = np.concatenate((starts[:1], starts[1:][keep_gap]))
        ends = np.concatenate((ends[:-1][keep_gap], ends[-1:]))
    long_enough = (ends - starts) >= max(min_ipu, 1)
    return starts[long_enough], ends[long_enough]


def _mask(starts: np.ndarray, ends: np.ndarray, n: int) -> np.ndarray:
    delta = np.zeros(n + 1, dtype=np.int64)
    np.add.at(delta, starts, 1)
    np.add.at(delta, ends, -1)
    return np.cumsum(delta[:n]) > 0


def _backchannels(
    s: int, ipus: list[tuple[np.ndarray, np.ndarray]], masks: np.ndarray, p: dict[str, int]
) -> np.ndarray:
    """Boolean per IPU of speaker ``s``: is it a backchannel?"""
    starts, ends = ipus[s]
    if len(starts) == 0:
        return np.zeros(0, dtype=bool)
    partner = masks[1 - s]
    n = partner.shape[0]
    csum = np.concatenate(([0], np.cumsum(partner)))
    lo = np.clip(starts - p["ctx"], 0, n)
    partner_before = (csum[ends] - csum[lo]) > 0  # partner speech in [st - ctx, en)
    partner_frames = np.flatnonzero(partner)
    if len(partner_frames) == 0:
        return np.zeros(len(starts), dtype=bool)
    idx = np.searchsorted(partner_frames, ends)  # partner speaking after the last frame
    has_next = idx < len(partner_frames)
    p_next = np.where(has_next, partner_frames[np.minimum(idx, len(partner_frames) - 1)], n + 1)
    own_next = np.concatenate((starts[1:], [n + 2]))
    resumes = has_next & (p_next - ends < p["ctx"]) & (p_next < own_next)
    own_prev_end = np.concatenate(([-(10**9)], ends[:-1]))
    isolated = ((starts - own_prev_end) >= p["pre"]) & (starts > 0)  # 0: left-censored
    short = ((ends - starts) <= p["bc_max"]) & (ends < n)  # n: right-censored, length unknown
    return short & isolated & partner_before & resumes


def _no_floor_from_backchannels(
    is_bc: list[np.ndarray], ipus: list[tuple[np.ndarray, np.ndarray]], masks: np.ndarray,
    p: dict[str, int],
) -> list[np.ndarray]:
    """Backchannels need a partner that holds the floor: in time order, a candidate whose
    only partner speech before or during it is the partner's own backchannels (decided
    earlier) is a floor IPU after all. Without this, two speakers trading short turns
    backchannelled each other and the exchange vanished from the floor analysis (a 5.2 s
    "gap" over six 0.8 s turns); a candidate has one pass, in start order."""
    is_bc = [b.copy() for b in is_bc]
    order = sorted((int(ipus[s][0][i]), s, i) for s in (0, 1) for i in np.flatnonzero(is_bc[s]))
    taken = np.zeros_like(masks)  # frames of confirmed backchannels, per speaker
    for start, s, i in order:
        end = int(ipus[s][1][i])
        lo = max(start - p["ctx"], 0)
        if (masks[1 - s][lo:end] & ~taken[1 - s][lo:end]).any():
            taken[s][start:end] = True
        else:
            is_bc[s][i] = False
    return is_bc


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


def _rows(kind: str, speaker: np.ndarray | int, start: np.ndarray, end: np.ndarray,
          fto: np.ndarray | None = None, transition: np.ndarray | bool = False,
          ) -> dict[str, np.ndarray]:
    """One kind's rows as columns (frames); :func:`detect_events` makes one DataFrame of
    all of them (a DataFrame per part cost more than the detection itself)."""
    n = len(start)
    return {
        "kind": np.full(n, kind, dtype=object),
        "speaker": np.broadcast_to(np.asarray(speaker, dtype=np.int64), (n,)),
        "start_ms": np.asarray(start, dtype=np.int64), "end_ms": np.asarray(end, dtype=np.int64),
        "fto_ms": np.full(n, np.nan) if fto is None else np.asarray(fto, dtype=np.float64),
        "transition": np.broadcast_to(np.asarray(transition, dtype=bool), (n,)),
    }


def _floor_events(
    floor: np.ndarray, ipus: list[tuple[np.ndarray, np.ndarray]], p: dict[str, int]
) -> list[dict[str, np.ndarray]]:
    """Pauses, gaps and overlaps (frames) from the joint state of the floor-bearing VAD."""
    if floor.shape[1] == 0:  # an empty recording: no pauses, gaps or overlaps
        return []
    r_start, r_end, r_code = _joint_runs(floor)
    sole = (r_code == 1) | (r_code == 2)
    ridx = np.arange(len(r_start))
    prev_sole = np.maximum.accumulate(np.where(sole, ridx, -1))
    next_sole = np.minimum.accumulate(np.where(sole, ridx, len(ridx))[::-1])[::-1]
    other = ~sole
    has_prev, has_next = prev_sole >= 0, next_sole < len(ridx)
    spk_prev = np.where(has_prev, r_code[np.clip(prev_sole, 0, None)] - 1, -1)
    spk_next = np.where(has_next, r_code[np.clip(next_sole, None, len(ridx) - 1)] - 1, -1)
    flanked = has_prev & has_next
    transition = flanked & (spk_prev != spk_next)
    pair_a, pair_b, in_spk, fto = _switch_ftos(r_start, r_end, r_code, sole, ipus)
    silence = other & (r_code == 0) & flanked
    overlap = other & (r_code == 3) & ((r_end - r_start) >= max(p["min_overlap"], 1))
    fto_of_run, zero = _place_ftos(fto, pair_a, prev_sole, (silence | overlap) & transition,
                                   overlap)
    overlap_spk = np.where(transition, spk_next,
                           np.where(has_prev, 1 - spk_prev, np.where(has_next, 1 - spk_next, -1)))
    at = r_start[pair_b[zero]]
    pause = silence & ~transition
    gap = silence & transition
    return [
        _rows("pause", spk_prev[pause], r_start[pause], r_end[pause]),
        _rows("gap", spk_next[gap], r_start[gap], r_end[gap], fto_of_run[gap], True),
        _rows("gap", in_spk[zero], at, at, fto[zero], True),
        _rows("overlap", overlap_spk[overlap], r_start[overlap], r_end[overlap],
              fto_of_run[overlap], transition[overlap]),
    ]


def _joint_runs(floor: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Start and end (exclusive) frames of the runs of the joint state of ``floor``
    (``[2, T]``, T > 0), and each run's state: 0 silence, 1 A only, 2 B only, 3 both."""
    n = floor.shape[1]
    code = floor[0].astype(np.int8) + 2 * floor[1].astype(np.int8)  # 0 sil, 1 A, 2 B, 3 both
    change = np.flatnonzero(np.diff(code)) + 1
    r_start = np.concatenate(([0], change))
    r_end = np.concatenate((change, [n]))
    return r_start, r_end, code[r_start]


def _switch_ftos(
    r_start: np.ndarray, r_end: np.ndarray, r_code: np.ndarray, sole: np.ndarray,
    ipus: list[tuple[np.ndarray, np.ndarray]],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The floor transitions: each one's outgoing and incoming sole run (indices of the
    joint state's runs), its incoming speaker and its FTO (frames): incoming IPU start -
    outgoing IPU end."""
    sole_idx = np.flatnonzero(sole)
    pair_a, pair_b = sole_idx[:-1], sole_idx[1:]
    switch = r_code[pair_a] != r_code[pair_b]
    pair_a, pair_b = pair_a[switch], pair_b[switch]
    out_spk, in_spk = r_code[pair_a] - 1, r_code[pair_b] - 1
    ipu_end = np.empty(len(pair_a), dtype=np.int64)
    ipu_start = np.empty(len(pair_a), dtype=np.int64)
    for s in (0, 1):
        st, en = ipus[s]
        sel_out, sel_in = out_spk == s, in_spk == s
        # the outgoing speaker's last IPU starting before the incoming speaker's sole run
        ipu_end[sel_out] = en[np.searchsorted(st, r_start[pair_b[sel_out]], side="left") - 1]
        # the incoming speaker's first IPU ending after the outgoing speaker's sole run
        ipu_start[sel_in] = st[np.searchsorted(en, r_end[pair_a[sel_in]], side="right")]
    return pair_a, pair_b, in_spk, (ipu_start - ipu_end).astype(float)


def _place_ftos(
    fto: np.ndarray, pair_a: np.ndarray, prev_sole: np.ndarray, can_carry: np.ndarray,
    overlap: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Which run carries each transition's FTO: per run, the FTO it carries (NaN: none),
    and per transition, whether no run is left to carry it (it gets a zero-length gap row).

    The FTO goes on one surviving row of its interval (``can_carry``: the transitions' gap
    and overlap runs), of its own sign where there is one (a negative FTO on the first
    overlap row, a positive one on the first gap row: after silence then double talk the
    gap row came first)."""
    fto_of_run = np.full(len(prev_sole), np.nan)
    carriers = np.flatnonzero(can_carry)
    group = prev_sole[carriers]  # the transition each carrier belongs to
    pos = np.searchsorted(pair_a, group)  # its switch pair (and FTO)
    order = np.lexsort((carriers, overlap[carriers] != (fto[pos] < 0), group))
    head = np.r_[True, group[order][1:] != group[order][:-1]] if len(order) else order
    first, pair_pos = carriers[order][head], pos[order][head]
    fto_of_run[first] = fto[pair_pos]
    zero = np.ones(len(pair_a), dtype=bool)
    zero[pair_pos] = False
    return fto_of_run, zero


def _ipu_activity(
    vad: np.ndarray, frame_ms: float, params: TurnTakingParams | None
) -> tuple[dict[str, int], list[tuple[np.ndarray, np.ndarray]], np.ndarray]:
    """Checked input -> thresholds in frames, each speaker's IPUs, and their masks ``[2, T]``."""
    vad = as_vad(vad)
    if vad.ndim != 2 or vad.shape[0] != 2:
        raise ValueError(f"vad must have shape [2, T] (two speakers), got {vad.shape}")
    if not (_finite(frame_ms) and frame_ms > 0):  # NaN passed "<= 0" and failed in int()
        raise ValueError(f"frame_ms must be a finite number > 0, got {frame_ms!r}")
    if params is not None and not isinstance(params, TurnTakingParams):  # ({} was the defaults)
        raise TypeError(f"params must be a TurnTakingParams or None, got "
                        f"{type(params).__name__} (e.g. TurnTakingParams(min_pause_ms=180))")
    p = _frames(params or TurnTakingParams(), frame_ms)
    ipus = [_ipus(vad[s], p["min_pause"], p["min_ipu"]) for s in (0, 1)]
    return p, ipus, np.stack([_mask(*ipus[s], vad.shape[1]) for s in (0, 1)])


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
    p, ipus, masks = _ipu_activity(vad, frame_ms, params)
    n = masks.shape[1]
    if isinstance(context_frames, bool) or not (isinstance(context_frames, int)
                                                and 0 <= context_frames <= n):
        raise ValueError(f"context_frames must be an int in 0..{n} (the vad's frames), "
                         f"got {context_frames!r}")
    is_bc = _no_floor_from_backchannels([_backchannels(s, ipus, masks, p) for s in (0, 1)],
                                        ipus, masks, p)
    floor_ipus = [(ipus[s][0][~is_bc[s]], ipus[s][1][~is_bc[s]]) for s in (0, 1)]
    floor = np.stack([_mask(*floor_ipus[s], n) for s in (0, 1)])
    parts, bc_masks = [], []
    for s in (0, 1):
        parts.append(_rows("ipu", s, *floor_ipus[s]))
        bc_start, bc_end = ipus[s][0][is_bc[s]], ipus[s][1][is_bc[s]]
        parts.append(_rows("backchannel", s, bc_start, bc_end))
        bc_masks.append(_mask(bc_start, bc_end, n))
        # double talk of a backchannel (B's counted once when both backchannel at once)
        counted = bc_masks[0] if s == 1 else np.zeros(n, dtype=bool)
        ov_start, ov_end = runs(bc_masks[s] & masks[1 - s] & ~counted)
        parts.append(_rows("overlap", s, ov_start, ov_end))
    parts += _floor_events(floor, floor_ipus, p)
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
    if not (_finite(duration_ms) and duration_ms > 0):  # NaN gave NaN rates, inf zero ones
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
    p, ipus, masks = _ipu_activity(vad, frame_ms, params)
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
