"""Who holds the floor: which IPUs are backchannels, and the pauses, gaps, overlaps and
floor-transfer offsets between sole-speaker runs.

The two steps of :func:`~duplexsim.metrics.turntaking.event_columns` after the IPUs, on
the definitions that module's docstring gives (its thresholds in whole frames, ``p``:
``ctx``, ``pre``, ``bc_max``, ``min_overlap``). Works on frames and numpy arrays only;
event times in ms, the table and its summaries are the caller's.
"""

from __future__ import annotations

import numpy as np


def is_backchannel(
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


def no_floor_from_backchannels(
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


def event_rows(kind: str, speaker: np.ndarray | int, start: np.ndarray, end: np.ndarray,
               fto: np.ndarray | None = None, transition: np.ndarray | bool = False,
               ) -> dict[str, np.ndarray]:
    """One kind's rows as columns (frames); :func:`~duplexsim.metrics.turntaking.detect_events`
    makes one DataFrame of all of them (a DataFrame per part cost more than the detection
    itself)."""
    n = len(start)
    return {
        "kind": np.full(n, kind, dtype=object),
        "speaker": np.broadcast_to(np.asarray(speaker, dtype=np.int64), (n,)),
        "start_ms": np.asarray(start, dtype=np.int64), "end_ms": np.asarray(end, dtype=np.int64),
        "fto_ms": np.full(n, np.nan) if fto is None else np.asarray(fto, dtype=np.float64),
        "transition": np.broadcast_to(np.asarray(transition, dtype=bool), (n,)),
    }


def floor_events(
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
        event_rows("pause", spk_prev[pause], r_start[pause], r_end[pause]),
        event_rows("gap", spk_next[gap], r_start[gap], r_end[gap], fto_of_run[gap], True),
        event_rows("gap", in_spk[zero], at, at, fto[zero], True),
        event_rows("overlap", overlap_spk[overlap], r_start[overlap], r_end[overlap],
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
