"""`duplexsim units train`: its flags (those of another tokenizer type are refused), its
``--out`` checks, and the HuBERT settings it records."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from duplexsim.cli import main


@pytest.mark.parametrize(("flags", "flag"), [
    (["--hubert-dir", "/models/hubert-base-ls960"], "--hubert-dir"),
    (["--hubert-layer", "0"], "--hubert-layer"),
    (["--context-s", "0"], "--context-s"),
])
def test_hubert_flags_without_the_hubert_type_are_refused(tmp_path: Path, capsys, flags,
                                                          flag) -> None:
    """``--hubert-dir H`` without ``--type hubert-kmeans`` trained a mel-kmeans tokenizer
    and said nothing: the user believed they had HuBERT units."""
    out = tmp_path / "units"
    assert main(["units", "train", "--corpus", str(tmp_path / "no_corpus"), "--out", str(out),
                 *flags]) == 2
    err = capsys.readouterr().err
    assert err == (f"duplexsim units train: {flag}: only read by --type hubert-kmeans, not "
                   f"--type mel-kmeans (allowed: --type hubert-kmeans with {flag}, or no "
                   f"{flag})\n")
    assert not out.exists()


def _fisher_tree(root: Path) -> Path:
    """One 6 s Fisher call (transcript and 2-channel 8 kHz audio)."""
    import numpy as np

    from duplexsim.audio.io import write_audio

    (root / "trans").mkdir(parents=True)
    (root / "trans" / "fe_03_00001.txt").write_text("0.50 2.10 A: hello\n2.30 5.00 B: hi\n")
    t = np.arange(6 * 8000) / 8000
    write_audio(root / "fe_03_00001.flac",
                np.stack([0.1 * np.sin(2 * np.pi * f * t) for f in (200, 300)]), 8000)
    return root


def _tiny(kind: str, folder: Path, layers: int = 2) -> None:
    from transformers import HubertConfig, HubertModel, Wav2Vec2Config, Wav2Vec2Model

    config, model = {"hubert": (HubertConfig, HubertModel),
                     "wav2vec2": (Wav2Vec2Config, Wav2Vec2Model)}[kind]
    model(config(hidden_size=32, num_hidden_layers=layers, num_attention_heads=2,
                 intermediate_size=64, conv_dim=(32,) * 7, num_conv_pos_embeddings=16,
                 num_conv_pos_embedding_groups=2)).save_pretrained(folder)


@pytest.mark.parametrize(("break_it", "message"), [
    (lambda d: [p.unlink() for p in d.glob("*.safetensors")],
     r"^H: the HuBERT model does not load \(OSError: .*no file named model.safetensors"),
    (lambda d: (d / "model.safetensors").write_bytes(b"not safetensors"),
     r"^H: the HuBERT model does not load \("),
    (lambda d: (_tiny("wav2vec2", d)),
     r"^H/config.json: model_type: 'wav2vec2', not a HuBERT \(allowed: hubert\)$"),
    (lambda d: (_tiny("hubert", d, layers=1), (d / "config.json").write_text(
        (d / "config.json").read_text().replace('"num_hidden_layers": 1',
                                                '"num_hidden_layers": 2'))),
     r"^H/model.safetensors: encoder.layers.1.\S+: missing tensor and \d+ more \(weights "
     r"and config.json do not match\)"),
    (lambda d: (_tiny("hubert", d), (d / "config.json").write_text(
        (d / "config.json").read_text().replace('"intermediate_size": 64',
                                                '"intermediate_size": 96'))),
     r"^H: the HuBERT model does not load \(tensor shapes in the weights do not match "
     r"config.json\)"),
])
def test_a_hubert_folder_that_does_not_load_is_one_line(tmp_path: Path, break_it,
                                                        message) -> None:
    """``--hubert-dir`` with a config.json but no weights (a half-finished download) ended
    in transformers' OSError traceback; a wav2vec2 folder, or weights short of what its
    config.json asks for, loaded as a HuBERT partly or wholly randomly initialised, and
    its units meant nothing."""
    hubert = tmp_path / "hubert"
    _tiny("hubert", hubert)
    break_it(hubert)
    corpus = _fisher_tree(tmp_path / "fisher")
    out = tmp_path / "units"
    # a process of its own, as a user runs it: stderr is what they would read
    result = subprocess.run(
        [sys.executable, "-m", "duplexsim.cli", "units", "train", "--corpus", str(corpus),
         "--out", str(out), "--type", "hubert-kmeans", "--hubert-dir", str(hubert),
         "--hubert-layer", "1", "--n-units", "4"], capture_output=True, text=True,
        timeout=300)
    err = result.stderr.replace(str(hubert.resolve()), "H")
    assert result.returncode == 2 and err.count("\n") == 1 and re.search(message, err), err
    assert not out.exists()


@pytest.mark.parametrize(("config", "why"), [
    (b'{"model_type": "hubert", "hidden_size": 768}\n', "format None, not "),
    (b"not json\n", "corrupt config.json: Expecting value"),
    (b"[" * 100_000 + b"]" * 100_000, "corrupt config.json: nested too deeply"),
    (b'{"format": "caf\xe9"}', "not UTF-8 text"),
    (b"[1, 2]\n", "config.json holds a JSON list"),
])
def test_out_holding_another_config_json_is_refused_before_training(tmp_path: Path, capsys,
                                                                    config: bytes,
                                                                    why: str) -> None:
    """``--out`` pointing at a HuBERT or model folder (``--out`` mixed up with
    ``--hubert-dir``) trained, then replaced the folder's config.json with the tokenizer's:
    the model no longer loaded. A config.json nested too deeply was a raw RecursionError
    traceback; each refusal says why the file is not a tokenizer's."""
    corpus = _fisher_tree(tmp_path / "fisher")
    out = tmp_path / "hubert"
    out.mkdir()
    (out / "config.json").write_bytes(config)
    assert main(["units", "train", "--corpus", str(corpus), "--out", str(out),
                 "--n-units", "4"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"{out}: --out: holds a config.json that is not a unit tokenizer's "
                          f"({why}"), err
    assert err.count("\n") == 1
    assert (out / "config.json").read_bytes() == config
    assert sorted(p.name for p in out.iterdir()) == ["config.json"]


def test_out_holding_a_tokenizer_is_replaced(tmp_path: Path) -> None:
    """Training again into a tokenizer's folder replaces it (the tokenizer is the user's
    to retrain)."""
    corpus = _fisher_tree(tmp_path / "fisher")
    out = tmp_path / "units"
    assert main(["units", "train", "--corpus", str(corpus), "--out", str(out),
                 "--n-units", "4"]) == 0
    assert main(["units", "train", "--corpus", str(corpus), "--out", str(out),
                 "--n-units", "3"]) == 0
    from duplexsim.units import load_tokenizer

    assert load_tokenizer(out).n_units == 3


@pytest.mark.parametrize(("meta_file", "meta", "what"), [
    ("manifest.json", '{"format": "duplexsim-corpus/1", "tokenizer": "tokenizer"}',
     "the corpus"),
    ("agent.json", '{"format": "duplexsim-agent/1"}', "the agent"),
])
def test_out_that_is_a_corpus_or_agent_tokenizer_is_refused(tmp_path: Path, capsys, meta_file,
                                                            meta, what) -> None:
    """``--out CORPUS/tokenizer`` (retraining "the corpus's tokenizer") replaced the
    tokenizer the corpus's units were encoded with: they then decoded as other sounds."""
    import shutil

    corpus = _fisher_tree(tmp_path / "fisher")
    assert main(["units", "train", "--corpus", str(corpus), "--out", str(tmp_path / "units"),
                 "--n-units", "4"]) == 0
    owner = tmp_path / "owner"
    owner.mkdir()
    (owner / meta_file).write_text(meta)
    shutil.copytree(tmp_path / "units", owner / "tokenizer")
    before = (owner / "tokenizer" / "arrays.safetensors").read_bytes()
    capsys.readouterr()
    assert main(["units", "train", "--corpus", str(corpus), "--out",
                 str(owner / "tokenizer"), "--n-units", "3"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"{owner / 'tokenizer'}: --out: is the unit tokenizer of {what} "
                          f"{owner.resolve()}, whose units were encoded with it"), err
    assert err.count("\n") == 1
    assert (owner / "tokenizer" / "arrays.safetensors").read_bytes() == before


@pytest.mark.parametrize(("meta", "why"), [
    (b'{"format": "duplexsim-corpus/1", "tokenizer"', "line 1: corrupt manifest.json: "),
    (b'{"format": "duplexsim-corpus/1", "name": "caf\xe9"}', "byte 45: not UTF-8 text"),
    (b"[" * 100_000 + b"]" * 100_000, "corrupt manifest.json: nested too deeply"),
    (b'["duplexsim-corpus/1"]', "manifest.json holds a JSON list"),
])
def test_tokenizer_beside_a_manifest_json_that_does_not_read_is_refused(
        tmp_path: Path, capsys, meta: bytes, why: str) -> None:
    """A manifest.json beside a tokenizer's ``--out`` that did not read was skipped: a
    corpus whose manifest was damaged (cut short, re-saved in Latin-1) had the tokenizer its
    units were encoded with replaced (one nested too deeply had been a raw RecursionError
    traceback). Now refused in one line, the tokenizer left as it was."""
    corpus = _fisher_tree(tmp_path / "fisher")
    out = tmp_path / "tokenizer"
    assert main(["units", "train", "--corpus", str(corpus), "--out", str(out),
                 "--n-units", "4"]) == 0
    before = (out / "arrays.safetensors").read_bytes()
    (tmp_path / "manifest.json").write_bytes(meta)
    capsys.readouterr()
    assert main(["units", "train", "--corpus", str(corpus), "--out", str(out),
                 "--n-units", "3"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"{out}: --out: may be the unit tokenizer of the corpus "
                          f"{tmp_path.resolve()}, whose manifest.json does not read ({why}"), err
    assert err.endswith("(allowed: a readable manifest.json beside --out (repair or move it), "
                        "or another --out)\n") and err.count("\n") == 1
    assert (out / "arrays.safetensors").read_bytes() == before


def test_tokenizer_beside_another_programs_manifest_json_is_replaced(tmp_path: Path) -> None:
    """A manifest.json that reads but is no duplexsim corpus's is no owner: retrained."""
    from duplexsim.units import load_tokenizer

    corpus = _fisher_tree(tmp_path / "fisher")
    out = tmp_path / "units"
    assert main(["units", "train", "--corpus", str(corpus), "--out", str(out),
                 "--n-units", "4"]) == 0
    (tmp_path / "manifest.json").write_text('{"format": "another-tool/2", "tokenizer": '
                                            '"units"}')
    assert main(["units", "train", "--corpus", str(corpus), "--out", str(out),
                 "--n-units", "3"]) == 0
    assert load_tokenizer(out).n_units == 3


def test_a_hubert_layer_the_model_lacks_names_the_model(tmp_path: Path, capsys) -> None:
    """It was "hubert_layer: 5 out of range (allowed: 0..2)", naming no model."""
    corpus = _fisher_tree(tmp_path / "fisher")
    _tiny("hubert", tmp_path / "H", layers=2)
    capsys.readouterr()  # (save_pretrained's progress bar)
    assert main(["units", "train", "--corpus", str(corpus), "--out", str(tmp_path / "tok"),
                 "--type", "hubert-kmeans", "--hubert-dir", str(tmp_path / "H"),
                 "--hubert-layer", "5", "--n-units", "4"]) == 2
    err = capsys.readouterr().err
    assert err == (f"{(tmp_path / 'H').resolve()}: hubert_layer: 5 is out of range for this "
                   "HuBERT of 2 layers (config.json num_hidden_layers) (allowed: 0..2)\n")
    assert not (tmp_path / "tok").exists()


def test_context_s_sets_the_hubert_context_it_records(tmp_path: Path, capsys) -> None:
    """The context each side of a HuBERT chunk (2 s) could be set only by calling the
    library; ``--context-s`` sets it and the tokenizer records it. Left out, the tokenizer
    is the one 2 s gives, byte for byte."""
    import json

    from duplexsim.units import load_tokenizer
    from duplexsim.units.hubert import CONTEXT_S

    corpus = _fisher_tree(tmp_path / "fisher")
    _tiny("hubert", tmp_path / "H")
    hubert = ["--type", "hubert-kmeans", "--hubert-dir", str(tmp_path / "H"),
              "--hubert-layer", "1", "--n-units", "4"]

    def train(out: str, *flags: str) -> dict:
        assert main(["units", "train", "--corpus", str(corpus), "--out", str(tmp_path / out),
                     *hubert, *flags]) == 0
        return json.loads((tmp_path / out / "config.json").read_text())["hubert"]

    assert train("default")["context_s"] == CONTEXT_S == 2.0
    for name in ("config.json", "arrays.safetensors"):
        train("two", "--context-s", "2")
        assert (tmp_path / "two" / name).read_bytes() == (tmp_path / "default" / name
                                                           ).read_bytes()
    assert train("short", "--context-s", "0.41")["context_s"] == 0.4  # whole 40 ms frames
    assert train("none", "--context-s", "0")["context_s"] == 0.0
    assert load_tokenizer(tmp_path / "short").n_units == 4  # (it encodes as recorded:
    # test_hubert.py's test_the_tokenizer_records_its_context)


@pytest.mark.parametrize(("value", "problem"), [
    ("-1", "-1 is out of range"), ("601", "601 is out of range"),
    ("nan", "nan is out of range"), ("2s", "'2s' is not a number"),
])
def test_a_context_s_that_is_no_seconds_is_one_line(tmp_path: Path, capsys, value: str,
                                                    problem: str) -> None:
    out = tmp_path / "tok"
    with pytest.raises(SystemExit) as caught:
        main(["units", "train", "--corpus", str(tmp_path), "--out", str(out), "--type",
              "hubert-kmeans", "--hubert-dir", str(tmp_path), "--context-s", value])
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert err == (f"duplexsim units train: --context-s: {problem} (allowed: a number >= 0 "
                   "and <= 600)\n")
    assert not out.exists()
