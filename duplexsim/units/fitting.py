"""The passes :func:`~duplexsim.units.kmeans.train_tokenizer` is made of.

Each channel's features (in worker processes when asked, results in the channels' order),
its annotated speech checked against them, k-means over the silence and the speech frames,
and each unit's mean magnitude spectrum (what decoding plays for it). Everything here runs
while training only; a trained tokenizer never calls it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from duplexsim.errors import InputError

if TYPE_CHECKING:
    from duplexsim.units.kmeans import TokenizerConfig


def annotated_speech(mask: Any, n_frames: int, channel: int) -> np.ndarray:
    """Channel ``channel``'s annotated speech as ``bool [n_frames]``: one frame more (a
    duration rounded up, ``Dialogue.segment_vad()``) is cut; another shape or length is an
    :class:`InputError` (a short mask made the threshold Otsu's for every channel without a
    word, a sample-rate mask was cut to its first frames and taught a threshold of nothing)."""
    m = np.asarray(mask)
    if m.ndim != 1 or not n_frames <= len(m) <= n_frames + 1:
        raise InputError("train_tokenizer", f"channel {channel}", f"annotated speech of shape "
                         f"{list(m.shape)} for {n_frames} frames of audio", f"[{n_frames}] "
                         "(one flag per 40 ms frame, T = N * 25 // sample_rate), or None")
    return m[:n_frames].astype(bool)


def channel_features(job: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The first pass's job ``(tok, wave, sample_rate, mask)``: the channel's features
    ``[T, D]``, its sub-frame energy ``[T, 4]`` and its mask as given."""
    tok, wave, sr, mask = job
    f, e, _ = tok.frame_features(wave, sr)
    return f, e, mask


def channel_sums(job: tuple) -> tuple[np.ndarray, np.ndarray]:
    """The second pass's job ``(tok, wave, sample_rate)``: :func:`unit_sums` of the channel
    encoded by the fitted centroids."""
    tok, wave, sr = job
    f, e, mag = tok.frame_features(wave, sr)
    return unit_sums(tok.assign(f, tok.voice_activity(e)), mag, tok.n_units)


def in_order(fn: Callable[[Any], Any], jobs: Iterator[Any], workers: int) -> Iterator[Any]:
    """``map(fn, jobs)``, in ``workers`` processes when > 1, with at most two jobs per worker
    in flight (each holds a channel's audio), results in the jobs' order."""
    if workers <= 1:
        yield from map(fn, jobs)
        return
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(workers) as pool:
        pending: deque = deque()
        for job in jobs:
            pending.append(pool.submit(fn, job))
            if len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def fit_centroids(x: np.ndarray, k: int, config: TokenizerConfig, what: str) -> np.ndarray:
    """``[k, D]`` centroids of the frames ``x`` (``what``: "silence" or "speech", for the
    errors): their mean for one, else mini-batch k-means on at most ``max_train_frames``."""
    if x.shape[0] < k:
        raise InputError(
            "train_tokenizer", "", f"{x.shape[0]} {what} frames for {k} {what} units",
            "more audio, or fewer units (n_units / n_silence_units <= frames)")
    if k == 1:
        return x.mean(axis=0, keepdims=True)
    rng = np.random.default_rng(config.seed)
    if x.shape[0] > config.max_train_frames:
        x = x[np.sort(rng.choice(x.shape[0], config.max_train_frames, replace=False))]
    distinct = len(np.unique(x, axis=0))
    if distinct < k:  # (k-means then gives copies of a centroid: units no frame ever gets)
        raise InputError(
            "train_tokenizer", "", f"{x.shape[0]} {what} frames with only {distinct} distinct "
            f"feature vectors for {k} {what} units (steady tones or repeated samples?)",
            "more varied audio, or fewer units (n_units / n_silence_units <= distinct frames)")
    from sklearn.cluster import MiniBatchKMeans  # imported here: ~2 s, training only

    km = MiniBatchKMeans(n_clusters=k, random_state=config.seed, batch_size=4096, n_init=1,
                         max_iter=50)
    return km.fit(x).cluster_centers_.astype(np.float32)


def unit_sums(units: np.ndarray, mags: np.ndarray, n_units: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-unit sum of magnitude spectra and frame counts."""
    from scipy.sparse import csr_matrix

    onehot = csr_matrix((np.ones(len(units)), (units, np.arange(len(units)))),
                        shape=(n_units, len(units)))
    return np.asarray(onehot @ mags.astype(np.float64)), np.bincount(units, minlength=n_units)


def mean_spectra(sums: np.ndarray, counts: np.ndarray, n_silence: int) -> np.ndarray:
    """Mean spectrum per unit; unseen speech units get the mean speech spectrum."""
    out = sums / np.maximum(counts, 1)[:, None]
    speech = np.arange(len(counts)) >= n_silence
    unseen = (counts == 0) & speech
    if unseen.any() and counts[speech].sum():
        out[unseen] = sums[speech].sum(0) / counts[speech].sum()
    return out.astype(np.float32)
