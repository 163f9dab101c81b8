"""Fisher English (LDC2004S13 / LDC2004T19) transcripts and audio: read and write.

Transcript ``fe_03_NNNNN.txt``: ``#`` comment lines, blank lines, and ``start end A: text``
(seconds; A = channel 0, B = channel 1). Audio ``fe_03_NNNNN.{wav,flac,sph}``, 2 channels,
8 kHz, anywhere under the corpus root (shorten SPHERE must be converted with sph2pipe).
Fisher has no backchannel labels: every segment reads as kind "ipu" (with count 1), also
from a built corpus's ``fisher/`` export (:func:`write_transcript`).

Known errors in LDC's transcripts are corrected as they are read (:data:`KNOWN_FIXES`):
call fe_03_11487's line ``31.09 234.06 ...`` starts at 231.09 s (as written, a 203 s
segment), the correction lhotse's Fisher recipe makes ("fix obvious transcript error" in
``lhotse/recipes/fisher_english.py``).

LDC2004T19 and LDC2005T19 ship BBN's own transcripts of most calls under ``data/bbn_orig/``
beside ``data/trans/`` (which holds every call, BBN's included, in LDC's format: the
release's ``fe_03_readme.txt``): folders named ``bbn_orig`` are not read, and the summary
says so. Call metadata: ``doc/fe_03_p1_calldata.tbl`` (LDC2004T19) and
``fe_03_p2_calldata.tbl`` (LDC2005T19), comma-separated with a header row; :func:`call_pins`
reads CALL_ID (five digits, ``00001`` for ``fe_03_00001``), APIN and BPIN (channel A's and
B's speaker PIN), as Kaldi's ``make_fisher.pl`` does.
"""

from __future__ import annotations

import csv
import filecmp
import fnmatch
import io
import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from duplexsim.atomic import write_text
from duplexsim.audio.io import AudioError, read_audio
from duplexsim.corpora.types import Dialogue, Segment
from duplexsim.errors import InputError, MissingInputError, finite_number, plain_number

AUDIO_EXTS = (".flac", ".wav", ".sph")
CALL_ID = re.compile(r"fe_03_\d{5}")
"""A Fisher call's file stem (LDC's ``doc/fe_03_readme.txt`` and the like are not calls)."""
_LINE = re.compile(r"^\s*(\S+)\s+(\S+)\s+([AB]):\s?(.*)$")
_HEADER_CALL = re.compile(r"#\s*(fe_03_\d{5})\.\w+\s*")
"""LDC's first line, ``# fe_03_NNNNN.sph``: the call the transcript is of."""
BBN_ORIG = "bbn_orig"
"""The folder of BBN's original transcripts in LDC2004T19/LDC2005T19 (module docstring)."""
CALLDATA = ("fe_03_p1_calldata.tbl", "fe_03_p2_calldata.tbl")
"""LDC's call tables (LDC2004T19's and LDC2005T19's ``doc/``): CALL_ID, APIN, BPIN, ..."""


KNOWN_FIXES: dict[tuple[str, float, float], float] = {
    ("fe_03_11487", 31.09, 234.06): 231.09,
}
"""(call, start_s, end_s) of a segment as LDC's transcript gives it -> its real start_s
(module docstring: where each comes from)."""


class CorpusFormatError(InputError):
    """A corpus file that does not follow its layout (names the file and line)."""


def unknown_conversation(root: Path, id: str, ids: list[str]) -> InputError:
    """The error for a conversation id a reader of ``root`` does not have (a KeyError)."""
    shown = ", ".join(ids[:5]) + (f", ... ({len(ids)} in all)" if len(ids) > 5 else "")
    return InputError(str(root), "", f"no conversation {id!r}", shown)


def no_splits(root: Path, name: str, split: str | None) -> None:
    """An :class:`InputError` unless ``split`` is None: a real tree has no train/val/test
    split (its readers' ``ids(split)`` gave every conversation, as if it were one)."""
    if split is not None:
        raise InputError(str(root), "split", f"{split!r}: a {name} tree has no splits",
                         "None, the whole tree (`duplexsim corpus import` gives it "
                         "train/val/test splits)")


