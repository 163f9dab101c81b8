"""``duplexsim train CARD --corpus DIR --out DIR [--threads N] [--max-minutes N]``: train one
agent.

Owns only the command: reads the card and the corpus (:func:`duplexsim.corpora.load_corpus`),
checks that their unit vocabularies agree, runs the recipe of the card's ``[agent] kind``
(:data:`RECIPES`: :func:`duplexsim.training.recipe.train_agent` for SyncLLM,
:func:`duplexsim.training.tdm.train_tdm_agent` for TDM) and copies the unit tokenizer into
the agent directory so its audio can be vocoded (moved in whole:
:func:`duplexsim.atomic.output_dir`). Re-running with the same ``--out`` resumes from
``checkpoints/last.pt`` (also after ``--max-minutes`` stopped it). Card, corpus, tokenizer
and ``--out`` are checked before training starts; ``--seed`` replaces the card's ``[train] seed``
(a training replicate of the card, :func:`with_seed`); errors reach the user through
``duplexsim.cli.main`` (one line each, exit 2).

Threads: ``--threads`` of every command (:mod:`duplexsim.threads`, default 1). The bytes of
the weights depend on the thread count, so it is recorded in ``agent.json``
(``torch_threads``; ``torch_threads_per_start`` lists each count a resume changed to).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import shutil
import sys
from pathlib import Path
from typing import Any

from duplexsim.cli import number, path_arg
from duplexsim.config.card import AgentCard, load_card
from duplexsim.errors import ConfigError, InputError, OutputError

RECIPES = {
    "syncllm": ("duplexsim.training.recipe", "train_agent"),
    "tdm": ("duplexsim.training.tdm", "train_tdm_agent"),
}
"""Agent kind -> ``(module, function)`` of its recipe (imported only when used)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("card", type=Path, help="agent card (agents/fisher.toml, ...)")
    parser.add_argument("--corpus", type=path_arg, required=True, help="corpus directory")
    parser.add_argument("--out", type=path_arg, required=True, help="agent directory to write")
    parser.add_argument("--max-minutes", type=number(0, 1e6, low_open=True), default=None,
                        help="guard, not a plan: stop at the first step boundary after this "
                             "many wall minutes and say so in agent.json (the card's steps "
                             "are the budget; run again with the same --out to finish)")
    parser.add_argument("--seed", type=number(0, 2**63 - 1, integer=True), default=None,
                        help="replaces the card's [train] seed: another training run of the "
                             "same card (a replicate), recorded in agent.json's card")
    parser.add_argument("--no-progress", action="store_true",
                        help="no progress bar (e.g. when the output is a log file)")


def check_corpus(card: AgentCard, corpus_n_units: int, corpus_root: Path,
                 card_path: Path) -> None:
    """The corpus's unit vocabulary (its manifest's ``n_units``) must be the model's."""
    if corpus_n_units != card.model.n_units:
        raise InputError(str(card_path), "model.n_units",
                         f"{card.model.n_units}, but corpus {corpus_root} has n_units="
                         f"{corpus_n_units}", "equal unit vocabularies; set model.n_units")


def check_silence_unit(card: AgentCard, corpus_root: Path, card_path: Path,
                       silence_units: list[int] | None) -> None:
    """The card's silence unit must be one of the corpus's silence units (``silence_units``:
    its tokenizer's, else its manifest's; None: not recorded)."""
    if silence_units and card.model.silence_unit not in silence_units:
        # a silent listener's channel would be filled with a speech unit
        raise InputError(str(card_path), "model.silence_unit",
                         f"{card.model.silence_unit} is a speech unit of corpus {corpus_root} "
                         f"(its silence units: {sorted(silence_units)})",
                         f"one of {sorted(silence_units)}")


def with_seed(card: AgentCard, seed: int | None) -> AgentCard:
    """``card`` with its ``[train] seed`` replaced (``None``: as it is). The seed draws the
    initial weights and every batch, so runs of one card that differ only in it are
    independent training replicates: what a claim about "the agent of a card" must be
    measured over (``docs/results/selfplay/diagnosis.md``, finding 1)."""
    if seed is None:
        return card
    return dataclasses.replace(card, train=dataclasses.replace(card.train, seed=int(seed)))


