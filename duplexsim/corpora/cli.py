"""``duplexsim corpus build|import|stats``: build a synthetic corpus, import a real Fisher or
CANDOR tree as one (:mod:`duplexsim.corpora.importer`), print turn-taking stats.

``build`` checks its flags, the ``--config`` file, the tokenizer it will reuse and every
folder it writes before any conversation is rendered; a folder holding a corpus built with
other parameters is refused unless ``--rebuild``. Errors reach the user through
``duplexsim.cli.main`` (one line each, exit 2).
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from duplexsim.atomic import is_staging_name
from duplexsim.cli import number, path_arg
from duplexsim.corpora.config import PRESETS
from duplexsim.errors import (
    MAX_CORPUS_HOURS,
    MAX_DURATION_S,
    InputError,
    MissingInputError,
    OutputError,
)
from duplexsim.tokens import DEFAULT_N_UNITS, FRAME_MS, MAX_N_UNITS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True)
    _add_build(sub)
    _add_import(sub)
    _add_stats(sub)


def _add_build(sub: argparse._SubParsersAction) -> None:
    """``corpus build``'s flags."""
    what = "build (or resume, or extend) a synthetic corpus"
    b = sub.add_parser("build", help=what, description=what)
    b.add_argument("--preset", choices=sorted(PRESETS), default=None,
                   help="base parameters (default: the --config file's name when it names a "
                        "preset, as `duplexsim validate` reads it; else fisher-like)")
    b.add_argument("--config", help="TOML file overriding preset parameters (SynthConfig keys)")
    b.add_argument("--hours", type=number(0, MAX_CORPUS_HOURS, low_open=True), default=1.0,
                   help="audio hours to build (default: %(default)s)")
    b.add_argument("--conversation-s", type=number(5, MAX_DURATION_S), default=None,
                   help="conversation length in seconds, whole 40 ms frames (preset: 600 "
                        "fisher, 1800 candor)")
    b.add_argument("--seed", type=number(0, 2**63 - 1, integer=True), default=0,
                   help="seeds the synthetic dialogues (default: %(default)s)")
    b.add_argument("--out", type=path_arg, required=True, help="corpus directory")
    b.add_argument("--rebuild", action="store_true",
                   help="delete the corpus in --out and build it anew (needed when it was "
                        "built with other parameters: such a build is refused without it)")
    b.add_argument("--tokenizer", default=None,
                   help="unit tokenizer dir: used if it exists, else trained here and saved there")
    b.add_argument("--n-units", type=number(2, MAX_N_UNITS, integer=True), default=DEFAULT_N_UNITS,
                   help="units when training a tokenizer (default: %(default)s)")
    b.add_argument("--cache", default=None, help="TTS cache (default: $DUPLEXSIM_TTS_CACHE or "
                        "~/.cache/duplexsim/tts)")
    b.add_argument("--workers", type=number(1, 4096, integer=True), default=2,
                   help="processes for TTS and encoding (default: %(default)s)")


def _add_import(sub: argparse._SubParsersAction) -> None:
    """``corpus import``'s flags."""
    what = ("a real Fisher or CANDOR tree as a duplexsim corpus (units, splits, manifest) that "
            "train, continue and simulate read")
    i = sub.add_parser("import", help=what, description=what)
    i.add_argument("tree", type=path_arg, help="a Fisher tree (fe_03_NNNNN.txt + audio) or a "
                   "CANDOR tree (<uuid>/transcription/, processed/)")
    i.add_argument("--tokenizer", type=path_arg, required=True,
                   help="unit tokenizer dir (`duplexsim units train --corpus TREE`)")
    i.add_argument("--out", type=path_arg, required=True, help="corpus directory to write")
    i.add_argument("--seed", type=number(0, 2**63 - 1, integer=True), default=0,
                   help="seeds the train/val/test split (default: %(default)s)")
    i.add_argument("--val-share", type=number(0, 0.5), default=0.1,
                   help="share of the conversations in val (default: %(default)s)")
    i.add_argument("--test-share", type=number(0, 0.5), default=0.1,
                   help="share of the conversations in test (default: %(default)s)")
    i.add_argument("--sample-rate-hz", type=number(1000, 384_000, integer=True), default=None,
                   help="the corpus's audio rate (default: the first conversation's)")
    i.add_argument("--split-by", choices=["call", "speaker"], default="call",
                   help="how train/val/test are drawn (default: %(default)s): call: each "
                        "conversation alone (a speaker of several calls can be in two "
                        "splits); speaker: Fisher only, no "
                        "speaker (calldata PIN) in two splits (needs LDC's "
                        "fe_03_p[12]_calldata.tbl under the tree)")


