"""One learner-controlled side: action -> units, observation, reward, events.

Owns :class:`LearnerSide`, shared by the Gymnasium env (one side) and the PettingZoo env
(both sides): it validates actions against its spaces, queues the units on its
:class:`~duplexsim.envs.learner.LearnerAgent`, scores the frames of the global timeline
both sides have played (:class:`~duplexsim.envs.world.PlayedStream`: where each chunk was
played, so a partner's slip is heard where it happened) and builds the observation from
what its learner was told. Must not touch the simulator.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from gymnasium import spaces

from duplexsim.agents.base import Agent
from duplexsim.closing import close_each
from duplexsim.config.reward import RewardConfig
from duplexsim.envs.actions import ACTION_MEANINGS, TurnAction, TurnSpeaker, one_line
from duplexsim.envs.learner import LearnerAgent
from duplexsim.envs.observations import ObservationInput, observation_of, observation_space
from duplexsim.envs.rewards import TERMS, RewardTracker
from duplexsim.envs.speech import SpeechSource
from duplexsim.metrics.turntaking import EVENT_COLUMNS, event_columns, summarize_columns
from duplexsim.tokens import FRAME_MS

if TYPE_CHECKING:
    from duplexsim.envs.world import PlayedStream

ACTION_MODES = ("turn", "units")
TURN_ACTIONS = tuple(sorted(TurnAction))
"""``TURN_ACTIONS[i] is TurnAction(i)``: the turn actions are 0, 1, 2, ..."""
_INTEGER, _BOOL = int | np.integer, bool | np.bool_
"""Built once: an ``int | np.integer`` written inside ``isinstance`` builds a new union at
every call (most of the cost of checking an action)."""


def speech_table(source: SpeechSource) -> np.ndarray:
    """``table[unit]``: True for a unit that is speech (the inventory's non-silence units;
    a unit past the inventory reads as the last entry, speech)."""
    return _speech_mask(source.n_units, source.silence_units)


def _speech_mask(n_units: int, silence_units: frozenset[int]) -> np.ndarray:
    table = np.ones(n_units + 1, bool)
    table[sorted(silence_units)] = False
    return table


@functools.cache
def _speech_vad(n_units: int, silence_units: frozenset[int]) -> np.ndarray:
    """:func:`speech_table` as the observation's vad dtype, one read-only array per unit
    inventory: shared by the learners of a vector env, whose observations are then built
    with one lookup (:func:`~duplexsim.envs.observations.build_observations`)."""
    table = _speech_mask(n_units, silence_units).astype(np.float32)
    table.flags.writeable = False
    return table


class LearnerSide:
    """Everything about one learner: spaces, its agent, scripted speech, reward tracker."""

    def __init__(self, side: str, source: SpeechSource, frames_per_chunk: int,
                 action_mode: str, window: int, reward: RewardConfig,
                 model: Agent | None = None,
                 reload_model: Callable[[], Agent | None] | None = None):
        self.side, self.source, self.action_mode, self.window = side, source, action_mode, window
        self._reload_model = reload_model
        """Loads ``model`` anew: given when the env loaded it (from an agent directory), so owns
        it (:meth:`close_model`); None for a model given as an Agent (its caller's) or none."""
        self._model_closed = False
        self.frames_per_chunk = f = frames_per_chunk
        self.agent = LearnerAgent(name=f"learner-{side}", frames_per_chunk=f,
                                  silence_unit=source.silence_unit, model=model,
                                  n_units=source.n_units)
        self.speaker = TurnSpeaker(source.bank, f)
        self.tracker = RewardTracker(reward)
        self.observation_space = observation_space(window, f, source.n_units)
        self.action_space: spaces.Space[Any] = (
            spaces.Discrete(len(TurnAction)) if action_mode == "turn"
            else spaces.MultiDiscrete(np.full(f, source.n_units, np.int64)))
        self._use_speech(source)
        self.own: dict[int, np.ndarray] = {}
        self.backchannel_chunks: set[int] = set()
        self.vad: list[np.ndarray] = []
        self.before: list[bool] = []  # the partner's voice activity before the window
        self.scored = 0

    def set_source(self, source: SpeechSource) -> None:
        """Speak from another utterance bank (same unit inventory: the spaces stay)."""
        if source.n_units != self.source.n_units:
            raise ValueError(f"{self.side}: speech in {source.n_units} units, the spaces have "
                             f"{self.source.n_units} (allowed: one unit inventory)")
        self.source = source
        self.speaker = TurnSpeaker(source.bank, self.frames_per_chunk)
        self._use_speech(source)
        self.agent.silence_unit = source.silence_unit

    def _use_speech(self, source: SpeechSource) -> None:
        """The tables of which of ``source``'s units are speech: bool (:attr:`speech`), as a
        list (the tracker's per-frame reads) and the observation's shared float32 one."""
        self.speech = speech_table(source)
        self._speech_list: list[bool] = self.speech.tolist()
        self._speech_vad = _speech_vad(source.n_units, source.silence_units)

    def close_model(self) -> None:
        """Close the learner's model if the env owns it (``reload_model``), once: closing again
        does nothing, the next :meth:`reset` loads it anew. A model given as an Agent stays
        open: its caller owns it."""
        if self._reload_model is not None and not self._model_closed:
            self._model_closed = True
            close_each([self.agent.model])

    def reset(self, rng: np.random.Generator, seed: int) -> None:
        if self._model_closed and self._reload_model is not None:  # closed by close_model()
            self.agent.model = self._reload_model()
            self._model_closed = False
        self.agent.reset(seed)
        self.speaker.reset(rng)
        self.tracker.reset()
        self.own, self.backchannel_chunks, self.vad, self.scored = {}, set(), [], 0
        self.before = []

    def check(self, action: Any) -> Any:
        """``action`` in the action space's own type, or a ValueError saying what is allowed."""
        if self.action_mode == "units":
            arr = np.asarray(action)
            if (arr.shape == (self.frames_per_chunk,) and np.issubdtype(arr.dtype, np.integer)
                    and self.action_space.contains(arr.astype(np.int64))):
                return arr.astype(np.int64)
            raise ValueError(f"{self.side}: action {one_line(action)} is not in "
                             f"{one_line(self.action_space)} (allowed: "
                             f"{self.frames_per_chunk} integer unit ids in "
                             f"0..{self.source.n_units - 1})")
        if isinstance(action, _INTEGER) and not isinstance(action, _BOOL):
            if 0 <= action < len(TURN_ACTIONS):  # the usual case, without numpy's dispatch
                return int(action)
        elif (np.ndim(action) == 0 and np.issubdtype(np.asarray(action).dtype, np.integer)
                and self.action_space.contains(int(action))):
            return int(action)
        allowed = ", ".join(f"{k} = {v}" for k, v in ACTION_MEANINGS.items())
        raise ValueError(f"{self.side}: action {one_line(action)} is not in "
                         f"{self.action_space} (allowed: an integer, {allowed})")

    def act(self, chunk: int, action: Any) -> None:
        """Queue own chunk ``chunk`` as chosen by ``action`` (validated first)."""
        self.queue(chunk, self.check(action))

    def queue(self, chunk: int, checked: Any) -> None:
        """Queue own chunk ``chunk`` as chosen by an action :meth:`check` returned (the
        multi-conversation envs check every action before any is queued, once)."""
        if self.action_mode == "units":
            units: np.ndarray | None = checked
        else:
            turn = TURN_ACTIONS[checked]  # TurnAction(checked), without the enum call
            if turn == TurnAction.SPEAK and self.agent.model is not None:
                self.speaker.chunk(TurnAction.SILENT)
                units = None  # play the learner's own SyncLLM proposal
            else:
                units = self.speaker.chunk(turn)
            if turn == TurnAction.BACKCHANNEL:
                self.backchannel_chunks.add(chunk)
        self.agent.queue(chunk, units)
        if units is not None:
            self.own[chunk] = units

    def score(self, own: PlayedStream, theirs: PlayedStream, start: int, upto: int
              ) -> tuple[float, dict[str, float]]:
        """Reward for the global frames ``scored..upto-1`` (both sides final there), in order,
        once each, from ``start`` on (where the learner's chunk 0 plays: its window; the
        events' time 0; the partner's speech before it seeds the tracker,
        :meth:`~duplexsim.envs.rewards.RewardTracker.seed_partner`); one tracker call per
        own chunk (or stretch outside own chunks)."""
        total = dict.fromkeys(TERMS, 0.0)  # same keys every step (vector envs merge infos)
        if upto <= max(self.scored, start):
            return 0.0, total
        if self.scored < start:  # the first frames: what the partner said before them
            units, chunk = theirs.frames(0, start)
            self.before = self._vad(chunk.tolist(), units.tolist())
            self.tracker.seed_partner(self.before)
        self.scored = max(self.scored, start)
        # a step scores a few frames: plain lists beat numpy's per-call cost here
        own_units, own_chunk = own.frames(self.scored, upto)
        partner_units, partner_chunk = theirs.frames(self.scored, upto)
        chunks = own_chunk.tolist()
        own_list = self._vad(chunks, own_units.tolist())
        partner_list = self._vad(partner_chunk.tolist(), partner_units.tolist())
        lo, n = 0, len(chunks)
        for hi in range(1, n + 1):  # one tracker call per own chunk (or stretch outside one)
            if hi == n or chunks[hi] != chunks[lo]:
                _, terms = self.tracker.add_frames(own_list[lo:hi], partner_list[lo:hi],
                                                   chunks[lo] in self.backchannel_chunks)
                for name, value in terms.items():
                    total[name] += value
                lo = hi
        self.vad.append(np.array([own_list, partner_list], bool))  # [2, upto - scored]
        self.scored = upto
        return float(sum(total.values())), total

    def _vad(self, chunks: list[int], units: list[int]) -> list[bool]:
        """Voice activity of frames: a speech unit (``self.speech``, indices clipped to it)
        inside a played chunk (chunk -1: nothing played there, silent)."""
        table, last = self._speech_list, len(self._speech_list) - 1
        return [c >= 0 and table[u if 0 <= u <= last else (0 if u < 0 else last)]
                for c, u in zip(chunks, units, strict=True)]

    def observation(self, chunk: int, n_chunks: int) -> dict[str, np.ndarray]:
        """The observation before own chunk ``chunk`` is decided (:meth:`observation_input`
        built alone; a vector env builds its conversations' together)."""
        return observation_of(self.observation_input(chunk, n_chunks), window=self.window,
                              frames_per_chunk=self.frames_per_chunk)

    def observation_input(self, chunk: int, n_chunks: int) -> ObservationInput:
        """What :meth:`observation` is built from (for
        :func:`~duplexsim.envs.observations.build_observations`, with this side's window and
        frames per chunk)."""
        # what was played, else what the simulator already took (a model's proposal too),
        # else what is queued
        own = {}
        played, decided, queued = self.agent.played_chunks, self.agent.decided, self.own
        for k in range(chunk - self.window, chunk):
            units = played.get(k)
            if units is None:
                units = decided.get(k)
                if units is None:
                    units = queued.get(k)
            if units is not None:
                own[k] = units
        state = ((float(self.speaker.speaking), self.speaker.progress,
                  float(self.speaker.backchanneling))
                 if self.action_mode == "turn" else (0.0, 0.0, 0.0))
        return ObservationInput(chunk, n_chunks, self.agent.received, own, self._speech_vad,
                                self.source.silence_unit, state)

    def events(self) -> pd.DataFrame:
        """Turn-taking events on the scored timeline (speaker 0 = this learner; time 0 =
        where its chunk 0 plays). The partner's speech before time 0 (its clock ahead) is
        context, as it seeds the reward tracker: it holds the floor at time 0, so a
        takeover is a transition with its FTO from the partner's last offset before 0; rows
        across 0 (its IPU or pause, the silence before a takeover) are cut there, FTOs kept
        whole. Backchannels are the corpus metric's (short isolated IPUs in the partner's
        turn), whatever action played them."""
        return pd.DataFrame(self._event_columns(), columns=EVENT_COLUMNS)

    def _event_columns(self) -> dict[str, np.ndarray]:
        vad = np.concatenate(self.vad, axis=1) if self.vad else np.zeros((2, 0), bool)
        if self.before:  # the learner was silent there
            lead = len(self.before)
            vad = np.concatenate((np.array([[False] * lead, self.before], bool), vad), axis=1)
        return event_columns(vad, frame_ms=FRAME_MS, context_frames=len(self.before))

    def summary(self) -> dict[str, float]:
        """:func:`~duplexsim.metrics.turntaking.summarize_events` of the episode (both sides
        pooled), plus the learner's own: ``learner_fto_median_ms`` (its takeovers),
        ``learner_backchannels_per_min`` and ``learner_ipus_per_min`` (backchannels and
        IPUs by the shape of its voice activity, as for a corpus, not by its actions: the
        tracker's counts are those). (From the events' numpy columns: one per episode of
        every env, a DataFrame would cost more.)"""
        duration_ms = float(FRAME_MS * sum(v.shape[1] for v in self.vad))
        events = self._event_columns()
        out = summarize_columns(events, duration_ms=duration_ms)
        mine = events["speaker"] == 0
        fto = events["fto_ms"][mine]
        fto = fto[~np.isnan(fto)]
        kinds = events["kind"][mine]
        minutes = max(duration_ms, 1.0) / 60_000
        out["learner_fto_median_ms"] = float(np.median(fto)) if len(fto) else float("nan")
        out["learner_backchannels_per_min"] = float((kinds == "backchannel").sum() / minutes)
        out["learner_ipus_per_min"] = float((kinds == "ipu").sum() / minutes)
        return out
