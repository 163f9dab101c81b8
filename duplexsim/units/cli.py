"""``duplexsim units train``: fit a unit tokenizer on one or more corpora.

Checks the flags, the corpora and the ``--out`` folder before training; the tokenizer's two
files are moved in together (:func:`duplexsim.atomic.output_dir`). Errors reach the user
through ``duplexsim.cli.main`` (one line each, exit 2).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from duplexsim.cli import number, path_arg
from duplexsim.tokens import DEFAULT_N_UNITS, MAX_N_UNITS
from duplexsim.units.hubert import CONTEXT_S, RANGES_S


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True)
    what = "train a k-means unit tokenizer"
    t = sub.add_parser("train", help=what, description=what)
    t.add_argument("--corpus", action="append", type=path_arg, required=True,
                   help="duplexsim corpus, Fisher tree or CANDOR tree (repeatable)")
    t.add_argument("--out", type=path_arg, required=True, help="tokenizer directory to write")
    t.add_argument("--type", default="mel-kmeans", choices=["mel-kmeans", "hubert-kmeans"],
                   help="features clustered into units (default: %(default)s)")
    t.add_argument("--n-units", type=number(2, MAX_N_UNITS, integer=True), default=DEFAULT_N_UNITS,
                   help="k-means clusters: the unit vocabulary (default: %(default)s)")
    t.add_argument("--hubert-dir", default="", help="local HuBERT model dir (hubert-kmeans)")
    t.add_argument("--hubert-layer", type=number(0, 64, integer=True), default=None,
                   help="hubert-kmeans: the layer whose features are clustered (default: 6)")
    t.add_argument("--context-s", type=number(*RANGES_S["context_s"]), default=None,
                   help="hubert-kmeans: seconds of audio fed to HuBERT on each side of every "
                   "30 s chunk, whose frames are dropped (rounded to 40 ms frames; default: "
                   f"{CONTEXT_S:g}; 0: chunks run alone); recorded in the tokenizer")
    t.add_argument("--max-dialogues", type=number(1, 10**6, integer=True), default=50,
                   help="dialogues read per corpus (default: %(default)s)")
    t.add_argument("--seed", type=number(0, 2**32 - 1, integer=True), default=0,
                   help="seeds the frame sample and k-means (default: %(default)s)")


class _Channels:
    """Re-iterable channels (wave, sr, annotated speech) of the corpora's dialogues."""

    def __init__(self, corpora: list, max_dialogues: int):
        self.corpora, self.max = corpora, max_dialogues

    def __iter__(self):
        from duplexsim.audio.framing import n_frames

        for c in self.corpora:  # a built corpus's train split (a real tree has none: all)
            ids = c.ids("train") if hasattr(c, "manifest") else c.ids()
            for id in (ids or c.ids())[: self.max]:
                d = c.dialogue(id, audio=True)
                vad = d.segment_vad(n_frames(d.audio.shape[1], d.sample_rate_hz))
                yield from ((d.audio[ch], d.sample_rate_hz, vad[ch]) for ch in range(2))


def _check_type_flags(args: argparse.Namespace) -> None:
    """The HuBERT flags with the default ``--type mel-kmeans`` are refused: a user who gave
    ``--hubert-dir`` but forgot ``--type hubert-kmeans`` would get mel units unawares."""
    from duplexsim.errors import InputError

    given = [flag for flag, value in (("--hubert-dir", args.hubert_dir),
                                      ("--hubert-layer", args.hubert_layer),
                                      ("--context-s", args.context_s))
             if value not in ("", None)]
    if args.type != "hubert-kmeans" and given:
        flag = given[0]
        raise InputError("duplexsim units train", flag,
                         f"only read by --type hubert-kmeans, not --type {args.type}",
                         f"--type hubert-kmeans with {flag}, or no {flag}")


