"""The per-chunk generator of a SyncLLM context: ``reset()`` and one ``step()`` per chunk.

Owns :class:`DuplexGenerator` (the moshi-style generator state: ``tokens =
lm_gen.step(codes)``, here ``gen.step(chunk, partner={k: frames})``) and
:class:`ChunkStep`. The one chunk loop of the project: the SyncLLM agent
(:mod:`duplexsim.agents.syncllm`), continuation (:mod:`duplexsim.models.continuation`)
and, through the agent, the simulator and the envs all step it, alone (``step``) or as
rows of one batched forward (``step_program`` under
:func:`~duplexsim.models.engine.run_lockstep`). Must not know about the network or time.

Context (DESIGN.md "Token format", self-centric): chunk ``k`` is ``[S0]`` + own novel
units, then ``[S1]`` + partner novel units when the partner chunk (real or estimated) has
any; own chunk ``k`` always comes before partner chunk ``k``.

One step for own chunk ``j`` (DESIGN.md "Agents"):
1. real partner chunks given (``partner=``) replace their estimates and amendments of own
   chunks (``own=``: what was actually played, after a deadline miss) replace what was
   generated: the row is cropped back to the first changed position and the tail re-fed
   at the next forward (own chunks stay as spoken; a later estimate stays the units it
   sampled, decoded after the new chunk: an estimate of no new unit goes on with whatever
   that chunk ends on, also at the window's first chunk when the chunk kept before the
   window is replaced);
2. every partner chunk ``< j`` neither received nor estimated is estimated by the model
   (``estimation = "model"``) or taken as silence (``"silence"``); when the own piece just
   before it ended on a sampled speaker tag, that tag is the estimate's first token (it
   was drawn from the same distribution ``choose`` would draw from at the same
   temperature, unless ``sampling.estimate_temperature`` gives estimates a temperature of
   their own; with ``top_k`` / ``top_p`` the two can differ, since the piece filters over
   every allowed id and ``choose`` over the two tags only);
3. ``[S0]`` + own chunk ``j`` is generated (``speak=False`` stops after step 2).

Context window: when the context plus the step's worst case (every pending piece at full
length) could exceed ``context_tokens``, the row is rebuilt from the most recent chunks
whose (upper-bound) size, with that worst case, fits in half the window; the first kept
frame of each stream counts as novel, as at the start of a training window (a piece of
no new unit sampled there is written as the unit it goes on with, so the window's first
chunk always has its unit after ``[S0]`` and its ``[S1]``, as the format has it). A long
backlog (a prompt handed over at once) is cut the same way, so the row never holds more
than ``context_tokens`` tokens.

Lookahead is reported as the number of partner chunks before ``j`` not received
(:func:`duplexsim.agents.base.missing_before`: a lost or given-up chunk counts until it
arrives, as DESIGN.md "Agents" defines it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from duplexsim.agents.base import missing_before, whole
from duplexsim.models.engine import Program, choose, drive, piece
from duplexsim.models.rows import LMRows
from duplexsim.models.sampling import CounterRNG, SamplingConfig
from duplexsim.tokens import SyncFormat, min_context_tokens
from duplexsim.unit_arrays import check_chunk

Estimation = Literal["model", "silence"]
ESTIMATIONS = ("model", "silence")


@dataclass
class ChunkStep:
    """What one step did."""

    chunk: int
    units: np.ndarray | None
    """Own chunk ``chunk``'s frames ``[F]`` int64 (None with ``speak=False``)."""
    estimates: dict[int, np.ndarray] = field(default_factory=dict)
    """Partner chunk -> estimated frames ``[F]``, made in this step."""
    lookahead: int = 0
    """Partner chunks ``< chunk`` not received (estimated now, earlier, or lost), as
    :class:`~duplexsim.agents.base.ChunkReport` counts it."""
    generated_tokens: int = 0
    """Tokens sampled, each once: own units and the tag that ended the own piece, an
    estimate's tag, units and the ``[S0]`` that ended them (one forward each, as
    ``decode_ms_per_token`` prices them; a tag the own piece ended on and an estimate
    reuses was counted with the piece)."""
    prefill_tokens: int = 0
    """Tokens fed without sampling (received chunks, re-fed tails, a rebuilt context)."""


