"""The model directory: save/load round trip and errors, init from a local Llama dir."""

from __future__ import annotations

import pytest
import torch

from duplexsim.config.card import ModelCard
from duplexsim.models.model import build_model, load_model, save_model
from duplexsim.models.vocab import Vocab

N_UNITS = 20
VOCAB = Vocab(N_UNITS, 300)


@pytest.fixture(scope="module")
def model():
    return build_model(ModelCard(size="tiny", n_units=N_UNITS, text_vocab_size=300),
                       VOCAB.size, VOCAB.pad, VOCAB.bos, VOCAB.eos, seed=0).eval()


def test_save_load_round_trip_and_mismatch(model, tmp_path) -> None:
    save_model(model, tmp_path / "m")
    back = load_model(tmp_path / "m", expected_vocab=VOCAB.size)
    ids = torch.tensor([[VOCAB.S0, 1, 2, VOCAB.S1, 3]])
    with torch.no_grad():
        torch.testing.assert_close(back(input_ids=ids).logits, model(input_ids=ids).logits)
    with pytest.raises(ValueError, match="vocabulary"):
        load_model(tmp_path / "m", expected_vocab=VOCAB.size + 1)
    (tmp_path / "m" / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="corrupt"):
        load_model(tmp_path / "m")


def _resaved(src, dst, change_weights=None, change_config=None):  # noqa: ANN001, ANN202
    import json
    import shutil

    from safetensors.torch import load_file, save_file

    shutil.copytree(src, dst)
    if change_weights is not None:
        weights = load_file(dst / "model.safetensors")
        change_weights(weights)
        save_file(weights, dst / "model.safetensors", metadata={"format": "pt"})
    if change_config is not None:
        config = json.loads((dst / "config.json").read_text())
        change_config(config)
        (dst / "config.json").write_text(json.dumps(config))
    return dst


DOWN = "model.layers.1.mlp.down_proj.weight"


@pytest.mark.parametrize(("name", "weights", "config", "error"), [
    ("dropped", lambda w: w.pop(DOWN), None, rf": {DOWN}: missing tensor \("),
    ("extra", lambda w: w.__setitem__(DOWN.replace(".1.", ".2."), w[DOWN].clone()), None,
     r": model.layers.2.mlp.down_proj.weight: unexpected tensor \("),
    ("more-layers", None, lambda c: c.update(num_hidden_layers=3),
     r": model.layers.2.input_layernorm.weight: missing tensor and 8 more \("),
    ("nan", lambda w: w[DOWN].fill_(float("nan")), None, rf": {DOWN}: not finite"),
    ("wider", None, lambda c: c.update(hidden_size=64), "tensor shapes .* do not match"),
    ("heads", None, lambda c: c.update(num_attention_heads=3), "not a multiple"),
])
def test_weights_that_do_not_fit_the_config_are_one_line_errors(model, tmp_path, name, weights,
                                                                config, error) -> None:
    """HF fills tensors the weights lack with a random init and drops extra ones: the model
    used to load and run, as nonsense. And an error is one line, naming file and tensor."""
    save_model(model, tmp_path / "m")
    bad = _resaved(tmp_path / "m", tmp_path / name, weights, config)
    with pytest.raises(ValueError, match=error) as caught:
        load_model(bad)
    assert "\n" not in str(caught.value) and str(bad) in str(caught.value)


