"""``duplexsim units train``: fit a unit tokenizer on one or more corpora."""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True)
    t = sub.add_parser("train", help="train a k-means unit tokenizer")
    t.add_argument("--corpus", action="append", required=True,
                   help="duplexsim corpus, Fisher tree or CANDOR tree (repeatable)")
    t.add_argument("--out", required=True, help="tokenizer directory to write")
    t.add_argument("--type", default="mel-kmeans", choices=["mel-kmeans", "hubert-kmeans"])
    t.add_argument("--n-units", type=int, default=501)
    t.add_argument("--hubert-dir", default="", help="local HuBERT model dir (hubert-kmeans)")
    t.add_argument("--hubert-layer", type=int, default=6)
    t.add_argument("--max-dialogues", type=int, default=50, help="per corpus")
    t.add_argument("--seed", type=int, default=0)


class _Channels:
    """Re-iterable channels (wave, sr, annotated speech) of the corpora's dialogues."""

    def __init__(self, corpora: list, max_dialogues: int):
        self.corpora, self.max = corpora, max_dialogues

    def __iter__(self):
        from duplexsim.audio.framing import n_frames

        for c in self.corpora:
            for id in c.ids()[: self.max]:
                d = c.dialogue(id, audio=True)
                vad = d.segment_vad(n_frames(d.audio.shape[1], d.sample_rate_hz))
                yield from ((d.audio[ch], d.sample_rate_hz, vad[ch]) for ch in range(2))


def run(args: argparse.Namespace) -> int:
    from duplexsim.config.loader import ConfigError
    from duplexsim.corpora.corpus import open_corpus
    from duplexsim.units import TokenizerConfig, train_tokenizer

    try:
        cfg = TokenizerConfig(type=args.type, n_units=args.n_units, hubert_dir=args.hubert_dir,
                              hubert_layer=args.hubert_layer, seed=args.seed)
        corpora = [open_corpus(p) for p in args.corpus]
        tok = train_tokenizer(_Channels(corpora, args.max_dialogues), cfg)
    except (ConfigError, ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    tok.save(args.out)
    print(f"{args.out}: {tok.n_units} units, silence units {sorted(tok.silence_units)}, "
          f"voice-activity threshold {tok.threshold_db:.1f} dB")
    return 0
