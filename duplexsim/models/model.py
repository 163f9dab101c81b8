"""The SyncLLM model: a transformers ``LlamaForCausalLM`` built from an agent card.

Owns: size presets, building (random init or a LOCAL pretrained Llama with its embedding
resized to our vocabulary), saving and loading the model directory. Must not touch training
or agents.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import torch
from transformers import LlamaConfig, LlamaForCausalLM

from duplexsim.atomic import usual_modes
from duplexsim.config.card_tables import SIZE_PRESETS, ModelCard
from duplexsim.errors import InputError, MissingInputError, write_failure
from duplexsim.folders import replace_dir

if TYPE_CHECKING:
    from transformers import PreTrainedModel

PRESETS = SIZE_PRESETS
"""Size presets (tiny / small / paper), defined with the card schema so that ``validate``
checks a card's geometry without torch."""


LLAMA_TYPE = "llama"
"""The one ``model_type`` the agents' code computes (``LlamaForCausalLM``; the forwards in
:mod:`duplexsim.models.lean` and :mod:`duplexsim.models.hf_rows` are Llama's)."""


def llama_config(card: ModelCard, vocab_size: int, pad_id: int, bos_id: int,
                 eos_id: int) -> LlamaConfig:
    """LlamaConfig for ``card`` (zeros in the card take the size preset's value)."""
    p = PRESETS[card.size]

    def pick(value: int, default: int) -> int:
        return value if value > 0 else default

    hidden = pick(card.hidden_size, p.hidden_size)
    heads = pick(card.n_heads, p.n_heads)
    if hidden % heads:
        raise ValueError(f"model.hidden_size {hidden} is not divisible by model.n_heads {heads}")
    return LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=hidden,
        num_hidden_layers=pick(card.n_layers, p.n_layers),
        num_attention_heads=heads,
        num_key_value_heads=pick(card.n_kv_heads, p.n_kv_heads),
        intermediate_size=pick(card.intermediate_size, p.intermediate_size),
        max_position_embeddings=pick(card.context_tokens, p.context_tokens) * 4,
        rope_parameters={"rope_type": "default",
                         "rope_theta": 10000.0 if card.size != "paper" else 500000.0},
        tie_word_embeddings=card.size != "paper",
        pad_token_id=pad_id, bos_token_id=bos_id, eos_token_id=eos_id,
        # PreTrainedConfig takes it through **kwargs, which LlamaConfig's signature omits
        attn_implementation="sdpa",  # type: ignore[call-arg]
    )


@contextmanager
def quiet_loading() -> Iterator[None]:
    """No transformers progress bar while a local model loads (``from_pretrained`` draws one
    per load: a line of noise in every simulation, sweep cell and continuation), and no
    warnings: its load report, a table of every missing or unexpected tensor, came before
    the one-line error the callers raise for them (``output_loading_info``); the previous
    settings come back after."""
    from transformers.utils import logging

    was = logging.is_progress_bar_enabled()
    verbosity = logging.get_verbosity()
    logging.disable_progress_bar()
    logging.set_verbosity_error()
    try:
        yield
    finally:
        logging.set_verbosity(verbosity)
        if was:
            logging.enable_progress_bar()


def context_tokens(card: ModelCard) -> int:
    return card.context_tokens or PRESETS[card.size].context_tokens


def build_model(card: ModelCard, vocab_size: int, pad_id: int, bos_id: int, eos_id: int,
                seed: int = 0) -> LlamaForCausalLM:
    """A randomly initialised model, or ``card.init_from`` (local dir) resized to our vocab.

    With ``init_from`` the transformer weights come from the pretrained model and the
    embedding (and an untied head) is resized to ``vocab_size`` by
    ``resize_token_embeddings``, which keeps rows ``0..vocab_size-1`` and adds fresh rows
    only past the pretrained vocabulary. A real Llama's vocabulary (32k-128k) is larger than
    ours (``n_units`` + 5 or 7 tags and specials + the BPE's ids), so it is *truncated*: unit
    ``u`` starts from pretrained row ``u``, tags, specials and text ids from the rows after,
    none of them with the original tokenizer's meaning (a warm start only). The paper instead
    appends new rows for units and tags after Llama's text vocabulary; doing that here would
    change every id, so it is not done.
    """
    torch.manual_seed(seed)
    if card.init_from:
        path = Path(card.init_from)
        if not (path / "config.json").is_file():
            raise MissingInputError(str(path), "model.init_from",
                                    "not a local model folder (config.json missing)",
                                    "a local Hugging Face Llama folder")
        model = _load_llama(path, "model.init_from", "not a loadable Llama",
                            "a local Hugging Face Llama folder with config.json and "
                            "model.safetensors")
        model.resize_token_embeddings(vocab_size, mean_resizing=False)
        model.config.pad_token_id, model.config.bos_token_id = pad_id, bos_id
        model.config.eos_token_id = eos_id
        return model
    config = llama_config(card, vocab_size, pad_id, bos_id, eos_id)
    return LlamaForCausalLM(config)


