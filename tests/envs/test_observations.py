"""The observation shows only what has arrived, in a fixed window, inside its space."""

from __future__ import annotations

import numpy as np

from duplexsim.envs.observations import (
    ObservationInput,
    build_observation,
    build_observations,
    observation_space,
)

SPEECH = np.arange(502) != 0  # unit 0 is silence, every other unit of 501 speech


def test_window_mask_and_vad_follow_arrivals() -> None:
    w, f = 3, 4
    received = {0: np.full(f, 7), 2: np.array([0, 0, 5, 5])}  # chunk 1 still in flight
    own = {1: np.full(f, 9), 2: np.zeros(f, np.int64)}
    obs = build_observation(chunk=3, n_chunks=10, window=w, frames_per_chunk=f,
                            received=received, own=own, speech=SPEECH,
                            silence_unit=0, own_state=(1.0, 0.5, 0.0))
    assert observation_space(w, f, 501).contains(obs)
    assert obs["partner_received"].tolist() == [1, 0, 1]
    assert obs["partner_units"].tolist() == [7] * 4 + [0] * 4 + [0, 0, 5, 5]
    assert obs["partner_vad"].tolist() == [1] * 4 + [0] * 4 + [0, 0, 1, 1]
    assert obs["own_vad"].tolist() == [0] * 4 + [1] * 4 + [0] * 4
    assert obs["own_units"].tolist() == [0] * 4 + [9] * 4 + [0] * 4
    assert obs["lookahead"][0] == 1 and obs["time"][0] == np.float32(0.3)


def test_start_of_episode_is_silent_and_known() -> None:
    obs = build_observation(chunk=0, n_chunks=10, window=2, frames_per_chunk=4, received={},
                            own={}, speech=SPEECH, silence_unit=0)
    assert obs["partner_received"].tolist() == [1, 1] and obs["lookahead"][0] == 0
    assert not obs["own_vad"].any() and not obs["partner_vad"].any()
    assert observation_space(2, 4, 501).contains(obs)


def test_a_batch_holds_each_learners_observation_built_alone() -> None:
    """A vector env builds its conversations' observations together: row b is exactly the
    observation of learner b alone (their own silence units and speech tables)."""
    w, f = 3, 4
    other_speech = np.arange(502) != 1  # here unit 1 is silence
    inputs = [
        ObservationInput(3, 10, {0: np.full(f, 7), 2: np.array([0, 0, 5, 5])},
                         {1: np.full(f, 9)}, SPEECH, 0, (1.0, 0.5, 0.0)),
        ObservationInput(1, 4, {}, {0: np.full(f, 3)}, other_speech, 1, (0.0, 0.0, 1.0)),
        ObservationInput(9, 10, {k: np.full(f, k) for k in range(9)}, {}, SPEECH, 0),
    ]
    batch = build_observations(inputs, window=w, frames_per_chunk=f)
    for b, x in enumerate(inputs):
        alone = build_observation(**x._asdict(), window=w, frames_per_chunk=f)
        assert observation_space(w, f, 501).contains(alone)
        for key, value in alone.items():
            assert batch[key][b].dtype == value.dtype and batch[key][b].shape == value.shape
            assert batch[key][b].tolist() == value.tolist(), (b, key)
    assert batch["partner_received"][:, 1].tolist() == [0, 1, 1]
    assert batch["own_units"][1].tolist() == [1] * 8 + [3] * 4  # learner 1's silence is 1
    assert batch["lookahead"][:, 0].tolist() == [1.0, 1.0, 0.0]
