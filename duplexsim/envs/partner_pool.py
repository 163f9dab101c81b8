"""A partner pool at run time: its members, the draw of one per reset, and what it builds.

Owns :class:`PartnerPool` and its members: drawing one member per reset from the env's
``np_random`` (a spec by weight, then a member uniformly), building (and caching) its
agent through the simulator's registry (:data:`duplexsim.sim.build.AGENT_BUILDERS`), and
the learner's speech material for that member; the ``partner_info`` of a partner, drawn or
fixed (not drawn from a pool); and the check that a partner speaks the learner's unit
inventory. :mod:`duplexsim.envs.partners` parses the env's ``partner=`` argument into a
pool (its spec keys are documented there). Must not touch the simulator's internals or the
rewards.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from duplexsim.agents.base import Agent, kind_of, n_units_of
from duplexsim.closing import close_each
from duplexsim.config.scenario import Scenario, SideConfig
from duplexsim.envs.speech import SpeechSource, dialogue_source
from duplexsim.errors import ConfigError
from duplexsim.sim.build import AGENT_BUILDERS
from duplexsim.tokens import DEFAULT_N_UNITS, FRAME_MS

SHIPPED = ""
"""Corpus key of the dialogue shipped in the package."""


class PoolError(ConfigError):
    """A bad pool spec: one line naming the spec, the key and what is allowed (a
    :class:`~duplexsim.errors.ConfigError`, so the commands report it as that line)."""


@dataclass(frozen=True)
class SpeechRef:
    """One channel of one dialogue: what the learner's scripted utterances are cut from."""

    corpus: str
    dialogue: str
    channel: int


@dataclass(frozen=True)
class PartnerMember:
    """One partner of a pool: its scenario side, and where the learner's speech comes from.

    ``speech``: the learner draws one of these per reset. ``max_start_chunks``: a replay
    starts at a chunk drawn from ``0..max_start_chunks`` (0: at ``start_chunks``).
    """

    side: SideConfig
    speech: tuple[SpeechRef, ...]
    label: str
    spec: int
    start_chunks: int = 0
    max_start_chunks: int = 0
    agent: Agent | None = None
    """A given agent instance (``partner=[agent, ...]``), used as it is."""


@dataclass
class Draw:
    """The partner of one episode (what :meth:`PartnerPool.draw` returns)."""

    member: PartnerMember
    agent: Agent
    source: SpeechSource
    speech: SpeechRef
    start_chunks: int

    def info(self, chunk_ms: int) -> dict[str, Any]:
        """Plain description of the episode's partner (``env.unwrapped.partner_info``).
        ``speech_dialogue`` is the id of the dialogue the learner's speech is cut from (the
        shipped one's too, whose ``SpeechRef`` names it ""), as for a fixed partner; a
        replay's ``dialogue`` is that dialogue too (the one it plays)."""
        side = self.member.side
        dialogue = self.source.dialogue_id if side.kind == "replay" else side.dialogue
        return {"label": self.member.label, "kind": side.kind, "spec": self.member.spec,
                "agent": side.agent, "corpus": side.corpus, "dialogue": dialogue,
                "channel": side.channel, "start_s": self.start_chunks * chunk_ms / 1000,
                "speech_corpus": self.speech.corpus, "speech_dialogue": self.source.dialogue_id,
                "speech_channel": self.speech.channel, **given_agent_info(self.member.agent)}


def fixed_partner_info(scenario: Scenario, side: str, label: str, speech_dialogue: str,
                       given: Agent | None) -> dict[str, Any]:
    """``partner_info`` of a partner that is not drawn from a pool (the same keys as
    :meth:`Draw.info`): the scenario's side ``side`` (the partner's), its agent named
    ``label``; ``speech_dialogue`` is the id of the dialogue the learner's speech is cut
    from; ``given``: the partner if it was given as an Agent instance."""
    config = getattr(scenario, side)
    replayed = config.kind == "replay" and config.channel is not None
    speech_channel = 1 - (config.channel if replayed else (0 if side == "a" else 1))
    # a replay plays the dialogue the learner's speech is cut from (its id: config.dialogue
    # may be "", the first test dialogue or the shipped one)
    dialogue = speech_dialogue if config.kind == "replay" else config.dialogue
    return {"label": label, "kind": config.kind, "spec": None, "agent": config.agent,
            "corpus": config.corpus, "dialogue": dialogue, "channel": config.channel,
            "start_s": 0.0, "speech_corpus": config.corpus, "speech_dialogue": speech_dialogue,
            "speech_channel": speech_channel, **given_agent_info(given)}


