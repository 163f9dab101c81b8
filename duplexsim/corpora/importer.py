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
Every conversation's audio is looked up before anything is written. ``split_by="speaker"``
(Fisher only) keeps each speaker (PIN, LDC's calldata tables) in one split
(:func:`split_ids_by_speaker`); import.json records the tables' sha256, and a rerun on
edited tables is refused.
Must not train or simulate.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import soundfile as sf
from tqdm import tqdm

from duplexsim.atomic import write_json
from duplexsim.audio.io import AudioError, check_decodable, resample, write_audio
from duplexsim.config.readers import read_json
from duplexsim.corpora import candor, fisher
from duplexsim.corpora.corpus import (
    FORMAT,
    assign_splits,
    corpus_name,
    open_corpus,
    split_counts,
)
from duplexsim.digests import file_digest
from duplexsim.errors import InputError, MissingInputError, OutputError

if TYPE_CHECKING:
    from duplexsim.units import UnitTokenizer

WRITTEN_DIRS = ("audio", "units", "fisher", "candor", "sources", "tokenizer")
"""The folders an import writes into (``out/<name>/``)."""
SPLIT_BY = ("call", "speaker")
"""What an import's splits keep apart: conversations (the default), or speakers too."""
RECORD_DEFAULTS = {"split_by": "call"}
"""import.json keys added after the first imports, and what their absence means: an import
made with the default writes none of them, so the bytes of earlier imports stay as they
were."""


def split_ids(ids: list[str], seed: int, val_share: float, test_share: float) -> dict[str, str]:
    """Id -> split (:func:`~duplexsim.corpora.corpus.assign_splits`)."""
    split = assign_splits(len(ids), np.random.SeedSequence(seed), val_share, test_share)
    return dict(zip(ids, split, strict=True))


def speaker_components(pins: dict[str, tuple[str, str]], ids: list[str]) -> list[list[str]]:
    """The calls ``ids`` grouped so that no PIN (``pins``: call -> (APIN, BPIN)) is in two
    groups: the connected components of calls joined by a shared PIN, each sorted, in the
    order of their first call."""
    import networkx as nx

    graph = nx.Graph()
    graph.add_nodes_from(ids)
    graph.add_edges_from((id, ("pin", pin)) for id in ids for pin in pins[id])
    return sorted(sorted(n for n in c if isinstance(n, str))
                  for c in nx.connected_components(graph))


def split_ids_by_speaker(source: fisher.FisherCorpus, ids: list[str], seed: int,
                         val_share: float, test_share: float) -> dict[str, str]:
    """Id -> split with no speaker in two splits: whole :func:`speaker_components` go to
    test, then val, in a seeded order, each where it still fits in the call counts
    :func:`~duplexsim.corpora.corpus.split_counts` gives the calls; the rest to train. A
    component too big for test or val (Fisher's largest) stays in train, so the held-out
    splits may hold fewer calls than the shares: a warning says so when one holds under
    half of them (none, on a small tree of calls sharing PINs). Needs LDC's calldata table
    of every call in the tree ``source`` reads (its ``call_pins()``)."""
    tree, tables = source.root, source.calldata_tables
    expected = " or ".join(fisher.CALLDATA)
    if not tables:
        raise MissingInputError(str(tree), "--split-by speaker", f"no {expected} under the "
                                "tree (the speakers' PINs are in the releases' doc/ folders)",
                                "a tree holding LDC2004T19's and LDC2005T19's doc/, or "
                                "--split-by call")
    pins = source.call_pins()
    unknown = [id for id in ids if id not in pins]
    if unknown:
        shown = ", ".join(unknown[:3]) + (", ..." if len(unknown) > 3 else "")
        raise InputError(str(tree), "--split-by speaker", f"{len(unknown)} of {len(ids)} calls "
                         f"({shown}) are in no calldata table ({', '.join(map(str, tables))}): "
                         "their speakers are unknown", f"{expected} of every release the "
                         "tree's transcripts come from, or --split-by call")
    groups = speaker_components(pins, ids)
    n_test, n_val = split_counts(len(ids), val_share, test_share)
    room = {"test": n_test, "val": n_val}
    splits = {}
    for k in np.random.default_rng(np.random.SeedSequence(seed)).permutation(len(groups)):
        group = groups[k]
        split = next((s for s in ("test", "val") if len(group) <= room[s]), "train")
        room[split] = room.get(split, 0) - len(group)
        splits.update(dict.fromkeys(group, split))
    for split, share, wanted in (("test", test_share, n_test), ("val", val_share, n_val)):
        held = wanted - room[split]
        if 2 * held < wanted:  # (empty, or under half: a study's held-out set is not there)
            warnings.warn(
                f"split by speaker: {split} holds {held} of the {wanted} calls "
                f"--{split}-share {share:g} asks for: calls sharing a speaker (PIN) go into "
                f"one split together, and the {len(ids)} calls are {len(groups)} "
                f"group{'s' if len(groups) != 1 else ''} (largest "
                f"{max(map(len, groups))} calls; a group too big for test or val stays in "
                "train); --split-by call splits by call", stacklevel=2)
    return {id: splits[id] for id in ids}


def speaker_summary(source: fisher.FisherCorpus, manifest: dict) -> str:
    """One line on an import's speakers: PINs (the ``source`` tree's, as the split read
    them), components, the largest, and whether a PIN is in two splits of ``manifest``
    (read back, not assumed)."""
    pins = source.call_pins()
    split = {d["id"]: d["split"] for d in manifest["dialogues"]}
    groups = speaker_components(pins, list(split))
    in_splits: dict[str, set[str]] = {}
    for id, s in split.items():
        for pin in pins[id]:
            in_splits.setdefault(pin, set()).add(s)
    crossing = sorted(pin for pin, s in in_splits.items() if len(s) > 1)
    return (f"split by speaker: {len(in_splits)} speakers (PINs) in {len(groups)} groups of "
            f"calls sharing one (largest {max(map(len, groups))} calls); "
            + (f"{len(crossing)} PINs in two splits (e.g. {crossing[0]})" if crossing
               else "no PIN in two splits"))


class Imported(NamedTuple):
    """What :func:`import_corpus` wrote and read."""

    manifest: dict
    source: fisher.FisherCorpus | candor.CandorCorpus
    """The tree's reader the import used: its ``read_summary()`` says what of the tree was
    read and skipped, and a Fisher tree's ``call_pins()`` its speakers
    (:func:`speaker_summary`), without a second walk of the tree."""


def import_corpus(tree: str | Path, out: str | Path, tokenizer_dir: str | Path, *,
                  seed: int = 0, val_share: float = 0.1, test_share: float = 0.1,
                  sample_rate_hz: int | None = None, split_by: str = "call",
                  progress: bool = True) -> Imported:
    """Write the duplexsim corpus of the Fisher or CANDOR tree ``tree`` into ``out``; returns
    its manifest and the tree's reader (:class:`Imported`). ``sample_rate_hz``: the corpus's
    audio rate (default: the first conversation's; others are resampled to it).
    ``split_by``: "call" (each conversation drawn alone) or "speaker" (Fisher:
    :func:`split_ids_by_speaker`)."""
    from duplexsim.units import copy_tokenizer, load_tokenizer, tokenizer_digest

    tree, out, tok_dir = Path(tree), Path(out), Path(tokenizer_dir)
    _check_out(tree, out)
    if split_by not in SPLIT_BY:
        raise InputError("", "--split-by", repr(split_by), ", ".join(SPLIT_BY))
    source = open_corpus(tree, built=False)
    if split_by == "speaker" and not isinstance(source, fisher.FisherCorpus):
        raise InputError(str(tree), "--split-by speaker", f"a {source.name} tree: speakers are "
                         "known for Fisher trees only (LDC's calldata tables)", "--split-by call")
    tok = load_tokenizer(tok_dir)
    record = {"source": str(tree.resolve()), "kind": source.name, "seed": seed,
              "val_share": val_share, "test_share": test_share,
              "sample_rate_hz": sample_rate_hz, "tokenizer_sha256": tokenizer_digest(tok_dir),
              **({"split_by": split_by} if split_by != RECORD_DEFAULTS["split_by"] else {})}
    if split_by == "speaker":  # what the speaker groups come from (a by-call record: none)
        record["calldata_sha256"] = {p.relative_to(tree).as_posix(): file_digest(p)
                                     for p in source.calldata_tables}
    ids = source.ids()
    _check_record(out, record, ids)
    splits = (split_ids_by_speaker(source, ids, seed, val_share, test_share)
              if isinstance(source, fisher.FisherCorpus) and split_by == "speaker"
              else split_ids(ids, seed, val_share, test_share))
    files = _source_files(source, ids)
    _check_sources(out, tree, files)
    write_json(out / "import.json", record)
    entries, rate = [], sample_rate_hz
    for id in tqdm(ids, desc="import", unit="conv", disable=not progress):
        duration_s, rate = _import_conversation(source, tok, tree, out, id, files[id], rate)
        entries.append({"id": id, "duration_s": duration_s, "split": splits[id],
                        "audio": f"audio/{id}.flac", "units": f"units/{id}.npy"})
    copy_tokenizer(tok_dir, out / "tokenizer")
    manifest = {
        "format": FORMAT, "name": corpus_name(out), "preset": source.name, "seed": seed,
        "sample_rate_hz": rate, "n_units": tok.n_units, "tokenizer": "tokenizer",
        "silence_units": sorted(tok.silence_units), "source": str(tree.resolve()),
        "dialogues": entries,
    }
    write_json(out / "manifest.json", manifest)
    return Imported(manifest, source)


def _check_out(tree: Path, out: Path) -> None:
    """Refuse an ``out`` inside ``tree`` (a rerun would read its own writes) or one that
    holds the tree in a folder the import writes into."""
    if out.resolve().is_relative_to(tree.resolve()):
        raise OutputError(str(out), "", f"is inside the tree it imports ({tree}): the "
                          "transcripts and audio written there would join the tree",
                          "a folder outside the tree")
    for name in WRITTEN_DIRS:  # e.g. tree work/candor, out work: its transcripts rewritten
        if tree.resolve().is_relative_to((out / name).resolve()):
            raise OutputError(str(out), "", f"holds the tree it imports ({tree}) in its "
                              f"{name}/ folder, where the import writes: the tree's files "
                              "would be overwritten", "a folder whose "
                              f"{'/, '.join(WRITTEN_DIRS)}/ do not hold the tree")


def _import_conversation(source: fisher.FisherCorpus | candor.CandorCorpus, tok: UnitTokenizer,
                         tree: Path, out: Path, id: str, files: list[Path], rate: int | None
                         ) -> tuple[float, int]:
    """Write conversation ``id`` into ``out`` (its audio at ``rate``, None: its own, its
    transcripts, source record and units), or take it as it is where an earlier run
    imported it; returns its duration (s) and the corpus's rate."""
    from duplexsim.corpora.build import write_units

    paths = {"audio": out / "audio" / f"{id}.flac", "units": out / "units" / f"{id}.npy",
             "txt": out / "fisher" / f"{id}.txt",
             "csv": out / "candor" / id / "transcription" / "transcript_audiophile.csv",
             "sources": out / "sources" / f"{id}.json"}
    if _imported(out, id):
        if not paths["sources"].is_file():  # imported before these records: as it is now
            write_json(paths["sources"], _source_record(tree, files))
        meta = sf.info(str(paths["audio"]))
        rate = rate or int(meta.samplerate)
        return meta.frames / meta.samplerate, rate
    sources = _source_record(tree, files)  # before reading: a later change shows
    d = source.dialogue(id, audio=True)
    assert d.audio is not None and d.sample_rate_hz is not None  # (read with audio=True)
    rate = rate or int(d.sample_rate_hz)
    wave = d.audio if d.sample_rate_hz == rate else resample(d.audio, d.sample_rate_hz, rate)
    write_audio(paths["audio"], wave, rate)
    fisher.write_transcript(paths["txt"], d.segments, audio_name=paths["audio"].name)
    candor.write_transcript(paths["csv"], d.segments)
    write_json(paths["sources"], sources)
    write_units(tok, wave, rate, paths["units"])
    return wave.shape[1] / rate, rate


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
    _check_calldata(out, record, previous)
    for key in [*(k for k in record if k != "calldata_sha256"),
                *(k for k in RECORD_DEFAULTS if k not in record)]:
        made = previous.get(key, RECORD_DEFAULTS.get(key))
        value = record.get(key, RECORD_DEFAULTS.get(key))
        if made != value:
            raise OutputError(str(out), key, f"holds an import made with "
                              f"{json.dumps(made)}, not {json.dumps(value)}",
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


def _check_calldata(out: Path, record: dict, previous: dict) -> None:
    """Refuse to rerun a speaker-split import whose calldata tables (``record``'s
    ``calldata_sha256``: path in the tree -> sha256) differ from those ``previous`` (the
    held import.json) was split by: other PINs give other speaker groups, so other splits
    of the calls it holds. A record from before the tables were recorded is taken as it is
    (nothing to compare: this run records them)."""
    held, now = previous.get("calldata_sha256"), record.get("calldata_sha256")
    if not isinstance(held, dict) or now is None or previous.get("split_by") != "speaker":
        return  # (another split_by is refused by the record check)
    changed = [f"{record['source']}/{name} " + ("removed" if name not in now else "added"
                                                if name not in held else "changed")
               for name in sorted(set(held) | set(now)) if held.get(name) != now.get(name)]
    if changed:
        raise OutputError(str(out), "calldata_sha256", "holds an import split by speaker "
                          f"from calldata tables that have changed since ({', '.join(changed)}):"
                          " their PINs would re-split the conversations it holds", "the "
                          "tables as they were to resume, or an empty folder to import with "
                          "the changed tables")


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
