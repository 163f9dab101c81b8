"""The arguments the turn-taking env and the parallel env share, checked and resolved.

Owns the checks of ``action_mode``, ``side``, ``render_mode``, ``window`` and ``reset``'s
``options`` (one-line errors naming the argument and what is allowed), the rewards an env
uses (``reward=``, else the scenario's table), and the learner's own ``model=``: loaded,
checked against the unit inventory and made into a
:class:`~duplexsim.envs.side.LearnerSide` that owns it. Used by
:class:`~duplexsim.envs.turntaking.TurnTakingEnv` and
:class:`~duplexsim.envs.parallel.DuplexParallelEnv`; must not touch the simulator.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from duplexsim.agents.base import Agent, n_units_of
from duplexsim.closing import close_each
from duplexsim.config.reward import RewardConfig
from duplexsim.config.scenario import Scenario
from duplexsim.envs.side import LearnerSide
from duplexsim.envs.speech import SpeechSource


def as_reward(reward: RewardConfig | Mapping[str, float] | None, scenario: Scenario,
              ) -> RewardConfig:
    """The rewards an env uses: the ``reward=`` argument if given (a dict's missing keys take
    RewardConfig defaults), else the scenario's ``[reward]`` table, else the defaults."""
    if reward is None:
        return scenario.reward or RewardConfig()
    if isinstance(reward, RewardConfig):
        return reward
    if isinstance(reward, Mapping):
        from duplexsim.config.loader import from_dict

        return from_dict(RewardConfig, dict(reward), file="<reward kwarg>")
    raise TypeError(f"reward: got {type(reward).__name__} (allowed: None, a RewardConfig "
                    "or a dict of its fields)")


RESET_OPTIONS: tuple[str, ...] = ()
"""The keys :meth:`TurnTakingEnv.reset <duplexsim.envs.turntaking.TurnTakingEnv.reset>`
and the parallel env's ``reset`` take in ``options``: none (a vector env also takes
``reset_mask``, which it removes before passing them on)."""


def unknown_reset_option(options: Mapping[str, Any] | None,
                         allowed: Sequence[str] = RESET_OPTIONS) -> str | None:
    """A one-line message naming the first key of ``options`` not in ``allowed`` (a typo'd
    option that would do nothing), or None when there is none; ``options`` that are neither
    None nor a dict are a one-line TypeError (5 was "'int' object is not iterable", and a
    str's letters were taken for its keys)."""
    if options is not None and not isinstance(options, Mapping):
        raise TypeError(f"options: got {type(options).__name__} (allowed: None or a dict)")
    for key in options or {}:
        if key not in allowed:
            return (f"options: unknown key {key!r} (allowed: "
                    f"{', '.join(map(repr, allowed)) or 'no keys: reset takes no options'})")
    return None


def check_choice(name: str, value: Any, allowed: tuple[Any, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name}: {value!r} is not allowed "
                         f"(allowed: {', '.join(map(repr, allowed))})")


MAX_WINDOW = 1 << 16
"""Most chunks an observation window holds (65536: hours of conversation): window=10**12
asked numpy for terabytes (a MemoryError) on the first observation."""


def check_window(window: Any) -> None:
    if isinstance(window, bool) or not (isinstance(window, int) and 1 <= window <= MAX_WINDOW):
        raise ValueError(f"window: {window!r} is not allowed (allowed: an int from 1 to "
                         f"{MAX_WINDOW})")


def load_model(model: str | Path | Agent | None, scenario: Scenario, action_mode: str,
               n_units: int | None = None, key: str = "model") -> Agent | None:
    """The learner's own model (an agent directory, SyncLLM or TDM, is loaded:
    :func:`~duplexsim.sim.build.load_agent_dir`, on the shared model of its directory within
    :func:`~duplexsim.sim.build.sharing_models`, as a vector env's conversations and the
    parallel env's two learners are built and reset), or None. ``n_units``: the unit
    inventory of the spaces (the learner's speech and its partner's), which the model must
    speak (one whose own inventory is known; ``key`` names it)."""
    if model is None:
        return None
    if not isinstance(model, str | Path | Agent):  # model=5 was looked for as directory '5'
        raise TypeError(f"{key}: got {type(model).__name__} (allowed: None, an agent "
                        "directory or an Agent)")
    if action_mode != "turn":
        raise ValueError(f"{key}: only used by action_mode='turn' (speak plays its chunk)")
    if isinstance(model, Agent):
        agent = model
    else:
        from duplexsim.sim.build import load_agent_dir

        agent = load_agent_dir(model, scenario)
    units = n_units_of(agent)
    if n_units is not None and units is not None and units != n_units:
        if agent is not model:  # loaded here, refused: no one else can close it
            close_each([agent])
        raise ValueError(f"{key}: speaks {units} units, the learner's speech and its partner "
                         f"{n_units} (allowed: a model in their unit inventory: its units "
                         "would fall outside the observation space)")
    return agent


def learner_side(side: str, source: SpeechSource, scenario: Scenario, action_mode: str,
                 window: int, reward: RewardConfig, model: str | Path | Agent | None,
                 key: str = "model") -> LearnerSide:
    """The :class:`~duplexsim.envs.side.LearnerSide` of ``side`` with its own model
    (:func:`load_model`; ``key`` names it). One loaded from an agent directory is the side's:
    its ``close_model`` closes it, a reset after that loads it anew; if the side cannot be
    made, it is closed here (no one else could). A model given as an Agent stays its caller's."""
    load = functools.partial(load_model, model, scenario, action_mode, source.n_units, key)
    agent = load()
    owned = agent is not None and agent is not model
    with ExitStack() as on_error:  # a side not made cannot be closed: close what it loaded
        if owned:
            on_error.callback(close_each, [agent])
        made = LearnerSide(side, source, scenario.frames_per_chunk, action_mode, window, reward,
                           agent, load if owned else None)
        on_error.pop_all()
    return made
