"""A duplexsim corpus directory (manifest.json + audio/ + units/ + annotations + tokenizer/).

``load_corpus(dir)`` reads what ``duplexsim corpus build`` wrote (layout in
docs/interfaces.md); ``open_corpus(dir)`` also recognises real Fisher and CANDOR layouts.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from duplexsim.audio.io import read_audio
from duplexsim.corpora import candor, fisher
from duplexsim.corpora.fisher import CorpusFormatError
from duplexsim.corpora.types import Dialogue

FORMAT = "duplexsim-corpus/1"
SPLITS = ("train", "val", "test")


class Corpus:
    """Read access to a built corpus; dialogues carry units (and audio on request)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        path = self.root / "manifest.json"
        if not path.is_file():
            raise FileNotFoundError(f"{self.root}: not a duplexsim corpus (no manifest.json)")
        self.manifest = json.loads(path.read_text())
        if self.manifest.get("format") != FORMAT:
            raise CorpusFormatError(f"{path}: format {self.manifest.get('format')!r} "
                                    f"(allowed: {FORMAT})")
        self.name: str = self.manifest["name"]
        self.preset: str = self.manifest.get("preset", "")
        self.n_units: int = int(self.manifest["n_units"])
        self.sample_rate_hz: int = int(self.manifest["sample_rate_hz"])
        self._entries = {d["id"]: d for d in self.manifest["dialogues"]}
        if not self._entries:
            raise CorpusFormatError(f"{path}: empty corpus: no dialogues")

    def ids(self, split: str | None = None) -> list[str]:
        if split is not None and split not in SPLITS:
            raise ValueError(f"split: {split!r} (allowed: {', '.join(SPLITS)})")
        return [i for i, d in self._entries.items() if split is None or d["split"] == split]

    def dialogue(self, id: str, audio: bool = False) -> Dialogue:
        if id not in self._entries:
            raise KeyError(f"{self.root}: no dialogue {id!r}")
        e = self._entries[id]
        units = np.load(self.root / e["units"]).astype(np.int64)
        segs = candor.read_transcript(self._candor_csv(id))[0]
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

    def tokenizer(self):
        from duplexsim.units import load_tokenizer

        ref = self.manifest.get("tokenizer", "tokenizer")
        path = Path(ref) if Path(ref).is_absolute() else self.root / ref
        return load_tokenizer(path)


def load_corpus(root: str | Path) -> Corpus:
    """Open a corpus built by ``duplexsim corpus build``."""
    return Corpus(root)


def open_corpus(root: str | Path):
    """A built corpus, a Fisher tree (fe_03_*.txt) or a CANDOR tree (*/transcription/)."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: corpus directory not found")
    if (root / "manifest.json").is_file():
        return Corpus(root)
    if next(root.rglob("fe_03_*.txt"), None) is not None:
        return fisher.FisherCorpus(root)
    if next(root.glob("*/transcription"), None) is not None:
        return candor.CandorCorpus(root)
    raise CorpusFormatError(
        f"{root}: empty corpus directory or unknown layout (allowed: a duplexsim corpus with "
        "manifest.json, Fisher fe_03_*.txt + audio, CANDOR <uuid>/transcription/*.csv)")