def given_agent_info(agent: Agent | None) -> dict[str, Any]:
    """What ``partner_info`` says of a partner given as an Agent instance (none for one
    built from a spec): its kind (:func:`~duplexsim.agents.base.kind_of`), and no agent
    directory, corpus, dialogue or channel, which only a spec names."""
    if agent is None:
        return {}
    return {"kind": kind_of(agent), "agent": None, "corpus": None, "dialogue": None,
            "channel": None}


@dataclass
class PartnerPool:
    """Partners the env draws from at each reset
    (:func:`~duplexsim.envs.partners.parse_pool` builds one).

    Agents, corpora and speech banks are built on first use and cached, so a pool of
    SyncLLM agents loads each model once. An env draws from its own copy
    (:meth:`for_env`): an agent holds one conversation's state. A pool pickles without
    its caches (a sharded env's workers, a saved pool): they are rebuilt where it is used,
    so its pickle is the same however much envs used it.
    """

    members: list[PartnerMember]
    weights: list[float]
    """Per spec (``PartnerMember.spec`` indexes it)."""
    scenario: Scenario
    side: str
    """The partner's side of the scenario."""
    n_units: int = DEFAULT_N_UNITS
    _agents: dict[Any, Agent] = field(default_factory=dict)
    _sources: dict[SpeechRef, SpeechSource] = field(default_factory=dict)
    _corpora: dict[str, Any] = field(default_factory=dict)
    _in_use: bool = False
    """True once an env uses the pool's given Agent objects (which no copy can renew)."""

    def __getstate__(self) -> dict[str, Any]:
        """The pool without its caches (see the class doc)."""
        return {**self.__dict__, "_agents": {}, "_sources": {}, "_corpora": {}}

    def for_env(self) -> PartnerPool:
        """The pool for one more env: the same members, corpora and speech banks (read only),
        and agents of its own (an agent holds one conversation's state: two envs driving
        the same one diverge, or a SyncLLM fails at its first step). Members given as Agent
        objects stay the objects: a pool holding any is for one env, a second raises."""
        given = [m.spec for m in self.members if m.agent is not None]
        if given:
            if self._in_use:
                raise PoolError(f"partner: a PartnerPool holding Agent objects (partner"
                                f"[{given[0]}]) is used by another env (allowed: a pool of "
                                "specs, which each env copies, or a pool object per env)")
            self._in_use = True
        return dataclasses.replace(self, members=list(self.members),
                                   weights=list(self.weights), _agents={},
                                   _in_use=bool(given))

    def close(self) -> None:
        """Close the agents this pool built (once; a later draw builds them anew); members
        given as Agent objects stay open: their caller owns them."""
        built, self._agents = list(self._agents.values()), {}
        close_each(built)

    def draw(self, rng: np.random.Generator) -> Draw:
        """One member (spec by weight, then uniformly), its speech and start, from ``rng``."""
        specs = sorted({m.spec for m in self.members})
        p = np.asarray([self.weights[s] for s in specs], float)
        spec = specs[int(rng.choice(len(specs), p=p / p.sum()))]
        members = [m for m in self.members if m.spec == spec]
        member = members[int(rng.integers(len(members)))]
        speech = member.speech[int(rng.integers(len(member.speech)))]
        start = member.start_chunks
        if member.max_start_chunks:
            start = int(rng.integers(member.max_start_chunks + 1))
        agent, source = self.agent(member, start), self.source(speech)
        check_partner_units(agent, source, f"partner[{member.spec}] {member.label}", PoolError,
                            "a 'speech_corpus' in the partner's units")
        return Draw(member, agent, source, speech, start)

    def partner_scenario(self, member: PartnerMember) -> Scenario:
        # (side is "a" or "b": mypy checks a **dict against every field's type)
        return dataclasses.replace(self.scenario,
                                   **{self.side: member.side})  # type: ignore[arg-type]

    def agent(self, member: PartnerMember, start_chunks: int = 0) -> Agent:
        """The member's agent (built once; a replay started ``start_chunks`` in). That
        started replay is a new ReplayAgent each draw, neither cached nor closed by
        :meth:`close`: it holds nothing to give back (only a copy of the cached one's
        units, freed with it), so it has no ``close()``."""
        if member.agent is not None:
            return member.agent
        scripted = member.side.kind == "scripted"
        # a scripted member speaks its learner's speech inventory (one corpus per member)
        key = (member.side, member.speech[0].corpus) if scripted else member.side
        if key not in self._agents:
            try:
                if scripted:  # as sim.build builds a scripted side facing a given agent
                    from duplexsim.agents.scripted import ScriptedAgent

                    self._agents[key] = ScriptedAgent.from_side(
                        member.side, self.partner_scenario(member), self.side,
                        partner=self.source(member.speech[0]))
                else:
                    self._agents[key] = AGENT_BUILDERS[member.side.kind](
                        member.side, self.partner_scenario(member), self.side)
            except (ValueError, FileNotFoundError, KeyError) as e:
                raise PoolError(f"partner[{member.spec}] {member.label}: {e}") from e
        agent = self._agents[key]
        if start_chunks:
            from duplexsim.agents.replay import ReplayAgent

            assert isinstance(agent, ReplayAgent)  # only replay members start later
            frames = start_chunks * agent.frames_per_chunk
            agent = ReplayAgent(agent.units[frames:], agent.frames_per_chunk,
                                agent.silence_unit, silence_units=agent.silence_units,
                                name=f"{agent.name}@{frames * FRAME_MS / 1000:g}s",
                                n_units=agent.n_units)
        return agent

    def corpus(self, path: str) -> Any:
        if path not in self._corpora:
            from duplexsim import corpora

            self._corpora[path] = corpora.load_corpus(path)
        return self._corpora[path]

    def source(self, ref: SpeechRef) -> SpeechSource:
        """The learner's utterance bank cut from ``ref`` (cached)."""
        if ref not in self._sources:
            if ref.corpus == SHIPPED:
                from duplexsim.corpora import default_dialogue

                dialogue, corpus = default_dialogue(), None
            else:
                corpus = self.corpus(ref.corpus)
                dialogue = corpus.dialogue(ref.dialogue)
            self._sources[ref] = dialogue_source(dialogue, corpus, ref.channel)
        return self._sources[ref]


