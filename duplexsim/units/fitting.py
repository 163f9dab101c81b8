"""The passes :func:`~duplexsim.units.kmeans.train_tokenizer` is made of.

Each channel's features (in worker processes when asked, results in the channels' order),
its annotated speech checked against them (:func:`feature_pass`), the voice-activity
threshold (:func:`speech_threshold`), k-means over the silence and the speech frames
(:func:`unit_centroids`), and each unit's mean magnitude spectrum, what decoding plays for
it (:func:`spectra_pass`). Everything here runs while training only; a trained tokenizer
never calls it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from duplexsim.errors import InputError
from duplexsim.units import features as F
from duplexsim.units.energy_vad import annotated_threshold, otsu_threshold

if TYPE_CHECKING:
    from duplexsim.units.kmeans import KMeansTokenizer, TokenizerConfig

Channels = Iterable[tuple[np.ndarray, int, np.ndarray | None]]
"""``(wave [N], sample_rate, annotated speech [T] | None)`` per channel, re-iterable."""


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


def feature_pass(tok: KMeansTokenizer, channels: Channels, workers: int
                 ) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray | None]]:
    """The first pass: per channel, in order, its features ``[T, D]``, its sub-frame energy
    ``[T, 4]`` and its annotated speech (:func:`annotated_speech`; None where not given).
    No channel at all is an :class:`InputError`."""
    feats: list[np.ndarray] = []
    energy: list[np.ndarray] = []
    masks: list[np.ndarray | None] = []
    jobs = ((tok, wave, sr, mask) for wave, sr, mask in channels)
    for f, e, mask in in_order(channel_features, jobs, workers):
        feats.append(f)
        energy.append(e)
        masks.append(None if mask is None else annotated_speech(mask, len(e), len(masks)))
    if not feats:
        raise InputError("train_tokenizer", "", "no audio given", "at least one channel")
    return feats, energy, masks


def speech_threshold(energy: list[np.ndarray], masks: list[np.ndarray | None],
                     fill_frames: int) -> float:
    """The band-energy threshold (dB) of voice activity: learned from the annotations when
    every channel has them, else Otsu's over every sub-frame (unsupervised)."""
    all_e = np.concatenate(energy)
    given = [m for m in masks if m is not None]
    if len(given) == len(masks):
        return annotated_threshold(all_e, np.concatenate(given), fill_frames)
    return otsu_threshold(all_e.ravel())


def unit_centroids(tok: KMeansTokenizer, feats: list[np.ndarray],
                   energy: list[np.ndarray]) -> np.ndarray:
    """``[n_units, D]``: the silence frames' centroids, then the speech frames', the frames
    told apart by ``tok``'s voice activity (its threshold already learned)."""
    config = tok.config
    all_f = np.concatenate(feats)
    speech = np.concatenate([tok.voice_activity(e) for e in energy])
    return np.concatenate([
        fit_centroids(all_f[~speech], config.n_silence_units, config, "silence"),
        fit_centroids(all_f[speech], config.n_units - config.n_silence_units, config, "speech"),
    ])


def spectra_pass(tok: KMeansTokenizer, channels: Channels, workers: int, n_channels: int,
                 n_frames: int) -> np.ndarray:
    """The second pass: each unit's mean magnitude spectrum ``[n_units, 513]`` over the
    channels encoded by the fitted ``tok``, summed in the channels' order. Channels that do
    not give the first pass's ``n_channels`` and ``n_frames`` again are an
    :class:`InputError` (else units never seen decode as silence, all of them if none)."""
    config = tok.config
    sums = np.zeros((config.n_units, F.N_FFT // 2 + 1), dtype=np.float64)
    counts = np.zeros(config.n_units, dtype=np.int64)
    sum_jobs = ((tok, wave, sr) for wave, sr, _ in channels)
    seen = 0
    for s, c in in_order(channel_sums, sum_jobs, workers):  # summed in channel order
        sums += s
        counts += c
        seen += 1
    if seen != n_channels or int(counts.sum()) != n_frames:
        raise InputError("train_tokenizer", "channels", f"the second pass gave {seen} "
                         f"channels of {int(counts.sum())} frames, the first {n_channels} "
                         f"of {n_frames}", "channels that give the same audio each time "
                         "they are iterated")
    return mean_spectra(sums, counts, config.n_silence_units)


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
