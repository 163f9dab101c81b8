"""Corpus replay: one channel of a dialogue played back chunk by chunk, deaf to its partner.

Owns :class:`ReplayAgent` (the ground-truth side of a real or synthetic dialogue behind the
:class:`duplexsim.agents.base.Agent` protocol) and building one from a scenario side.
Must not know about the network or the simulator's timing.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from typing import Any

import numpy as np

from duplexsim.agents.base import ChunkReport, chunk_index, missing_before, whole
from duplexsim.errors import DuplexsimError, InputError, with_note
from duplexsim.tokens import FRAME_MS
from duplexsim.unit_arrays import check_units


class ReplayAgent:
    """Plays ``units`` (one channel, 25 Hz) as its own chunks; silence past the end."""

    kind = "replay"
    """Its scenario kind (:func:`duplexsim.agents.base.kind_of`)."""

    def __init__(self, units: np.ndarray, frames_per_chunk: int, silence_unit: int = 0,
                 name: str = "replay", silence_units: Iterable[int] = (),
                 n_units: int | None = None):
        """``silence_units``: every unit that means silence in ``units``' vocabulary (its
        tokenizer's; ``silence_unit``, what it plays past the end, always counts).
        ``n_units``: the size of that vocabulary where known (a corpus's), so that a
        conversation can check both sides speak one inventory; None: not known."""
        raw = np.asarray(units)
        if raw.ndim != 1:
            raise ValueError(f"ReplayAgent {name}: units must be one channel [T], "
                             f"got {raw.shape}")
        if raw.size and raw.dtype.kind not in "iu":  # int64 truncated float ids unseen
            raise ValueError(f"ReplayAgent {name}: units of dtype {raw.dtype} (allowed: "
                             "integer unit ids; float ids are not truncated)")
        try:  # 2.5 frames a chunk played 2, silence_unit 1.5 played unit 1
            frames_per_chunk = whole(frames_per_chunk, "frames_per_chunk", 1)
            silence_unit = whole(silence_unit, "silence_unit", 0)
        except ValueError as e:
            raise ValueError(f"ReplayAgent {name}: {e}") from None
        units = raw.astype(np.int64)
        if n_units is not None:
            units = check_units(units, f"ReplayAgent {name}: units", int(n_units))
            if silence_unit >= n_units:  # (as ScriptedAgent refuses it)
                raise ValueError(f"ReplayAgent {name}: silence_unit={silence_unit} is not one "
                                 f"of the n_units={n_units} units (allowed: 0..{n_units - 1})")
        self.units = units
        self.frames_per_chunk = int(frames_per_chunk)
        self.silence_unit = int(silence_unit)
        self.silence_units = frozenset(int(u) for u in silence_units) | {self.silence_unit}
        self.name = name
        self.n_units = None if n_units is None else int(n_units)
        self.received: set[int] = set()
        self.latest_received = -1  # the highest chunk in received (as LearnerAgent keeps it)

    @classmethod
    def from_side(cls, side: Any, scenario: Any, key: str) -> ReplayAgent:
        """Build from a scenario ``SideConfig`` (kind = "replay") for side ``key`` ("a"/"b").

        ``corpus = ""`` replays :func:`duplexsim.corpora.default_dialogue`; otherwise the
        dialogue ``side.dialogue`` (default: the first test-split one) of that corpus.
        """
        from duplexsim import corpora
        from duplexsim.corpora.default import default_n_units

        try:
            if side.corpus:
                corpus = corpora.load_corpus(side.corpus)
                dialogue_id = side.dialogue or (corpus.ids("test") or corpus.ids())[0]
                dialogue = corpus.dialogue(dialogue_id)
                tokenizer = corpus.tokenizer()
                silence = int(getattr(tokenizer, "silence_unit", 0))
                silence_set = getattr(tokenizer, "silence_units", ())
                n_units = int(corpus.n_units)
            else:
                dialogue = corpora.default_dialogue()
                silence = int(getattr(dialogue, "silence_unit", 0))
                silence_set = getattr(dialogue, "silence_units", None) or ()
                n_units = default_n_units()  # what the shipped resource records
        except DuplexsimError as e:
            raise with_note(e, f"scenario {key}.corpus / {key}.dialogue") from None
        if not side.corpus and side.dialogue and side.dialogue != dialogue.id:
            raise InputError(f"{key}.dialogue", "", f"{side.dialogue!r} is not the shipped "
                             "dialogue (corpus = \"\" replays the dialogue in the package)",
                             f'"" or {dialogue.id!r}, or set {key}.corpus to a corpus folder')
        if dialogue.units is None:
            raise InputError(f"{key}.dialogue", "", f"dialogue {dialogue.id!r} has no units",
                             "a corpus built with units, see `duplexsim corpus build`")
        dialogue_ms = len(dialogue.units[0]) * FRAME_MS
        dialogue_s = dialogue_ms / 1000
        if dialogue_ms < scenario.duration_ms:  # it ends inside the scenario
            warnings.warn(f"scenario {key}: dialogue {dialogue.id!r} lasts {dialogue_s:g} s, "
                          f"the scenario {scenario.duration_s:g} s: side {key} is silent "
                          "after the dialogue ends", UserWarning, stacklevel=2)
        channel = 0 if side.channel is None else int(side.channel)
        return cls(dialogue.units[channel], scenario.frames_per_chunk, silence,
                   name=f"replay:{dialogue.id}:{channel}", silence_units=silence_set,
                   n_units=n_units)

    def reset(self, seed: int) -> None:  # noqa: ARG002 - replay is deterministic
        self.received = set()
        self.latest_received = -1

    def observe_partner(self, chunk: int, units: np.ndarray) -> None:  # noqa: ARG002
        chunk = chunk_index(chunk, "partner chunk", self.name, f"observe_partner(chunk={chunk!r})")
        self.received.add(chunk)
        self.latest_received = max(self.latest_received, chunk)

    def chunk_units(self, chunk: int) -> np.ndarray:
        F = self.frames_per_chunk
        piece = self.units[chunk * F:(chunk + 1) * F]
        if len(piece) == F:
            return piece.copy()
        out = np.full(F, self.silence_unit, dtype=np.int64)
        out[:len(piece)] = piece
        return out

    def produce(self, chunk: int) -> ChunkReport:
        chunk = chunk_index(chunk, "chunk", self.name, f"produce({chunk!r})")
        return ChunkReport(chunk=chunk, units=self.chunk_units(chunk),
                           lookahead=missing_before(chunk, self.received, self.latest_received))

    def played(self, chunk: int, units: np.ndarray) -> None:  # noqa: ARG002
        """Replay ignores what was played: the recording goes on (a chunk index that is
        no whole number from 0 is refused, as every agent refuses it)."""
        chunk_index(chunk, "own chunk", self.name, f"played(chunk={chunk!r})")
