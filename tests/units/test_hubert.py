"""HuBERT features: large-style models (layer-norm feature extractor) get standardised waves."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from duplexsim.units import TokenizerConfig, load_tokenizer, train_tokenizer
from duplexsim.units.hubert import HubertFeatures


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


def _wave(seconds: int = 2) -> np.ndarray:
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


def test_the_tokenizer_encodes_as_it_was_trained(tmp_path: Path) -> None:
    """The choice is recorded with the HuBERT's fingerprint; a tokenizer saved before it was
    recorded keeps feeding raw samples (its centroids are of those features)."""
    _tiny(tmp_path / "large", "layer")
    conf = TokenizerConfig(type="hubert-kmeans", n_units=4, hubert_dir=str(tmp_path / "large"),
                           hubert_layer=1)
    wave = _wave(4)
    train_tokenizer([(wave, 16000, None)], conf).save(tmp_path / "tok")
    config = tmp_path / "tok" / "config.json"
    meta = json.loads(config.read_text())
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
