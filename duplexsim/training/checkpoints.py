"""Training checkpoints: atomic save, safe load (``weights_only=True``), clear errors.

Owns: the checkpoint file format. A checkpoint holds the model, optimizer and schedule
position, the torch RNG states (the CPU generator's, and on CUDA the device's:
:func:`rng_states`), the data position (the step: batches are pure functions of
it), the finished stages with their validation losses, the resolved card and the number of
training processes, so a resumed run continues bit for bit. Beside it, its sha256
(:func:`digest_path`, ``last.pt.json``), checked on load: torch keeps no checksum, so a
flipped bit in a checkpoint resumed silently. :class:`RunState` is what a resume restores
besides the weights. Must not touch the data or the model's construction.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from duplexsim.atomic import atomic_path, write_json
from duplexsim.config.card import card_with_defaults
from duplexsim.digests import check_recorded, file_digest
from duplexsim.errors import InputError

CHECKPOINT_FORMAT = "duplexsim-checkpoint/1"
_REQUIRED = {"stage": str, "step": int, "done": dict, "model": dict, "optimizer": dict,
             "torch_rng": torch.Tensor, "log": list}
"""What a resume reads from every checkpoint (the other keys came later: defaults apply)."""
_OPTIONAL: dict[str, type | tuple[type, ...]] = {
    "cuda_rng": torch.Tensor, "kept": dict, "best": dict, "pending": list, "threads": list,
    "precision": list, "elapsed_s": (float, int)}
"""Keys only some checkpoints hold (``cuda_rng``: written on CUDA; the others came later):
checked where present."""
_ITEMS: dict[str, type | tuple[type, ...]] = {
    "done": (float, int), "kept": int, "pending": (float, int), "threads": int, "precision": str}
"""The values a resume reads inside containers (``done``: each finished stage's validation
loss; ``kept``: its step; ``pending``: training losses)."""
_STAGES = ("stage1", "stage2", "stage3")
RESUMABLE_KEYS = frozenset({"train.checkpoint_every", "train.log_every"})
"""Card keys a resume may change: when checkpoints are written and how often a
``train_log`` row is, not one weight (a changed ``val_every`` moves ``keep_best``'s choice)."""


@dataclass
class RunState:
    """What a checkpoint restores besides weights."""

    stage: str = ""
    step: int = 0
    done: dict[str, float] = field(default_factory=dict)  # finished stage -> val loss
    log: list[dict[str, Any]] = field(default_factory=list)
    kept: dict[str, int] = field(default_factory=dict)  # finished stage -> step of its weights
    best: dict[str, Any] = field(default_factory=dict)
    """This stage's lowest validation loss so far: ``{"val_loss", "step", "model"}`` (a CPU
    copy of the weights; empty before the first validation or with ``keep_best = false``)."""
    pending: list[float] = field(default_factory=list)
    """Training losses of the steps since the last ``train_log`` row (``[train] log_every``)."""
    stopped: dict[str, Any] | None = None
    """Set when ``--max-minutes`` ended the run early (never saved: a resume clears it)."""
    threads: list[int] = field(default_factory=list)
    """torch's thread count at the start and at every resume that changed it: the weights
    are those of one count only when this holds one."""
    precision: list[str] = field(default_factory=list)
    """``"bf16"`` or ``"fp32"`` (:func:`~duplexsim.training.trainer.bf16_autocast`) at the
    start and at every resume that changed it (a checkpoint moved between machines)."""
    elapsed_s: float = 0.0
    """Wall seconds this stage had trained up to the checkpoint (``train_log``'s
    ``elapsed_s`` goes on from it after a resume instead of starting again at 0)."""


def digest_path(path: str | Path) -> Path:
    """The file beside checkpoint ``path`` that records its sha256 (``last.pt.json``:
    ``{"sha256": ...}``)."""
    path = Path(path)
    return path.with_name(path.name + ".json")


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """Write ``state`` (tensors, state dicts, plain values) atomically, then its sha256
    (:func:`digest_path`). The old digest goes before the rename, so a kill between the
    rename and the new digest leaves a checkpoint without one (loaded unchecked), never one
    beside another checkpoint's digest (a false alarm)."""
    digest = digest_path(path)
    with atomic_path(path) as tmp:
        torch.save({"format": CHECKPOINT_FORMAT, **state}, tmp)
        sha256 = file_digest(tmp)
        digest.unlink(missing_ok=True)
    write_json(digest, {"sha256": sha256})


def check_digest(path: Path) -> None:
    """``path`` still has the sha256 its :func:`digest_path` records (none recorded: a
    checkpoint written before digests, or one whose digest a kill cut off: unchecked).
    :func:`~duplexsim.digests.file_digest` remembers an unchanged file's digest, so the
    CLI's early check and the resume read a checkpoint written earlier once."""
    digest = digest_path(path)
    if not digest.is_file():
        return
    advice = "delete checkpoints/ to start training over"
    try:
        recorded = json.loads(digest.read_text(encoding="utf-8")).get("sha256")
    except (OSError, UnicodeDecodeError, ValueError, AttributeError):
        recorded = None
    if not (isinstance(recorded, str) and len(recorded) == 64):
        raise InputError(str(digest), "sha256", "unreadable (not a JSON object with the "
                         "checkpoint's sha256)", f'{{"sha256": "<64 hex digits>"}}; {advice}')
    check_recorded(path, recorded, digest.name, "it was written",
                   f"the checkpoint as written; {advice}")


def data_fingerprint(train: Sequence[Any], val: Sequence[Any]) -> str:
    """A hash of what training reads from the dialogues (units and segments, in order, of
    the train and the val split): a run resumed on other data would mix two corpora."""
    h = hashlib.sha256()
    for split, dialogues in (("train", train), ("val", val)):
        h.update(f"{split}:{len(dialogues)}".encode())
        for d in dialogues:
            if d.units is not None:
                h.update(np.ascontiguousarray(d.units, dtype=np.int64).tobytes())
            h.update(repr([(s.speaker, s.start_s, s.end_s, s.text, getattr(s, "kind", ""))
                           for s in d.segments]).encode())
    return h.hexdigest()


def load_checkpoint(path: str | Path, card: dict[str, Any], vocab_size: int | None,
                    data: str = "", world: int | None = None, mmap: bool = False
                    ) -> dict[str, Any]:
    """Load a checkpoint written for this card, vocabulary, data and number of processes
    (``world``); anything else is a clear error (``vocab_size=None`` / ``data=""`` /
    ``world=None``: not checked, e.g. before the vocabulary is built; a checkpoint written
    before data or processes were recorded is not checked for them either).

    ``mmap=True``: the tensors are mapped from the file, not read (``torch.load``'s
    ``mmap``), for a check that reads none of them: ``duplexsim train`` checks a checkpoint
    before it reads the corpus, and the resume reads it again (a 768 MB one: 0.05 s against
    1.0 s). A file of torch's legacy format, which cannot be mapped, is read. Either way the
    file is hashed against its digest (:func:`check_digest`) first."""
    path = Path(path)
    check_digest(path)
    state = _read_state(path, mmap)
    _check_contents(path, state)
    _check_run(path, state, card, vocab_size, data, world)
    return state


def _read_state(path: Path, mmap: bool) -> dict[str, Any]:
    """The duplexsim checkpoint in ``path``, read safely (``weights_only``)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True,
                           mmap=mmap and zipfile.is_zipfile(path))
    except (RuntimeError, EOFError, pickle.UnpicklingError, ValueError, OSError) as e:
        raise InputError(str(path), "", f"corrupt checkpoint ({type(e).__name__}: {e})",
                         "delete it to start over") from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise InputError(str(path), "format", "not a duplexsim checkpoint", CHECKPOINT_FORMAT)
    return state


def _check_contents(path: Path, state: dict[str, Any]) -> None:
    """Every key a resume reads is there and of its type (a damaged or hand-edited file: not
    a KeyError or a bare TypeError later), and the stage and step are ones training has."""
    for key, kind in _REQUIRED.items():
        if not _is(state.get(key), kind):
            raise InputError(str(path), key, f"{type(state.get(key)).__name__} (missing or of "
                             "another type)", f"a {kind.__name__}; delete it to start over")
    for key, kinds in _OPTIONAL.items():
        if key in state and not _is(state[key], kinds):
            raise InputError(str(path), key, f"{type(state[key]).__name__} (of another type)",
                             f"a {_names(kinds)}; delete it to start over")
    for key, kinds in _ITEMS.items():  # what restore turns into numbers: not a bare TypeError
        items = state.get(key) or ()
        bad = [v for v in (items.values() if isinstance(items, dict) else items)
               if not _is(v, kinds)]
        if bad:
            raise InputError(str(path), key, f"holds {bad[0]!r} ({type(bad[0]).__name__})",
                             f"{_names(kinds)} values; delete it to start over")
    best = state.get("best")
    if best and not (_is(best.get("val_loss"), float) and _is(best.get("step"), int)
                     and _is(best.get("model"), dict)
                     and best["model"].keys() == state["model"].keys()):
        raise InputError(str(path), "best", f"keys {sorted(map(str, best))} (missing, of "
                         "other types, or weights of other tensors than model's)",
                         "empty, or val_loss (float), step (int) and model (the weights' "
                         "tensors); delete it to start over")
    if state["stage"] not in _STAGES or state["step"] < 0:
        raise InputError(str(path), "stage", f"{state['stage']!r} step {state['step']}",
                         f"one of {', '.join(_STAGES)} at a step >= 0; delete it to start over")


def _check_run(path: Path, state: dict[str, Any], card: dict[str, Any], vocab_size: int | None,
               data: str, world: int | None) -> None:
    """The checkpoint ``state`` belongs to this run: its vocabulary, data, number of
    processes and card (:func:`load_checkpoint`)."""
    if vocab_size is not None and state.get("vocab_size") != vocab_size:
        raise InputError(str(path), "vocab_size", f"checkpoint vocabulary "
                         f"{state.get('vocab_size')} != this run's {vocab_size}: it belongs to "
                         "another card or corpus", "a fresh --out, or delete checkpoints/")
    if data and state.get("data") and state["data"] != data:
        raise InputError(str(path), "data", "checkpoint was trained on other dialogues (another "
                         "corpus, split or corpus build)", "the same --corpus, a fresh --out, "
                         "or delete checkpoints/")
    if world is not None and isinstance(state.get("world"), int) and state["world"] != world:
        # every rank draws its own batches and a tokens budget is split over the ranks: in
        # another number of processes the stage's steps, lr schedule and data are others
        n = state["world"]
        launch = f"{n} processes (torchrun --nproc-per-node {n})" if n > 1 else \
            "one process (no launcher)"
        raise InputError(str(path), "world", f"checkpoint was written by {n} training "
                         f"process{'es' if n > 1 else ''}, this run has {world} (the batches "
                         "per step, and with a tokens budget the steps and lr schedule, would "
                         "change mid-stage)", f"{launch}, a fresh --out, or delete checkpoints/")
    saved = card_with_defaults(state.get("card"))
    differ = [k for k in card_differences(saved, card) if k not in RESUMABLE_KEYS]
    if differ:
        raise InputError(str(path), "card", "checkpoint was written for a different agent card "
                         f"(keys differ: {', '.join(differ)})",
                         "the card (and --seed) it was written for, a fresh --out, or delete "
                         "checkpoints/")


def _is(value: Any, kind: type | tuple[type, ...]) -> bool:
    """``isinstance``, a bool counting as no number."""
    return isinstance(value, kind) and not isinstance(value, bool)


def _names(kind: type | tuple[type, ...]) -> str:
    return " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))


def rng_states(device: str) -> dict[str, torch.Tensor]:
    """The torch generator states a checkpoint keeps (``torch_rng``: the CPU generator's;
    on CUDA also ``cuda_rng``, ``device``'s generator, which draws dropout on the GPU, e.g.
    a ``model.init_from`` Llama's ``attention_dropout``)."""
    states = {"torch_rng": torch.get_rng_state()}
    if device.startswith("cuda"):
        states["cuda_rng"] = torch.cuda.get_rng_state(device)
    return states


def set_rng_states(state: dict[str, Any], device: str) -> None:
    """Put back what :func:`rng_states` saved. Under DDP rank 0's states are restored on every
    rank: each rank's generators were seeded alike and draw alike, so they are the same. A
    checkpoint written without CUDA leaves a CUDA run's generator as seeded, and one written
    on CUDA resumed without it has no CUDA generator to restore."""
    torch.set_rng_state(state["torch_rng"])
    if device.startswith("cuda") and isinstance(state.get("cuda_rng"), torch.Tensor):
        torch.cuda.set_rng_state(state["cuda_rng"], device)


def card_differences(saved: Any, card: dict[str, Any]) -> list[str]:
    """``table.key`` of every key whose value differs between two card dicts (the table alone
    where either side has no such table): ``train.seed`` says at once that a replicate
    trained with ``--seed`` is resumed without it."""
    saved = saved if isinstance(saved, dict) else {}
    out = []
    for table in sorted(set(card) | set(saved)):
        a, b = saved.get(table), card.get(table)
        if a == b:
            continue
        if isinstance(a, dict) and isinstance(b, dict):
            out += [f"{table}.{k}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
        else:
            out.append(table)
    return out
