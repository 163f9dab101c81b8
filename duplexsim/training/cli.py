"""``duplexsim train CARD --corpus DIR --out DIR [--max-minutes N]``: train one agent.

Owns only the command: reads the card and the corpus (:func:`duplexsim.corpora.load_corpus`),
checks that their unit vocabularies agree, runs the recipe of the card's ``[agent] kind``
(:data:`RECIPES`: :func:`duplexsim.training.recipe.train_agent` for SyncLLM,
:func:`duplexsim.training.tdm.train_tdm_agent` for TDM) and copies the unit tokenizer into
the agent directory so its audio can be vocoded.
Re-running with the same ``--out`` resumes from ``checkpoints/last.pt``.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from duplexsim.config.card import AgentCard, load_card
from duplexsim.config.loader import ConfigError

RECIPES = {
    "syncllm": ("duplexsim.training.recipe", "train_agent"),
    "tdm": ("duplexsim.training.tdm", "train_tdm_agent"),
}
"""Agent kind -> ``(module, function)`` of its recipe (imported only when used)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("card", type=Path, help="agent card (agents/fisher.toml, ...)")
    parser.add_argument("--corpus", type=Path, required=True, help="corpus directory")
    parser.add_argument("--out", type=Path, required=True, help="agent directory to write")
    parser.add_argument("--max-minutes", type=float, default=None,
                        help="wall-clock budget, split over stages by their time_share")
    parser.add_argument("--no-progress", action="store_true")


def check_corpus(card: AgentCard, corpus_n_units: int, corpus_root: Path, card_path: Path) -> None:
    """The corpus's unit vocabulary must be the model's."""
    if corpus_n_units != card.model.n_units:
        raise ValueError(
            f"{corpus_root}: corpus has n_units={corpus_n_units} but {card_path}: model.n_units="
            f"{card.model.n_units} (allowed: equal unit vocabularies; set model.n_units)"
        )


def run(args: argparse.Namespace) -> int:
    try:
        card = load_card(args.card)
    except ConfigError as e:
        print(e)
        return 1
    import importlib

    from duplexsim.corpora import load_corpus

    module, function = RECIPES[card.agent.kind]
    train_agent = getattr(importlib.import_module(module), function)

    corpus = load_corpus(args.corpus)
    try:
        check_corpus(card, int(corpus.n_units), Path(args.corpus), args.card)
    except ValueError as e:
        print(e)
        return 1
    train = list(corpus.dialogues(split="train"))
    val = list(corpus.dialogues(split="val"))
    info = train_agent(card, train, val, args.out, max_minutes=args.max_minutes,
                       corpus=str(Path(args.corpus).resolve()), progress=not args.no_progress)
    tok_src = _tokenizer_dir(corpus)
    if tok_src is not None and tok_src.is_dir():
        dst = Path(args.out) / "tokenizer"
        shutil.rmtree(dst, ignore_errors=True)
        shutil.copytree(tok_src, dst)
    losses = ", ".join(f"{k} {v:.3f}" for k, v in info["val_loss"].items())
    print(f"{args.out}: trained {card.agent.name!r} (validation loss: {losses})")
    return 0


def _tokenizer_dir(corpus: object) -> Path | None:
    root = Path(getattr(corpus, "root", "."))
    import json

    manifest = root / "manifest.json"
    if not manifest.is_file():
        return None
    name = json.loads(manifest.read_text()).get("tokenizer", "tokenizer")
    path = Path(name)
    return path if path.is_absolute() else root / path