def seconds_field(text: str, column: str) -> float:
    """A transcript's time field as seconds; a ValueError naming ``column`` for anything but
    a plain finite decimal number (``float`` took ``1_000`` as 1000, other scripts' digits,
    ``nan`` and ``inf``)."""
    value = plain_number(text.strip())
    if not finite_number(value):
        raise ValueError(f"{column} {text!r} is not a time in seconds (allowed: a finite "
                         "decimal number, e.g. 12.5)")
    return float(value)


def read_transcript(path: str | Path) -> list[Segment]:
    """Segments of a Fisher transcript, in file order."""
    path = Path(path)
    segs = []
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")  # a BOM is not a line
    except UnicodeDecodeError as e:
        line_no = raw[:e.start].count(b"\n") + 1
        raise CorpusFormatError(f"{path}:{line_no}: not UTF-8 text ({e.reason} at byte "
                                f"{e.start})") from None
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    named = _HEADER_CALL.fullmatch(lines[0])
    if named and CALL_ID.fullmatch(path.stem) and named.group(1) != path.stem:
        # a transcript copied or renamed under another call's name: read with that call's
        # audio, its times and speakers would be another conversation's (Kaldi refuses it)
        raise CorpusFormatError(f"{path}:1: the header names call {named.group(1)}, not "
                                f"{path.stem} (allowed: the call the file is named after)")
    call = named.group(1) if named else path.stem
    for n, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        m = _LINE.match(line)
        try:
            if not m:
                raise ValueError("expected 'start end A: text' or 'start end B: text'")
            start, end = seconds_field(m.group(1), "start"), seconds_field(m.group(2), "end")
            start = KNOWN_FIXES.get((call, start, end), start)
            segs.append(Segment(0 if m.group(3) == "A" else 1, start, end, m.group(4).strip()))
        except ValueError as e:
            raise CorpusFormatError(f"{path}:{n}: malformed line {line!r}: {e}") from None
    return segs


def write_transcript(path: str | Path, segments: list[Segment], audio_name: str = "") -> None:
    """Write segments (sorted by start) in Fisher's transcript format, atomically.

    The format has a speaker, start, end and text a line and nothing more: read back, the
    segments have their speakers, their times to the ms and their texts (a line break in a
    text made a space, or the file would not read back), but every one is kind ``"ipu"``
    with ``count`` 1. A corpus's ``fisher/`` files are an export for Fisher tools; its
    ``candor/`` CSV beside them keeps kind and count, and is what
    :class:`~duplexsim.corpora.corpus.Corpus` reads."""
    lines = [f"# {audio_name or Path(path).stem + '.sph'}", ""]
    for s in sorted(segments, key=lambda s: (s.start_s, s.speaker)):
        text = s.text.replace("\r", " ").replace("\n", " ")
        lines.append(f"{s.start_s:.3f} {s.end_s:.3f} {'AB'[s.speaker]}: {text}")
    write_text(path, "\n".join(lines) + "\n")


def tree_files(root: Path, skip: tuple[str, ...] = (BBN_ORIG,)
               ) -> Iterator[tuple[Path, bool]]:
    """Every file under ``root``, listing each folder once, and whether it lies in a folder
    below ``root`` named as in ``skip``: those are walked after all the rest (a reader that
    wants only the rest stops at the first). Follows links to folders (each folder once): a
    root that links the transcript and speech releases, which LDC ships apart, is how both
    come under one root, and ``rglob`` does not enter links."""
    seen: set[str] = set()
    tops = [(str(root), False)]
    for top, skipped in tops:  # grows by the skipped folders the walk meets
        for folder, subfolders, names in os.walk(top, followlinks=True):
            real = os.path.realpath(folder)
            if real in seen:  # a link back up the tree, or a second link to one folder
                subfolders.clear()
                continue
            seen.add(real)
            subfolders.sort()  # which of two links to one folder is walked: the first by name
            tops += [(os.path.join(folder, f), True) for f in subfolders if f in skip]
            subfolders[:] = [f for f in subfolders if f not in skip]
            for name in names:
                yield Path(folder, name), skipped


