"""Build a synthetic corpus directory: audio, annotations, tokenizer, units, manifest.

Layout as docs/interfaces.md "Corpus on disk". Conversation i is generated from
``SeedSequence(seed, spawn_key=(i,))``, so it does not depend on how many are built. Each
file is written atomically and the manifest last; a rerun skips conversations whose files
exist (an interrupted build resumes). TTS runs in a process pool (``workers``).

A build first records its parameters in ``build.json`` (seed, preset, synthesis
parameters, unit count, tokenizer). A rerun with other parameters is refused
(:class:`~duplexsim.errors.OutputError`): the old audio and units would otherwise sit under
a manifest that describes the new ones. ``rebuild=True`` deletes the corpus's own files
first. Only the number of hours may change between runs: the conversations stay the same
bytes and keep their split (only the new conversations are split, into the test and val
places the direct build of the new size holds beyond the kept ones; a shrink keeps the
dropped ones' splits in the manifest's ``earlier_splits``), and
the tokenizer stays the one the first build trained, so an extended corpus is not the
direct build of its size (its split and tokenizer differ; build the size a study uses).
A first build cut short (no manifest yet) and run again for other hours is the direct
build of those: a tokenizer it trained for another plan (``build.json``'s
``tokenizer_ids``) is retrained, and the units re-encoded; one it trained into a
``--tokenizer`` folder (outside the corpus, perhaps shared) is refused instead. A run that
trains a tokenizer (also one whose ``tokenizer/`` a user deleted) first deletes ``units/``:
every unit is encoded with the tokenizer the corpus holds.
The manifest records each conversation's drawn style (``synth.conversation_style``: the
tempo and both channels' turn-taking parameters and voices), redrawn from the seed.
The checks of a rerun against ``build.json`` (resume, extend, refuse, rebuild) live in
:mod:`duplexsim.corpora.rebuild`.
"""

from __future__ import annotations

import dataclasses
import math
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from tqdm import tqdm

from duplexsim.atomic import atomic_path, write_json
from duplexsim.audio.framing import FRAME_RATE_HZ
from duplexsim.audio.io import read_audio, write_audio
from duplexsim.config.readers import read_json
from duplexsim.corpora import candor, fisher
from duplexsim.corpora.calibration import population_centres
from duplexsim.corpora.config import SynthConfig
from duplexsim.corpora.corpus import FORMAT, assign_splits, corpus_name, split_counts
from duplexsim.corpora.rebuild import CORPUS_MARKERS, CORPUS_PARTS, build_record, check_rebuild
from duplexsim.corpora.synth import conversation_style, generate
from duplexsim.corpora.types import Dialogue
from duplexsim.errors import InputError
from duplexsim.threads import warn_unpinned_openblas
from duplexsim.tokens import DEFAULT_N_UNITS
from duplexsim.units import tokenizer_digest

if TYPE_CHECKING:
    from duplexsim.corpora.style import Centres
    from duplexsim.units import UnitTokenizer

# the refusal checks moved to rebuild.py: importable from here as before
__all__ = ["CORPUS_MARKERS", "CORPUS_PARTS", "build_corpus", "build_record", "check_rebuild",
           "ensure_tokenizer", "plan", "plan_id", "rendered", "tokenizer_ids", "write_units"]


def _earlier_splits(manifest: dict) -> dict[str, str]:
    """``earlier_splits`` of a manifest: id -> split of the dialogues a shrink dropped (so
    that extending it again gives them back their split, not a new draw)."""
    earlier = manifest.get("earlier_splits", {})
    if not isinstance(earlier, dict):
        return {}
    return {str(k): v for k, v in earlier.items() if v in ("train", "val", "test")}


