"""Continuation mode (paper section 5): a prompt dialogue in, both sides generated on.

Owns :func:`continue_dialogues` (many prompts, ``max_batch`` rows of one batched forward),
:func:`continue_dialogue` (one) and :func:`interact_dialogues` (prompted interaction,
paper Table 6: two agents continue a prompt together, one side each). In continuation the
model speaks for both speakers: the
:class:`~duplexsim.models.generator.DuplexGenerator` is handed the prompt as its own
(speaker 0) and received partner (speaker 1) chunks, then stepped chunk after chunk with
nothing ever received, so every partner chunk is the model's own estimate, sampled right
after the own chunk it follows (as in training data). Must not touch the simulator or
metrics.

Prompt ``i`` with seed ``i`` gives the same units alone or in any batch (counter-based
sampling, :mod:`duplexsim.models.engine`). The context slides as the generator's does.

The model sees the prompt cut to whole chunks (a 30 s prompt is 29.92 s at 160 ms: 750
frames are 187.5 chunks) and writes whole chunks until the frame ``seconds`` after the end
of the prompt *as given* is covered (:func:`chunks_to_cover`), so the span
``[T, T + seconds)`` of every prompt ``[2, T]`` is in the result at every chunk size.

In interaction each agent's generator holds the prompt from its own side (A: channel 0
as own, B: channel 1) and decides own chunk ``j`` knowing the other's real chunks up to
``j - 1 - lead`` and estimating the ones after (``lead = 1``: the paper's lookahead 1, what
the simulator does at 0 ms network delay; 0: the other's chunk ``j - 1`` known). The
difference to continuation is one thing: there the partner's chunk ``j`` is sampled
knowing the own chunk ``j``; here the two chunks ``j`` are decided apart.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from duplexsim.agents.base import whole
from duplexsim.errors import finite_number
from duplexsim.models.agentdir import AgentFiles, load_agent_files
from duplexsim.models.engine import AnyProgram, Program, gather, run_lockstep
from duplexsim.models.generator import DuplexGenerator
from duplexsim.models.rows import Backend, LMRows
from duplexsim.models.sampling import SamplingConfig
from duplexsim.timebase import frames_from_s
from duplexsim.tokens import SyncFormat


def continue_dialogue(agent: str | Path | AgentFiles, prompt_units: np.ndarray, seconds: float,
                      chunk_ms: int = 160, seed: int = 0,
                      sampling: SamplingConfig | None = None) -> np.ndarray:
    """Generate ``seconds`` more of both channels after ``prompt_units`` [2, T].

    Returns int64 ``[2, T' + n_new]``: the prompt cut to whole chunks (``T' <= T``) then
    :func:`chunks_to_cover` new chunks, which reach at least frame ``T + seconds`` (frame
    ``t`` of the result is frame ``t`` of the prompt's timeline). Channel 0 is the model's
    speaker 0 (the self-centric "own" side).
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
    fmt = SyncFormat(chunk_ms=chunk_ms, n_units=files.vocab.n_units,
                     silence_unit=files.silence_unit)
    checked, seeds, n_rows = _checked(prompts, seeds, max_batch, seconds)
    n_chunks = [chunks_to_cover(p.shape[1], seconds, fmt) for p in checked]
    lm = LMRows(files.model, files.vocab.n_units, files.context_tokens, rows=n_rows,
                backend=backend)
    gens = [DuplexGenerator(lm, fmt, files.context_tokens, sampling or SamplingConfig())
            for _ in range(n_rows)]
    queue = deque(range(len(checked)))
    out: list[Any] = [None] * len(checked)
    with tqdm(total=sum(n_chunks), desc="continue", unit="chunk",
              disable=not progress) as bar:
        workers = [_worker(gen, queue, checked, seeds, n_chunks, out, bar) for gen in gens]
        run_lockstep(workers)
    return out


def chunks_to_cover(prompt_frames: int, seconds: float, fmt: SyncFormat) -> int:
    """New chunks after a prompt of ``prompt_frames`` frames (cut to whole chunks of
    ``fmt``) that reach at least ``seconds`` (rounded to a frame) past the prompt's own end:
    a 750-frame prompt and 90 s at 160 ms take 563 chunks from frame 748 (frames [748,
    3000)); 562, as before, ended at frame 2996 and the continuation was 89.92 s."""
    F = fmt.frames_per_chunk
    cut = prompt_frames // F * F
    return fmt.n_chunks(prompt_frames - cut + frames_from_s(seconds, fmt.frame_ms))


def _worker(gen: DuplexGenerator, queue: deque[int], prompts: list[np.ndarray],
            seeds: list[int], n_chunks: list[int], out: list[Any], bar: Any) -> Program[None]:
    """One row: continue prompts from the shared queue, one after another."""
    while queue:
        i = queue.popleft()
        out[i] = yield from _continuation(gen, prompts[i], seeds[i], n_chunks[i], bar)


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


def interact_dialogues(agent_a: str | Path | AgentFiles, agent_b: str | Path | AgentFiles,
                       prompts: Sequence[np.ndarray], seconds: float, chunk_ms: int = 160,
                       seeds: Sequence[int] | None = None,
                       sampling: SamplingConfig | None = None, max_batch: int = 16,
                       lead: int = 1, progress: bool = False,
                       backend: Backend = "auto") -> list[np.ndarray]:
    """Agents A (channel 0) and B (channel 1) continue each prompt ``[2, T]`` together.

    Returns int64 ``[2, T' + n_new]`` per prompt, as :func:`continue_dialogues`: the prompt
    cut to whole chunks, then :func:`chunks_to_cover` chunks, A's on channel 0 and B's on
    channel 1. ``seeds[i]`` (default ``i``) seeds prompt ``i``: A draws from ``2 * seed``,
    B from ``2 * seed + 1``, so a prompt gives the same units alone or in any batch. A and
    B may be the same agent (self-play from a prompt); its rows are then shared.
    """
    fa = agent_a if isinstance(agent_a, AgentFiles) else load_agent_files(agent_a)
    fb = agent_b if isinstance(agent_b, AgentFiles) else load_agent_files(agent_b)
    if isinstance(lead, bool) or lead not in (0, 1):
        raise ValueError(f"lead={lead} (allowed: 0 or 1 chunks)")
    checked, seeds, n_rows = _checked(prompts, seeds, max_batch, seconds)
    lms: dict[int, LMRows] = {}
    gens = []
    for files in (fa, fb):
        files.check_chunk_ms(chunk_ms)
        if id(files.model) not in lms:  # A and B share the rows of one model
            sides = 2 if fa.model is fb.model else 1
            lms[id(files.model)] = LMRows(files.model, files.vocab.n_units,
                                          files.context_tokens, rows=sides * n_rows,
                                          backend=backend)
        fmt = SyncFormat(chunk_ms=chunk_ms, n_units=files.vocab.n_units,
                         silence_unit=files.silence_unit)
        gens.append([DuplexGenerator(lms[id(files.model)], fmt, files.context_tokens,
                                     sampling or SamplingConfig()) for _ in range(n_rows)])
    n_chunks = [chunks_to_cover(p.shape[1], seconds, fmt) for p in checked]  # same F for A, B
    queue = deque(range(len(checked)))
    out: list[Any] = [None] * len(checked)
    with tqdm(total=sum(n_chunks), desc="interact", unit="chunk",
              disable=not progress) as bar:
        run_lockstep([_pair_worker(a, b, queue, checked, seeds, n_chunks, lead, out, bar)
                      for a, b in zip(*gens, strict=True)])
    return out


def _checked(prompts: Sequence[np.ndarray], seeds: Sequence[int] | None,
             max_batch: int, seconds: float) -> tuple[list[np.ndarray], list[int], int]:
    """Prompts as int64 ``[2, T]``, one seed each, and the rows to use; ``seconds`` checked.
    (A float prompt was truncated to unit ids, a seed 1.5 ran as 1, seconds -1 returned the
    prompt cut to whole chunks, NaN failed converting NaN to an integer, and 10**400 in
    math.isfinite.)"""
    if not (finite_number(seconds) and seconds >= 0):
        raise ValueError(f"seconds={seconds!r} (allowed: a finite number >= 0)")
    if seeds is None:
        seeds = list(range(len(prompts)))
    for i, s in enumerate(seeds):
        if isinstance(s, bool) or not isinstance(s, int | np.integer):
            raise ValueError(f"seeds[{i}]={s!r} (allowed: an integer)")
    seeds = [int(s) for s in seeds]
    if len(seeds) != len(prompts):
        raise ValueError(f"seeds: {len(seeds)} given for {len(prompts)} prompts "
                         "(allowed: one seed per prompt)")
    max_batch = whole(max_batch, "max_batch", 1)
    checked = []
    for i, p in enumerate(prompts):
        p = np.asarray(p)
        if p.ndim != 2 or p.shape[0] != 2:
            raise ValueError(f"prompts[{i}]: shape {p.shape} (allowed: [2, T])")
        if p.size and not np.issubdtype(p.dtype, np.integer):
            raise ValueError(f"prompts[{i}]: dtype {p.dtype} (allowed: integer unit ids)")
        checked.append(p.astype(np.int64, copy=False))
    return checked, seeds, max(1, min(max_batch, len(checked)))


def _pair_worker(a: DuplexGenerator, b: DuplexGenerator, queue: deque[int],
                 prompts: list[np.ndarray], seeds: list[int], n_chunks: list[int], lead: int,
                 out: list[Any], bar: Any) -> AnyProgram[None]:
    """Two generators (A, B) on one pair of rows: interact on prompts from the queue."""
    while queue:
        i = queue.popleft()
        out[i] = yield from _interaction(a, b, prompts[i], seeds[i], n_chunks[i], lead, bar)


def _interaction(a: DuplexGenerator, b: DuplexGenerator, prompt: np.ndarray, seed: int,
                 n_chunks: int, lead: int, bar: Any) -> AnyProgram[np.ndarray]:
    F = a.F  # = b.F: both formats are built for one chunk_ms
    p = prompt.shape[1] // F
    prompt = prompt[:, : p * F]
    chunks = prompt.reshape(2, p, F)
    a.reset(2 * seed)
    b.reset(2 * seed + 1)
    made: list[list[np.ndarray]] = [[], []]  # channel -> its new chunks (chunk p + i)
    own: list[dict[int, np.ndarray] | None]
    for i in range(n_chunks):
        j, known = p + i, p + i - 1 - lead  # the other's real chunks up to ``known``
        if i == 0:  # the whole prompt, as spoken (own) and heard (the other's channel)
            heard = [{k: chunks[1 - ch, k] for k in range(p)} for ch in (0, 1)]
            own = [{k: chunks[ch, k] for k in range(p)} for ch in (0, 1)]
        else:
            heard = [{known: made[1 - ch][known - p]} if known >= p else {} for ch in (0, 1)]
            own = [None, None]
        steps = yield from gather([g.step_program(j, own=own[ch], partner=heard[ch])
                                   for ch, g in enumerate((a, b))])
        for ch, step in enumerate(steps):
            made[ch].append(step.units)
        bar.update(1)
    new = np.stack([np.concatenate(m) for m in made]) if n_chunks \
        else np.zeros((2, 0), np.int64)
    return np.concatenate([prompt, new], axis=1)