def test_weights_that_do_not_fit_print_no_load_report(model, tmp_path) -> None:
    """Before the one-line error, transformers logged its load report, a table of every
    missing tensor (nine lines and more on stderr: ``duplexsim train`` with an
    ``init_from`` whose config.json has more layers than its weights), in a process of its
    own, as a user runs it."""
    import subprocess
    import sys

    save_model(model, tmp_path / "m")
    bad = _resaved(tmp_path / "m", tmp_path / "more", None,
                   lambda c: c.update(num_hidden_layers=3))
    code = ("import sys\nfrom duplexsim.models.model import load_model\n"
            f"try:\n    load_model({str(bad)!r})\nexcept ValueError as e:\n"
            "    print(e, file=sys.stderr)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=300)
    assert result.stderr.count("\n") == 1 and "missing tensor and 8 more" in result.stderr, \
        result.stderr


def test_init_from_local_llama_extends_vocabulary(tmp_path) -> None:
    base = build_model(ModelCard(size="tiny", n_units=4, text_vocab_size=300), 50, 0, 1, 2)
    save_model(base, tmp_path / "pretrained")
    card = ModelCard(size="tiny", n_units=N_UNITS, text_vocab_size=300,
                     init_from=str(tmp_path / "pretrained"))
    model = build_model(card, VOCAB.size, VOCAB.pad, VOCAB.bos, VOCAB.eos)
    assert model.get_input_embeddings().weight.shape[0] == VOCAB.size
    torch.testing.assert_close(model.model.layers[0].mlp.up_proj.weight,
                               base.model.layers[0].mlp.up_proj.weight)
    torch.testing.assert_close(model.get_input_embeddings().weight[:50],
                               base.get_input_embeddings().weight)
    with pytest.raises(FileNotFoundError, match="init_from"):
        build_model(ModelCard(size="tiny", init_from=str(tmp_path / "nope")), 600, 0, 1, 2)


def test_loading_draws_no_progress_bar_and_restores_the_setting(model, tmp_path,
                                                                capfd) -> None:
    from transformers.utils import logging

    save_model(model, tmp_path / "m")
    capfd.readouterr()
    logging.enable_progress_bar()
    load_model(tmp_path / "m", expected_vocab=VOCAB.size)
    assert "Loading weights" not in capfd.readouterr().err  # transformers draws one per load
    assert logging.is_progress_bar_enabled()  # the caller's setting is back
    logging.disable_progress_bar()
    load_model(tmp_path / "m", expected_vocab=VOCAB.size)
    assert not logging.is_progress_bar_enabled()
    logging.enable_progress_bar()


def test_saved_weights_have_the_usual_modes(model, tmp_path) -> None:
    """mkdtemp's staging folder is 0700: model/ and its weights were unreadable by others
    while every other file of an agent directory is not."""
    import os
    import stat

    old = os.umask(0o022)
    try:
        save_model(model, tmp_path / "m")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "m").stat().st_mode) == 0o755
    for f in (tmp_path / "m").iterdir():
        assert stat.S_IMODE(f.stat().st_mode) == 0o644, f.name


def _other_architectures(tmp_path):  # noqa: ANN001, ANN202
    """Tiny Mistral (a Llama's tensor names plus a sliding window) and Qwen2 (q/k/v biases)
    folders, saved as HF saves them."""
    from transformers import MistralConfig, MistralForCausalLM, Qwen2Config, Qwen2ForCausalLM

    shape = dict(vocab_size=VOCAB.size, hidden_size=32, intermediate_size=64,
                 num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1)
    torch.manual_seed(0)
    models = {"mistral": MistralForCausalLM(MistralConfig(**shape, sliding_window=16)),
              "qwen2": Qwen2ForCausalLM(Qwen2Config(**shape))}
    for name, other in models.items():
        other.save_pretrained(tmp_path / name)
    return models


def test_other_architectures_are_refused_not_loaded_as_a_llama(tmp_path) -> None:
    """from_pretrained never looks at model_type: a Mistral folder loaded as a Llama without
    its sliding window (max logit difference 0.08 at 40 tokens), a Qwen2 as init_from lost its
    q/k/v biases with only a log line, a GPT-2 built a 6.5B-parameter Llama before failing."""
    for name in _other_architectures(tmp_path):
        with pytest.raises(ValueError, match=rf"config.json: model_type: '{name}', not a "
                                             r"Llama \(allowed: llama\)$") as caught:
            load_model(tmp_path / name)
        assert str(tmp_path / name) in str(caught.value)
        card = ModelCard(size="tiny", n_units=N_UNITS, text_vocab_size=300,
                         init_from=str(tmp_path / name))
        with pytest.raises(ValueError, match=rf"'{name}', not a Llama \(model.init_from\)"):
            build_model(card, VOCAB.size, VOCAB.pad, VOCAB.bos, VOCAB.eos)


