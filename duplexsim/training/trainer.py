"""One training run's optimisation: the :class:`Trainer` and what it keeps between steps.

Owns: the per-step update (AdamW, warmup + cosine/linear/constant schedule: :func:`lr_at`,
gradient accumulation, bf16 autocast where the hardware has it: :func:`bf16_autocast`), the
validation loss and ``keep_best``, one stage run to its step count, and the checkpoint it
saves and resumes from (:class:`RunState`: what it restores besides weights). The order of
the stages, their data and the agent directory are :mod:`duplexsim.training.recipe`'s. Must
not touch the simulator or agents.

Under DDP (``WORLD_SIZE`` > 1) the model is wrapped in DistributedDataParallel, every rank
draws its own micro-batches (the rank is part of the batch key) and only rank 0 writes; the
guard and the non-finite stop are decided together (:mod:`duplexsim.training.distributed`).
"""

from __future__ import annotations

import contextlib
import math
import time
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from duplexsim.atomic import remove_stale_temporaries
from duplexsim.config.card import AgentCard
from duplexsim.config.card_tables import StageCard
from duplexsim.errors import ConfigError, InputError
from duplexsim.folders import remove_stale_folders
from duplexsim.models import attention
from duplexsim.models.model import build_model
from duplexsim.models.vocab import Vocab
from duplexsim.training.checkpoints import (
    RunState,
    digest_path,
    load_checkpoint,
    rng_states,
    save_checkpoint,
    set_rng_states,
)
from duplexsim.training.datasets import StageBatches, ramp_progress
from duplexsim.training.distributed import Dist, all_ranks, sum_ranks
from duplexsim.training.guards import NonFiniteLossError, WallGuard
from duplexsim.training.logs import write_logs


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
