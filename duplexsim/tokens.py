"""The SyncLLM token format (DESIGN.md "Token format", normative; paper section 3.2).

Owns: turning two 25 Hz unit streams into the interleaved, deduplicated chunk sequence
``[S0] own-novel-units [S1] partner-novel-units [S0] ...`` and back (interpolation),
the per-chunk pieces a streaming agent needs, and a readable text form (the checks of the
unit and id arrays it takes: :mod:`duplexsim.unit_arrays`).
Must not touch: models, audio, text tokenizers. Ids ``>= n_units + 2`` belong to the
model vocabulary (text and specials) and are never valid inside a duplex segment.

Conventions pinned here:

- A frame is *novel* when its unit differs from the previous frame of the same stream,
  across chunk borders too; the very first frame of a stream is always novel.
- Interpolation: a chunk whose stream has ``n`` novel units gives frame ``f`` of its
  ``F`` frames the unit ``ceil((f + 1) * n / F) - 1``. For ``n <= F`` this is exactly
  "unit i covers frames floor(i*F/n) .. floor((i+1)*F/n)-1"; for ``n > F`` it keeps
  ``F`` evenly spaced units, always including the last one (which is the stream's
  state entering the next chunk, so deduplication stays consistent).
- A chunk with no novel unit repeats the previous frame (``silence_unit`` at the start).

Everything is vectorised with numpy: an hour of units (90 000 frames a stream) encodes
and decodes in milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from duplexsim.unit_arrays import ArrayLike, as_id_array, check_chunk, check_units

# the checks of unit and id arrays moved to unit_arrays.py: importable from here as before
__all__ = ["DEFAULT_N_UNITS", "FRAME_MS", "MAX_N_UNITS", "ArrayLike", "DecodeResult", "Prev",
           "SyncFormat", "as_id_array", "check_chunk", "check_units", "format_roundtrip",
           "min_context_tokens"]

FRAME_MS = 40
"""One speech-unit frame (25 Hz, the paper's unit rate): the time grid of every stream."""

DEFAULT_N_UNITS = 501
"""The default unit inventory (the paper's 500 HuBERT k-means clusters + silence): of a
new tokenizer, corpus, model card and token format, and of the shipped dialogue."""

MAX_N_UNITS = 32768
"""The largest unit inventory a tokenizer may have (``duplexsim units train`` and
``duplexsim corpus build --n-units``; HuBERT k-means setups use 50-2000): unit ids
``0..32767`` fit the int16 that a corpus stores its units in (``units/ID.npy``,
:func:`duplexsim.corpora.build.write_units`; the shipped dialogue) and the 2-byte frames the
simulated link sends (:data:`duplexsim.sim.link.BYTES_PER_FRAME`)."""

Prev = tuple[int | None, int | None]
"""Each stream's unit before the first decoded chunk; ``None`` = start of the stream."""


@dataclass(frozen=True)
class DecodeResult:
    """Output of lenient decoding: the frames plus what had to be repaired."""

    units0: np.ndarray
    """Speaker 0 (own) frames, int64 ``[n_chunks * F]``."""
    units1: np.ndarray
    """Speaker 1 (partner) frames, int64 ``[n_chunks * F]``."""
    n_repairs: int = 0
    """Number of ids dropped to make the sequence well formed (0 for clean input)."""
    repairs: dict[str, int] = field(default_factory=dict)
    """Repairs by kind: ``before_s0``, ``out_of_range``, ``text_in_segment``, ``repeated_s1``."""


@dataclass(frozen=True)
class SyncFormat:
    """The duplex token format for one chunk size and unit inventory."""

    chunk_ms: int = 160
    """Chunk length; a positive multiple of ``frame_ms`` (paper: 160, 200, 240)."""
    frame_ms: int = FRAME_MS
    """Unit frame length (25 Hz units, as in the paper)."""
    n_units: int = DEFAULT_N_UNITS
    """Unit ids are ``0 .. n_units-1`` (paper: 500 HuBERT clusters + silence)."""
    silence_unit: int = 0
    """Unit assumed before the first frame when a stream's first chunk is empty."""

    def __post_init__(self) -> None:
        for name in ("chunk_ms", "frame_ms", "n_units", "silence_unit"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | np.integer):
                raise ValueError(f"SyncFormat.{name}: must be an integer, got {value!r}")
        if self.frame_ms <= 0:
            raise ValueError(f"SyncFormat.frame_ms: must be > 0, got {self.frame_ms}")
        if self.chunk_ms <= 0 or self.chunk_ms % self.frame_ms:
            raise ValueError(
                f"SyncFormat.chunk_ms: {self.chunk_ms} is not a positive multiple of "
                f"frame_ms={self.frame_ms} (allowed: {self.frame_ms}, {2 * self.frame_ms}, ...; "
                f"e.g. 160, 200, 240)"
            )
        if self.n_units <= 0:
            raise ValueError(f"SyncFormat.n_units: must be > 0, got {self.n_units}")
        if not 0 <= self.silence_unit < self.n_units:
            raise ValueError(
                f"SyncFormat.silence_unit: {self.silence_unit} out of range "
                f"(allowed: 0..{self.n_units - 1})"
            )

    # ------------------------------------------------------------------ ids
    @property
    def S0(self) -> int:  # noqa: N802 - the paper's name for the tag
        """Id of the ``[S0]`` tag (own speaker; also the chunk clock)."""
        return self.n_units

    @property
    def S1(self) -> int:  # noqa: N802
        """Id of the ``[S1]`` tag (partner speaker)."""
        return self.n_units + 1

    @property
    def n_ids(self) -> int:
        """Ids used by the duplex format: units plus the two tags."""
        return self.n_units + 2

    @property
    def frames_per_chunk(self) -> int:
        """Frames ``F`` in one chunk (``chunk_ms // frame_ms``)."""
        return self.chunk_ms // self.frame_ms

    def n_chunks(self, n_frames: int) -> int:
        """Chunks needed for ``n_frames`` frames (a partial last chunk counts)."""
        return -(-int(n_frames) // self.frames_per_chunk)

    # ------------------------------------------------------------------ whole streams
    def encode(self, units0: ArrayLike, units1: ArrayLike) -> list[int]:
        """Interleave two equal-length 25 Hz unit streams into duplex token ids.

        A partial last chunk is padded by repeating each stream's last unit.
        Raises ``ValueError`` naming the stream and position of a bad unit.
        """
        u0 = self._check_units(units0, "units0")
        u1 = self._check_units(units1, "units1")
        if len(u0) != len(u1):
            raise ValueError(
                f"encode: streams differ in length: units0 has {len(u0)} frames, "
                f"units1 has {len(u1)} (allowed: equal lengths)"
            )
        if len(u0) == 0:
            return []
        return _encode_arrays(self._pad(u0), self._pad(u1), self.frames_per_chunk, self.S0, self.S1)

    def decode(
        self, ids: ArrayLike, lenient: bool = False, prev: Prev = (None, None)
    ) -> tuple[np.ndarray, np.ndarray]:
        """Token ids -> ``(units0, units1)`` interpolated frames, ``n_chunks * F`` each.

        ``prev`` gives each stream's unit before the first chunk (``None`` = start of the
        conversation, i.e. ``silence_unit``), for decoding a chunk taken out of a stream.
        Malformed input raises ``ValueError`` naming the position unless ``lenient``.
        """
        if lenient:
            res = self.decode_lenient(ids, prev=prev)
            return res.units0, res.units1
        arr = as_id_array(ids)
        self._check_ids(arr)
        return self._decode_clean(arr, prev)

    def decode_lenient(self, ids: ArrayLike, prev: Prev = (None, None)) -> DecodeResult:
        """Decode raw model output: drop what is malformed, count it, never raise on content."""
        arr = as_id_array(ids)
        keep, repairs = self._repair_mask(arr)
        u0, u1 = self._decode_clean(arr[keep], prev)
        return DecodeResult(u0, u1, int(sum(repairs.values())), repairs)

    # ------------------------------------------------------------------ streaming pieces
    def encode_stream_chunk(self, units: ArrayLike, prev: int | None) -> list[int]:
        """Novel units of one stream in one chunk (``prev`` = the stream's previous frame)."""
        u = self._check_units(units, "units")
        if len(u) != self.frames_per_chunk:
            raise ValueError(
                f"encode_stream_chunk: got {len(u)} frames (allowed: {self.frames_per_chunk})"
            )
        before = np.empty(len(u), dtype=np.int64)
        before[0] = -1 if prev is None else int(prev)
        before[1:] = u[:-1]
        return u[u != before].tolist()

    def encode_chunk(
        self, own: ArrayLike, partner: ArrayLike, prev_own: int | None, prev_partner: int | None
    ) -> list[int]:
        """One chunk: ``[S0]`` + own novel units (+ ``[S1]`` + partner novel units, if any)."""
        out = [self.S0, *self.encode_stream_chunk(own, prev_own)]
        novel = self.encode_stream_chunk(partner, prev_partner)
        if novel:
            out += [self.S1, *novel]
        return out

    def decode_stream_chunk(self, novel_units: ArrayLike, prev_unit: int | None) -> np.ndarray:
        """Interpolate one stream's novel units over a chunk's ``F`` frames (int64 ``[F]``)."""
        novel = self._check_units(novel_units, "novel_units")
        F = self.frames_per_chunk
        n = len(novel)
        if n == 0:
            fill = self.silence_unit if prev_unit is None else int(prev_unit)
            return np.full(F, fill, dtype=np.int64)
        frames = np.arange(F, dtype=np.int64)
        return novel[((frames + 1) * n + F - 1) // F - 1]

    # ------------------------------------------------------------------ text form
    def render(self, ids: ArrayLike) -> str:
        """Readable form: ``[S0] 75 [S1] 89 [S0] 17 338``; model-vocabulary ids as ``<id>``."""
        names = []
        for i in as_id_array(ids).tolist():
            if i == self.S0:
                names.append("[S0]")
            elif i == self.S1:
                names.append("[S1]")
            elif 0 <= i < self.n_units:
                names.append(str(i))
            else:
                names.append(f"<{i}>")
        return " ".join(names)

    def parse(self, text: str) -> list[int]:
        """Inverse of :meth:`render`; a bad word raises ``ValueError`` naming its position."""
        out: list[int] = []
        for pos, word in enumerate(text.split()):
            if word == "[S0]":
                out.append(self.S0)
            elif word == "[S1]":
                out.append(self.S1)
            elif word.startswith("<") and word.endswith(">") and word[1:-1].isdigit():
                value = int(word[1:-1])
                if value < self.n_ids:
                    raise ValueError(
                        f"parse: word {pos} {word!r}: <id> is for model-vocabulary ids "
                        f"(allowed: <{self.n_ids}> and above)"
                    )
                out.append(value)
            elif word.isdigit() and int(word) < self.n_units:
                out.append(int(word))
            else:
                raise ValueError(
                    f"parse: word {pos} {word!r} is not a token "
                    f"(allowed: [S0], [S1], units 0..{self.n_units - 1}, "
                    f"<id> for id >= {self.n_ids})"
                )
        return out

    # ------------------------------------------------------------------ internals
    def _check_units(self, units: ArrayLike, name: str) -> np.ndarray:
        return check_units(units, name, self.n_units)

    def _pad(self, u: np.ndarray) -> np.ndarray:
        missing = self.n_chunks(len(u)) * self.frames_per_chunk - len(u)
        return np.concatenate([u, np.full(missing, u[-1], dtype=np.int64)]) if missing else u

    def _check_ids(self, arr: np.ndarray) -> None:
        if arr.size == 0:
            return
        if arr[0] != self.S0:
            raise ValueError(
                f"decode: position 0: expected [S0] (id {self.S0}) to open the first chunk, "
                f"got {self.render(arr[:1])}"
            )
        bad = np.flatnonzero((arr < 0) | (arr >= self.n_ids))
        if bad.size:
            i = int(bad[0])
            what = "out of range" if arr[i] < 0 else "text/special id inside a duplex segment"
            raise ValueError(
                f"decode: position {i}: id {int(arr[i])} is {what} "
                f"(allowed: units 0..{self.n_units - 1}, [S0]={self.S0}, [S1]={self.S1})"
            )
        s1_seen = _s1_rank_in_chunk(arr, self.S0, self.S1)
        extra = np.flatnonzero(s1_seen > 1)
        if extra.size:
            i = int(extra[0])
            raise ValueError(
                f"decode: position {i}: second [S1] in one chunk (allowed: at most one [S1] "
                f"between two [S0])"
            )

    def _repair_mask(self, arr: np.ndarray) -> tuple[np.ndarray, dict[str, int]]:
        """Which ids to keep so that the rest is well formed, and what was dropped."""
        repairs: dict[str, int] = {}
        keep = np.ones(arr.size, dtype=bool)
        first_s0 = np.flatnonzero(arr == self.S0)
        start = int(first_s0[0]) if first_s0.size else arr.size
        if start:
            repairs["before_s0"] = start
            keep[:start] = False
        body = arr[start:]
        out_of_range = body < 0
        text = body >= self.n_ids
        keep[start:] &= ~(out_of_range | text)
        if out_of_range.any():
            repairs["out_of_range"] = int(out_of_range.sum())
        if text.any():
            repairs["text_in_segment"] = int(text.sum())
        kept_idx = np.flatnonzero(keep)
        rank = _s1_rank_in_chunk(arr[kept_idx], self.S0, self.S1)
        repeated = rank > 1
        if repeated.any():
            keep[kept_idx[repeated]] = False
            repairs["repeated_s1"] = int(repeated.sum())
        return keep, repairs

    def _decode_clean(self, arr: np.ndarray, prev: Prev) -> tuple[np.ndarray, np.ndarray]:
        """Decode a well-formed id array (leading [S0], ids in range, one [S1] a chunk)."""
        F = self.frames_per_chunk
        for p in prev:
            if p is not None and not 0 <= p < self.n_units:
                raise ValueError(
                    f"decode: prev unit {p} out of range (allowed: 0..{self.n_units - 1})"
                )
        if arr.size == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        is_s0 = arr == self.S0
        chunk = np.cumsum(is_s0) - 1  # chunk index of every position
        n_chunks = int(chunk[-1]) + 1
        marker = np.where(is_s0 | (arr == self.S1), np.arange(arr.size), 0)
        np.maximum.accumulate(marker, out=marker)
        stream1 = arr[marker] == self.S1
        is_unit = arr < self.n_units
        out = []
        for s, mask in ((0, is_unit & ~stream1), (1, is_unit & stream1)):
            p = prev[s]
            start = self.silence_unit if p is None else int(p)
            out.append(_interpolate(arr[mask], chunk[mask], n_chunks, F, start))
        return out[0], out[1]


def min_context_tokens(frames_per_chunk: int) -> int:
    """The shortest context a SyncLLM agent runs with: four chunks of both sides at their
    longest (a speaker tag and ``F`` units each)."""
    return 4 * 2 * (frames_per_chunk + 1)


def _s1_rank_in_chunk(arr: np.ndarray, s0: int, s1: int) -> np.ndarray:
    """For each position, how many [S1] tags its chunk has up to and including it."""
    is_s1 = (arr == s1).astype(np.int64)
    total = np.cumsum(is_s1)
    s0_pos = np.flatnonzero(arr == s0)
    # [S1] count before each chunk's [S0]; positions before the first [S0] form chunk -1
    base = np.zeros(arr.size, dtype=np.int64)
    base[s0_pos] = total[s0_pos] - is_s1[s0_pos]
    np.maximum.accumulate(base, out=base)
    return np.where(is_s1 == 1, total - base, 0)


def _encode_arrays(u0: np.ndarray, u1: np.ndarray, F: int, s0: int, s1: int) -> list[int]:
    """Vectorised encoder; ``u0``/``u1`` are whole chunks of frames."""
    n_chunks = len(u0) // F
    idx0, idx1 = (np.flatnonzero(np.concatenate([[True], u[1:] != u[:-1]])) for u in (u0, u1))
    c0 = np.bincount(idx0 // F, minlength=n_chunks)
    c1 = np.bincount(idx1 // F, minlength=n_chunks)
    has1 = (c1 > 0).astype(np.int64)
    length = 1 + c0 + has1 + c1
    start = np.concatenate([[0], np.cumsum(length)[:-1]])
    out = np.empty(int(length.sum()), dtype=np.int64)
    out[start] = s0
    out[(start + 1 + c0)[has1 == 1]] = s1
    for u, idx, counts, offset in ((u0, idx0, c0, start + 1), (u1, idx1, c1, start + 2 + c0)):
        k = idx // F
        before = np.concatenate([[0], np.cumsum(counts)[:-1]])  # novel units in earlier chunks
        rank = np.arange(len(idx)) - before[k]
        out[offset[k] + rank] = u[idx]
    return out.tolist()


def format_roundtrip(units: np.ndarray, chunk_ms: int, n_units: int,
                     silence_unit: int) -> np.ndarray:
    """``[2, T]`` units through the format and back, cut to ``T``: what a perfect agent of
    this chunk size would play (deduplication and interpolation place onsets and offsets
    on the chunk grid), the reference a simulated conversation is held against."""
    fmt = SyncFormat(chunk_ms=chunk_ms, n_units=n_units, silence_unit=silence_unit)
    back = np.stack(fmt.decode(fmt.encode(units[0], units[1])))
    return back[:, : units.shape[1]]


def _interpolate(
    units: np.ndarray, chunk: np.ndarray, n_chunks: int, F: int, start: int
) -> np.ndarray:
    """Spread each chunk's novel ``units`` (chunk index ``chunk``) over its F frames."""
    counts = np.bincount(chunk, minlength=n_chunks)
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    frames = np.arange(F, dtype=np.int64)
    # [n_chunks, F]: index into `units` of the unit each frame shows (-1 = empty chunk)
    pick = ((frames[None, :] + 1) * counts[:, None] + F - 1) // F - 1
    has = counts > 0
    values = np.full((n_chunks, F), -1, dtype=np.int64)
    values[has] = units[first[has, None] + pick[has]]
    flat = np.concatenate([[start], values.ravel()])
    # empty chunks repeat the previous frame: forward-fill the -1 slots
    src = np.where(flat >= 0, np.arange(flat.size), 0)
    np.maximum.accumulate(src, out=src)
    return flat[src][1:]
