"""Tiny synthetic dialogues and a tiny trained agent for the models/training/agent tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from duplexsim.config.card import AgentCard, ModelCard, StageCard, TrainCard

N_UNITS = 20
WORDS = ["yeah", "right", "so I was thinking", "about the weekend", "we could go", "hiking",
         "mhm", "that sounds good", "I don't know", "maybe later"]


@dataclass
class Seg:
    speaker: int
    start_s: float
    end_s: float
    text: str
    kind: str = "ipu"
    count: int = 1  # as duplexsim.corpora.types.Segment


@dataclass
class Dlg:
    id: str
    units: np.ndarray
    segments: list[Seg] = field(default_factory=list)


def synthetic_dialogues(n: int = 3, seconds: float = 20.0, seed: int = 0) -> list[Dlg]:
    """Alternating turns: speech = units 1..N-1 in runs, silence = unit 0."""
    rng = np.random.default_rng(seed)
    out = []
    T = int(seconds * 25)
    for i in range(n):
        units = np.zeros((2, T), dtype=np.int64)
        segs = []
        t, speaker = 0, 0
        while t < T - 10:
            dur = int(rng.integers(10, 40))
            end = min(T, t + dur)
            runs = np.repeat(rng.integers(1, N_UNITS, size=dur), 2)[: end - t]
            units[speaker, t:end] = runs
            text = " ".join(rng.choice(WORDS, size=2))
            segs.append(Seg(speaker, t * 0.04, end * 0.04, text))
            t = end + int(rng.integers(2, 10))
            speaker = 1 - speaker
        out.append(Dlg(f"d{i}", units, segs))
    return out


def tiny_card(steps: int = 4, chunk_ms: tuple[int, ...] = (160, 200), **train_kw) -> AgentCard:
    stage = StageCard(steps=steps, batch_tokens=256, seq_len=64, warmup_steps=1, lr=3e-3,
                      window_chunks=12)
    return AgentCard(
        model=ModelCard(size="tiny", n_units=N_UNITS, text_vocab_size=300),
        train=TrainCard(chunk_ms=chunk_ms, bf16=False, val_every=2, val_batches=1,
                        checkpoint_every=2, **train_kw),
        stage1=stage, stage2=stage, stage3=stage,
    )


def train_tiny_agent(out: Path, steps: int = 2) -> Path:
    from duplexsim.training.recipe import train_agent

    dialogues = synthetic_dialogues()
    train_agent(tiny_card(steps=steps), dialogues[:2], dialogues[2:], out, progress=False)
    return out