def preset_note(card_preset: str, corpus_preset: str) -> str | None:
    """What to say when a card meant for one corpus family is trained on another (a
    ``fisher-like`` card on real ``fisher`` is the same family; either label empty: nothing)."""
    def family(preset: str) -> str:
        return preset.removesuffix("-like")

    if card_preset and corpus_preset and family(card_preset) != family(corpus_preset):
        return (f"agent.corpus_preset = {card_preset!r}, but the corpus is "
                f"{corpus_preset!r}")
    return None


def run(args: argparse.Namespace) -> int:
    from duplexsim.atomic import check_output_dir
    from duplexsim.config.cli import expect_kind

    expect_kind(args.card, "agent card")
    card = with_seed(load_card(args.card), args.seed)
    checkpoint = Path(args.out) / "checkpoints" / "last.pt"
    problems = card.missing_files(str(args.card), checkpoint if checkpoint.is_file() else "")
    if problems:
        raise ConfigError(problems)
    check_output_dir(args.out)

    from duplexsim.corpora import load_corpus

    # the most fundamental problem first: the corpus folder (load_corpus), its splits, the
    # card against its manifest (n_units), then its tokenizer (loaded: a broken one fails
    # now, not after training) against the card (silence units, which go to agent.json)
    corpus = load_corpus(args.corpus)
    note = preset_note(card.agent.corpus_preset, corpus.preset)
    from duplexsim.training.distributed import launched_rank, launched_world

    says = launched_rank() == 0  # under torchrun every rank runs this: rank 0 speaks
    if note and says:
        print(f"note: {args.card}: {note} ({args.corpus}); training goes on", file=sys.stderr)
    if not corpus.ids("train"):
        raise InputError(str(args.corpus), "train", "the corpus has no train dialogues",
                         "a corpus with a train split")
    check_corpus(card, int(corpus.n_units), Path(args.corpus), args.card)
    tok_src, corpus_silence = _corpus_silence(corpus)
    check_silence_unit(card, Path(args.corpus), args.card, corpus_silence)
    if not corpus.ids("val") and says:  # the recipe then validates on the train dialogues
        print(f"note: {args.corpus} has no val dialogues: validation loss (and keep_best) is "
              "measured on the training dialogues", file=sys.stderr)
    _check_out_folder(args)
    # what the number of processes decides, before the data is built (minutes on a corpus)
    from duplexsim.training.recipe import check_schedules

    check_schedules(card, launched_world())
    info = _locked_training(args, card, corpus, checkpoint, tok_src, corpus_silence, says)
    if says:
        _print_result(args, card, info)
    return 0


def _corpus_silence(corpus: Any) -> tuple[Path | None, list[int] | None]:
    """The corpus's unit tokenizer folder (None: it has none) and its silence units: its
    tokenizer's (loaded: a broken one fails now), else its manifest's (None: not recorded)."""
    tok_dir = corpus.tokenizer_dir()  # none there: the manifest's silence units
    tok_src = tok_dir if (tok_dir / "config.json").is_file() else None
    if tok_src is not None:
        from duplexsim.units import load_tokenizer

        return tok_src, sorted(int(u) for u in load_tokenizer(tok_src).silence_units)
    silence = corpus.manifest.get("silence_units")
    return None, [int(u) for u in silence] if isinstance(silence, list) else None


def _check_out_folder(args: argparse.Namespace) -> None:
    """Refuse an ``--out`` that holds a corpus, or files of something other than an agent."""
    from duplexsim.atomic import check_not_foreign

    if (Path(args.out) / "manifest.json").is_file():  # e.g. --out typed for --corpus
        raise OutputError(str(args.out), "--out", "holds a corpus (manifest.json): the agent "
                          "would be written into it and its unit tokenizer replaced by "
                          f"{args.corpus}'s", "an agent folder apart from every corpus")
    check_not_foreign(args.out, AGENT_MARKERS, "agent",
                      "a new or empty folder, or an agent folder to resume or retrain")


