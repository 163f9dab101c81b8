"""Content digests of the files a result is made from, for cache keys.

A cached result (a sweep cell, an experiment's conversation) is reused when its key
matches. A key made of paths and parameters alone reuses the results of an agent retrained
or a corpus rebuilt in the same place; these digests go into the key as well. Owns: the
digest of a file (remembered per path, size, times and inode, so a sweep of thousands
of cells reads each agent once), of named files (a unit tokenizer's, remembered alike),
and of the agent and corpus directories a scenario names, with the rule for which unit
tokenizer folder a corpus manifest names (:func:`tokenizer_folder`; the corpus reader
applies it too). Must not load models or corpora.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from duplexsim.sides import SIDES

_SEEN: dict[tuple[object, ...], str] = {}
_RACY_NS = 3_000_000_000
"""A file changed this recently (or later) when hashed is hashed again next time: a rewrite
within the file system's timestamp granularity (a jiffy; 2 s on FAT) keeps size and times."""
_now_ns = time.time_ns

AGENT_FILES = ("agent.json", "model/config.json", "model/*.safetensors",
               "model/*.safetensors.index.json")
"""What makes an agent directory's behaviour: its description and its weights, one file
(``model.safetensors``) or the shards and index ``save_pretrained`` writes for a model past
its shard size (a real Llama's ``model-00001-of-00004.safetensors``...)."""
TOKENIZER_FILES = ("tokenizer/config.json", "tokenizer/arrays.safetensors")
"""The unit tokenizer an agent or corpus directory carries (its ``tokenizer/``; both
``corpus build`` and ``corpus import`` write it there and name it so in the manifest): what
its units sound like (a trace's audio), not what an agent says."""
CORPUS_FILES = ("manifest.json",)
"""A corpus's manifest records every dialogue it holds and how the corpus was built: what
``agent.json``'s ``corpus_digest`` covers (kept so: agents trained before still match the
corpus they were trained on). Not the tokenizer's identity: the manifest names its folder."""
CORPUS_INPUT_FILES = CORPUS_FILES + TOKENIZER_FILES
"""What a cached result made from a corpus is keyed by: its manifest and the tokenizer its
units were encoded with (the folder the manifest names: :func:`corpus_input_digest`).
``corpus build --rebuild`` with another tokenizer can write a byte-identical manifest over
units of another inventory, whose cached cells and continuations were reused."""
SIMULATOR_VERSION = "2026-12-07.3"
"""Part of every cache key of a simulated or generated conversation: changed whenever the
code gives other traces from the same inputs (a timing rule, the agents' numerics, what an
agent's context holds) or other metrics from the same trace (a sweep cell stores its
metrics row), so that results cached by an earlier version are made anew rather than mixed
with new ones. 2026-12-05: estimates re-fed after an earlier chunk is replaced, and the
backchannel definition (bade1ba).
2026-12-05.2: continuations cover the whole window after a prompt that is no whole number
of chunks (160 ms: 563 chunks, not 562); an IPU at a window's first frame is no backchannel.
2026-12-06: nor is an IPU at a window's last frame (right-censored), nor one that ends
with the partner's speech without the partner going on after it; an FTO is measured
from the outgoing speaker's last IPU before the incoming one's sole speech; a zero-length gap
row (a switch without silence) is no gap in the gap statistics; overlap_median_ms and the
protocol's overlap mean are of transition overlaps only (experiments/architectures.py's
too: it took -FTO, silence between two double-talk runs included). Traces: a bandwidth hop past the
first serialises packets in the order they reach it (other traces on such paths); transit_*
is measured from the chunk's first spoken frame on the speaker's clock (other values under
drift); scripted partners draw voice activity, units and holds from streams of their own (a
chunk's units no longer depend on the scenario's length) and speak none of the partner's
silence units; a trace's silence_units are every silence unit of both sides; a SyncLLM
piece of no new unit at a window's first chunk is in the context as the unit it goes on
with ([S1] u), so later sampling differs where an agent sampled one.
2026-12-06.3: the HF fallback forward runs each row of a longrope (or dynamic) RoPE model
in a call of its own: a row beside one past the original length got the long factors (other
logits, other traces for such agents in a batch; lean-forward agents unchanged).
2026-12-06.4: a packet lost on a hop past the first crosses the hops before it (their fifo
order, their serialisation): other traces on paths with a loss behind a jittery fifo or a
bandwidth hop (single-hop links and the shipped scenarios unchanged).
2026-12-06.5: delay spikes (satellite-leo's handovers) start at a point of their period
drawn from the scenario's seed, shared by both directions: every conversation began inside
a spike (other traces for links with spikes only).
2026-12-06.6: compute.model = "profile" charges nothing for a decision without tokens (a TDM
chunk after its slice's <idle> / <eos> was charged overhead_ms): other traces for TDM sides
under a profile with overhead_ms > 0 (the shipped scenarios unchanged).
2026-12-07.2: a SyncLLM side's generated_tokens counts every draw once: the tag that ended
an own piece (unless an estimate reused it) and the [S0] that ended an estimate were
counted as prefill; other generated_tokens / prefill_tokens columns in every SyncLLM trace,
and other compute times under compute.model = "profile" (fisher-candor-satellite-geo:
6 ms a draw instead of 0.05).
2026-12-07.3: every simulated time rounded to whole ms takes half a ms up
(:func:`duplexsim.sim.clock.round_ms`): a drifting clock's instants and a heard chunk's span
rounded to even (24000 ppm: 312.5 -> 312 but 937.5 -> 938). Other traces where a drifting
clock hits a half ms (chunk ends, frame starts, decision times; the timeline heard) or a
link's exit time lies within a float's rounding under a half (floor(t + 0.5) carried it up); the
shipped scenarios unchanged (only scripted-mobile-lte drifts, 50 ppm: no tie, same trace)."""


