"""The engine: generation as programs that ask for tokens, run alone or in lock step in one thread.

Owns :class:`TokenRequest`, the :data:`Program` type, the two drivers :func:`drive` (one
program) and :func:`run_lockstep` (many programs: one batched forward per model and
round), and the constrained sub-programs every generator is built from: :func:`piece`
(one stream's novel units of one chunk) and :func:`choose` (one of a few tags). Must not
know about agents, the simulator or the token format beyond "units are ids
``0..n_units-1``".

A program is a Python generator: it yields a :class:`TokenRequest` whenever it needs a
token (row ``row`` of the token rows ``lm``, restricted to the allowed ids, sampled with
its own settings and random stream) and is sent the sampled id back; it returns its
result. Between requests it runs ordinary Python (appending and cropping its row,
bookkeeping, a whole SimPy session between two decisions). A program that yields nothing
simply returns.

Lock step: every live program has exactly one outstanding request per round. A round runs
one forward per :class:`~duplexsim.models.rows.LMRows` over all rows asked of it (packed),
samples every row in one vectorised call (:func:`~duplexsim.models.sampling.sample_tokens`)
and sends each program its token; a program that finishes leaves, the others ask again.
Since each request carries its own random stream (counter-based) and a row's lean logits
are the same bits at any batch (:mod:`duplexsim.models.lean`), a program gives the same
tokens alone (:func:`drive`) or in any batch; with the HF fallback forward a token could
differ where float rounding of the batched matmuls moves a cumulative probability across
the row's uniform draw.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import torch

from duplexsim.models.rows import LMRows
from duplexsim.models.sampling import CounterRNG, SamplingConfig, sample_tokens

T = TypeVar("T")


@dataclass(slots=True)
class TokenRequest:
    """A program's request for one token: row ``row`` of ``lm``, from the allowed ids
    (units ``0..n_units-1`` except ``exclude`` when ``units``, plus ``tags``)."""

    lm: LMRows
    row: int
    sampling: SamplingConfig
    rng: CounterRNG
    units: bool = True
    exclude: int = -1
    """A unit not allowed (the stream's previous unit: a repeat is not a novel unit)."""
    tags: tuple[int, ...] = ()


Program = Generator[TokenRequest, int, T]
"""Yields token requests, is sent the sampled ids, returns its result. (A program built
with :func:`gather` yields lists of requests and is sent lists of ids: :data:`AnyProgram`.)"""

AnyProgram = Generator[TokenRequest | list[TokenRequest], Any, T]
"""A program that may also yield lists of requests (one built with :func:`gather`, or one
that runs such a program): it is sent an id for a request and a list of ids for a list
(the send type depends on what was yielded, which a static type cannot say: ``Any``).
Every :data:`Program` is one; the drivers take either."""


def drive(program: AnyProgram[T]) -> T:
    """Run one program to its end (the engine with a batch of one)."""
    return run_lockstep([program])[0]


def run_lockstep(programs: Sequence[AnyProgram[Any]]) -> list[Any]:
    """Run every program to its end in lock step; their results in input order."""
    results: list[Any] = [None] * len(programs)
    asks: dict[int, Any] = {}  # program -> its request (or list of requests)
    for i, program in enumerate(programs):
        _advance(program, i, None, asks, results)
    while asks:
        live = sorted(asks)
        slots = [(i, k, req) for i in live
                 for k, req in (enumerate(asks[i]) if isinstance(asks[i], list)
                                else [(-1, asks[i])])]
        by_lm: dict[int, list[int]] = {}
        for s, (_, _, req) in enumerate(slots):
            by_lm.setdefault(id(req.lm), []).append(s)
        drawn: list[int] = [0] * len(slots)
        for members in by_lm.values():
            requests = [slots[s][2] for s in members]
            lm = requests[0].lm
            logits = lm.logits([r.row for r in requests])  # [R, V]
            tokens = sample_tokens(logits, allowed_mask(lm, requests),
                                   [r.sampling for r in requests],
                                   [r.rng.uniform() for r in requests])
            for s, token in zip(members, tokens, strict=True):
                drawn[s] = token
        answers: dict[int, Any] = {}
        for s, (i, k, _) in enumerate(slots):
            if k < 0:
                answers[i] = drawn[s]
            else:
                answers.setdefault(i, []).append(drawn[s])
        for i in live:
            _advance(programs[i], i, answers[i], asks, results)
    return results


def _advance(program: AnyProgram[Any], i: int, answer: Any, asks: dict[int, Any],
             results: list[Any]) -> None:
    try:
        asks[i] = program.send(answer) if answer is not None else next(program)
    except StopIteration as stop:
        asks.pop(i, None)
        results[i] = stop.value


def gather(programs: Sequence[Program[Any]]) -> Generator[list[TokenRequest], list[int], list]:
    """One program running ``programs`` side by side: it yields the list of their current
    requests (served in the same round) and returns their results in order."""
    results: list[Any] = [None] * len(programs)
    asks: dict[int, TokenRequest] = {}
    for i, program in enumerate(programs):
        _advance(program, i, None, asks, results)
    while asks:
        live = sorted(asks)
        tokens = yield [asks[i] for i in live]
        for i, token in zip(live, tokens, strict=True):
            _advance(programs[i], i, token, asks, results)
    return results


def allowed_mask(lm: LMRows, requests: Sequence[TokenRequest]) -> torch.Tensor:
    """``[R, V]`` bool: the ids each request allows (rows cached per distinct request kind:
    a generator asks for few kinds, the previous unit being the only thing that varies)."""
    cache: dict[tuple[bool, int, tuple[int, ...]], torch.Tensor] = lm.mask_cache
    rows = []
    for req in requests:
        key = (req.units, req.exclude, req.tags)
        row = cache.get(key)
        if row is None:
            row = torch.zeros(lm.vocab_size, dtype=torch.bool)
            if req.units:
                row[: lm.n_units] = True
                if req.exclude >= 0:
                    row[req.exclude] = False
            row[list(req.tags)] = True
            cache[key] = row
        rows.append(row)
    return rows[0][None] if len(rows) == 1 else torch.stack(rows)


# ---------------------------------------------------------------------- sub-programs
def piece(lm: LMRows, row: int, prev_unit: int | None, max_units: int, ends: tuple[int, ...],
          sampling: SamplingConfig, rng: CounterRNG, min_units: int = 0,
          ) -> Program[tuple[list[int], int | None]]:
    """One stream's novel units for one chunk, appended to the row as they are sampled.

    Units only, never equal to the one before (``prev_unit`` first), at most ``max_units``;
    stops at an id of ``ends``, which is returned and *not* appended (``None`` when
    ``max_units`` were reached). ``min_units`` forbids ending earlier.
    """
    units: list[int] = []
    prev = -1 if prev_unit is None else int(prev_unit)
    while len(units) < max_units:
        token = yield TokenRequest(lm, row, sampling, rng, units=True, exclude=prev,
                                   tags=ends if len(units) >= min_units else ())
        if token in ends:
            return units, token
        units.append(token)
        lm.append(row, [token])
        prev = token
    return units, None


def choose(lm: LMRows, row: int, options: tuple[int, ...], sampling: SamplingConfig,
           rng: CounterRNG) -> Program[int]:
    """One of ``options`` (e.g. ``[S0]`` or ``[S1]``), not appended."""
    token = yield TokenRequest(lm, row, sampling, rng, units=False, tags=options)
    return token
