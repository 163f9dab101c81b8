"""CANDOR (Reece et al. 2023) conversation folders: read and write.

One folder per conversation (its UUID) with ``transcription/transcript_<style>.csv`` for
style audiophile (utterances: what IPU statistics need, the default), backbiter (merged
turns, the listener's backchannels in ``backchannel_speaker / _start / _stop`` columns,
read as backchannel segments; a row's ``backchannel_count`` N > 1, with one start and stop
for all N, becomes one segment at those times with ``count`` N: no times are made up for
the others) or cliffhanger (merged turns): columns ``turn_id, speaker,
start, stop, utterance, ...`` (other columns are ignored, except an optional ``kind`` =
ipu | backchannel that duplexsim writes, and its optional ``count``: the row's own
:attr:`Segment.count`, 1 when empty, written only where some segment's is not 1). The
requested style must be there (no silent fall-back to a turn-level one). Channels:
``processed/channel_map.json`` (``{"L": speaker, "R": speaker}``, as CANDOR ships it)
puts L on channel 0; without one,
speakers are ordered by sorted id. Audio under ``processed/``: one mono file per speaker
``<speaker>.{wav,flac,mp3}`` (same sample rate), or exactly one 2-channel
``.wav`` / ``.flac`` / ``.mp3`` (CANDOR's ``<uuid>.mp3``, 48 kHz); dot-files (macOS's
``._<name>.mp3`` resource forks, ``.DS_Store``) are not sound files. The reader's root is
the folder holding the ``<uuid>/`` folders, not the release's top folder above it nor one
conversation's folder below it: given either, the error names the folder to point it at
(:func:`root_level_hint`).
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import numpy as np

from duplexsim.atomic import atomic_path
from duplexsim.audio.io import AudioError, read_audio
from duplexsim.config.readers import read_json
from duplexsim.corpora.fisher import (
    CorpusFormatError,
    no_splits,
    read_line,
    seconds_field,
    unknown_conversation,
)
from duplexsim.corpora.types import Dialogue, Segment
from duplexsim.errors import InputError, MissingInputError, finite_number, plain_number

STYLES = ("audiophile", "backbiter", "cliffhanger")
REQUIRED = ("turn_id", "speaker", "start", "stop", "utterance")
BACKCHANNEL = ("backchannel_speaker", "backchannel_start", "backchannel_stop")
"""backbiter's columns for the listener's backchannel during a turn (empty when none)."""
AUDIO_EXTS = (".flac", ".wav", ".mp3")


def read_transcript(path: str | Path, speakers: list[str] | None = None
                    ) -> tuple[list[Segment], list[str]]:
    """Segments of one CANDOR transcript CSV and the speaker ids in channel order
    (``speakers`` when given, e.g. from ``channel_map.json``; else sorted)."""
    path = Path(path)
    rows: list[tuple[str, float, float, str, str, int]] = []
    first_line: dict[str, int] = {}  # each speaker's first row, named in the errors below
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:  # a BOM is not a column
            reader = csv.DictReader(fh, strict=True)
            fieldnames = reader.fieldnames or []
            missing = [c for c in REQUIRED if c not in fieldnames]
            if missing:
                raise CorpusFormatError(f"{path}:1: header lacks column(s) "
                                        f"{', '.join(missing)} (required: {', '.join(REQUIRED)})")
            backchannels = all(c in fieldnames for c in BACKCHANNEL)
            for row in reader:
                new = len(rows)
                try:
                    if None in row or any(v is None for v in row.values()):
                        raise ValueError(f"{len(fieldnames)} fields expected")
                    kind = (row.get("kind") or "ipu").strip()
                    rows.append(_row(row["speaker"], row["start"], row["stop"],
                                     row["utterance"], kind,
                                     count=_count(row.get("count") or "", "count", "")))
                    if backchannels and row["backchannel_start"].strip():
                        rows.append(_row(row["backchannel_speaker"], row["backchannel_start"],
                                         row["backchannel_stop"],
                                         row.get("backchannel") or "", "backchannel",
                                         ("backchannel_start", "backchannel_stop"),
                                         _count(row.get("backchannel_count") or "",
                                                "backchannel_count",
                                                " where backchannel_start is set")))
                    for speaker, *_ in rows[new:]:
                        first_line.setdefault(speaker, reader.line_num)
                except ValueError as e:
                    raise CorpusFormatError(
                        f"{path}:{reader.line_num}: malformed row: {e}") from None
    except csv.Error as e:  # e.g. a quote never closed
        raise CorpusFormatError(f"{path}: malformed CSV: {e}") from None
    except UnicodeDecodeError as e:
        raise CorpusFormatError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})"
                                ) from None
    found = sorted(first_line)
    if speakers is None:
        speakers = found
    elif unknown := [s for s in found if s not in speakers]:
        first = min(unknown, key=first_line.__getitem__)
        raise CorpusFormatError(f"{path}:{first_line[first]}: speaker {first!r} is not in its "
                                f"channel map (allowed: {', '.join(speakers)}, the L and R of "
                                "processed/channel_map.json)")
    if len(speakers) > 2:
        third = sorted(speakers, key=first_line.__getitem__)[2]
        raise CorpusFormatError(f"{path}:{first_line[third]}: a third speaker {third!r} "
                                f"(allowed: 2 speakers; {len(speakers)} found: "
                                f"{', '.join(speakers)})")
    segs = [Segment(speakers.index(s), a, b, t, k, n) for s, a, b, t, k, n in rows]
    return segs, list(speakers)


def _row(speaker: str | None, start: str, stop: str, text: str, kind: str,
         columns: tuple[str, str] = ("start", "stop"), count: int = 1
         ) -> tuple[str, float, float, str, str, int]:
    """One segment's fields, checked (times, kind) as a :class:`Segment` checks them; each
    run of whitespace in the text as one space (an utterance may hold a line break inside
    its quotes, and a Fisher transcript written from it holds one utterance a line)."""
    segment = Segment(0, seconds_field(start, columns[0]), seconds_field(stop, columns[1]),
                      kind=kind)
    if not (speaker or "").strip():  # sorted first, it would take channel 0 unseen
        raise ValueError("empty speaker (allowed: the speaker's id)")
    return (str(speaker).strip(), segment.start_s, segment.end_s, " ".join(text.split()), kind,
            count)


def _count(text: str, column: str, where: str) -> int:
    """A count cell (a backbiter row's ``backchannel_count`` where it has a backchannel, a
    written row's ``count``): 1 when empty (or no such column), else a whole number >= 1
    (pandas writes ``2.0`` in a column with empty cells). ``where`` ends the error."""
    if not text.strip():
        return 1
    value = plain_number(text.strip())
    if not finite_number(value) or value < 1 or value != int(value):
        raise ValueError(f"{column} {text!r}{where} (allowed: a whole number >= 1)")
    return int(value)


WRITTEN_SPEAKERS = ("A", "B")
"""The speaker ids :func:`write_transcript` writes by default: A is channel 0 (read them
back with these, so a conversation where only B speaks stays on channel 1)."""


def write_transcript(path: str | Path, segments: list[Segment],
                     speakers: tuple[str, str] = WRITTEN_SPEAKERS) -> None:
    """Write segments (sorted by start) as a CANDOR-style CSV with a ``kind`` column, and a
    ``count`` column (:attr:`Segment.count`) only where some segment's is not 1 (so the
    files of segments that all count 1 keep their bytes); :func:`read_transcript` reads
    both back."""
    ordered = sorted(segments, key=lambda s: (s.start_s, s.speaker))
    counts = any(s.count != 1 for s in ordered)
    with atomic_path(path) as tmp, tmp.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow([*REQUIRED, "kind", *(["count"] if counts else [])])
        for i, s in enumerate(ordered):
            w.writerow([i, speakers[s.speaker], f"{s.start_s:.3f}", f"{s.end_s:.3f}", s.text,
                        s.kind, *([s.count] if counts else [])])


def root_level_hint(root: Path) -> str:
    """The error line for a ``root`` that holds no ``<uuid>/transcription/`` folders, when
    it is a level off: one conversation's own folder (``CANDOR/files/<uuid>/``, holding
    ``transcription/``), naming its parent; or a folder above them (the release's top
    folder, ``CANDOR/`` above ``files/``), naming the subfolder. "" for any other folder."""
    if (root / "transcription").is_dir():
        parent = Path(os.path.abspath(root)).parent  # "." has a parent too
        return (f"{root}: is one CANDOR conversation (transcription/ here), not the folder "
                f"of conversations: point the reader at {parent}")
    subs = sorted({p.parent.parent for p in root.glob("*/*/transcription")
                   if p.is_dir() and not p.parent.parent.name.startswith(".")})
    if not subs:
        return ""
    where = (f"point the reader at {subs[0]}" if len(subs) == 1 else
             f"point the reader at one of {', '.join(map(str, subs))} (or move their <uuid>/ "
             "folders into one)")
    return (f"{root}: no CANDOR conversations (<uuid>/transcription/) here, but one folder "
            f"down: {where}")


class CandorCorpus:
    """Every conversation folder under ``root`` that has a transcription/ folder."""

    name = "candor"
    preset = "candor"

    def __init__(self, root: str | Path, style: str = "audiophile"):
        self.root = Path(root)
        if style not in STYLES:
            raise ValueError(f"style: {style!r} (allowed: {', '.join(STYLES)})")
        self.style = style
        if not self.root.is_dir():
            raise MissingInputError(str(self.root), "", "corpus folder not found",
                                    "an existing folder")
        self._dirs = {p.parent.name: p.parent for p in sorted(self.root.glob("*/transcription"))}
        if not self._dirs:
            raise CorpusFormatError(
                root_level_hint(self.root) or
                f"{self.root}: empty corpus: no <conversation>/transcription/ folders")

    def _other_entries(self) -> list[Path]:
        """Entries of the root that are no ``<uuid>/transcription/`` folder (not dot-files)."""
        return sorted(p for p in self.root.iterdir()
                      if p.name not in self._dirs and not p.name.startswith("."))

    def read_counts(self) -> dict[str, int]:
        """How many conversations were read, and how many entries of the root skipped."""
        return {"conversations": len(self._dirs), "other_entries": len(self._other_entries())}

    def read_summary(self) -> str:
        """One line: the conversations read and what beside them was skipped, with an
        example."""
        return read_line(f"{len(self._dirs)} conversations (<uuid>/transcription/)",
                         {"entries that are no conversation folder": self._other_entries()})

    def ids(self, split: str | None = None) -> list[str]:
        """Every conversation (a real tree has no splits: any ``split`` but None is an
        error)."""
        no_splits(self.root, self.name, split)
        return list(self._dirs)

    def _folder(self, id: str) -> Path:
        if id not in self._dirs:
            raise unknown_conversation(self.root, id, self.ids())
        return self._dirs[id]

    def transcript_path(self, id: str) -> Path:
        folder = self._folder(id) / "transcription"
        path = folder / f"transcript_{self.style}.csv"
        if path.is_file():
            return path
        others = [s for s in STYLES if (folder / f"transcript_{s}.csv").is_file()]
        hint = (f"; found {', '.join(f'transcript_{s}.csv' for s in others)}: read it in "
                f"Python with CandorCorpus(root, style={others[0]!r}); the duplexsim commands "
                "read the utterance-level audiophile transcripts only" if others else "")
        raise CorpusFormatError(f"{path}: not found (the style asked for{hint})")

    def channel_order(self, id: str) -> list[str] | None:
        """Speaker ids ``[channel 0, channel 1]`` from ``processed/channel_map.json``
        (``{"L": ..., "R": ...}``), or None without one."""
        path = self._folder(id) / "processed" / "channel_map.json"
        if not path.is_file():
            return None
        try:  # unreadable, not JSON, nested too deeply, no object: read_json's one line
            mapping = read_json(path, what="channel map", encoding="utf-8-sig")
        except InputError as e:
            raise CorpusFormatError(e.problems) from None
        order = []
        allowed = "a speaker id string, as the transcript's speaker column holds"
        for side in ("L", "R"):
            if side not in mapping:  # (it said "not a channel map ... (KeyError: 'L')")
                raise CorpusFormatError(str(path), side, "missing required key of the channel "
                                        "map {\"L\": speaker, \"R\": speaker}", allowed)
            speaker = mapping[side]  # a number or list was str()-ed and matched no speaker
            if not isinstance(speaker, str) or not speaker.strip():
                raise CorpusFormatError(str(path), side, f"{json.dumps(speaker)} is not a "
                                        "speaker id", allowed)
            order.append(speaker.strip())
        if order[0] == order[1]:
            raise CorpusFormatError(f"{path}: L and R are the same speaker {order[0]!r} "
                                    "(allowed: the two speakers, one per channel)")
        return order

    def audio_files(self, id: str) -> list[Path]:
        """The sound files in call ``id``'s ``processed/`` folder, sorted ([] without one);
        not dot-files (a macOS copy leaves a ``._<uuid>.mp3`` resource fork beside each
        file: no sound, and a second file made the 2-channel one ambiguous)."""
        return sorted(p for p in (self._folder(id) / "processed").glob("*")
                      if p.suffix in AUDIO_EXTS and not p.name.startswith("."))

    def source_files(self, id: str) -> list[Path]:
        """The files conversation ``id`` is read from: its transcript, its channel map if
        there is one, and the sound files :meth:`read_audio` reads (raises
        :class:`AudioError` when they are not there). Reads the transcript only when there
        is no channel map (its speakers say which files are theirs)."""
        transcript = self.transcript_path(id)
        channel_map = self._folder(id) / "processed" / "channel_map.json"
        speakers = self.channel_order(id) or read_transcript(transcript)[1]
        return [transcript, *([channel_map] if channel_map.is_file() else []),
                *self.audio_paths(id, speakers)]

    def audio_paths(self, id: str, speakers: list[str]) -> list[Path]:
        """The sound files of ``speakers``' audio in processed/: one mono file per speaker
        (in channel order), else the one 2-channel file."""
        proc = self._folder(id) / "processed"
        per = [next((proc / f"{s}{e}" for e in AUDIO_EXTS if (proc / f"{s}{e}").is_file()),
                    None) for s in speakers]
        found = [p for p in per if p is not None]
        if len(speakers) == 2 and len(found) == 2:
            return found
        files = self.audio_files(id)
        if len(speakers) == 1 and found and found == files:  # its own mono file, nothing else
            raise AudioError(
                f"{self.transcript_path(id)}: names one speaker {speakers}, and {proc} holds "
                f"only that speaker's file {files[0].name}: the silent partner's channel is "
                "missing (allowed: the partner's own file beside it, or one 2-channel file "
                "with a channel_map.json)")
        if len(files) == 1:
            if not (proc / "channel_map.json").is_file() and \
                    list(speakers) != list(WRITTEN_SPEAKERS):
                raise CorpusFormatError(
                    f"{proc / 'channel_map.json'}: not found, so which of the speakers "
                    f"{speakers} is on the left channel of {files[0].name} is unknown "
                    "(allowed: the release's channel_map.json {\"L\": speaker, \"R\": "
                    "speaker}, or one file per speaker)")
            return files
        if len(speakers) == 1 and found and len(files) == 2:  # the partner never speaks
            raise CorpusFormatError(
                f"{self.transcript_path(id)}: names one speaker {speakers}, but {proc} holds "
                f"two sound files ({', '.join(p.name for p in files)}): which channel the "
                "silent partner is on is unknown (allowed: a processed/channel_map.json "
                "{\"L\": speaker, \"R\": speaker} naming both speakers)")
        raise AudioError(
            f"{self.transcript_path(id)}: refers to speakers {speakers}: expected "
            f"{proc}/<speaker>.wav|.flac|.mp3 per speaker or one 2-channel file in {proc} "
            f"(found {len(files)} sound files)")

    def read_audio(self, id: str, speakers: list[str]) -> tuple[np.ndarray, int]:
        """``[2, N]`` audio: per-speaker mono files, else one 2-channel file in processed/."""
        paths = self.audio_paths(id, speakers)
        if len(paths) == 1:
            return read_audio(paths[0], channels=2)
        (a, sa), (b, sb) = (read_audio(p, channels=1) for p in paths)
        if sa != sb:
            raise AudioError(f"{paths[1]}: sample rate {sb} Hz, expected {sa} Hz like {paths[0]}")
        n = max(a.shape[1], b.shape[1])  # the shorter one ends in silence, not the call
        return np.concatenate([np.pad(a, ((0, 0), (0, n - a.shape[1]))),
                               np.pad(b, ((0, 0), (0, n - b.shape[1])))]), sa

    def dialogue(self, id: str, audio: bool = True, tokenizer=None) -> Dialogue:
        transcript = self.transcript_path(id)
        segs, speakers = read_transcript(transcript, self.channel_order(id))
        if not segs:  # a conversation is never silent: an empty or cut-off copy
            raise CorpusFormatError(f"{transcript}: no segments (allowed: at "
                                    "least one row under the header)")
        wave, sr = None, None
        if audio or tokenizer is not None:
            wave, sr = self.read_audio(id, speakers)
        return Dialogue.from_recording(id, segs, wave, sr, keep_audio=audio, tokenizer=tokenizer,
                                       audio_files=self.audio_files(id) if wave is None else [],
                                       transcript=transcript)

    def dialogues(self, split: str | None = None, audio: bool = True, tokenizer=None):
        for i in self.ids(split):
            yield self.dialogue(i, audio=audio, tokenizer=tokenizer)