def _stat_key(p: Path) -> tuple[str, int, int, int, int] | None:
    """What a remembered digest of ``p`` is kept under (None: no such file): with the
    inode and change time as well, a file replaced by a copy that kept its size and
    modification time (``cp -p``, ``rsync -a``, an unpacked archive) is another file."""
    try:
        st = p.stat()
    except (OSError, ValueError):  # ValueError: a NUL in the path, which no file has
        return None
    return (str(p.resolve()), st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns)


def _remembered(kind: tuple[str, ...], keys: list[tuple[str, int, int, int, int]],
                digest: Callable[[], str]) -> str:
    """``digest()`` of the files whose :func:`_stat_key` are ``keys``, remembered under
    ``kind`` (what else the value depends on) while none of them changes; one changed too
    recently to tell (:data:`_RACY_NS`) is hashed again next time."""
    if not keys:
        return digest()
    key = (*kind, *keys)
    if key in _SEEN:
        return _SEEN[key]
    value = digest()
    if _now_ns() - max(max(k[2], k[4]) for k in keys) > _RACY_NS:
        _SEEN[key] = value
    return value


def file_digest(path: str | Path) -> str:
    """sha256 (hex) of a file's bytes; "" when there is no such file."""
    p = Path(path)
    stat = _stat_key(p)
    if stat is None:
        return ""

    def digest() -> str:
        h = hashlib.sha256()
        with p.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        return h.hexdigest()

    return _remembered(("bytes",), [stat], digest)


def check_recorded(path: str | Path, recorded: str, record: str, since: str,
                   allowed: str) -> None:
    """Raise an :class:`~duplexsim.errors.InputError` naming ``path`` when the file's sha256
    is not ``recorded`` (what ``record`` holds for it: safetensors and torch files keep no
    checksum, so a flipped bit loaded silently), saying it was corrupted or modified since
    ``since``; a missing file is the reader's to name."""
    from duplexsim.errors import InputError

    found = file_digest(path)
    if found and found != recorded:
        raise InputError(str(path), "", f"corrupted or modified since {since} (its sha256 "
                         f"{found[:16]}... is not {record}'s {recorded[:16]}...)", allowed)


def named_files_digest(files: list[Path]) -> str:
    """sha256 (hex) over each of ``files`` in order: its name, a NUL, its bytes (what
    :func:`duplexsim.units.tokenizer_digest` records); remembered as :func:`file_digest` is,
    so checking a tokenizer per trace or cell reads it once."""
    def digest() -> str:
        h = hashlib.sha256()
        for f in files:
            h.update(f.name.encode() + b"\0" + f.read_bytes())
        return h.hexdigest()

    keys = [_stat_key(f) for f in files]
    if any(k is None for k in keys):  # one gone since it was listed: read_bytes says so
        return digest()
    # the names as given: two links to one file under other names are other digests
    return _remembered(("named", *(f.name for f in files)), [k for k in keys if k], digest)


