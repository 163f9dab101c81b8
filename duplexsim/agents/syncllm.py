"""The SyncLLM agent: estimate-then-speak over a KV-cached, self-centric duplex context.

Owns :class:`SyncLLMAgent` (the :class:`duplexsim.agents.base.Agent` protocol over a
:class:`~duplexsim.models.generator.DuplexGenerator`, which holds the context, replaces
estimates, estimates and speaks) and :func:`load_agent`. Must not know about the network:
the simulator calls it.

Arrivals (``observe_partner``) and amendments (``played``) go into the generator at once
(the KV row is cropped lazily); ``produce`` is one generator step. ``produce_steps`` is
the same step as an engine program, so a simulator running many conversations can batch
every agent's forwards (:mod:`duplexsim.models.engine`).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from duplexsim.agents.base import ChunkReport, whole
from duplexsim.models.agentdir import AgentFiles, load_agent_files
from duplexsim.models.engine import Program, drive
from duplexsim.models.generator import DuplexGenerator, Estimation
from duplexsim.models.rows import Backend, LMRows
from duplexsim.models.sampling import SamplingConfig
from duplexsim.tokens import SyncFormat


class SyncLLMAgent:
    """A trained SyncLLM model behind the :class:`duplexsim.agents.base.Agent` protocol."""

    kind = "syncllm"
    """Its scenario kind (:func:`duplexsim.agents.base.kind_of`)."""

    def __init__(self, files: AgentFiles, chunk_ms: int, sampling: SamplingConfig | None = None,
                 estimation: Estimation = "model", seed: int = 0, name: str | None = None,
                 lm: LMRows | None = None, backend: Backend = "auto"):
        """``lm``: the token rows of ``files.model`` to take a row of (shared by many
        conversations' agents to batch them, :func:`duplexsim.sim.batch.run_batch`);
        default: a private one with the ``backend`` forward."""
        files.check_chunk_ms(chunk_ms)
        self.files = files
        self.name = name or files.name
        self.fmt = SyncFormat(chunk_ms=chunk_ms, n_units=files.vocab.n_units,
                              silence_unit=files.silence_unit)
        self.frames_per_chunk = self.fmt.frames_per_chunk
        self.silence_unit = self.fmt.silence_unit
        self.silence_units = files.silence_units
        self.lm = lm if lm is not None else LMRows(files.model, files.vocab.n_units,
                                                   files.context_tokens, backend=backend)
        self.generator = DuplexGenerator(self.lm, self.fmt, files.context_tokens,
                                         sampling=sampling, estimation=estimation, seed=seed)

    @property
    def sampling(self) -> SamplingConfig:
        return self.generator.sampling

    @property
    def estimation(self) -> Estimation:
        return self.generator.estimation

    @property
    def closed(self) -> bool:
        return self.generator.closed

    def close(self) -> None:
        """Give the generator's row back to ``lm`` (``DuplexGenerator.close``, as
        ``TdmAgent.close``): the agent refuses every call afterwards; closing it again does
        nothing, the row may be another agent's by then."""
        self.generator.close()

    # ------------------------------------------------------------------ protocol
    def reset(self, seed: int) -> None:
        try:
            self.generator.reset(seed)
        except ValueError as e:
            raise ValueError(f"{self.name}: {e}") from e

    def observe_partner(self, chunk: int, units: np.ndarray) -> None:
        self._check(lambda: self.generator.receive(chunk, units), "observe_partner", chunk)

    def produce(self, chunk: int) -> ChunkReport:
        return drive(self.produce_steps(chunk))

    def produce_steps(self, chunk: int) -> Program[ChunkReport]:
        """:meth:`produce` as an engine program (yields token requests)."""
        t0 = time.perf_counter()
        try:
            step = yield from self.generator.step_program(chunk)
        except ValueError as e:
            raise ValueError(f"{self.name}: produce({chunk}): {e}") from e
        assert step.units is not None
        return ChunkReport(chunk=chunk, units=step.units, lookahead=step.lookahead,
                           estimates=step.estimates, generated_tokens=step.generated_tokens,
                           prefill_tokens=step.prefill_tokens,
                           compute_wall_ms=(time.perf_counter() - t0) * 1000.0)

    def played(self, chunk: int, units: np.ndarray) -> None:
        self._check(lambda: self.generator.amend(chunk, units), "played", chunk)

    def _check(self, call, what: str, chunk: int) -> None:  # noqa: ANN001
        try:
            call()
        except ValueError as e:
            raise ValueError(f"{self.name}: {what}(chunk={chunk}): {e}") from e


def load_agent(path: str | Path, chunk_ms: int | None = None,
               sampling: SamplingConfig | None = None, estimation: Estimation = "model",
               seed: int = 0, name: str | None = None, device: str = "cpu",
               backend: Backend = "auto") -> SyncLLMAgent:
    """Load a trained agent directory (``duplexsim train``) as a :class:`SyncLLMAgent`.

    ``chunk_ms`` defaults to the first size the agent was trained for; one it was not
    trained for is a clear error. ``backend``: the forward (``auto`` = the lean one where
    it covers the model, else HF's; :mod:`duplexsim.models.rows`).
    """
    files = load_agent_files(path, device=device)
    # a whole number: int() ran 160.5 as 160 ms
    chunk = files.chunk_ms[0] if chunk_ms is None else whole(chunk_ms, "chunk_ms", 1)
    return SyncLLMAgent(files, chunk, sampling=sampling, estimation=estimation, seed=seed,
                        name=name, backend=backend)
