"""A duplexsim corpus directory (manifest.json + audio/ + units/ + annotations + tokenizer/).

``load_corpus(dir)`` reads what ``duplexsim corpus build`` wrote (layout in
docs/interfaces.md); ``open_corpus(dir)`` also recognises real Fisher and CANDOR layouts.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from duplexsim.audio.io import read_audio
from duplexsim.config.readers import json_number, read_json
from duplexsim.corpora import candor, fisher
from duplexsim.corpora.fisher import CorpusFormatError
from duplexsim.corpora.types import Dialogue
from duplexsim.digests import tokenizer_folder
from duplexsim.errors import MAX_DURATION_S, InputError, MissingInputError
from duplexsim.tokens import MAX_N_UNITS

FORMAT = "duplexsim-corpus/1"
SPLITS = ("train", "val", "test")


class Corpus:
    """Read access to a built corpus; dialogues carry units (and audio on request).

    The manifest is checked when the corpus is opened and each units array when it is read
    (integer dtype, shape ``[2, T]``, ids below ``n_units``): a problem is an
    :class:`~duplexsim.errors.InputError` naming the file and key, never a silent cast.
    """

    def __init__(self, root: str | Path):
        self.root = Path(root)
        path = self.root / "manifest.json"
        if not path.is_file():
            raise MissingInputError(str(self.root), "", "not a duplexsim corpus (no manifest.json)"
                                    + _real_tree_note(self.root),
                                    "a folder written by `duplexsim corpus build` or "
                                    "`duplexsim corpus import`")
        self.manifest = read_json(path, what="corpus manifest.json")
        file = str(path)
        if self.manifest.get("format") != FORMAT:
            raise CorpusFormatError(file, "format", f"{self.manifest.get('format')!r}", FORMAT)
        name = self.manifest.get("name")
        if not isinstance(name, str):
            raise CorpusFormatError(file, "name", f"{name!r}", "a string")
        self.name: str = name
        self.preset: str = str(self.manifest.get("preset", ""))
        # (units are stored as int16: a larger inventory's ids would not fit its units files)
        self.n_units: int = json_number(self.manifest, file, "n_units", 2, MAX_N_UNITS,
                                        integer=True)
        self.sample_rate_hz: int = json_number(self.manifest, file, "sample_rate_hz", 1000,
                                               384_000, integer=True)
        self._entries = _entries(self.manifest.get("dialogues"), file)

    def ids(self, split: str | None = None) -> list[str]:
        if split is not None and split not in SPLITS:
            raise InputError("split", "", f"{split!r}", ", ".join(SPLITS))
        return [i for i, d in self._entries.items() if split is None or d["split"] == split]

    def check_id(self, id: str, key: str = "dialogue") -> None:
        """Raise an :class:`~duplexsim.errors.InputError` naming ``key`` unless the corpus has
        dialogue ``id``."""
        if id not in self._entries:
            ids = list(self._entries)
            shown = ", ".join(ids[:5]) + (f", ... ({len(ids)} in all)" if len(ids) > 5 else "")
            raise InputError(str(self.root / "manifest.json"), key, f"no dialogue {id!r}", shown)

    def units(self, id: str) -> np.ndarray:
        """Dialogue ``id``'s units ``[2, T]`` int64, checked (see the class doc)."""
        self.check_id(id)
        return load_units(self.root / self._entries[id]["units"], self.n_units)

    def n_frames(self, id: str) -> int:
        """Dialogue ``id``'s length ``T`` in 40 ms unit frames, what a replay of it plays,
        read from its units file's header (``duration_s`` is the audio's, samples / rate:
        up to a frame longer, the units holding whole frames)."""
        self.check_id(id)
        return units_frames(self.root / self._entries[id]["units"], self.n_units)

    def dialogue(self, id: str, audio: bool = False) -> Dialogue:
        self.check_id(id)
        e = self._entries[id]
        units = self.units(id)
        segs = candor.read_transcript(self._candor_csv(id),
                                      list(candor.WRITTEN_SPEAKERS))[0]
        wave = sr = None
        if audio:
            wave, sr = read_audio(self.root / e["audio"], channels=2,
                                  sample_rate_hz=self.sample_rate_hz)
        return Dialogue(id, segs, units, wave, sr, duration_s=float(e["duration_s"]))

    def _candor_csv(self, id: str) -> Path:
        return self.root / "candor" / id / "transcription" / "transcript_audiophile.csv"

    def dialogues(self, split: str | None = None, audio: bool = False) -> Iterator[Dialogue]:
        for i in self.ids(split):
            yield self.dialogue(i, audio=audio)

    def tokenizer_dir(self) -> Path:
        """The corpus's unit tokenizer folder (:func:`tokenizer_dir`)."""
        return tokenizer_dir(self.root, self.manifest)

    def tokenizer(self):
        from duplexsim.units import load_tokenizer

        return load_tokenizer(self.tokenizer_dir())