def _add_stats(sub: argparse._SubParsersAction) -> None:
    """``corpus stats``'s flags."""
    what = ("turn-taking statistics beside the preset's targets, and how much a prompt predicts "
            "its continuation (prompt -> continuation r)")
    s = sub.add_parser("stats", help=what, description=what)
    s.add_argument("dir", type=path_arg,
                   help="a built corpus, or a real Fisher / CANDOR tree (annotations)")
    s.add_argument("--split", default=None, choices=["train", "val", "test"],
                   help="a built corpus's split only (default: the whole corpus)")
    s.add_argument("--json", action="store_true", help="print JSON instead of a table")
    # a window shorter than one 40 ms frame is 0 or 1 frames: no durations to correlate
    window = number(FRAME_MS / 1000, MAX_DURATION_S,
                    allowed=f"a number >= {FRAME_MS / 1000:g} (one {FRAME_MS} ms frame) and "
                            f"<= {MAX_DURATION_S:g}")
    s.add_argument("--prompt-s", type=window, default=30.0,
                   help="prompt window: the first seconds of each dialogue "
                        "(default: %(default)s, the paper's)")
    s.add_argument("--continuation-s", type=window, default=90.0,
                   help="continuation window: the seconds right after the prompt "
                        "(default: %(default)s, the paper's)")


def run(args: argparse.Namespace) -> int:
    return {"build": _build, "import": _import, "stats": _stats}[args.action](args)


def _import(args: argparse.Namespace) -> int:
    from duplexsim.atomic import check_not_foreign, check_output_dir
    from duplexsim.corpora.fisher import FisherCorpus
    from duplexsim.corpora.importer import WRITTEN_DIRS, import_corpus, speaker_summary
    from duplexsim.corpora.rebuild import CORPUS_MARKERS

    check_output_dir(args.out)  # import.json first: a folder of only it is a killed import
    markers = {*CORPUS_MARKERS, *WRITTEN_DIRS, "import.json"} - {"tokenizer"}  # an agent's too
    # a --tokenizer kept as OUT/tokenizer (units train --out OUT/tokenizer) is an input
    check_not_foreign(args.out, markers, "corpus",
                      "a new or empty folder, or an earlier import of the same tree to resume",
                      inputs=[args.tokenizer])
    manifest, source = import_corpus(args.tree, args.out, args.tokenizer, seed=args.seed,
                                     val_share=args.val_share, test_share=args.test_share,
                                     sample_rate_hz=args.sample_rate_hz,
                                     split_by=args.split_by)
    print(source.read_summary())  # what of the tree was read and skipped
    if args.split_by == "speaker" and isinstance(source, FisherCorpus):
        print(speaker_summary(source, manifest))
    splits = [d["split"] for d in manifest["dialogues"]]
    print(f"{args.out}: {len(splits)} {manifest['preset']} conversations "
          f"({splits.count('train')} train, {splits.count('val')} val, {splits.count('test')} "
          f"test), {manifest['n_units']} units at {manifest['sample_rate_hz']} Hz")
    return 0


def _base_preset(preset: str | None, config: str | None) -> str:
    """The preset a build starts from: ``--preset``, else the config file's ``name`` when it
    names one (what ``duplexsim validate`` checks the file against), else fisher-like; a
    file named after one preset built over another is refused (its ids would lie)."""
    from duplexsim.config.readers import read_toml

    named = read_toml(config).get("name") if config else None
    named = named if isinstance(named, str) and named in PRESETS else None  # a wrong type:
    # load_config reports it
    if preset is not None and named is not None and named != preset:
        raise InputError(str(config), "name", f"{named!r} over --preset {preset}",
                         "the same preset in both, or leave --preset out")
    return preset or named or "fisher-like"


