"""Partner pools: which partner the learner meets at each reset of ``TurnTaking-v0``.

Owns parsing the env's ``partner=`` argument when it names many partners (a dict spec, a
list of specs, agent directories, or a :class:`PartnerPool`) into a
:class:`~duplexsim.envs.partner_pool.PartnerPool`, checking every key of every spec; the
pool (:mod:`duplexsim.envs.partner_pool`) draws one member per reset from the env's
``np_random`` and builds its agent through the simulator's registry
(:data:`duplexsim.sim.build.AGENT_BUILDERS`, so every kind a scenario side can be is a pool
kind too) and the learner's speech material for that member. Must not touch the
simulator's internals or the rewards.

A spec is a dict with ``kind`` plus (all optional); in a list, a kind name stands for
``{"kind": name}`` and an agent directory for ``{"kind": <its agent.json kind>, "agent":
dir}``:

- replay: ``corpus`` ("" = the dialogue shipped in the package), ``split`` (train | val |
  test; unset = every dialogue), ``dialogues`` (ids; instead of ``split``), ``channels``
  (which channels the partner replays, default both: each dialogue gives two partners),
  ``start_s`` (where the replay starts: seconds, at most what the shortest dialogue leaves
  after the episode; or ``"random"`` = a chunk-aligned start drawn per reset so that the
  episode fits in the dialogue drawn, each dialogue's from its own length, the whole 40 ms
  frames of its units (not the manifest's ``duration_s``, its audio's): a dialogue
  shorter than the episode is refused). The learner's speech is the
  other channel of the same dialogue, so the corpus's own turn-taking is the natural
  reference for the learner (:class:`duplexsim.envs.baselines.CorpusReference`).
- syncllm, tdm (every kind with an ``agent`` key): ``agents`` (directories) or
  ``agent``, the side's other keys (syncllm: ``estimation``, ``temperature``, ``top_k``,
  ``top_p``); ``speech_corpus`` / ``speech_split`` (default: the corpus named in the
  agent's ``agent.json`` if it is there, train split; else the shipped dialogue): the
  learner's utterances come from a dialogue of that split drawn per reset (a split with
  no dialogue is an error, never another split's).
- scripted: ``policies`` (or ``policy``), ``speech_corpus`` / ``speech_split`` (default:
  the shipped dialogue): it speaks the unit inventory of the learner's speech (its
  ``n_units``, silence unit and silence units), whatever the scenario's sides are.
- every kind: ``weight`` (> 0, default 1: a spec is drawn with probability proportional
  to its weight, then one of its members uniformly), ``clock_offset_ms``,
  ``clock_drift_ppm``.

All members of a pool must speak one unit inventory (the observation space is fixed).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from duplexsim.agents.base import Agent
from duplexsim.config.scenario import SIDE_KEYS, Scenario, SideConfig
from duplexsim.envs.partner_pool import (
    SHIPPED,
    PartnerMember,
    PartnerPool,
    PoolError,
    SpeechRef,
    check_partner_units,
    given_agent_info,
)
from duplexsim.errors import InputError, finite_number
from duplexsim.sim.build import AGENT_BUILDERS
from duplexsim.timebase import ms_from_s
from duplexsim.tokens import DEFAULT_N_UNITS, FRAME_MS

# PartnerPool and its parts moved to partner_pool.py (the pool at run time); the names the
# env and users imported from here still import from here
__all__ = ["PLURALS", "POOL_KEYS", "SPLITS", "PartnerMember", "PartnerPool", "PoolError",
           "allowed_keys", "check_partner_units", "given_agent_info", "is_pool", "parse_pool"]

PLURALS = {"agents": "agent", "dialogues": "dialogue", "channels": "channel",
           "policies": "policy"}
"""Pool keys that list several values of one SideConfig key: one member per value."""
POOL_KEYS = ("kind", "weight", "split", "start_s", "speech_corpus", "speech_split",
             *PLURALS)
SPLITS = ("train", "val", "test")


def allowed_keys(kind: str) -> list[str]:
    """The keys a spec of ``kind`` may have."""
    side_keys = set(SIDE_KEYS.get(kind, ())) | {"kind", "clock_offset_ms", "clock_drift_ppm"}
    plurals = {p for p, singular in PLURALS.items() if singular in side_keys}
    extra = {"split", "start_s"} if kind == "replay" else {"speech_corpus", "speech_split"}
    return sorted(side_keys | plurals | extra | {"weight"})


def is_pool(partner: Any) -> bool:
    """True for the ``partner=`` forms that make a pool (dict spec, list, PartnerPool)."""
    return isinstance(partner, PartnerPool | Mapping) or (
        isinstance(partner, Sequence) and not isinstance(partner, str))


def parse_pool(partner: Any, scenario: Scenario, side: str) -> PartnerPool:
    """A :class:`PartnerPool` for the partner on ``side`` of ``scenario`` from the env's
    ``partner=`` argument (a given PartnerPool: its :meth:`~PartnerPool.for_env` copy); a
    bad spec raises :class:`PoolError` naming ``partner[i].key``."""
    if isinstance(partner, PartnerPool):
        return partner.for_env()
    specs = [partner] if isinstance(partner, Mapping) else list(partner)
    if not specs:
        raise PoolError("partner: empty pool (allowed: a spec dict, a list of specs, kind "
                        "names, agent directories or Agents)")
    pool = PartnerPool([], [], scenario, side)
    builder = _PoolBuilder(pool, scenario)
    for i, spec in enumerate(specs):
        builder.add(i, _as_spec(i, spec))
    builder.check_inventory()
    return pool


def _as_spec(i: int, spec: Any) -> dict[str, Any] | Agent:
    """A spec dict (or a given Agent) from one entry of a pool list."""
    if isinstance(spec, Agent):
        return spec
    if isinstance(spec, SideConfig):
        return {k: v for k, v in dataclasses.asdict(spec).items()
                if v != SideConfig.__dataclass_fields__[k].default or k == "kind"}
    if isinstance(spec, str | Path):
        if str(spec) in AGENT_BUILDERS:
            return {"kind": str(spec)}
        if (Path(spec) / "agent.json").is_file():  # its architecture: agent.json "kind"
            from duplexsim.models.agentdir import read_agent_json

            try:
                kind = str(read_agent_json(spec).get("kind", "syncllm"))
            except ValueError as e:
                raise PoolError(f"partner[{i}]: {e}") from e
            return {"kind": kind, "agent": str(spec)}
        raise PoolError(f"partner[{i}]: {str(spec)!r} is neither a partner kind nor an agent "
                        f"directory (allowed: {', '.join(AGENT_BUILDERS)}, or a directory "
                        "with agent.json)")
    if isinstance(spec, Mapping):
        return dict(spec)
    raise PoolError(f"partner[{i}]: got {type(spec).__name__} (allowed: a spec dict, a "
                    "SideConfig, a kind name, an agent directory or an Agent)")


@dataclass
class _PoolBuilder:
    """Expands specs into members, checking each key as it goes."""

    pool: PartnerPool
    scenario: Scenario
    inventories: dict[int, int] = field(default_factory=dict)
    tokenizers: list[tuple[str, Path]] = field(default_factory=list)
    """(``partner[i].key``, unit tokenizer folder) of every agent and corpus the specs name."""

    def add(self, i: int, spec: dict[str, Any] | Agent) -> None:
        if not isinstance(spec, dict):  # a given Agent: speaks the shipped dialogue's units
            label = str(getattr(spec, "name", f"agent{i}"))
            speech = SpeechRef(SHIPPED, "", 0)
            check_partner_units(  # now, not at the reset that first draws it
                spec, self.pool.source(speech), f"partner[{i}] {label}", PoolError,
                "for an agent in other units give its directory, e.g. {'kind': 'tdm', "
                "'agent': DIR}, not the Agent: the learner then speaks its training corpus")
            self.inventories[i] = DEFAULT_N_UNITS
            self._member(i, SideConfig(), (speech,), label, agent=spec)
            self.pool.weights.append(1.0)
            return
        kind = spec.get("kind")
        if not isinstance(kind, str) or kind not in AGENT_BUILDERS:  # a list: unhashable
            raise PoolError(f"partner[{i}].kind: {kind!r} is not a partner kind (allowed: "
                            f"{', '.join(AGENT_BUILDERS)})")
        allowed = allowed_keys(kind)
        for key in spec:
            if key not in allowed:
                raise PoolError(f"partner[{i}]: unknown key {key!r} for kind {kind!r} "
                                f"(allowed: {', '.join(allowed)})")
        weight = spec.get("weight", 1.0)
        if not (finite_number(weight) and weight > 0):
            raise PoolError(f"partner[{i}].weight: {weight!r} (allowed: a number > 0)")
        self.pool.weights.append(float(weight))
        if kind == "replay":
            self._replay(i, spec)
        else:
            self._model(i, spec)

    def _values(self, i: int, spec: dict[str, Any], plural: str) -> list[Any] | None:
        singular = PLURALS[plural]
        if plural in spec and singular in spec:
            raise PoolError(f"partner[{i}]: both {plural!r} and {singular!r} (allowed: one)")
        if plural in spec:
            values = spec[plural]
            if isinstance(values, str) or not isinstance(values, Sequence) or not values:
                raise PoolError(f"partner[{i}].{plural}: {values!r} (allowed: a non-empty "
                                f"list of {singular} values)")
            return list(values)
        return [spec[singular]] if singular in spec else None

    def _side(self, i: int, fields: dict[str, Any]) -> SideConfig:
        from duplexsim.config.loader import from_dict

        try:
            return from_dict(SideConfig, fields, file=f"partner[{i}]")
        except ValueError as e:
            raise PoolError(str(e).splitlines()[0]) from e

    def _member(self, i: int, side: SideConfig, speech: tuple[SpeechRef, ...], label: str,
                **kw: Any) -> PartnerMember:
        self.pool.members.append(PartnerMember(side, speech, label, i, **kw))
        return self.pool.members[-1]

    def _common(self, spec: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in spec.items() if k == "kind" or k not in POOL_KEYS}

    def _replay(self, i: int, spec: dict[str, Any]) -> None:
        corpus_dir = str(spec.get("corpus", SHIPPED))
        if corpus_dir == SHIPPED:
            from duplexsim.corpora import default_dialogue

            ids, n_units = [""], DEFAULT_N_UNITS
            frames = [int(np.asarray(default_dialogue().units).shape[1])]
            if "split" in spec or self._values(i, spec, "dialogues"):
                raise PoolError(f"partner[{i}]: split/dialogues need a corpus (allowed: "
                                "corpus = a directory built by `duplexsim corpus build`)")
        else:
            ids, n_units, frames = self._corpus_ids(i, spec, corpus_dir)
            self.tokenizers.append((f"partner[{i}].corpus",
                                    self.pool.corpus(corpus_dir).tokenizer_dir()))
        self.inventories[i] = n_units
        channels = self._values(i, spec, "channels") or [0, 1]
        for c in channels:
            if c not in (0, 1):  # named as the spec wrote it
                key = "channels" if "channels" in spec else "channel"
                raise PoolError(f"partner[{i}].{key}: {c!r} (allowed: 0, 1)")
        starts = self._starts(i, spec, dict(zip(ids, frames, strict=True)))
        common = self._common(spec)
        for dialogue, (start, max_start) in zip(ids, starts, strict=True):
            for c in channels:
                side = self._side(i, {**common, "corpus": corpus_dir, "dialogue": dialogue,
                                      "channel": c})
                label = f"replay:{Path(corpus_dir).name or 'shipped'}:{dialogue or 'default'}:{c}"
                self._member(i, side, (SpeechRef(corpus_dir, dialogue, 1 - c),), label,
                             start_chunks=start, max_start_chunks=max_start)

    def _corpus_ids(self, i: int, spec: dict[str, Any], corpus_dir: str
                    ) -> tuple[list[str], int, list[int]]:
        """(the spec's dialogue ids, the corpus's n_units, each dialogue's unit frames)."""
        try:
            corpus = self.pool.corpus(corpus_dir)
        except (FileNotFoundError, ValueError) as e:
            raise PoolError(f"partner[{i}].corpus: {e}") from e
        split = spec.get("split")
        if split is not None and split not in SPLITS:
            raise PoolError(f"partner[{i}].split: {split!r} (allowed: {', '.join(SPLITS)})")
        ids = self._values(i, spec, "dialogues")
        if ids is not None and split is not None:
            raise PoolError(f"partner[{i}]: both 'split' and dialogues (allowed: one)")
        if ids is None:
            ids = corpus.ids(split)
            if not ids:
                raise PoolError(f"partner[{i}].split: no {split!r} dialogues in {corpus_dir}")
        for d in ids:
            if d not in corpus.ids():  # named as the spec wrote it
                key = "dialogues" if "dialogues" in spec else "dialogue"
                raise PoolError(f"partner[{i}].{key}: no dialogue {d!r} in {corpus_dir} "
                                f"(allowed: {', '.join(corpus.ids()[:4])}, ...)")
        try:  # the units a replay plays (a problem names the units file)
            frames = [corpus.n_frames(d) for d in ids]
        except InputError as e:
            raise PoolError(f"partner[{i}].corpus: {e}") from e
        return list(ids), int(corpus.n_units), frames

    def _starts(self, i: int, spec: dict[str, Any], frames: dict[str, int]
                ) -> list[tuple[int, int]]:
        """(fixed start, max random start) in chunks for each dialogue of ``frames`` (id ->
        its length in unit frames: what its replay plays): a random start is drawn so that
        the episode fits in that dialogue's units (a dialogue shorter than the episode is
        refused); a fixed one must fit the shortest. Not the manifest's ``duration_s``: an
        imported dialogue's is its audio's (samples / rate), up to a frame more than its
        whole frames of units, and a start it allowed could run past the units."""
        value = spec.get("start_s", 0)
        chunk_ms, episode_s = self.scenario.chunk_ms, self.scenario.duration_s
        episode_ms = self.scenario.n_chunks * chunk_ms
        rooms = [(n * FRAME_MS - episode_ms) // chunk_ms for n in frames.values()]
        if value == "random":
            short = [(d, n) for (d, n), room in zip(frames.items(), rooms, strict=True)
                     if room < 0]
            if short:
                d, n = short[0]
                raise PoolError(
                    f"partner[{i}].start_s: \"random\" but dialogue "
                    f"{repr(d) if d else '(the shipped one)'} is {n * FRAME_MS / 1000:g} s, "
                    f"shorter than the {episode_s:g} s episode ({len(short)} of {len(rooms)}) "
                    f"(allowed: dialogues of at least {episode_s:g} s, listed in dialogues, or "
                    f"a scenario of at most {min(frames.values()) * FRAME_MS / 1000:g} s)")
            return [(0, room) for room in rooms]
        room = max(min(rooms), 0)
        if not (finite_number(value) and 0 <= ms_from_s(value) <= room * chunk_ms):
            raise PoolError(f"partner[{i}].start_s: {value!r} (allowed: \"random\" or 0 .. "
                            f"{room * chunk_ms / 1000:g} s, so that the "
                            f"{episode_s:g} s episode fits the dialogue)")
        start_ms = ms_from_s(value)  # to the nearest chunk, half a chunk up (round_ms's rule)
        return [((2 * start_ms + chunk_ms) // (2 * chunk_ms), 0)] * len(rooms)

    def _model(self, i: int, spec: dict[str, Any]) -> None:
        kind = spec["kind"]
        agents = self._values(i, spec, "agents")
        policies = self._values(i, spec, "policies")
        common = {k: v for k, v in self._common(spec).items() if k not in PLURALS.values()}
        if agents is not None:
            variants = [{"agent": str(a)} for a in agents]
        elif policies is not None:
            variants = [{"policy": p} for p in policies]
        else:
            variants = [{}]
        for variant in variants:
            side = self._side(i, {**common, **variant})
            name = Path(side.agent).name if side.agent else side.policy
            n_units: int | None = None  # scripted: it speaks its learner speech's units
            agent_corpus = ""
            if side.agent:
                n_units, agent_corpus = self._agent_vocab(i, side)
                key = "agents" if "agents" in spec else "agent"
                self.tokenizers.append((f"partner[{i}].{key}", Path(side.agent) / "tokenizer"))
            speech = self._speech(i, spec, n_units, agent_corpus)
            member = self._member(i, side, speech, f"{kind}:{name}")
            if not side.agent:  # built now, cheaply: a bad script is refused when made
                self.pool.agent(member)

    def _agent_vocab(self, i: int, side: SideConfig) -> tuple[int, str]:
        """(n_units, its training corpus or "") of an agent side with a directory."""
        from duplexsim.models.agentdir import read_agent_json

        try:
            info = read_agent_json(side.agent)
        except (ValueError, FileNotFoundError) as e:
            raise PoolError(f"partner[{i}].agents: {e}") from e
        if self.scenario.chunk_ms not in [int(c) for c in info["chunk_ms"]]:
            raise PoolError(f"partner[{i}].agents: {side.agent} was not trained for chunk_ms="
                            f"{self.scenario.chunk_ms} (allowed: the scenario's chunk_ms in "
                            f"its agent.json chunk_ms {info['chunk_ms']})")
        corpus = str(info.get("corpus") or "")
        return int(info["n_units"]), corpus if (Path(corpus) / "manifest.json").is_file() else ""

    def _speech(self, i: int, spec: dict[str, Any], n_units: int | None, agent_corpus: str
                ) -> tuple[SpeechRef, ...]:
        """The learner speech refs of a spec, in the partner's ``n_units`` (None: a scripted
        partner, which speaks whatever units its learner speech is in)."""
        corpus_dir = str(spec.get("speech_corpus", agent_corpus))
        split = spec.get("speech_split", "train")
        if split not in SPLITS:
            raise PoolError(f"partner[{i}].speech_split: {split!r} (allowed: "
                            f"{', '.join(SPLITS)})")
        refs: tuple[SpeechRef, ...]
        if corpus_dir == SHIPPED:
            refs, have = (SpeechRef(SHIPPED, "", 0), SpeechRef(SHIPPED, "", 1)), DEFAULT_N_UNITS
        else:
            try:
                corpus = self.pool.corpus(corpus_dir)
            except (FileNotFoundError, ValueError) as e:
                raise PoolError(f"partner[{i}].speech_corpus: {e}") from e
            ids = corpus.ids(split)
            if not ids:  # never another split's: held-out speech would come from train
                raise PoolError(f"partner[{i}].speech_split: no {split!r} dialogues in "
                                f"{corpus_dir} (allowed: "
                                f"{', '.join(s for s in SPLITS if corpus.ids(s))})")
            refs = tuple(SpeechRef(corpus_dir, d, c) for d in ids for c in (0, 1))
            have = int(corpus.n_units)
            self.tokenizers.append((f"partner[{i}].speech_corpus", corpus.tokenizer_dir()))
        if n_units is not None and have != n_units:
            raise PoolError(f"partner[{i}].speech_corpus: the learner's speech "
                            f"({corpus_dir or 'the shipped dialogue'}) has {have} units, the "
                            f"partner {n_units} (allowed: a corpus in the partner's units)")
        self.inventories[i] = have
        return refs

    def check_inventory(self) -> None:
        """Every spec must speak the same unit inventory (the spaces are fixed): as many
        units, and of one tokenizer wherever an agent or corpus holds one (the same count
        from two tokenizers is two inventories: the learner would read one as the other)."""
        from duplexsim.units import shared_tokenizer

        first = next(iter(self.inventories.items()), (0, DEFAULT_N_UNITS))
        for i, n in self.inventories.items():
            if n != first[1]:
                raise PoolError(f"partner[{i}]: speaks {n} units but partner[{first[0]}] "
                                f"{first[1]} (allowed: one unit inventory per pool)")
        try:
            shared_tokenizer(self.tokenizers)
        except InputError as e:
            raise PoolError(str(e)) from e
        self.pool.n_units = first[1]
