"""Filtered self-play fine-tuning (issue 16): train an agent on its own conversations that
went like its corpus.

Trained on a corpus, a SyncLLM learns the joint pattern of both speakers written together;
in self-play two copies decide their chunks apart, each from its own estimate of the other,
and collide (docs/results/selfplay/diagnosis.md, findings 9 and 16). This is the simplest
training in interaction: let the agent talk to itself, keep the conversations whose
turn-taking came out closest to its corpus's, and fine-tune the agent on them, so that it
learns from interactions it can produce when deciding apart.

1. Self-play with :mod:`selfplay`'s protocol (ideal network at 0 ms, ``--chunk-ms`` chunks,
   the paper's decision lead of one chunk) of ``--agents/--agent``: ``--conversations`` x
   ``--duration-s``, seeded from ``--first-seed`` (default 1000: apart from the 0..11 the
   self-play evaluation uses); cached in ``OUT/conversations``.
2. Each conversation (or each whole ``--window-s`` window of one: a *piece*) scored as the
   corpus is (overlap share, listener onsets per listening second, backchannels per
   minute; :func:`selfplay_tables.pooled`), against the agent's corpus through the token format;
   distance = the sum of ``|ln(agent / corpus)|`` over the three (a piece with none of one
   counts as 1/10 of the corpus's rate). The ``--keep`` share closest is kept: not just the
   quietest (few onsets cost as much as much overlap). ``--max-onsets-over`` first drops
   the pieces with more of their speech onsets made over the partner than that share.
3. Fine-tuned from the agent's weights (``model.init_from``) with its card's stage 3
   (``--card``, default ``agents/<agent>.toml``) for ``--steps`` at ``--lr`` (constant
   after 10 warm-up steps, the last weights kept: the corpus's validation loss is reported,
   not optimised) on the corpus's train split plus the kept pieces ``--repeat`` times
   (units only).

Writes ``OUT/selection.csv`` (every piece's statistics, distance, kept),
``OUT/agent`` (the fine-tuned agent, the base agent's unit tokenizer copied in) and
``OUT/REPORT.md``; evaluate with ``selfplay.py --agents`` a folder that holds it. Nothing
here is asserted.

    python experiments/selfplay_finetune.py --agents runs/agents --agent fisher \\
        --corpora runs/corpora --out runs/selfplay-ft/fisher
    python experiments/selfplay_finetune.py --smoke --out /tmp/sp-ft   # tiny world, seconds
"""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from duplexsim.atomic import write_text
from duplexsim.cli import ArgumentParser, chunk_ms_arg, number, path_arg, run_reporting
from duplexsim.metrics.activity import vad_from_units
from duplexsim.tokens import FRAME_MS

import numpy as np
import pandas as pd
from continuation_stats import Scored  # one dialogue's events, computed once
from outdir import check_out  # --out: writable, and not another folder's
from provenance import provenance  # the report line (command and commit)
from selfplay_plan import AGENTS, Plan, corpus_reference, simulate
from selfplay_tables import coordination, pooled

OUTPUTS = ("world", "conversations", "selection.csv", "agent", "REPORT.md")
"""What selfplay_finetune.py writes in --out: a folder holding one of them is an earlier run's."""

MATCHED = ("overlap_share", "listener_onsets_per_s", "backchannels_per_min")
"""The statistics a kept conversation is chosen to match (the FTO median is too noisy on
one 60 s conversation to choose by)."""


@dataclass
class SelfTrainDialogue:
    """A self-play conversation as training data: units only (stage 3 reads no text)."""

    id: str
    units: np.ndarray
    segments: list[Any] = field(default_factory=list)


def distance(stats: dict[str, float], corpus: dict[str, float]) -> float:
    """Sum over :data:`MATCHED` of ``|ln(x / corpus)|``, x floored at a tenth of the corpus's
    (a statistic that is undefined, e.g. onsets per listening second with no listening,
    counts as that floor)."""
    return float(sum(abs(np.log(np.nan_to_num(max(stats[k], corpus[k] / 10),
                                              nan=corpus[k] / 10) / corpus[k]))
                     for k in MATCHED))


