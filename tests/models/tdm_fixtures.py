"""A tiny TDM agent for the agent, simulator and env tests (a few seconds to train)."""

from __future__ import annotations

from pathlib import Path

from duplexsim.config.card import AgentCard, AgentInfo, ModelCard, StageCard, TdmCard, TrainCard

SLICES = (640, 800, 1200)
"""640 and 800 ms are whole 160 ms chunks (the shipped SyncLLM test agents' size), 1200 ms
whole 200 and 240 ms chunks."""


def tiny_tdm_card(steps: int = 2, interruption_prob: float = 0.5) -> AgentCard:
    stage = StageCard(steps=steps, batch_tokens=512, seq_len=128, warmup_steps=1, lr=3e-3)
    return AgentCard(
        agent=AgentInfo(name="tiny-tdm", kind="tdm"),
        model=ModelCard(size="tiny", n_units=501, text_vocab_size=300),
        train=TrainCard(chunk_ms=(160, 200), bf16=False, val_every=steps, val_batches=1,
                        checkpoint_every=steps),
        stage1=StageCard(enabled=False), stage2=stage, stage3=stage,
        tdm=TdmCard(slice_ms=SLICES, window_slices=6, interruption_prob=interruption_prob),
    )


def train_tiny_tdm_agent(out: Path, steps: int = 2) -> Path:
    """A tiny TDM agent (501 units) trained for ``steps`` per stage on the shipped dialogue."""
    from duplexsim.corpora import default_dialogue
    from duplexsim.training.tdm import train_tdm_agent

    dialogue = default_dialogue()
    train_tdm_agent(tiny_tdm_card(steps), [dialogue.crop(0.0, 40.0)],
                    [dialogue.crop(40.0, 60.0)], out, progress=False)
    return Path(out)