def save_model(model: LlamaForCausalLM, path: str | Path) -> None:
    """``save_pretrained`` into a temp folder, then rename (atomic directory write)."""
    import shutil
    import tempfile

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        model.save_pretrained(tmp, safe_serialization=True)
        usual_modes(tmp)  # mkdtemp's 0700: the weights unreadable by other users
        replace_dir(tmp, target)  # the old model stays whole until the new one is in place
    except BaseException as e:
        shutil.rmtree(tmp, ignore_errors=True)
        failure = write_failure(e, target, getattr(e, "filename", None))  # a full disk
        if failure is not None:
            raise failure from e
        raise


def load_model(path: str | Path, expected_vocab: int | None = None) -> LlamaForCausalLM:
    """Load a saved model directory; a missing, corrupt or mismatched one is a clear error."""
    path = Path(path)
    if not (path / "config.json").is_file():
        raise MissingInputError(str(path), "", "no model here (config.json missing)",
                                "a model folder written by `duplexsim train`")
    model = _load_llama(path, "", "corrupt model folder",
                        "the model folder `duplexsim train` wrote")
    weights = path / "model.safetensors"  # or shards, with an index (save_pretrained)
    for name, tensor in model.state_dict().items():
        if not torch.isfinite(tensor).all():
            raise InputError(str(weights if weights.is_file() else path), name,
                             "not finite (NaN or inf)",
                             "the weights of a finished training run")
    if expected_vocab is not None and model.config.vocab_size != expected_vocab:
        raise InputError(str(path / "config.json"), "vocab_size",
                         f"model vocabulary {model.config.vocab_size} != agent vocabulary "
                         f"{expected_vocab}", "the vocabulary it was trained with")
    model.eval()
    return model


def _load_llama(path: Path, key: str, corrupt: str, allowed: str) -> LlamaForCausalLM:
    """``LlamaForCausalLM.from_pretrained(path)``, refusing what would load as another model.

    ``from_pretrained`` never looks at ``model_type``: a Mistral folder (same tensor names)
    loaded as a Llama without its sliding window, a GPT-2 folder built a 6.5B-parameter
    Llama from ``LlamaConfig``'s defaults before failing. And HF fills tensors the weights
    lack with a random init (a truncated save, a config.json with more layers, a Qwen2's
    q/k/v biases read by nothing) and drops ones it has no place for: a model that runs, as
    nonsense. Errors name the folder (``key`` in it) on one line.
    """
    return load_checked(LlamaForCausalLM, path, LLAMA_TYPE, "a Llama", key=key,
                        corrupt=corrupt, allowed=allowed, dtype=torch.float32)


M = TypeVar("M", bound="PreTrainedModel")


def load_checked(cls: type[M], path: Path, model_type: str, label: str, *, key: str,
                 corrupt: str, allowed: str, unexpected: bool = True,
                 ignored: tuple[str, ...] = (), **kwargs) -> M:
    """``cls.from_pretrained(path, **kwargs)`` from a local folder, or a one-line error.

    The one way a pretrained model is loaded here (the agents' Llama, the units' HuBERT):
    ``config.json``'s ``model_type`` must be ``model_type`` (``from_pretrained`` never
    looks), an exception while loading names the folder, and a tensor the weights lack or
    give in another shape (filled with a random init by HF: a model that runs, as nonsense)
    is refused, naming the first. ``unexpected``: also refuse tensors the model has no place
    for (a Llama with biases; a HuBERT's CTC head is dropped instead); ``ignored``: tensors
    the model may lack (HuBERT's pre-training ``masked_spec_embed``). ``label`` names the
    model kind in messages ("a Llama"), ``key`` the setting that named the folder, if any.
    """
    from duplexsim.config.readers import read_json

    config_file = path / "config.json"
    found = read_json(config_file, what="config.json").get("model_type")
    if found != model_type:
        raise InputError(str(config_file), "model_type",
                         f"{found!r}, not {label}" + (f" ({key})" if key else ""),
                         model_type)
    try:
        with quiet_loading():  # (its load report: said below, in one line)
            # (transformers types the result as the model: with output_loading_info it is
            # a (model, info) pair)
            loaded: tuple[M, dict[str, Any]] = cls.from_pretrained(  # type: ignore[assignment]
                str(path), local_files_only=True, output_loading_info=True, **kwargs)
        model, info = loaded
    except Exception as e:  # safetensors / json errors, no weights: name the folder
        why = " ".join(f"{type(e).__name__}: {e}".split())
        if "ignore_mismatched_sizes" in why:  # HF points at a report in its log
            why = "tensor shapes in the weights do not match config.json"
        raise InputError(str(path), key, f"{corrupt} ({why})", allowed) from e
    kinds = ("missing_keys", "unexpected_keys", "mismatched_keys") if unexpected else \
        ("missing_keys", "mismatched_keys")
    weights = path / "model.safetensors"
    for what in kinds:
        # mismatched keys come as (name, shape in the weights, shape expected)
        keys = sorted(k[0] if isinstance(k, tuple) else str(k) for k in info.get(what) or ())
        keys = [k for k in keys if k not in ignored]
        if keys:
            more = f" and {len(keys) - 1} more" if len(keys) > 1 else ""
            raise InputError(str(weights if weights.is_file() else path), keys[0],
                             f"{what.split('_')[0]} tensor{more} (weights and config.json do "
                             f"not match{'; ' + key if key else ''})", allowed)
    return model


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
