"""The small dialogue shipped inside the package (``duplexsim/data/default_dialogue.npz``).

60 s of a synthetic fisher-like conversation as 25 Hz units ``[2, 1500]`` plus its
segments, used by replay partners and the Gymnasium env with no setup. Rebuild it with
``python -m duplexsim.corpora.default [CORPUS_DIR] [--out PATH]`` (default: builds a 0.05 h
fisher-like corpus with seed 0 in a temp dir, named :data:`BUILT_NAME` so the rebuild is the
shipped file byte for byte, and takes the first 60 s of its first conversation).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from importlib import resources
from pathlib import Path

import numpy as np

from duplexsim.atomic import atomic_path
from duplexsim.corpora.types import Dialogue, Segment
from duplexsim.tokens import DEFAULT_N_UNITS

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
    # count (added after the resource shipped) only where it is not 1: a rebuild stays the
    # shipped bytes
    segments = [{k: v for k, v in s.__dict__.items() if k != "count" or v != 1}
                for s in dialogue.segments]
    meta = {"id": dialogue.id, "segments": segments, **info}
    with atomic_path(path) as tmp, tmp.open("wb") as fh:
        np.savez_compressed(fh, units=dialogue.units.astype(np.int16),
                            meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8))


BUILT_NAME = "duplexsim-default"
"""The folder the default corpus is built in (inside a temporary one): its name is the
corpus's name and goes into the resource's metadata, so it is fixed (a random temp folder's
name made every rebuild differ from the shipped file)."""


def rebuild(corpus_dir: str | Path | None = None, out: str | Path | None = None) -> Path:
    """Regenerate the resource from a fisher-like corpus: ``corpus_dir``, else one built
    afresh (seed 0, byte for byte the shipped file's) in a temporary folder removed after.
    ``out``: where to write it (default: the package's resource)."""
    out = Path(__file__).resolve().parent.parent / "data" / RESOURCE if out is None else Path(out)
    if corpus_dir is not None:
        _write_from(corpus_dir, out)
        return out
    from duplexsim.corpora.build import build_corpus
    from duplexsim.corpora.config import load_config

    with tempfile.TemporaryDirectory(prefix="duplexsim-default-") as tmp:
        built = Path(tmp) / BUILT_NAME
        build_corpus(built, load_config("fisher-like", conversation_s=180.0), hours=0.05,
                     seed=0, n_units=DEFAULT_N_UNITS, workers=1)
        _write_from(built, out)
    return out


def _write_from(corpus_dir: str | Path, out: Path) -> None:
    """The resource from the first 60 s of ``corpus_dir``'s first dialogue, written to ``out``."""
    from duplexsim.corpora.corpus import load_corpus

    corpus = load_corpus(corpus_dir)
    d = corpus.dialogue(corpus.ids()[0]).crop(0.0, 60.0)
    tok = corpus.tokenizer()
    write_default(d, out, {"corpus": corpus.name, "preset": corpus.preset,
                           "n_units": corpus.n_units, "silence_units": sorted(tok.silence_units)})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m duplexsim.corpora.default",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("corpus_dir", nargs="?", default=None,
                        help="a fisher-like corpus (default: build one in a temp folder)")
    parser.add_argument("--out", type=Path, default=None,
                        help=f"where to write the resource (default: the package's {RESOURCE})")
    args = parser.parse_args(argv)
    print(rebuild(args.corpus_dir, args.out))
    return 0


if __name__ == "__main__":
    from duplexsim.cli import run_reporting

    raise SystemExit(run_reporting(main, "duplexsim.corpora.default"))
