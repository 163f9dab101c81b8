"""Turn policies to compare a learned one against, for ``TurnTaking-v0`` in turn mode.

Owns the fixed policies (silent, always-speak, random, periodic patterns), the hand-written
VAP-style rule (:class:`RulePolicy`: speak after ``silence_ms`` of joint silence as heard,
yield when the partner is heard starting while the learner speaks, optional backchannels)
and the natural reference (:class:`CorpusReference`: the learner's own channel of the
partner's dialogue, replayed as turn actions). Each policy has ``reset(env, rng)`` at the
start of an episode and ``__call__(obs) -> action`` per step, on the env's own observation
dict. Must not touch the simulator or the rewards.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from duplexsim.envs.actions import TurnAction
from duplexsim.errors import finite_number
from duplexsim.tokens import FRAME_MS


class TurnPolicy(Protocol):
    """A policy for ``action_mode="turn"``: observation dict -> turn action."""

    name: str

    def reset(self, env: Any, rng: np.random.Generator) -> None:
        """A new episode of ``env`` (after ``env.reset``); randomness only from ``rng``."""

    def __call__(self, obs: dict[str, np.ndarray]) -> int:
        """The action for the chunk being decided."""


@dataclass
class ConstantPolicy:
    """The same action every chunk (silent, always-speak, always-backchannel)."""

    action: int
    name: str = ""

    def __post_init__(self) -> None:
        self.name = self.name or f"always-{TurnAction(self.action).name.lower()}"

    def reset(self, env: Any, rng: np.random.Generator) -> None:  # noqa: ARG002
        return

    def __call__(self, obs: dict[str, np.ndarray]) -> int:  # noqa: ARG002
        return int(self.action)


@dataclass
class RandomPolicy:
    """Uniform over the turn actions (or over ``actions``)."""

    actions: Sequence[int] = tuple(int(a) for a in TurnAction)
    name: str = "random"
    _rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(0))

    def reset(self, env: Any, rng: np.random.Generator) -> None:  # noqa: ARG002
        self._rng = rng

    def __call__(self, obs: dict[str, np.ndarray]) -> int:  # noqa: ARG002
        return int(self.actions[int(self._rng.integers(len(self.actions)))])


@dataclass
class PeriodicPolicy:
    """A fixed cycle of actions, e.g. speak 3 chunks, stop 3 chunks; blind to the partner."""

    pattern: Sequence[int]
    name: str = ""
    _t: int = 0

    def __post_init__(self) -> None:
        if not self.pattern:
            raise ValueError("pattern: empty (allowed: one or more turn actions)")
        self.name = self.name or "periodic-" + "".join(str(int(a)) for a in self.pattern)

    def reset(self, env: Any, rng: np.random.Generator) -> None:  # noqa: ARG002
        self._t = 0

    def __call__(self, obs: dict[str, np.ndarray]) -> int:  # noqa: ARG002
        self._t += 1
        return int(self.pattern[(self._t - 1) % len(self.pattern)])


def fixed_policies() -> list[TurnPolicy]:
    """Every fixed (partner-blind) policy the reward must not reward: constants, random,
    and periodic speak/pause cycles from fast alternation to long monologues."""
    S, SP, B, ST = (int(a) for a in TurnAction)
    out: list[TurnPolicy] = [ConstantPolicy(S, "silent"), ConstantPolicy(SP, "always-speak"),
                             ConstantPolicy(B), RandomPolicy()]
    for on, off in ((1, 1), (2, 3), (3, 3), (6, 6), (12, 6), (6, 12), (20, 10)):
        out.append(PeriodicPolicy([SP] * on + [ST] * off, name=f"periodic-{on}on-{off}off"))
    out.append(PeriodicPolicy([S] * 10 + [B] * 3, name="periodic-backchannel"))
    return out


@dataclass
class _Heard:
    """Voice activity of one stream, frame by frame in chunk order as it becomes known."""

    frames_per_chunk: int
    next_chunk: int = 0
    silence_frames: int = 10**6
    """Silent frames since its last voiced frame (huge before any voice)."""
    turn_start_frame: int = -1
    """First frame of its current talk spurt (after at least ``spurt_gap`` silent frames)."""
    last_voice_chunk: int = -1
    spurt_gap: int = 10

    def add(self, vad: np.ndarray) -> None:
        for k, v in enumerate(vad):
            frame = self.next_chunk * self.frames_per_chunk + k
            if v:
                if self.silence_frames >= self.spurt_gap:
                    self.turn_start_frame = frame
                self.silence_frames = 0
                self.last_voice_chunk = self.next_chunk
            else:
                self.silence_frames += 1
        self.next_chunk += 1

    def talking_ms(self) -> float:
        """How long its current talk spurt has lasted as known (0 when silent)."""
        if self.silence_frames >= self.spurt_gap or self.turn_start_frame < 0:
            return 0.0
        return (self.next_chunk * self.frames_per_chunk - self.turn_start_frame) * FRAME_MS


@dataclass
class RulePolicy:
    """A hand-written VAP-style turn-taking rule on what the learner has heard.

    - keep speaking an utterance in progress, but *yield* (stop) as soon as partner speech
      from the learner's own onset or later is heard (``yield_to_partner``);
    - take the turn (speak) after ``silence_ms`` of joint silence: the partner's as heard
      (received chunks, in order: a late partner is heard late) and the learner's own;
    - backchannel (``backchannel_after_ms`` > 0) when the partner has been talking that
      long as heard, at most every ``backchannel_every_ms``; a backchannel runs to its end.
    """

    silence_ms: float = 400.0
    yield_to_partner: bool = True
    backchannel_after_ms: float = 0.0
    backchannel_every_ms: float = 4000.0
    name: str = ""
    _t: int = 0
    _partner: _Heard = field(default_factory=lambda: _Heard(1))
    _own: _Heard = field(default_factory=lambda: _Heard(1))
    _onset_chunk: int = -1
    _last_bc_chunk: int = -(10**6)
    _received: set[int] = field(default_factory=set)
    _pending: dict[int, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for key in ("silence_ms", "backchannel_after_ms", "backchannel_every_ms"):
            value = getattr(self, key)  # NaN never spoke, "200" failed in the name's format
            if not (finite_number(value) and value >= 0):
                raise ValueError(f"{key}: {value!r} (allowed: a finite number of ms >= 0)")
        self.name = self.name or f"rule-{self.silence_ms:g}ms" + (
            f"-bc{self.backchannel_after_ms:g}" if self.backchannel_after_ms else "")

    def reset(self, env: Any, rng: np.random.Generator) -> None:  # noqa: ARG002
        f = env.unwrapped.scenario.frames_per_chunk
        self._t, self._onset_chunk, self._last_bc_chunk = 0, -1, -(10**6)
        self._partner, self._own = _Heard(f), _Heard(f)
        self._received, self._pending = set(), {}

    def _hear(self, obs: dict[str, np.ndarray]) -> None:
        """Feed newly received partner chunks (in order) and the own chunk just played."""
        received = obs["partner_received"]
        w = len(received)
        f = len(obs["partner_vad"]) // w
        partner_vad, own_vad = obs["partner_vad"].reshape(w, f), obs["own_vad"].reshape(w, f)
        for i in range(w):
            k = self._t - w + i
            if k >= 0 and received[i] and k not in self._received:
                self._received.add(k)
                self._pending[k] = partner_vad[i] > 0.5
        while self._partner.next_chunk in self._pending:
            self._partner.add(self._pending.pop(self._partner.next_chunk))
        if self._t > 0:
            self._own.add(own_vad[-1] > 0.5)

    def __call__(self, obs: dict[str, np.ndarray]) -> int:
        self._hear(obs)
        t, self._t = self._t, self._t + 1
        speaking, backchanneling = obs["own_state"][0] > 0.5, obs["own_state"][2] > 0.5
        if backchanneling:
            return int(TurnAction.BACKCHANNEL)
        if speaking:
            if self.yield_to_partner and self._partner.last_voice_chunk >= self._onset_chunk:
                self._onset_chunk = -1
                return int(TurnAction.STOP)
            return int(TurnAction.SPEAK)
        joint_ms = min(self._partner.silence_frames, self._own.silence_frames) * FRAME_MS
        if joint_ms >= self.silence_ms:
            self._onset_chunk = t
            return int(TurnAction.SPEAK)
        frames = self._partner.frames_per_chunk
        if (self.backchannel_after_ms and self._partner.talking_ms() >= self.backchannel_after_ms
                and (t - self._last_bc_chunk) * frames * FRAME_MS >= self.backchannel_every_ms):
            self._last_bc_chunk = t
            return int(TurnAction.BACKCHANNEL)
        return int(TurnAction.SILENT)


@dataclass
class CorpusReference:
    """The natural reference: the learner plays its channel of the partner's own dialogue.

    Per chunk: speak while an IPU of that channel covers most of the chunk, backchannel
    while a backchannel does, stop elsewhere. Its speech is the env's scripted utterances
    (cut from that same channel), so voice activity follows the corpus to the chunk. Needs
    a replay partner from a pool (``env.unwrapped.partner_info`` names the dialogue);
    it reads the future of the dialogue, so it is a reference, not a policy to beat.
    """

    name: str = "corpus-reference"
    _actions: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    _t: int = 0

    def reset(self, env: Any, rng: np.random.Generator) -> None:  # noqa: ARG002
        env = env.unwrapped
        info = env.partner_info
        if (info.get("kind") != "replay" or info.get("dialogue") is None
                or getattr(env, "pool", None) is None):  # a given ReplayAgent names none
            raise ValueError(f"corpus-reference: partner {info.get('label')!r} is not a replay "
                             "from a partner pool (allowed: partner={'kind': 'replay', ...})")
        if info["speech_corpus"]:
            dialogue = env.pool.corpus(info["speech_corpus"]).dialogue(info["speech_dialogue"])
        else:
            from duplexsim.corpora import default_dialogue

            dialogue = default_dialogue()
        chunk_ms, n = env.scenario.chunk_ms, env.scenario.n_chunks
        self._actions = reference_actions(dialogue.segments, info["speech_channel"],
                                          info["start_s"] * 1000, chunk_ms, n)
        self._t = 0

    def __call__(self, obs: dict[str, np.ndarray]) -> int:  # noqa: ARG002
        self._t += 1
        return int(self._actions[min(self._t - 1, len(self._actions) - 1)])


def reference_actions(segments: Sequence[Any], channel: int, start_ms: float, chunk_ms: int,
                      n_chunks: int) -> np.ndarray:
    """Turn actions ``[n_chunks]`` that replay ``channel``'s segments from ``start_ms``:
    SPEAK where IPUs cover at least half a chunk, BACKCHANNEL where backchannels do, else
    STOP (so the next IPU starts a new utterance)."""
    ipu, bc = np.zeros(n_chunks), np.zeros(n_chunks)
    for seg in segments:
        if seg.speaker != channel:
            continue
        lo = (seg.start_s * 1000 - start_ms) / chunk_ms
        hi = (seg.end_s * 1000 - start_ms) / chunk_ms
        cover = bc if seg.kind == "backchannel" else ipu
        for j in range(max(0, int(np.floor(lo))), min(n_chunks, int(np.ceil(hi)))):
            cover[j] += min(hi, j + 1) - max(lo, j)
    out = np.full(n_chunks, int(TurnAction.STOP), np.int64)
    out[bc >= 0.5] = int(TurnAction.BACKCHANNEL)
    out[ipu >= 0.5] = int(TurnAction.SPEAK)
    return out