def _build(args: argparse.Namespace) -> int:
    from duplexsim.atomic import check_not_foreign, check_output_dir
    from duplexsim.config.cli import with_flags
    from duplexsim.corpora.build import build_corpus, plan, rendered
    from duplexsim.corpora.calibration import check_realisable
    from duplexsim.corpora.config import load_config
    from duplexsim.corpora.rebuild import build_record, check_rebuild

    if args.config is not None:
        from duplexsim.config.cli import expect_kind

        expect_kind(args.config, "corpus config")
    args.preset = _base_preset(args.preset, args.config)
    # the flag's value is checked after the file's, and reported under the flag
    cfg = with_flags(load_config(args.preset, args.config), "duplexsim corpus build",
                     conversation_s=args.conversation_s)
    check_output_dir(args.out)
    from duplexsim.corpora.rebuild import CORPUS_MARKERS

    check_not_foreign(args.out, CORPUS_MARKERS, "corpus", "a new or empty folder, or a corpus "
                      "folder to resume, extend or rebuild")
    new_tokenizer = args.tokenizer and not (Path(args.tokenizer) / "config.json").exists()
    from duplexsim.corpora.tts import default_cache_dir

    cache = ("--cache", args.cache) if args.cache else ("$DUPLEXSIM_TTS_CACHE (the speech "
                                                        "cache)", default_cache_dir())
    for flag, folder in (("--tokenizer", new_tokenizer and args.tokenizer), cache):
        if folder:  # written to: a tokenizer trained here, the speech cache
            check_output_dir(folder, key=flag)
    if new_tokenizer:
        _check_new_tokenizer_dir(Path(args.tokenizer))
    record = build_record(cfg, args.seed, args.preset, args.n_units, args.tokenizer)
    if not args.rebuild:  # refused now, not after the tokenizer checks
        check_rebuild(Path(args.out), record, rebuild=False)
    _check_tokenizers(args)
    # after the quick checks: it takes seconds
    check_realisable(cfg, args.config or f"--preset {cfg.name}")
    to_render = [e for e in plan(cfg, args.hours, args.seed)
                 if args.rebuild or not rendered(Path(args.out), e["id"])]
    if to_render and shutil.which("espeak-ng") is None:
        raise MissingInputError("espeak-ng", "", f"not found on PATH ({len(to_render)} "
                                "conversations to speak)", "install it: apt-get install espeak-ng")
    res = build_corpus(args.out, cfg, hours=args.hours, seed=args.seed, preset=args.preset,
                       tokenizer_dir=args.tokenizer, cache_dir=args.cache, workers=args.workers,
                       n_units=args.n_units, rebuild=args.rebuild)
    minutes = res["wall_s"] / 60
    rate = res["built_hours"] / minutes if minutes > 0 else float("inf")
    n = len(res["dialogues"])
    print(f"{args.out}: {n} conversation{'s' if n != 1 else ''} of {cfg.conversation_s:g} s, "
          f"{res['audio_hours']:.3f} h ({res['built_hours']:.3f} h built now; --hours "
          f"{args.hours:g} rounded to whole conversations, at least one) in "
          f"{res['wall_s']:.1f} s wall: {rate:.3f} audio hours per wall minute")
    return 0


def _check_new_tokenizer_dir(folder: Path) -> None:
    """A ``--tokenizer`` folder without a tokenizer is where one is trained: refused when it
    holds other files (a corpus, notes), which the tokenizer would be saved among (the
    build copies only the tokenizer's own files into the corpus's ``tokenizer/``). A
    tokenizer save a kill cut short (its arrays, its staging folder, temporaries) is no
    other file."""
    if not folder.is_dir():
        return
    from duplexsim.units.kmeans import TOKENIZER_FILES

    own = set(TOKENIZER_FILES)
    other = sorted(p.name for p in folder.iterdir()
                   if p.name not in own and not is_staging_name(p.name)
                   and not (p.name.startswith(".") and p.name.endswith(".tmp")))
    if other:
        shown = ", ".join(other[:3]) + (", ..." if len(other) > 3 else "")
        raise OutputError(str(folder), "--tokenizer", f"no unit tokenizer here (config.json) "
                          f"but other files ({shown}): a tokenizer trained here would be "
                          "saved among them",
                          "a unit tokenizer folder to reuse, or a new or empty folder to "
                          "train one into")


def _check_tokenizers(args: argparse.Namespace) -> None:
    """A tokenizer the build will reuse (``--tokenizer``, or the corpus's own when resuming)
    is loaded now, its HuBERT checked too: a broken one fails before any audio is rendered."""
    from duplexsim.units import KMeansTokenizer, load_tokenizer

    for folder in (args.tokenizer, None if args.rebuild else Path(args.out) / "tokenizer"):
        if folder and (Path(folder) / "config.json").exists():
            tok = load_tokenizer(folder)
            if isinstance(tok, KMeansTokenizer):
                tok.check_hubert()


def _stats(args: argparse.Namespace) -> int:
    from duplexsim.corpora.corpus import open_corpus
    from duplexsim.corpora.stats import corpus_stats, format_table

    corpus = open_corpus(args.dir)
    if args.split and not hasattr(corpus, "manifest"):
        raise InputError(str(args.dir), "--split", f"{args.split}: a {corpus.name} tree has no "
                         "splits", "no --split (the whole corpus)")
    if args.split and not corpus.ids(args.split):
        present = sorted({s for s in ("train", "val", "test") if corpus.ids(s)})
        raise InputError(str(args.dir), "--split", f"no {args.split} dialogues in this corpus",
                         ", ".join(present))
    stats = corpus_stats(corpus, split=args.split, prompt_s=args.prompt_s,
                         continuation_s=args.continuation_s)
    from duplexsim.atomic import json_text

    read = corpus.read_counts() if hasattr(corpus, "read_counts") else None  # a tree
    if read is not None and args.json:
        stats["read"] = read
    elif read is not None:  # above the table: what the statistics are of
        print(corpus.read_summary())
    # strict JSON: an r over too few dialogues is null, not NaN (which jq and browsers refuse)
    print(json_text(stats) if args.json else format_table(stats))
    return 0
