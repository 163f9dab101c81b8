"""Continuation mode (paper section 5): a prompt dialogue in, both sides generated on.

Owns :func:`continue_dialogues` (many prompts, ``max_batch`` rows of one batched forward)
and :func:`continue_dialogue` (one). The model speaks for both speakers: the
:class:`~duplexsim.models.generator.DuplexGenerator` is handed the prompt as its own
(speaker 0) and received partner (speaker 1) chunks, then stepped chunk after chunk with
nothing ever received, so every partner chunk is the model's own estimate, sampled right
after the own chunk it follows (as in training data). Must not touch the simulator or
metrics.

Prompt ``i`` with seed ``i`` gives the same units alone or in any batch (counter-based
sampling, :mod:`duplexsim.models.engine`). The context slides as the generator's does.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from duplexsim.models.agentdir import AgentFiles, load_agent_files
from duplexsim.models.engine import Program, run_lockstep
from duplexsim.models.generator import DuplexGenerator
from duplexsim.models.rows import Backend, LMRows
from duplexsim.models.sampling import SamplingConfig
from duplexsim.tokens import SyncFormat


def continue_dialogue(agent: str | Path | AgentFiles, prompt_units: np.ndarray, seconds: float,
                      chunk_ms: int = 160, seed: int = 0,
                      sampling: SamplingConfig | None = None) -> np.ndarray:
    """Generate ``seconds`` more of both channels after ``prompt_units`` [2, T].

    Returns int64 ``[2, T' + n_new]``: the prompt (cut to whole chunks) then the
    continuation. Channel 0 is the model's speaker 0 (the self-centric "own" side).
    """
    return continue_dialogues(agent, [prompt_units], seconds, chunk_ms, [seed], sampling)[0]


def continue_dialogues(agent: str | Path | AgentFiles, prompts: Sequence[np.ndarray],
                       seconds: float, chunk_ms: int = 160, seeds: Sequence[int] | None = None,
                       sampling: SamplingConfig | None = None, max_batch: int = 16,
                       progress: bool = False, backend: Backend = "auto") -> list[np.ndarray]:
    """:func:`continue_dialogue` for many prompts, at most ``max_batch`` at a time.

    ``prompts[i]`` [2, T_i] is continued with ``seeds[i]`` (default ``i``); result ``i``
    equals ``continue_dialogue(agent, prompts[i], seconds, chunk_ms, seeds[i], sampling)``.
    Prompts may differ in length; a row whose prompt is done takes the next one.
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
    n_rows = min(max_batch, len(checked))
    lm = LMRows(files.model, files.vocab.n_units, files.context_tokens, rows=max(1, n_rows),
                backend=backend)
    gens = [DuplexGenerator(lm, fmt, files.context_tokens, sampling or SamplingConfig())
            for _ in range(n_rows)]
    queue = deque(range(len(checked)))
    out: list[Any] = [None] * len(checked)
    with tqdm(total=n_chunks * len(checked), desc="continue", unit="chunk",
              disable=not progress) as bar:
        workers = [_worker(gen, queue, checked, seeds, n_chunks, out, bar) for gen in gens]
        run_lockstep(workers)
    return out


def _worker(gen: DuplexGenerator, queue: deque[int], prompts: list[np.ndarray],
            seeds: list[int], n_chunks: int, out: list[Any], bar: Any) -> Program[None]:
    """One row: continue prompts from the shared queue, one after another."""
    while queue:
        i = queue.popleft()
        out[i] = yield from _continuation(gen, prompts[i], seeds[i], n_chunks, bar)


def _continuation(gen: DuplexGenerator, prompt: np.ndarray, seed: int, n_chunks: int,
                  bar: Any) -> Program[np.ndarray]:
    F = gen.F
    p = prompt.shape[1] // F
    prompt = prompt[:, : p * F]
    chunks = prompt.reshape(2, p, F)
    gen.reset(seed)
    own: list[np.ndarray] = []
    partner: list[np.ndarray] = []
    for i in range(n_chunks + 1):
        first = i == 0
        step = yield from gen.step_program(
            p + i, own={k: chunks[0, k] for k in range(p)} if first else None,
            partner={k: chunks[1, k] for k in range(p)} if first else None,
            speak=i < n_chunks)
        if i > 0:
            partner.append(step.estimates[p + i - 1])
        if step.units is not None:
            own.append(step.units)
            bar.update(1)
    new = np.stack([np.concatenate(own), np.concatenate(partner)]) if own \
        else np.zeros((2, 0), np.int64)
    return np.concatenate([prompt, new], axis=1)
