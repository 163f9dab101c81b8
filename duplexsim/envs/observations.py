"""What the learner sees before it decides a chunk: the observation space and its builder.

Owns the layout of the observation ``Dict`` (documented in
:class:`duplexsim.envs.turntaking.TurnTakingEnv`): a window of the last ``W`` partner
chunks *as received* (with a not-yet-received mask), the learner's own last ``W`` chunks,
voice activity of both, the lookahead depth and the episode time. Built only from what
the learner agent was told by the simulator, never from the partner's ground truth.
Must not touch the simulator or rewards.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

import numpy as np
from gymnasium import spaces

OBS_KEYS = ("partner_units", "partner_received", "own_units", "own_vad", "partner_vad",
            "lookahead", "time", "own_state")
OWN_STATE = ("utterance in progress", "fraction of it spoken", "backchannel in progress")


def observation_space(window: int, frames_per_chunk: int, n_units: int) -> spaces.Dict:
    """The observation space for a window of ``window`` chunks of ``frames_per_chunk``.

    Every entry is one-dimensional (what Stable-Baselines3's ``MultiInputPolicy`` expects):
    frame ``i * F + k`` of a ``W * F`` vector is frame ``k`` of window row ``i``.
    """
    n = window * frames_per_chunk
    return spaces.Dict({
        "partner_units": spaces.Box(0, n_units - 1, (n,), np.int64),
        "partner_received": spaces.MultiBinary(window),
        "own_units": spaces.Box(0, n_units - 1, (n,), np.int64),
        "own_vad": spaces.Box(0.0, 1.0, (n,), np.float32),
        "partner_vad": spaces.Box(0.0, 1.0, (n,), np.float32),
        "lookahead": spaces.Box(0.0, float(window), (1,), np.float32),
        "time": spaces.Box(0.0, 1.0, (1,), np.float32),
        "own_state": spaces.Box(0.0, 1.0, (len(OWN_STATE),), np.float32),
    })


@functools.cache
def _silent_chunk(frames_per_chunk: int, silence_unit: int) -> np.ndarray:
    """A chunk of ``silence_unit`` (read-only, shared: the observation copies its rows)."""
    out = np.full(frames_per_chunk, silence_unit, np.int64)
    out.flags.writeable = False
    return out


def build_observation(
    *,
    chunk: int,
    n_chunks: int,
    window: int,
    frames_per_chunk: int,
    received: Mapping[int, np.ndarray],
    own: Mapping[int, np.ndarray],
    speech: np.ndarray,
    silence_unit: int,
    own_state: tuple[float, ...] = (0.0, 0.0, 0.0),
) -> dict[str, np.ndarray]:
    """The observation before own chunk ``chunk`` is decided.

    Row ``i`` of the windows is chunk ``chunk - window + i`` (the last row is the chunk
    just before the one being decided); chunks before 0 are silent and count as received.
    ``speech``: ``speech[unit]`` is True (or 1.0) for a unit that is speech (indices past its
    end clip to the last entry; a float32 table saves a conversion per step).
    """
    w, f = window, frames_per_chunk
    n = w * f
    silence = _silent_chunk(f, silence_unit)
    partner_rows, own_rows = [], []
    mask = [1] * w
    unknown = []  # window rows of partner chunks not received yet (the lookahead)
    for i, k in enumerate(range(chunk - w, chunk)):
        if k < 0:
            partner_rows.append(silence)
            own_rows.append(silence)
            continue
        row = received.get(k)
        if row is None:
            mask[i] = 0
            unknown.append(i)
            row = silence
        partner_rows.append(row)
        own_rows.append(own.get(k, silence))
    # one buffer per dtype, handed out as disjoint views (fewer small numpy calls per step)
    units = np.concatenate(partner_rows + own_rows, dtype=np.int64, casting="unsafe")
    if units.shape != (2 * n,):
        raise ValueError(f"chunks of {f} frames expected in received/own, got "
                         f"{sorted({np.shape(r) for r in partner_rows + own_rows})}")
    received_mask = np.array(mask, np.int8)
    vad = speech.take(units, mode="clip").astype(np.float32, copy=False)  # [partner | own]
    for i in unknown:  # a partner chunk not received yet is unknown, not speech
        vad[i * f:(i + 1) * f] = 0.0
    scalars = np.array([len(unknown), min(chunk / max(n_chunks, 1), 1.0), *own_state],
                       np.float32)
    return {
        "partner_units": units[:n],
        "partner_received": received_mask,
        "own_units": units[n:],
        "own_vad": vad[n:],
        "partner_vad": vad[:n],
        "lookahead": scalars[0:1],
        "time": scalars[1:2],
        "own_state": scalars[2:],
    }