def plan(cfg: SynthConfig, hours: float, seed: int,
         previous: dict[str, str] | None = None) -> list[dict]:
    """Ids and splits (:func:`~duplexsim.corpora.corpus.assign_splits`).

    ``previous``: id -> split of the corpus already built in the folder (an extension to
    more hours), and of those an earlier shrink of it dropped (the manifest's
    ``earlier_splits``): those dialogues keep their split and only the new ones are split,
    taking the test and val places that the direct build of the new size holds beyond the
    kept ones (:func:`~duplexsim.corpora.corpus.split_counts`; none when the kept ones fill
    them). A split drawn over all of them moved dialogues between train, val and test, so
    an agent trained on the smaller corpus found its held-out dialogues in the larger one's
    train split, and the other way round; new ones split among themselves drifted the
    shares (120 conversations extended two at a time to 140: 22 test, 12 val, not 14, 14)."""
    # half up, as a user reads "rounded" (round() went to even: 0.25 h of 600 s calls gave
    # 2 conversations, 0.75 h gave 4)
    n = max(1, math.floor(hours * 3600 / cfg.conversation_s + 0.5))
    ids = [plan_id(cfg, i) for i in range(n)]
    before = previous or {}
    kept = {i: before[id] for i, id in enumerate(ids) if id in before}
    new = [i for i in range(n) if i not in kept]
    key = (2**31,) if not kept else (2**31, len(kept))  # a direct build: the split it had
    # the new ones fill what the direct build of n holds beyond the kept ones (split among
    # themselves, extensions two at a time held out one of every two)
    n_test, n_val = split_counts(n, cfg.val_share, cfg.test_share)
    n_test = min(len(new), max(0, n_test - sum(s == "test" for s in kept.values())))
    n_val = min(len(new) - n_test, max(0, n_val - sum(s == "val" for s in kept.values())))
    drawn = assign_splits(len(new), np.random.SeedSequence(seed, spawn_key=key),
                          cfg.val_share, cfg.test_share, (n_test, n_val)) if new else []
    split = {**kept, **dict(zip(new, drawn, strict=True))}
    return [{"index": i, "id": ids[i], "split": split[i]} for i in range(n)]


def _paths(out: Path, id: str) -> dict[str, Path]:
    return {"audio": out / "audio" / f"{id}.flac", "units": out / "units" / f"{id}.npy",
            "txt": out / "fisher" / f"{id}.txt",
            "csv": out / "candor" / id / "transcription" / "transcript_audiophile.csv"}


def rendered(out: Path, id: str) -> bool:
    """True when conversation ``id``'s audio and annotations are in ``out`` (a resumed
    build skips it)."""
    paths = _paths(out, id)
    return paths["csv"].is_file() and paths["audio"].is_file()


def _render(job: tuple[SynthConfig, int, int, str, str | None]) -> str:
    cfg, seed, index, out, cache = job
    job_id = plan_id(cfg, index)
    p = _paths(Path(out), job_id)
    audio, segments, _ = generate(cfg, np.random.SeedSequence(seed, spawn_key=(index,)), cache)
    write_audio(p["audio"], audio, cfg.sample_rate_hz)
    fisher.write_transcript(p["txt"], segments, audio_name=p["audio"].name)
    candor.write_transcript(p["csv"], segments)  # written last: marks the conversation done
    return job_id


def plan_id(cfg: SynthConfig, index: int) -> str:
    """Conversation id: preset name without dashes + index (``fisherlike_00003``)."""
    return f"{cfg.name.replace('-', '')}_{index:05d}"


def _encode(job: tuple[str, str, str]) -> str:
    from duplexsim.units import load_tokenizer

    tok_dir, audio_path, units_path = job
    wave, sr = read_audio(audio_path, channels=2)
    write_units(load_tokenizer(tok_dir), wave, sr, units_path)
    return units_path


def write_units(tok: UnitTokenizer, wave: np.ndarray, sample_rate: int, path: str | Path) -> None:
    """A conversation's units ``int16 [2, T]`` (one row per channel of ``wave`` ``[2, N]``,
    encoded by the unit tokenizer ``tok``) to ``path``, atomically: what every corpus holds
    in ``units/`` (built, or imported by :mod:`duplexsim.corpora.importer`)."""
    units = np.stack([tok.encode(ch, sample_rate) for ch in wave]).astype(np.int16)
    with atomic_path(path) as tmp, tmp.open("wb") as fh:
        np.save(fh, units)


