"""Latency-facing metrics of a simulated conversation: what the network and compute did to it.

- ``response_latency_ms_{a,b}``: median floor-transfer offset of the transitions *into*
  that side (how long it takes to answer; negative = it answers in overlap).
- ``takeover_rate``: of the overlaps someone starts outside a backchannel while the other
  holds the floor, the share that win it (transition overlaps / those overlaps). Double
  talk after the last time one speaker spoke alone (the conversation ended in it, or both
  stopped at once) has no outcome and is no attempt; nor is double talk before anyone
  spoke alone (no floor to take). The overlaps between two sole runs are one attempt (A,
  both, silence, both, B is one takeover, not two).
- ``deadline_miss_rate``, ``lookahead_mean``, ``lookahead_max``, ``compute_ms_mean``
  from ``Trace.decisions``.
- ``stall_total_ms_{a,b}``: how long that side stalled in all (its final playout slip):
  the sum of ``decisions.stall_ms``, non-zero only for a side with ``estimation =
  "wait"`` (0 when the table has no ``stall_ms`` column: nothing waited).
- ``mouth_to_ear_*``: per chunk the receiver took, from its first spoken frame to its
  release by the receiver's buffer, when it can be heard (``Trace.network.mouth_to_ear_ms``:
  network and receive buffer, not the wait for the receiving agent's next decision; the
  same number as ``summary.json``); ``transit_*``: per chunk that arrived, from its first
  spoken frame to the arrival of its first copy (``Trace.network.transit_ms``: the start
  on the speaker's clock, as for mouth-to-ear, so a drifting clock's chunks count what they
  last on it; a table without that column, not made by a trace: ``arrival_ms - sent_ms +
  chunk_ms``, a chunk being sent when its last frame has been spoken); ``loss_rate``:
  chunks none of whose copies arrived, of the chunks sent (those still in flight at the
  end left out).

:func:`trace_metrics` joins these with the turn-taking summary and estimation accuracy
into one flat row (what a sweep cell returns). Pure functions of a trace's tables.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from duplexsim.metrics.activity import vad_from_units
from duplexsim.metrics.estimation import estimation_summary, estimation_table
from duplexsim.metrics.turntaking import TurnTakingParams, detect_events, summarize_events


def _median(x: pd.Series) -> float:
    return float(x.median()) if len(x) else float("nan")


def _sole_stretches(events: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (ms) of the stretches in which one speaker alone holds the floor (its
    ``ipu`` rows; backchannels are no floor), in time order (adjacent ones not merged)."""
    ipus = events[events["kind"] == "ipu"]
    spans = [(g["start_ms"].to_numpy(), g["end_ms"].to_numpy())
             for s, g in ipus.groupby("speaker") if s in (0, 1)]
    if not spans:
        return np.zeros(0), np.zeros(0)
    cuts = np.unique(np.concatenate([t for span in spans for t in span]))
    talking = [np.searchsorted(st, cuts[:-1], side="right")
               > np.searchsorted(en, cuts[:-1], side="right") for st, en in spans]
    sole = np.flatnonzero(talking[0] != talking[1]) if len(talking) == 2 else (
        np.flatnonzero(talking[0]))
    return cuts[sole].astype(float), cuts[sole + 1].astype(float)


def response_metrics(events: pd.DataFrame) -> dict[str, float]:
    """Response latency per side and takeover rate from a :func:`detect_events` table."""
    fto = events.dropna(subset=["fto_ms"])
    overlaps = events[events["kind"] == "overlap"]
    bcs = events[events["kind"] == "backchannel"]
    in_bc = np.zeros(len(overlaps), dtype=bool)
    for s in (0, 1):  # overlap rows lying inside a backchannel of the same speaker
        b = bcs[bcs["speaker"] == s]
        o = overlaps["speaker"].to_numpy() == s
        if len(b) and o.any():
            st = overlaps["start_ms"].to_numpy()[o]
            i = np.searchsorted(b["start_ms"].to_numpy(), st, side="right") - 1
            ok = i >= 0
            inside = np.zeros(len(st), dtype=bool)
            inside[ok] = st[ok] < b["end_ms"].to_numpy()[i[ok]]
            in_bc[np.flatnonzero(o)] = inside
    sole_starts, sole_ends = _sole_stretches(events)
    ov_start = overlaps["start_ms"].to_numpy(dtype=float)
    flanked = np.zeros(len(overlaps), dtype=bool)
    if len(sole_ends):
        flanked = (ov_start >= sole_ends[0]) & (overlaps["end_ms"].to_numpy() <= sole_starts[-1])
    # one attempt per stretch between two sole runs: double talk split by mutual silence
    # is several overlap rows of one floor change (all transition rows or none)
    stretch = np.searchsorted(sole_ends, ov_start, side="right")[~in_bc & flanked]
    won_by_stretch = pd.Series(overlaps["transition"].to_numpy(dtype=bool)[~in_bc & flanked]
                               ).groupby(stretch).any()
    n_attempts, won = len(won_by_stretch), int(won_by_stretch.sum())
    return {
        "response_latency_ms_a": _median(fto.loc[fto["speaker"] == 0, "fto_ms"]),
        "response_latency_ms_b": _median(fto.loc[fto["speaker"] == 1, "fto_ms"]),
        "takeover_rate": won / n_attempts if n_attempts else float("nan"),
    }


