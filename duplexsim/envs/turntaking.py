"""``duplexsim/TurnTaking-v0``: a Gymnasium env where the learner is one side of a call.

Owns the env class (its docstring is the spec). The arguments it shares with the parallel
env are checked and resolved in :mod:`duplexsim.envs.arguments`; one learner side
(actions, observation, reward) is :class:`duplexsim.envs.side.LearnerSide`; the simulated
world is :class:`duplexsim.envs.world.DuplexWorld`. Must not touch the simulator's internals.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any, cast

import gymnasium as gym
import numpy as np
import pandas as pd

from duplexsim.agents.base import Agent, unwrapped
from duplexsim.closing import call_each, close_each
from duplexsim.config.reward import RewardConfig
from duplexsim.config.scenario import Scenario, SideConfig
from duplexsim.envs.arguments import (
    as_reward,
    check_choice,
    check_window,
    learner_side,
    unknown_reset_option,
)
from duplexsim.envs.partner_pool import PartnerPool, check_partner_units, fixed_partner_info
from duplexsim.envs.partners import is_pool, parse_pool
from duplexsim.envs.registration import DEFAULT_MAX_EPISODE_STEPS, TURN_TAKING_ID
from duplexsim.envs.side import ACTION_MODES
from duplexsim.envs.speech import speech_source
from duplexsim.envs.world import DuplexWorld, as_scenario, build_partner, resolve_partner
from duplexsim.sides import SIDES, other
from duplexsim.threads import use_threads


class TurnTakingEnv(gym.Env):
    """The learner is one side of a full-duplex conversation across a simulated network.

    ## Description
    Two sides talk in 25 Hz speech units (40 ms frames), one chunk (``scenario.chunk_ms``,
    default 160 ms = ``F`` = 4 frames) at a time. The learner takes side ``side`` (default
    ``"a"``); the partner on the other side is any agent: a replay of a corpus dialogue
    (the default: the small dialogue shipped inside the package), a scripted policy, a
    SyncLLM or TDM agent, or a pool of these drawn anew at every reset (``partner=``, below).
    Chunks cross the scenario's network (delay, jitter, loss, reordering), so the learner
    hears the partner late, as a real system would. One ``step`` decides one own chunk:
    chunk ``j`` (step ``j``) is decided at ``max(0, j - lead) * chunk_ms``
    (``lead = scenario.decision_lead_chunks``, paper: 1), i.e. before it is spoken, from
    what had arrived by then. A replay partner does not react to the learner; a SyncLLM
    partner hears the learner's units across the network and answers them.

    ## Action Space
    ``action_mode="turn"`` (default): ``Discrete(4)``:
    0 silent (pause; a later speak resumes the utterance), 1 speak (the next chunk of
    the learner's utterance: its own SyncLLM's proposal when ``model`` is given, else the
    next chunk of a scripted utterance cut from the learner's channel of the partner's
    dialogue, see Arguments), 2 backchannel (the next chunk of a short backchannel unit
    pattern from the same channel), 3 stop (silence, and the rest of the utterance is
    dropped). ``action_mode="units"``: ``MultiDiscrete([n_units] * F)``: the chunk's units.
    Anything else raises ``ValueError`` naming the allowed actions.

    ## Observation Space
    ``Dict`` of one-dimensional entries, built only from what the learner was told by the
    simulator by its decision's ms (chunks arriving at that ms included, as a simulator
    agent deciding then is given them), never from the partner's ground truth
    (``W = window`` chunks; window row ``i`` is chunk ``j - W + i`` before the decided chunk
    ``j``, and frame ``i * F + k`` of a ``W * F`` vector is frame ``k`` of row ``i``; chunks
    before 0 are silent and count as received; voice activity = a unit outside the
    tokenizer's silence units):

    - ``partner_units`` ``Box(0, n_units-1, (W*F,), int64)``: partner units as received
      (the silence unit where not received yet);
    - ``partner_received`` ``MultiBinary(W)``: 1 where that partner chunk has arrived;
    - ``own_units`` ``Box(0, n_units-1, (W*F,), int64)``: the learner's own units;
    - ``own_vad`` / ``partner_vad`` ``Box(0, 1, (W*F,), float32)``: voice activity per
      frame (partner: 0 where not received);
    - ``lookahead`` ``Box(0, W, (1,), float32)``: partner chunks in the window not yet
      received (the lag the learner must bridge; it grows with the one-way delay);
    - ``time`` ``Box(0, 1, (1,), float32)``: ``j / n_chunks``;
    - ``own_state`` ``Box(0, 1, (3,), float32)``: utterance in progress (0/1), the
      fraction of it spoken, backchannel in progress (0/1) of the scripted utterance (turn
      mode without ``model``; zeros in units mode; with a ``model`` the first two are 0,
      its utterances being its own: read them in ``own_vad``, and the third still marks a
      backchannel action's speech).

    ## Rewards
    The step reward is the sum of five weighted terms
    (:class:`~duplexsim.config.reward.RewardConfig`: the ``reward=`` argument if given,
    else the scenario's ``[reward]`` table, else the defaults; see
    ``scenarios/rl-turntaking.toml``), scored frame by frame on the global timeline where
    each side's chunks were played (a partner with ``estimation = "wait"`` is heard
    slipped, its slip gaps silent), over the learner's ``n_chunks`` chunks (from where its
    chunk 0 plays: a partner whose clock is ahead speaks alone before that, unscored, but
    it still holds the floor at chunk 0: speaking into its ongoing speech interrupts it, a
    takeover after it is a floor transfer from its last offset; joint silence counts from
    chunk 0). A learner frame is *backchannel* if its chunk was played by the backchannel
    action, else *speech* when voiced; only speech holds the floor. With ``dt = 0.04`` s
    per frame:

    - ``overlap = -overlap_per_s * dt`` per frame where the partner and learner speech (or
      a misplaced backchannel) are both voiced;
    - ``gap = -gap_per_s * dt`` per frame of joint silence (no partner voice, no learner
      speech) past the first ``gap_free_ms`` of that silence;
    - ``fto = fto * max(2 - z**2 / 2, -8)``, ``z = (FTO - fto_mean_ms) / fto_sd_ms``, at
      each floor transfer from the partner to the learner (a learner speech onset after
      the partner last held the floor alone; FTO = onset minus the partner's last offset,
      negative when the learner started inside the partner's last spurt and outlasted it);
    - ``interrupt = -interrupt`` per learner speech onset while the partner is speaking
      (voiced in the frame before too: starting in the same frame is not an interruption);
    - ``backchannel = +backchannel`` per backchannel onset while the partner holds the
      floor (voiced within ``bc_context_ms``, last sole speaker) at least
      ``bc_min_interval_ms`` after the previous one, ``-backchannel`` for any other.

    Defaults: 1, 1, 400 ms, 0.5, N(180, 450) ms, 0.5, 0.2, 1000 ms, 3000 ms. A frame is
    scored once both sides' playout is known up to it, so rewards trail the action by the
    decision lead (and a partner's slip); the last step scores the rest. The reward is not
    farmable by partner-blind behaviour: silence, constant speech, random actions and
    periodic speak/pause cycles all score well below the corpus's own turn-taking replayed
    as actions (:class:`duplexsim.envs.baselines.CorpusReference`;
    ``tests/envs/test_reward_farming.py``). A step's ``info["chunk"]`` is the learner's
    chunk the action was for and ``info["time_ms"]`` the conversation time the step
    reached, ``(chunk + 1) * chunk_ms`` (the next observation's moment; 0 at reset).
    ``info["reward_terms"]`` has the step's breakdown (same keys every step),
    ``info["events"]`` running counts (overlap_ms, gap_ms, transitions, interruptions,
    backchannels good/bad, onsets), and the final
    step's ``info["turntaking"]`` the episode summary of
    :func:`duplexsim.metrics.turntaking.summarize_events`; :meth:`events` gives the table.

    The two are different measures, on purpose. ``info["events"]`` (like the reward) goes by
    the learner's *actions*: ``backchannels_good``/``_bad`` count onsets of
    backchannel-action chunks, every other voiced onset is speech (``learner_onsets``,
    ``interruptions``, ``transitions``). ``info["turntaking"]`` and :meth:`events` are the
    corpus metrics, by the *shape* of the voice activity alone, as for any corpus (so they
    compare with a corpus's own statistics and the corpus reference): a backchannel there
    (``backchannels_per_min``, ``learner_backchannels_per_min``) is a short isolated IPU
    (at most 1 s, after 1 s of own silence) inside the partner's turn, whatever played it,
    and an IPU bridges pauses under 200 ms. They can disagree: one speak chunk inside the
    partner's turn is a learner ``backchannel`` row but an interruption in the counts;
    backchannel actions kept up for 1.6 s are one ``ipu`` row but three backchannels in the
    counts. Read backchannel placement from the counts, rates beside a corpus from the summary.

    Both hear the partner's speech before chunk 0 as the rewards do (it holds the floor
    there: an onset into it is an interruption, a takeover after it a transition with its
    FTO from the partner's last offset). The table's rows across chunk 0 are cut at 0, as
    rows running past the last chunk are cut at its end: a partner IPU or pause in progress
    counts only its part from 0 in the duration statistics (``ipu_*``, ``pause_median_ms``),
    and the silence between the partner's offset before 0 and the learner's takeover only
    its part from 0 in ``gap_median_ms`` (none, a zero-length gap row, when the learner
    starts at 0), while every FTO keeps its whole value (``fto_*``,
    ``learner_fto_median_ms``); shares and rates are of the learner's chunks.

    ## Starting State
    A fresh conversation at time 0 with nothing heard. With a pool, the partner (spec by
    weight, then member, then the learner's speech source and a replay's start) is drawn
    first from ``self.np_random``; then an episode seed for the network and the partner's
    sampling, then the order of the scripted utterances. Same ``reset(seed=...)`` and
    actions, same rollout. ``reset`` returns ``info = {"chunk": 0, "time_ms": 0,
    "partner": label}``; :attr:`partner_info` describes the partner (kind, agent, corpus,
    dialogue, channel, start_s, and the dialogue channel the learner's speech comes from).
    ``reset`` takes no ``options`` keys: any key (a typo'd option would do nothing) is a
    one-line ValueError; ``options={}`` or None is fine.

    ## Episode End
    Never terminated; truncated after ``scenario.n_chunks`` steps (the scenario duration).
    Registration sets ``max_episode_steps`` to the default scenario's 188 steps; with a
    longer scenario pass ``gymnasium.make(..., max_episode_steps=scenario.n_chunks)`` (if
    an episode of a longer scenario stopped at exactly step 188, the next ``reset`` warns
    once that the registered limit cut it). Stepping after the end (unwrapped) raises.
    ``copy.deepcopy`` and ``pickle`` work before ``reset`` and after ``close``, not in
    between (a one-line ``TypeError``: the simulation is live generators); to branch an
    episode, replay its seed and actions on a new env.

    ## Arguments
    ``scenario`` (Scenario, TOML path or dict; default: embedded 30 s replay scenario; its
    network, chunk size, duration and ``[reward]`` table apply to every partner),
    ``partner``: None = the scenario's other side; a kind name of
    :data:`duplexsim.sim.build.AGENT_BUILDERS` that needs no files (``replay``, ``scripted``;
    ``syncllm`` and ``tdm`` need an agent directory: ``[DIR]`` or a spec dict); a SideConfig; an
    Agent; or a *pool*, drawn per reset: a spec dict such as ``{"kind": "replay",
    "corpus": DIR, "split": "train", "start_s": "random"}`` or ``{"kind": "syncllm",
    "agents": [DIR, ...]}``, a list of specs, kind names and agent directories, or a
    :class:`~duplexsim.envs.partner_pool.PartnerPool` (keys: :mod:`duplexsim.envs.partners`;
    a bad spec is a one-line ``ValueError`` naming ``partner[i].key``; a PartnerPool object
    may be given to several envs, each drawing from its own copy, unless it holds Agent
    objects). A syncllm partner
    may wait (``estimation = "wait"``); the learner's own side of the scenario may not.
    The learner's scripted speech is cut from the other channel of a replayed dialogue,
    else from a ``speech_corpus`` (default: for a pool's agents, the agent's training
    corpus; for a fixed partner, such as a SideConfig or an Agent, the shipped dialogue).
    ``action_mode`` ("turn" | "units"), ``side`` ("a" | "b"), ``window``
    (chunks, default 8), ``reward`` (RewardConfig or dict; replaces the scenario's
    ``[reward]`` table as a whole: keys a dict leaves out take the RewardConfig defaults,
    not the table's), ``model`` (the learner's own model, SyncLLM or TDM: agent directory or Agent;
    used by speak; one loaded from a directory is closed by ``close()``, an Agent is not).

    ## Version History
    - v0: initial version. Later, without changing what existing arguments do: rewards may
      come from the scenario's ``[reward]`` table; ``partner`` may be a pool drawn per
      reset (no draw is made without one, so earlier rollouts are unchanged); ``reset``
      refuses ``options`` keys (they were ignored).
    """

    metadata = {"render_modes": []}

    def __init__(self, scenario: Scenario | str | Path | Mapping[str, Any] | None = None,
                 partner: str | SideConfig | Agent | Mapping[str, Any] | Sequence[Any]
                 | PartnerPool | None = None, action_mode: str = "turn",
                 side: str = "a", window: int = 8,
                 reward: RewardConfig | Mapping[str, float] | None = None,
                 model: str | Path | Agent | None = None, render_mode: str | None = None):
        check_choice("action_mode", action_mode, ACTION_MODES)
        check_choice("side", side, SIDES)
        check_choice("render_mode", render_mode, (None,))
        check_window(window)
        use_threads()  # an entry point: one torch thread unless DUPLEXSIM_THREADS says more
        self.render_mode = render_mode
        self.pool: PartnerPool | None = None
        if is_pool(partner):
            self.scenario = as_scenario(scenario)
            self.pool = parse_pool(partner, self.scenario, other(side))
            source = self.pool.source(self.pool.members[0].speech[0])
            given: Agent | None = None
        else:
            # not a pool form (is_pool); resolve_partner raises a TypeError for anything else
            single = cast("str | SideConfig | Agent | None", partner)
            self.scenario, given = resolve_partner(as_scenario(scenario), other(side), single)
            source = speech_source(self.scenario, side)
        self.learner = learner_side(side, source, self.scenario, action_mode, window,
                                    as_reward(reward, self.scenario), model)
        with ExitStack() as on_error:  # an env not made cannot be closed: close what it built
            on_error.callback(self.learner.close_model)
            partner_agent = given
            if self.pool is None and given is None:
                partner_agent = build_partner(self.scenario, other(side))
                on_error.callback(close_each, [partner_agent])
            if partner_agent is not None:  # a pool's partners are checked as they are drawn
                check_partner_units(partner_agent, source, f"partner {partner_agent.name!r}")
            self.world = DuplexWorld(self.scenario, {side: self.learner.agent}, partner_agent)
            on_error.pop_all()
        self._given = given
        self._partner_closed = False
        """True from :meth:`close` until the next :meth:`reset` rebuilds the fixed partner
        this env built (one given as an Agent is its caller's: never closed here)."""
        self.partner_info: dict[str, Any] = {}
        """The current episode's partner (label, kind, corpus, dialogue, channel, start_s,
        the learner's speech source); set by :meth:`reset`. A partner given as an Agent
        has the kind of its class and no agent, corpus, dialogue or channel."""
        self.observation_space = self.learner.observation_space
        self.action_space = self.learner.action_space
        self._done = True
        self._warned_limit = False

    def _warn_if_cut_by_the_registered_limit(self) -> None:
        """Warn (once) when the episode being replaced stopped at exactly the registered
        ``max_episode_steps`` before its scenario's end: the TimeLimit of a plain
        ``gymnasium.make`` cut it (the env cannot see the wrapper's value, only this)."""
        if (self._done or self._warned_limit
                or not self.world.chunk == DEFAULT_MAX_EPISODE_STEPS < self.scenario.n_chunks):
            return
        self._warned_limit = True
        gym.logger.warn(
            f"the episode ended after {DEFAULT_MAX_EPISODE_STEPS} of scenario "
            f"{self.scenario.name!r}'s {self.scenario.n_chunks} steps: {TURN_TAKING_ID} is "
            f"registered with max_episode_steps={DEFAULT_MAX_EPISODE_STEPS}; pass "
            f"max_episode_steps={self.scenario.n_chunks} to gymnasium.make for whole episodes")

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None
              ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        problem = unknown_reset_option(options)  # before anything changes, the seed included
        if problem:
            raise ValueError(problem)
        super().reset(seed=seed)
        self._warn_if_cut_by_the_registered_limit()
        if self.pool is not None:
            draw = self.pool.draw(self.np_random)
            self.world.set_partner(self.pool.partner_scenario(draw.member), draw.agent)
            self.learner.set_source(draw.source)
            self.partner_info = draw.info(self.scenario.chunk_ms)
        else:
            if self._partner_closed:  # close() closed the partner this env built: a new one
                self.world.set_partner(self.scenario,
                                       build_partner(self.scenario, other(self.learner.side)))
                self._partner_closed = False
            partner = self.world.partner
            if partner is None:  # (a partner not drawn from a pool is built with the env)
                raise RuntimeError("TurnTakingEnv: no partner agent")
            self.partner_info = fixed_partner_info(self.scenario, other(self.learner.side),
                                                   partner.name,
                                                   self.learner.source.dialogue_id, self._given)
        episode_seed = int(self.np_random.integers(2**31 - 1))
        self.learner.reset(self.np_random, episode_seed)
        self.world.reset(episode_seed)
        self._done = False
        return self.learner.observation(0, self.world.n_chunks), {
            "chunk": 0, "time_ms": 0, "partner": self.partner_info["label"]}

    def step(self, action: Any) -> tuple[dict[str, np.ndarray], float, bool, bool,
                                         dict[str, Any]]:
        chunk = self.act(action)
        return self.observe(chunk, self.world.advance())

    # ``step`` in its three phases, so that a vector env (:mod:`duplexsim.envs.vector`) can
    # advance many worlds together between them
    def check_running(self) -> None:
        """A RuntimeError unless an episode is running (a step may be taken)."""
        if self._done:
            raise RuntimeError("step() after the episode ended (or before reset()): "
                               "call reset() first")
        if self.world.closed:
            raise RuntimeError("step() after close(): call reset() first (a new episode)")

    def act(self, action: Any) -> int:
        """Check ``action`` and queue it as the learner's chunk; the chunk's index."""
        self.check_running()
        return self.act_checked(self.learner.check(action))

    def act_checked(self, checked: Any) -> int:
        """:meth:`act` of an action already checked (``learner.check``) on a running episode
        (:meth:`check_running`): the vector env checks every conversation's first, once."""
        chunk = self.world.chunk
        self.learner.queue(chunk, checked)
        return chunk

    def observe(self, chunk: int, truncated: bool) -> tuple[dict[str, np.ndarray], float,
                                                           bool, bool, dict[str, Any]]:
        """The step's result once the world has advanced past ``chunk``'s decision."""
        reward, terminated, truncated, info = self.outcome(chunk, truncated)
        return self.observation(), reward, terminated, truncated, info

    def outcome(self, chunk: int, truncated: bool) -> tuple[float, bool, bool, dict[str, Any]]:
        """:meth:`observe` without the observation (reward, terminated, truncated, info): a
        vector env builds its conversations' observations together
        (:meth:`~duplexsim.envs.side.LearnerSide.observation_input`)."""
        reward, terms = self.learner.score(*self.world.scorable(self.learner.side))
        info: dict[str, Any] = {
            "chunk": chunk, "time_ms": self.world.chunk * self.scenario.chunk_ms,
            "reward_terms": terms, "events": dict(self.learner.tracker.counts)}
        if truncated:
            self._done = True
            info["turntaking"] = self.learner.summary()
        return reward, False, truncated, info

    def observation(self) -> dict[str, np.ndarray]:
        """The observation now (before the learner's next chunk is decided)."""
        return self.learner.observation(self.world.chunk, self.world.n_chunks)

    def render(self) -> None:
        """Nothing: the only render mode is None, for which Gymnasium's convention is that no
        render is computed (gymnasium.Env's own render raises a bare NotImplementedError)."""
        return None

    def close(self) -> None:
        """Free the last episode's simulation (its learner records, :meth:`events`, stay)
        and close the agents this env built, once (closing again does nothing): its partners
        and the learner's ``model`` loaded from a directory. A partner or model given as an
        Agent (``partner=agent``, in a pool, ``model=agent``) stays open: its caller owns it.
        A :meth:`reset` after this builds the env's partners and loads its model anew."""
        call_each([self.world.close, self._close_partners, self.learner.close_model])

    def _close_partners(self) -> None:
        if self.pool is not None:
            self.pool.close()
        elif (self._given is None and not self._partner_closed
              and self.world.partner is not None):
            self._partner_closed = True
            close_each([unwrapped(self.world.partner)])

    def events(self) -> pd.DataFrame:
        """Turn-taking events of the episode so far (speaker 0 = learner, 1 = partner; time 0
        is where the learner's chunk 0 plays)."""
        return self.learner.events()
