"""What architectures.py runs: its :class:`Plan`, the grid of conversations (corpus x
architecture x partner x delay x seed, :func:`grid`), each one's scenario, and the held-out
dialogues the replay partners play, which make a conversation's bootstrap cluster
(:func:`cluster_of`). Must not run conversations, score them or write outputs."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

CORPORA = {"fisher": "fisher-like", "candor": "candor-like"}
ARCHS = {"syncllm": "", "tdm": "-tdm"}
"""Architecture -> suffix of its agent directory (``fisher``, ``fisher-tdm``)."""


@dataclass(frozen=True)
class Plan:
    agents: Path
    corpora: Path
    out: Path
    delays: tuple[int, ...] = (0, 160, 240, 480)
    seeds: int = 6
    """Conversations per grid point: 6, as an interval needs ``intervals.MIN_BOOT_UNITS``
    (5) clusters (with 3, the default until 2026-12-07, no agent row had one)."""
    duration_s: float = 60.0
    chunk_ms: int = 200
    slice_ms: int = 1200
    block_s: float = 15.0
    n_boot: int = 1000
    temperature: float = 1.0


def agent_dir(plan: Plan, corpus: str, arch: str) -> Path:
    return plan.agents / f"{corpus}{ARCHS[arch]}"


def scenario(plan: Plan, corpus: str, arch: str, partner: str, delay: int, seed: int,
             dialogue: str) -> Any:
    from duplexsim.config.link import LinkConfig
    from duplexsim.config.network import NetworkConfig
    from duplexsim.config.scenario import OutputConfig, Scenario, SideConfig

    path = str(agent_dir(plan, corpus, arch))
    me = (SideConfig(kind="tdm", agent=path, slice_ms=plan.slice_ms,
                     temperature=plan.temperature) if arch == "tdm"
          else SideConfig(kind="syncllm", agent=path, temperature=plan.temperature))
    if partner == "replay":
        other = SideConfig(kind="replay", corpus=str(plan.corpora / CORPORA[corpus]),
                           dialogue=dialogue, channel=1)
    else:  # self-play; self-offset: B's slices (and chunks) half a slice after A's
        other = replace(me, clock_offset_ms=-(plan.slice_ms // 2) if partner == "self-offset"
                        else 0)
    link = LinkConfig(delay_ms=float(delay), jitter_ms=0.0, jitter_dist="none",
                      loss_model="none", loss=0.0)
    return Scenario(name=f"{corpus}-{arch}-{partner}-{delay}ms-s{seed}",
                    chunk_ms=plan.chunk_ms, duration_s=plan.duration_s, seed=seed, a=me,
                    b=other, network=NetworkConfig(preset="ideal", a_to_b=link, b_to_a=link),
                    output=OutputConfig(audio=False))


PARTNERS = ("self", "replay", "self-offset")


def grid(plan: Plan) -> list[dict[str, Any]]:
    return [{"corpus": c, "arch": a, "partner": p, "delay_ms": d, "seed": s}
            for c in CORPORA for a in ARCHS for p in PARTNERS
            for d in (plan.delays if p != "self-offset" else plan.delays[:1])
            for s in range(plan.seeds)]


def held_out(plan: Plan) -> dict[str, tuple[list[str], str]]:
    """Each corpus's test dialogue ids (all of them where it has no test split): the replay
    partners' dialogues and the corpus rows' conversations; with what they are, for the
    report's corpus rows ("test split", or "all N dialogues: no test split")."""
    from duplexsim.corpora import load_corpus

    out = {}
    for c, p in CORPORA.items():
        corpus = load_corpus(plan.corpora / p)
        tests = corpus.ids("test")
        out[c] = (tests, "test split") if tests else \
            (corpus.ids(), f"all {len(corpus.ids())} dialogues: no test split")
    return out


def held_out_dialogues(plan: Plan) -> dict[str, list[str]]:
    """Each corpus's held-out dialogue ids (:func:`held_out`)."""
    return {c: ids for c, (ids, _) in held_out(plan).items()}


def replayed(dialogues: dict[str, list[str]], corpus: str, seed: int) -> str:
    """The test dialogue a replay partner plays at ``seed``: with more seeds than test
    dialogues, seeds share one (one bootstrap cluster, :func:`cluster_of`)."""
    return dialogues[corpus][seed % len(dialogues[corpus])]


def cluster_of(cell: dict[str, Any], dialogues: dict[str, list[str]]) -> Hashable:
    """A conversation's bootstrap cluster: against a replay the replayed dialogue (seeds
    that replay the same one are not independent), otherwise its seed."""
    if cell["partner"] == "replay":
        return ("dialogue", replayed(dialogues, cell["corpus"], cell["seed"]))
    return ("seed", cell["seed"])
