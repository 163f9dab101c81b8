"""The three-stage training recipe and the agent directory it writes.

Owns: the stages in order with resume (:func:`train_stages`), each recipe's data
(:data:`DataBuilder`), the vocabulary, and the agent directory (docs/interfaces.md: logs as
CSV + JSON + loss PNG, ``agent.json``). The optimisation loop, validation and checkpoints
every N steps with exact resume are :mod:`duplexsim.training.trainer`'s. Must not touch the
simulator or agents.

Budgets are steps: every stage runs its card's step count, so the same seed, card and
thread count give the same ``model.safetensors`` byte for byte on any machine with the same
kind of CPU and under any load (across kinds of CPU torch's float kernels differ in the last
bits, and training amplifies them: README "Budgets are steps"). ``--max-minutes`` only guards
(:mod:`duplexsim.training.guards`); a non-finite loss stops the run with the stage and step
named.

Multi-GPU: the same entry point runs under ``torchrun --nproc-per-node N -m duplexsim.cli train
...`` or ``accelerate launch -m duplexsim.cli train ...``: when ``WORLD_SIZE`` > 1 the process
group is initialised (nccl on CUDA, gloo on CPU), the model is wrapped in
DistributedDataParallel, every rank draws its own micro-batches (the rank is part of the
batch key) and only rank 0 writes. ``batch_tokens`` is then per rank. Every rank runs the
card's step counts (a stage's ``tokens`` counts all ranks: :meth:`StageCard.steps_for`);
the guard and the non-finite stop are decided together
(:mod:`duplexsim.training.distributed`). Tested with 2 CPU processes on gloo.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from duplexsim.config.card import AgentCard
from duplexsim.digests import CORPUS_FILES, directory_digest
from duplexsim.errors import ConfigError, InputError
from duplexsim.models.agentdir import AGENT_FORMAT, weights_digests
from duplexsim.models.model import context_tokens, quiet_loading, save_model
from duplexsim.models.vocab import VOCABS, Vocab, save_text_tokenizer, train_text_tokenizer
from duplexsim.training.checkpoints import RunState, data_fingerprint
from duplexsim.training.datasets import (
    DialogueLike,
    StageBatches,
    StageData,
    prepare,
)
from duplexsim.training.distributed import Dist, setup_distributed
from duplexsim.training.guards import NonFiniteLossError, WallGuard
from duplexsim.training.logs import write_logs
from duplexsim.training.trainer import Trainer, bf16_autocast, lr_at

# RunState (duplexsim.training.checkpoints) and the Trainer's names (duplexsim.training.trainer)
# are re-exported for callers of this module
__all__ = ["DataBuilder", "Dist", "NonFiniteLossError", "RunState", "Trainer", "WallGuard",
           "bf16_autocast", "build_data", "fit", "lr_at", "make_vocab", "setup_distributed",
           "train_agent", "train_stages"]


def train_stages(trainer: Trainer, train_sets: Mapping[str, StageBatches],
                 val_sets: Mapping[str, StageBatches], guard: WallGuard | None = None
                 ) -> dict[str, float]:
    """Every enabled stage in order, resuming from ``trainer``'s checkpoint if there is one.

    When ``guard`` stops a stage, that stage is finished in memory only (so the agent written
    from it is usable and its validation loss is known), later stages are skipped and
    ``trainer.run.stopped`` lists them; the checkpoint keeps the stage open for a resume.
    """
    check_schedules(trainer.card, trainer.dist.world)
    trainer.restore()
    if trainer.run.threads[-1:] != [torch.get_num_threads()]:
        trainer.run.threads.append(torch.get_num_threads())
    precision = "bf16" if trainer.bf16 else "fp32"
    if trainer.run.precision[-1:] != [precision]:
        trainer.run.precision.append(precision)
    names = [k for k, s in trainer.card.stages().items() if s.enabled]
    for i, name in enumerate(names):
        if name in trainer.run.done:
            continue
        if not trainer.train_stage(name, train_sets[name], val_sets[name], guard):
            trainer.finish_stage(name, val_sets[name])
            assert trainer.run.stopped is not None
            trainer.run.stopped["skipped_stages"] = names[i + 1:]
            break
        trainer.save()
    return dict(trainer.run.done)


def check_schedules(card: AgentCard, world: int) -> None:
    """Every enabled stage's warmup fits the steps it runs in ``world`` processes: a
    ``tokens`` budget counts all ranks, so N ranks run 1/N of the steps the card (checked for
    one process) was checked with; with fewer steps than ``warmup_steps`` the learning rate
    would never reach its peak nor decay. The same error on every rank (no rank waits)."""
    for name, s in card.stages().items():
        total = s.steps_for(world)
        if s.enabled and s.warmup_steps > total:
            raise InputError(f"agent card {card.agent.name!r}", f"{name}.warmup_steps",
                             f"{s.warmup_steps} > the stage's {total} steps in {world} "
                             f"processes ({name}.tokens = {s.tokens} counts every process: "
                             "lr would never reach its peak)",
                             f"<= {total}, more {name}.tokens, or fewer processes")


DataBuilder = Callable[[AgentCard, Vocab, Any, Sequence[DialogueLike], Sequence[DialogueLike]],
                       tuple[Mapping[str, StageBatches], Mapping[str, StageBatches]]]
"""A recipe's stage data, ``(train_sets, val_sets)`` by stage name, from the card, the
vocabulary, the text tokenizer and the train and val dialogues: :func:`build_data` for
SyncLLM, :func:`duplexsim.training.tdm.build_tdm_data` for TDM. :func:`fit` runs it."""


def build_data(card: AgentCard, vocab: Vocab, text_tok: Any, train: Sequence[DialogueLike],
               val: Sequence[DialogueLike]) -> tuple[dict[str, StageData], dict[str, StageData]]:
    prep_train = prepare(train, vocab, text_tok)
    prep_val = prepare(val, vocab, text_tok) if val else prep_train
    names = [k for k, s in card.stages().items() if s.enabled]
    return ({k: StageData(k, card, prep_train, vocab, 0) for k in names},
            {k: StageData(k, card, prep_val, vocab, 1) for k in names})


def make_vocab(card: AgentCard, train: Sequence[DialogueLike]) -> tuple[Vocab, Any]:
    """The card's id layout (:data:`~duplexsim.models.vocab.VOCABS` of its ``agent.kind``)
    and the text tokenizer trained on ``train``'s segment texts."""
    texts = [s.text for d in train for s in d.segments if s.text]
    tok = train_text_tokenizer(texts, card.model.text_vocab_size)
    return VOCABS[card.agent.kind](card.model.n_units, tok.get_vocab_size()), tok


