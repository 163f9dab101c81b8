"""The trained-agent directory (docs/interfaces.md "Agent directory"): read side.

Owns: checking ``agent.json`` and loading the model and vocabulary it describes. The
trainer writes the directory (:mod:`duplexsim.training.recipe`); agents and continuation
read it through :func:`load_agent_files`. Must not touch the simulator.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from duplexsim.config.readers import json_number, read_json
from duplexsim.errors import InputError, MissingInputError, finite_in
from duplexsim.models.vocab import VOCABS, Vocab
from duplexsim.tokens import MAX_N_UNITS, min_context_tokens

if TYPE_CHECKING:
    from transformers import LlamaForCausalLM

AGENT_FORMAT = "duplexsim-agent/1"


@dataclass
class AgentFiles:
    """Everything an agent directory holds, loaded."""

    root: Path
    info: dict[str, Any]
    model: LlamaForCausalLM
    vocab: Vocab

    @property
    def kind(self) -> str:
        """The architecture (``agent.json`` ``kind``): syncllm (absent) or tdm."""
        return agent_kind(self.info)

    @property
    def name(self) -> str:
        return str(self.info.get("name", self.root.name))

    @property
    def chunk_ms(self) -> list[int]:
        return [int(c) for c in self.info["chunk_ms"]]

    @property
    def silence_unit(self) -> int:
        return int(self.info["silence_unit"])

    @property
    def silence_units(self) -> frozenset[int]:
        """Every unit that means silence (:func:`silence_units_in`)."""
        return silence_units_in(self.info)

    @property
    def context_tokens(self) -> int:
        return int(self.info["context_tokens"])

    def check_chunk_ms(self, chunk_ms: int) -> None:
        if chunk_ms not in self.chunk_ms:
            raise InputError(str(self.root), "chunk_ms",
                             f"agent {self.name!r} was not trained for chunk_ms={chunk_ms}",
                             ", ".join(map(str, self.chunk_ms)))


MAX_CONTEXT_TOKENS = 1 << 20
"""Longest context an agent.json may declare (Llama-3 models use 8k-128k)."""


def read_agent_json(path: str | Path) -> dict[str, Any]:
    """Parse and check ``DIR/agent.json``; errors name the file and the key
    (:class:`~duplexsim.errors.InputError`; :class:`~duplexsim.errors.MissingInputError`
    when there is no trained agent)."""
    root = Path(path)
    file = root / "agent.json"
    if not file.is_file():
        raise MissingInputError(str(root), "", "not a trained agent (agent.json missing)",
                                "train one with `duplexsim train agents/<card>.toml`")
    info = read_json(file, what="agent.json")
    where = str(file)
    if info.get("format") != AGENT_FORMAT:
        raise InputError(where, "format", f"{info.get('format')!r}", repr(AGENT_FORMAT))
    n_units = json_number(info, where, "n_units", 2, MAX_N_UNITS, integer=True)  # its card's
    json_number(info, where, "n_text", 0, 1 << 24, integer=True)
    json_number(info, where, "silence_unit", 0, n_units - 1, integer=True)
    card = info.get("card")
    model = card.get("model") if isinstance(card, dict) else None
    for key in ("n_units", "silence_unit"):  # the card is what the model was trained as
        carded = model.get(key) if isinstance(model, dict) else None
        if carded is not None and carded != info[key]:
            raise InputError(where, key, f"{info[key]} but card.model.{key} is {carded!r}",
                             f"the {key} the agent was trained with")
    _check_silence_units(info, where, n_units)
    json_number(info, where, "context_tokens", 1, MAX_CONTEXT_TOKENS, integer=True)
    chunks = info.get("chunk_ms")
    if not isinstance(chunks, list) or not chunks or not all(
            finite_in(c, 1, 60_000) and isinstance(c, int) and c % 40 == 0 for c in chunks):
        raise InputError(where, "chunk_ms", f"{chunks!r}",
                         "a non-empty list of positive multiples of 40")
    if agent_kind(info) == "syncllm":
        least = min_context_tokens(max(chunks) // 40)
        if info["context_tokens"] < least:
            raise InputError(where, "context_tokens", f"{info['context_tokens']}",
                             f">= {least} for {max(chunks)} ms chunks (four chunks of both "
                             "sides)")
    return info


def _check_silence_units(info: dict[str, Any], where: str, n_units: int) -> None:
    """``silence_units`` (optional): distinct unit ids, ``silence_unit`` among them, and at
    least one unit left for speech."""
    if "silence_units" not in info:
        return
    units = info["silence_units"]
    allowed = (f"a list of distinct unit ids 0..{n_units - 1} that holds silence_unit "
               f"{info['silence_unit']} and leaves a speech unit")
    if not isinstance(units, list) or not all(
            isinstance(u, int) and not isinstance(u, bool) and 0 <= u < n_units for u in units) \
            or len(set(units)) != len(units) or info["silence_unit"] not in units \
            or len(units) >= n_units:
        raise InputError(where, "silence_units", f"{units!r}", allowed)


WEIGHTS_FILES = "model/*.safetensors"
"""The weights files of an agent directory (one, or ``save_pretrained``'s shards): what
``agent.json``'s ``weights_sha256`` covers."""


def weights_digests(root: str | Path) -> dict[str, str]:
    """sha256 (hex) of each weights file in the agent directory ``root``, by its path in it
    (``{"model/model.safetensors": ...}``): ``agent.json``'s ``weights_sha256``."""
    from duplexsim.digests import file_digest

    return {p.relative_to(root).as_posix(): file_digest(p)
            for p in sorted(Path(root).glob(WEIGHTS_FILES)) if p.is_file()}


def record_weights(root: str | Path) -> None:
    """Rewrite ``root/agent.json``'s ``weights_sha256`` for the weights now in ``root``:
    whatever writes new weights into an agent directory outside training (a fine-tuning
    run such as ``experiments/selfplay_rl.py``) calls it, else loading the agent refuses its
    own weights as modified. An ``agent.json`` that records none is left as it is."""
    from duplexsim.atomic import write_json

    file = Path(root) / "agent.json"
    info = read_json(file, what="agent.json")
    if "weights_sha256" in info:
        write_json(file, {**info, "weights_sha256": weights_digests(root)})


def check_weights(root: Path, info: dict[str, Any]) -> None:
    """Each weights file ``agent.json`` records a sha256 of (``weights_sha256``; agents
    trained before it record none: unchecked) still has it: safetensors keeps no checksum,
    so a flipped bit in the weights loaded silently. A missing file is the loader's to name.
    Cheap: :func:`~duplexsim.digests.file_digest` hashes a file once while it is unchanged."""
    from duplexsim.digests import check_recorded

    recorded = info.get("weights_sha256", {})
    where = str(root / "agent.json")
    if not isinstance(recorded, dict) or not all(
            isinstance(k, str) and ".." not in k.split("/") and isinstance(v, str)
            and len(v) == 64 for k, v in recorded.items()):
        raise InputError(where, "weights_sha256", f"{recorded!r}",
                         "an object of weights file paths in the agent folder to sha256 hex")
    for name, digest in recorded.items():
        check_recorded(root / name, digest, "agent.json's weights_sha256", "training",
                       "the file as trained: restore or retrain the agent")


def silence_units_in(info: dict[str, Any]) -> frozenset[int]:
    """The units an agent's tokenizer means silence with (``agent.json`` ``silence_units``,
    written since a tokenizer may have several; without it: ``silence_unit`` alone)."""
    return frozenset(int(u) for u in info.get("silence_units", [info["silence_unit"]]))


def agent_kind(info: dict[str, Any]) -> str:
    """The architecture an ``agent.json`` describes (written since TDM agents exist; an
    agent.json without it is a SyncLLM agent)."""
    return str(info.get("kind", "syncllm"))


def load_agent_files(path: str | Path, device: str = "cpu",
                     kind: str = "syncllm") -> AgentFiles:
    """Load ``agent.json`` and the model; an agent of another ``kind`` (architecture) or a
    vocabulary mismatch is a clear error."""
    root = Path(path)
    info = read_agent_json(root)
    found = agent_kind(info)
    if found not in VOCABS:
        raise InputError(str(root / "agent.json"), "kind", f"{found!r}", ", ".join(VOCABS))
    if found != kind:
        raise InputError(str(root), "", f"a {found} agent, not a {kind} agent",
                         f'use it as a kind = "{found}" side')
    vocab = VOCABS[found](int(info["n_units"]), int(info["n_text"]))
    check_weights(root, info)
    from duplexsim.models.model import load_model  # transformers: only once a model loads

    # transformers wraps Module.to in a decorator whose stub mistypes the bound call
    model = load_model(root / "model", expected_vocab=vocab.size).to(device)  # type: ignore[arg-type]
    # the total size alone let n_units and n_text trade one id (21 + 299 for 20 + 300): every
    # unit, tag and special one id off the model's
    ours = (vocab.pad, vocab.bos, vocab.eos)
    theirs = (model.config.pad_token_id, model.config.bos_token_id, model.config.eos_token_id)
    if ours != theirs:
        raise InputError(str(root / "agent.json"), "n_units",
                         f"{info['n_units']} units and {info['n_text']} text ids put "
                         f"pad/bos/eos at {'/'.join(map(str, ours))}, model/config.json has "
                         f"{'/'.join(map(str, theirs))}",
                         "the n_units and n_text the model was trained with")
    positions = getattr(model.config, "max_position_embeddings", None)
    if positions is not None and info["context_tokens"] > positions:
        # the inference forward keeps a cache of context_tokens per row: 1 << 20 of them
        # would ask for gigabytes before the first token, for positions never trained
        raise InputError(str(root / "agent.json"), "context_tokens",
                         f"{info['context_tokens']}: more positions than the model has "
                         f"(model/config.json: max_position_embeddings {positions})",
                         f"<= {positions}")
    return AgentFiles(root, info, model, vocab)
