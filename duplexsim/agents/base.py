"""The agent protocol: what the simulator asks of every side of a conversation.

Chunk k of a speaker covers ``[k*chunk_ms, (k+1)*chunk_ms)`` of that speaker's clock.
Agents are self-centric: their own stream is speaker 0, the partner is speaker 1.

Per own chunk ``j`` the simulator calls, at the decision time (by default the start of
chunk ``j-1``, the paper's setting):

1. :meth:`Agent.observe_partner` once for each partner chunk delivered since the last
   decision, in increasing chunk order (the simulator's receive buffer reorders and may
   give up on a chunk, which then never arrives; its estimate stays in the context);
2. :meth:`Agent.produce` for own chunk ``j``. The agent must first estimate every partner
   chunk ``< j`` it has neither received nor estimated (lookahead depth = number of
   partner chunks ``< j`` not yet received), then generate its own chunk ``j``;
3. :meth:`Agent.played` with what was actually played in chunk ``j`` (differs from the
   produced units only after a deadline miss).

The simulator, not the agent, converts token counts into simulated compute time
(``profile``) or scales the measured wall time (``measured``).

An agent whose ``produce`` runs a model may also offer ``produce_steps(chunk)``: the same
decision as an engine program (:mod:`duplexsim.models.engine`: it yields token requests
and returns the :class:`ChunkReport`). The simulator then runs it through the engine, so
the forwards of many conversations' agents share one batched call
(:func:`duplexsim.sim.batch.run_batch`); ``produce`` stays the plain call for everyone else.

An agent holding something to give back (a model row, a file, a process, a GPU context)
may also offer ``close()``: closing it again must do nothing. Who closes an agent: *whoever
created it*, once, when done with it, also when the run fails (with
:func:`duplexsim.closing.close_each`). The library closes the agents it builds (a
:class:`~duplexsim.sim.Session` its scenario's sides, :func:`~duplexsim.sim.batch.run_batch`
its shared-model sides, an env its partners) and never an agent the caller passed in
(``agents=``, ``partner=``, ``model=``): the caller still owns that one and closes it.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np


def missing_before(chunk: int, received: Collection[int], latest: int) -> int:
    """Partner chunks ``< chunk`` not in ``received`` (every chunk an agent was ever given,
    ``latest`` the highest, -1 for none): the lookahead depth :class:`ChunkReport` reports.
    A lost or given-up chunk counts until it arrives, as in DESIGN.md "Agents"."""
    if latest < chunk:  # the usual case: everything received lies below the decided chunk
        return chunk - len(received)
    return chunk - sum(1 for k in received if k < chunk)  # a clock running ahead


@dataclass
class ChunkReport:
    """What an agent did to produce one own chunk."""

    chunk: int
    """Index of the own chunk produced."""
    units: np.ndarray
    """The chunk's frames, shape ``[frames_per_chunk]``, int64 unit ids."""
    lookahead: int = 0
    """Partner chunks ``< chunk`` not received at decision time (estimated or not)."""
    estimates: dict[int, np.ndarray] = field(default_factory=dict)
    """Partner chunk index -> estimated frames ``[frames_per_chunk]``, made at this decision."""
    generated_tokens: int = 0
    """Tokens sampled (own chunk and estimates, speaker tags included)."""
    prefill_tokens: int = 0
    """Tokens fed without sampling (received partner chunks, re-fed tails after a crop)."""
    compute_wall_ms: float = 0.0
    """Wall time spent in model calls for this decision (perf_counter), 0 for non-model agents."""


@runtime_checkable
class Agent(Protocol):
    """One side of a simulated conversation (SyncLLM agent, replay, scripted, learner).

    An optional ``close()`` (not required here, so agents holding nothing need none) gives
    back what the agent holds; whoever created the agent calls it, never a library that was
    handed the agent (the module docstring has the rule)."""

    # read-only here (an attribute or a property satisfies them): the simulator only reads
    # them, and wrappers (:class:`AgentWrapper`) pass them on as properties
    @property
    def name(self) -> str: ...

    @property
    def frames_per_chunk(self) -> int: ...

    @property
    def silence_unit(self) -> int:
        """The unit this agent plays as silence (its unit tokenizer's canonical silence unit).
        The simulator fills what a side did not play (before its first chunk, deadline
        misses, slip gaps) with it, so a partner is silent in its own vocabulary, not unit 0.
        An agent whose tokenizer has several silence units may also have ``silence_units``
        (every unit that means silence, ``silence_unit`` among them; read with
        :func:`silence_units_of`)."""
        ...

    def reset(self, seed: int) -> None:
        """Start a new conversation; all randomness derives from ``seed``."""

    def observe_partner(self, chunk: int, units: np.ndarray) -> None:
        """A real partner chunk arrived (in increasing order, possibly with gaps)."""

    def produce(self, chunk: int) -> ChunkReport:
        """Estimate missing partner chunks ``< chunk``, then generate own chunk ``chunk``."""

    def played(self, chunk: int, units: np.ndarray) -> None:
        """What was actually played as own chunk ``chunk`` (after deadline handling)."""