def is_call_file(path: Path, ext: str, pattern: str | None = None) -> bool:
    """Whether ``path`` is named ``fe_03_NNNNN<ext>``; with a glob ``pattern``, whether it
    is named ``<pattern><ext>`` instead."""
    glob = f"{pattern if pattern is not None else 'fe_03_*'}{ext}"
    return fnmatch.fnmatchcase(path.name, glob) and (pattern is not None
                                                     or bool(CALL_ID.fullmatch(path.stem)))


def call_files(paths: Iterable[Path], ext: str, pattern: str | None = None) -> list[Path]:
    """The ``paths`` that :func:`is_call_file` takes, sorted."""
    return sorted(p for p in paths if is_call_file(p, ext, pattern))


def read_line(read: str, skipped: dict[str, list[Path]]) -> str:
    """A reader's one-line summary: ``read <read>; skipped N <kind> (e.g. <path>), ...``
    for each kind of file passed over that has any (in ``skipped``'s order)."""
    parts = [f"{len(paths)} {kind} (e.g. {paths[0]})" for kind, paths in skipped.items() if paths]
    return f"read {read}" + ("; skipped " + ", ".join(parts) if parts else "")


def call_pins(tables: list[Path]) -> dict[str, tuple[str, str]]:
    """Each call's speaker PINs ``fe_03_NNNNN -> (APIN, BPIN)`` from LDC's call tables
    ``tables`` (:data:`CALLDATA`; a tree's: :attr:`FisherCorpus.calldata_tables`). A table
    without the columns, a row without a five-digit CALL_ID or a PIN, and one call with
    other PINs in a second row are errors naming the file and line; so is a table that is
    not UTF-8 text or not CSV."""
    pins: dict[str, tuple[str, str]] = {}
    for table in tables:
        rows = csv.DictReader(io.StringIO(_calldata_text(table), newline=""))
        try:
            _read_pins(rows, table, pins)
        except csv.Error as e:  # e.g. a quote never closed, running past csv's field limit
            raise CorpusFormatError(f"{table}:{rows.line_num}: malformed CSV: {e} (allowed: "
                                    "LDC's calldata table as shipped)") from None
    return pins


def _read_pins(rows: csv.DictReader, table: Path, pins: dict[str, tuple[str, str]]) -> None:
    """:func:`call_pins` of one table: its rows' PINs into ``pins``. Header names are taken
    without the spaces around them (``CALL_ID, APIN, BPIN``); a row of nothing but spaces and
    commas (a hand-edited table's last line) is no row."""
    if rows.fieldnames:
        rows.fieldnames = [name.strip() for name in rows.fieldnames]
    missing = [c for c in ("CALL_ID", "APIN", "BPIN") if c not in (rows.fieldnames or [])]
    if missing:
        raise CorpusFormatError(f"{table}:1: no column {', '.join(missing)} in the "
                                "header (allowed: LDC's calldata table, its first row "
                                "CALL_ID,DATE_TIME,TOPICID,...,APIN,...,BPIN,...)")
    for row in rows:
        # (a field past the header's comes as a list under None, a missing one as None)
        if not "".join(v if isinstance(v, str) else "".join(v or ()) for v in row.values()
                       ).strip():
            continue
        where = f"{table}:{rows.line_num}"
        call, a, b = ((row.get(c) or "").strip() for c in ("CALL_ID", "APIN", "BPIN"))
        if not re.fullmatch(r"\d{5}", call) or not a or not b:
            raise CorpusFormatError(f"{where}: CALL_ID {call!r}, APIN {a!r}, BPIN "
                                    f"{b!r} (allowed: a five-digit call id and two "
                                    "PINs)")
        held = pins.setdefault(f"fe_03_{call}", (a, b))
        if held != (a, b):
            raise CorpusFormatError(f"{where}: call {call} with PINs {a}, {b}; an "
                                    f"earlier row gives {held[0]}, {held[1]} (allowed: "
                                    "one pair of PINs a call)")