def agent_info(card: AgentCard, vocab: Vocab, run: RunState, corpus: str,
               validated_on: str = "val", silence_units: Iterable[int] = (),
               processes: int = 1) -> dict[str, Any]:
    """agent.json's contents. ``validated_on``: ``"val"``, or ``"train"`` when no validation
    dialogue was given and every validation loss (so ``keep_best``) is a training loss.
    ``silence_units``: the corpus tokenizer's silence units (the card's ``silence_unit`` is
    always one). ``processes``: the training processes (DDP ranks), each of which drew
    ``batch_tokens`` a step: the weights depend on it as on the thread count.
    ``corpus_digest``: the digest of the corpus folder's manifest (:data:`CORPUS_FILES`),
    so that a corpus rebuilt in its place with other parameters can be told from the one the
    agent learnt from (``duplexsim demo`` refuses to reuse the agent then); "" without a
    corpus path."""
    return {"format": AGENT_FORMAT, "name": card.agent.name, "n_units": vocab.n_units,
            "n_text": vocab.n_text, "chunk_ms": list(card.train.chunk_ms),
            "silence_unit": card.model.silence_unit,
            "silence_units": sorted({int(u) for u in silence_units} | {card.model.silence_unit}),
            "context_tokens": context_tokens(card.model), "corpus": corpus,
            "corpus_digest": directory_digest(corpus, CORPUS_FILES) if corpus else "",
            "val_loss": dict(run.done), "kept_step": dict(run.kept), "validated_on": validated_on,
            "stopped_early": run.stopped, "processes": processes,
            "torch_threads": torch.get_num_threads(),
            "torch_threads_per_start": run.threads or [torch.get_num_threads()],
            "precision": "+".join(run.precision),
            "card": card.to_dict()}