@dataclass(frozen=True)
class OwnPiece:
    """One own chunk as it was sampled (what :attr:`DuplexGenerator.on_own_piece` gets)."""

    chunk: int
    context: list[int]
    """The row's token ids before the chunk's ``[S0]`` (what the model had seen)."""
    units: list[int]
    """The novel units sampled after ``[S0]`` (not the unit an empty piece at the window's
    first chunk is then written as: that one was not sampled)."""
    end: int | None
    """The speaker tag sampled that ended the piece, or None (``F`` units were sampled)."""
    prev_unit: int | None
    """The unit the sampler excluded (the own stream's previous one; None: none)."""


class DuplexGenerator:
    """The generator state of one self-centric SyncLLM context on one row of ``lm``."""

    def __init__(self, lm: LMRows, fmt: SyncFormat, context_tokens: int,
                 sampling: SamplingConfig | None = None, estimation: Estimation = "model",
                 seed: int = 0) -> None:
        if estimation not in ESTIMATIONS:
            raise ValueError(f"estimation={estimation!r} (allowed: {', '.join(ESTIMATIONS)})")
        used = min(context_tokens, lm.max_tokens)  # the window this generator gets
        if used < min_context_tokens(fmt.frames_per_chunk):
            rows = f" (the rows hold {lm.max_tokens})" if used < context_tokens else ""
            raise ValueError(f"context_tokens={used}{rows} (allowed: >= "
                             f"{min_context_tokens(fmt.frames_per_chunk)} for {fmt.chunk_ms} "
                             "ms chunks)")
        self.lm, self.fmt = lm, fmt
        self.F = fmt.frames_per_chunk
        self.context_tokens = used
        self.sampling = sampling or SamplingConfig()
        self.estimate_sampling = self.sampling.for_estimates()
        self.estimation: Estimation = estimation
        self.row = lm.add_row()
        self.closed = False
        self.on_own_piece: Callable[[OwnPiece], None] | None = None
        """Called with every own chunk as sampled (a recording hook, e.g. for self-play
        training; kept across ``reset``); None: nothing is recorded. It must not touch the
        generator."""
        self.rng = CounterRNG(seed)
        self.reset(seed)

    # ------------------------------------------------------------------ state
    def reset(self, seed: int) -> None:
        """Start a new conversation; all randomness derives from ``seed``."""
        self._check_open("reset")
        self.lm.reset(self.row)
        self.rng.reset(seed)
        self.own: dict[int, np.ndarray] = {}
        self.partner: dict[int, np.ndarray] = {}
        self.partner_real: set[int] = set()
        self.estimated: dict[int, list[int]] = {}
        """Partner chunk -> the units its model estimate sampled. Its frames follow the chunk
        before it: when that chunk is replaced, "no new unit" still means no new unit."""
        self.fed: dict[int, list[int]] = {}
        """Partner chunk -> the units the row holds for it (after ``[S1]``)."""
        self.base = 0  # first chunk in the context
        self.own_upto = 0  # own chunks base..own_upto-1 are in the context
        self.partner_upto = 0  # partner parts base..partner_upto-1 are in the context
        self.starts: dict[int, int] = {}  # chunk -> token index of its [S0]
        self.pstarts: dict[int, int] = {}  # chunk -> token index where its partner part starts
        self.max_received = -1
        self.received: set[int] = set()  # every partner chunk ever received (not cropped)
        self._end_tag: tuple[int, int] | None = None  # (token count, tag) after an own piece

    def close(self) -> None:
        """Give the row back to ``lm`` (the generator is unusable afterwards; closing it again
        does nothing: the row may be another generator's by then)."""
        if not self.closed:
            self.closed = True
            self.lm.release_row(self.row)

    def _check_open(self, call: str) -> None:
        """After :meth:`close` the row may be another generator's: using it would change
        that conversation's context."""
        if self.closed:
            raise ValueError(f"{call}: this generator is closed (its row {self.row} was given "
                             "back; allowed: a generator not closed, or a new one)")

    @property
    def tokens(self) -> list[int]:
        """The context's token ids (``[S0]`` of chunk ``base`` first)."""
        return self.lm.tokens[self.row]

    def receive(self, k: int, frames: np.ndarray) -> None:
        """Real partner chunk ``k`` (replaces its estimate; the row is cropped lazily). One
        older than the window (``k < base - 1``) is only counted as received: its frames
        were held until the next slide for nothing."""
        self._check_open("receive")
        k = whole(k, "partner chunk", 0)
        frames = check_chunk(frames, f"partner chunk {k}", self.fmt.n_units, self.F)
        self.received.add(k)
        self.max_received = max(self.max_received, k)
        if k < self.base - 1:  # before the window and the chunk kept for its last unit:
            return  # nothing reads it again (the window never goes back), only the count
        self.estimated.pop(k, None)
        self.partner_real.add(k)
        self.partner[k] = frames
        if self.base <= k < self.partner_upto and self.fed[k] != self.fmt.encode_stream_chunk(
                frames, self._prev(self.partner, k)):  # the row holds something else
            self._rebuild(k, own_too=False)
        elif k == self.base - 1 and self.base < self.partner_upto \
                and self.base in self.estimated:
            # the chunk kept before the window: an estimate of no new unit at the window's
            # first chunk goes on with what it ends on (held as [S1] u), as after any chunk
            first = self.base
            goes_on = self.fmt.decode_stream_chunk(self.estimated[first], int(frames[-1]))
            if self.fed[first] != self.fmt.encode_stream_chunk(goes_on, None):
                self._rebuild(first, own_too=False)

    def amend(self, k: int, frames: np.ndarray) -> None:
        """Own chunk ``k`` was played as ``frames`` (e.g. silence after a deadline miss)."""
        self._check_open("amend")
        k = whole(k, "own chunk", 0)
        frames = check_chunk(frames, f"own chunk {k}", self.fmt.n_units, self.F)
        if k < self.base - 1 or (k in self.own and np.array_equal(self.own[k], frames)):
            return  # before the window (as in receive), or what the row holds already
        self.own[k] = frames
        if self.base <= k < self.own_upto:
            self._rebuild(k, own_too=True)

    # ------------------------------------------------------------------ the step
    def step(self, chunk: int, *, partner: Mapping[int, np.ndarray] | None = None,
             own: Mapping[int, np.ndarray] | None = None, speak: bool = True) -> ChunkStep:
        """One chunk: take ``partner`` / ``own`` in, estimate, produce own chunk ``chunk``."""
        return drive(self.step_program(chunk, partner=partner, own=own, speak=speak))

    def step_program(self, chunk: int, *, partner: Mapping[int, np.ndarray] | None = None,
                     own: Mapping[int, np.ndarray] | None = None, speak: bool = True,
                     ) -> Program[ChunkStep]:
        """:meth:`step` as an engine program (yields token requests)."""
        self._check_open("step")
        chunk = whole(chunk, "chunk", 0)  # -1 said "own chunk -1 exists"; a partner chunk -1
        given: dict[str, list[tuple[int, np.ndarray]]] = {}
        for name, chunks in (("own", own), ("partner", partner)):  # was the frame before 0
            if chunks is not None and not isinstance(chunks, Mapping):
                raise ValueError(f"{name}={type(chunks).__name__} (allowed: None or a dict "
                                 "chunk -> frames)")
            given[name] = sorted(((whole(k, f"{name} chunk", 0), frames)
                                  for k, frames in (chunks or {}).items()), key=lambda t: t[0])
        for k, frames in given["own"]:
            self.amend(k, frames)
        for k, frames in given["partner"]:
            self.receive(k, frames)
        if speak and chunk < self.own_upto:
            raise ValueError(f"step({chunk}) but own chunk {chunk} exists "
                             f"(next allowed: >= {self.own_upto})")
        forwarded0 = self.lm.n_forwarded[self.row]
        self._fit(chunk, speak)
        generated = 0
        estimates: dict[int, np.ndarray] = {}
        lookahead = missing_before(chunk, self.received, self.max_received)
        for k in range(self.partner_upto, chunk):
            if self.own_upto == k:  # never produced (a first step at chunk > 0): silence
                self.own.setdefault(k, self._silence())
                self._append_own(k)
            if k in self.partner_real:
                self._append_partner(k)
            else:
                frames, n = yield from self._estimate(k)
                estimates[k] = frames
                generated += n
        units = None
        if speak:
            units, n = yield from self._generate_own(chunk)
            generated += n
        prefill = max(0, self.lm.n_forwarded[self.row] - forwarded0 - generated)
        return ChunkStep(chunk=chunk, units=units, estimates=estimates, lookahead=lookahead,
                         generated_tokens=generated, prefill_tokens=prefill)

    # ------------------------------------------------------------------ context pieces
    def _silence(self) -> np.ndarray:
        return np.full(self.F, self.fmt.silence_unit, dtype=np.int64)

    def _prev(self, stream: dict[int, np.ndarray], k: int) -> int | None:
        """The previous frame for encoding chunk ``k`` into the row: None for the window's
        first chunk (its first frame counts as novel, as at the start of a training window)."""
        return self._last(stream, k) if k - 1 >= self.base else None

    @staticmethod
    def _last(stream: dict[int, np.ndarray], k: int) -> int | None:
        """The stream's frame before chunk ``k`` (also before the window: ``_fit`` keeps chunk
        ``base - 1``), for decoding; None only at the start of the stream."""
        return int(stream[k - 1][-1]) if (k - 1) in stream else None

    def _append_own(self, k: int) -> None:
        self.starts[k] = self.lm.length(self.row)
        self.lm.append(self.row, [self.fmt.S0, *self.fmt.encode_stream_chunk(
            self.own[k], self._prev(self.own, k))])
        self.pstarts[k] = self.lm.length(self.row)
        self.own_upto = k + 1

    def _append_partner(self, k: int) -> None:
        if k in self.estimated:  # an estimate is its sampled units, after whatever came before
            self.partner[k] = self.fmt.decode_stream_chunk(self.estimated[k],
                                                           self._last(self.partner, k))
        novel = self.fmt.encode_stream_chunk(self.partner[k], self._prev(self.partner, k))
        self.fed[k] = novel
        if novel:
            self.lm.append(self.row, [self.fmt.S1, *novel])
        self.partner_upto = k + 1

    def _rebuild(self, k: int, own_too: bool) -> None:
        """Crop back to chunk ``k`` (its [S0] if ``own_too``, else its partner part) and
        re-append the tail from the current chunk data (own chunks stay as spoken)."""
        own_end, partner_end = self.own_upto, self.partner_upto
        self.lm.crop(self.row, self.starts[k] if own_too else self.pstarts[k])
        self._end_tag = None
        for m in range(k, own_end):
            if own_too or m > k:
                self._append_own(m)
            if m < partner_end:
                self._append_partner(m)

    def _cost(self, stream: dict[int, np.ndarray], m: int) -> int:
        """Tokens chunk ``m`` of a stream takes at most (its tag + novel units, the first
        frame counted as novel; unknown: a full piece)."""
        if m not in stream:
            return 1 + self.F
        return 1 + len(self.fmt.encode_stream_chunk(stream[m], None))

    def _fit(self, chunk: int, speak: bool) -> None:
        """Rebuild the row from recent chunks if this step could overflow the window."""
        pending = sum(1 + self.F for _ in range(self.own_upto, chunk + speak))
        pending += sum(self._cost(self.partner, m) if m in self.partner_real else 1 + self.F
                       for m in range(self.partner_upto, chunk))
        if self.lm.length(self.row) + pending <= self.context_tokens:
            return
        budget = self.context_tokens // 2 - (1 + self.F) * speak
        new_base, used = chunk, 0
        while new_base > self.base:
            m = new_base - 1
            cost = self._cost(self.own, m) + self._cost(self.partner, m)
            if used + cost > budget:
                break
            used += cost
            new_base = m
        own_end, partner_end = self.own_upto, self.partner_upto
        self.lm.reset(self.row)
        self._end_tag = None
        self.base = new_base
        for old in [k for k in self.own if k < new_base - 1]:  # keep base - 1 (prev units)
            del self.own[old]
        for old in [k for k in self.partner if k < new_base - 1]:
            del self.partner[old]
            self.partner_real.discard(old)
            self.estimated.pop(old, None)
            self.fed.pop(old, None)
        self.starts = {k: v for k, v in self.starts.items() if k >= new_base}
        self.pstarts = {k: v for k, v in self.pstarts.items() if k >= new_base}
        self.own_upto = self.partner_upto = new_base
        for m in range(new_base, own_end):
            self._append_own(m)
            if m < partner_end:
                self._append_partner(m)

    # ------------------------------------------------------------------ sampling
    def _estimate(self, k: int) -> Program[tuple[np.ndarray, int]]:
        """Estimate partner chunk ``k`` (own chunk ``k`` is the context's last piece)."""
        prev = self._prev(self.partner, k)
        if self.estimation == "silence":
            self.partner[k] = self._silence()
            self.estimated.pop(k, None)
            self._append_partner(k)
            return self.partner[k], 0
        S0, S1 = self.fmt.S0, self.fmt.S1
        end, self._end_tag = self._end_tag, None
        sampling = self.estimate_sampling
        drawn = 0  # the tag, when drawn here (a reused one was counted with the own piece)
        if end is not None and end[0] == self.lm.length(self.row) and self.own_upto == k + 1 \
                and sampling is self.sampling:
            tag = end[1]  # the own piece ended on this sampled tag
        else:  # (at another estimate temperature the tag is drawn anew at it, same logits)
            drawn = 1
            tag = yield from choose(self.lm, self.row, (S0, S1), sampling, self.rng)
        novel: list[int] = []
        if tag == S1:
            self.lm.append(self.row, [S1])
            novel, closed = yield from piece(self.lm, self.row, prev, self.F, (S0,), sampling,
                                             self.rng, min_units=1)
            drawn += closed is not None  # the [S0] that ended it was a draw too
        self.estimated[k] = self.fed[k] = novel
        self.partner[k] = self.fmt.decode_stream_chunk(novel, self._last(self.partner, k))
        if not novel and prev is None:
            # no new unit at the window's first chunk, whose first frame the format counts
            # as novel: the row holds [S1] + the unit it goes on with, as any later encoding
            # of the chunk (a rebuild, a real chunk of the same frames) does
            self.fed[k] = self.fmt.encode_stream_chunk(self.partner[k], None)
            self.lm.append(self.row, [S1, *self.fed[k]])
        self.partner_upto = k + 1
        return self.partner[k], drawn + len(novel)

    def _generate_own(self, j: int) -> Program[tuple[np.ndarray, int]]:
        prev = self._prev(self.own, j)
        self.starts[j] = self.lm.length(self.row)
        hook = self.on_own_piece
        context = self.tokens.copy() if hook is not None else []
        self.lm.append(self.row, [self.fmt.S0])
        novel, end = yield from piece(self.lm, self.row, prev, self.F,
                                      (self.fmt.S0, self.fmt.S1), self.sampling, self.rng)
        if hook is not None:
            hook(OwnPiece(j, context, novel, end, prev))
        self.own[j] = self.fmt.decode_stream_chunk(novel, self._last(self.own, j))
        sampled = len(novel) + (end is not None)  # the ending tag was a draw too
        if not novel and prev is None:  # the window's first chunk: as in _estimate, the row
            # holds the unit it goes on with (the tag that ended the piece was drawn before
            # it: the estimate after it draws its own)
            self.lm.append(self.row, self.fmt.encode_stream_chunk(self.own[j], None))
            end = None
        self.pstarts[j] = self.lm.length(self.row)
        self._end_tag = None if end is None else (self.lm.length(self.row), end)
        self.own_upto = j + 1
        return self.own[j].copy(), sampled