RESULTS_MARK = "Made from results.parquet sha256 "
"""How a table derived from a sweep's ``results.parquet`` (the experiments' ``effects_*.md``)
names the results it was made from, so a later ``duplexsim report`` can tell it is stale."""


def results_mark(run_dir: str | Path) -> str:
    """The line a derived table of the sweep in ``run_dir`` carries (:data:`RESULTS_MARK`)."""
    return f"{RESULTS_MARK}{file_digest(Path(run_dir) / 'results.parquet')[:16]}."


def stale_tables(run_dir: str | Path) -> list[Path]:
    """The markdown files directly in ``run_dir`` made from another ``results.parquet`` than
    the one there now (a sweep extended or rerun after them); files without the mark are
    not judged."""
    now = results_mark(run_dir)
    stale = []
    for md in sorted(Path(run_dir).glob("*.md")):
        text = md.read_text(encoding="utf-8", errors="replace")
        at = text.find(RESULTS_MARK)
        if at >= 0 and not text.startswith(now, at):
            stale.append(md)
    return stale


def array_digest(values: np.ndarray) -> str:
    """sha256 (16 hex) of an array's dtype, shape and values: a cached result made from
    units or audio in memory (a resynthesis, a transcript) keyed by exactly what it reads;
    equal dialogues, equal digests."""
    values = np.ascontiguousarray(values)
    h = hashlib.sha256(f"{values.dtype.str}{values.shape};".encode())
    h.update(values.tobytes())
    return h.hexdigest()[:16]


def directory_digest(root: str | Path, files: tuple[str, ...]) -> str:
    """sha256 (16 hex) over ``files`` inside ``root``: a missing file counts as empty; a
    name with ``*`` stands for the files it matches there, in sorted order (none: nothing)."""
    return _entries_digest(_entries(root, files))


def _entries(root: str | Path, files: tuple[str, ...]) -> list[tuple[str, Path]]:
    """(name, file) of each of ``files`` in ``root``, patterns expanded: what
    :func:`directory_digest` hashes."""
    root = Path(root)
    return [(name, root / name) for pattern in files for name in (
        [pattern] if "*" not in pattern else sorted(
            p.relative_to(root).as_posix() for p in root.glob(pattern) if p.is_file()))]


def _tokenizer_entries(folder: Path) -> list[tuple[str, Path]]:
    """:data:`TOKENIZER_FILES` of the unit tokenizer in ``folder``, named under the folder's
    own name (``shared_tok/config.json``): the usual ``tokenizer/`` is named as they are."""
    return _entries(folder.parent, tuple(
        f"{folder.name}/{Path(name).relative_to('tokenizer').as_posix()}"
        for name in TOKENIZER_FILES))


def _entries_digest(entries: list[tuple[str, Path]]) -> str:
    """sha256 (16 hex) over ``name=sha256;`` of each (name, file) (a missing file: empty)."""
    h = hashlib.sha256()
    for name, path in entries:
        h.update(f"{name}={file_digest(path)};".encode())
    return h.hexdigest()[:16]


def tokenizer_folder(root: str | Path, ref: object) -> Path | None:
    """The unit tokenizer folder a corpus manifest's ``tokenizer`` value ``ref`` names for
    the corpus in ``root``: relative to the corpus, or absolute; None when ``ref`` is no
    non-empty string. The one rule (:func:`duplexsim.corpora.corpus.tokenizer_dir` refuses
    the None)."""
    if not isinstance(ref, str) or not ref:
        return None
    return Path(ref) if Path(ref).is_absolute() else Path(root) / ref


def tokenizer_folder_digest(folder: str | Path) -> str:
    """Digest (16 hex) of the unit tokenizer in ``folder`` (its :data:`TOKENIZER_FILES`),
    its files named under the folder's own name: a corpus's usual ``tokenizer/`` gives
    ``directory_digest(corpus, TOKENIZER_FILES)``, and one folder named by an absolute or
    a relative path is one digest."""
    return _entries_digest(_tokenizer_entries(Path(folder)))