def decision_metrics(decisions: pd.DataFrame) -> dict[str, float]:
    """Deadline misses, lookahead depth and compute time over all agent decisions; total
    stall per side (agents ``a`` / ``b``, any case)."""
    nan = float("nan")
    if decisions is None or decisions.empty:
        return {"deadline_miss_rate": nan, "lookahead_mean": nan, "lookahead_max": nan,
                "compute_ms_mean": nan, "stall_total_ms_a": nan, "stall_total_ms_b": nan}
    side = decisions["agent"].astype(str).str.lower()
    stall = decisions["stall_ms"] if "stall_ms" in decisions else pd.Series(0.0, decisions.index)
    return {
        "deadline_miss_rate": float(decisions["deadline_miss"].astype(bool).mean()),
        "lookahead_mean": float(decisions["lookahead"].mean()),
        "lookahead_max": float(decisions["lookahead"].max()),
        "compute_ms_mean": float(decisions["compute_ms"].mean()),
        "stall_total_ms_a": float(stall[side == "a"].sum()),
        "stall_total_ms_b": float(stall[side == "b"].sum()),
    }


def network_metrics(network: pd.DataFrame, chunk_ms: int) -> dict[str, float]:
    """Mouth-to-ear and transit delay, and loss rate, per chunk (module docstring): a
    chunk counts once whatever its copies did (a lost first copy whose duplicate arrived
    is not a lost chunk)."""
    nan = float("nan")
    keys = ("mouth_to_ear_mean_ms", "mouth_to_ear_p95_ms", "transit_mean_ms",
            "transit_p95_ms", "loss_rate")
    if network is None or network.empty:
        return dict.fromkeys(keys, nan)
    if "transit_ms" not in network:
        network = network.assign(
            transit_ms=network["arrival_ms"] - network["sent_ms"] + chunk_ms)
    by_chunk = _per_chunk(network)
    transit = by_chunk["transit"].dropna().to_numpy(float)
    m2e = network["mouth_to_ear_ms"].dropna().to_numpy(float) \
        if "mouth_to_ear_ms" in network else np.zeros(0)

    def mean_p95(x: np.ndarray) -> tuple[float, float]:
        return (float(x.mean()), float(np.percentile(x, 95))) if len(x) else (nan, nan)

    return dict(zip(keys, (*mean_p95(m2e), *mean_p95(transit), _loss_rate(by_chunk)),
                    strict=True))


def _per_chunk(network: pd.DataFrame) -> pd.DataFrame:
    """Per (direction, chunk): first send, earliest arrival and its transit, whether every
    copy was lost."""
    return network.assign(lost=network["lost"].astype(bool)).groupby(
        ["direction", "chunk"], sort=False).agg(
        sent=("sent_ms", "min"), arrival=("arrival_ms", "min"), transit=("transit_ms", "min"),
        lost=("lost", "all"))


def _loss_rate(by_chunk: pd.DataFrame) -> float:
    settled = by_chunk["arrival"].notna() | by_chunk["lost"]  # not still in flight
    return float(by_chunk.loc[settled, "lost"].mean()) if settled.any() else float("nan")


def chunk_loss_rate(network: pd.DataFrame) -> float:
    """Chunks none of whose copies arrived, of the chunks sent and not still in flight (a
    lost first copy whose duplicate arrived is not a lost chunk)."""
    return _loss_rate(_per_chunk(network)) if len(network) else float("nan")


def trace_metrics(
    trace: Any, chunk_ms: int, silence_units: Iterable[int] | None = None,
    frame_ms: int = 40, params: TurnTakingParams | None = None, lists: bool = False,
) -> dict[str, Any]:
    """One flat metrics row for a simulated conversation (``duplexsim.sim.Trace``).

    ``lists=True`` adds list columns for reports: ``fto_values_ms`` (every FTO) and, per
    lookahead depth, ``est_lookahead`` / ``est_unit_accuracy_by_lookahead`` /
    ``est_frames_by_lookahead``.

    ``silence_units`` default: ``trace.silence_units`` if the trace has it, else ``{0}``
    (the token format's default silence unit).
    """
    if not hasattr(trace, "units"):  # a path or None failed as "'str' object has no ..."
        raise TypeError(f"trace: got {type(trace).__name__} (allowed: a duplexsim.sim.Trace, "
                        "from duplexsim.sim.run(scenario), or an object with its units, "
                        "decisions and network)")
    if silence_units is None:
        silence_units = getattr(trace, "silence_units", None) or {0}
    silence = frozenset(int(u) for u in silence_units)
    units = np.asarray(trace.units)
    events = detect_events(vad_from_units(units, silence), frame_ms, params)
    row: dict[str, Any] = {"duration_s": units.shape[1] * frame_ms / 1000}
    row.update(summarize_events(events, units.shape[1] * frame_ms))
    row.update(response_metrics(events))
    decisions = getattr(trace, "decisions", None)
    row.update(decision_metrics(decisions))
    est = pd.DataFrame(columns=["agent", "lookahead", "frames", "unit_accuracy", "chunk"])
    if decisions is not None and not decisions.empty:
        est = estimation_table(decisions, silence)
    row.update(estimation_summary(est))
    row.update(network_metrics(getattr(trace, "network", None), chunk_ms))
    if lists:
        row["fto_values_ms"] = events["fto_ms"].dropna().astype(float).tolist()
        weighted = est.assign(w=est["unit_accuracy"] * est["frames"])
        by_l = weighted.groupby("lookahead")[["w", "frames"]].sum()  # pooled over agents
        row["est_lookahead"] = [int(k) for k in by_l.index]
        row["est_unit_accuracy_by_lookahead"] = (by_l["w"] / by_l["frames"]).astype(float).tolist()
        row["est_frames_by_lookahead"] = by_l["frames"].astype(float).tolist()
    return row
