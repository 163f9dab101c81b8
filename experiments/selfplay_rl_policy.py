"""The policy-gradient step of ``selfplay_rl.py``: the log-probability of recorded decisions
under the sampler's mask, the corpus's anchor batches, and an iteration's AdamW updates
(policy loss, KL to the base agent, anchor loss)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
import torch
from selfplay_finetune import SelfTrainDialogue  # units-only dialogues
from selfplay_rl_rollouts import Decision


def log_probs(model: torch.nn.Module, batch: list[Decision], n_units: int, s0: int,
              tags: tuple[int, ...], pad: int) -> torch.Tensor:
    """Log-probability of each decision's sampled tokens (units, then the ending tag) under
    the sampler's allowed-id mask: ``[len(batch)]``."""
    seqs, targets = [], []
    for d in batch:
        seq = [*d.context, s0, *d.units]
        first = len(d.context)  # logits at position p predict token p + 1
        picks, prev = [], -1 if d.prev_unit is None else int(d.prev_unit)
        for k, u in enumerate(d.units):
            picks.append((first + k, u, prev))
            prev = u
        if d.end is not None:
            picks.append((len(seq) - 1, d.end, prev))
        seqs.append(seq)
        targets.append(picks)
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad, dtype=torch.long)
    for b, s in enumerate(seqs):
        ids[b, :len(s)] = torch.tensor(s)
    logits = model(input_ids=ids).logits.float()  # right padding: causal, so harmless
    V = logits.shape[-1]
    base = torch.zeros(V, dtype=torch.bool)
    base[:n_units] = True
    base[list(tags)] = True
    rows, pos, tok, excl = [], [], [], []
    for b, picks in enumerate(targets):
        for p, t, prev in picks:
            rows.append(b)
            pos.append(p)
            tok.append(t)
            excl.append(prev)
    if not rows:
        return torch.zeros(len(batch))
    chosen = logits[torch.tensor(rows), torch.tensor(pos)]  # [N, V]
    mask = base.expand(len(rows), V).clone()
    has_prev = torch.tensor(excl) >= 0
    mask[has_prev.nonzero().squeeze(1), torch.tensor(excl)[has_prev]] = False
    logp = torch.log_softmax(chosen.masked_fill(~mask, float("-inf")), dim=-1)
    per_token = logp[torch.arange(len(rows)), torch.tensor(tok)]
    return torch.zeros(len(batch)).index_add(0, torch.tensor(rows), per_token)


def ids_of(vocab: Any) -> tuple[int, int, tuple[int, int], int]:
    """(n_units, [S0], the speaker tags, [PAD]) as :func:`log_probs` takes them."""
    return vocab.n_units, vocab.S0, (vocab.S0, vocab.S1), vocab.pad


def anchor_data(card: Any, corpus_dir: Path, vocab: Any) -> Any:
    """Stage-3 batches of the corpus's train split (units only)."""
    from duplexsim.corpora import load_corpus
    from duplexsim.training.datasets import StageData, prepare

    corpus = load_corpus(corpus_dir)
    train = [SelfTrainDialogue(i, corpus.units(i)) for i in corpus.ids(split="train")]
    return StageData("stage3", card, prepare(train, vocab, None), vocab, 0)


def policy_updates(args: argparse.Namespace, model: Any, base_model: Any, opt: Any,
                   data: Any, vocab: Any, found: Any, it: int, agent: Path
                   ) -> dict[str, float]:
    """``--updates`` AdamW steps on random decisions of ``found`` (advantage: the reward
    standardised over the iteration's decisions; plus ``--kl`` x KL to the base model and
    ``--anchor`` x the next-token loss on ``data``); the mean policy loss, KL and anchor
    loss. A non-finite loss is a :class:`FloatingPointError` (``agent`` keeps the last
    weights)."""
    rewards = np.array([d.reward for d in found.decisions])
    mean, sd = rewards.mean(), rewards.std() + 1e-8
    rng = np.random.default_rng([args.first_seed, it])
    model.train()
    pg_losses, anchor_losses, kls = [], [], []
    for u in range(args.updates):
        idx = rng.choice(len(found.decisions), size=min(args.decisions,
                                                        len(found.decisions)), replace=False)
        batch = [found.decisions[i] for i in idx]
        adv = torch.tensor((np.array([d.reward for d in batch]) - mean) / sd,
                           dtype=torch.float32)
        lp = log_probs(model, batch, *ids_of(vocab))
        pg = -(adv * lp).mean()
        loss = pg
        if args.kl > 0:  # k3 estimator of KL(policy || base) on the sampled decisions
            with torch.no_grad():
                lb = log_probs(base_model, batch, *ids_of(vocab))
            kl = (torch.exp(lb - lp) - (lb - lp) - 1).mean()
            loss = loss + args.kl * kl
            kls.append(float(kl.detach()))
        if data is not None:
            ids = data.batch(it * args.updates + u, n_seqs=args.anchor_seqs)
            labels = ids.masked_fill(ids == vocab.pad, -100)
            nll = model(input_ids=ids, labels=labels).loss
            loss = loss + args.anchor * nll
            anchor_losses.append(float(nll.detach()))
        if not torch.isfinite(loss):
            raise FloatingPointError(
                f"iteration {it}, update {u}: the loss is {float(loss)} (policy "
                f"{float(pg)}); {agent} keeps the weights after iteration {it}")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        pg_losses.append(float(pg.detach()))
    return {"pg_loss": float(np.mean(pg_losses)),
            "kl": float(np.mean(kls)) if kls else float("nan"),
            "anchor_loss": float(np.mean(anchor_losses)) if anchor_losses else float("nan")}
