"""Agent cards: the schema of ``agents/*.toml`` (model size, vocabulary, three-stage recipe).

Owns: the whole card (:class:`AgentCard`, its ``[agent]`` table :class:`AgentInfo` and the
checks across tables) and :func:`load_card`; the other tables (:class:`ModelCard`,
:class:`StageCard`, :class:`TrainCard`, :class:`TdmCard`) live in
:mod:`duplexsim.config.card_tables` and are re-exported here. Must not import torch, models
or the trainer: ``duplexsim validate`` checks cards without paying for torch.

A card has the tables ``[agent]``, ``[model]``, ``[train]``, ``[stage1]``, ``[stage2]`` and
``[stage3]``; every key has a default, unknown keys are errors (``file: key: ...``).
``[agent] kind`` picks the architecture: ``syncllm`` (the default) or ``tdm`` (the
time-division-multiplexing agent, :mod:`duplexsim.tdm_tokens`), which reads the extra
table ``[tdm]`` (:class:`TdmCard`; its recipe is :mod:`duplexsim.training.tdm`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from duplexsim.config.card_tables import (
    SIZE_PRESETS,
    SIZES,
    ModelCard,
    ModelSize,
    SizePreset,
    StageCard,
    TdmCard,
    TrainCard,
)
from duplexsim.config.field_errors import FieldError, raise_errors
from duplexsim.config.field_values import check_field_types, plain_fields
from duplexsim.config.loader import from_dict, load_toml
from duplexsim.errors import ConfigError, Problem
from duplexsim.tokens import FRAME_MS, min_context_tokens

# the section tables moved to card_tables.py: the names scripts import from here stay importable
__all__ = ["AGENT_KINDS", "SIZES", "SIZE_PRESETS", "AgentCard", "AgentInfo", "ModelCard",
           "ModelSize", "SizePreset", "StageCard", "TdmCard", "TrainCard", "card_from_dict",
           "card_with_defaults", "load_card"]

AGENT_KINDS = ("syncllm", "tdm")


@dataclass(frozen=True)
class AgentInfo:
    """Who the agent is."""

    name: str = "agent"
    corpus_preset: str = ""
    """The corpus style it is meant to be trained on (fisher-like, candor-like, real ...)."""
    kind: Literal["syncllm", "tdm"] = "syncllm"
    """The architecture: syncllm (interleaved chunks, estimates the partner ahead) or tdm
    (time slices with ``<idle>``/``<eos>``, MiniCPM-duplex; reads the ``[tdm]`` table)."""

    def __post_init__(self) -> None:
        plain_fields(self)
        check_field_types(self)


@dataclass(frozen=True)
class AgentCard:
    """A whole agent card."""

    agent: AgentInfo = field(default_factory=AgentInfo)
    model: ModelCard = field(default_factory=ModelCard)
    train: TrainCard = field(default_factory=TrainCard)
    stage1: StageCard = field(default_factory=StageCard)
    stage2: StageCard = field(default_factory=StageCard)
    stage3: StageCard = field(default_factory=StageCard)
    tdm: TdmCard | None = None
    """kind = "tdm" only: slices and interruption injection (unset = the defaults)."""

    def __post_init__(self) -> None:
        plain_fields(self)
        check_field_types(self)
        errors: list[FieldError] = []
        if not any(s.enabled for s in self.stages().values()):
            errors.append(FieldError("stage3.enabled", "every stage is disabled",
                                     "at least one stage", tuple(self.stages())))
        if self.agent.kind != "tdm" and self.tdm is not None:
            errors.append(FieldError("tdm", f"a [tdm] table in a card with agent.kind = "
                                     f"{self.agent.kind!r}", 'agent.kind = "tdm", or no [tdm] '
                                     "table", ("agent",)))
        # the geometry is known only once the model is loaded
        if not self.model.init_from and self.model.size in SIZE_PRESETS:
            errors += self._context_errors(self.model.geometry().context_tokens)
        raise_errors(errors)

    def _context_errors(self, context: int) -> list[FieldError]:
        """What the model's ``context`` tokens cannot hold, and slices no chunk size divides:
        each an agent that would train, then refuse to load (or train past its positions)."""
        errors: list[FieldError] = []
        if self.agent.kind != "tdm":
            longest = max(self.train.chunk_ms)
            least = min_context_tokens(longest // FRAME_MS)
            if context < least:
                errors.append(FieldError("model.context_tokens", f"{context} is too short for "
                                         f"{longest} ms chunks (four chunks of both sides)",
                                         f">= {least}", ("model", "train", "agent")))
        else:
            from duplexsim.tdm_tokens import min_tdm_context

            longest = max(self.tdm_card.slice_ms)
            least = min_tdm_context(longest // FRAME_MS)
            if context < least:
                errors.append(FieldError("model.context_tokens", f"{context} is too short for "
                                         f"slice_ms = {longest} ({longest // FRAME_MS} units a "
                                         "slice: the slice pair it answers and its own piece)",
                                         f">= {least}", ("model", "tdm", "agent")))
            errors += [FieldError("tdm.slice_ms", f"{slice_ms} is not a whole number of chunks "
                                  f"of any train.chunk_ms {list(self.train.chunk_ms)}",
                                  "slices that one of the chunk sizes divides",
                                  ("tdm", "train", "model", "agent"))
                       for slice_ms in self.tdm_card.slice_ms
                       if not any(slice_ms % c == 0 for c in self.train.chunk_ms)]
        # trained on rows longer than the context (or the position table)
        errors += [FieldError(f"{name}.seq_len", f"{stage.seq_len} > the model's "
                              f"context_tokens = {context}", f"<= {context}", (name, "model"))
                   for name, stage in self.stages().items()
                   if stage.enabled and stage.seq_len > context]
        return errors

    def missing_files(self, file: str = "<card>", resume: str | Path = "") -> list[Problem]:
        """Files this card needs that are not there: ``model.init_from``'s model folder;
        for ``train`` (before the corpus is read) and ``validate --check-files``.
        ``resume``: the checkpoint a run would resume, which needs the folder too."""
        path = self.model.init_from
        if path and not (Path(path) / "config.json").is_file():
            where = "" if Path(path).is_absolute() else \
                f"; relative to the current directory {Path.cwd()}, not to the card"
            if resume:  # the checkpoint holds the weights, not the model's configuration
                return [Problem(file, "model.init_from", f"no model folder at {path!r} "
                                f"(config.json missing{where}); resuming {resume} needs it: "
                                "the model is built from it (its config.json and generation "
                                "config, saved with the agent) before the checkpoint's "
                                "weights are loaded over it",
                                f"the pretrained folder this run started from, back at {path!r}")]
            return [Problem(file, "model.init_from", f"no model folder at {path!r} "
                            f"(config.json missing{where})",
                            'a local Hugging Face Llama folder, or "" to train from scratch')]
        return []

    @property
    def tdm_card(self) -> TdmCard:
        """The ``[tdm]`` table, its defaults when the card leaves it out."""
        return self.tdm or TdmCard()

    def stages(self) -> dict[str, StageCard]:
        return {"stage1": self.stage1, "stage2": self.stage2, "stage3": self.stage3}

    def to_dict(self) -> dict[str, Any]:
        import dataclasses

        # an unset [tdm] table is left out, so a SyncLLM card's dict has no "tdm" key
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}


def load_card(path: str | Path, *, check_files: bool = False) -> AgentCard:
    """Read and validate an agent card TOML file (every problem is reported);
    ``check_files=True`` also reports the files it names that are not there
    (:meth:`AgentCard.missing_files`)."""
    card = load_toml(path, AgentCard)
    if check_files:
        problems = card.missing_files(str(path))
        if problems:
            raise ConfigError(problems)
    return card


def card_from_dict(data: dict[str, Any], file: str = "<card>") -> AgentCard:
    """Rebuild a card from ``to_dict()`` output (e.g. agent.json's ``card``)."""
    data = {k: dict(v) for k, v in data.items() if v is not None}
    for key in ("chunk_ms", "stage2_gap_ms"):
        if key in data.get("train", {}):
            data["train"][key] = list(data["train"][key])
    for key in ("slice_ms", "barge_in_ms", "yield_ms", "resume_gap_ms"):
        if key in data.get("tdm", {}):
            data["tdm"][key] = list(data["tdm"][key])
    return from_dict(AgentCard, data, file=file)


def card_with_defaults(saved: Any) -> Any:
    """A recorded card (a checkpoint's or agent.json's ``card``) with the keys added to cards
    since it was written set to their defaults (e.g. ``turn_weight``), so that a run or an
    agent of an older card still matches it; anything that is not a valid card is returned
    as it is (and then differs)."""
    if not isinstance(saved, dict):
        return saved
    try:
        return card_from_dict(saved).to_dict()
    except (ValueError, TypeError, KeyError):
        return saved
