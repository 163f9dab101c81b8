"""Speech units: the ``UnitTokenizer`` protocol (wave <-> 25 Hz units) and its k-means tokenizers.

Owns tokenizers (mel-kmeans, hubert-kmeans), their training, saving/loading, and the
vocoder. Must not know about corpora layouts, tokens, models or the simulator (it takes
only the default and largest inventory sizes, ``DEFAULT_N_UNITS`` and ``MAX_N_UNITS``, from
:mod:`duplexsim.tokens`, as :mod:`duplexsim.audio` takes ``FRAME_MS``).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from duplexsim.config.readers import read_json
from duplexsim.errors import InputError, MissingInputError
from duplexsim.units.kmeans import (
    TOKENIZER_FILES,
    KMeansTokenizer,
    TokenizerConfig,
    train_tokenizer,
)


@runtime_checkable
class UnitTokenizer(Protocol):
    """wave -> 25 Hz units -> wave; silence units are known so VAD reads off units."""

    n_units: int
    sample_rate_hz: int  # of decode() output
    silence_units: frozenset[int]
    silence_unit: int

    def encode(self, wave: np.ndarray, sample_rate: int) -> np.ndarray: ...
    def decode(self, units: np.ndarray) -> np.ndarray: ...
    def is_speech(self, units: np.ndarray) -> np.ndarray: ...
    def save(self, directory: str | Path) -> None: ...


# config.json "config.type" -> loader
_LOADERS = {"mel-kmeans": KMeansTokenizer.load, "hubert-kmeans": KMeansTokenizer.load}


def load_tokenizer(directory: str | Path) -> UnitTokenizer:
    """Load a tokenizer saved with ``save(dir)``; a missing, corrupt or truncated one is an
    :class:`~duplexsim.errors.InputError` naming the file (never a silent fallback)."""
    d = Path(directory)
    cfg = d / "config.json"
    if not cfg.is_file():
        if (d / "arrays.safetensors").is_file():  # config.json is the last file a save moves in
            raise MissingInputError(str(d), "", "a unit tokenizer whose save was cut short "
                                    "(arrays.safetensors but no config.json)",
                                    "a finished tokenizer folder: save or train it again")
        raise MissingInputError(str(d), "", "not a unit tokenizer folder (no config.json)",
                                "a folder written by `duplexsim units train`")
    table = read_json(cfg, what="tokenizer config.json").get("config")
    kind = table.get("type") if isinstance(table, dict) else None
    if kind not in _LOADERS:
        raise InputError(str(cfg), "config.type", f"unknown tokenizer {kind!r}",
                         ", ".join(_LOADERS))
    return _LOADERS[kind](d)


def copy_tokenizer(src: str | Path, dst: str | Path) -> None:
    """Copy the unit tokenizer's files (:data:`~duplexsim.units.kmeans.TOKENIZER_FILES`,
    byte for byte) into ``dst``, all moved in at once; nothing else of ``src`` (every file
    there was: a user's notes, or a temporary a killed save left, went into each corpus and
    agent) and nothing else of ``dst`` is touched (a user's notes beside the copy stay). A
    missing one is a :class:`FileNotFoundError` and ``dst`` is left as it was (callers
    load the tokenizer first). A hubert-kmeans tokenizer's HuBERT is no file of its own:
    its config.json names the folder (``hubert_dir``). How a corpus and an agent get their
    copy (``duplexsim corpus build|import``, ``duplexsim train``)."""
    import shutil

    from duplexsim.atomic import output_dir

    with output_dir(Path(dst), owned=TOKENIZER_FILES, last=("config.json",)) as stage:
        for name in TOKENIZER_FILES:
            shutil.copyfile(Path(src) / name, stage / name)


def tokenizer_digest(tok_dir: str | Path) -> str:
    """sha256 over a unit tokenizer's files (:data:`~duplexsim.units.kmeans.TOKENIZER_FILES`
    that are there: name and bytes, sorted by name). No other file is the tokenizer's: a
    notes file, a temporary a killed save left (``.config.json.*.tmp``) or a ``.DS_Store``
    beside it made the same tokenizer read as another one. (Every non-hidden file was
    hashed alike: a folder of only the tokenizer's files has the digest it had.)
    Remembered while its files keep their size, times and inode
    (:func:`~duplexsim.digests.named_files_digest`)."""
    from duplexsim.digests import named_files_digest

    return named_files_digest([f for f in (Path(tok_dir) / name for name in
                                           sorted(TOKENIZER_FILES)) if f.is_file()])


def shared_tokenizer(folders: Iterable[tuple[str, str | Path]]) -> Path | None:
    """The unit tokenizer folder that every ``(where, folder)`` holding one (a
    ``config.json``) holds, by its files (:func:`tokenizer_digest`: byte-identical copies
    are one tokenizer); None when none holds one. Two others are an
    :class:`~duplexsim.errors.InputError` naming both: units of another tokenizer are other
    sounds, so an agent fed them, or a study pooling them, reads one inventory as another.
    ``where``: what named the folder (``"a.agent"``, ``"--corpora fisher-like"``)."""
    found = [(where, Path(f)) for where, f in folders if (Path(f) / "config.json").is_file()]
    if not found:
        return None
    (first, first_dir), digest = found[0], tokenizer_digest(found[0][1])
    for where, folder in found[1:]:
        if folder.resolve() != first_dir.resolve() and tokenizer_digest(folder) != digest:
            raise InputError(where, "", f"its unit tokenizer {folder} is not {first}'s "
                             f"({first_dir}): their units would mean other sounds",
                             "agents and corpora whose units come from one tokenizer "
                             "(build, import or train them with it: --tokenizer)")
    return first_dir


__all__ = ["KMeansTokenizer", "TokenizerConfig", "UnitTokenizer", "copy_tokenizer",
           "load_tokenizer", "shared_tokenizer", "tokenizer_digest",
           "train_tokenizer"]
