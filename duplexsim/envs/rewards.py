"""Turn-taking rewards for the learner, computed online one chunk at a time.

Owns :class:`RewardTracker`, a small frame-level state machine over the two voice-activity
streams *on the global timeline* (what the learner and its partner actually played, frame by
frame where each was played: :class:`duplexsim.envs.world.PlayedStream`). It keeps running
counts of turn-taking events so that ``info`` can carry them every step without re-running
the full event detector. The counts go by the learner's actions (a backchannel is a chunk the
backchannel action played); the episode's event table
(:func:`duplexsim.metrics.turntaking.event_columns`, at the end) goes by the shape of the
voice activity, as for a corpus, and can count otherwise (see ``TurnTakingEnv``'s Rewards).
The weights and thresholds of every term are :class:`RewardConfig` (a scenario's
``[reward]`` table; schema in :mod:`duplexsim.config.reward`, re-exported here).
Must not touch the simulator, models or spaces.

Terms (each a weight times a count; all per chunk, summed into one scalar reward). Frames
of chunks the learner played with the backchannel action are *backchannel* frames, the
learner's other non-silent frames are *speech*; only speech holds the floor:

- ``overlap``: -``overlap_per_s`` per second the learner speaks while the partner speaks;
  a well-placed backchannel overlaps for free, a misplaced one is charged like speech.
- ``gap``: -``gap_per_s`` per second of joint silence beyond ``gap_free_ms`` (a short gap
  is normal conversation; a long one is dead air). Backchannels do not fill a gap.
- ``fto``: at every floor transition from the partner to the learner, ``fto`` times the
  log-likelihood of its floor-transfer offset under the target N(``fto_mean_ms``,
  ``fto_sd_ms``), relative to the likelihood two standard deviations out:
  ``2 - z**2 / 2`` (positive for typical offsets, negative for outliers, floored at -8).
- ``interrupt``: -``interrupt`` each time the learner starts speaking while the partner
  is already speaking (speech right after a backchannel is a start too).
- ``backchannel``: +``backchannel`` for a backchannel started while the partner holds the
  floor (partner speech within ``bc_context_ms``) at least ``bc_min_interval_ms`` after
  the learner's previous backchannel started; -``backchannel`` for any other (misplaced
  or too frequent: listeners backchannel every few seconds, not every chunk).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from duplexsim.config.reward import RewardConfig
from duplexsim.tokens import FRAME_MS

__all__ = ["COUNTS", "TERMS", "RewardConfig", "RewardTracker"]


TERMS = ("overlap", "gap", "fto", "interrupt", "backchannel")
COUNTS = ("overlap_ms", "gap_ms", "transitions", "interruptions", "backchannels_good",
          "backchannels_bad", "learner_onsets", "partner_onsets")
NEVER = -(10**9)


@dataclass
class RewardTracker:
    """Online reward and event counts over aligned stretches of (learner, partner) activity."""

    config: RewardConfig = field(default_factory=RewardConfig)
    counts: dict[str, float] = field(default_factory=dict)
    _prev_speech: bool = False  # learner speech (not backchannel) in the previous frame
    _prev_bc: bool = False
    _prev_partner: bool = False
    _bc_good: bool = False  # the backchannel in progress is well placed
    _silence_run: int = 0
    _frame: int = 0
    _last_sole: int = -1  # 0 = learner, 1 = partner, -1 = nobody yet
    _partner_last_active: int = NEVER
    _partner_last_offset: int = NEVER
    _last_bc_onset: int = NEVER
    _pending_onset: int | None = None  # learner onset inside partner speech, FTO not known yet

    def __post_init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.counts = dict.fromkeys(COUNTS, 0.0)
        self._prev_speech = self._prev_bc = self._prev_partner = self._bc_good = False
        self._silence_run = self._frame = 0
        self._last_sole = -1
        self._partner_last_active = self._partner_last_offset = self._last_bc_onset = NEVER
        self._pending_onset = None

    def seed_partner(self, partner: Sequence[bool]) -> None:
        """Start from the partner's voice activity in the frames before the learner's first
        (``partner[-1]`` the frame just before frame 0): a partner whose clock is ahead
        spoke alone there, unscored, so it holds the floor at the learner's chunk 0 as it
        did then (an onset into its speech is an interruption, a takeover after it a floor
        transfer timed from its last offset, a backchannel after it well placed). Nothing
        is scored or counted for those frames, and joint silence is counted from frame 0
        (the learner could not fill a gap before it played). Call after :meth:`reset`,
        before the first frames."""
        n = len(partner)
        voiced = [i - n for i, p in enumerate(partner) if p]
        if not voiced:
            return
        self._prev_partner = bool(partner[-1])
        self._partner_last_active = voiced[-1]
        self._last_sole = 1  # the learner was silent there: the partner spoke alone
        offsets = [i - n for i in range(1, n) if partner[i - 1] and not partner[i]]
        if offsets:
            self._partner_last_offset = offsets[-1]

    def add_chunk(self, own: np.ndarray | Sequence[bool], partner: np.ndarray | Sequence[bool],
                  own_is_backchannel: bool) -> tuple[float, dict[str, float]]:
        """Score the next aligned frames of voice activity (bool ``[L]`` each, arrays or lists:
        usually one learner chunk; scoring frame by frame, any split gives the same totals).

        ``own_is_backchannel``: the learner's chunk was played by a backchannel action
        (its non-silent frames are backchannel, not speech).
        Returns the chunk's reward and its per-term breakdown (weighted, signed).
        """
        return self.add_frames(np.asarray(own, bool).tolist(), np.asarray(partner, bool).tolist(),
                               own_is_backchannel)

    def add_frames(self, own: list[bool], partner: list[bool], own_is_backchannel: bool
                   ) -> tuple[float, dict[str, float]]:
        """:meth:`add_chunk` of lists of Python bools (the env's per-step path: stepping
        frame by frame through them is cheaper than through numpy arrays)."""
        cfg = self.config
        terms = dict.fromkeys(TERMS, 0.0)
        free = int(cfg.gap_free_ms // FRAME_MS)
        for o, p in zip(own, partner, strict=True):
            f = self._frame
            speech, bc = o and not own_is_backchannel, o and own_is_backchannel
            partner_stops = self._prev_partner and not p
            if partner_stops:  # before the learner's onset: a start in this frame is FTO 0
                self._partner_last_offset = f
            if bc and not self._prev_bc:
                self._backchannel_onset(f, terms)
            if speech and not self._prev_speech:
                self._learner_onset(f, p and self._prev_partner, terms)
            if p and not self._prev_partner:
                self.counts["partner_onsets"] += 1
            if partner_stops:
                if self._pending_onset is not None and speech:  # overlapping takeover done
                    terms["fto"] += cfg.fto * cfg.fto_score((self._pending_onset - f) * FRAME_MS)
                    self.counts["transitions"] += 1
                    self._last_sole = 0
                self._pending_onset = None
            if not speech:
                self._pending_onset = None
            if p and (speech or (bc and not self._bc_good)):
                terms["overlap"] -= cfg.overlap_per_s * FRAME_MS / 1000
                self.counts["overlap_ms"] += FRAME_MS
            self._gap_frame(speech or p, free, terms)
            if p:
                self._partner_last_active = f
            if speech != p:
                self._last_sole = 0 if speech else 1
            self._prev_speech, self._prev_bc, self._prev_partner = speech, bc, p
            self._frame += 1
        return float(sum(terms.values())), terms

    def _gap_frame(self, floor_taken: bool, free: int, terms: dict[str, float]) -> None:
        if floor_taken:
            self._silence_run = 0
            return
        self._silence_run += 1
        if self._silence_run > free:
            terms["gap"] -= self.config.gap_per_s * FRAME_MS / 1000
            self.counts["gap_ms"] += FRAME_MS

    def _backchannel_onset(self, f: int, terms: dict[str, float]) -> None:
        cfg = self.config
        # partner speech within bc_context_ms before the onset, as detect_events has it: up
        # to 25 silent frames (1000 ms) between; it allowed 24 (960 ms)
        partner_holds = f - self._partner_last_active <= int(cfg.bc_context_ms // FRAME_MS) + 1
        spaced = (f - self._last_bc_onset) * FRAME_MS >= cfg.bc_min_interval_ms
        self._last_bc_onset = f
        self._bc_good = partner_holds and spaced and self._last_sole == 1
        sign = 1.0 if self._bc_good else -1.0
        terms["backchannel"] += sign * cfg.backchannel
        self.counts["backchannels_good" if self._bc_good else "backchannels_bad"] += 1

    def _learner_onset(self, f: int, partner_now: bool, terms: dict[str, float]) -> None:
        """``partner_now``: the partner was already speaking (a simultaneous start is not an
        interruption)."""
        cfg = self.config
        self.counts["learner_onsets"] += 1
        if partner_now:
            terms["interrupt"] -= cfg.interrupt
            self.counts["interruptions"] += 1
            if self._last_sole == 1:
                self._pending_onset = f
        elif self._last_sole == 1:
            fto_ms = (f - self._partner_last_offset) * FRAME_MS
            terms["fto"] += cfg.fto * cfg.fto_score(fto_ms)
            self.counts["transitions"] += 1