def _check_out(out: Path) -> None:
    """An ``--out`` whose config.json is not a tokenizer's is refused before training: a
    HuBERT or model folder (``--out`` mixed up with ``--hubert-dir``) had its config.json
    replaced by the tokenizer's, and its model no longer loaded."""
    from duplexsim.config.readers import read_json
    from duplexsim.errors import InputError, OutputError
    from duplexsim.units.kmeans import FORMAT

    config = Path(out) / "config.json"
    if not config.is_file():
        return
    try:
        found = read_json(config, what="config.json").get("format")
        why = f"format {found!r}, not {FORMAT!r}"
    except InputError as e:  # unreadable, not JSON, nested too deeply, not an object
        found, why = None, "; ".join(p.message for p in e.problems)
    if found != FORMAT:
        raise OutputError(str(out), "--out", "holds a config.json that is not a unit "
                          f"tokenizer's ({why}): saving would replace it", "a new or empty "
                          "folder, or a tokenizer's folder to replace that tokenizer")
    owner = _owner(Path(out))
    if owner is not None:
        raise OutputError(str(out), "--out", f"is the unit tokenizer of {owner}, whose units "
                          "were encoded with it: replaced, they would mean other sounds",
                          "a new folder (then `duplexsim corpus import` or `corpus build "
                          "--tokenizer` with it), or a tokenizer's folder of its own")


def _owner(out: Path) -> str | None:
    """The corpus (``manifest.json``) or agent (``agent.json``) folder whose unit tokenizer
    ``out`` is, or None: its units, or its model's, were made with that tokenizer. Such a
    file that is there but does not read (unreadable, not UTF-8, not JSON, nested too deeply,
    not an object) is an :class:`~duplexsim.errors.OutputError`: a damaged corpus's
    tokenizer is as much its own as a sound one's."""
    from duplexsim.config.readers import read_json
    from duplexsim.corpora.corpus import FORMAT as CORPUS_FORMAT
    from duplexsim.errors import InputError, MissingInputError, OutputError
    from duplexsim.models.agentdir import AGENT_FORMAT

    parent = out.resolve().parent
    for name, fmt, what in (("manifest.json", CORPUS_FORMAT, "the corpus"),
                            ("agent.json", AGENT_FORMAT, "the agent")):
        try:
            meta = read_json(parent / name, what=name)
        except MissingInputError:  # none there: no corpus or agent above
            continue
        except InputError as e:
            why = ": ".join(part for part in (e.problems[0].key, e.problems[0].message) if part)
            raise OutputError(str(out), "--out", f"may be the unit tokenizer of {what} "
                              f"{parent}, whose {name} does not read ({why}): replaced, its "
                              "units would mean other sounds", f"a readable {name} beside "
                              "--out (repair or move it), or another --out") from None
        if meta.get("format") != fmt:
            continue
        ref = meta.get("tokenizer", "tokenizer") if name == "manifest.json" else "tokenizer"
        if isinstance(ref, str) and ref and (parent / ref).resolve() == out.resolve():
            return f"{what} {parent}"
    return None


def run(args: argparse.Namespace) -> int:
    from duplexsim.atomic import check_output_dir
    from duplexsim.config.loader import from_dict
    from duplexsim.corpora.corpus import open_corpus
    from duplexsim.units import TokenizerConfig, train_tokenizer

    _check_type_flags(args)
    check_output_dir(args.out)
    _check_out(args.out)
    cfg = from_dict(TokenizerConfig, {
        # the HuBERT folder absolute: the tokenizer is used from any working directory
        "type": args.type, "n_units": args.n_units,
        "hubert_dir": str(Path(args.hubert_dir).resolve()) if args.hubert_dir else "",
        "hubert_layer": 6 if args.hubert_layer is None else args.hubert_layer,
        "seed": args.seed}, file="duplexsim units train")
    corpora = [open_corpus(p) for p in args.corpus]
    tok = train_tokenizer(_Channels(corpora, args.max_dialogues), cfg, context_s=args.context_s)
    tok.save(args.out)  # (the files moved in together)
    print(f"{args.out}: {tok.n_units} units, silence units {sorted(tok.silence_units)}, "
          f"voice-activity threshold {tok.threshold_db:.1f} dB")
    return 0