def test_a_mismatched_tensor_is_named_by_its_name(model, tmp_path) -> None:
    """transformers reports a mismatched tensor as (name, shape in the weights, expected
    shape); the Llama loader printed that tuple as the key (the HuBERT one took its name):
    one loader now serves both."""
    from transformers import LlamaForCausalLM

    from duplexsim.models.model import load_checked

    save_model(model, tmp_path / "m")
    bad = _resaved(tmp_path / "m", tmp_path / "wider", change_config=lambda c: c.update(
        intermediate_size=c["intermediate_size"] * 2))
    with pytest.raises(ValueError, match=r"model.safetensors: model.layers.0.mlp.\w+.weight: "
                                         r"mismatched tensor and \d+ more \(") as caught:
        load_checked(LlamaForCausalLM, bad, "llama", "a Llama", key="", corrupt="corrupt",
                     allowed="a Llama", ignore_mismatched_sizes=True)
    assert "(" not in str(caught.value).split(": ")[1]


def test_init_from_refuses_weights_that_do_not_fit_the_config(model, tmp_path) -> None:
    """load_model refused missing and unexpected tensors; init_from filled them with a random
    init (or dropped them) and trained on."""
    save_model(model, tmp_path / "m")
    for name, config in [("biases", lambda c: c.update(attention_bias=True)),
                         ("more-layers", lambda c: c.update(num_hidden_layers=3))]:
        bad = _resaved(tmp_path / "m", tmp_path / name, change_config=config)
        card = ModelCard(size="tiny", n_units=N_UNITS, text_vocab_size=300, init_from=str(bad))
        with pytest.raises(ValueError, match=r"missing tensor and \d+ more .*model.init_from"
                           ) as caught:
            build_model(card, VOCAB.size, VOCAB.pad, VOCAB.bos, VOCAB.eos)
        assert "\n" not in str(caught.value) and str(bad) in str(caught.value)


def test_token_rows_refuse_a_model_that_is_not_a_llama(tmp_path) -> None:
    """LMRows ran a Mistral as a Llama without a word (no sliding window) and failed on a
    GPT-2 with an AttributeError from inside the forward."""
    from transformers import GPT2Config, GPT2LMHeadModel

    from duplexsim.models.rows import LMRows

    models = _other_architectures(tmp_path)
    models["gpt2"] = GPT2LMHeadModel(GPT2Config(vocab_size=VOCAB.size, n_embd=32, n_layer=2,
                                                n_head=2, bos_token_id=VOCAB.bos,
                                                eos_token_id=VOCAB.eos))
    for name, other in models.items():
        for backend in ("auto", "hf"):
            with pytest.raises(ValueError, match=rf"model_type '{name}'.*\(allowed: llama\)"):
                LMRows(other, N_UNITS, 64, backend=backend)


def test_init_from_a_larger_vocabulary_truncates_it(tmp_path) -> None:
    """What the docs now say (they said units got "fresh rows"): resize_token_embeddings
    keeps a real Llama's first rows, so unit u starts from pretrained row u. Pinned: changing
    it would change every agent's token ids."""
    base = build_model(ModelCard(size="tiny", n_units=4, text_vocab_size=300), 400, 0, 1, 2)
    save_model(base, tmp_path / "pretrained")
    card = ModelCard(size="tiny", n_units=N_UNITS, text_vocab_size=300,
                     init_from=str(tmp_path / "pretrained"))
    model = build_model(card, VOCAB.size, VOCAB.pad, VOCAB.bos, VOCAB.eos)
    assert model.get_input_embeddings().weight.shape[0] == VOCAB.size < 400
    torch.testing.assert_close(model.get_input_embeddings().weight,
                               base.get_input_embeddings().weight[: VOCAB.size])


def test_a_saved_text_tokenizer_reads_back_as_the_same_tokenizer(tmp_path) -> None:
    """An agent's text_tokenizer.json is what the tokenizers library reads back."""
    from tokenizers import Tokenizer

    from duplexsim.models.vocab import save_text_tokenizer, train_text_tokenizer

    path = tmp_path / "text_tokenizer.json"
    tok = train_text_tokenizer(["hello there", "so I was thinking"], 300)
    save_text_tokenizer(tok, path)
    assert Tokenizer.from_file(str(path)).encode("hello").ids == tok.encode("hello").ids
