"""Unit n-gram LM: a proper distribution, known counts, and it tells structure from noise."""

from __future__ import annotations

import numpy as np
import pytest

from duplexsim.metrics.semantic import UnitNgramLM, dedup, unit_perplexity


def markov_stream(rng: np.random.Generator, n: int, v: int) -> np.ndarray:
    """A strongly structured stream: mostly u -> (u * 7 + 3) % v, sometimes random."""
    out = np.empty(n, dtype=np.int64)
    out[0] = 1
    for i in range(1, n):
        out[i] = (out[i - 1] * 7 + 3) % v if rng.random() < 0.9 else rng.integers(v)
    return out


def test_dedup_drops_repeats_only():
    assert dedup(np.array([5, 5, 5, 2, 2, 5, 9])).tolist() == [5, 2, 5, 9]


@pytest.mark.parametrize("order", [1, 2, 3])
def test_probabilities_sum_to_one_for_every_history(order):
    rng = np.random.default_rng(0)
    v = 12
    lm = UnitNgramLM.fit([rng.integers(0, v, 300)], n_units=v, order=order,
                         deduplicate=False)
    for history in ([3, 4], [0, 0], [11, 7]):
        probs = [np.exp(lm.log_prob(np.array([*history, w]), deduplicate=False)[-1])
                 for w in range(v)]
        assert sum(probs) == pytest.approx(1.0)


def test_unigram_witten_bell_known_value():
    lm = UnitNgramLM.fit([np.array([0, 1, 0, 1, 0, 2])], n_units=4, order=1,
                         deduplicate=False)
    # P(w) = (c(w) + T/V) / (N + T), N = 6, T = 3 types, V = 4
    lp = lm.log_prob(np.array([0, 3]), deduplicate=False)
    assert np.exp(lp).tolist() == pytest.approx([(3 + 0.75) / 9, 0.75 / 9])


def test_structured_held_out_speech_scores_lower_than_noise_and_roundtrips(tmp_path):
    rng = np.random.default_rng(1)
    v = 50
    lm = UnitNgramLM.fit([markov_stream(rng, 4000, v) for _ in range(3)], n_units=v)
    real = np.stack([markov_stream(rng, 800, v), markov_stream(rng, 800, v)])
    noise = rng.integers(0, v, (2, 800))
    ppl_real, ppl_noise = unit_perplexity(real, lm), unit_perplexity(noise, lm)
    assert ppl_real["unit_ppl"] < 4 < v / 2 < ppl_noise["unit_ppl"]
    lm.save(tmp_path / "lm.npz")
    again = UnitNgramLM.load(tmp_path / "lm.npz")
    assert unit_perplexity(real, again) == ppl_real
    with pytest.raises(ValueError, match="0..49"):
        UnitNgramLM.fit([np.array([0, 50])], n_units=v)


@pytest.mark.parametrize("units", [[3, 12], [-1, 5]])
def test_scoring_unit_ids_outside_the_vocabulary_is_an_error(units):
    """An id >= n_units used to alias another n-gram's key ((3, 12) with 10 units was
    scored as the bigram (4, 2)) and a negative id got a probability: now one-line errors."""
    lm = UnitNgramLM.fit([np.array([1, 2, 3, 4, 2, 3, 4, 1, 2])], n_units=10, order=2)
    with pytest.raises(ValueError, match="0..9"):
        lm.log_prob(np.array(units))
    with pytest.raises(ValueError, match="0..9"):
        unit_perplexity(np.array([[1, 2], units]), lm)


@pytest.mark.parametrize(("units", "dtype"), [([0.0, 2.7, 1.0], "float64"),
                                              ([True, False], "bool"), (["1", "2"], "<U1")])
def test_unit_ids_that_are_not_integers_are_an_error(units, dtype):
    """The int64 cast counted unit 2.7 as unit 2 and True as unit 1, without a word."""
    message = rf"^unit ids must be integers, got a {dtype} array \(allowed: integer unit ids"
    for deduplicate in (True, False):
        with pytest.raises(ValueError, match=message):
            UnitNgramLM.fit([np.array(units)], n_units=10, deduplicate=deduplicate)
    lm = UnitNgramLM.fit([np.array([1, 2, 3], np.uint8), [2, 3, 1], np.array([])], n_units=10)
    with pytest.raises(ValueError, match=message):
        lm.log_prob(np.array(units))
    assert lm.log_prob(np.array([1, 2], np.int32)).tolist() == lm.log_prob([1, 2]).tolist()


def test_one_stream_given_bare_is_an_error_not_a_unigram_model():
    """``fit(units)`` / ``perplexity(units)`` of one 1-D stream (not ``[units]``) read each
    unit as a stream of its own: a unigram model and unigram perplexity, without a word."""
    rng = np.random.default_rng(2)
    stream = markov_stream(rng, 400, 20)
    lm = UnitNgramLM.fit([stream], n_units=20)
    for call in (lambda: UnitNgramLM.fit(stream, n_units=20), lambda: lm.perplexity(stream)):
        with pytest.raises(ValueError, match=r"^sequences\[0\]: a single unit np.int64\(1\), "
                                             r"not a stream \(allowed: 1-D unit arrays, one "
                                             r"per stream: \[units\] for one stream\)$"):
            call()
    assert lm.perplexity(np.stack([stream, stream])) == lm.perplexity([stream, stream]) < 3


def test_an_order_whose_keys_overflow_int64_is_refused(tmp_path):
    """1000 units at order 7 need 1e21 keys: they wrapped past int64 without a word (1002 of
    the 1993 7-gram keys of a 2000-unit stream came out negative, so their contexts, ``key //
    n_units``, named other 6-grams). Order 6 (1e18 keys) fits; a saved LM is checked too."""
    rng = np.random.default_rng(0)
    seqs = [rng.integers(0, 1000, size=2000)]
    with pytest.raises(ValueError, match=r"^order=7 with n_units=1000: n-gram keys need "
                                         r"n_units\*\*order = 1e\+21 values, more than int64 "
                                         r"holds \(2\*\*63\) \(allowed: order <= 6 for 1000 "
                                         r"units\)$"):
        UnitNgramLM.fit(seqs, n_units=1000, order=7)
    lm = UnitNgramLM.fit(seqs, n_units=1000, order=6)
    assert all((k >= 0).all() for k in lm.ngram_keys)
    bits = [rng.integers(0, 2, size=200)]
    assert UnitNgramLM.fit(bits, n_units=2, order=63, deduplicate=False).order == 63  # 2**63
    with pytest.raises(ValueError, match=r"order <= 63 for 2 units"):
        UnitNgramLM.fit(bits, n_units=2, order=64, deduplicate=False)
    lm.order = 7  # a file claiming a model that cannot exist
    lm.ngram_keys.append(lm.ngram_keys[-1])
    for name in ("ngram_counts", "ctx_keys", "ctx_counts", "ctx_types"):
        getattr(lm, name).append(getattr(lm, name)[-1])
    lm.save(tmp_path / "lm.npz")
    with pytest.raises(ValueError, match=r"^order=7 with n_units=1000"):
        UnitNgramLM.load(tmp_path / "lm.npz")