def corpus_input_digest(root: str | Path) -> str:
    """Digest (16 hex) of what a result made from the corpus in ``root`` is keyed by
    (:data:`CORPUS_INPUT_FILES`): its manifest and the unit tokenizer folder the manifest
    names (:func:`tokenizer_folder`), files named as :func:`tokenizer_folder_digest` names
    them, so the usual ``tokenizer/`` gives ``directory_digest(root, CORPUS_INPUT_FILES)``.
    A manifest that is missing, no JSON object or names no folder: ``root/tokenizer``
    (the corpus reader reports such a manifest). Once ``corpus/tokenizer/`` was hashed
    whatever the manifest named: a cell over a corpus with ``"tokenizer": "../shared_tok"``
    was reused after that tokenizer was retrained."""
    root = Path(root)
    folder = tokenizer_folder(root, _manifest_tokenizer(root / CORPUS_FILES[0])
                              ) or root / "tokenizer"
    return _entries_digest(_entries(root, CORPUS_FILES) + _tokenizer_entries(folder))


def _manifest_tokenizer(manifest: Path) -> str:
    """The ``tokenizer`` value of a corpus ``manifest`` ("tokenizer" when it has none; ""
    when the file is missing, unreadable, no JSON object or the value no string), remembered
    as :func:`file_digest` is: a sweep keys thousands of cells over one corpus."""
    def read() -> str:
        try:
            data = json.loads(manifest.read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError):  # ValueError: not UTF-8, not JSON
            return ""
        ref = data.get("tokenizer", "tokenizer") if isinstance(data, dict) else ""
        return ref if isinstance(ref, str) else ""

    stat = _stat_key(manifest)
    return _remembered(("manifest tokenizer",), [stat] if stat else [], read)


def scenario_inputs(config: Mapping[str, Any]) -> dict[str, str]:
    """Digests of the agent and corpus directories a scenario dict's sides name (a corpus's
    manifest and tokenizer, :func:`corpus_input_digest`), keyed ``"a.agent"``,
    ``"b.corpus"`` ..., and of every jitter trace file its network names,
    keyed by where (``"network.a_to_b.jitter_trace"``); relative paths are taken from the
    current directory, as the simulator takes them."""
    digests: dict[str, Callable[[str], str]] = {
        "agent": lambda path: directory_digest(path, AGENT_FILES), "corpus": corpus_input_digest}
    out = {}
    for key in SIDES:
        side = config.get(key)
        if not isinstance(side, Mapping):
            continue
        for field, digest in digests.items():
            path = side.get(field)
            if isinstance(path, str) and path:
                out[f"{key}.{field}"] = digest(path)
    return {**out, **trace_inputs(config)}


def trace_inputs(config: Mapping[str, Any]) -> dict[str, str]:
    """Digests (16 hex) of every jitter trace file a scenario dict's network names, keyed by
    where (``"network.a_to_b.jitter_trace"``): a simulation's input as its agents are."""
    return {where: file_digest(path)[:16]
            for where, path in _jitter_traces(config.get("network"), "network")}


def _jitter_traces(value: Any, where: str) -> list[tuple[str, str]]:
    """(dotted place, path) of each non-empty ``jitter_trace`` under ``value`` (links,
    topology edges)."""
    if isinstance(value, Mapping):
        return [hit for k, v in value.items() for hit in (
            [(f"{where}.{k}", v)] if k == "jitter_trace" and isinstance(v, str) and v
            else _jitter_traces(v, f"{where}.{k}"))]
    if isinstance(value, (list, tuple)):
        return [hit for i, v in enumerate(value) for hit in _jitter_traces(v, f"{where}[{i}]")]
    return []


def key_of(value: Any) -> str:
    """sha256 (16 hex) of ``value``'s canonical JSON (keys sorted; a whole float as the
    integer, so ``delay_ms = 160`` and ``160.0`` are one cell; other types as str)."""
    text = json.dumps(_canonical(value), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _canonical(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, Mapping):
        return {k: _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    return value


def scenario_key(config: Mapping[str, Any]) -> str:
    """Cache key of a scenario's simulation (16 hex): its dict (``Scenario.to_dict()``)
    and the contents of the agents, corpora and jitter traces it names
    (:func:`scenario_inputs`; and :data:`SIMULATOR_VERSION`)."""
    return key_of({"scenario": config, "inputs": scenario_inputs(config),
                   "simulator": SIMULATOR_VERSION})