def _locked_training(args: argparse.Namespace, card: AgentCard, corpus: Any, checkpoint: Path,
                     tok_src: Path | None, corpus_silence: list[int] | None, says: bool
                     ) -> dict[str, Any]:
    """:func:`_train` holding ``--out``'s lock (``says``: this process takes it, rank 0
    under torchrun); an ``--out`` it made is removed again when training fails before any
    file is written, and the process group is ended either way."""
    from duplexsim.folders import exclusive_run

    fresh = not Path(args.out).exists()
    # one lock a run: under torchrun rank 0's
    with exclusive_run(args.out) if says else contextlib.nullcontext():
        try:
            return _train(args, card, corpus, checkpoint, tok_src, corpus_silence)
        except BaseException:
            if fresh:  # e.g. the first checkpoint did not fit on the disk: no empty agent folder
                _remove_if_empty(Path(args.out))
            raise
        finally:  # under torchrun the recipe made a process group: end it, error or not
            from duplexsim.training.distributed import teardown_distributed

            teardown_distributed()


def _print_result(args: argparse.Namespace, card: AgentCard, info: dict[str, Any]) -> None:
    """What rank 0 says when training ends: the validation losses, and where
    ``--max-minutes`` stopped it."""
    losses = ", ".join(f"{k} {v:.3f}" for k, v in info["val_loss"].items())
    print(f"{args.out}: trained {card.agent.name!r} (validation loss: {losses})")
    stop = info["stopped_early"]
    if stop:
        print(f"{args.out}: stopped by --max-minutes {stop['max_minutes']:g} at {stop['stage']} "
              f"step {stop['step']} of {stop['planned_steps']} (skipped: "
              f"{', '.join(stop['skipped_stages']) or 'none'}); run the same command without "
              "--max-minutes to finish the card")


def _train(args: argparse.Namespace, card: AgentCard, corpus: Any, checkpoint: Path,
           tok_src: Path | None, corpus_silence: list[int] | None) -> dict[str, Any]:
    """What :func:`run` does holding ``--out``'s lock: the checks of what is in it, then the
    recipe; returns ``agent.json``'s contents."""
    import importlib

    from duplexsim.training.distributed import launched_world

    if (Path(args.out) / "agent.json").is_file() and not checkpoint.is_file():
        raise OutputError(str(args.out), "--out", "holds a trained agent (agent.json) and no "
                          "checkpoints/last.pt to resume: training would replace it",
                          "another --out, or remove the folder to train anew")
    if checkpoint.is_file():  # resuming: a corrupt one, another card's or processes' fails now
        from duplexsim.training.checkpoints import load_checkpoint

        load_checkpoint(checkpoint, card.to_dict(), vocab_size=None, world=launched_world(),
                        mmap=True)  # its weights are read once, by the resume
    module, function = RECIPES[card.agent.kind]
    train_agent = getattr(importlib.import_module(module), function)
    train = list(corpus.dialogues(split="train"))
    val = list(corpus.dialogues(split="val"))

    def finish(out: Path) -> None:  # before agent.json marks the agent complete
        if tok_src is not None:
            from duplexsim.units import copy_tokenizer

            copy_tokenizer(tok_src, out / "tokenizer")

    result: dict[str, Any] = train_agent(
        card, train, val, args.out, max_minutes=args.max_minutes,
        corpus=str(Path(args.corpus).resolve()), progress=not args.no_progress, finish=finish,
        silence_units=corpus_silence or ())
    return result


AGENT_MARKERS = frozenset({"agent.json", "checkpoints", "model", "loss.png",
                           "text_tokenizer.json", "train_log.csv", "train_log.json"})
"""What a training run writes into its ``--out`` (hidden temporaries aside) that marks the
folder as an agent's: not its ``tokenizer/``, which a corpus has too (a corpus an import left
without manifest.json was trained into, its unit tokenizer replaced). The tokenizer is
copied in last, just before agent.json: no run leaves it alone."""


def _remove_if_empty(folder: Path) -> None:
    """Remove ``folder`` if it holds no files, only (empty) folders."""
    if folder.is_dir() and not any(p.is_file() for p in folder.rglob("*")):
        shutil.rmtree(folder)


