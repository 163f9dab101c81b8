"""The self-play plan of ``selfplay.py`` and what it plays: the agents and their corpora, each
agent's self-play conversations at 0 ms (batched, cached in OUT/conversations) and each
corpus through the token format, as voice activity. Imported by the self-play scripts."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from duplexsim.atomic import atomic_path
from duplexsim.metrics.activity import vad_from_units
from duplexsim.tokens import format_roundtrip

import numpy as np
from cached import conversation_path  # the conversation cache, keyed by its inputs

AGENTS = {"fisher": "fisher-like", "candor": "candor-like"}


@dataclass(frozen=True)
class Plan:
    agents: Path
    corpora: Path
    out: Path
    conversations: int = 12
    duration_s: float = 60.0
    chunk_ms: int = 200
    temperature: float = 1.0
    n_boot: int = 1000
    decision_lead_chunks: int = 1
    estimation: str = "model"
    estimate_temperature: float | None = None
    top_p: float = 1.0
    """Nucleus sampling of the agents' own units and estimates (1 = off)."""
    top_k: int = 0
    """Top-k sampling (0 = off)."""
    first_seed: int = 0
    """Conversation ``i`` is seeded ``first_seed + i`` (and named ``...-s<seed>``)."""
    replicates: tuple[Path, ...] = ()
    """Further training runs of the same cards (folders with ``fisher/`` and ``candor/``,
    e.g. trained with ``duplexsim train --seed``), each playing ``conversations`` more."""

    @property
    def roots(self) -> tuple[Path, ...]:
        """Every training run played: ``agents`` first, then the ``replicates``."""
        return (self.agents, *self.replicates)


def scenarios(plan: Plan, agent: str, root: Path | None = None) -> list:
    """The self-play conversations of ``agent`` of one training run (``root``; default
    ``plan.agents``)."""
    from duplexsim.config.link import LinkConfig
    from duplexsim.config.network import NetworkConfig
    from duplexsim.config.scenario import OutputConfig, Scenario, SideConfig

    side = SideConfig(kind="syncllm", agent=str((root or plan.agents) / agent),
                      temperature=plan.temperature,
                      estimation=plan.estimation,  # type: ignore[arg-type]
                      estimate_temperature=plan.estimate_temperature,
                      top_p=plan.top_p, top_k=plan.top_k)
    link = LinkConfig(delay_ms=0.0, jitter_ms=0.0, jitter_dist="none", loss_model="none",
                      loss=0.0)
    base = Scenario(name=f"{agent}-selfplay", chunk_ms=plan.chunk_ms,
                    duration_s=plan.duration_s, seed=0, a=side, b=side,
                    decision_lead_chunks=plan.decision_lead_chunks,
                    network=NetworkConfig(preset="ideal", a_to_b=link, b_to_a=link),
                    output=OutputConfig(audio=False))
    seeds = range(plan.first_seed, plan.first_seed + plan.conversations)
    return [replace(base, name=f"{agent}-selfplay-s{i}", seed=i) for i in seeds]


def simulate(plan: Plan, agent: str) -> list[np.ndarray]:
    """Played units ``[2, T]`` of each self-play conversation of ``agent``, run by run in
    :attr:`Plan.roots` order (cached in OUT/conversations)."""
    from duplexsim.sim.batch import run_batch

    todo = [s for root in plan.roots for s in scenarios(plan, agent, root)]
    paths = [conversation_path(plan.out, s) for s in todo]
    missing = [(s, p) for s, p in zip(todo, paths, strict=True) if not p.is_file()]
    if missing:
        traces = run_batch([s for s, _ in missing], progress=True)
        for (_, path), trace in zip(missing, traces, strict=True):
            with atomic_path(path) as tmp, open(tmp, "wb") as f:
                np.savez_compressed(f, units=np.asarray(trace.units, np.int64))
    return [np.load(p)["units"] for p in paths]


def corpus_reference(plan: Plan, preset: str) -> tuple[list[np.ndarray], set[int]]:
    """Voice activity of every dialogue of the corpus through the token format at
    ``plan.chunk_ms``, and the corpus's silence units, which are its agent's too: every
    training run of the agent (``plan.roots``) must hold the corpus's unit tokenizer
    (:func:`~duplexsim.units.shared_tokenizer`; another one is an error naming both)."""
    from duplexsim.corpora import load_corpus
    from duplexsim.corpora.corpus import tokenizer_dir
    from duplexsim.units import shared_tokenizer

    agent = next(a for a, p in AGENTS.items() if p == preset)
    shared_tokenizer([(str(plan.corpora / preset), tokenizer_dir(plan.corpora / preset))]
                     + [(str(root / agent), root / agent / "tokenizer") for root in plan.roots])
    corpus = load_corpus(plan.corpora / preset)
    tokenizer = corpus.tokenizer()
    silence = set(int(u) for u in tokenizer.silence_units)  # every one, not the canonical
    vads = [vad_from_units(format_roundtrip(corpus.units(i), plan.chunk_ms, int(corpus.n_units),
                                            int(tokenizer.silence_unit)), silence)
            for i in corpus.ids()]
    return vads, silence


def source_vads(plan: Plan) -> dict[str, list[np.ndarray]]:
    """Voice activity ``bool [2, T]`` of each conversation, by source: each agent's self-play
    (read with its own corpus's silence units) and each corpus through the format."""
    vads: dict[str, list[np.ndarray]] = {}
    silence: dict[str, set[int]] = {}
    for agent, preset in AGENTS.items():  # every tokenizer is checked before simulating
        vads[preset], silence[agent] = corpus_reference(plan, preset)
    for agent in AGENTS:
        vads[agent] = [vad_from_units(u, silence[agent]) for u in simulate(plan, agent)]
    return vads
