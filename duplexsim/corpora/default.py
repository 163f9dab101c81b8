"""The small dialogue shipped inside the package (``duplexsim/data/default_dialogue.npz``).

60 s of a synthetic fisher-like conversation as 25 Hz units ``[2, 1500]`` plus its
segments, used by replay partners and the Gymnasium env with no setup. Rebuild it with
``python -m duplexsim.corpora.default [CORPUS_DIR]`` (default: builds a 0.05 h fisher-like
corpus with seed 0 in a temp dir and takes the first 60 s of its first conversation).
"""

from __future__ import annotations

import json
import sys
import tempfile
from importlib import resources
from pathlib import Path

import numpy as np

from duplexsim.atomic import atomic_path
from duplexsim.corpora.types import Dialogue, Segment

RESOURCE = "default_dialogue.npz"


def default_dialogue() -> Dialogue:
    """The shipped 60 s dialogue (units + segments; no audio). Silence unit is 0."""
    with resources.files("duplexsim.data").joinpath(RESOURCE).open("rb") as fh:
        data = np.load(fh)
        units = data["units"].astype(np.int64)
        meta = json.loads(bytes(data["meta"]).decode())
    segs = [Segment(**s) for s in meta["segments"]]
    return Dialogue(meta["id"], segs, units, duration_s=units.shape[1] / 25)


def _default_meta() -> dict:
    """The shipped dialogue's metadata (no units loaded)."""
    with resources.files("duplexsim.data").joinpath(RESOURCE).open("rb") as fh:
        return json.loads(bytes(np.load(fh)["meta"]).decode())


def default_n_units() -> int:
    """The unit vocabulary of the shipped dialogue (from its metadata; no units loaded)."""
    return int(_default_meta()["n_units"])


def default_dialogue_id() -> str:
    """The id of the shipped dialogue (from its metadata; no units loaded)."""
    return str(_default_meta()["id"])


def write_default(dialogue: Dialogue, path: str | Path, info: dict) -> None:
    """Save ``dialogue`` (units + segments) as the compact package resource."""
    if dialogue.units is None:
        raise ValueError(f"write_default: dialogue {dialogue.id} has no units")
    meta = {"id": dialogue.id, "segments": [s.__dict__ for s in dialogue.segments], **info}
    with atomic_path(path) as tmp, tmp.open("wb") as fh:
        np.savez_compressed(fh, units=dialogue.units.astype(np.int16),
                            meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8))


def rebuild(corpus_dir: str | None = None) -> Path:
    """Regenerate the resource from a (freshly built) fisher-like corpus."""
    from duplexsim.corpora.build import build_corpus
    from duplexsim.corpora.corpus import load_corpus
    from duplexsim.corpora.synth import load_config

    if corpus_dir is None:
        corpus_dir = tempfile.mkdtemp(prefix="duplexsim-default-")
        build_corpus(corpus_dir, load_config("fisher-like", conversation_s=180.0), hours=0.05,
                     seed=0, n_units=501, workers=1)
    corpus = load_corpus(corpus_dir)
    d = corpus.dialogue(corpus.ids()[0]).crop(0.0, 60.0)
    tok = corpus.tokenizer()
    out = Path(__file__).resolve().parent.parent / "data" / RESOURCE
    write_default(d, out, {"corpus": corpus.name, "preset": corpus.preset,
                           "n_units": corpus.n_units, "silence_units": sorted(tok.silence_units)})
    return out


if __name__ == "__main__":
    print(rebuild(sys.argv[1] if len(sys.argv) > 1 else None))