def tokenizer_dir(root: str | Path, manifest: dict | None = None) -> Path:
    """The unit tokenizer folder of the corpus in ``root``: its manifest's ``tokenizer``
    (relative to the corpus; default ``tokenizer``), read from ``root`` when ``manifest`` is
    not given; ``root/tokenizer`` when there is no manifest (yet). The folder may hold no
    tokenizer (:func:`~duplexsim.units.shared_tokenizer` leaves it out)."""
    root = Path(root)
    file = root / "manifest.json"
    if manifest is None:
        manifest = read_json(file, what="corpus manifest.json") if file.is_file() else {}
    ref = manifest.get("tokenizer", "tokenizer")
    folder = tokenizer_folder(root, ref)  # the rule the cache keys apply too
    if folder is None:
        raise CorpusFormatError(str(file), "tokenizer", f"{ref!r}",
                                "a tokenizer folder, relative to the corpus")
    return folder


def check_agent_tokenizer(root: str | Path, agent_dir: str | Path,
                          manifest: dict | None = None) -> None:
    """Refuse the agent in ``agent_dir`` for the corpus in ``root`` (``manifest``: as for
    :func:`tokenizer_dir`) unless its ``tokenizer/`` is the corpus's unit tokenizer (or
    either holds none): the agent reads the corpus's units as its own. Else the
    :class:`~duplexsim.errors.InputError` of :func:`~duplexsim.units.shared_tokenizer`,
    naming both folders."""
    from duplexsim.units import shared_tokenizer

    shared_tokenizer([(str(root), tokenizer_dir(root, manifest)),
                      (str(agent_dir), Path(agent_dir) / "tokenizer")])


def _entries(dialogues: object, file: str) -> dict[str, dict]:
    """The manifest's dialogue entries by id, each checked (names the position)."""
    if not isinstance(dialogues, list):
        raise CorpusFormatError(file, "dialogues", f"{type(dialogues).__name__}",
                                "a list of dialogue entries")
    if not dialogues:
        raise CorpusFormatError(file, "dialogues", "empty corpus: no dialogues",
                                "at least one dialogue")
    entries: dict[str, dict] = {}
    for i, d in enumerate(dialogues):
        key = f"dialogues[{i}]"
        if not isinstance(d, dict):
            raise CorpusFormatError(file, key, f"{type(d).__name__}", "an object")
        for name in ("id", "units", "audio"):
            if not isinstance(d.get(name), str) or not d[name]:
                raise CorpusFormatError(file, f"{key}.{name}", f"{d.get(name)!r}",
                                        "a non-empty string")
        if d.get("split") not in SPLITS:
            raise CorpusFormatError(file, f"{key}.split", f"{d.get('split')!r}",
                                    ", ".join(SPLITS))
        try:
            json_number(d, file, "duration_s", 0.04, MAX_DURATION_S)
        except InputError as e:  # name the entry: "duration_s" alone could be any of them
            (problem,) = e.problems
            raise CorpusFormatError(file, f"{key}.duration_s", problem.message,
                                    problem.allowed) from None
        if d["id"] in entries:
            raise CorpusFormatError(file, f"{key}.id", f"{d['id']!r} appears twice",
                                    "unique ids")
        entries[d["id"]] = d
    return entries


def split_counts(n: int, val_share: float, test_share: float) -> tuple[int, int]:
    """``(n_test, n_val)`` of ``n`` dialogues: ``round(share * n)`` each, at least one test
    dialogue when there are two and always one train dialogue (shares of 0.3 + 0.3 over two
    dialogues left none, and the unit tokenizer then trained on held-out audio)."""
    n_test = min(max(1 if n >= 2 else 0, int(round(test_share * n))), max(0, n - 1))
    n_val = min(int(round(val_share * n)), max(0, n - n_test - 1))
    return n_test, n_val


def assign_splits(n: int, seed: np.random.SeedSequence, val_share: float,
                  test_share: float, counts: tuple[int, int] | None = None) -> list[str]:
    """The split of each of ``n`` dialogues: a seeded permutation, its first ``n_test`` in
    test and next ``n_val`` in val (``counts``; default :func:`split_counts` of ``n``). Used
    by synthetic builds and by imports of real corpora."""
    n_test, n_val = counts if counts is not None else split_counts(n, val_share, test_share)
    order = np.random.default_rng(seed).permutation(n)
    split = ["train"] * n
    for i in order[:n_test]:
        split[i] = "test"
    for i in order[n_test:n_test + n_val]:
        split[i] = "val"
    return split


def corpus_name(root: str | Path) -> str:
    """A corpus's ``name`` (its manifest's): the name of the folder it is written to, made
    absolute first (``--out .`` named it "", ``--out corpus/..`` ".."), links kept (a corpus
    written through a link is named as the link)."""
    return Path(os.path.abspath(root)).name