def _calldata_text(table: Path) -> str:
    """A calldata table's text (a BOM dropped); not UTF-8: an error naming its line."""
    raw = table.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line_no = raw[:e.start].count(b"\n") + 1
        raise CorpusFormatError(f"{table}:{line_no}: not UTF-8 text ({e.reason} at byte "
                                f"{e.start}) (allowed: LDC's calldata table as shipped)"
                                ) from None


class FisherCorpus:
    """Every call transcript ``fe_03_NNNNN.txt`` under ``root`` (LDC's ``data/trans/NNN/``
    or anywhere else) and its audio (read lazily); ``pattern``: a glob for other names
    (a duplexsim corpus's ``fisher/`` folder holds ``<id>.txt``)."""

    name = "fisher"
    preset = "fisher"

    def __init__(self, root: str | Path, sample_rate_hz: int | None = 8000,
                 pattern: str | None = None):
        self.root = Path(root)
        self.sample_rate_hz = sample_rate_hz
        self._pattern = pattern
        if not self.root.is_dir():
            raise MissingInputError(str(self.root), "", "corpus folder not found",
                                    "an existing folder")
        # one walk of the tree (tens of thousands of files in LDC's releases), its files
        # by name ending; BBN's originals (LDC2004T19/LDC2005T19 data/bbn_orig/) come last
        by_ext: dict[str, list[Path]] = {}
        bbn: list[Path] = []
        for path, in_bbn in tree_files(self.root):
            if in_bbn and pattern is not None:  # (a duplexsim corpus's folder: not a release)
                break
            if in_bbn:
                bbn.append(path)
            else:  # the name from its last dot (".txt" too, as "*.txt" takes it)
                dot = path.name.rfind(".")
                by_ext.setdefault(path.name[dot:] if dot >= 0 else "", []).append(path)
        bbn.sort()
        txt = by_ext.get(".txt", [])
        copies = self._read_transcripts(call_files(txt, ".txt", pattern))
        if (not self._transcripts and bbn) or (self.root.name == BBN_ORIG and pattern is None):
            raise CorpusFormatError(f"{self.root}: BBN's original transcripts ({BBN_ORIG}/), "
                                    "which duplexsim does not read (allowed: the release's "
                                    "folder holding data/trans/, where LDC gives every call "
                                    "in its format)")
        if not self._transcripts:
            raise CorpusFormatError(f"{self.root}: empty corpus: no "
                                    f"{pattern or 'fe_03_NNNNN'}.txt transcripts")
        self._audio: dict[str, Path] = {}
        for ext in reversed(AUDIO_EXTS):  # earlier extensions win (a converted .wav, .sph)
            found: dict[str, Path] = {}
            for path in call_files(by_ext.get(ext, []), ext, pattern):
                seen = found.setdefault(path.stem, path)
                if seen != path and not filecmp.cmp(seen, path, shallow=False):
                    raise CorpusFormatError(f"{path}: a second, different {ext} file of call "
                                            f"{path.stem} (the first: {seen}; allowed: one "
                                            "per call and format)")
            self._audio.update(found)
        self.calldata_tables = [p for name in CALLDATA
                                for p in call_files(by_ext.get(".tbl", []), "", name)]
        """LDC's call tables (:data:`CALLDATA`) under the root, by name, then path."""
        self._pins: dict[str, tuple[str, str]] | None = None
        # what was passed over, for the summary a user sees (:meth:`read_summary`)
        other = [] if pattern is not None else [
            p for p in call_files(txt, ".txt", "*") if not CALL_ID.fullmatch(p.stem)]
        unheard = [p for id, p in sorted(self._audio.items()) if id not in self._transcripts]
        self._skipped = {"second_copies": copies, "other_txt": other,
                         "audio_without_transcript": unheard, "bbn_orig": bbn}

    def _read_transcripts(self, paths: list[Path]) -> list[Path]:
        """Take the call transcripts ``paths`` (sorted) in call order; returns the identical
        second copies passed over (a different one is an error)."""
        self._transcripts: dict[str, Path] = {}
        copies: list[Path] = []  # identical second copies of a call's transcript
        for path in paths:
            seen = self._transcripts.setdefault(path.stem, path)
            if seen != path and seen.read_bytes() != path.read_bytes():
                raise CorpusFormatError(f"{path}: a second, different transcript of call "
                                        f"{path.stem} (the first: {seen}; allowed: one per "
                                        "call, e.g. one unpacked copy of each release)")
            if seen != path:
                copies.append(path)
        # in call order, however the releases are unpacked: the split of an import is drawn
        # over this order, and the same calls under other folder names got another split
        self._transcripts = dict(sorted(self._transcripts.items()))
        return copies

    def call_pins(self) -> dict[str, tuple[str, str]]:
        """Each call's speaker PINs from the tree's :attr:`calldata_tables`
        (:func:`call_pins`), read at the first call only: an import's split and its summary
        line ask for them both."""
        if self._pins is None:
            self._pins = call_pins(self.calldata_tables)
        return self._pins

    def read_counts(self) -> dict[str, int]:
        """How many call transcripts were read, and how many files of each kind skipped."""
        return {"transcripts": len(self._transcripts),
                **{kind: len(paths) for kind, paths in self._skipped.items()}}

    def read_summary(self) -> str:
        """One line: the transcripts read and the files skipped, with an example of each
        (LDC's docs, a second unpacked copy, the audio of a call without a transcript)."""
        what = {"second_copies": "identical second copies",
                "other_txt": ".txt not named as a call",
                "audio_without_transcript": "call's audio without a transcript",
                "bbn_orig": f"files of BBN's original transcripts in {BBN_ORIG}/ (data/trans "
                            "holds the same calls)"}
        return read_line(f"{len(self._transcripts)} call transcripts "
                         f"({'fe_03_NNNNN' if self._pattern is None else self._pattern}.txt)",
                         {what[kind]: paths for kind, paths in self._skipped.items()})

    def ids(self, split: str | None = None) -> list[str]:
        """Every call (a real tree has no splits: any ``split`` but None is an error)."""
        no_splits(self.root, self.name, split)
        return list(self._transcripts)

    def transcript_path(self, id: str) -> Path:
        if id not in self._transcripts:
            raise unknown_conversation(self.root, id, self.ids())
        return self._transcripts[id]

    def audio_path(self, id: str) -> Path:
        if id not in self._audio:
            names = ", ".join(id + e for e in AUDIO_EXTS)
            raise AudioError(f"{self.transcript_path(id)}: refers to audio {names}: "
                             f"none found under {self.root}")
        return self._audio[id]

    def source_files(self, id: str) -> list[Path]:
        """The files call ``id`` is read from: its transcript and its audio (raises
        :class:`AudioError` without one)."""
        return [self.transcript_path(id), self.audio_path(id)]

    def dialogue(self, id: str, audio: bool = True, tokenizer=None) -> Dialogue:
        """Segments (+ audio when ``audio``; + units when a tokenizer is given)."""
        transcript = self.transcript_path(id)
        segs = read_transcript(transcript)
        if not segs:  # a call is never silent: an empty or cut-off copy
            raise CorpusFormatError(f"{transcript}: no segments (allowed: at least "
                                    "one 'start end A: text' or 'start end B: text' line)")
        wave, sr = None, None
        if audio or tokenizer is not None:
            wave, sr = read_audio(self.audio_path(id), channels=2,
                                  sample_rate_hz=self.sample_rate_hz)
        return Dialogue.from_recording(id, segs, wave, sr, keep_audio=audio, tokenizer=tokenizer,
                                       audio_files=[self._audio[id]] if id in self._audio else [],
                                       transcript=transcript)

    def dialogues(self, split: str | None = None, audio: bool = True, tokenizer=None):
        for i in self.ids(split):
            yield self.dialogue(i, audio=audio, tokenizer=tokenizer)
