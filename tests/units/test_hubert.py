"""HuBERT features: large-style models (layer-norm feature extractor) get standardised waves."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from duplexsim.errors import InputError
from duplexsim.units import TokenizerConfig, load_tokenizer, train_tokenizer
from duplexsim.units.hubert import CHUNK_S, CONTEXT_S, HubertFeatures


def _tiny(folder: Path, norm: str) -> None:
    """A 2-layer HuBERT; ``norm="layer"`` with conv biases is HuBERT large's extractor."""
    import torch
    from transformers import HubertConfig, HubertModel

    torch.manual_seed(0)
    HubertModel(HubertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                             intermediate_size=64, conv_dim=(32,) * 7, num_conv_pos_embeddings=16,
                             num_conv_pos_embedding_groups=2, feat_extract_norm=norm,
                             conv_bias=norm == "layer", do_stable_layer_norm=norm == "layer",
                             )).save_pretrained(folder)


def _wave(seconds: float = 2) -> np.ndarray:
    t = np.arange(16000 * seconds) / 16000
    rng = np.random.default_rng(0)
    return (0.05 * np.sin(2 * np.pi * 180 * t) * (np.sin(2 * np.pi * 1.5 * t) > 0)
            + 0.01 * rng.standard_normal(t.size)).astype(np.float32)


def test_a_layer_norm_hubert_sees_the_wave_standardised(tmp_path: Path) -> None:
    """HuBERT large was trained on zero-mean unit-variance waves (fairseq ``normalize:
    true``; ``do_normalize`` in its preprocessor_config.json): fed raw samples at speech
    level, its features (and units) depended on the recording's gain and DC offset."""
    _tiny(tmp_path / "large", "layer")
    large = HubertFeatures(tmp_path / "large", layer=2)
    wave = _wave()
    assert large.normalize
    np.testing.assert_allclose(large(4 * wave + 0.01), large(wave), atol=1e-4)
    assert not np.allclose(HubertFeatures(tmp_path / "large", layer=2, normalize=False)(
        4 * wave + 0.01), large(wave), atol=1e-2)  # (the model does depend on the level)
    _tiny(tmp_path / "base", "group")  # HuBERT base: raw samples, as fairseq trained it
    assert not HubertFeatures(tmp_path / "base", layer=2).normalize


def _trained(tmp_path: Path, name: str, norm: str) -> tuple[np.ndarray, Path, dict]:
    """A 4-unit hubert-kmeans tokenizer trained on a 4 s wave over the tiny HuBERT
    ``tmp_path/name`` (``_tiny``'s ``norm``), saved in ``tmp_path/tok``: the wave, its
    config.json and what that holds."""
    _tiny(tmp_path / name, norm)
    conf = TokenizerConfig(type="hubert-kmeans", n_units=4, hubert_dir=str(tmp_path / name),
                           hubert_layer=1)
    wave = _wave(4)
    train_tokenizer([(wave, 16000, None)], conf).save(tmp_path / "tok")
    config = tmp_path / "tok" / "config.json"
    return wave, config, json.loads(config.read_text())


def test_the_tokenizer_encodes_as_it_was_trained(tmp_path: Path) -> None:
    """The choice is recorded with the HuBERT's fingerprint; a tokenizer saved before it was
    recorded keeps feeding raw samples (its centroids are of those features)."""
    wave, config, meta = _trained(tmp_path, "large", "layer")
    assert meta["hubert"]["normalize"] is True
    tok = load_tokenizer(tmp_path / "tok")
    tok.encode(wave, 16000)
    assert tok._hubert is not None and tok._hubert.normalize
    record = dict(meta["hubert"])
    del meta["hubert"]["normalize"]
    config.write_text(json.dumps(meta))
    old = load_tokenizer(tmp_path / "tok")
    old.encode(wave, 16000)
    assert old._hubert is not None and not old._hubert.normalize
    del meta["hubert"]  # saved before the HuBERT was recorded at all: raw samples too
    config.write_text(json.dumps(meta))
    older = load_tokenizer(tmp_path / "tok")
    older.encode(wave, 16000)
    assert older._hubert is not None and not older._hubert.normalize
    meta["hubert"] = {**record, "normalize": "yes"}
    config.write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=r"config.json: hubert: .*normalize \(true or false\)"):
        load_tokenizer(tmp_path / "tok")


