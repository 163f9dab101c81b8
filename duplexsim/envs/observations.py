"""What the learner sees before it decides a chunk: the observation space and its builder.

Owns the layout of the observation ``Dict`` (documented in
:class:`duplexsim.envs.turntaking.TurnTakingEnv`): a window of the last ``W`` partner
chunks *as received* (with a not-yet-received mask), the learner's own last ``W`` chunks,
voice activity of both, the lookahead depth and the episode time, for one learner or a
batch of them (a vector env's conversations). Built only from what the learner agent was
told by the simulator, never from the partner's ground truth. Must not touch the simulator
or rewards.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import NamedTuple

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


class ObservationInput(NamedTuple):
    """What one learner's observation is built from (:func:`build_observations`)."""

    chunk: int
    """The own chunk about to be decided: the window is chunks ``chunk - W .. chunk - 1``."""
    n_chunks: int
    received: Mapping[int, np.ndarray]
    """Partner chunks the learner was told of, by index."""
    own: Mapping[int, np.ndarray]
    """The learner's own chunks, by index."""
    speech: np.ndarray
    """``speech[unit]`` is True (or 1.0) for a unit that is speech (indices past its end clip
    to the last entry; a float32 table saves a conversion per step)."""
    silence_unit: int
    own_state: tuple[float, ...] = (0.0, 0.0, 0.0)


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
    """The observation before own chunk ``chunk`` is decided: :func:`build_observations`
    of one learner (:class:`ObservationInput` has the arguments)."""
    return observation_of(
        ObservationInput(chunk, n_chunks, received, own, speech, silence_unit, own_state),
        window=window, frames_per_chunk=frames_per_chunk)


def observation_of(x: ObservationInput, *, window: int, frames_per_chunk: int
                   ) -> dict[str, np.ndarray]:
    """One learner's observation: row 0 of :func:`build_observations` of ``[x]``."""
    return _layout(*_build([x], window, frames_per_chunk), row=0)


def build_observations(inputs: Sequence[ObservationInput], *, window: int,
                       frames_per_chunk: int) -> dict[str, np.ndarray]:
    """The observations of several learners, batched: each key an array ``[B, ...]``, row
    ``b`` the observation of ``inputs[b]`` (a vector env's conversations in one pass: a few
    numpy calls per batch instead of per learner).

    Row ``i`` of the windows is chunk ``chunk - window + i`` (the last row is the chunk
    just before the one being decided); chunks before 0 are silent and count as received.
    """
    return _layout(*_build(inputs, window, frames_per_chunk), row=slice(None))


def _layout(units: np.ndarray, mask: np.ndarray, vad: np.ndarray, values: np.ndarray, *,
            row: int | slice) -> dict[str, np.ndarray]:
    """The observation ``Dict`` of learner ``row`` (an int) or of every learner
    (``slice(None)``), as views of :func:`_build`'s arrays."""
    return {
        "partner_units": units[row, 0],
        "partner_received": mask[row],
        "own_units": units[row, 1],
        "own_vad": vad[row, 1],
        "partner_vad": vad[row, 0],
        "lookahead": values[row, 0:1],
        "time": values[row, 1:2],
        "own_state": values[row, 2:],
    }


def _build(inputs: Sequence[ObservationInput], window: int, frames_per_chunk: int
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`build_observations`' arrays: units and vad ``[B, partner | own, W * F]``, the
    received mask ``[B, W]`` and the scalars ``[B, 2 + len(own_state)]`` (lookahead, time,
    own state)."""
    w, f = window, frames_per_chunk
    n, B = w * f, len(inputs)
    rows = []  # per learner: its W partner rows, then its W own rows
    mask = [1] * (B * w)
    unknown = []  # (learner, window row) of partner chunks not received yet (the lookahead)
    scalars: list[float] = []
    tables: dict[int, tuple[np.ndarray, list[int]]] = {}  # one lookup per speech table
    for b, x in enumerate(inputs):  # (a vector env's learners share theirs)
        chunk, received, own = x.chunk, x.received, x.own
        tables.setdefault(id(x.speech), (x.speech, []))[1].append(b)
        silence = _silent_chunk(f, x.silence_unit)
        partner_rows, own_rows = [], []
        lookahead = 0
        for i, k in enumerate(range(chunk - w, chunk)):
            if k < 0:
                partner_rows.append(silence)
                own_rows.append(silence)
                continue
            row = received.get(k)
            if row is None:
                mask[b * w + i] = 0
                unknown.append((b, i))
                lookahead += 1
                row = silence
            partner_rows.append(row)
            own_rows.append(own.get(k, silence))
        rows += partner_rows
        rows += own_rows
        scalars += (lookahead, min(chunk / max(x.n_chunks, 1), 1.0), *x.own_state)
    # one buffer per dtype, handed out as views (fewer small numpy calls per step)
    units = np.concatenate(rows, dtype=np.int64, casting="unsafe")
    if units.shape != (B * 2 * n,):
        raise ValueError(f"chunks of {f} frames expected in received/own, got "
                         f"{sorted({np.shape(r) for r in rows})}")
    units = units.reshape(B, 2, n)
    if len(tables) == 1:  # (the usual case: one lookup, no copies)
        ((table, _),) = tables.values()
        vad = table.take(units, mode="clip").astype(np.float32, copy=False)
    else:
        vad = np.empty((B, 2, n), np.float32)
        for table, learners in tables.values():
            vad[learners] = table.take(units[learners], mode="clip")
    for b, i in unknown:  # a partner chunk not received yet is unknown, not speech
        vad[b, 0, i * f:(i + 1) * f] = 0.0
    return (units, np.array(mask, np.int8).reshape(B, w), vad,
            np.array(scalars, np.float32).reshape(B, -1))
