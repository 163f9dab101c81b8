"""Today's HF path, frozen: the agent and sampler as they ran before the engine.

A benchmark baseline only (``bench_sim``: "one conversation: lean + step API vs HF
today"); the library never imports it. It is the pre-engine code kept verbatim except
for the cache keyword (``cache=``, transformers 5.24's name for ``past_key_values``):
``StreamingLM`` (HF ``LlamaForCausalLM`` with a ``DynamicCache`` per stream),
``sample_from_logits`` (``torch.multinomial`` with a ``torch.Generator``) and the agent's
own copy of the chunk loop. Do not fix or modernise it: it is what the ratio is against.
"""

from __future__ import annotations

import time
from typing import Literal

import numpy as np
import torch
from transformers import DynamicCache, LlamaForCausalLM

from duplexsim.agents.base import ChunkReport
from duplexsim.models.agentdir import AgentFiles
from duplexsim.models.sampling import SamplingConfig
from duplexsim.tokens import SyncFormat

Estimation = Literal["model", "silence"]


def sample_from_logits(logits: torch.Tensor, allowed: torch.Tensor, cfg: SamplingConfig,
                       generator: torch.Generator) -> torch.Tensor:
    """Sample one id per row of ``logits`` [B, V] restricted to ``allowed`` [B, V] (bool)."""
    logits = logits.float().masked_fill(~allowed, float("-inf"))
    if cfg.temperature == 0:
        return logits.argmax(dim=-1)
    logits = logits / cfg.temperature
    if cfg.top_k > 0:
        k = min(cfg.top_k, logits.shape[-1])
        kth = torch.topk(logits, k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if cfg.top_p < 1.0:
        sorted_logits, order = torch.sort(logits, descending=True, dim=-1)
        cum = torch.softmax(sorted_logits, dim=-1).cumsum(dim=-1)
        drop_sorted = cum - torch.softmax(sorted_logits, dim=-1) >= cfg.top_p
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    probs = torch.softmax(logits, dim=-1)  # [B, V]
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


class StreamState:
    """One stream's tokens and KV cache. ``tokens[:n_cached]`` are in the cache."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.tokens: list[int] = []
        self.cache: DynamicCache | None = None
        self.n_cached = 0
        self.last_logits: torch.Tensor | None = None
        self.n_forwarded = 0
        """Tokens run through the model since reset (prefill and re-feeds)."""

    def __len__(self) -> int:
        return len(self.tokens)

    def append(self, ids: list[int]) -> None:
        self.tokens.extend(int(i) for i in ids)

    def crop(self, n: int) -> None:
        """Keep the first ``n`` tokens; the cache keeps at most ``n - 1`` (the last is re-fed
        at the next forward so its logits exist)."""
        n = max(0, min(n, len(self.tokens)))
        del self.tokens[n:]
        keep = min(self.n_cached, max(n - 1, 0))
        if self.cache is not None and keep < self.n_cached:
            self.cache.crop(keep - self.n_cached)  # transformers 5: negative = tokens to drop
        self.n_cached = keep
        self.last_logits = None


class StreamingLM:
    """Feed tokens into a :class:`StreamState` and sample the next one, KV-cached."""

    def __init__(self, model: LlamaForCausalLM, n_units: int) -> None:
        self.model = model.eval()
        self.n_units = n_units
        self.vocab_size = model.config.vocab_size
        self.device = next(model.parameters()).device

    @torch.inference_mode()
    def logits(self, state: StreamState) -> torch.Tensor:
        """Next-token logits after all of ``state.tokens`` ([V], float32)."""
        if state.n_cached == len(state.tokens) and state.last_logits is not None:
            return state.last_logits
        if state.n_cached == len(state.tokens):  # cached but logits lost: re-feed the last one
            state.crop(len(state.tokens))
        if state.cache is None:
            state.cache = DynamicCache(config=self.model.config)
        pending = state.tokens[state.n_cached:]
        ids = torch.tensor([pending], dtype=torch.long, device=self.device)
        out = self.model(input_ids=ids, cache=state.cache, use_cache=True,
                         logits_to_keep=1)
        state.n_cached = len(state.tokens)
        state.n_forwarded += len(pending)
        state.last_logits = out.logits[0, -1].float()
        return state.last_logits

    def sample(self, state: StreamState, allowed: torch.Tensor, cfg: SamplingConfig,
               generator: torch.Generator) -> int:
        """Sample the next id under mask ``allowed`` [V]; it is *not* appended."""
        logits = self.logits(state)
        return int(sample_from_logits(logits[None], allowed[None], cfg, generator)[0])

    def piece_mask(self, prev_unit: int | None, ends: tuple[int, ...],
                   allow_end: bool = True) -> torch.Tensor:
        """Allowed ids inside a stream piece: units except ``prev_unit``, plus ``ends``."""
        return piece_mask(self.vocab_size, self.n_units, prev_unit, ends, allow_end, self.device)


def piece_mask(vocab_size: int, n_units: int, prev_unit: int | None, ends: tuple[int, ...],
               allow_end: bool = True, device: torch.device | str = "cpu") -> torch.Tensor:
    """The constraint inside a stream piece, shared by the single and batched generators:
    units except ``prev_unit`` (a repeat is not a novel unit), plus the ``ends`` tags."""
    mask = torch.zeros(vocab_size, dtype=torch.bool, device=device)
    mask[:n_units] = True
    if prev_unit is not None:
        mask[prev_unit] = False
    if allow_end:
        mask[list(ends)] = True
    return mask


def sample_piece(lm: StreamingLM, state: StreamState, prev_unit: int | None, max_units: int,
                 ends: tuple[int, ...], cfg: SamplingConfig, generator: torch.Generator,
                 min_units: int = 0) -> tuple[list[int], int | None]:
    """Sample one stream's novel units for one chunk, appending them to ``state``.

    Stops when an id in ``ends`` is sampled (returned, not appended) or after ``max_units``
    units (returns ``None``). ``min_units`` forbids ending earlier (an ``[S1]`` piece must
    hold at least one unit). Every unit differs from the one before it.
    """
    units: list[int] = []
    prev = prev_unit
    while len(units) < max_units:
        mask = lm.piece_mask(prev, ends, allow_end=len(units) >= min_units)
        token = lm.sample(state, mask, cfg, generator)
        if token in ends:
            return units, token
        units.append(token)
        state.append([token])
        prev = token
    return units, None


def choose(lm: StreamingLM, state: StreamState, options: tuple[int, ...], cfg: SamplingConfig,
           generator: torch.Generator) -> int:
    """Sample one of ``options`` (e.g. ``[S0]`` vs ``[S1]``) without appending it."""
    mask = torch.zeros(lm.vocab_size, dtype=torch.bool, device=lm.device)
    mask[list(options)] = True
    return lm.sample(state, mask, cfg, generator)


class TodayAgent:
    """The SyncLLM agent as it was before the engine (its own copy of the chunk loop)."""

    def __init__(self, files: AgentFiles, chunk_ms: int, sampling: SamplingConfig | None = None,
                 estimation: Estimation = "model", seed: int = 0, name: str | None = None,
                 lm: StreamingLM | None = None, state: StreamState | None = None):
        files.check_chunk_ms(chunk_ms)
        if estimation not in ("model", "silence"):
            raise ValueError(f"estimation={estimation!r} (allowed: model, silence)")
        self.files = files
        self.name = name or files.name
        self.fmt = SyncFormat(chunk_ms=chunk_ms, n_units=files.vocab.n_units,
                              silence_unit=files.silence_unit)
        self.frames_per_chunk = self.fmt.frames_per_chunk
        self.silence_unit = files.silence_unit  # the Agent protocol
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
        if self.base <= chunk < self.partner_upto and (known is None
                                                       or not np.array_equal(known, frames)):
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
