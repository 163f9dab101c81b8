"""The three-stage training recipe and the agent directory it writes.

Owns: the optimisation loop (AdamW, warmup + cosine/linear/constant schedule, gradient
accumulation, bf16 autocast, validation loss), checkpoints every N steps with exact resume,
logs (CSV + JSON + loss PNG) and the agent directory (docs/interfaces.md). Must not touch the
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
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from duplexsim.atomic import remove_stale_folders, remove_stale_temporaries
from duplexsim.config.card import AgentCard, StageCard
from duplexsim.digests import CORPUS_FILES, directory_digest
from duplexsim.errors import ConfigError, InputError
from duplexsim.models import attention
from duplexsim.models.agentdir import AGENT_FORMAT, weights_digests
from duplexsim.models.model import build_model, context_tokens, quiet_loading, save_model
from duplexsim.models.vocab import VOCABS, Vocab, save_text_tokenizer, train_text_tokenizer
from duplexsim.training.checkpoints import (
    data_fingerprint,
    digest_path,
    load_checkpoint,
    rng_states,
    save_checkpoint,
    set_rng_states,
)
from duplexsim.training.datasets import (
    DialogueLike,
    StageBatches,
    StageData,
    prepare,
    ramp_progress,
)
from duplexsim.training.distributed import Dist, all_ranks, setup_distributed, sum_ranks
from duplexsim.training.guards import NonFiniteLossError, WallGuard
from duplexsim.training.logs import write_logs

__all__ = ["DataBuilder", "Dist", "NonFiniteLossError", "Trainer", "WallGuard", "build_data", "fit",
           "lr_at", "make_vocab", "setup_distributed", "train_agent", "train_stages"]


def lr_at(s: StageCard, step: int, total: int) -> float:
    """Learning rate at ``step`` of ``total`` (steps ``0 .. total - 1``): linear warmup,
    then the stage's schedule, which reaches ``lr * min_lr_ratio`` at ``step == total``, one
    past the last update: the last step's rate is a hair above it (cosine, 1000 steps, warmup
    100, ratio 0.1: 0.1000027 x ``lr``; linear: 0.101). Kept so: the agents' bytes depend
    on it."""
    if step < s.warmup_steps:
        return s.lr * (step + 1) / s.warmup_steps
    if s.schedule == "constant":
        return s.lr
    frac = min(1.0, (step - s.warmup_steps) / max(1, total - s.warmup_steps))
    decay = 0.5 * (1 + math.cos(math.pi * frac)) if s.schedule == "cosine" else 1 - frac
    return s.lr * (s.min_lr_ratio + (1 - s.min_lr_ratio) * decay)


@dataclass
class RunState:
    """What a checkpoint restores besides weights."""

    stage: str = ""
    step: int = 0
    done: dict[str, float] = field(default_factory=dict)  # finished stage -> val loss
    log: list[dict[str, Any]] = field(default_factory=list)
    kept: dict[str, int] = field(default_factory=dict)  # finished stage -> step of its weights
    best: dict[str, Any] = field(default_factory=dict)
    """This stage's lowest validation loss so far: ``{"val_loss", "step", "model"}`` (a CPU
    copy of the weights; empty before the first validation or with ``keep_best = false``)."""
    pending: list[float] = field(default_factory=list)
    """Training losses of the steps since the last ``train_log`` row (``[train] log_every``)."""
    stopped: dict[str, Any] | None = None
    """Set when ``--max-minutes`` ended the run early (never saved: a resume clears it)."""
    threads: list[int] = field(default_factory=list)
    """torch's thread count at the start and at every resume that changed it: the weights
    are those of one count only when this holds one."""
    precision: list[str] = field(default_factory=list)
    """``"bf16"`` or ``"fp32"`` (:func:`bf16_autocast`) at the start and at every resume that
    changed it (a checkpoint moved between machines)."""
    elapsed_s: float = 0.0
    """Wall seconds this stage had trained up to the checkpoint (``train_log``'s
    ``elapsed_s`` goes on from it after a resume instead of starting again at 0)."""


def bf16_autocast(card_bf16: bool, device_type: str) -> bool:
    """Whether a card's ``bf16 = true`` trains under bf16 autocast on this device: only where
    the hardware computes bf16 itself. On a CPU without oneDNN's bf16 path (AVX2 only: no
    AVX-512, no AMX) every bf16 product is emulated, about 55x the time of the same fp32
    one at the demo's shapes (a 512x256 by 256x1024 matmul, one thread: 356 ms against
    6.5 ms on a Zen 3 EPYC), which would stretch the demo's training from minutes to hours;
    there the card trains in fp32. ``agent.json`` records which (``precision``)."""
    if not card_bf16:
        return False
    if device_type == "cuda":
        return torch.cuda.is_bf16_supported()
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


class Trainer:
    """Owns the model, optimiser and the per-step update; one instance for all stages."""

    def __init__(self, card: AgentCard, vocab: Vocab, out: Path, dist: Dist,
                 progress: bool = True, data: str = "") -> None:
        self.card, self.vocab, self.out, self.dist = card, vocab, out, dist
        self.data = data
        """:func:`~duplexsim.training.checkpoints.data_fingerprint` of the dialogues: a
        checkpoint of other data is not resumed."""
        self.progress = progress and dist.main
        self.ckpt = out / "checkpoints" / "last.pt"
        if card.model.init_from and self.ckpt.is_file():  # say why a resume needs the folder
            problems = card.missing_files(f"agent card {card.agent.name!r}", self.ckpt)
            if problems:
                raise ConfigError(problems)
        # PreTrainedModel.to is decorated with functools.wraps(nn.Module.to), which typeshed
        # types as a _Wrapped without __get__: mypy does not bind self to the model
        self.model = build_model(card.model, vocab.size, vocab.pad, vocab.bos, vocab.eos,
                                 seed=card.train.seed).to(dist.device)  # type: ignore[arg-type]
        self.device_type = "cuda" if dist.device.startswith("cuda") else "cpu"
        self.bf16 = bf16_autocast(card.train.bf16, self.device_type)
        if self.device_type == "cpu" and self.bf16:  # CPU flash: 40% of a bf16 step
            self.model.set_attn_implementation(attention.NAME)
        self.ddp = self.model
        if dist.world > 1:
            from torch.nn.parallel import DistributedDataParallel

            # the model's only buffers, the rotary inv_freq (and original_inv_freq), are
            # computed from the config, never trained: every rank builds the same ones, so
            # DDP's default re-broadcast of rank 0's buffers before every forward is traffic
            # for nothing (a dynamic/longrope init_from model recomputes them in forward from
            # the positions, which are the same on every rank: seq_len-long rows)
            self.ddp = DistributedDataParallel(self.model, broadcast_buffers=False)
        self.card_dict = card.to_dict()
        self.run = RunState()
        self.saved: tuple[str, int] | None = None  # (stage, step) of the checkpoint on disk
        self.optimizer: torch.optim.Optimizer | None = None
        self.stage_t0 = time.perf_counter()

    def new_optimizer(self, s: StageCard) -> torch.optim.Optimizer:
        decay = [p for p in self.model.parameters() if p.dim() >= 2]
        no_decay = [p for p in self.model.parameters() if p.dim() < 2]
        groups = [{"params": decay, "weight_decay": s.weight_decay},
                  {"params": no_decay, "weight_decay": 0.0}]
        return torch.optim.AdamW(groups, lr=s.lr, betas=(0.9, 0.95), foreach=False)

    def loss(self, batch: torch.Tensor, turn_weight: float = 1.0, bare: bool = False
             ) -> torch.Tensor:
        """Mean next-token loss over non-pad targets of ``batch`` [B, L]; with
        ``turn_weight`` != 1 a weighted mean, the targets right after a speaker tag weighing
        ``turn_weight`` (``StageCard.turn_weight``). ``bare``: run the model itself, not its
        DDP wrapper (validation, where ranks run different numbers of batches: no rank may
        wait in a collective of the wrapper's forward for another)."""
        net = self.model if bare else self.ddp
        batch = batch.to(self.dist.device)
        labels = batch.masked_fill(batch == self.vocab.pad, -100)
        with torch.autocast(self.device_type, dtype=torch.bfloat16, enabled=self.bf16):
            if turn_weight == 1.0:
                return net(input_ids=batch, labels=labels).loss
            logits = net(input_ids=batch).logits
        targets = labels[:, 1:]
        ce = torch.nn.functional.cross_entropy(
            logits[:, :-1].float().reshape(-1, logits.shape[-1]), targets.reshape(-1),
            ignore_index=-100, reduction="none").view_as(targets)
        inputs = batch[:, :-1]
        after_tag = (inputs == self.vocab.S0) | (inputs == self.vocab.S1)
        weight = torch.where(after_tag, turn_weight, 1.0) * (targets != -100)
        return (ce * weight).sum() / weight.sum().clamp_min(1.0)

    def target_weight(self, batch: torch.Tensor, turn_weight: float = 1.0) -> float:
        """What :meth:`loss` divides by for ``batch``: its non-pad targets, those right after
        a speaker tag counting ``turn_weight``."""
        inputs, targets = batch[:, :-1], batch[:, 1:]
        after_tag = (inputs == self.vocab.S0) | (inputs == self.vocab.S1)
        valid = targets != self.vocab.pad
        return float(valid.sum()) + (turn_weight - 1.0) * float((valid & after_tag).sum())

    def step(self, data: StageBatches, s: StageCard, step: int, total: int) -> float:
        """One optimizer step (``grad_accum`` micro-batches); returns the mean loss.

        The micro-batches, and under DDP the ranks, weigh by their targets
        (:meth:`target_weight`), so the step's gradient is that of the mean over all its
        targets, as one batch of them all would have it: a mean of the micro-batches' (or
        ranks') means weighed a row of padding's few targets as much as a full row's. The
        loss returned is this rank's. A non-finite loss (on any rank) or gradient norm raises
        :class:`NonFiniteLossError` before the update, so the weights stay as they were.
        """
        assert self.optimizer is not None
        for group in self.optimizer.param_groups:
            group["lr"] = lr_at(s, step, total)
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        batches = [data.batch(step, micro, self.dist.rank, progress=ramp_progress(step, total))
                   for micro in range(s.grad_accum)]
        weights = [self.target_weight(b, s.turn_weight) for b in batches]
        mine = sum(weights)
        everyone = sum_ranks(mine, self.dist)  # DDP then averages the gradients over ranks
        alone = s.grad_accum == 1 and self.dist.world == 1
        total_loss = 0.0
        for micro, (batch, weight) in enumerate(zip(batches, weights, strict=True)):
            with self.accumulating(micro < len(batches) - 1):
                mean = self.loss(batch, s.turn_weight)
                self.check_finite(mean.detach(), "training loss", step + 1)
                # one micro-batch in one process: the mean itself (the bytes of every such run)
                loss = mean / s.grad_accum if alone or everyone <= 0 else \
                    mean * (weight * self.dist.world / everyone)
                loss.backward()
            total_loss += float(loss.detach()) if alone or mine <= 0 else \
                float(mean.detach()) * (weight / mine)
        norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.check_finite(norm, "gradient norm", step + 1)
        self.optimizer.step()
        return total_loss

    def accumulating(self, more: bool) -> contextlib.AbstractContextManager[Any]:
        """Under DDP, a micro-batch with ``more`` to come keeps its gradient on this rank
        (``no_sync``, forward and backward): the ranks all-reduce once a step, after its last
        micro-batch, the sum of them all (nanoGPT's ``require_backward_grad_sync``), not
        ``grad_accum`` times."""
        if more and self.dist.world > 1:
            return self.ddp.no_sync()  # type: ignore[operator]
        return contextlib.nullcontext()

    def check_finite(self, value: torch.Tensor, what: str, step: int) -> None:
        """Raise :class:`NonFiniteLossError` unless ``value`` is finite on every rank."""
        mine = bool(torch.isfinite(value).all())
        if all_ranks(mine, self.dist):
            return
        shown = "non-finite on another rank" if mine else f"{float(value.float().max())}"
        where = (f"{self.ckpt} ({self.saved[0]} step {self.saved[1]})" if self.saved
                 else "none (no checkpoint was written yet)")
        raise NonFiniteLossError(
            f"{self.out}: {self.run.stage} step {step}: {what} is {shown} "
            f"(allowed: finite; lower {self.run.stage}.lr or check the corpus); training "
            f"stopped before this update; last good checkpoint: {where}")

    @torch.no_grad()
    def validate(self, data: StageBatches) -> float:
        """The plain mean next-token loss over every non-pad target of the stage's fixed
        validation batches (each batch weighs by its targets, as :meth:`step` weighs its
        micro-batches: a mean of the batches' means weighed a batch of short rows as much as
        one of full rows).

        A validation batch is a step's rows (``batch_tokens // seq_len``), drawn under one
        key and run ``seqs_per_micro`` rows at a time: the same rows for any ``grad_accum``
        (one micro-batch's rows made the set shrink with it: 4 rows at ``grad_accum = 1``,
        2 at 2 for the tiny card).

        Under DDP the ranks share the micro-batches (rank r runs r, r + world, ...) and
        add up their sums of loss x targets and of targets (:func:`sum_ranks`): every rank
        gets the one mean, as one process computes it but for the order of the float64
        sums (a few ulps); each rank ran the whole set before. One process: the same bytes."""
        self.model.eval()
        s = self.card.stages()[self.run.stage]
        micro = s.seqs_per_micro
        batches = [rows[i:i + micro]
                   for b in range(self.card.train.val_batches)
                   for rows in [data.batch(10**6 + b, progress=1.0,
                                           n_seqs=micro * s.grad_accum)]
                   for i in range(0, len(rows), micro)]
        mine = batches[self.dist.rank::self.dist.world]
        weights = [self.target_weight(b) for b in mine]
        total = sum_ranks(math.fsum(weights), self.dist)
        summed = sum_ranks(math.fsum(float(self.loss(b, bare=True)) * w
                                     for b, w in zip(mine, weights, strict=True)), self.dist)
        val = summed / total if total > 0 else math.nan
        self.check_finite(torch.tensor(val), "validation loss", self.run.step)
        return val

    def save(self) -> None:
        """Checkpoint (rank 0 writes); weights are checked finite first, on every rank."""
        assert self.optimizer is not None
        finite = all(bool(torch.isfinite(p).all()) for p in self.model.parameters())
        self.check_finite(torch.tensor(0.0 if finite else math.nan), "a weight",
                          self.run.step)
        self.saved = (self.run.stage, self.run.step)
        if not self.dist.main:
            return
        save_checkpoint(self.ckpt, {
            "stage": self.run.stage, "step": self.run.step, "done": self.run.done,
            "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
            **rng_states(self.dist.device), "card": self.card_dict,
            "vocab_size": self.vocab.size, "data": self.data, "log": self.run.log,
            "kept": self.run.kept, "pending": self.run.pending,
            "best": self.run.best, "threads": self.run.threads,
            "precision": self.run.precision,
            "elapsed_s": time.perf_counter() - self.stage_t0, "world": self.dist.world,
        })
        write_logs(self.out, self.run.log)

    def restore(self) -> None:
        if self.dist.main:  # a checkpoint, log or model write a kill cut short
            remove_stale_temporaries(self.ckpt)
            remove_stale_temporaries(digest_path(self.ckpt))
            for name in ("train_log.csv", "train_log.json", "text_tokenizer.json", "agent.json",
                         "loss.png"):
                remove_stale_temporaries(self.out / name)
            remove_stale_folders(self.out / "model")
        if not self.ckpt.is_file():
            return
        state = load_checkpoint(self.ckpt, self.card_dict, self.vocab.size, self.data,
                                self.dist.world)
        s = self.card.stages()[state["stage"]]
        total = s.steps_for(self.dist.world)
        if state["step"] > total:  # the card matched: a damaged or hand-edited file
            raise InputError(str(self.ckpt), "step", f"{state['step']} in {state['stage']}, "
                             f"past the card's {total} steps", f"a step <= {total}; delete "
                             "it to start over")
        self.optimizer = self.new_optimizer(s)
        for key, target in (("model", self.model), ("optimizer", self.optimizer)):
            try:  # the card matched, so only a damaged or hand-edited file has other tensors
                target.load_state_dict(state[key])
            except (RuntimeError, ValueError, KeyError, TypeError) as e:
                why = " ".join(f"{type(e).__name__}: {e}".split())
                raise InputError(str(self.ckpt), key, f"does not fit the card's model ({why})",
                                 "the state this card's run saved; delete it to start over"
                                 ) from None
        # (after every check: a damaged checkpoint leaves the agent it would replace alone)
        if self.dist.main:  # an agent.json and loss.png from before (a time guard's stop)
            for name in ("agent.json", "loss.png"):  # describe other weights than those to
                (self.out / name).unlink(missing_ok=True)  # come (write_agent draws anew)
            # and its logs a stage finished where the guard stopped it: the checkpoint's rows
            write_logs(self.out, list(state["log"]))
        set_rng_states(state, self.dist.device)
        self.run = RunState(state["stage"], int(state["step"]), dict(state["done"]),
                            list(state["log"]), dict(state.get("kept", {})),
                            dict(state.get("best", {})),
                            [float(x) for x in state.get("pending", [])],
                            threads=[int(n) for n in state.get("threads", [])],
                            precision=[str(p) for p in state.get("precision", [])],
                            elapsed_s=float(state.get("elapsed_s", 0.0)))
        self.saved = (self.run.stage, self.run.step)

    def note_val(self, val_loss: float) -> None:
        """Remember the weights if ``val_loss`` is this stage's lowest (``keep_best``)."""
        if not self.card.train.keep_best:
            return
        if not self.run.best or val_loss < self.run.best["val_loss"]:
            self.run.best = {"val_loss": val_loss, "step": self.run.step,
                             "model": {k: v.detach().to("cpu", copy=True)
                                       for k, v in self.model.state_dict().items()}}

    def tokens_per_step(self, s: StageCard) -> int:
        return s.seqs_per_micro * s.seq_len * s.grad_accum * self.dist.world

    def train_stage(self, name: str, train: StageBatches, val: StageBatches,
                    guard: WallGuard | None = None) -> bool:
        """Run (or resume) one stage to its card's step count and finish it
        (:meth:`finish_stage`). Returns False when ``guard`` stopped it at a step boundary:
        the checkpoint then holds the stage open and ``run.stopped`` says where."""
        s, tc = self.card.stages()[name], self.card.train
        guard = guard or WallGuard()
        if self.run.stage != name:
            self.run.stage, self.run.step, self.run.best, self.run.pending = name, 0, {}, []
            self.run.elapsed_s = 0.0
            self.optimizer = self.new_optimizer(s)
        total = s.steps_for(self.dist.world)
        self.stage_t0 = time.perf_counter() - self.run.elapsed_s  # a resume goes on counting
        bar = tqdm(total=total, initial=self.run.step, desc=name, disable=not self.progress)
        while self.run.step < total:
            if guard.expired(self.dist):  # the first step boundary past the limit
                bar.close()
                self.save()  # the stage stays open: the same command without the guard goes on
                self.run.stopped = {"reason": "max_minutes", "max_minutes": guard.max_minutes,
                                    "stage": name, "step": self.run.step, "planned_steps": total}
                return False
            step = self.run.step
            loss = self.step(train, s, step, total)
            self.run.step = step + 1
            self.run.pending.append(loss)
            validate = (step + 1) % tc.val_every == 0
            if validate or (step + 1) % tc.log_every == 0 or step + 1 in (1, total):
                # one row per log_every steps (and at the first and last step and each
                # validation): the mean training loss of the steps since the previous row
                row: dict[str, Any] = {
                    "stage": name, "step": step + 1,
                    "loss": math.fsum(self.run.pending) / len(self.run.pending),
                    "lr": lr_at(s, step, total),
                    "val_loss": "", "elapsed_s": round(time.perf_counter() - self.stage_t0, 3),
                    "tokens": (step + 1) * self.tokens_per_step(s)}
                self.run.pending = []
                if validate:
                    row["val_loss"] = self.validate(val)
                    self.note_val(row["val_loss"])
                self.run.log.append(row)
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.3f}")
            if (step + 1) % tc.checkpoint_every == 0:
                self.save()
        bar.close()
        self.finish_stage(name, val)
        return True

    def finish_stage(self, name: str, val: StageBatches) -> float:
        """Final validation; with ``keep_best`` go back to the stage's lowest-loss weights.
        Records the stage as done and returns the validation loss of the weights it ends on."""
        s = self.card.stages()[name]
        final = self.validate(val)
        self.note_val(final)
        kept, kept_loss = self.run.step, final
        if self.run.best and self.run.best["val_loss"] < final:  # overfitted: go back
            self.model.load_state_dict(self.run.best["model"])
            kept, kept_loss = self.run.best["step"], self.run.best["val_loss"]
        self.run.log.append({"stage": name, "step": self.run.step, "loss": "", "lr": "",
                             "elapsed_s": round(time.perf_counter() - self.stage_t0, 3),
                             "tokens": self.run.step * self.tokens_per_step(s),
                             "val_loss": final, "kept_step": kept, "kept_val_loss": kept_loss})
        self.run.done[name], self.run.kept[name], self.run.best = kept_loss, kept, {}
        return kept_loss


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
