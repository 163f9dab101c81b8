"""What a hubert-kmeans tokenizer records of its HuBERT, and the checks that its
``hubert_dir`` still holds that model.

Its units mean nothing under another model, even one of the same width: training records
the model's fingerprint (:func:`hubert_fingerprint`) in the tokenizer's config.json, and
loading refuses a folder that now holds another one (:func:`recorded_hubert` at load for
another width, :func:`check_hubert_digest` before the first encode for other bytes).
Reads files only; never loads the model (:mod:`duplexsim.units.hubert` runs it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from duplexsim.config.readers import json_number, read_json
from duplexsim.errors import InputError

HUBERT_WEIGHTS = ("*.safetensors", "*.bin")
"""The files of a HuBERT folder that hold weights (save_pretrained's and older downloads')."""


def hubert_fingerprint(model_dir: str | Path) -> dict[str, Any]:
    """What a hubert-kmeans tokenizer records of its HuBERT: ``hidden_size`` (the feature
    width its centroids have) and ``digest`` (sha256 over config.json and the weight files):
    the units mean nothing under another model, even one of the same width. (Training adds
    ``normalize``: whether the model was fed standardised waves, ``chunk_s``: the seconds of
    audio it was run on at a time, and ``context_s``: the seconds of audio each side of a
    chunk fed with it, so encoding does as training did.)"""
    from duplexsim.digests import directory_digest

    root = Path(model_dir)
    hidden = read_json(root / "config.json", what="HuBERT config.json").get("hidden_size")
    weights = sorted({f.name for pattern in HUBERT_WEIGHTS for f in root.glob(pattern)})
    return {"hidden_size": hidden, "digest": directory_digest(root, ("config.json", *weights))}


def recorded_hubert(meta: dict[str, Any], file: str, hubert_dir: str,
                    ) -> dict[str, Any] | None:
    """The HuBERT fingerprint ``meta`` (a tokenizer's config.json, read from ``file``)
    records, refused when ``hubert_dir`` (its ``config.hubert_dir``) now holds a model of
    another width (it failed at the first encode with a bare matmul error); another model of
    the same width (it encoded into meaningless units) is refused by
    :func:`check_hubert_digest` (:meth:`~duplexsim.units.kmeans.KMeansTokenizer.check_hubert`,
    before the first encode). Tokenizers saved before the fingerprint was recorded are not
    checked."""
    recorded = meta.get("hubert")
    if recorded is None:
        return None
    if not isinstance(recorded, dict) or not {"hidden_size", "digest"} <= recorded.keys() \
            or not isinstance(recorded.get("normalize", False), bool):
        raise InputError(file, "hubert", f"{recorded!r}",
                         "an object with hidden_size, digest and normalize (true or false)")
    from duplexsim.units.hubert import RANGES_S

    for key, (low, high) in RANGES_S.items():  # (absent: saved before it was recorded)
        if key in recorded:
            json_number({f"hubert.{key}": recorded[key]}, file, f"hubert.{key}", low, high)
    hidden = read_json(Path(hubert_dir) / "config.json",
                       what="HuBERT config.json").get("hidden_size")
    if hidden != recorded["hidden_size"]:
        raise InputError(file, "config.hubert_dir", f"{hubert_dir!r} holds a HuBERT of "
                         f"hidden_size {hidden}, trained with {recorded['hidden_size']}",
                         _HUBERT_ALLOWED)
    return recorded


_HUBERT_ALLOWED = "the HuBERT model the tokenizer was trained with (or train a new tokenizer)"


def check_hubert_digest(recorded: dict[str, Any], file: str, hubert_dir: str) -> None:
    """Refuse (:class:`InputError` naming ``file``'s ``config.hubert_dir``) a ``hubert_dir``
    whose model is not the ``recorded`` one: it hashes the weights (seconds for a real
    HuBERT)."""
    now = hubert_fingerprint(hubert_dir)["digest"]
    if now != recorded["digest"]:
        raise InputError(file, "config.hubert_dir", f"{hubert_dir!r} holds another "
                         f"HuBERT than the one trained with (digest {now}, trained with "
                         f"{recorded['digest']})", _HUBERT_ALLOWED)