def _open_units(path: Path, n_units: int, mmap: bool = False) -> np.ndarray:
    """The units array of ``path`` with its dtype and shape checked (``mmap``: memory-mapped,
    so that only the header is read until its values are; see :func:`load_units`)."""
    allowed = f"an integer array [2, T] of unit ids 0..{n_units - 1}"
    try:
        arr = np.load(path, allow_pickle=False, mmap_mode="r" if mmap else None)
    except FileNotFoundError:
        raise MissingInputError(str(path), "", "units file not found", allowed) from None
    except (ValueError, OSError, EOFError) as e:
        raise InputError(str(path), "", f"not a readable .npy array ({e})", allowed) from None
    if not isinstance(arr, np.ndarray) or not np.issubdtype(arr.dtype, np.integer):
        raise InputError(str(path), "dtype", f"{getattr(arr, 'dtype', type(arr))} units "
                         "(not truncated to integers)", allowed)
    if arr.ndim != 2 or arr.shape[0] != 2 or arr.shape[1] == 0:
        raise InputError(str(path), "shape", f"{list(arr.shape)}", allowed)
    return arr


def units_frames(path: str | Path, n_units: int) -> int:
    """Frames ``T`` of a units file ``[2, T]``, from its header alone (its values are checked
    when :func:`load_units` reads them); a problem as :func:`load_units` raises it."""
    return int(_open_units(Path(path), n_units, mmap=True).shape[1])


def load_units(path: str | Path, n_units: int) -> np.ndarray:
    """A units file ``[2, T]`` as int64; a missing, corrupt, float-typed, misshapen or
    out-of-range array is an :class:`~duplexsim.errors.InputError` naming the file."""
    path = Path(path)
    allowed = f"an integer array [2, T] of unit ids 0..{n_units - 1}"
    arr = _open_units(path, n_units)
    bad = np.flatnonzero((arr < 0) | (arr >= n_units))
    if bad.size:
        ch, t = divmod(int(bad[0]), arr.shape[1])
        raise InputError(str(path), f"[{ch}, {t}]", f"unit {int(arr[ch, t])} out of range",
                         allowed)
    return arr.astype(np.int64)


def load_corpus(root: str | Path) -> Corpus:
    """Open a corpus built by ``duplexsim corpus build``."""
    return Corpus(root)


def _unfinished(root: Path) -> str:
    """``: an unfinished `duplexsim corpus import` ...`` when ``root`` holds the record of
    an import or build (written first) but no manifest (written last), else "": what it
    holds so far (``fisher/fe_03_*.txt`` and audio of an import) is no tree to read."""
    for action in ("import", "build"):
        if (root / f"{action}.json").is_file() and not (root / "manifest.json").is_file():
            return (f": an unfinished `duplexsim corpus {action}` ({action}.json, no "
                    f"manifest.json yet): run the {action} again to finish it")
    return ""


def _real_tree_note(root: Path) -> str:
    """``: a Fisher tree; import it first ...`` when ``root`` is a real Fisher or CANDOR
    tree (read by ``corpus stats`` and ``units train``, not by the commands that need
    units and a split), else ""."""
    if note := _unfinished(root):
        return note
    kind = _tree_kind(root) if root.is_dir() else ""
    return (f": a {kind} tree; import it first, `duplexsim corpus import {root} --tokenizer "
            "UNITS_DIR --out DIR`" if kind else "")


def _tree_kind(root: Path) -> str:
    """"Fisher" for a folder of Fisher transcripts (fe_03_*.txt), "CANDOR" for one of CANDOR
    conversations (*/transcription/), else ""."""
    # bbn_orig too (FisherCorpus names data/trans); the walk stops at the first transcript
    if any(fisher.is_call_file(path, ".txt") for path, _ in fisher.tree_files(root, skip=())):
        return "Fisher"
    return "CANDOR" if next(root.glob("*/transcription"), None) is not None else ""


def open_corpus(root: str | Path, built: bool = True):
    """A built corpus (unless not ``built``), a Fisher tree (fe_03_*.txt) or a CANDOR tree
    (*/transcription/)."""
    root = Path(root)
    if not root.is_dir():
        what = "is a file, not a corpus folder" if root.exists() else "corpus folder not found"
        raise MissingInputError(str(root), "", what, "an existing folder")
    if (root / "manifest.json").is_file():  # before the tree test: a built corpus holds
        if built:                             # Fisher transcripts (fisher/fe_03_*.txt)
            return Corpus(root)
        raise InputError(str(root), "", "is a duplexsim corpus already",
                         "a Fisher (fe_03_*.txt + audio) or CANDOR (<uuid>/transcription/) tree")
    if note := _unfinished(root):
        raise InputError(str(root), "", note[2:],
                         "a finished corpus, or a Fisher or CANDOR tree")
    kind = _tree_kind(root)
    if kind:
        return fisher.FisherCorpus(root) if kind == "Fisher" else candor.CandorCorpus(root)
    kinds = "a duplexsim corpus with manifest.json, " if built else ""
    raise CorpusFormatError(  # the release's top folder, or one conversation's, instead of
        candor.root_level_hint(root)  # the folder of conversations
        or f"{root}: empty corpus directory or unknown layout (allowed: {kinds}"
        "Fisher fe_03_*.txt + audio, CANDOR <uuid>/transcription/*.csv)")
