"""Continuation mode (paper section 5): a prompt dialogue in, both sides generated on.

Owns: :func:`continue_dialogue`, the model speaking for both speakers chunk by chunk with
the constrained, KV-cached sampler. Must not touch the simulator or metrics.

The context slides like the agent's: when the next chunk could overflow the model's
``context_tokens``, the last chunks that fit in half the window are re-encoded from their
frames and re-prefilled.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from duplexsim.models.agentdir import AgentFiles, load_agent_files
from duplexsim.models.streaming import (
    SamplingConfig,
    StreamingLM,
    StreamState,
    choose,
    sample_piece,
)
from duplexsim.tokens import SyncFormat


def continue_dialogue(agent: str | Path | AgentFiles, prompt_units: np.ndarray, seconds: float,
                      chunk_ms: int = 160, seed: int = 0,
                      sampling: SamplingConfig | None = None) -> np.ndarray:
    """Generate ``seconds`` more of both channels after ``prompt_units`` [2, T].

    Returns int64 ``[2, T' + n_new]``: the prompt (cut to whole chunks) then the
    continuation. Channel 0 is the model's speaker 0 (the self-centric "own" side).
    """
    files = agent if isinstance(agent, AgentFiles) else load_agent_files(agent)
    files.check_chunk_ms(chunk_ms)
    fmt = SyncFormat(chunk_ms=chunk_ms, n_units=files.vocab.n_units,
                     silence_unit=files.silence_unit)
    F = fmt.frames_per_chunk
    prompt = np.asarray(prompt_units, dtype=np.int64)
    if prompt.ndim != 2 or prompt.shape[0] != 2:
        raise ValueError(f"prompt_units: shape {prompt.shape} (allowed: [2, T])")
    prompt = prompt[:, : prompt.shape[1] // F * F]
    frames = [[c for c in prompt[s].reshape(-1, F)] for s in (0, 1)]  # chunk lists
    lm = StreamingLM(files.model, files.vocab.n_units)
    state = StreamState()
    generator = torch.Generator(device=lm.device).manual_seed(int(seed))
    cfg = sampling or SamplingConfig()
    state.append(_encode_tail(fmt, frames, len(frames[0])))
    keep_chunks = max(1, (files.context_tokens // 2) // (2 * F + 2))
    for _ in range(int(round(seconds * 1000)) // chunk_ms):
        if len(state) + 2 * F + 4 > files.context_tokens:
            state.reset()
            state.append(_encode_tail(fmt, frames, keep_chunks))
        prev = [int(frames[s][-1][-1]) if frames[s] else None for s in (0, 1)]
        state.append([fmt.S0])
        own, end = sample_piece(lm, state, prev[0], F, (fmt.S0, fmt.S1), cfg, generator)
        if end is None:
            end = choose(lm, state, (fmt.S0, fmt.S1), cfg, generator)
        partner: list[int] = []
        if end == fmt.S1:
            state.append([fmt.S1])
            partner, _ = sample_piece(lm, state, prev[1], F, (fmt.S0,), cfg, generator,
                                      min_units=1)
        frames[0].append(fmt.decode_stream_chunk(own, prev[0]))
        frames[1].append(fmt.decode_stream_chunk(partner, prev[1]))
    return np.stack([np.concatenate(frames[s]) if frames[s] else np.zeros(0, np.int64)
                     for s in (0, 1)])


def _encode_tail(fmt: SyncFormat, frames: list[list[np.ndarray]], n_chunks: int) -> list[int]:
    if not frames[0] or n_chunks <= 0:
        return []
    u0 = np.concatenate(frames[0][-n_chunks:])
    u1 = np.concatenate(frames[1][-n_chunks:])
    return fmt.encode(u0, u1)
