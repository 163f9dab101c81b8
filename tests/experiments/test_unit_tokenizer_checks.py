"""The studies that feed one corpus's units to another's agent (continuation, handover,
style probe) refuse corpora and agents of two unit tokenizers, naming both folders; copies
of one tokenizer (what the demo and the tiny world make) pass. Self-play, which pairs each
agent with its own corpus only, checks each pair."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from cli_workspace import write_corpus, write_tokenizer

from duplexsim.errors import InputError
from duplexsim.units import copy_tokenizer

ROOT = Path(__file__).parents[2]
sys.path.insert(0, str(ROOT / "experiments"))


def world(root: Path) -> tuple[Path, Path]:
    """corpora/{fisher-like,candor-like} and agents/{fisher,candor}/tokenizer, one tokenizer
    copied into each (the agents hold only their tokenizer: the checks come first)."""
    for name in ("fisher-like", "candor-like"):
        write_corpus(root / "corpora" / name)
    for name in ("fisher", "candor"):
        copy_tokenizer(root / "corpora" / "fisher-like" / "tokenizer",
                       root / "agents" / name / "tokenizer")
    return root / "agents", root / "corpora"


def other(folder: Path) -> None:
    write_tokenizer(folder, n_silence_units=2)  # as many units, other files


def test_continuation_uses_the_one_tokenizer_of_its_corpora_and_agents(tmp_path: Path) -> None:
    from continuation_plan import unit_tokenizer

    agents, corpora = world(tmp_path)
    assert unit_tokenizer(agents, corpora).silence_units == {0}
    other(corpora / "candor-like" / "tokenizer")  # built without --tokenizer: its own
    with pytest.raises(InputError, match=rf"^{corpora}/candor-like: its unit tokenizer "
                       rf"{corpora}/candor-like/tokenizer is not {corpora}/fisher-like's"):
        unit_tokenizer(agents, corpora)
    copy_tokenizer(corpora / "fisher-like" / "tokenizer", corpora / "candor-like" / "tokenizer")
    other(agents / "candor" / "tokenizer")
    with pytest.raises(InputError, match=rf"^{agents}/candor: its unit tokenizer "):
        unit_tokenizer(agents, corpora)


@pytest.mark.parametrize("study", ["handover", "style_probe"])
def test_an_agent_of_another_tokenizer_than_the_corpus_is_refused(tmp_path: Path,
                                                                  study: str) -> None:
    from handover import handover_events
    from style_probe_decisions import probe_decisions

    agents, corpora = world(tmp_path)
    other(agents / "fisher" / "tokenizer")
    corpus = corpora / "fisher-like"
    with pytest.raises(InputError, match=rf"^{agents}/fisher: its unit tokenizer .* is not "
                       rf"{corpus}'s \({corpus}/tokenizer\)"):
        if study == "handover":
            handover_events(agents / "fisher", corpus, 160, 4, None)
        else:
            probe_decisions(agents / "fisher", corpus, chunk_ms=160, short_chunks=2,
                            start_s=0.0, split=None, max_dialogues=1)


def test_selfplay_reads_each_agent_with_its_own_corpus_silence_units(tmp_path: Path) -> None:
    """Self-play scores each agent's units with its own corpus's silence units (it took the
    last corpus's for both: unit 1, speech to a one-silence-unit Fisher tokenizer, was
    silence to a CANDOR tokenizer of two), and refuses an agent of another tokenizer than
    its corpus, naming it, before simulating."""
    from cached import conversation_path
    from selfplay_plan import Plan, scenarios, source_vads

    agents, corpora = world(tmp_path)
    other(corpora / "candor-like" / "tokenizer")  # silence units 0 and 1
    copy_tokenizer(corpora / "candor-like" / "tokenizer", agents / "candor" / "tokenizer")
    plan = Plan(agents=agents, corpora=corpora, out=tmp_path / "out", conversations=1,
                duration_s=1.6, chunk_ms=160)
    units = np.tile(np.array([[1], [0]], np.int64), 40)  # a says unit 1 throughout, b nothing
    for agent in ("fisher", "candor"):  # the conversation cache simulate() reads back
        path = conversation_path(plan.out, scenarios(plan, agent)[0])
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(path, units=units)
    vads = source_vads(plan)
    assert vads["fisher"][0][0].all() and not vads["fisher"][0][1].any()
    assert not vads["candor"][0].any()
    other(agents / "fisher" / "tokenizer")
    with pytest.raises(InputError, match=rf"^{agents}/fisher: its unit tokenizer "
                       rf"{agents}/fisher/tokenizer is not {corpora}/fisher-like's"):
        source_vads(plan)
