"""Turn a real Fisher or CANDOR tree into a duplexsim corpus (``duplexsim corpus import``).

``train``, ``continue``, ``simulate`` (replay) and the envs read a *built* corpus (units,
splits, manifest: docs/interfaces.md "Corpus on disk"); the real readers
(:mod:`duplexsim.corpora.fisher`, :mod:`duplexsim.corpora.candor`) give annotations and
audio only. This writes the same layout from a real tree: each conversation's audio (at
one rate for the corpus), both transcripts and its units under a given unit tokenizer
(``duplexsim units train --corpus TREE``), a seeded train/val/test split, the tokenizer
copied in, the manifest last. Each file is written atomically; a rerun resumes (skips
conversations whose units exist) and refuses a folder imported with other settings
(``import.json``), a finished import of other conversations, conversations whose source
files changed after they were imported (``sources/ID.json``), or a synthetic corpus.
Every conversation's audio is looked up before anything is written.
Must not train or simulate.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import soundfile as sf
from tqdm import tqdm

from duplexsim.atomic import write_json
from duplexsim.audio.io import AudioError, check_decodable, resample, write_audio
from duplexsim.config.loader import read_json
from duplexsim.corpora import candor, fisher
from duplexsim.corpora.corpus import FORMAT, assign_splits, corpus_name, open_corpus
from duplexsim.digests import file_digest
from duplexsim.errors import OutputError

WRITTEN_DIRS = ("audio", "units", "fisher", "candor", "sources", "tokenizer")
"""The folders an import writes into (``out/<name>/``)."""


def split_ids(ids: list[str], seed: int, val_share: float, test_share: float) -> dict[str, str]:
    """Id -> split (:func:`~duplexsim.corpora.corpus.assign_splits`)."""
    split = assign_splits(len(ids), np.random.SeedSequence(seed), val_share, test_share)
    return dict(zip(ids, split, strict=True))


def import_corpus(tree: str | Path, out: str | Path, tokenizer_dir: str | Path, *,
                  seed: int = 0, val_share: float = 0.1, test_share: float = 0.1,
                  sample_rate_hz: int | None = None, progress: bool = True) -> dict:
    """Write the duplexsim corpus of the Fisher or CANDOR tree ``tree`` into ``out``; returns
    its manifest. ``sample_rate_hz``: the corpus's audio rate (default: the first
    conversation's; others are resampled to it)."""
    from duplexsim.corpora.build import write_units
    from duplexsim.units import copy_tokenizer, load_tokenizer, tokenizer_digest

    tree, out, tok_dir = Path(tree), Path(out), Path(tokenizer_dir)
    if out.resolve().is_relative_to(tree.resolve()):  # a rerun would read its own writes
        raise OutputError(str(out), "", f"is inside the tree it imports ({tree}): the "
                          "transcripts and audio written there would join the tree",
                          "a folder outside the tree")
    for name in WRITTEN_DIRS:  # e.g. tree work/candor, out work: its transcripts rewritten
        if tree.resolve().is_relative_to((out / name).resolve()):
            raise OutputError(str(out), "", f"holds the tree it imports ({tree}) in its "
                              f"{name}/ folder, where the import writes: the tree's files "
                              "would be overwritten", "a folder whose "
                              f"{'/, '.join(WRITTEN_DIRS)}/ do not hold the tree")
    source = open_corpus(tree, built=False)
    tok = load_tokenizer(tok_dir)
    record = {"source": str(tree.resolve()), "kind": source.name, "seed": seed,
              "val_share": val_share, "test_share": test_share,
              "sample_rate_hz": sample_rate_hz, "tokenizer_sha256": tokenizer_digest(tok_dir)}
    ids = source.ids()
    _check_record(out, record, ids)
    files = _source_files(source, ids)
    _check_sources(out, tree, files)
    write_json(out / "import.json", record)
    splits = split_ids(ids, seed, val_share, test_share)
    entries, rate = [], sample_rate_hz
    for id in tqdm(ids, desc="import", unit="conv", disable=not progress):
        paths = {"audio": out / "audio" / f"{id}.flac", "units": out / "units" / f"{id}.npy",
                 "txt": out / "fisher" / f"{id}.txt",
                 "csv": out / "candor" / id / "transcription" / "transcript_audiophile.csv",
                 "sources": out / "sources" / f"{id}.json"}
        if _imported(out, id):
            if not paths["sources"].is_file():  # imported before these records: as it is now
                write_json(paths["sources"], _source_record(tree, files[id]))
            meta = sf.info(str(paths["audio"]))
            rate = rate or int(meta.samplerate)
            entries.append({"id": id, "duration_s": meta.frames / meta.samplerate,
                            "split": splits[id], "audio": f"audio/{id}.flac",
                            "units": f"units/{id}.npy"})
            continue
        sources = _source_record(tree, files[id])  # before reading: a later change shows
        d = source.dialogue(id, audio=True)
        rate = rate or int(d.sample_rate_hz)
        wave = d.audio if d.sample_rate_hz == rate else resample(d.audio, d.sample_rate_hz, rate)
        write_audio(paths["audio"], wave, rate)
        fisher.write_transcript(paths["txt"], d.segments, audio_name=paths["audio"].name)
        candor.write_transcript(paths["csv"], d.segments)
        write_json(paths["sources"], sources)
        write_units(tok, wave, rate, paths["units"])
        entries.append({"id": id, "duration_s": wave.shape[1] / rate, "split": splits[id],
                        "audio": f"audio/{id}.flac", "units": f"units/{id}.npy"})
    copy_tokenizer(tok_dir, out / "tokenizer")
    manifest = {
        "format": FORMAT, "name": corpus_name(out), "preset": source.name, "seed": seed,
        "sample_rate_hz": rate, "n_units": tok.n_units, "tokenizer": "tokenizer",
        "silence_units": sorted(tok.silence_units), "source": str(tree.resolve()),
        "dialogues": entries,
    }
    write_json(out / "manifest.json", manifest)
    return manifest