def pieces(units: list[np.ndarray], first_seed: int, window_s: float
           ) -> list[tuple[int, int, np.ndarray]]:
    """``(seed, start frame, units)`` of every conversation, or of every whole window of
    ``window_s`` seconds of each (0: whole conversations)."""
    out = []
    for i, u in enumerate(units):
        step = round(window_s * 1000 / FRAME_MS) if window_s > 0 else u.shape[1]
        out += [(first_seed + i, a, u[:, a:a + step])
                for a in range(0, u.shape[1] - step + 1, step)]
    return out


def select(parts: list[tuple[int, int, np.ndarray]], silence: set[int],
           corpus: dict[str, float], keep: float, max_onsets_over: float = 1.0
           ) -> pd.DataFrame:
    """Per piece: seed, start_s, the statistics, the share of its speech onsets made over
    the partner, distance and whether it is kept: the ``keep`` share of all pieces closest
    to the corpus among those with that share <= ``max_onsets_over`` (fewer if fewer are)."""
    rows = []
    for seed, start, u in parts:
        vad = vad_from_units(u, silence)
        rows.append({"seed": seed, "start_s": start * FRAME_MS / 1000,
                     **pooled([Scored.of(vad)]),
                     "onsets_over_partner_share": coordination([vad])[
                         "onsets_over_partner_share"]})
    table = pd.DataFrame(rows)
    table["distance"] = [distance(r, corpus) for r in rows]
    eligible = table[~(table.onsets_over_partner_share > max_onsets_over)]  # none: 0 over
    n_keep = min(len(eligible), max(1, round(keep * len(table))))
    table["kept"] = False
    table.loc[eligible["distance"].nsmallest(n_keep).index, "kept"] = True
    return table


def fine_tune(card: Any, base: Path, corpus_dir: Path, kept: list[np.ndarray], repeat: int,
              steps: int, lr: float, out: Path, progress: bool) -> dict[str, Any]:
    """Stage 3 of ``card`` (an AgentCard) from ``base``'s weights on the corpus's train split
    plus ``kept`` x ``repeat``; writes the agent to ``out``."""
    from duplexsim.corpora import load_corpus
    from duplexsim.training.datasets import DialogueLike
    from duplexsim.training.recipe import train_agent

    off = {"enabled": False}
    card = dataclasses.replace(
        card, model=dataclasses.replace(card.model, init_from=str(base / "model")),
        train=dataclasses.replace(card.train, keep_best=False,
                                  val_every=min(card.train.val_every, steps),
                                  checkpoint_every=min(card.train.checkpoint_every, steps)),
        stage1=dataclasses.replace(card.stage1, **off),
        stage2=dataclasses.replace(card.stage2, **off),
        stage3=dataclasses.replace(card.stage3, steps=steps, lr=lr, schedule="constant",
                                   warmup_steps=min(10, steps)))
    corpus = load_corpus(corpus_dir)
    train: list[DialogueLike] = list(corpus.dialogues(split="train"))
    train += [SelfTrainDialogue(f"selfplay-{i}-{r}", u) for r in range(repeat)
              for i, u in enumerate(kept)]
    val = list(corpus.dialogues(split="val")) or train[:1]
    from duplexsim.units import copy_tokenizer

    # the base agent's unit tokenizer, moved in before agent.json marks the agent complete
    return train_agent(card, train, val, out, corpus=str(corpus_dir.resolve()),
                       progress=progress,
                       finish=lambda d: copy_tokenizer(base / "tokenizer", d / "tokenizer"))


