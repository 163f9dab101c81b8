"""The engine's sampler and sub-programs: constrained pieces, counter-based draws that do
not depend on the batch, golden tokens under a fixed seed, top-k / top-p / greedy."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from duplexsim.config.card import ModelCard
from duplexsim.models.engine import choose, drive, piece, run_lockstep
from duplexsim.models.model import build_model
from duplexsim.models.rows import LMRows
from duplexsim.models.sampling import CounterRNG, SamplingConfig, sample_tokens
from duplexsim.models.vocab import Vocab

N_UNITS = 20
VOCAB = Vocab(N_UNITS, 300)
S0, S1 = VOCAB.S0, VOCAB.S1


@pytest.fixture(scope="module")
def model():
    return build_model(ModelCard(size="tiny", n_units=N_UNITS, text_vocab_size=300),
                       VOCAB.size, VOCAB.pad, VOCAB.bos, VOCAB.eos, seed=0).eval()


def test_counter_rng_is_a_function_of_seed_and_counter() -> None:
    a, b = CounterRNG(7), CounterRNG(7)
    draws = [a.uniform() for _ in range(1000)]
    assert draws == [b.uniform() for _ in range(1000)]
    assert all(0.0 <= u < 1.0 for u in draws) and 0.45 < float(np.mean(draws)) < 0.55
    assert draws[:5] != [CounterRNG(8).uniform() for _ in range(5)]
    a.reset(7)
    assert a.uniform() == draws[0]


@pytest.mark.parametrize("seed", [1.5, 1.0, True, "1", None])
def test_a_seed_that_is_no_whole_number_is_refused(seed):
    with pytest.raises(ValueError, match=r"^seed=.* \(allowed: a whole number"):
        CounterRNG(seed)
    assert CounterRNG(np.int64(7)).uniform() == CounterRNG(7).uniform()


def test_sampled_row_does_not_depend_on_other_rows() -> None:
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(6, 50, generator=gen)
    allowed = torch.rand(6, 50, generator=gen) > 0.3
    cfgs = [SamplingConfig(), SamplingConfig(0.7, top_k=5), SamplingConfig(1.3, top_p=0.6),
            SamplingConfig(0.0), SamplingConfig(), SamplingConfig(0.7, top_k=5)]
    u = [0.1, 0.5, 0.9, 0.3, 0.99, 0.01]
    together = sample_tokens(logits, allowed, cfgs, u)
    alone = [sample_tokens(logits[r: r + 1], allowed[r: r + 1], cfgs[r: r + 1], u[r: r + 1])[0]
             for r in range(6)]
    assert together == alone
    assert all(bool(allowed[r, t]) for r, t in enumerate(together))


def test_nan_logits_are_an_error_not_an_arbitrary_token() -> None:
    logits = torch.zeros(3, 8)
    logits[1, 5] = float("nan")  # a NaN among the allowed ids of row 1
    logits[2, 0] = float("nan")  # a NaN outside row 2's allowed ids: masked away, fine
    allowed = torch.ones(3, 8, dtype=torch.bool)
    allowed[2, 0] = False
    with pytest.raises(ValueError, match=r"logits are NaN or infinite in rows \[1\] of 3"):
        sample_tokens(logits, allowed, [SamplingConfig()] * 3, [0.5] * 3)
    keep = torch.tensor([True, False, True])
    assert len(sample_tokens(logits[keep], allowed[keep], [SamplingConfig()] * 2, [0.5] * 2)) == 2


@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_infinite_logits_are_an_error_not_the_last_id(temperature: float) -> None:
    """A softmax of +inf, or of nothing but -inf, is NaN: the inverse transform then gave
    the last id (a text token in a real vocabulary) whatever the mask."""
    allowed = torch.tensor([[True, True, True, False]] * 3)
    logits = torch.tensor([[0.0, 1.0, 2.0, 0.0], [0.0, float("inf"), 2.0, 0.0],
                           [-float("inf")] * 3 + [5.0]])
    with pytest.raises(ValueError, match=r"NaN or infinite in rows \[1, 2\] of 3"):
        sample_tokens(logits, allowed, [SamplingConfig(temperature)] * 3, [0.5] * 3)


@pytest.mark.parametrize("temperature", [1e-38, 1e-45, 1e-300])
def test_tiny_temperature_is_greedy_not_a_masked_id(temperature: float) -> None:
    """``logits / t`` overflows float32 below t ~ 1e-37 (and t rounds to 0 below ~1e-45):
    the row was NaN and the sampler picked the last id, here a masked one."""
    logits = torch.tensor([[0.0, 5.0, 1.0, 4.0, 3.0, 9.0], [-2.0, -1.0, -3.0, -1.0, 0.0, 0.0]])
    allowed = torch.tensor([[True, False, True, True, True, False],
                            [True, True, True, True, False, False]])
    for u in (0.0, 0.3, 0.7, 0.999):
        got = sample_tokens(logits, allowed, [SamplingConfig(temperature)] * 2, [u, u])
        assert got[0] == 3 and got[1] in (1, 3)  # the allowed maximum; ties share it


@pytest.mark.parametrize("kwargs", [{"temperature": float("nan")}, {"temperature": float("inf")},
                                    {"temperature": -0.1}, {"estimate_temperature": float("nan")},
                                    {"top_k": 2.5}, {"top_k": True}, {"top_p": float("nan")},
                                    {"top_p": 0.0}, {"top_p": True}, {"temperature": True},
                                    {"temperature": 10**400}, {"estimate_temperature": "0.5"}])
def test_sampling_config_refuses_what_would_pick_a_masked_id(kwargs) -> None:
    """A NaN or infinite temperature turns every probability into NaN after the NaN check:
    the sampler could then pick an id that is not allowed. Refused where it is set, in one
    line naming the setting (10**400 was an OverflowError traceback from math.isfinite)."""
    (name, value), = kwargs.items()
    with pytest.raises(ValueError, match=rf"^SamplingConfig\.{name}: {re.escape(repr(value))} "
                                         r"\(allowed: [^\n]*\)$"):
        SamplingConfig(**kwargs)
    SamplingConfig(temperature=np.float32(0.9), top_k=np.int64(3))  # numpy numbers are fine
    SamplingConfig(top_p=np.float32(0.5), estimate_temperature=np.float64(0.0))


def test_top_k_top_p_and_greedy() -> None:
    logits = torch.tensor([[0.0, 5.0, 1.0, 4.0]])
    allowed = torch.tensor([[True, False, True, True]])

    def draws(cfg: SamplingConfig) -> set[int]:
        rng = CounterRNG(0)
        return {sample_tokens(logits, allowed, [cfg], [rng.uniform()])[0] for _ in range(60)}

    assert draws(SamplingConfig(temperature=0)) == {3}
    assert draws(SamplingConfig(1.0, top_k=2)) == {2, 3}
    assert draws(SamplingConfig(1.0, top_p=0.5)) == {3}
    assert draws(SamplingConfig(1.0)) == {0, 2, 3}  # never the masked id


def _piece_program(lm: LMRows, prev: int | None, max_units: int, ends: tuple[int, ...],
                   cfg: SamplingConfig, rng: CounterRNG, min_units: int = 0):  # noqa: ANN202
    row = lm.add_row()
    lm.append(row, [S0] if prev is None else [S0, prev])
    units, end = yield from piece(lm, row, prev, max_units, ends, cfg, rng, min_units)
    return units, end, lm.tokens[row][1 + (prev is not None):], row


def test_pieces_are_valid_units_bounded_and_deduplicated(model) -> None:
    lm = LMRows(model, N_UNITS, 32)
    rng = CounterRNG(0)
    cfg = SamplingConfig(temperature=5.0)  # flat distribution: every constraint gets tested
    ends_seen = set()
    for trial in range(40):
        prev = trial % N_UNITS if trial % 3 else None
        min_units = trial % 2
        units, end, appended, _ = drive(_piece_program(lm, prev, 4, (S0, S1), cfg, rng,
                                                    min_units))
        assert appended == units  # the end tag is returned, not appended
        assert min_units <= len(units) <= 4 and all(0 <= u < N_UNITS for u in units)
        assert all(a != b for a, b in zip([prev, *units], units, strict=False))
        assert end in (S0, S1, None) and (end is not None or len(units) == 4)
        ends_seen.add(end)
    assert ends_seen == {S0, S1, None}  # every way a piece can end happened


def test_golden_tokens_fixed_seed_alone_and_in_a_batch(model) -> None:
    def program(lm: LMRows, seed: int):  # noqa: ANN202
        rng = CounterRNG(seed)
        units, end, _, row = yield from _piece_program(lm, 2, 6, (S0, S1), SamplingConfig(),
                                                       rng)
        tag = yield from choose(lm, row, (S0, S1), SamplingConfig(), rng)
        return units, end, tag

    alone = drive(program(LMRows(model, N_UNITS, 32), 1234))
    shared = LMRows(model, N_UNITS, 32)
    batch = run_lockstep([program(shared, s) for s in (5, 1234, 6)])
    assert batch[1] == alone and batch[0] != alone
    assert shared.n_forwards <= 7  # one forward a round for all three rows
    assert alone == GOLDEN


# recorded with torch 2.13 CPU: a change means the model init, masks or sampler changed
GOLDEN = ([7, 18, 5, 12, 6, 16], None, 21)
