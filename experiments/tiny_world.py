"""A tiny but real world for experiment smoke modes: two synthetic corpora and two agents.

``build_tiny_world(root)`` builds a fisher-like and a candor-like corpus (espeak-ng speech,
a shared mel-kmeans unit tokenizer with few units) with :func:`duplexsim.corpora.build.
build_corpus`, then trains a ``tiny`` SyncLLM agent on each for a few steps per stage with
:func:`duplexsim.training.recipe.train_agent`, and copies the unit tokenizer into the agent
directory exactly as ``duplexsim train`` does. Everything is reused when already there, so a
second smoke run is quick; ``root`` (corpora and tokenizer) and each agents folder record
the parameters they were built with (``tiny_world.json``; an agents folder also the digest
of the cards :func:`tiny_card` makes for them), a corpus is held to its synthesis
parameters by the corpus builder's own check (``build.json``), and a world asked for with
other parameters, or built by code with other cards or presets, is refused with one line,
not reused. Changes to the generator's or the trainer's code itself are not detected: give
such a world another folder. Owns nothing but this setup; must not score or simulate.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

AGENTS = {"fisher": "fisher-like", "candor": "candor-like"}
"""Agent name -> the corpus preset it is trained on."""
RECORD = "tiny_world.json"
"""The parameters a folder of the world was built with, inside it."""


def claim(folder: Path, params: dict[str, Any]) -> None:
    """Record ``params`` in a new ``folder``, or check that an existing one was built with
    them: a folder with other parameters, or with contents and no record, raises a one-line
    :class:`~duplexsim.errors.OutputError` (reusing it would mix worlds silently)."""
    from duplexsim.atomic import write_json
    from duplexsim.errors import OutputError

    record = folder / RECORD
    if record.is_file():
        built = json.loads(record.read_text())
        if built != params:
            diff = ", ".join(f"{k}={built.get(k)!r}, asked {params.get(k)!r}"
                             for k in sorted(params.keys() | built.keys())
                             if built.get(k) != params.get(k))
            raise OutputError(str(record), "", f"the tiny world there was built with {diff}",
                              "the same parameters, or another folder")
        return
    if folder.is_dir() and any(folder.iterdir()):
        raise OutputError(str(folder), "", f"holds files but no {RECORD}: not a tiny world "
                          "this version built", "a folder build_tiny_world made, or a new one")
    write_json(record, params)


def tiny_card(name: str, preset: str, n_units: int, steps: int,  # noqa: ANN201
              seed: int = 0):
    """A ``tiny`` agent card: a few steps per stage, chunk sizes 160/200/240 ms."""
    from duplexsim.config.card import AgentCard, AgentInfo
    from duplexsim.config.card_tables import ModelCard, StageCard, TrainCard

    stage = StageCard(steps=steps, batch_tokens=512, seq_len=128, warmup_steps=1, lr=3e-3,
                      window_chunks=12)
    return AgentCard(
        agent=AgentInfo(name=name, corpus_preset=preset),
        model=ModelCard(size="tiny", n_units=n_units, text_vocab_size=300),
        train=TrainCard(seed=seed, chunk_ms=(160, 200, 240), bf16=False, val_every=steps,
                        val_batches=1, checkpoint_every=steps),
        stage1=stage, stage2=stage, stage3=stage,
    )


def build_tiny_world(root: str | Path, *, conversations: int = 4,
                     conversation_s: float = 12.0, n_units: int = 24,
                     steps: int = 3, train_seed: int = 0) -> tuple[Path, Path]:
    """Build (or reuse) ``root/corpora/{fisher-like,candor-like}`` and ``root/agents/*``
    (``root/agents-seed<k>/*`` for another ``train_seed``: a training replicate).

    Returns ``(agents_dir, corpora_dir)``. Deterministic (corpora seed 0) and
    single-process.
    """
    from duplexsim.corpora import load_corpus
    from duplexsim.corpora.build import build_corpus
    from duplexsim.corpora.config import load_config
    from duplexsim.corpora.rebuild import build_record, check_rebuild
    from duplexsim.digests import key_of
    from duplexsim.training.recipe import train_agent

    root = Path(root)
    corpora = root / "corpora"
    agents = root / ("agents" if train_seed == 0 else f"agents-seed{train_seed}")
    # recorded before anything is built: whatever a folder holds was made with its record's
    # parameters (the corpora, their tokenizer in root/units; each agents folder)
    # (and the cards the agents are trained from, by digest: an agents folder of another
    # tiny_card is refused, not reused)
    cards = {name: tiny_card(name, preset, n_units, steps, train_seed)
             for name, preset in AGENTS.items()}
    claim(root, {"conversations": conversations, "conversation_s": conversation_s,
                 "n_units": n_units})
    claim(agents, {"steps": steps, "train_seed": train_seed,
                   "cards": key_of({k: c.to_dict() for k, c in cards.items()})})
    for name, preset in AGENTS.items():
        cdir = corpora / preset
        cfg = load_config(preset, conversation_s=conversation_s)
        if (cdir / "manifest.json").is_file():  # one built with other synthesis parameters
            check_rebuild(cdir, build_record(cfg, 0, preset, n_units, root / "units"), False)
        else:
            build_corpus(cdir, cfg, hours=conversations * conversation_s / 3600, seed=0,
                         preset=preset, tokenizer_dir=root / "units", cache_dir=root / "tts",
                         workers=1, n_units=n_units, train_hours=0.05)
        adir = agents / name
        if (adir / "agent.json").is_file():
            continue
        corpus = load_corpus(cdir)
        dialogues = list(corpus.dialogues())
        train_agent(cards[name], dialogues[1:], dialogues[:1], adir, corpus=str(cdir.resolve()),
                    progress=False)
        shutil.rmtree(adir / "tokenizer", ignore_errors=True)
        shutil.copytree(cdir / "tokenizer", adir / "tokenizer")
    return agents, corpora
