"""The trained-agent directory (docs/interfaces.md "Agent directory"): read side.

Owns: checking ``agent.json`` and loading the model and vocabulary it describes. The
trainer writes the directory (:mod:`duplexsim.training.recipe`); agents and continuation
read it through :func:`load_agent_files`. Must not touch the simulator.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from transformers import LlamaForCausalLM

from duplexsim.models.model import load_model
from duplexsim.models.vocab import VOCABS, Vocab

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
    def context_tokens(self) -> int:
        return int(self.info["context_tokens"])

    def check_chunk_ms(self, chunk_ms: int) -> None:
        if chunk_ms not in self.chunk_ms:
            raise ValueError(f"{self.root}: agent {self.name!r} was not trained for chunk_ms="
                             f"{chunk_ms} (allowed: {', '.join(map(str, self.chunk_ms))})")


def read_agent_json(path: str | Path) -> dict[str, Any]:
    """Parse and check ``DIR/agent.json``; errors name the file and the key."""
    root = Path(path)
    file = root / "agent.json"
    if not file.is_file():
        raise FileNotFoundError(f"{root}: not a trained agent (agent.json missing); "
                                "train one with `duplexsim train agents/<card>.toml`")
    try:
        info = json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ValueError(f"{file}: corrupt agent.json ({e})") from e
    if info.get("format") != AGENT_FORMAT:
        raise ValueError(f"{file}: format: {info.get('format')!r} (allowed: {AGENT_FORMAT!r})")
    for key in ("n_units", "n_text", "chunk_ms", "silence_unit", "context_tokens"):
        if key not in info:
            raise ValueError(f"{file}: {key}: missing required key")
    return info


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
        raise ValueError(f"{root / 'agent.json'}: kind: {found!r} (allowed: "
                         f"{', '.join(VOCABS)})")
    if found != kind:
        raise ValueError(f"{root}: a {found} agent, not a {kind} agent (allowed: use it as a "
                         f'kind = "{found}" side)')
    vocab = VOCABS[found](int(info["n_units"]), int(info["n_text"]))
    model = load_model(root / "model", expected_vocab=vocab.size).to(device)
    return AgentFiles(root, info, model, vocab)
