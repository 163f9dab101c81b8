"""``duplexsim corpus build|stats``: build a synthetic corpus; print its turn-taking stats."""

from __future__ import annotations

import argparse
import json
import sys

from duplexsim.corpora.synth import PRESETS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True)
    b = sub.add_parser("build", help="build (or resume) a synthetic corpus")
    b.add_argument("--preset", choices=sorted(PRESETS), default="fisher-like")
    b.add_argument("--config", help="TOML file overriding preset parameters (SynthConfig keys)")
    b.add_argument("--hours", type=float, default=1.0, help="audio hours to build")
    b.add_argument("--conversation-s", type=float, default=None,
                   help="conversation length in seconds (preset: 600 fisher, 1800 candor)")
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--out", required=True, help="corpus directory")
    b.add_argument("--tokenizer", default=None,
                   help="unit tokenizer dir: used if it exists, else trained here and saved there")
    b.add_argument("--n-units", type=int, default=501, help="units when training a tokenizer")
    b.add_argument("--cache", default=None, help="TTS cache (default ~/.cache/duplexsim/tts)")
    b.add_argument("--workers", type=int, default=2, help="processes for TTS and encoding")
    s = sub.add_parser("stats", help="turn-taking statistics beside the preset's targets, and "
                       "how much a prompt predicts its continuation (prompt -> continuation r)")
    s.add_argument("dir", help="a built corpus, or a real Fisher / CANDOR tree (annotations)")
    s.add_argument("--split", default=None, choices=["train", "val", "test"])
    s.add_argument("--json", action="store_true", help="print JSON instead of a table")
    s.add_argument("--prompt-s", type=_positive, default=30.0,
                   help="prompt window: the first seconds of each dialogue (paper: 30)")
    s.add_argument("--continuation-s", type=_positive, default=90.0,
                   help="continuation window: the seconds right after the prompt (paper: 90)")


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number (allowed: > 0)") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text} (allowed: > 0 seconds)")
    return value


def run(args: argparse.Namespace) -> int:
    from duplexsim.config.loader import ConfigError

    try:
        return _build(args) if args.action == "build" else _stats(args)
    except (ConfigError, ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


def _build(args: argparse.Namespace) -> int:
    from duplexsim.corpora.build import build_corpus
    from duplexsim.corpora.synth import load_config

    cfg = load_config(args.preset, args.config, conversation_s=args.conversation_s)
    res = build_corpus(args.out, cfg, hours=args.hours, seed=args.seed, preset=args.preset,
                       tokenizer_dir=args.tokenizer, cache_dir=args.cache, workers=args.workers,
                       n_units=args.n_units)
    minutes = res["wall_s"] / 60
    rate = res["built_hours"] / minutes if minutes > 0 else float("inf")
    print(f"{args.out}: {len(res['dialogues'])} conversations, {res['audio_hours']:.3f} h "
          f"({res['built_hours']:.3f} h built now) in {res['wall_s']:.1f} s wall: "
          f"{rate:.3f} audio hours per wall minute")
    return 0


def _stats(args: argparse.Namespace) -> int:
    from duplexsim.corpora.corpus import open_corpus
    from duplexsim.corpora.stats import corpus_stats, format_table

    stats = corpus_stats(open_corpus(args.dir), split=args.split, prompt_s=args.prompt_s,
                         continuation_s=args.continuation_s)
    print(json.dumps(stats, indent=2, sort_keys=True) if args.json else format_table(stats))
    return 0
