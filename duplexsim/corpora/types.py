"""The ``Dialogue`` and ``Segment`` types: two time-aligned channels plus annotations.

Speaker 0 = channel 0 = Fisher side A = the first CANDOR speaker. Units are ``[2, T]`` at
25 Hz; audio ``[2, N]`` float32. Must not know about file layouts or tokenizers.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from duplexsim.audio.framing import FRAME_RATE_HZ
from duplexsim.audio.io import audio_duration_s
from duplexsim.errors import InputError, finite_number
from duplexsim.timebase import round_half_up

KINDS = ("ipu", "backchannel")
MAX_SEGMENT_END_S = 86_400.0
"""A day: no recording lasts longer (a larger time is a typo or a unit mix-up)."""


def edge_frame(seconds: float) -> int:
    """The 40 ms unit frame a segment edge at ``seconds`` falls on: ``seconds * 25`` half up
    as computed (:func:`~duplexsim.timebase.round_half_up`): 77.1 s -> 1927 and 1.3 s -> 33,
    where ``round(77.1 * 1000 / 40)`` gave 1928 and ``round(1.3 / 0.04)`` 32.

    The one rule for every segment edge (voice activity, the RL learner's utterance bank,
    the training stages' segments). Not snapped as a user's seconds are
    (:func:`~duplexsim.timebase.frames_from_s`): a transcript time on a 10 ms grid lands a
    hair off a half-frame tie (0.58 s * 25 = 14.499999999999998), and snapping it would move
    such edges by a frame in every corpus built so far."""
    return round_half_up(seconds * FRAME_RATE_HZ)


@dataclass(frozen=True)
class Segment:
    """One annotated stretch of speech of one speaker (seconds from the dialogue start).

    ``count``: how many backchannels (or IPUs) the transcript puts in it, 1 but where it
    does not time them one by one: a CANDOR backbiter row with ``backchannel_count`` 2 gives
    one backchannel segment at the row's one start and stop with count 2 (no times made up
    for the others)."""

    speaker: int
    start_s: float
    end_s: float
    text: str = ""
    kind: str = "ipu"
    count: int = 1

    def __post_init__(self) -> None:
        # (True and 0.0 are == 1 and 0: True was speaker 1 and 0.0 failed as an array index)
        if isinstance(self.speaker, bool) or not isinstance(self.speaker, int | np.integer) \
                or self.speaker not in (0, 1):
            raise ValueError(f"Segment.speaker: {self.speaker} (allowed: 0, 1)")
        if isinstance(self.count, bool) or not isinstance(self.count, int) or self.count < 1:
            raise ValueError(f"Segment.count: {self.count!r} (allowed: a whole number >= 1)")
        if not (finite_number(self.start_s) and finite_number(self.end_s)
                and 0 <= self.start_s <= self.end_s <= MAX_SEGMENT_END_S):
            raise ValueError(f"Segment: start_s {self.start_s}, end_s {self.end_s} (allowed: "
                             f"finite seconds, 0 <= start_s <= end_s <= {MAX_SEGMENT_END_S})")
        if self.kind not in KINDS:
            raise ValueError(f"Segment.kind: {self.kind!r} (allowed: {', '.join(KINDS)})")


@dataclass
class Dialogue:
    """Two time-aligned channels (audio and/or units) and their segments."""

    id: str
    segments: list[Segment] = field(default_factory=list)
    units: np.ndarray | None = None  # [2, T] int at 25 Hz
    audio: np.ndarray | None = None  # [2, N] float32
    sample_rate_hz: int | None = None
    duration_s: float = 0.0

    @classmethod
    def from_recording(cls, id: str, segments: list[Segment], wave: np.ndarray | None,
                       sample_rate_hz: int | None, *, keep_audio: bool,
                       tokenizer=None,  # noqa: ANN001 - any UnitTokenizer
                       audio_files: list[Path] | None = None,
                       transcript: Path | None = None) -> Dialogue:
        """A dialogue read off disk (the real readers): units encoded when a tokenizer is
        given, the audio kept only when ``keep_audio``; duration from the audio if read,
        else from the headers of ``audio_files`` (the longest), else the last segment's end
        (which leaves out a call's trailing silence: per-minute rates read high).
        ``transcript``: the file the segments came from, named in errors."""
        if wave is not None and segments:
            audio_s = wave.shape[1] / sample_rate_hz
            last = max(s.end_s for s in segments)
            if last > audio_s + 1.0:  # e.g. times in milliseconds, or a truncated recording
                raise InputError(str(transcript or id), "", f"segments run to {last:g} s "
                                 f"but the audio of {id} lasts "
                                 f"{audio_s:.1f} s", "segment times in seconds, within the "
                                 "recording")
        units = None
        if tokenizer is not None:
            if wave is None:
                raise ValueError(f"Dialogue {id}: a tokenizer needs the wave to encode")
            units = np.stack([tokenizer.encode(ch, sample_rate_hz) for ch in wave])
        duration = 0.0 if wave is None else wave.shape[1] / sample_rate_hz
        if wave is None and audio_files:
            found = [d for d in map(audio_duration_s, audio_files) if d is not None]
            duration = max(found, default=0.0)
        return cls(id, segments, units, wave if keep_audio else None,
                   sample_rate_hz if keep_audio else None, duration_s=duration)

    def __post_init__(self) -> None:
        if not isinstance(self.id, str):  # (id=5 was kept, and written as 5 where a name goes)
            raise ValueError(f"Dialogue.id: {self.id!r} (allowed: a string, the dialogue's "
                             "name)")
        if not isinstance(self.segments, list | tuple):
            raise ValueError(f"Dialogue {self.id}: segments: got "
                             f"{type(self.segments).__name__} (allowed: a list of Segment)")
        for i, segment in enumerate(self.segments):  # (a tuple failed later, as 'no end_s')
            if not isinstance(segment, Segment):
                raise ValueError(f"Dialogue {self.id}: segments[{i}]: got "
                                 f"{type(segment).__name__} (allowed: a Segment(speaker, "
                                 "start_s, end_s, ...))")
        for name, arr in (("units", self.units), ("audio", self.audio)):
            if arr is not None and not isinstance(arr, np.ndarray):
                raise ValueError(f"Dialogue {self.id}: {name} must be a NumPy array [2, ...], "
                                 f"got {type(arr).__name__} (np.asarray it first)")
            if arr is not None and (arr.ndim != 2 or arr.shape[0] != 2):
                raise ValueError(f"Dialogue {self.id}: {name} must be [2, ...], got {arr.shape}")
        rate = self.sample_rate_hz  # ("16000" was kept, and failed as a divisor later)
        if rate is not None and (isinstance(rate, bool) or not isinstance(rate, int | np.integer)
                                 or rate < 1):
            raise ValueError(f"Dialogue {self.id}: sample_rate_hz: {rate!r} (allowed: None or "
                             "a whole number of Hz >= 1)")
        if self.audio is not None and not self.sample_rate_hz:
            raise ValueError(f"Dialogue {self.id}: audio given without sample_rate_hz")
        if not (finite_number(self.duration_s) and self.duration_s >= 0):  # (NaN was kept)
            raise ValueError(f"Dialogue {self.id}: duration_s: {self.duration_s!r} (allowed: "
                             "finite seconds >= 0; 0 = from the audio, units or segments)")
        if not self.duration_s:
            if self.audio is not None:
                self.duration_s = self.audio.shape[1] / self.sample_rate_hz
            elif self.units is not None:
                self.duration_s = self.units.shape[1] / FRAME_RATE_HZ
            elif self.segments:
                self.duration_s = max(s.end_s for s in self.segments)

    def swapped(self) -> Dialogue:
        """The same dialogue seen from the other side (speaker 0 <-> 1)."""
        return Dialogue(
            id=self.id,
            segments=[dataclasses.replace(s, speaker=1 - s.speaker) for s in self.segments],
            units=None if self.units is None else self.units[::-1].copy(),
            audio=None if self.audio is None else self.audio[::-1].copy(),
            sample_rate_hz=self.sample_rate_hz,
            duration_s=self.duration_s,
        )

    def crop(self, start_s: float, end_s: float) -> Dialogue:
        """``[start_s, end_s)``: channels cut on whole frames / samples, segments clipped."""
        if not 0 <= start_s < end_s:
            raise ValueError(f"crop: need 0 <= start_s < end_s, got {start_s}, {end_s}")
        end_s = min(end_s, self.duration_s) if self.duration_s else end_s
        if end_s <= start_s:  # past the end: an empty dialogue of negative duration
            raise ValueError(f"Dialogue {self.id}: crop from {start_s:g} s (allowed: a start "
                             f"before the dialogue's end, {self.duration_s:g} s)")
        units = audio = None
        if self.units is not None:
            # start as an edge, then the length rounded (not edge_frame(end_s) - a, which can
            # differ by one): the cut holds the cropped duration's frames, segment_vad's T
            a = edge_frame(start_s)
            n = round_half_up((end_s - start_s) * FRAME_RATE_HZ)
            units = self.units[:, a : a + n].copy()
        if self.audio is not None:
            sr = self.sample_rate_hz
            if not sr:  # __post_init__ checked it; the field was changed since
                raise ValueError(f"Dialogue {self.id}: audio without sample_rate_hz")
            a, n = round_half_up(start_s * sr), round_half_up((end_s - start_s) * sr)
            audio = self.audio[:, a : a + n].copy()
        segs = [
            dataclasses.replace(s, start_s=max(s.start_s, start_s) - start_s,
                                end_s=min(s.end_s, end_s) - start_s)
            for s in self.segments if s.end_s > start_s and s.start_s < end_s
        ]
        return Dialogue(self.id, segs, units, audio, self.sample_rate_hz, end_s - start_s)

    def segment_vad(self, n_frames: int | None = None) -> np.ndarray:
        """Voice activity ``bool [2, T]`` from the segments (edges rounded to the nearest frame);
        ``T`` is ``n_frames``, or the duration in frames, rounded half up as the edges are."""
        t = n_frames if n_frames is not None else round_half_up(self.duration_s * FRAME_RATE_HZ)
        vad = np.zeros((2, t), dtype=bool)
        for s in self.segments:
            a, b = edge_frame(s.start_s), edge_frame(s.end_s)
            vad[s.speaker, max(a, 0) : min(b, t)] = True
        return vad