def _check_record(out: Path, record: dict, ids: list[str]) -> None:
    """Refuse an ``out`` that holds another import (other settings, or a finished import of
    other conversations: the split of those it holds would change), or a corpus ``corpus
    build`` wrote."""
    if (out / "build.json").is_file():
        raise OutputError(str(out), "", "holds a synthetic corpus (build.json)",
                          "an empty folder or an earlier import of the same tree")
    if not (out / "import.json").is_file():
        if (out / "manifest.json").is_file():
            raise OutputError(str(out), "", "holds a corpus that was not imported",
                              "an empty folder or an earlier import of the same tree")
        return
    previous = read_json(out / "import.json", what="import.json")
    for key, value in record.items():
        if previous.get(key) != value:
            raise OutputError(str(out), key, f"holds an import made with "
                              f"{json.dumps(previous.get(key))}, not {json.dumps(value)}",
                              "the same settings to resume, or an empty folder")
    if (out / "manifest.json").is_file():
        dialogues = read_json(out / "manifest.json", what="manifest.json").get("dialogues")
        # an entry without a string id (edited or damaged) holds no conversation of the tree
        held: list[str] = [d["id"] for d in dialogues if isinstance(d, dict)
                           and isinstance(d.get("id"), str)] if isinstance(dialogues, list) else []
        new, gone = sorted(set(ids) - set(held)), sorted(set(held) - set(ids))
        if new or gone:
            raise OutputError(str(out), "", f"holds an import of {len(held)} conversations; "
                              f"the tree has {len(new)} more {_some(new)} and {len(gone)} "
                              f"fewer {_some(gone)}: importing them here would re-split the "
                              "conversations it holds", "the same tree to resume, or an "
                              "empty folder for the changed tree")


def _source_files(source: fisher.FisherCorpus | candor.CandorCorpus, ids: list[str]
                  ) -> dict[str, list[Path]]:
    """Each conversation's source files (its reader's ``source_files``), before anything is
    written: a conversation without its audio, or with audio only sph2pipe decodes
    (shorten SPHERE), was found only when the import reached it, after writing those
    before it. Refuses naming the first such conversation's audio."""
    files, missing, undecodable = {}, [], []
    for id in ids:
        try:
            files[id] = source.source_files(id)
        except AudioError as e:
            missing.append(e)
            continue
        try:
            for path in files[id]:  # transcripts too: only a SPHERE header can say no
                check_decodable(path)
        except AudioError as e:
            undecodable.append(e)
    if missing:
        raise AudioError(f"{missing[0]} ({len(missing)} of {len(ids)} conversations lack "
                         "their audio; nothing was written)")
    if undecodable:
        raise AudioError(f"{undecodable[0]} ({len(undecodable)} of {len(ids)} conversations' "
                         "audio cannot be read; nothing was written)")
    return files


def _imported(out: Path, id: str) -> bool:
    """Whether conversation ``id`` is in ``out`` whole (its units are written last)."""
    return (out / "units" / f"{id}.npy").is_file() and (out / "audio" / f"{id}.flac").is_file()


def _source_record(tree: Path, paths: list[Path]) -> dict:
    """What a conversation is imported from (``sources/ID.json``): each file's path in the
    tree, size, modification time and sha256."""
    record = {}
    for path in paths:
        st = path.stat()
        record[path.relative_to(tree).as_posix()] = {
            "size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": file_digest(path)}
    return {"files": record}


def _check_sources(out: Path, tree: Path, files: dict[str, list[Path]]) -> None:
    """Refuse to resume an import whose conversations were imported from files that have
    changed since (a corrected transcript): a resume skips what is imported, so it would
    keep the old import. A file of the same size and time is taken as unchanged; another
    time, as changed only when its sha256 differs (a ``touch`` or a copy is no change)."""
    changed, imported = [], 0
    for id, paths in files.items():
        record = out / "sources" / f"{id}.json"
        if not _imported(out, id) or not record.is_file():
            continue
        imported += 1
        held = read_json(record, what="import source record").get("files")
        held = held if isinstance(held, dict) else {}
        now = {p.relative_to(tree).as_posix(): p for p in paths}
        for name in sorted(set(held) | set(now)):
            what = ("was removed" if name not in now else "was added" if name not in held
                    else None if _unchanged(now[name], held[name]) else "changed")
            if what:
                changed.append((id, tree / name, what))
                break
    if changed:
        id, path, what = changed[0]
        raise OutputError(str(out), "", f"holds conversation {id} imported before its source "
                          f"{path} {what} ({len(changed)} of {imported} imported conversations "
                          "have changed sources): a resume would keep the old import",
                          "the files as they were to resume, or an empty folder to import "
                          "the changed tree")


def _unchanged(path: Path, held: object) -> bool:
    """Whether ``path`` still holds what ``held`` (its :func:`_source_record` entry) says."""
    if not isinstance(held, dict):
        return False
    try:
        st = path.stat()
    except OSError:
        return False
    if st.st_size != held.get("size"):
        return False
    return st.st_mtime_ns == held.get("mtime_ns") or file_digest(path) == held.get("sha256")


def _some(ids: list[str]) -> str:
    """Up to three ids in parentheses (empty for none)."""
    return f"({', '.join(ids[:3])}{', ...' if len(ids) > 3 else ''})" if ids else ""