def fit(card: AgentCard, train: Sequence[DialogueLike], val: Sequence[DialogueLike],
        out: str | Path, guard: WallGuard | None = None, progress: bool = True,
        build: DataBuilder = build_data) -> tuple[Trainer, Any]:
    """Train (or resume) every enabled stage; returns the trainer and the text tokenizer.
    Writes only checkpoints and logs (rank 0); :func:`train_agent` writes the agent.
    ``build``: the recipe's stage data (:data:`DataBuilder`; the SyncLLM recipe's by
    default). ``guard``'s clock runs from its creation, so the callers make it before
    calling: the vocabulary and the data count against ``--max-minutes`` in every recipe."""
    dist = setup_distributed()
    check_schedules(card, dist.world)  # before the vocabulary and the data are built
    vocab, text_tok = make_vocab(card, train)
    trainer = Trainer(card, vocab, Path(out), dist, progress=progress,
                      data=data_fingerprint(train, val))
    train_sets, val_sets = build(card, vocab, text_tok, train, val)
    train_stages(trainer, train_sets, val_sets, guard)
    return trainer, text_tok


def train_agent(card: AgentCard, train: Sequence[DialogueLike], val: Sequence[DialogueLike],
                out: str | Path, max_minutes: float | None = None, corpus: str = "",
                progress: bool = True, finish: Callable[[Path], None] | None = None,
                silence_units: Iterable[int] = ()) -> dict[str, Any]:
    """Train all enabled stages and write the agent directory ``out``; returns agent.json.

    ``max_minutes`` is a guard, not a plan (:class:`WallGuard`): when it fires, the agent
    is written from where training stopped and ``agent.json``'s ``stopped_early`` names
    the stage and step; running again with the same ``out`` resumes. An empty ``val``
    validates on the training dialogues (``keep_best`` then picks by training loss;
    ``agent.json``'s ``validated_on`` says ``"train"``). ``finish``: see :func:`write_agent`.
    ``silence_units``: the corpus tokenizer's silence units, for ``agent.json``.
    """
    if card.agent.kind != "syncllm":  # a SyncLLM agent, agent.json without "kind": it
        # would load as SyncLLM with a card that says otherwise
        raise ConfigError(f"agent card {card.agent.name!r}", "agent.kind",
                          f"{card.agent.kind!r} (TDM cards train with "
                          "duplexsim.training.tdm.train_tdm_agent)", "'syncllm'")
    out = Path(out)
    trainer, text_tok = fit(card, train, val, out, WallGuard(max_minutes), progress)
    info = agent_info(card, trainer.vocab, trainer.run, corpus, "val" if val else "train",
                      silence_units, trainer.dist.world)
    if trainer.dist.main:
        write_agent(out, trainer, text_tok, info, finish)
    return info


def write_agent(out: Path, trainer: Trainer, text_tok: Any, info: dict[str, Any],
                finish: Callable[[Path], None] | None = None) -> None:
    """The trained agent's files in ``out``: model, text tokenizer, logs, then ``finish(out)``
    (e.g. the CLI's copy of the unit tokenizer) and last ``agent.json``, the mark of a
    complete agent directory (an interrupt before it leaves a folder that does not load as
    an agent, and resuming writes it again). ``agent.json`` records the sha256 of each
    weights file (``weights_sha256``), which loading checks: safetensors keeps no checksum,
    so a flipped bit loaded silently."""
    from duplexsim.atomic import write_json

    (out / "agent.json").unlink(missing_ok=True)  # it marks the files below complete
    # transformers draws its own "Writing model shards" bar: not with progress off
    with contextlib.nullcontext() if trainer.progress else quiet_loading():
        save_model(trainer.model, out / "model")
    save_text_tokenizer(text_tok, out / "text_tokenizer.json")
    write_logs(out, trainer.run.log, plot=True)
    if finish is not None:
        finish(out)
    info["weights_sha256"] = weights_digests(out)
    write_json(out / "agent.json", info)
