"""``DuplexParallelEnv``: a PettingZoo ParallelEnv with two learners, "A" and "B".

Owns the two-learner env: both sides of one simulated conversation are policies, each
stepping one own chunk per ``step`` and seeing the other across the network, late. Each
side's actions, observations and rewards are exactly those of ``TurnTakingEnv`` (see its
docstring); the world is the same :class:`~duplexsim.envs.world.DuplexWorld`. Must not
touch the simulator's internals.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.utils import seeding
from pettingzoo import ParallelEnv

from duplexsim.agents.base import Agent
from duplexsim.closing import call_each
from duplexsim.config.reward import RewardConfig
from duplexsim.config.scenario import Scenario
from duplexsim.envs.arguments import (
    as_reward,
    check_choice,
    check_window,
    learner_side,
    unknown_reset_option,
)
from duplexsim.envs.side import ACTION_MODES
from duplexsim.envs.speech import speech_source
from duplexsim.envs.world import DuplexWorld, as_scenario
from duplexsim.errors import ConfigError
from duplexsim.sim.build import sharing_models
from duplexsim.threads import use_threads

AGENT_SIDES = {"A": "a", "B": "b"}


class DuplexParallelEnv(ParallelEnv):
    """Two learners talk to each other across the scenario's network.

    Agents ``"A"`` (scenario side ``a``) and ``"B"`` (side ``b``). Per agent: the action
    space, observation space and reward of :class:`~duplexsim.envs.turntaking.TurnTakingEnv`
    (``action_mode`` "turn" or "units"), each side's scripted speech cut from its own
    channel of the scenario's dialogue (the shipped one by default; both sides' in one unit
    inventory, else a one-line ConfigError: each hears the other's units). All agents are
    truncated together at the scenario's end; none is ever terminated early.
    Arguments: ``scenario``, ``action_mode``, ``window``, ``reward`` as for TurnTakingEnv
    (both sides score with the same rewards: ``reward=``, else the scenario's ``[reward]``
    table, else the defaults); ``models``: per agent name, that learner's own model (a
    trained agent directory, SyncLLM or TDM, or an Agent) whose proposal SPEAK plays, as
    TurnTakingEnv's ``model`` (turn mode only; one loaded from a directory is closed by
    ``close()``, an Agent is not). One directory given for both is loaded once: the two
    learners' models are rows of one model and token row set
    (:func:`~duplexsim.sim.build.sharing_models`, as a vector env's conversations), each
    side still owning its agent. ``reset`` takes no ``options`` keys and
    warns (a UserWarning naming the key) when given one: it cannot refuse them as
    TurnTakingEnv does, since PettingZoo's ``parallel_api_test`` resets with
    ``options={"options": 1}`` to check that ``reset`` accepts the argument.
    """

    metadata = {"render_modes": [], "name": "duplexsim_parallel_v0", "is_parallelizable": True}

    def __init__(self, scenario: Scenario | str | Path | Mapping[str, Any] | None = None,
                 action_mode: str = "turn", window: int = 8,
                 reward: RewardConfig | Mapping[str, float] | None = None,
                 render_mode: str | None = None,
                 models: Mapping[str, str | Path | Agent] | None = None):
        check_choice("action_mode", action_mode, ACTION_MODES)
        check_choice("render_mode", render_mode, (None,))
        check_window(window)
        use_threads()  # an entry point: one torch thread unless DUPLEXSIM_THREADS says more
        self.render_mode = render_mode
        self.scenario = as_scenario(scenario)
        config = as_reward(reward, self.scenario)
        if models is not None and not isinstance(models, Mapping):
            raise TypeError(f"models: got {type(models).__name__} (allowed: a dict agent "
                            f"name ({', '.join(AGENT_SIDES)}) -> agent directory or Agent)")
        models = dict(models or {})
        unknown = sorted(set(models) - set(AGENT_SIDES))
        if unknown:
            raise ValueError(f"models: unknown agent(s) {unknown} (allowed: "
                             f"{', '.join(AGENT_SIDES)})")
        self.sides = {}
        self._models: dict = {}  # agent dir -> (files, token rows): shared by the two learners
        with ExitStack() as on_error, sharing_models(self._models):  # not made: close models
            for name, side in AGENT_SIDES.items():
                self.sides[name] = learner_side(
                    side, speech_source(self.scenario, side), self.scenario, action_mode,
                    window, config, models.get(name), key=f"models[{name!r}]")
                on_error.callback(self.sides[name].close_model)
            a, b = (self.sides[name].source for name in AGENT_SIDES)
            if a.n_units != b.n_units:  # each learner hears the other's units in its own spaces
                raise ConfigError(f"scenario: learner A speaks in {a.n_units} units "
                                  f"({a.describe()}), learner B in {b.n_units} "
                                  f"({b.describe()}) (allowed: both sides' dialogues in one "
                                  "unit inventory: each learner observes the other's units "
                                  "in its own)")
            self.world = DuplexWorld(self.scenario,
                                     {s.side: s.agent for s in self.sides.values()})
            on_error.pop_all()
        self.possible_agents = list(AGENT_SIDES)
        self.agents: list[str] = []
        self.observation_spaces = {n: s.observation_space for n, s in self.sides.items()}
        self.action_spaces = {n: s.action_space for n, s in self.sides.items()}
        self.np_random, _ = seeding.np_random(None)

    def observation_space(self, agent: str) -> spaces.Space[Any]:
        return self.observation_spaces[self._known(agent)]

    def action_space(self, agent: str) -> spaces.Space[Any]:
        return self.action_spaces[self._known(agent)]

    def _known(self, agent: str) -> str:
        if agent not in AGENT_SIDES:
            raise ValueError(f"agent: {agent!r} (allowed: {', '.join(AGENT_SIDES)})")
        return agent

    def _observations(self) -> dict[str, dict[str, np.ndarray]]:
        return {n: self.sides[n].observation(self.world.chunk, self.world.n_chunks)
                for n in self.agents}

    def reset(self, seed: int | None = None, options: dict[str, Any] | None = None
              ) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
        problem = unknown_reset_option(options)
        if problem:  # a typo'd option does nothing: say so (see the class docstring)
            warnings.warn(f"DuplexParallelEnv.reset: {problem}; ignored", stacklevel=2)
        if seed is not None:  # else the generator goes on: a new episode, still reproducible
            self.np_random, _ = seeding.np_random(seed)
        episode_seed = int(self.np_random.integers(2**31 - 1))
        with sharing_models(self._models):  # a model closed by close() is loaded anew here
            for side in self.sides.values():
                side.reset(self.np_random, episode_seed)
        self.world.reset(episode_seed)
        self.agents = list(self.possible_agents)
        return self._observations(), {n: {"chunk": 0, "time_ms": 0} for n in self.agents}

    def step(self, actions: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, float],
                                                       dict[str, bool], dict[str, bool],
                                                       dict[str, dict[str, Any]]]:
        if not self.agents:
            raise RuntimeError("step() after the episode ended (or before reset()): "
                               "call reset() first")
        if self.world.closed:
            raise RuntimeError("step() after close(): call reset() first (a new episode)")
        if not isinstance(actions, Mapping):
            raise ValueError(f"actions: a {type(actions).__name__} (allowed: a dict agent name "
                             f"({', '.join(self.agents)}) -> action)")
        if set(actions) != set(self.agents):
            raise ValueError(f"actions: got agents {sorted(actions)} (allowed: exactly "
                             f"{self.agents}, one action each)")
        chunk = self.world.chunk
        checked = {}
        for name in self.agents:  # validate both before touching either side
            try:
                checked[name] = self.sides[name].check(actions[name])
            except ValueError as e:  # named by the agent, the key the caller wrote
                raise ValueError(f"actions[{name!r}]: {e}") from None
        for name in self.agents:
            self.sides[name].queue(chunk, checked[name])
        truncated = self.world.advance()
        observations = self._observations()
        rewards, infos = {}, {}
        for name, side in self.sides.items():
            rewards[name], terms = side.score(*self.world.scorable(side.side))
            infos[name] = {"chunk": chunk, "time_ms": self.world.chunk * self.scenario.chunk_ms,
                           "reward_terms": terms, "events": dict(side.tracker.counts)}
            if truncated:
                infos[name]["turntaking"] = side.summary()
        terminations = dict.fromkeys(self.agents, False)
        truncations = dict.fromkeys(self.agents, truncated)
        if truncated:
            self.agents = []
        return observations, rewards, terminations, truncations, infos

    def render(self) -> None:
        """Nothing: the only render mode is None (no render is computed; PettingZoo's own
        render raises a bare NotImplementedError)."""
        return None

    def close(self) -> None:
        """Free the last episode's simulation (see ``Session.close``) and close each learner's
        model loaded from a directory, once (closing again does nothing; a :meth:`reset`
        after this loads it anew); a model given as an Agent stays open: its caller owns it."""
        call_each([self.world.close, *(side.close_model for side in self.sides.values())])
