"""CANDOR (Reece et al. 2023) conversation folders: read and write.

One folder per conversation (its UUID) with ``transcription/transcript_<style>.csv`` for
style audiophile, backbiter or cliffhanger: columns ``turn_id, speaker, start, stop,
utterance, ...`` (extra columns are ignored, except an optional ``kind`` = ipu |
backchannel that duplexsim writes). Speakers are ordered by sorted id: the first is
channel 0. Audio under ``processed/``, accepted as either one mono file per speaker named
``<speaker>.{wav,flac}`` (same sample rate) or exactly one 2-channel ``.wav`` / ``.flac``.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from duplexsim.atomic import atomic_path
from duplexsim.audio.io import AudioError, read_audio
from duplexsim.corpora.fisher import CorpusFormatError
from duplexsim.corpora.types import Dialogue, Segment
from duplexsim.errors import MissingInputError

STYLES = ("audiophile", "backbiter", "cliffhanger")
REQUIRED = ("turn_id", "speaker", "start", "stop", "utterance")


def read_transcript(path: str | Path) -> tuple[list[Segment], list[str]]:
    """Segments of one CANDOR transcript CSV and the speaker ids (channel order)."""
    path = Path(path)
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
        if missing:
            raise CorpusFormatError(f"{path}:1: header lacks column(s) {', '.join(missing)} "
                                    f"(required: {', '.join(REQUIRED)})")
        rows = []
        for row in reader:
            try:
                if None in row or any(row[c] is None for c in REQUIRED):
                    raise ValueError("wrong number of fields")
                kind = (row.get("kind") or "ipu").strip()
                rows.append((str(row["speaker"]).strip(), float(row["start"]),
                             float(row["stop"]), row["utterance"], kind))
                Segment(0, rows[-1][1], rows[-1][2], kind=kind)  # validate times and kind
            except ValueError as e:
                raise CorpusFormatError(
                    f"{path}:{reader.line_num}: malformed row: {e}") from None
    speakers = sorted({r[0] for r in rows})
    if len(speakers) > 2:
        raise CorpusFormatError(f"{path}: {len(speakers)} speakers {speakers} (allowed: 2)")
    segs = [Segment(speakers.index(s), a, b, t, k) for s, a, b, t, k in rows]
    return segs, speakers


def write_transcript(path: str | Path, segments: list[Segment],
                     speakers: tuple[str, str] = ("A", "B")) -> None:
    """Write segments (sorted by start) as a CANDOR-style CSV with a ``kind`` column."""
    ordered = sorted(segments, key=lambda s: (s.start_s, s.speaker))
    with atomic_path(path) as tmp, tmp.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow([*REQUIRED, "kind"])
        for i, s in enumerate(ordered):
            w.writerow([i, speakers[s.speaker], f"{s.start_s:.3f}", f"{s.end_s:.3f}", s.text,
                        s.kind])


class CandorCorpus:
    """Every conversation folder under ``root`` that has a transcription/ folder."""

    name = "candor"
    preset = "candor"

    def __init__(self, root: str | Path, style: str = "audiophile"):
        self.root = Path(root)
        if style not in STYLES:
            raise ValueError(f"style: {style!r} (allowed: {', '.join(STYLES)})")
        self.order = (style, *[s for s in STYLES if s != style])
        if not self.root.is_dir():
            raise MissingInputError(str(self.root), "", "corpus folder not found",
                                    "an existing folder")
        self._dirs = {p.parent.name: p.parent for p in sorted(self.root.glob("*/transcription"))}
        if not self._dirs:
            raise CorpusFormatError(
                f"{self.root}: empty corpus: no <conversation>/transcription/ folders")

    def ids(self, split: str | None = None) -> list[str]:
        return list(self._dirs)

    def transcript_path(self, id: str) -> Path:
        for style in self.order:
            p = self._dirs[id] / "transcription" / f"transcript_{style}.csv"
            if p.is_file():
                return p
        raise CorpusFormatError(f"{self._dirs[id] / 'transcription'}: no transcript_"
                                f"{{{','.join(STYLES)}}}.csv")

    def read_audio(self, id: str, speakers: list[str]) -> tuple[np.ndarray, int]:
        """``[2, N]`` audio: per-speaker mono files, else one 2-channel file in processed/."""
        proc = self._dirs[id] / "processed"
        per = [next((proc / f"{s}{e}" for e in (".flac", ".wav") if (proc / f"{s}{e}").is_file()),
                    None) for s in speakers]
        if len(speakers) == 2 and all(per):
            (a, sa), (b, sb) = (read_audio(p, channels=1) for p in per)
            if sa != sb:
                raise AudioError(f"{per[1]}: sample rate {sb} Hz, expected {sa} Hz like {per[0]}")
            n = min(a.shape[1], b.shape[1])
            return np.concatenate([a[:, :n], b[:, :n]]), sa
        files = sorted(p for p in proc.glob("*") if p.suffix in (".wav", ".flac"))
        if len(files) == 1:
            return read_audio(files[0], channels=2)
        raise AudioError(
            f"{self.transcript_path(id)}: refers to speakers {speakers}: expected "
            f"{proc}/<speaker>.wav|.flac per speaker or one 2-channel file in {proc} "
            f"(found {len(files)} sound files)")

    def dialogue(self, id: str, audio: bool = True, tokenizer=None) -> Dialogue:
        segs, speakers = read_transcript(self.transcript_path(id))
        wave, sr = None, None
        if audio or tokenizer is not None:
            wave, sr = self.read_audio(id, speakers)
        return Dialogue.from_recording(id, segs, wave, sr, keep_audio=audio, tokenizer=tokenizer)

    def dialogues(self, split: str | None = None, audio: bool = True, tokenizer=None):
        for i in self.ids(split):
            yield self.dialogue(i, audio=audio, tokenizer=tokenizer)