class UnitInventory(Protocol):
    """A unit inventory stated outright, not by an agent: what a scripted side facing it
    speaks (:meth:`duplexsim.agents.scripted.ScriptedAgent.from_side`), e.g. the learner's
    speech in an env (:class:`duplexsim.envs.speech.SpeechSource`)."""

    @property
    def n_units(self) -> int: ...

    @property
    def silence_unit(self) -> int: ...

    @property
    def silence_units(self) -> frozenset[int]: ...


def whole(value: object, what: str, low: int) -> int:
    """``value`` as an int when it is a whole number ``>= low`` (an int or NumPy integer, not
    a bool), else a ValueError naming ``what``: an agent's frame counts and unit ids, which
    ``int()`` would truncate (5.5 frames a chunk played 5)."""
    if type(value) is int and value >= low:  # the usual case (a chunk index, every call)
        return value
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
        raise ValueError(f"{what}={value!r} (allowed: a whole number >= {low})")
    return int(value)


def chunk_index(chunk: object, what: str, agent: str, call: str) -> int:
    """``chunk`` as an index from 0 for ``agent``'s protocol ``call`` (e.g.
    ``"produce(-1)"``), else a ValueError of one line naming both: agents kept -1 or 1.5 as
    chunks of their own (a slice ``[-2F:-F]`` of a replayed channel is its last chunk)."""
    try:
        return whole(chunk, what, 0)
    except ValueError as e:
        raise ValueError(f"{agent}: {call}: {e}") from None


def silence_units_of(agent: Agent | UnitInventory) -> frozenset[int]:
    """Every unit ``agent`` plays as silence: its optional ``silence_units`` (a unit tokenizer
    with several silence units) and always its ``silence_unit``."""
    units = getattr(agent, "silence_units", None) or ()
    return frozenset(int(u) for u in units) | {int(agent.silence_unit)}


def n_units_of(agent: Agent | UnitInventory) -> int | None:
    """How many units ``agent`` speaks (the size of its unit inventory), looking through
    :class:`AgentWrapper`: its ``n_units`` (scripted, replay, a :class:`UnitInventory`) or
    its token format's (SyncLLM, TDM); None for an agent that does not say (a replay built
    from bare units, an agent class of the user's own)."""
    if isinstance(agent, AgentWrapper):
        agent = unwrapped(agent)
    n_units = getattr(agent, "n_units", None)
    if n_units is None:
        n_units = getattr(getattr(agent, "fmt", None), "n_units", None)
    return None if n_units is None else int(n_units)


def kind_of(agent: Agent) -> str:
    """The scenario kind an agent instance is (``replay``, ``scripted``, ``syncllm``,
    ``tdm``: its class's ``kind``), looking through :class:`AgentWrapper`; ``"agent"`` for
    a class of the user's own."""
    return str(getattr(type(unwrapped(agent)), "kind", "agent"))


def unwrapped(agent: Agent) -> Agent:
    """The agent inside any :class:`AgentWrapper` (itself if it is none)."""
    while isinstance(agent, AgentWrapper):
        agent = agent.inner
    return agent


class AgentWrapper:
    """An agent that passes every call to ``inner`` (as ``gymnasium.Wrapper`` does for envs):
    subclass it and override what the wrapper adds. It offers no ``produce_steps``, so the
    simulator calls the wrapper's :meth:`produce`; a wrapper that only watches may pass the
    inner agent's on (``duplexsim.envs.learner.RecordingAgent``)."""

    def __init__(self, inner: Agent) -> None:
        self.inner = inner

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def frames_per_chunk(self) -> int:
        return self.inner.frames_per_chunk

    @property
    def silence_unit(self) -> int:
        return self.inner.silence_unit

    @property
    def silence_units(self) -> frozenset[int]:
        return silence_units_of(self.inner)

    def reset(self, seed: int) -> None:
        self.inner.reset(seed)

    def observe_partner(self, chunk: int, units: np.ndarray) -> None:
        self.inner.observe_partner(chunk, units)

    def produce(self, chunk: int) -> ChunkReport:
        return self.inner.produce(chunk)

    def played(self, chunk: int, units: np.ndarray) -> None:
        self.inner.played(chunk, units)
