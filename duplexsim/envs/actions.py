"""What the learner can do in one chunk: the turn actions and the raw-units action.

Owns the documented turn action set (:class:`TurnAction`), the bank of utterances and
backchannels the scripted learner speaks from (:class:`UtteranceBank`, cut from one channel
of a corpus dialogue), and :class:`TurnSpeaker`, which turns a sequence of turn actions
into unit chunks. Must not touch the simulator or the network; the learner's own SyncLLM
(when given) is driven by :mod:`duplexsim.envs.learner`.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from duplexsim.corpora.types import edge_frame

MIN_UTTERANCE_FRAMES = 5  # 200 ms: shorter IPUs are too short to carry a turn
BACKCHANNEL_FRAMES = 10  # 400 ms: a typical "mhm" / "yeah" (bc_max_ms of the metrics is 1 s)


class TurnAction(enum.IntEnum):
    """``action_mode="turn"``: one of these per chunk."""

    SILENT = 0
    """Play a silent chunk; the current utterance is paused and a later SPEAK resumes it."""
    SPEAK = 1
    """Play the next chunk of speech: the learner's own SyncLLM proposal when a model is
    given, else the next chunk of the current scripted utterance (a new one when none)."""
    BACKCHANNEL = 2
    """Play the next chunk of a short backchannel pattern taken from the corpus (a new one
    when none is in progress); the current utterance is kept."""
    STOP = 3
    """Play silence and drop the rest of the current utterance and backchannel."""


ACTION_MEANINGS = {a.value: a.name.lower() for a in TurnAction}


def one_line(value: Any) -> str:
    """``repr(value)`` on one line, for an action error: numpy spreads a 2-D array's (a
    batch of actions given to one env) over several lines, and a long one's (the ``nvec``
    of a 30-frame chunk's ``MultiDiscrete`` space)."""
    return " ".join(repr(value).split())


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[0::2].tolist(), edges[1::2].tolist(), strict=True))


@dataclass
class UtteranceBank:
    """Speech pieces (unit arrays) the scripted learner speaks: utterances and backchannels."""

    utterances: list[np.ndarray]
    backchannels: list[np.ndarray]
    silence_unit: int = 0

    @classmethod
    def from_dialogue(cls, dialogue: Any, channel: int, silence_units: Iterable[int],
                      silence_unit: int = 0) -> UtteranceBank:
        """Cut one channel of a dialogue (``units [2, T]``, ``segments``) into pieces.

        IPU segments of the channel's speaker become utterances, backchannel segments
        become backchannels. Without annotations, speech runs of the units are used and
        the first 400 ms of the shortest ones stand in for backchannels.
        """
        units = np.asarray(dialogue.units)[channel].astype(np.int64)
        speech = ~np.isin(units, np.fromiter(silence_units, np.int64))
        utterances: list[np.ndarray] = []
        backchannels: list[np.ndarray] = []
        for seg in getattr(dialogue, "segments", None) or []:
            if seg.speaker != channel:
                continue
            lo, hi = edge_frame(seg.start_s), min(edge_frame(seg.end_s), len(units))
            piece = units[lo:hi]
            if getattr(seg, "kind", "ipu") == "backchannel" and len(piece):
                backchannels.append(piece[:BACKCHANNEL_FRAMES * 2])
            elif len(piece) >= MIN_UTTERANCE_FRAMES:
                utterances.append(piece)
        if not utterances:
            utterances = [units[a:b] for a, b in _runs(speech) if b - a >= MIN_UTTERANCE_FRAMES]
        if not utterances:
            raise ValueError(f"dialogue {getattr(dialogue, 'id', '?')!r} channel {channel}: "
                             "no speech to script utterances from (allowed: a dialogue with "
                             "at least one IPU of 200 ms or more)")
        if not backchannels:
            shortest = sorted(utterances, key=len)[: max(1, len(utterances) // 4)]
            backchannels = [u[:BACKCHANNEL_FRAMES] for u in shortest]
        return cls(utterances, backchannels, silence_unit)


@dataclass
class TurnSpeaker:
    """Turns turn actions into chunks of units, keeping the utterance in progress."""

    bank: UtteranceBank
    frames_per_chunk: int
    _utt: int = 0
    _utt_pos: int | None = None  # None = no utterance in progress
    _bc: int = 0
    _bc_pos: int | None = None
    _order: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    _silent: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._silent = np.full(self.frames_per_chunk, self.bank.silence_unit, np.int64)

    def reset(self, rng: np.random.Generator) -> None:
        """New episode: utterances in a fresh random order (from the env's np_random)."""
        self._order = rng.permutation(len(self.bank.utterances))
        self._utt = 0
        self._utt_pos = None
        self._bc = int(rng.integers(len(self.bank.backchannels)))
        self._bc_pos = None

    @property
    def speaking(self) -> bool:
        return self._utt_pos is not None

    @property
    def backchanneling(self) -> bool:
        return self._bc_pos is not None

    @property
    def progress(self) -> float:
        """Fraction of the current utterance already spoken (0 when none)."""
        if self._utt_pos is None:
            return 0.0
        return self._utt_pos / len(self._current())

    def _current(self) -> np.ndarray:
        return self.bank.utterances[int(self._order[self._utt % len(self._order)])]

    def _silence(self) -> np.ndarray:
        return self._silent.copy()  # a fresh chunk each time (the caller keeps it)

    def _take(self, piece: np.ndarray, pos: int) -> tuple[np.ndarray, int | None]:
        """The chunk at ``pos`` of ``piece`` (silence-padded) and the next position."""
        out = self._silence()
        chunk = piece[pos: pos + self.frames_per_chunk]
        out[: len(chunk)] = chunk
        nxt = pos + self.frames_per_chunk
        return out, (nxt if nxt < len(piece) else None)

    def chunk(self, action: TurnAction) -> np.ndarray:
        """The units ``[frames_per_chunk]`` that ``action`` plays now."""
        if action == TurnAction.SPEAK:
            self._bc_pos = None
            if self._utt_pos is None:
                self._utt_pos = 0
            out, self._utt_pos = self._take(self._current(), self._utt_pos)
            if self._utt_pos is None:
                self._utt += 1
            return out
        if action == TurnAction.BACKCHANNEL:
            if self._bc_pos is None:
                self._bc = (self._bc + 1) % len(self.bank.backchannels)
                self._bc_pos = 0
            out, self._bc_pos = self._take(self.bank.backchannels[self._bc], self._bc_pos)
            return out
        if action == TurnAction.STOP:
            if self._utt_pos is not None:
                self._utt += 1
            self._utt_pos = self._bc_pos = None
        else:
            self._bc_pos = None
        return self._silence()
