"""The SyncLLM agent: estimate-then-speak over a KV-cached, self-centric duplex context.

Owns: the agent's context (own chunks, partner chunks real or estimated), replacing
estimates by cropping the KV cache, lookahead estimation, own-chunk generation, and
:func:`load_agent`. Must not know about the network: the simulator calls it
(protocol in :mod:`duplexsim.agents.base`).

Context layout (DESIGN.md "Token format"): chunk ``k`` is ``[S0]`` + own novel units, then
``[S1]`` + partner novel units when the partner chunk (real or estimated) has any. Own
chunk ``k`` is always in the context before partner chunk ``k``.

Context window: when the tokens plus the next decision's worst case would exceed the
model's ``context_tokens``, the oldest chunks are dropped until half the window is used,
and the kept chunks are re-encoded from scratch (the first kept frame of each stream
counts as novel, as at the start of a training window) and re-prefilled once.

Lookahead is reported as the number of partner chunks after the latest received one and
before the produced chunk (a chunk given up on long ago does not inflate it).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from duplexsim.agents.base import ChunkReport
from duplexsim.models.agentdir import AgentFiles, load_agent_files
from duplexsim.models.streaming import (
    SamplingConfig,
    StreamingLM,
    StreamState,
    choose,
    sample_piece,
)
from duplexsim.tokens import SyncFormat

Estimation = Literal["model", "silence"]


class SyncLLMAgent:
    """A trained SyncLLM model behind the :class:`duplexsim.agents.base.Agent` protocol."""

    def __init__(self, files: AgentFiles, chunk_ms: int, sampling: SamplingConfig | None = None,
                 estimation: Estimation = "model", seed: int = 0, name: str | None = None,
                 lm: StreamingLM | None = None, state: StreamState | None = None):
        """``lm``/``state``: run on a shared model and stream instead of a private KV cache
        (e.g. :class:`~duplexsim.models.lockstep.SharedLM` rows, to batch many
        conversations; :func:`duplexsim.sim.batch.run_batch`)."""
        files.check_chunk_ms(chunk_ms)
        if estimation not in ("model", "silence"):
            raise ValueError(f"estimation={estimation!r} (allowed: model, silence)")
        self.files = files
        self.name = name or files.name
        self.fmt = SyncFormat(chunk_ms=chunk_ms, n_units=files.vocab.n_units,
                              silence_unit=files.silence_unit)
        self.frames_per_chunk = self.fmt.frames_per_chunk
        self.silence_unit = files.silence_unit  # the Agent protocol's silence unit
        self.sampling = sampling or SamplingConfig()
        self.estimation: Estimation = estimation
        self.lm = lm or StreamingLM(files.model, files.vocab.n_units)
        self.context_limit = files.context_tokens
        self.state = state if state is not None else StreamState()
        self.reset(seed)

    # ------------------------------------------------------------------ protocol
    def reset(self, seed: int) -> None:
        self.state.reset()
        self.generator = torch.Generator(device=self.lm.device).manual_seed(int(seed))
        self.own: dict[int, np.ndarray] = {}
        self.partner: dict[int, np.ndarray] = {}
        self.partner_real: set[int] = set()
        self.base = 0  # first chunk in the context
        self.own_upto = 0  # own chunks base..own_upto-1 are in the context
        self.partner_upto = 0  # partner parts base..partner_upto-1 are in the context
        self.starts: dict[int, int] = {}  # chunk -> token index of its [S0]
        self.pstarts: dict[int, int] = {}  # chunk -> token index where its partner part starts
        self.max_received = -1

    def observe_partner(self, chunk: int, units: np.ndarray) -> None:
        frames = self._frames(units, f"observe_partner(chunk={chunk})")
        self.partner_real.add(chunk)
        self.max_received = max(self.max_received, chunk)
        known = self.partner.get(chunk)
        self.partner[chunk] = frames
        if self.base <= chunk < self.partner_upto and not np.array_equal(known, frames):
            self._rebuild(chunk, own_too=False)  # lazy: the tail is re-fed at the next sample

    def produce(self, chunk: int) -> ChunkReport:
        if chunk < self.own_upto:
            raise ValueError(f"{self.name}: produce({chunk}) but own chunk {chunk} exists "
                             f"(next allowed: >= {self.own_upto})")
        t0 = time.perf_counter()
        forwarded0 = self.state.n_forwarded
        self._slide_if_needed(chunk)
        generated = 0
        estimates: dict[int, np.ndarray] = {}
        lookahead = max(0, chunk - 1 - self.max_received)
        for k in range(self.partner_upto, chunk):
            if self.own_upto == k:  # never produced (e.g. first call at chunk > 0): silence
                self.own.setdefault(k, self._silence())
                self._append_own(k)
            if k in self.partner_real:
                self._append_partner(k)
            else:
                frames, n = self._estimate(k)
                estimates[k] = frames
                generated += n
        units, n = self._generate_own(chunk)
        generated += n
        prefill = max(0, self.state.n_forwarded - forwarded0 - generated)
        wall_ms = (time.perf_counter() - t0) * 1000.0
        return ChunkReport(chunk=chunk, units=units, lookahead=lookahead, estimates=estimates,
                           generated_tokens=generated, prefill_tokens=prefill,
                           compute_wall_ms=wall_ms)

    def played(self, chunk: int, units: np.ndarray) -> None:
        frames = self._frames(units, f"played(chunk={chunk})")
        if chunk in self.own and np.array_equal(self.own[chunk], frames):
            return
        self.own[chunk] = frames
        if self.base <= chunk < self.own_upto:
            self._rebuild(chunk, own_too=True)

    # ------------------------------------------------------------------ context pieces
    def _frames(self, units: np.ndarray, where: str) -> np.ndarray:
        frames = np.asarray(units, dtype=np.int64).reshape(-1)
        if len(frames) != self.frames_per_chunk:
            raise ValueError(f"{self.name}: {where}: {len(frames)} frames "
                             f"(allowed: {self.frames_per_chunk})")
        if frames.min() < 0 or frames.max() >= self.fmt.n_units:
            raise ValueError(f"{self.name}: {where}: unit out of range "
                             f"(allowed: 0..{self.fmt.n_units - 1})")
        return frames

    def _silence(self) -> np.ndarray:
        return np.full(self.frames_per_chunk, self.fmt.silence_unit, dtype=np.int64)

    def _prev(self, stream: dict[int, np.ndarray], k: int) -> int | None:
        return int(stream[k - 1][-1]) if k - 1 >= self.base and (k - 1) in stream else None

    def _append_own(self, k: int) -> None:
        self.starts[k] = len(self.state)
        self.state.append([self.fmt.S0, *self.fmt.encode_stream_chunk(self.own[k],
                                                                        self._prev(self.own, k))])
        self.pstarts[k] = len(self.state)
        self.own_upto = k + 1

    def _append_partner(self, k: int) -> None:
        novel = self.fmt.encode_stream_chunk(self.partner[k], self._prev(self.partner, k))
        if novel:
            self.state.append([self.fmt.S1, *novel])
        self.partner_upto = k + 1

    def _rebuild(self, k: int, own_too: bool) -> None:
        """Crop back to chunk ``k`` (its [S0] if ``own_too``, else its partner part), re-append
        the tail from the current chunk data (own chunks stay as spoken)."""
        own_end, partner_end = self.own_upto, self.partner_upto
        self.state.crop(self.starts[k] if own_too else self.pstarts[k])
        for m in range(k, own_end):
            if own_too or m > k:
                self._append_own(m)
            if m < partner_end:
                self._append_partner(m)

    def _slide_if_needed(self, chunk: int) -> None:
        F = self.frames_per_chunk
        worst = (chunk - self.partner_upto + 1) * (2 * F + 2) + 2
        if len(self.state) + worst <= self.context_limit or self.own_upto <= self.base:
            return
        target = len(self.state) - self.context_limit // 2
        new_base = next((k for k in range(self.base, self.own_upto) if self.starts[k] >= target),
                        self.own_upto - 1)
        own_end, partner_end = self.own_upto, self.partner_upto
        self.state.reset()
        self.base = new_base
        for m in range(new_base, own_end):
            self._append_own(m)
            if m < partner_end:
                self._append_partner(m)
        self.own_upto = max(own_end, self.own_upto)
        self.partner_upto = max(partner_end, new_base)

    # ------------------------------------------------------------------ sampling
    def _estimate(self, k: int) -> tuple[np.ndarray, int]:
        """Estimate partner chunk ``k`` (own chunk ``k`` is the context's last piece)."""
        prev = self._prev(self.partner, k)
        if self.estimation == "silence":
            self.partner[k] = self._silence()
            self._append_partner(k)
            return self.partner[k], 0
        S0, S1 = self.fmt.S0, self.fmt.S1
        tag = choose(self.lm, self.state, (S0, S1), self.sampling, self.generator)
        novel: list[int] = []
        if tag == S1:
            self.state.append([S1])
            novel, _ = sample_piece(self.lm, self.state, prev, self.frames_per_chunk, (S0,),
                                    self.sampling, self.generator, min_units=1)
        self.partner[k] = self.fmt.decode_stream_chunk(novel, prev)
        self.partner_upto = k + 1
        return self.partner[k], 1 + len(novel)

    def _generate_own(self, j: int) -> tuple[np.ndarray, int]:
        prev = self._prev(self.own, j)
        self.starts[j] = len(self.state)
        self.state.append([self.fmt.S0])
        novel, _ = sample_piece(self.lm, self.state, prev, self.frames_per_chunk,
                                (self.fmt.S0, self.fmt.S1), self.sampling, self.generator)
        self.pstarts[j] = len(self.state)
        self.own[j] = self.fmt.decode_stream_chunk(novel, prev)
        self.own_upto = j + 1
        return self.own[j].copy(), len(novel)


def load_agent(path: str | Path, chunk_ms: int | None = None,
               sampling: SamplingConfig | None = None, estimation: Estimation = "model",
               seed: int = 0, name: str | None = None, device: str = "cpu") -> SyncLLMAgent:
    """Load a trained agent directory (``duplexsim train``) as a :class:`SyncLLMAgent`.

    ``chunk_ms`` defaults to the first size the agent was trained for; one it was not
    trained for is a clear error.
    """
    files = load_agent_files(path, device=device)
    chunk = files.chunk_ms[0] if chunk_ms is None else int(chunk_ms)
    return SyncLLMAgent(files, chunk, sampling=sampling, estimation=estimation, seed=seed,
                        name=name)
