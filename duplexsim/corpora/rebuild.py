"""What a corpus build may do in a folder that already holds one: resume or extend it (the
same parameters), refuse (other parameters, or unknown ones), or delete it first (a rebuild).

:func:`build_record` is the record of the parameters that decide a corpus's contents, which a
build writes to ``build.json`` first (:mod:`duplexsim.corpora.build`); :func:`check_rebuild`
compares it with the record the folder holds. Moved here from :mod:`duplexsim.corpora.build`,
which still re-exports these names.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

from duplexsim.config.readers import read_json
from duplexsim.corpora.config import SynthConfig, whole_frame_length
from duplexsim.errors import MAX_DURATION_S, InputError, OutputError, finite_in
from duplexsim.tokens import FRAME_MS
from duplexsim.units import tokenizer_digest

__all__ = ["CORPUS_MARKERS", "CORPUS_PARTS", "build_record", "check_rebuild"]


CORPUS_PARTS = ("audio", "units", "fisher", "candor", "tokenizer", "manifest.json", "build.json")
"""What a build writes into its folder (all of it is removed by a rebuild)."""
CORPUS_MARKERS = tuple(part for part in CORPUS_PARTS if part != "tokenizer")
"""What marks a folder as a corpus's: a build's parts but ``tokenizer/``, which an agent has
too (a build or import into an agent's folder passed for a corpus's). No build or import
leaves a tokenizer alone: build.json (import.json) is written first."""


def build_record(cfg: SynthConfig, seed: int, preset: str, n_units: int,
                 tokenizer_dir: str | Path | None) -> dict:
    """The parameters that decide a corpus's contents (``build.json``), as JSON values."""
    record = {"seed": seed, "preset": preset or cfg.name, "params": dataclasses.asdict(cfg),
              "n_units": n_units,
              "tokenizer": str(Path(tokenizer_dir).resolve()) if tokenizer_dir else ""}
    if tokenizer_dir and (Path(tokenizer_dir) / "config.json").is_file():
        record["tokenizer_sha256"] = tokenizer_digest(tokenizer_dir)  # retrained in place: a
    return json.loads(json.dumps(record))  # new tokenizer, which the old units do not match


def check_rebuild(out: Path, record: dict, rebuild: bool) -> None:
    """Refuse to build into ``out`` when it holds a corpus made with other parameters (or of
    unknown ones), unless ``rebuild``: then delete that corpus's files."""
    previous, keys = None, list(record)
    if (out / "build.json").is_file():
        previous = read_json(out / "build.json", what="build.json")
    elif (out / "manifest.json").is_file():  # built before build.json existed
        previous = read_json(out / "manifest.json", what="corpus manifest.json")
        keys = ["seed", "preset", "params"] + ([] if record["tokenizer"] else ["n_units"])
    if previous is None and not any((out / part).exists() for part in CORPUS_PARTS):
        return
    if previous is None:
        if not rebuild:
            raise OutputError(str(out), "", "holds a partial corpus without build.json or "
                              "manifest.json: its parameters are unknown",
                              "an empty folder, or --rebuild to delete it and build anew")
        foreign = sorted(p.name for p in out.iterdir()
                         if p.name not in CORPUS_PARTS and not p.name.startswith("."))
        if foreign:  # (e.g. an unfinished import's import.json, sources/)
            raise OutputError(str(out), "", "holds a partial corpus of unknown parameters "
                              f"beside files a build does not write ({', '.join(foreign[:5])})"
                              ": --rebuild deletes only a build's own", "an empty folder, or "
                              "a folder with nothing but a build's files")
    changed = _changed(previous, record, keys) if previous is not None else None
    if changed and not rebuild:
        key, before, now = changed
        if key == "params.conversation_s" and isinstance(before, int | float) \
                and not isinstance(before, bool) and finite_in(before, 0, MAX_DURATION_S) \
                and whole_frame_length(before) != before:  # no build takes it any more
            raise OutputError(str(out), key, f"holds a corpus of {before:g} s conversations, "
                              f"not whole {FRAME_MS} ms unit frames, which no build makes now: "
                              "it cannot be resumed or extended", "--rebuild to delete it and "
                              f"build anew, e.g. --conversation-s {whole_frame_length(before):g}"
                              ", or another --out")
        raise OutputError(str(out), key, f"holds a corpus built with {before!r}, not {now!r}",
                          "the same parameters to resume or extend it, or --rebuild to delete "
                          "and rebuild it")
    if rebuild:  # asked for: also when the parameters agree (the generator may have changed)
        _check_tokenizer_survives(out, record["tokenizer"])
        # the records first: a rebuild cut short leaves a corpus of unknown parameters (refused
        # until --rebuild), not one a plain rerun resumes, the old units beside new audio
        for part in dict.fromkeys(("build.json", "manifest.json", *CORPUS_PARTS)):
            path = out / part
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()


def _check_tokenizer_survives(out: Path, tokenizer: str) -> None:
    """Refuse a rebuild that would delete the tokenizer it was asked to reuse (``--tokenizer
    OUT/tokenizer``): the deleted one was silently replaced by one trained anew, of
    ``--n-units`` units, which the agents trained on the corpus do not speak."""
    if not tokenizer or not (Path(tokenizer) / "config.json").is_file():
        return  # none given, or one this build trains
    for part in CORPUS_PARTS:
        path = (out / part).resolve()
        if path.exists() and Path(tokenizer).is_relative_to(path):
            raise InputError(tokenizer, "--tokenizer", f"lies in {out / part}, which --rebuild "
                             "deletes", "a tokenizer folder outside the corpus (copy it out "
                             "first), or no --tokenizer to train a new one")


# synthesis parameters added after corpora were built without them: what those corpora were
_BEFORE = {"yield_cue": False, "overlap_dropout_ms": 0.0}


def _changed(previous: dict, record: dict, keys: list[str]) -> tuple[str, object, object] | None:
    """The first parameter that differs: (key, old value, new value); None if none does.
    A synthesis parameter that an older record lacks (added to :class:`SynthConfig` later)
    is compared as the value it had before it existed (``_BEFORE``), or not at all: an
    older corpus is not voided by a parameter that does not change it."""
    for key in keys:
        if key == "params":
            params = previous.get("params")
            old = params if isinstance(params, dict) else {}
            for name, value in record["params"].items():
                was = old.get(name, _BEFORE.get(name, value))
                if was != value:
                    return f"params.{name}", was, value
        elif key == "tokenizer_sha256" and key not in previous:
            continue  # a corpus built before the digest was recorded
        elif key == "tokenizer" and record.get("tokenizer_sha256") and \
                previous.get("tokenizer_sha256") == record["tokenizer_sha256"]:
            continue  # the same tokenizer's bytes in another place (runs/ moved or copied)
        elif previous.get(key) != record[key]:
            return key, previous.get(key), record[key]
    return None
