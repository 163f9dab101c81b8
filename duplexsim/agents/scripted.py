"""Scripted partners: silent, fixed turns, random talker; the cheapest sides of a conversation.

Owns :class:`ScriptedAgent` and its policy registry. Speech is a stream of random
speech units (none of the ``silence_units``; held 1-3 frames, like deduplicated speech
units); silence is the silence unit. All randomness from the ``seed`` given to
:meth:`ScriptedAgent.reset`, drawn frame after frame from independent streams (voice
activity, units, holds), so a conversation's first chunks do not depend on how many chunks
follow. Must not know about the network or the simulator's timing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from duplexsim.agents.base import (
    Agent,
    ChunkReport,
    UnitInventory,
    chunk_index,
    missing_before,
    n_units_of,
    silence_units_of,
    whole,
)
from duplexsim.errors import DuplexsimError, with_note
from duplexsim.sides import other
from duplexsim.tokens import DEFAULT_N_UNITS, FRAME_MS, MAX_N_UNITS


def _silent(rng: np.random.Generator, n_frames: int, first: bool) -> np.ndarray:  # noqa: ARG001
    return np.zeros(n_frames, dtype=bool)


def _fixed_turns(rng: np.random.Generator, n_frames: int, first: bool, turn_ms: int = 2000,
                 ) -> np.ndarray:  # noqa: ARG001
    """Talk ``turn_ms``, listen ``turn_ms``, ...; side A (first) opens the conversation."""
    turn = turn_ms // FRAME_MS
    phase = (np.arange(n_frames) // turn) % 2
    return phase == (0 if first else 1)


def _random_talker(rng: np.random.Generator, n_frames: int, first: bool) -> np.ndarray:  # noqa: ARG001
    """Alternating talk spurts and pauses, lognormal lengths (median 1.3 s / 0.9 s)."""
    out = np.zeros(n_frames, dtype=bool)
    t, talking = 0, bool(rng.random() < 0.5)
    while t < n_frames:
        median_ms = 1300.0 if talking else 900.0
        length = max(1, int(rng.lognormal(np.log(median_ms), 0.7) // FRAME_MS))
        out[t:t + length] = talking
        t += length
        talking = not talking
    return out


POLICIES: dict[str, Callable[[np.random.Generator, int, bool], np.ndarray]] = {
    "silent": _silent, "fixed-turns": _fixed_turns, "random-talker": _random_talker,
}


class ScriptedAgent:
    """Voice activity from a policy, units random; deaf to its partner."""

    kind = "scripted"
    """Its scenario kind (:func:`duplexsim.agents.base.kind_of`)."""

    def __init__(self, policy: str, frames_per_chunk: int, n_chunks: int,
                 n_units: int = DEFAULT_N_UNITS, silence_unit: int = 0, first: bool = True,
                 name: str | None = None, silence_units: Iterable[int] = ()):
        """``silence_units``: every unit that means silence in this vocabulary (a unit
        tokenizer's set; ``silence_unit`` always counts); speech draws from the others."""
        if policy not in POLICIES:
            raise ValueError(f"scripted policy {policy!r} unknown (allowed: {', '.join(POLICIES)})")
        frames_per_chunk = whole(frames_per_chunk, "frames_per_chunk", 1)  # 0: empty chunks
        n_chunks = whole(n_chunks, "n_chunks", 0)
        silence_unit = whole(silence_unit, "silence_unit", 0)  # 1.5 played unit 1
        if not 2 <= whole(n_units, "n_units", 0) <= MAX_N_UNITS:
            raise ValueError(f"n_units={n_units} (allowed: 2..{MAX_N_UNITS}: one silence and "
                             "one speech unit at least, ids the link's 2-byte frames hold)")
        if not 0 <= silence_unit < n_units:
            raise ValueError(f"silence_unit={silence_unit} is not one of the n_units={n_units} "
                             f"units (allowed: 0..{n_units - 1})")
        silence = frozenset(int(u) for u in silence_units) | {int(silence_unit)}
        bad = sorted(u for u in silence if not 0 <= u < n_units)
        if bad:
            raise ValueError(f"silence_units: {bad} not among the n_units={n_units} units "
                             f"(allowed: 0..{n_units - 1})")
        if len(silence) >= n_units:
            raise ValueError(f"silence_units: all {n_units} units are silence (allowed: at "
                             "most n_units - 1, at least one speech unit)")
        self.policy = policy
        self.frames_per_chunk = int(frames_per_chunk)
        self.n_chunks = int(n_chunks)
        self.n_units = int(n_units)
        self.silence_unit = int(silence_unit)
        self.silence_units = silence
        self.first = first
        self.name = name or f"scripted:{policy}"
        self.reset(0)

    @classmethod
    def from_side(cls, side: Any, scenario: Any, key: str,
                  partner: Agent | UnitInventory | None = None) -> ScriptedAgent:
        """Build from a scenario ``SideConfig`` (kind = "scripted") for side ``key``.

        Speaks its partner's unit vocabulary: the ``partner`` agent object's (or an env
        learner's speech inventory) when it is given and says one
        (:func:`~duplexsim.agents.base.n_units_of`: it is who hears this side),
        else the scenario's partner side's: a trained agent's (``n_units``, ``silence_unit``
        and ``silence_units`` from its ``agent.json``), a replayed corpus's (its manifest and
        unit tokenizer), else the default 501 units, silence 0.
        """
        partner_side = getattr(scenario, other(key))
        vocab: dict[str, Any] = {"n_units": DEFAULT_N_UNITS, "silence_unit": 0}
        try:
            if partner is not None and (n_units := n_units_of(partner)) is not None:
                vocab = {"n_units": n_units, "silence_unit": int(partner.silence_unit),
                         "silence_units": silence_units_of(partner)}
            elif partner_side.kind in ("syncllm", "tdm"):
                from duplexsim.models.agentdir import read_agent_json, silence_units_in

                info = read_agent_json(partner_side.agent)
                vocab = {"n_units": int(info["n_units"]),
                         "silence_unit": int(info["silence_unit"]),
                         "silence_units": silence_units_in(info)}
            elif partner_side.kind == "replay" and partner_side.corpus:
                from duplexsim.corpora import load_corpus

                corpus = load_corpus(partner_side.corpus)
                tokenizer = corpus.tokenizer()
                vocab = {"n_units": corpus.n_units,
                         "silence_unit": int(tokenizer.silence_unit),
                         "silence_units": frozenset(int(u) for u in tokenizer.silence_units)}
        except DuplexsimError as e:  # as the partner's own builder names it
            raise with_note(e, f"scenario {other(key)}") from None
        return cls(side.policy, scenario.frames_per_chunk, scenario.n_chunks, first=key == "a",
                   name=f"scripted:{side.policy}:{key}", **vocab)

    def reset(self, seed: int) -> None:
        # one stream each for voice activity, units and holds: every stream is drawn frame
        # after frame, so frame t depends on the seed and frames <= t only, not on n_chunks
        # (one shared stream put the units after a policy's draws for the whole scenario)
        talk_rng, unit_rng, hold_rng = (np.random.default_rng(s) for s in
                                        np.random.SeedSequence(int(seed)).spawn(3))
        n_frames = self.n_chunks * self.frames_per_chunk
        talking = POLICIES[self.policy](talk_rng, n_frames, self.first)
        speech_units = np.setdiff1d(np.arange(self.n_units), sorted(self.silence_units))
        speech = speech_units[unit_rng.integers(0, len(speech_units), size=n_frames)]
        hold = hold_rng.integers(1, 4, size=n_frames)  # hold each unit 1-3 frames
        speech = speech[np.repeat(np.arange(n_frames), hold)[:n_frames]]
        self.units = np.where(talking, speech, self.silence_unit).astype(np.int64)
        self.received: set[int] = set()
        self.latest_received = -1

    def observe_partner(self, chunk: int, units: np.ndarray) -> None:  # noqa: ARG002
        chunk = chunk_index(chunk, "partner chunk", self.name, f"observe_partner(chunk={chunk!r})")
        self.received.add(chunk)
        self.latest_received = max(self.latest_received, chunk)

    def produce(self, chunk: int) -> ChunkReport:
        chunk = chunk_index(chunk, "chunk", self.name, f"produce({chunk!r})")
        F = self.frames_per_chunk
        out = np.full(F, self.silence_unit, dtype=np.int64)
        piece = self.units[chunk * F:(chunk + 1) * F]
        out[:len(piece)] = piece
        return ChunkReport(chunk=chunk, units=out,
                           lookahead=missing_before(chunk, self.received, self.latest_received))

    def played(self, chunk: int, units: np.ndarray) -> None:  # noqa: ARG002
        """The script goes on whatever was played (a chunk index that is no whole
        number from 0 is refused, as every agent refuses it)."""
        chunk_index(chunk, "own chunk", self.name, f"played(chunk={chunk!r})")
