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
