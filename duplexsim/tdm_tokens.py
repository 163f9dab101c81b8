"""The TDM token format: time-division multiplexing with ``<idle>`` (MiniCPM-duplex).

"Beyond the Turn-Based Game: Enabling Real-Time Conversations with Duplex Models"
(Zhang et al. 2024, arXiv 2406.15718) cuts time into *slices*: the model reads the
partner's slice, then writes its own slice, or ``<idle>`` when it stays silent, or stops
with ``<eos>`` inside the slice. Here the slices hold 25 Hz speech units (the same units
and model code as the SyncLLM agents, :mod:`duplexsim.tokens`).

Owns: encoding two unit streams into the slice sequence and back, the per-slice pieces a
streaming agent needs, and a readable text form. Must not touch models, audio or text.

The sequence, self-centric (own stream = speaker 0), slice ``m`` covering frames
``[m*S, (m+1)*S)`` (``S = slice_ms / 40``)::

    [S0] own piece 0  [S1] partner piece 0  [S0] own piece 1  [S1] partner piece 1 ...

so own slice ``m`` always follows partner slice ``m - 1``: the agent answers what it has
heard. A *piece* is one speaker's slice:

- ``<idle>`` when every frame of the slice is silent;
- else the slice's frames as units, *not* deduplicated (a slice is 1.2 s: spreading the
  novel units over it, as SyncLLM's interpolation does over a 160 ms chunk, would move
  onsets and offsets by up to a second), cut after the last speech frame and closed by
  ``<eos>`` when the slice ends in silence (the speaker stops inside the slice); a
  piece of exactly ``S`` units has no ``<eos>``.

Decoding fills ``<idle>`` slices and the frames after ``<eos>`` with ``silence_unit``.
Round trip: ``decode(encode(a, b))`` gives back ``a`` and ``b`` exactly when every silent
frame is ``silence_unit``; with several silence units (``silence_units``) a silent
slice, and the silent tail of a slice, come back as ``silence_unit`` and every other
frame as it was (voice activity is kept exactly).

Ids: units ``0..n_units-1``, ``[S0] = n_units``, ``[S1] = n_units + 1``, ``<idle> =
n_units + 2``, ``<eos> = n_units + 3`` (:class:`duplexsim.models.vocab.TdmVocab` puts the
model's specials and text after them). Malformed sequences raise ``ValueError`` naming
the position.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from duplexsim.tokens import DEFAULT_N_UNITS, FRAME_MS
from duplexsim.unit_arrays import as_id_array, check_units

ArrayLike = Sequence[int] | np.ndarray


def min_tdm_context(slice_frames: int) -> int:
    """Tokens a TDM agent's context needs at least for slices of ``slice_frames`` frames: the
    last slice pair it answers (two tags, two pieces of up to ``S`` tokens), ``[S0]``, and
    room for its own piece and the next tag: ``3 S + 5``. Less, and sliding the window
    dropped the partner slice the agent was deciding on (it decided on ``[S0]`` alone)."""
    return 3 * int(slice_frames) + 5


@dataclass(frozen=True)
class TdmFormat:
    """The TDM slice format for one slice length and unit inventory."""

    slice_ms: int = 1200
    """Slice length, a positive multiple of ``frame_ms`` (paper: about 2 s of input)."""
    n_units: int = DEFAULT_N_UNITS
    silence_unit: int = 0
    """Unit that fills ``<idle>`` slices and the frames after ``<eos>``."""
    silence_units: frozenset[int] = field(default_factory=frozenset)
    """Units that count as silence when encoding (``silence_unit`` always does)."""
    frame_ms: int = FRAME_MS

    def __post_init__(self) -> None:
        for name in ("slice_ms", "frame_ms", "n_units", "silence_unit"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | np.integer):
                raise ValueError(f"TdmFormat.{name}: must be an integer, got {value!r}")
        if self.frame_ms <= 0 or self.slice_ms <= 0 or self.slice_ms % self.frame_ms:
            raise ValueError(f"TdmFormat.slice_ms: {self.slice_ms} is not a positive multiple "
                             f"of {self.frame_ms} ms (allowed: 40, 80, ..., e.g. 1200)")
        if self.n_units < 1 or not 0 <= self.silence_unit < self.n_units:
            raise ValueError(f"TdmFormat.silence_unit: {self.silence_unit} out of range "
                             f"(allowed: 0..{self.n_units - 1})")
        bad = [u for u in self.silence_units if not 0 <= u < self.n_units]
        if bad:
            raise ValueError(f"TdmFormat.silence_units: {sorted(bad)} out of range "
                             f"(allowed: 0..{self.n_units - 1})")
        object.__setattr__(self, "silence_units",
                           frozenset(int(u) for u in self.silence_units) | {self.silence_unit})

    # ------------------------------------------------------------------ ids
    @property
    def S0(self) -> int:  # noqa: N802 - same tags as the SyncLLM format
        return self.n_units

    @property
    def S1(self) -> int:  # noqa: N802
        return self.n_units + 1

    @property
    def idle(self) -> int:
        return self.n_units + 2

    @property
    def eos(self) -> int:
        return self.n_units + 3

    @property
    def n_ids(self) -> int:
        """Ids the format uses: units, two tags, ``<idle>``, ``<eos>``."""
        return self.n_units + 4

    @property
    def slice_frames(self) -> int:
        """Frames ``S`` in one slice."""
        return self.slice_ms // self.frame_ms

    def n_slices(self, n_frames: int) -> int:
        """Slices needed for ``n_frames`` frames (a partial last slice counts)."""
        return -(-int(n_frames) // self.slice_frames)

    # ------------------------------------------------------------------ one piece
    def encode_piece(self, frames: ArrayLike) -> list[int]:
        """One speaker's slice (``S`` frames) -> ``<idle>`` | units [``<eos>``]."""
        u = self._check_units(frames, "frames")
        if len(u) != self.slice_frames:
            raise ValueError(f"encode_piece: {len(u)} frames (allowed: {self.slice_frames} = "
                             f"slice_ms {self.slice_ms} / {self.frame_ms})")
        speech = np.flatnonzero(~self.is_silence(u))
        if len(speech) == 0:
            return [self.idle]
        n = int(speech[-1]) + 1
        return [int(x) for x in u[:n]] + ([self.eos] if n < self.slice_frames else [])

    def decode_piece(self, ids: ArrayLike, where: int = 0) -> np.ndarray:
        """A piece (without its speaker tag) -> ``S`` frames; ``where`` = the piece's position
        in a longer sequence, for error messages."""
        arr = as_id_array(ids)
        S = self.slice_frames
        out = np.full(S, self.silence_unit, dtype=np.int64)
        if len(arr) == 1 and arr[0] == self.idle:
            return out
        body = arr[:-1] if len(arr) and arr[-1] == self.eos else arr
        bad = np.flatnonzero((body < 0) | (body >= self.n_units))
        if len(bad):
            i = int(bad[0])
            raise ValueError(f"position {where + i}: id {int(body[i])} inside a piece (allowed: "
                             f"units 0..{self.n_units - 1}, one <idle> alone, or a final <eos>)")
        if len(body) == 0:
            raise ValueError(f"position {where}: empty piece (allowed: <idle>, or 1..{S} "
                             "units then <eos> unless there are exactly S)")
        if len(body) > S:
            raise ValueError(f"position {where + S}: piece of {len(body)} units (allowed: at "
                             f"most {S} = one slice)")
        if len(body) < S and len(body) == len(arr):
            raise ValueError(f"position {where + len(arr)}: piece of {len(body)} units without "
                             f"<eos> (allowed: exactly {S} units, or fewer then <eos>)")
        if len(body) == S and len(body) < len(arr):
            raise ValueError(f"position {where + S}: <eos> after a full slice of {S} units "
                             "(allowed: <eos> only inside a slice)")
        out[: len(body)] = body
        return out

    def is_silence(self, units: np.ndarray) -> np.ndarray:
        return np.isin(units, np.fromiter(self.silence_units, dtype=np.int64))

    # ------------------------------------------------------------------ whole streams
    def encode(self, own: ArrayLike, partner: ArrayLike) -> list[int]:
        """Two equal-length 25 Hz unit streams -> the slice sequence (a partial last slice is
        padded with silence)."""
        u0, u1 = self._check_units(own, "own"), self._check_units(partner, "partner")
        if len(u0) != len(u1):
            raise ValueError(f"encode: streams differ in length ({len(u0)} vs {len(u1)} frames)"
                             " (allowed: equal lengths)")
        S = self.slice_frames
        total = self.n_slices(len(u0)) * S
        u0, u1 = (np.concatenate([u, np.full(total - len(u), self.silence_unit, np.int64)])
                  for u in (u0, u1))
        out: list[int] = []
        for m in range(total // S):
            out += [self.S0, *self.encode_piece(u0[m * S:(m + 1) * S])]
            out += [self.S1, *self.encode_piece(u1[m * S:(m + 1) * S])]
        return out

    def decode(self, ids: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        """The slice sequence -> (own, partner) frames, each ``[n_slices * S]``.

        The sequence alternates ``[S0] piece [S1] piece``, starting with ``[S0]``; it may end
        after an own piece (the partner's last slice is then silent).
        """
        own: list[np.ndarray] = []
        partner: list[np.ndarray] = []
        for speaker, frames in self.slices(ids):
            (own if speaker == 0 else partner).append(frames)
        if len(partner) < len(own):
            partner.append(np.full(self.slice_frames, self.silence_unit, np.int64))
        empty = np.zeros(0, np.int64)
        return (np.concatenate(own) if own else empty,
                np.concatenate(partner) if partner else empty)

    def slices(self, ids: ArrayLike) -> list[tuple[int, np.ndarray]]:
        """``(speaker, frames [S])`` for every piece, in sequence order."""
        arr = as_id_array(ids)
        tags = np.flatnonzero((arr == self.S0) | (arr == self.S1))
        if len(arr) and (len(tags) == 0 or tags[0] != 0):
            raise ValueError(f"position 0: id {int(arr[0])} (allowed: the sequence starts with "
                             f"[S0] = {self.S0})")
        out: list[tuple[int, np.ndarray]] = []
        for i, start in enumerate(tags):
            speaker = 0 if arr[start] == self.S0 else 1
            if speaker != i % 2:
                want = "[S0]" if i % 2 == 0 else "[S1]"
                raise ValueError(f"position {int(start)}: {['[S0]', '[S1]'][speaker]} where "
                                 f"{want} belongs (allowed: [S0] and [S1] alternate)")
            end = int(tags[i + 1]) if i + 1 < len(tags) else len(arr)
            out.append((speaker, self.decode_piece(arr[start + 1:end], where=int(start) + 1)))
        return out

    def render(self, ids: ArrayLike) -> str:
        """Readable text: ``[S0] 12 40 <eos> [S1] <idle> ...``."""
        names = {self.S0: "[S0]", self.S1: "[S1]", self.idle: "<idle>", self.eos: "<eos>"}
        return " ".join(names.get(int(i), str(int(i))) for i in as_id_array(ids))

    def _check_units(self, units: ArrayLike, name: str) -> np.ndarray:
        return check_units(units, name, self.n_units)