def render(args: argparse.Namespace, table: pd.DataFrame, corpus: dict[str, float],
           info: dict[str, Any], command: str) -> str:
    kept = table[table.kept]
    cols = ["overlap_share", "listener_onsets_per_s", "backchannels_per_min", "fto_median_ms"]
    means = pd.DataFrame({"corpus through the format": pd.Series(corpus)[cols],
                          "all self-play": table[cols].mean(),
                          "kept": kept[cols].mean()}).T
    return "\n".join([
        f"# Filtered self-play fine-tuning of {args.agent}",
        "",
        command,
        "",
        f"{table.seed.nunique()} self-play conversations of {args.duration_s:g} s (seeds "
        f"{table.seed.min()}..{table.seed.max()}, {args.chunk_ms} ms chunks, 0 ms, lead 1)"
        + (f", cut into {len(table)} windows of {args.window_s:g} s" if args.window_s else "")
        + (f" ({(~(table.onsets_over_partner_share > args.max_onsets_over)).sum()} with at most "
           f"{args.max_onsets_over:g} of their onsets over the partner)"
           if args.max_onsets_over < 1 else "")
        + f"; the {len(kept)} closest to the corpus on {', '.join(MATCHED)} kept and repeated "
        f"{args.repeat}x beside the corpus's train split; stage 3 from the agent's weights "
        f"for {args.steps} steps at lr {args.lr:g} (constant). Validation loss on the "
        f"corpus's val split: {info['val_loss'].get('stage3', float('nan')):.3f}.",
        "",
        "## Pieces (means of per-piece values)",
        "",
        means.to_markdown(floatfmt=".3f"),
        "",
        "Every piece: `selection.csv`. Evaluate the agent in `agent/` with "
        "`selfplay.py`.",
    ])


def add_agent_arguments(parser: argparse.ArgumentParser, out: str, card_help: str) -> None:
    """The options every self-play training script takes: where the agent, its corpus, its
    card and the output are, and ``--smoke``."""
    parser.add_argument("--out", type=path_arg, default=Path(out),
                        help="output folder (new or empty, or an earlier run's of this script) "
                             "(default: %(default)s)")
    parser.add_argument("--agents", type=Path, default=Path("runs/agents"),
                        help="trained agents' folder, with --agent's folder in it "
                             "(default: %(default)s)")
    parser.add_argument("--agent", default="fisher", choices=tuple(AGENTS),
                        help="the agent to train further (fisher: on fisher-like, candor: on "
                             "candor-like) (default: %(default)s)")
    parser.add_argument("--corpora", type=Path, default=Path("runs/corpora"),
                        help="built corpora's folder, with --agent's corpus (fisher-like/ or "
                             "candor-like/) (default: %(default)s)")
    parser.add_argument("--card", type=Path, default=None, help=card_help)
    parser.add_argument("--smoke", action="store_true", help="tiny world built in OUT/world")


