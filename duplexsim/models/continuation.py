"""Continuation mode (paper section 5): a prompt dialogue in, both sides generated on.

Owns: :func:`continue_dialogue`, the model speaking for both speakers chunk by chunk with
the constrained, KV-cached sampler, and :func:`continue_dialogues`, the same for many
prompts at once on the batched generator (:mod:`duplexsim.models.batched`); prompt ``i``
with seed ``i`` gives the same units either way. Must not touch the simulator or metrics.

The context slides like the agent's: when the next chunk could overflow the model's
``context_tokens``, the last chunks that fit in half the window are re-encoded from their
frames and re-prefilled.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from duplexsim.models.agentdir import AgentFiles, load_agent_files
from duplexsim.models.batched import (
    BatchedStreamingLM,
    StreamProgram,
    choose_tag,
    piece,
    run_streams,
)
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


def continue_dialogues(agent: str | Path | AgentFiles, prompts: Sequence[np.ndarray],
                       seconds: float, chunk_ms: int = 160, seeds: Sequence[int] | None = None,
                       sampling: SamplingConfig | None = None, max_batch: int = 16,
                       progress: bool = False) -> list[np.ndarray]:
    """:func:`continue_dialogue` for many prompts at once, ``max_batch`` streams per forward.

    ``prompts[i]`` [2, T_i] is continued with ``seeds[i]`` (default ``i``); result ``i``
    equals ``continue_dialogue(agent, prompts[i], seconds, chunk_ms, seeds[i], sampling)``
    (see :mod:`duplexsim.models.batched` on exactness). Prompts may differ in length.
    """
    files = agent if isinstance(agent, AgentFiles) else load_agent_files(agent)
    files.check_chunk_ms(chunk_ms)
    seeds = list(range(len(prompts))) if seeds is None else [int(s) for s in seeds]
    if len(seeds) != len(prompts):
        raise ValueError(f"seeds: {len(seeds)} given for {len(prompts)} prompts "
                         "(allowed: one seed per prompt)")
    if max_batch < 1:
        raise ValueError(f"max_batch={max_batch} (allowed: >= 1)")
    fmt = SyncFormat(chunk_ms=chunk_ms, n_units=files.vocab.n_units,
                     silence_unit=files.silence_unit)
    checked = []
    for i, p in enumerate(prompts):
        p = np.asarray(p, dtype=np.int64)
        if p.ndim != 2 or p.shape[0] != 2:
            raise ValueError(f"prompts[{i}]: shape {p.shape} (allowed: [2, T])")
        checked.append(p)
    n_chunks = int(round(seconds * 1000)) // chunk_ms
    cfg = sampling or SamplingConfig()
    out: list[np.ndarray] = []
    with tqdm(total=n_chunks * len(prompts), desc="continue", unit="chunk",
              disable=not progress) as bar:
        for start in range(0, len(checked), max_batch):
            batch = checked[start: start + max_batch]
            lm = BatchedStreamingLM(files.model, files.vocab.n_units, len(batch),
                                    max(files.context_tokens, 2 * fmt.frames_per_chunk + 4))
            programs = [_continuation(lm, b, fmt, p, n_chunks, files.context_tokens, bar)
                        for b, p in enumerate(batch)]
            gens = [torch.Generator(device=lm.device).manual_seed(s)
                    for s in seeds[start: start + max_batch]]
            out.extend(run_streams(lm, programs, gens, cfg))
    return out


def _continuation(lm: BatchedStreamingLM, b: int, fmt: SyncFormat, prompt: np.ndarray,
                  n_chunks: int, context_tokens: int, bar: Any) -> StreamProgram[np.ndarray]:
    """Stream ``b``'s continuation: :func:`continue_dialogue`'s loop as a stream program."""
    F, S0, S1 = fmt.frames_per_chunk, fmt.S0, fmt.S1
    prompt = prompt[:, : prompt.shape[1] // F * F]
    frames = [[c for c in prompt[s].reshape(-1, F)] for s in (0, 1)]
    lm.append(b, _encode_tail(fmt, frames, len(frames[0])))
    keep_chunks = max(1, (context_tokens // 2) // (2 * F + 2))
    for _ in range(n_chunks):
        if lm.length(b) + 2 * F + 4 > context_tokens:
            lm.reset(b)
            lm.append(b, _encode_tail(fmt, frames, keep_chunks))
        prev = [int(frames[s][-1][-1]) if frames[s] else None for s in (0, 1)]
        lm.append(b, [S0])
        own, end = yield from piece(lm, b, prev[0], F, (S0, S1))
        if end is None:
            end = yield from choose_tag(lm, (S0, S1))
        partner: list[int] = []
        if end == S1:
            lm.append(b, [S1])
            partner, _ = yield from piece(lm, b, prev[1], F, (S0,), min_units=1)
        frames[0].append(fmt.decode_stream_chunk(own, prev[0]))
        frames[1].append(fmt.decode_stream_chunk(partner, prev[1]))
        bar.update(1)
    return np.stack([np.concatenate(frames[s]) if frames[s] else np.zeros(0, np.int64)
                     for s in (0, 1)])