class _TrainChannels:
    """Re-iterable ``(wave, sr, annotated speech)`` per channel of the given conversations."""

    def __init__(self, out: Path, ids: list[str]):
        self.out, self.ids = out, ids

    def __iter__(self):
        for id in self.ids:
            p = _paths(self.out, id)
            wave, sr = read_audio(p["audio"], channels=2)
            segs = candor.read_transcript(p["csv"], list(candor.WRITTEN_SPEAKERS))[0]
            vad = Dialogue(id, segs, duration_s=wave.shape[1] / sr).segment_vad(
                wave.shape[1] * FRAME_RATE_HZ // sr)
            yield from ((wave[c], sr, vad[c]) for c in range(2))


def ensure_tokenizer(out: Path, entries: list[dict], tokenizer_dir: str | Path | None,
                     n_units: int, train_hours: float, conv_s: float, seed: int,
                     workers: int = 1) -> Path:
    """Train on this corpus (train split, at most ``train_hours``) unless the dir exists
    (features in ``workers`` processes). Training first deletes ``out/units``: units
    encoded with another tokenizer (one deleted, or retrained for another plan) sat beside
    the new one, and a rerun encoded only the missing ones."""
    from duplexsim.units import TokenizerConfig, copy_tokenizer, train_tokenizer

    tok_dir = Path(tokenizer_dir) if tokenizer_dir else out / "tokenizer"
    if not (tok_dir / "config.json").is_file():
        shutil.rmtree(out / "units", ignore_errors=True)  # before: a kill leaves none behind
        ids = tokenizer_ids(entries, train_hours, conv_s)
        print(f"training a mel-kmeans tokenizer ({n_units} units) on {len(ids)} conversations")
        config = TokenizerConfig(n_units=n_units, seed=seed % 2**32)  # scikit-learn's range
        tok = train_tokenizer(_TrainChannels(out, ids), config, workers=workers)
        tok.save(tok_dir)
    local = out / "tokenizer"
    if tok_dir.resolve() != local.resolve():
        copy_tokenizer(tok_dir, local)
    return local


def tokenizer_ids(entries: list[dict], train_hours: float, conv_s: float) -> list[str]:
    """The conversations a build trains its tokenizer on: the train split's first
    ``train_hours`` (all of them when the plan has no train dialogue)."""
    ids = [e["id"] for e in entries if e["split"] == "train"] or [e["id"] for e in entries]
    return ids[: max(1, int(train_hours * 3600 // conv_s))]


def _trained_on(out: Path, tokenizer_dir: str | Path | None, earlier: dict,
                entries: list[dict], published: bool, train_hours: float,
                conv_s: float) -> list[str] | None:
    """The ids the tokenizer that this build trained (into ``out/tokenizer``, or into
    ``tokenizer_dir``) was trained on (``build.json``'s ``tokenizer_ids`` of the run before,
    ``earlier``); None if unknown or none is there.

    One trained by a first build cut short (no manifest: not ``published``) for another
    plan (other hours or ``train_hours``) is deleted (the units encoded with it go when it
    is retrained), so the resumed build is the direct one: it kept a tokenizer trained on
    the smaller plan's train split, other units than a fresh build's, and dialogues the new
    plan holds out. One in ``tokenizer_dir`` is refused (InputError) instead: that folder
    is outside the corpus and may be shared, not the build's to delete."""
    ids = earlier.get("tokenizer_ids")
    tok_dir = Path(tokenizer_dir) if tokenizer_dir else out / "tokenizer"
    if not isinstance(ids, list) or not (tok_dir / "config.json").is_file():
        return None
    wanted = tokenizer_ids(entries, train_hours, conv_s)
    if published or ids == wanted:
        return ids
    if tokenizer_dir:
        raise InputError(str(tokenizer_dir), "--tokenizer", "holds the tokenizer this build "
                         f"trained for a plan of other hours (on {len(ids)} of its "
                         f"conversations, this plan on {len(wanted)}): stale for this one",
                         "delete that folder to train it anew for this plan, or another "
                         "--tokenizer folder")
    print("retraining the tokenizer: the one here was trained for a build of other hours")
    shutil.rmtree(tok_dir, ignore_errors=True)
    return None


def build_corpus(out: str | Path, cfg: SynthConfig, *, hours: float, seed: int = 0,
                 preset: str = "", tokenizer_dir: str | Path | None = None,
                 cache_dir: str | Path | None = None, workers: int = 2,
                 n_units: int = DEFAULT_N_UNITS, train_hours: float = 2.0,
                 rebuild: bool = False) -> dict:
    """Build (or resume) a corpus in ``out``; returns the manifest plus timing.

    A corpus already in ``out`` built with other parameters is refused unless ``rebuild``
    (module doc)."""
    out = Path(out)
    t0 = time.perf_counter()
    record = build_record(cfg, seed, preset, n_units, tokenizer_dir)
    check_rebuild(out, record, rebuild)
    warn_unpinned_openblas()  # the tokenizer it trains, and the units' mel features, follow it
    previous = _previous_splits(out)
    earlier = read_json(out / "build.json", what="build.json") \
        if (out / "build.json").is_file() else {}
    entries = plan(cfg, hours, seed, previous)
    trained_on = _trained_on(out, tokenizer_dir, earlier, entries, previous is not None,
                             train_hours, cfg.conversation_s)
    if trained_on is not None:  # kept while the tokenizer is: a rerun cut short still knows
        record["tokenizer_ids"] = trained_on
    write_json(out / "build.json", record)
    todo = [e for e in entries if not rendered(out, e["id"])]
    cache = None if cache_dir is None else str(cache_dir)
    centres = population_centres(cfg)  # cached before the pool forks: workers inherit it
    _pool_map(_render, [(cfg, seed, e["index"], str(out), cache) for e in todo], workers, "speech")
    if not (Path(tokenizer_dir or out / "tokenizer") / "config.json").is_file():  # trained now
        record["tokenizer_ids"] = tokenizer_ids(entries, train_hours, cfg.conversation_s)
        write_json(out / "build.json", record)  # before: a kill after its save still knows
    tok_dir = ensure_tokenizer(out, entries, tokenizer_dir, n_units, train_hours,
                               cfg.conversation_s, seed, workers)
    # the tokenizer the units are encoded with (trained now, or given): a later run whose
    # tokenizer differs (retrained in place) is refused instead of mixing two in one corpus
    record["tokenizer_sha256"] = tokenizer_digest(tokenizer_dir or tok_dir)
    write_json(out / "build.json", record)
    pending = [e for e in entries if not _paths(out, e["id"])["units"].is_file()]
    _pool_map(_encode, [(str(tok_dir), str(_paths(out, e["id"])["audio"]),
                         str(_paths(out, e["id"])["units"])) for e in pending], workers, "units")
    manifest = _manifest(out, cfg, seed, preset, entries, previous, tok_dir, centres)
    write_json(out / "manifest.json", manifest)
    wall = time.perf_counter() - t0
    audio_h = len(entries) * cfg.conversation_s / 3600
    built_h = len(todo) * cfg.conversation_s / 3600
    return {**manifest, "wall_s": wall, "audio_hours": audio_h, "built_hours": built_h}


def _previous_splits(out: Path) -> dict[str, str] | None:
    """The splits of the corpus in ``out`` that this run extends (or shrinks): its
    manifest's dialogues' and its ``earlier_splits``; None when it has no manifest yet."""
    if not (out / "manifest.json").is_file():
        return None
    before = read_json(out / "manifest.json", what="corpus manifest.json")
    return {**_earlier_splits(before),
            **{d["id"]: d["split"] for d in before.get("dialogues", [])}}


def _manifest(out: Path, cfg: SynthConfig, seed: int, preset: str, entries: list[dict],
              previous: dict[str, str] | None, tok_dir: Path, centres: Centres) -> dict:
    """``manifest.json`` of the corpus in ``out``: its parameters, the tokenizer in
    ``tok_dir``, each of ``entries`` with its drawn style, and the splits of ``previous``'s
    dialogues that the plan dropped (``earlier_splits``)."""
    from duplexsim.units import load_tokenizer

    tok = load_tokenizer(tok_dir)
    styles = {e["id"]: conversation_style(cfg, np.random.SeedSequence(seed, spawn_key=(
        e["index"],))).record(cfg, centres) for e in entries}
    manifest = {
        "format": FORMAT, "name": corpus_name(out), "preset": preset or cfg.name, "seed": seed,
        "sample_rate_hz": cfg.sample_rate_hz, "n_units": tok.n_units, "tokenizer": "tokenizer",
        "silence_units": sorted(tok.silence_units), "params": dataclasses.asdict(cfg),
        "style_centres": dataclasses.asdict(centres),
        "dialogues": [{"id": e["id"], "duration_s": cfg.conversation_s, "split": e["split"],
                       "audio": f"audio/{e['id']}.flac", "units": f"units/{e['id']}.npy",
                       "style": styles[e["id"]]}
                      for e in entries],
    }
    built = {e["id"] for e in entries}
    earlier = {k: v for k, v in sorted((previous or {}).items()) if k not in built}
    if earlier:  # a shrunk corpus remembers its dropped dialogues' splits for a re-extension
        manifest["earlier_splits"] = earlier
    return manifest


def _pool_map(fn, jobs: list, workers: int, desc: str) -> None:
    if not jobs:
        return
    if workers <= 1 or len(jobs) == 1:
        for job in tqdm(jobs, desc=desc, unit="conv"):
            fn(job)
        return
    with ProcessPoolExecutor(min(workers, len(jobs))) as pool:
        for _ in tqdm(pool.map(fn, jobs), total=len(jobs), desc=desc, unit="conv"):
            pass
