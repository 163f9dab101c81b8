"""The TDM agent: time-division multiplexing with ``<idle>`` (MiniCPM-duplex, arXiv 2406.15718).

Owns: the agent's slice context (own slices as played, partner slices as received),
when a slice is decided, the context window, and :func:`load_tdm_agent`. Every model call
goes through :class:`duplexsim.models.tdm.SliceDecoder`. Must not know the network: the
simulator calls it through the :class:`duplexsim.agents.base.Agent` protocol.
``produce_steps`` is ``produce`` as an engine program, so a simulator running many
conversations batches TDM agents' forwards as it does SyncLLM agents'
(:mod:`duplexsim.models.engine`).

Time is cut into slices of ``slice_ms`` (default 1.2 s, a whole number ``K`` of chunks).
The context is the TDM sequence (:mod:`duplexsim.tdm_tokens`): ``[S0] own piece 0 [S1]
partner piece 0 [S0] own piece 1 ...``, own slice ``m`` following partner slice ``m - 1``.
Partner slice ``m`` is partner chunks ``m*K .. m*K + K - 1``; own slice ``m`` is own chunks
``m*K + lead .. m*K + K - 1 + lead`` (``lead = decision_lead_chunks``; the first ``lead``
own chunks, before slice 0, are silent), so that:

- **A slice is decided when the partner's slice has arrived or its deadline passes**: own
  slice ``m`` is decided at the simulator's decision time for its first chunk, the start of
  own chunk ``m*K``, which is when partner slice ``m - 1`` has just been spoken: with no
  delay it has arrived (a chunk arriving at a decision's time is available to it); with
  delay the deadline comes first and the partner slice goes in *as received by then*, its
  missing chunks as silence. Chunks that arrive later replace the silence in the context
  from the next slice on (as real chunks replace SyncLLM's estimates). The price is the
  lead: the agent speaks ``lead`` chunks after the slice it answers, which the model,
  trained on aligned slices, does not know (a real TDM system loses that time computing).
- **The own slice** is then sampled a chunk at a time as the slice plays (so compute is
  spread over the slice, as a streaming TDM system speaks while it decodes), always
  continuing the piece opened at the slice's decision: no partner input enters the
  sequence until the slice ends, which is the architecture's latency. The piece opens
  with ``<idle>`` (the slice is silent) or units; ``<eos>`` ends it inside the slice
  (the rest is silent).
- **Interruptions**: when the partner starts speaking while the agent speaks, the agent
  hears it at the next slice decision and may stop there with ``<idle>`` or a few units
  and ``<eos>``; the model learned when to from the interruption-injected training data
  (:mod:`duplexsim.training.tdm`). No rule forces it.
- **Context window**: when the tokens of a decision plus a full slice would exceed the
  model's ``context_tokens``, the oldest slices are dropped until half the window is used
  (one re-prefill, as the SyncLLM agent slides).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from duplexsim.agents.base import ChunkReport, chunk_index, missing_before, whole
from duplexsim.errors import InputError
from duplexsim.models.agentdir import AgentFiles, load_agent_files
from duplexsim.models.engine import Program, drive
from duplexsim.models.rows import Backend, LMRows
from duplexsim.models.sampling import CounterRNG, SamplingConfig
from duplexsim.models.tdm import SliceDecoder
from duplexsim.tdm_tokens import TdmFormat, min_tdm_context
from duplexsim.tokens import FRAME_MS
from duplexsim.unit_arrays import check_chunk


class SliceError(InputError):
    """A slice length the agent cannot use (not trained for it, or not whole chunks)."""


def trained_slices(files: AgentFiles) -> list[int]:
    """The slice lengths ``agent.json`` says the agent was trained for (checked)."""
    slices = files.info.get("slice_ms")
    if not isinstance(slices, list) or not slices or not all(
            isinstance(s, int) and not isinstance(s, bool) and 0 < s <= 600_000
            and s % FRAME_MS == 0 for s in slices):
        raise InputError(str(files.root / "agent.json"), "slice_ms", f"{slices!r}",
                         "a non-empty list of positive multiples of 40 (ms)")
    return list(slices)


class TdmAgent:
    """A trained TDM model behind the :class:`duplexsim.agents.base.Agent` protocol."""

    kind = "tdm"
    """Its scenario kind (:func:`duplexsim.agents.base.kind_of`)."""

    def __init__(self, files: AgentFiles, chunk_ms: int, slice_ms: int | None = None,
                 sampling: SamplingConfig | None = None, seed: int = 0,
                 name: str | None = None, lead_chunks: int = 1, lm: LMRows | None = None,
                 backend: Backend = "auto"):
        """``lead_chunks``: the scenario's ``decision_lead_chunks`` (own slices start that many
        chunks after the partner slices they follow). ``lm``: token rows of ``files.model``
        to take a row of (shared with other agents of the same model); default: a private
        one with the ``backend`` forward."""
        if lead_chunks < 0:
            raise ValueError(f"lead_chunks: {lead_chunks} is negative (allowed: >= 0, the "
                             "scenario's decision_lead_chunks)")
        slices = trained_slices(files)
        if slice_ms is None:  # the first trained slice that is whole chunks
            slice_ms = next((s for s in slices if chunk_ms > 0 and s % chunk_ms == 0),
                            slices[0] if slices else 0)
        slice_ms = int(slice_ms)
        if slice_ms not in slices:
            raise SliceError(str(files.root), "slice_ms", f"agent {files.name!r} was not trained "
                             f"for slice_ms={slice_ms}", ", ".join(map(str, slices)))
        if chunk_ms <= 0 or chunk_ms % FRAME_MS or slice_ms % chunk_ms:
            raise SliceError("slice_ms", "", f"{slice_ms} is not a whole number of chunk_ms="
                             f"{chunk_ms} chunks", "a chunk_ms dividing it, or a slice_ms that "
                             f"is a multiple of {chunk_ms}")
        self.files = files
        self.name = name or files.name
        self.fmt = TdmFormat(slice_ms=slice_ms, n_units=files.vocab.n_units,
                             silence_unit=files.silence_unit, silence_units=files.silence_units)
        self.silence_unit = files.silence_unit
        self.silence_units = self.fmt.silence_units
        self.chunk_ms, self.slice_ms = int(chunk_ms), slice_ms
        self.frames_per_chunk = self.chunk_ms // FRAME_MS
        self.chunks_per_slice = slice_ms // self.chunk_ms
        self.lead = int(lead_chunks)
        self.sampling = sampling or SamplingConfig()
        self.lm = lm if lm is not None else LMRows(files.model, files.vocab.n_units,
                                                   files.context_tokens, backend=backend)
        self.row = self.lm.add_row()
        self.closed = False
        self.decoder = SliceDecoder(self.lm, self.fmt)
        self.context_limit = min(files.context_tokens, self.lm.max_tokens)
        # the slice pair it answers, [S0] and its own piece to come (min_tdm_context)
        least = min_tdm_context(self.fmt.slice_frames)
        if self.context_limit < least:  # else a slide drops what it answers, or overflows
            raise InputError(str(files.root / "agent.json"), "context_tokens",
                             f"{self.context_limit} is too short for slice_ms={slice_ms} "
                             f"({self.fmt.slice_frames} units a slice)", f">= {least}")
        self.rng = CounterRNG(seed)
        self.reset(seed)

    def close(self) -> None:
        """Give the row back to ``lm`` (as ``DuplexGenerator.close``: the agent is unusable
        afterwards; closing it again does nothing, the row may be another agent's by then)."""
        if not self.closed:
            self.closed = True
            self.lm.release_row(self.row)

    def _check_open(self, call: str) -> None:
        """After :meth:`close` the row may be another agent's: using it would change that
        conversation's context."""
        if self.closed:
            raise ValueError(f"{self.name}: {call}: this agent is closed (its row {self.row} was "
                             "given back; allowed: an agent not closed, or a new one)")

    # ------------------------------------------------------------------ protocol
    def reset(self, seed: int) -> None:
        self._check_open("reset")
        self.lm.reset(self.row)
        self.rng.reset(seed)
        self.partner: dict[int, np.ndarray] = {}
        self.played_own: dict[int, np.ndarray] = {}
        self.planned: dict[int, np.ndarray] = {}
        self.base = 0  # first slice in the context
        self.slice = -1  # the slice whose own piece is open
        self.piece: list[int] = []  # its units so far
        self.piece_ended = False  # <idle> or <eos> sampled (or S units): the rest is silence
        self.max_received = -1
        self.received: set[int] = set()  # every partner chunk ever received
        self.decisions: list[dict[str, int]] = []
        """Per slice: ``{"slice", "chunk", "partner_missing", "idle"}`` (for tests/analysis)."""

    def observe_partner(self, chunk: int, units: np.ndarray) -> None:
        where = f"observe_partner(chunk={chunk!r})"
        self._check_open(where)
        chunk = chunk_index(chunk, "partner chunk", self.name, where)
        self.partner[chunk] = self._frames(units, where)
        self.received.add(chunk)
        self.max_received = max(self.max_received, chunk)

    def produce(self, chunk: int) -> ChunkReport:
        return drive(self.produce_steps(chunk))

    def produce_steps(self, chunk: int) -> Program[ChunkReport]:
        """:meth:`produce` as an engine program (yields token requests)."""
        t0 = time.perf_counter()
        self._check_open(f"produce({chunk!r})")
        chunk = chunk_index(chunk, "chunk", self.name, f"produce({chunk!r})")
        forwarded0 = self.lm.n_forwarded[self.row]
        F = self.frames_per_chunk
        if chunk < self.lead:  # before own slice 0: silent, nothing to decide
            self.planned[chunk] = np.full(F, self.silence_unit, dtype=np.int64)
            return ChunkReport(chunk=chunk, units=self.planned[chunk].copy(),
                               lookahead=missing_before(chunk, self.received, self.max_received))
        m, pos = divmod(chunk - self.lead, self.chunks_per_slice)
        if m < self.slice:
            raise ValueError(f"{self.name}: produce({chunk}) after slice {self.slice} was opened "
                             f"(allowed: chunks >= "
                             f"{self.slice * self.chunks_per_slice + self.lead})")
        if m != self.slice:
            self._open(m)
        need = min((pos + 1) * F, self.fmt.slice_frames)
        generated = 0
        if not self.piece_ended and len(self.piece) < need:
            units, end = yield from self.decoder.sample_units(
                self.row, need - len(self.piece), bool(self.piece), self.sampling, self.rng)
            self.piece += units
            generated = len(units) + (end is not None)
            self.piece_ended = end is not None or len(self.piece) >= self.fmt.slice_frames
            if end == self.fmt.idle:
                self.decisions[-1]["idle"] = 1
        frames = np.full(F, self.silence_unit, dtype=np.int64)
        got = self.piece[pos * F:(pos + 1) * F]
        frames[: len(got)] = got
        self.planned[chunk] = frames
        prefill = max(0, self.lm.n_forwarded[self.row] - forwarded0 - generated)
        return ChunkReport(chunk=chunk, units=frames.copy(),
                           lookahead=missing_before(chunk, self.received, self.max_received),
                           generated_tokens=generated, prefill_tokens=prefill,
                           compute_wall_ms=(time.perf_counter() - t0) * 1000.0)

    def played(self, chunk: int, units: np.ndarray) -> None:
        where = f"played(chunk={chunk!r})"
        self._check_open(where)
        chunk = chunk_index(chunk, "own chunk", self.name, where)
        self.played_own[chunk] = self._frames(units, where)

    # ------------------------------------------------------------------ context
    def _open(self, m: int) -> None:
        """Decide slice ``m``: bring the context to ``... [S1] partner piece m-1 [S0]``."""
        pieces = [self._slice_tokens(k) for k in range(self.base, m)]
        room = self.fmt.slice_frames + 2  # the own piece to come, and the next tag
        total = sum(map(len, pieces)) + 1
        if total + room > self.context_limit:
            while len(pieces) > 1 and total + room > self.context_limit // 2:  # keep m-1
                total -= len(pieces.pop(0))
            self.base = m - len(pieces)
        tokens = [t for piece in pieces for t in piece] + [self.fmt.S0]
        self.decoder.sync(self.row, tokens)
        K = self.chunks_per_slice
        missing = sum(1 for c in range((m - 1) * K, m * K) if c >= 0 and c not in self.partner)
        self.decisions.append({"slice": m, "chunk": m * K + self.lead,
                               "partner_missing": missing, "idle": 0})
        self.slice, self.piece, self.piece_ended = m, [], False

    def _slice_tokens(self, k: int) -> list[int]:
        """``[S0] own piece k [S1] partner piece k`` from what was played and received."""
        K, F = self.chunks_per_slice, self.frames_per_chunk
        silence = np.full(F, self.silence_unit, dtype=np.int64)
        own = np.concatenate([self.played_own.get(c, self.planned.get(c, silence))
                              for c in range(k * K + self.lead, (k + 1) * K + self.lead)])
        partner = np.concatenate([self.partner.get(c, silence)
                                  for c in range(k * K, (k + 1) * K)])
        return [self.fmt.S0, *self.fmt.encode_piece(own), self.fmt.S1,
                *self.fmt.encode_piece(partner)]

    def _frames(self, units: np.ndarray, where: str) -> np.ndarray:
        return check_chunk(units, f"{self.name}: {where}", self.fmt.n_units,
                           self.frames_per_chunk)


def load_tdm_agent(path: str | Path, chunk_ms: int | None = None, slice_ms: int | None = None,
                   sampling: SamplingConfig | None = None, seed: int = 0,
                   name: str | None = None, lead_chunks: int = 1,
                   device: str = "cpu") -> TdmAgent:
    """Load a trained TDM agent directory (``duplexsim train agents/fisher-tdm.toml``).

    ``chunk_ms`` defaults to the first chunk size in ``agent.json``, ``slice_ms`` to the
    first slice length the agent was trained for that is whole chunks; ``lead_chunks`` is
    the scenario's ``decision_lead_chunks`` (the paper's 1 by default).
    """
    files = load_agent_files(path, device=device, kind="tdm")
    # a whole number: int() ran 160.5 as 160 ms
    chunk = files.chunk_ms[0] if chunk_ms is None else whole(chunk_ms, "chunk_ms", 1)
    return TdmAgent(files, chunk, slice_ms=slice_ms, sampling=sampling, seed=seed, name=name,
                    lead_chunks=lead_chunks)
