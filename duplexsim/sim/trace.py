"""The record of a simulated conversation: network and decision tables, timelines, files.

Owns :class:`Trace` (``network``, ``decisions`` DataFrames built once from the session's
plain records; ``units`` [2, T] what A and B played on the global 40 ms grid; ``heard``
what each side heard of its partner, when), :meth:`Trace.summary` and :meth:`Trace.save`.
Must not run the simulation.

Every copy of every chunk sent has one ``network`` row whose ``status`` is one of:
``lost``; ``in-flight`` (still on the wire at the end); ``duplicate`` (a second copy, not
used); ``late`` (arrived after its gap was given up, not used); ``waiting`` (held behind a
gap at the end); ``released`` (delivered to the agent side, not yet used at the end);
``used`` (handed to the agent). Its times: ``sent_ms``; ``due_ms``, when the link
scheduled it to arrive (at its send, or as it leaves a queueing hop past the first; NaN
for a lost copy and for one still before such a hop at the end); ``delay_ms`` = ``due_ms -
sent_ms``; ``arrival_ms``, when it reached the receive buffer: ``due_ms`` for a copy that
arrived, NaN for a lost one and for an ``in-flight`` one, even when its ``due_ms`` (after
the end) is known. ``superseded`` marks chunks the receiver had already
estimated before the real one was used. ``mouth_to_ear_ms`` = ``released_ms`` (when the
receive buffer let the chunk out to be heard) minus the start of the chunk on the
speaker's clock (shifted by the speaker's slip): network and receive buffer, per chunk, as
ITU-T G.114 counts it up to the playout buffer's output; ``transit_ms`` = ``arrival_ms``
minus that same start (network only: a chunk is sent when its last frame has been spoken,
``sent_ms``, so this is the chunk's duration on the speaker's clock plus the link's delay).
The receiving agent takes it in at its next decision (``used_ms``). What a side *hears*
(``heard``, ``heard_ms``): released partner chunks played back to back from their
release, as a player that neither drops nor speeds up audio would: after a late burst the
playback stays behind its releases until chunks that never arrive (lost, given up) leave
it room to catch up, so ``heard_ms`` can be later than ``released_ms`` for many chunks
after one delay spike.

A side that waits (``estimation = "wait"``) plays chunk ``j`` shifted by its slip
(``decisions.slip_ms``); the frames of a slip gap are silence, and the global timeline
(``units``, ``heard``, audio) is longer than ``duration_s`` by the largest final slip
(rounded up to whole frames).

Files (:meth:`Trace.save`; each written atomically, ``summary.json`` last): ``network.parquet``,
``decisions.parquet``, ``timeline.parquet`` (frame, t_ms, a_played, b_played, a_heard,
b_heard), ``summary.json``, ``scenario.toml`` (resolved), ``audio.wav`` (stereo, A left).
Parquet files are written from explicit arrow arrays without pandas metadata, so the same
seed gives the same bytes. Wall-clock columns (``compute_wall_ms``) are left out of the
files unless ``compute.model = "measured"`` (then the run is not reproducible anyway);
``stall_ms`` and ``slip_ms`` (always 0 then) unless a side waits.
WAV: units vocoded with the agents' unit tokenizer when one is found (a broken one is an
error, raised before anything is written), else a documented fallback sonification (a sine
per speech frame at ``110 + 7 * (unit % 64)`` Hz, 16 kHz, silence units silent; the
``simulate`` command says so). A save replaces the files of an earlier run in the folder,
and removes the ones it does not write (:data:`RUN_FILES`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from duplexsim.agents.base import silence_units_of
from duplexsim.atomic import atomic_path, output_dir, write_json, write_text
from duplexsim.audio.io import headroom
from duplexsim.config.scenario import Scenario
from duplexsim.errors import InputError
from duplexsim.metrics.estimation import estimation_summary, estimation_table
from duplexsim.metrics.latency import chunk_loss_rate
from duplexsim.sides import SIDES, other
from duplexsim.sim.clock import place_frames
from duplexsim.timebase import round_ms
from duplexsim.tokens import FRAME_MS

if TYPE_CHECKING:
    from duplexsim.sim.session import Session

FALLBACK_SR_HZ = 16000
LIST_COLUMNS = ("estimated_chunks", "estimated_units", "real_units", "played_units")
STALL_COLUMNS = ("stall_ms", "slip_ms")
RUN_FILES = ("network.parquet", "decisions.parquet", "timeline.parquet", "summary.json",
             "scenario.toml", "audio.wav", "metrics.json")
"""What a simulation's folder holds (``metrics.json``: written beside it by ``duplexsim demo``);
a new run into the folder removes those it does not write itself."""
RUN_MARKERS = tuple(name for name in RUN_FILES if name != "audio.wav")
"""Files that make a folder an earlier simulation's (not ``audio.wav``: a continuation's
folder has one too, and the trace would be mixed into it)."""


@dataclass
class Trace:
    """A finished simulated conversation."""

    scenario: Scenario
    network: pd.DataFrame
    decisions: pd.DataFrame
    units: np.ndarray
    """[2, T] int64: what A (row 0) and B (row 1) played on the global 40 ms grid."""
    heard: dict[str, np.ndarray]
    """"a": [T] what A heard of B, "b": [T] what B heard of A (global grid)."""
    silence_units: frozenset[int] = frozenset({0})
    tokenizer_dir: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    """From the simulator: ``"end_ms"``, the ms the simulation stopped at, one past
    :attr:`Session.end_ms <duplexsim.sim.session.Session.end_ms>` (the last send): every
    event before it ran, none at it, so a copy due at ``end_ms`` or later is in flight."""

    def summary(self) -> dict[str, Any]:
        """Counts and means per direction and per agent (plain JSON types)."""
        return _summary(self)

    def timeline(self) -> pd.DataFrame:
        T = self.units.shape[1]
        return pd.DataFrame({
            "frame": np.arange(T), "t_ms": np.arange(T) * FRAME_MS,
            "a_played": self.units[0], "b_played": self.units[1],
            "a_heard": self.heard["a"], "b_heard": self.heard["b"],
        })

    def save(self, out_dir: str | Path, *, audio: bool | None = None) -> Path:
        """Write the trace files into ``out_dir`` (see module doc); returns ``out_dir``.

        All files are written first and moved in together (:func:`duplexsim.atomic.output_dir`):
        a failure leaves ``out_dir`` as it was, and the files of an earlier run that this one
        does not write (``audio.wav`` with ``audio=False``, a ``metrics.json`` computed from
        the earlier trace) are removed, so the folder never mixes two runs.
        """
        from duplexsim.config.toml_writer import dump_toml

        decisions = self.decisions
        if self.scenario.compute.model != "measured":
            decisions = decisions.drop(columns=["compute_wall_ms"], errors="ignore")
        if not (self.scenario.a.waits or self.scenario.b.waits):
            decisions = decisions.drop(columns=list(STALL_COLUMNS), errors="ignore")
        write_wave = self.scenario.output.audio if audio is None else audio
        wave = self.audio() if write_wave else None  # a broken vocoder fails before any write
        with output_dir(out_dir, owned=RUN_FILES, last=("summary.json",)) as out:
            _write_parquet(out / "network.parquet", self.network)
            _write_parquet(out / "decisions.parquet", decisions)
            _write_parquet(out / "timeline.parquet", self.timeline())
            write_text(out / "scenario.toml", dump_toml(self.scenario.resolve()))
            if wave is not None:
                from duplexsim.audio.io import write_audio

                write_audio(out / "audio.wav", *wave)
            write_json(out / "summary.json", self.summary())
        return Path(out_dir)

    def audio(self) -> tuple[np.ndarray, int]:
        """Stereo wave [2, N] of what A and B played, and its sample rate.

        Vocoded with the unit tokenizer of the agents or corpora (``tokenizer_dir``); a
        broken tokenizer there is an :class:`~duplexsim.errors.InputError`, never a silent
        placeholder. Only when no tokenizer is known is the wave the documented sonification
        (:func:`sonify`; ``vocoded`` is then False).
        """
        if self.tokenizer_dir is None:
            return sonify(self.units, self.silence_units), FALLBACK_SR_HZ
        from duplexsim.units import load_tokenizer

        tok = load_tokenizer(self.tokenizer_dir)
        if self.units.size and int(self.units.max()) >= tok.n_units:
            raise InputError(str(self.tokenizer_dir), "n_units",
                             f"{tok.n_units} units cannot vocode unit {int(self.units.max())}",
                             "the unit tokenizer of the agents' vocabulary")
        waves = [np.asarray(tok.decode(u), np.float32) for u in self.units]
        n = min(len(w) for w in waves)
        stereo = np.stack([w[:n] for w in waves])  # [2, N]
        del waves
        # Scaled in place: the waves, their stack and its scaled copy were alive at once (4x
        # a channel, 154 MB per 10 minutes). (Filling one [2, N] array while decoding would
        # hold both channels through the second decode, the peak, instead of one wave.)
        return headroom(stereo, in_place=True), int(tok.sample_rate_hz)

    @property
    def vocoded(self) -> bool:
        """True when ``audio()`` vocodes units; False: a sonification (no tokenizer known)."""
        return self.tokenizer_dir is not None


def sonify(units: np.ndarray, silence_units: frozenset[int]) -> np.ndarray:
    """Fallback audio: a sine per speech frame (pitch from the unit id), silence silent."""
    spf = FALLBACK_SR_HZ * FRAME_MS // 1000
    out = np.zeros((units.shape[0], units.shape[1] * spf), np.float32)
    for ch, row in enumerate(units):
        freq = np.repeat(110.0 + 7.0 * (row % 64), spf)
        speech = np.repeat(~np.isin(row, list(silence_units)), spf)
        phase = 2 * np.pi * np.cumsum(freq) / FALLBACK_SR_HZ
        out[ch] = (0.2 * np.sin(phase) * speech).astype(np.float32)
    return out


def _write_parquet(path: Path, df: pd.DataFrame) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrays, names = [], []
    for name in df.columns:
        col = df[name]
        if name in LIST_COLUMNS:
            arrays.append(pa.array([list(map(int, v)) for v in col], type=pa.list_(pa.int64())))
        else:
            arrays.append(pa.array(col.to_numpy()))
        names.append(name)
    table = pa.Table.from_arrays(arrays, names=names)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd", write_statistics=False)


# ---------------------------------------------------------------------- building
def build_trace(session: Session) -> Trace:
    """Turn a finished :class:`~duplexsim.sim.session.Session`'s records into a Trace."""
    from duplexsim.sim.build import tokenizer_dir

    scenario: Scenario = session.scenario
    T = max(1, scenario.duration_ms // FRAME_MS)
    # a waiting side's slip, or a clock behind the other (offset, drift), plays past the
    # global clock's last chunk end: the timeline stretches to the last frame played
    n, C = scenario.n_chunks, scenario.chunk_ms
    late = max(side.clock.chunk_end(n - 1) + side.slip_ms for side in session.sides.values())
    T += -(-max(0, late - n * C) // FRAME_MS)
    units = np.stack([_timeline(session, k, T) for k in SIDES])
    heard_units: dict[str, np.ndarray] = {}
    heard_ms: dict[tuple[str, int], int] = {}
    for key in SIDES:
        heard_units[key] = _heard(session, key, T, heard_ms)
    network = _network_table(session, heard_ms)
    decisions = _decisions_table(session)
    silence = silence_units_of(session.agents["a"]) | silence_units_of(session.agents["b"])
    return Trace(scenario=scenario, network=network, decisions=decisions, units=units,
                 heard=heard_units, silence_units=silence, tokenizer_dir=tokenizer_dir(scenario),
                 extra={"end_ms": int(session.env.now)})  # Session.end_ms + 1


def _timeline(session: Session, key: str, T: int) -> np.ndarray:
    """One side's played frames on the global grid (its clock may be offset/drifting)."""
    out = np.full(T, session.sides[key].silence_unit, np.int64)
    for j, frames in session.recorder.played[key].items():
        at = session.chunk_placement(key, j)  # the same placement the envs score on
        keep = (at.frames >= 0) & (at.frames < T)
        out[at.frames[keep]] = np.asarray(frames)[at.local[keep]]
    return out


def _heard(session: Session, key: str, T: int, heard_ms: dict[tuple[str, int], int],
           ) -> np.ndarray:
    """Partner chunks released to ``key``, played back to back from their release at the
    pace of ``key``'s own clock (a fast clock plays a chunk in less global time), resampled
    to the global frames as a side's own chunks are (:func:`~duplexsim.sim.clock.place_frames`)."""
    C = session.scenario.chunk_ms
    rate = session.sides[key].clock.rate
    partner = other(key)
    out = np.full(T, session.sides[partner].silence_unit, np.int64)
    end = 0
    buffer = session.sides[key].buffer
    for chunk in sorted(buffer.release_ms):
        start = max(buffer.release_ms[chunk], end)
        end = start + round_ms(C / rate)
        heard_ms[(partner, chunk)] = start
        frames = np.asarray(session.recorder.played[partner][chunk])
        starts = [start + round_ms(i * FRAME_MS / rate) for i in range(len(frames))]
        at = place_frames(np.array(starts, np.int64), end, FRAME_MS)  # as a side plays its own
        keep = (at.frames >= 0) & (at.frames < T)
        out[at.frames[keep]] = frames[at.local[keep]]
    return out


def _network_table(session: Session, heard_ms: dict[tuple[str, int], int]) -> pd.DataFrame:
    rows = []
    rec = session.recorder
    for sender in SIDES:
        receiver = other(sender)
        buffer = session.sides[receiver].buffer
        used, estimated = rec.used_ms[receiver], rec.estimated_ms[receiver]
        clock, slip = session.sides[sender].clock, rec.chunk_slip_ms[sender]
        for record in session.links[sender].records:
            row = dict(record)
            k = row["chunk"]
            arrived = row.pop("arrived", False)
            status = row.pop("status", None)
            row["due_ms"] = row["arrival_ms"]
            if not row["lost"] and not arrived:
                status = "in-flight"
                row["arrival_ms"] = math.nan
            elif row["lost"]:
                status = "lost"
            elif status in ("released", "waiting"):
                status = ("used" if k in used else "released") if k in buffer.release_ms \
                    else "waiting"
            row["status"] = status
            first_use = status in ("used", "released")
            row["released_ms"] = float(buffer.release_ms[k]) if first_use else math.nan
            row["used_ms"] = float(used[k]) if status == "used" else math.nan
            row["estimated_ms"] = float(estimated[k]) if k in estimated else math.nan
            row["superseded"] = bool(status == "used" and k in estimated
                                     and estimated[k] <= used[k])
            heard = heard_ms.get((sender, k)) if first_use else None
            row["heard_ms"] = math.nan if heard is None else float(heard)
            spoken_ms = clock.chunk_start(k) + slip[k]  # its first frame, on its clock
            row["mouth_to_ear_ms"] = row["released_ms"] - spoken_ms
            row["transit_ms"] = row["arrival_ms"] - spoken_ms
            rows.append(row)
    df = pd.DataFrame(rows)
    df = df.sort_values(["direction", "chunk", "copy"], kind="stable").reset_index(drop=True)
    df.insert(df.columns.get_loc("duplicate") + 1, "reordered", _reordered(df))
    return df


def _reordered(df: pd.DataFrame) -> np.ndarray:
    """A first copy is reordered if a chunk sent after it (same direction) arrived earlier."""
    out = np.zeros(len(df), dtype=bool)
    for _, group in df[(df["copy"] == 0) & df["arrival_ms"].notna()].groupby("direction"):
        arrival = group["arrival_ms"].to_numpy()
        later_min = np.minimum.accumulate(arrival[::-1])[::-1]
        later_min = np.append(later_min[1:], np.inf)
        out[group.index.to_numpy()] = arrival > later_min
    return out


def _decisions_table(session: Session) -> pd.DataFrame:
    rows = []
    played = session.recorder.played
    for rec in session.recorder.decisions:
        partner = other(rec["agent"])
        chunks = rec["estimated_chunks"].tolist()
        real = [int(u) for k in chunks for u in played[partner].get(k, [])]
        rows.append({**rec, "estimated_chunks": chunks,
                     "estimated_units": rec["estimated_units"].tolist(),
                     "played_units": rec["played_units"].tolist(), "real_units": real})
    df = pd.DataFrame(rows)
    order = ["agent", "name", "chunk", "planned_ms", "decided_ms", "deadline_ms", "ready_ms",
             "waited_ms", "lookahead", "missing", "agent_lookahead", "estimated_chunks",
             "estimated_units", "real_units", "generated_tokens", "prefill_tokens",
             "compute_ms", "compute_wall_ms", "deadline_miss", "skipped", "stall_ms",
             "slip_ms", "prologue", "played_units"]
    return df[order].sort_values(["agent", "chunk"], kind="stable").reset_index(drop=True)


def _summary(trace: Trace) -> dict[str, Any]:
    net, dec = trace.network, trace.decisions
    out: dict[str, Any] = {
        "name": trace.scenario.name, "seed": trace.scenario.seed,
        "chunk_ms": trace.scenario.chunk_ms, "duration_s": trace.scenario.duration_s,
        "n_chunks": trace.scenario.n_chunks, "directions": {}, "agents": {},
    }
    for direction, g in net.groupby("direction"):
        first = g[g["copy"] == 0]
        counts = {s: int((g["status"] == s).sum()) for s in
                  ("used", "released", "waiting", "late", "duplicate", "lost", "in-flight")}
        arrived = g["arrival_ms"].notna()
        out["directions"][str(direction)] = {
            "chunks_sent": len(first), "copies": len(g), **counts,
            "arrived": int(arrived.sum()),
            "accounted": bool(sum(counts.values()) == len(g)),
            "reordered": int(g["reordered"].sum()), "superseded": int(g["superseded"].sum()),
            "loss_rate": _number(chunk_loss_rate(g)),  # none settled: no rate (null)
            "delay_mean_ms": _mean(g.loc[arrived, "delay_ms"]),
            "mouth_to_ear_mean_ms": _mean(g["mouth_to_ear_ms"].dropna()),
        }
    for agent, g in dec.groupby("agent"):
        # scored as the metrics score it (each decision's estimate against the real frames,
        # the shorter of the two): one definition of the number, not two
        accuracy = estimation_summary(estimation_table(g, trace.silence_units))
        out["agents"][str(agent)] = {
            "name": str(g["name"].iloc[0]), "decisions": len(g),
            "deadline_misses": int(g["deadline_miss"].sum()), "skipped": int(g["skipped"].sum()),
            "stall_total_ms": int(g["stall_ms"].sum()),
            "lookahead_mean": _mean(g["lookahead"]), "lookahead_max": int(g["lookahead"].max()),
            "compute_ms_mean": _mean(g["compute_ms"]),
            "estimated_frames": int(sum(len(v) for v in g["estimated_units"])),
            "estimation_unit_accuracy": _number(accuracy["est_unit_accuracy"]),
        }
    return out


def _mean(x: pd.Series) -> float | None:
    return float(x.mean()) if len(x) else None


def _number(x: float) -> float | None:
    """``x``, or None (JSON null) for NaN: ``summary.json`` is strict JSON, no ``NaN``."""
    return None if math.isnan(x) else x
