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
    s = sub.add_parser("stats", help="turn-taking statistics beside the preset's targets")
    s.add_argument("dir")
    s.add_argument("--split", default=None, choices=["train", "val", "test"])
    s.add_argument("--json", action="store_true", help="print JSON instead of a table")


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
    from duplexsim.corpora.corpus import load_corpus
    from duplexsim.corpora.stats import corpus_stats, format_table

    stats = corpus_stats(load_corpus(args.dir), split=args.split)
    print(json.dumps(stats, indent=2, sort_keys=True) if args.json else format_table(stats))
    return 0