def agent_inputs(parser: ArgumentParser, args: argparse.Namespace
                 ) -> tuple[Path, Path, Any]:
    """``(agents, corpora, card)``: the tiny world's (built in OUT/world) with ``--smoke``,
    else the given ones, checked (a missing agent, corpus or bad card: one line)."""
    from duplexsim.config.card import load_card
    from duplexsim.config.cli import expect_kind

    preset = AGENTS[args.agent]
    if args.smoke:
        from tiny_world import build_tiny_world, tiny_card

        agents, corpora = build_tiny_world(args.out / "world")
        return agents, corpora, tiny_card(args.agent, preset, 24, steps=2)
    parser.require_trained("--agents", [args.agents / args.agent])
    manifest = args.corpora / preset / "manifest.json"
    if not manifest.is_file():
        parser.error(f"{manifest}: not found (allowed: a built corpus there)")
    path = args.card or Path("agents") / f"{args.agent}.toml"
    try:
        expect_kind(path, "agent card")  # a scenario given as the card: said so, one line
        card = load_card(path)
    except (OSError, ValueError) as e:
        parser.error(str(e))
    return args.agents, args.corpora, card


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    check_out(args.out, OUTPUTS, "selfplay_finetune.py")  # before any work or world is made
    command = provenance("selfplay_finetune.py", argv)  # the code as it is when the run starts
    from duplexsim.threads import use_threads

    use_threads(args.threads)
    agents, corpora, card = agent_inputs(parser, args)
    preset = AGENTS[args.agent]
    if args.smoke:
        args.conversations, args.duration_s, args.chunk_ms, args.steps = 4, 6.0, 160, 2
    if not 0 <= args.window_s <= args.duration_s:  # (after the smoke's own duration)
        parser.error(f"--window-s: {args.window_s} (allowed: 0 .. {args.duration_s:g}, the "
                     "conversations' length)")
    plan = Plan(agents=agents, corpora=corpora, out=args.out, conversations=args.conversations,
                duration_s=args.duration_s, chunk_ms=args.chunk_ms, first_seed=args.first_seed)
    vads, silence = corpus_reference(plan, preset)
    corpus = pooled([Scored.of(v) for v in vads])
    parts = pieces(simulate(plan, args.agent), args.first_seed, args.window_s)
    table = select(parts, silence, corpus, args.keep, args.max_onsets_over)
    args.out.mkdir(parents=True, exist_ok=True)
    write_text(args.out / "selection.csv", table.to_csv(index=False))
    units = [u for (_, _, u), kept in zip(parts, table.kept, strict=True) if kept]
    if not units:
        parser.error(f"--max-onsets-over {args.max_onsets_over:g}: no self-play piece has so "
                     "few onsets over the partner (allowed: a larger share)")
    info = fine_tune(card, agents / args.agent, corpora / preset, units, args.repeat,
                     args.steps, args.lr, args.out / "agent", progress=not args.smoke)
    report = args.out / "REPORT.md"
    write_text(report, render(args, table, corpus, info,
                              command))
    print(f"wrote {report}")
    return 0


def _parser() -> ArgumentParser:
    """The flags, in ``--help``'s order."""
    parser = ArgumentParser(description=__doc__.splitlines()[0])
    add_agent_arguments(parser, "runs/selfplay-ft/fisher",
                        "agent card (default: agents/<agent>.toml)")
    parser.add_argument("--conversations", type=number(1, 100_000, integer=True), default=144,
                        help="self-play conversations the pieces are selected from "
                             "(default: %(default)s)")
    parser.add_argument("--duration-s", type=number(0, 86_400, low_open=True), default=60.0,
                        help="length of each conversation in s (default: %(default)s)")
    parser.add_argument("--chunk-ms", type=chunk_ms_arg, default=200,
                        help="chunk length in ms (default: %(default)s)")
    parser.add_argument("--first-seed", type=number(0, 2**32 - 1, integer=True), default=1000,
                        help="seed of the first self-play conversation (conversation i: this + i) "
                             "(default: %(default)s)")
    parser.add_argument("--window-s", type=number(0, 86_400), default=0.0,
                        help="score and keep windows of this many seconds (0: conversations)"
                             " (default: %(default)s)")
    parser.add_argument("--keep", type=number(0, 1, low_open=True), default=0.25,
                        help="share of pieces kept (default: %(default)s)")
    parser.add_argument("--max-onsets-over", type=number(0, 1), default=1.0,
                        help="keep only pieces whose share of speech onsets made over the "
                        "partner is at most this (1: no limit; the corpus: about 0.3)"
                        " (default: %(default)s)")
    parser.add_argument("--repeat", type=number(0, 1000, integer=True), default=3,
                        help="times the kept pieces are added to the corpus's train split (0: the "
                             "corpus alone) (default: %(default)s)")
    parser.add_argument("--steps", type=number(1, 10_000_000, integer=True), default=300,
                        help="fine-tuning steps (default: %(default)s)")
    parser.add_argument("--lr", type=number(0, 1, low_open=True), default=3e-4,
                        help="fine-tuning learning rate (constant after 10 warm-up steps) "
                             "(default: %(default)s)")
    parser.add_threads()
    return parser


if __name__ == "__main__":
    raise SystemExit(run_reporting(main, "selfplay_finetune.py"))