FIXED_PARTNER_WAY_OUT = (
    "for a partner in other units give it as a pool spec, e.g. partner={'kind': 'tdm', "
    "'agent': DIR}: the learner then speaks the agent's training corpus, or a "
    "'speech_corpus' in the partner's units")
"""How a fixed partner (a SideConfig, kind name or Agent, whose learner speech is the
scenario's: the shipped dialogue unless it replays a corpus) gets learner speech in its
own units: only the pool form takes a speech corpus."""


def check_partner_units(partner: Agent, source: SpeechSource, name: str,
                        error: type[ConfigError] = ConfigError,
                        way_out: str = FIXED_PARTNER_WAY_OUT) -> None:
    """The partner must speak the unit inventory of the learner's speech (``source``), which
    the spaces are built on: its units are observed in ``partner_units`` and its voice
    activity read with the learner's silence units. A partner that does not say how many
    units it speaks (:func:`~duplexsim.agents.base.n_units_of`) is taken as it is.
    ``name``: the partner in the one-line ``error``; ``way_out``: what the user can do
    instead, in the error's "allowed" part."""
    n_units = n_units_of(partner)
    if n_units is not None and n_units != source.n_units:
        raise error(f"{name}: speaks {n_units} units, the learner's speech "
                    f"({source.describe()}) {source.n_units} (allowed: a partner in the "
                    "learner's unit inventory: its units are observed and scored in it; "
                    f"{way_out})")

