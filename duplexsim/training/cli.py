"""``duplexsim train CARD --corpus DIR --out DIR [--threads N] [--max-minutes N]``: train one
agent.

Owns only the command: reads the card and the corpus (:func:`duplexsim.corpora.load_corpus`),
checks that their unit vocabularies agree, sets torch's thread count, runs
:func:`duplexsim.training.recipe.train_agent` and copies the unit tokenizer into the agent
directory so its audio can be vocoded. Re-running with the same ``--out`` resumes from
``checkpoints/last.pt`` (also after ``--max-minutes`` stopped it).

Threads: 1 by default. Measured on the 2-core machine (docs/results/training.md), a second
thread gives a small-model step a little alone and costs a lot beside any other load, while
two 1-thread trainings side by side beat one after the other; the bytes of the weights
depend on the thread count, so it is recorded in ``agent.json`` (``torch_threads``).
"""

from __future__ import annotations

import argparse
import math
import shutil
from pathlib import Path

from duplexsim.config.card import AgentCard, load_card
from duplexsim.config.loader import ConfigError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("card", type=Path, help="agent card (agents/fisher.toml, ...)")
    parser.add_argument("--corpus", type=Path, required=True, help="corpus directory")
    parser.add_argument("--out", type=Path, required=True, help="agent directory to write")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (default 1: see docs/results/training.md)")
    parser.add_argument("--max-minutes", type=float, default=None,
                        help="guard, not a plan: stop at the first step boundary after this "
                             "many wall minutes and say so in agent.json (the card's steps "
                             "are the budget; run again with the same --out to finish)")
    parser.add_argument("--no-progress", action="store_true")


def check_corpus(card: AgentCard, corpus_n_units: int, corpus_root: Path, card_path: Path) -> None:
    """The corpus's unit vocabulary must be the model's."""
    if corpus_n_units != card.model.n_units:
        raise ValueError(
            f"{corpus_root}: corpus has n_units={corpus_n_units} but {card_path}: model.n_units="
            f"{card.model.n_units} (allowed: equal unit vocabularies; set model.n_units)"
        )


def check_flags(args: argparse.Namespace) -> None:
    if args.threads < 1:
        raise ValueError(f"--threads: {args.threads} (allowed: >= 1)")
    m = args.max_minutes
    if m is not None and not (math.isfinite(m) and m > 0):
        raise ValueError(f"--max-minutes: {m} (allowed: a positive number of minutes)")


def run(args: argparse.Namespace) -> int:
    try:
        check_flags(args)
        card = load_card(args.card)
    except (ConfigError, ValueError) as e:
        print(e)
        return 1
    import torch

    from duplexsim.corpora import load_corpus
    from duplexsim.training.recipe import train_agent

    torch.set_num_threads(args.threads)
    corpus = load_corpus(args.corpus)
    try:
        check_corpus(card, int(corpus.n_units), Path(args.corpus), args.card)
        train = list(corpus.dialogues(split="train"))
        val = list(corpus.dialogues(split="val"))
        info = train_agent(card, train, val, args.out, max_minutes=args.max_minutes,
                           corpus=str(Path(args.corpus).resolve()),
                           progress=not args.no_progress)
    except ValueError as e:  # bad corpus for this card, corrupt checkpoint, non-finite loss
        print(e)
        return 1
    tok_src = _tokenizer_dir(corpus)
    if tok_src is not None and tok_src.is_dir():
        dst = Path(args.out) / "tokenizer"
        shutil.rmtree(dst, ignore_errors=True)
        shutil.copytree(tok_src, dst)
    losses = ", ".join(f"{k} {v:.3f}" for k, v in info["val_loss"].items())
    print(f"{args.out}: trained {card.agent.name!r} (validation loss: {losses})")
    stop = info["stopped_early"]
    if stop:
        print(f"{args.out}: stopped by --max-minutes {stop['max_minutes']:g} at {stop['stage']} "
              f"step {stop['step']} of {stop['planned_steps']} (skipped: "
              f"{', '.join(stop['skipped_stages']) or 'none'}); run the same command without "
              "--max-minutes to finish the card")
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