def test_a_file_shorter_than_a_chunk_is_fed_whole_as_before(tmp_path: Path) -> None:
    """The context never reaches past the file: one chunk's features are those of the whole
    wave, standardised and padded 40 / 360 samples, its 50 Hz frames paired onto 40 ms."""
    import torch

    _tiny(tmp_path / "large", "layer")
    wave = _wave(2.5)  # 62 whole 40 ms frames and half of one (not fed)
    features = HubertFeatures(tmp_path / "large", layer=2)
    assert features.context_s == CONTEXT_S
    got = features(wave)
    assert got.tobytes() == HubertFeatures(tmp_path / "large", layer=2, context_s=0)(
        wave).tobytes()
    with torch.no_grad():
        x = torch.nn.functional.layer_norm(torch.from_numpy(wave[: 62 * 640]), (62 * 640,))
        x = torch.nn.functional.pad(x, (40, 360))[None]
        h = features.model(x, output_hidden_states=True).hidden_states[2][0].numpy()
    np.testing.assert_array_equal(got, h[: 2 * 62].reshape(62, 2, -1).mean(axis=1))


@pytest.mark.parametrize("norm", ["group", "layer"])
def test_chunk_edges_see_their_context(tmp_path: Path, norm: str) -> None:
    """Cut into chunks run alone, frames near each cut differed from one forward over the
    whole file (the positional conv and attention saw zeros past the cut); with context
    they are much closer to it."""
    _tiny(tmp_path / norm, norm)
    wave = _wave(10)
    whole = HubertFeatures(tmp_path / norm, layer=2, chunk_s=60, context_s=0)(wave)
    near = np.zeros(len(whole), dtype=bool)
    for edge in range(50, 250, 50):  # the 2 s chunks' internal edges, +-0.5 s
        near[edge - 12 : edge + 13] = True

    def error(context_s: float) -> float:
        chunked = HubertFeatures(tmp_path / norm, layer=2, chunk_s=2, context_s=context_s)
        return float(np.abs(chunked(wave) - whole)[near].mean())

    alone, with_context = error(0), error(2)
    assert with_context < alone / 4, (alone, with_context)


def test_the_tokenizer_records_its_context(tmp_path: Path) -> None:
    """New tokenizers record the context they were trained with and encode with it; one
    saved before it was recorded runs its 30 s chunks alone, as it was trained (its
    centroids, and the corpora encoded with it, are of those features)."""
    _tiny(tmp_path / "base", "group")
    conf = TokenizerConfig(type="hubert-kmeans", n_units=4, hubert_dir=str(tmp_path / "base"),
                           hubert_layer=1)
    train_tokenizer([(_wave(4), 16000, None)], conf).save(tmp_path / "tok")
    config = tmp_path / "tok" / "config.json"
    meta = json.loads(config.read_text())
    assert meta["hubert"]["context_s"] == CONTEXT_S
    long = _wave(32)  # two 30 s chunks: one internal edge

    def features(context_s: float) -> np.ndarray:
        return HubertFeatures(tmp_path / "base", layer=1, context_s=context_s)(long)

    new = load_tokenizer(tmp_path / "tok").frame_features(long, 16000)[0]
    np.testing.assert_array_equal(new, features(CONTEXT_S))
    del meta["hubert"]["context_s"]
    config.write_text(json.dumps(meta))
    old = load_tokenizer(tmp_path / "tok").frame_features(long, 16000)[0]
    np.testing.assert_array_equal(old, features(0))
    assert not np.allclose(old, new, atol=1e-3)
    meta["hubert"]["context_s"] = -1
    config.write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=r"config.json: hubert.context_s: -1 is out of range "
                       r"\(allowed: a number from 0 to 600\)"):
        load_tokenizer(tmp_path / "tok")


@pytest.mark.parametrize(("key", "value", "problem"), [
    ("context_s", True, "True is not a number"),  # (0 <= True <= 600 let it through)
    ("context_s", "2", "'2' is not a number"),
    ("context_s", -0.04, "-0.04 is out of range"),
    ("chunk_s", False, "False is not a number"),
    ("chunk_s", 0, "0 is out of range"),  # (was max(1, ...): one frame, silently)
    ("chunk_s", -30.0, "-30.0 is out of range"),
    ("chunk_s", 0.02, "0.02 is out of range"),  # under one 40 ms frame
    ("chunk_s", float("nan"), "nan is out of range"),
    ("chunk_s", 601, "601 is out of range"),
])
def test_chunk_and_context_outside_their_range_are_refused(tmp_path: Path, key: str,
                                                           value: object, problem: str) -> None:
    _tiny(tmp_path / "base", "group")
    low = {"chunk_s": "0.04", "context_s": "0"}[key]
    with pytest.raises(InputError, match=rf"base: {key}: {problem} "
                       rf"\(allowed: a number from {low} to 600\)"):
        HubertFeatures(tmp_path / "base", layer=1, **{key: value})  # type: ignore[arg-type]


def test_chunks_are_whole_frames_that_round_trip_through_seconds(tmp_path: Path) -> None:
    """A tokenizer records ``chunk_frames / 25``; reading it back gives the same frames
    (``int(29 / 25 * 25)`` is 28: a recorded 1.16 s chunk came back one frame short)."""
    _tiny(tmp_path / "base", "group")
    for frames in (1, 29, 58, 750):
        features = HubertFeatures(tmp_path / "base", layer=1, chunk_s=frames / 25)
        assert features.chunk_frames == frames and features.chunk_s == frames / 25
    assert HubertFeatures(tmp_path / "base", layer=1).chunk_frames == round(CHUNK_S * 25) == 750


def test_chunk_and_context_round_half_a_frame_up(tmp_path: Path) -> None:
    """Seconds become 40 ms frames as every length does (:func:`duplexsim.timebase.
    frames_from_s`), half a frame up: ``round`` went to even (a 0.1 s chunk was 2 frames,
    0.02 s of context none). The defaults are whole frames, the same either way."""
    _tiny(tmp_path / "base", "group")
    tenth = HubertFeatures(tmp_path / "base", layer=1, chunk_s=0.1, context_s=0.02)
    assert (tenth.chunk_frames, tenth.context_frames) == (3, 1)
    assert (tenth.chunk_s, tenth.context_s) == (0.12, 0.04)
    default = HubertFeatures(tmp_path / "base", layer=1)
    assert (default.chunk_frames, default.context_frames) == (750, 50)
    assert (default.chunk_s, default.context_s) == (CHUNK_S, CONTEXT_S)


def test_the_tokenizer_records_its_chunk(tmp_path: Path) -> None:
    """New tokenizers record the chunk length they were trained with and encode with it,
    whatever HubertFeatures' default becomes; one saved before it was recorded runs 30 s
    chunks, as every such tokenizer was trained."""
    wave, config, meta = _trained(tmp_path, "base", "group")
    assert meta["hubert"]["chunk_s"] == CHUNK_S == 30.0

    def encoded() -> np.ndarray:
        return load_tokenizer(tmp_path / "tok").frame_features(wave, 16000)[0]

    def features(chunk_s: float) -> np.ndarray:
        return HubertFeatures(tmp_path / "base", layer=1, chunk_s=chunk_s)(wave)

    whole = features(30.0)
    np.testing.assert_array_equal(encoded(), whole)
    meta["hubert"]["chunk_s"] = 1.0  # 1 s chunks of a 4 s wave, 2 s context: cut edges
    config.write_text(json.dumps(meta))
    short = encoded()
    np.testing.assert_array_equal(short, features(1.0))
    assert not np.allclose(short, whole, atol=1e-3)
    del meta["hubert"]["chunk_s"]
    config.write_text(json.dumps(meta))
    np.testing.assert_array_equal(encoded(), whole)
    for bad, problem in ((True, "True is not a number"), (0.02, "0.02 is out of range")):
        meta["hubert"]["chunk_s"] = bad
        config.write_text(json.dumps(meta))
        with pytest.raises(ValueError, match=rf"config.json: hubert.chunk_s: {problem} "
                           r"\(allowed: a number from 0.04 to 600\)"):
            load_tokenizer(tmp_path / "tok")
