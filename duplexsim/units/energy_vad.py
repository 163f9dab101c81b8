"""Voice activity of the k-means tokenizers, decided from 60 Hz-4 kHz band energy.

A frame is speech when more than half of its 10 ms sub-frames are above an energy
threshold that training learns (from the corpus's annotations when given, else by Otsu's
method); short silent holes inside speech are filled. Pure numpy: knows nothing of
features, centroids or files (:mod:`duplexsim.units.kmeans` uses it to give silence frames
the silence units).
"""

from __future__ import annotations

import numpy as np

from duplexsim.frame_runs import mask_of_runs, runs


def fill_holes(speech: np.ndarray, max_len: int) -> np.ndarray:
    """Set False runs of length <= ``max_len`` that lie between True frames to True."""
    out = np.asarray(speech, dtype=bool).copy()
    if max_len <= 0 or not out.any():
        return out
    starts, ends = runs(~out)  # the silent runs
    first, last = np.flatnonzero(out)[[0, -1]]
    keep = (ends - starts <= max_len) & (starts > first) & (ends <= last)
    return out | mask_of_runs(starts[keep], ends[keep], out.shape[0])


def otsu_threshold(x: np.ndarray) -> float:
    """Threshold splitting ``x`` into two classes with maximal between-class variance."""
    hist, edges = np.histogram(x, bins=256)
    centers = (edges[:-1] + edges[1:]) / 2
    w = np.cumsum(hist)
    m = np.cumsum(hist * centers)
    w1 = w[-1] - w
    valid = (w > 0) & (w1 > 0)
    if not valid.any():  # one bin holds every value (digital silence): no split; the
        return float(edges[-1])  # threshold fell below them all (all speech): none above
    between = np.zeros_like(centers)
    between[valid] = (m[valid] * w[-1] - m[-1] * w[valid]) ** 2 / (w[valid] * w1[valid])
    return float(centers[int(np.argmax(between))])


def frame_vad(sub_energy_db: np.ndarray, threshold_db: float, fill: int) -> np.ndarray:
    """Speech frames: more than half of a frame's sub-frames above threshold, holes filled.

    A sub-frame that speech only starts in is already loud, so with 4 sub-frames, ">= 3
    above" means "speech covers more than half the frame": speech edges stay unbiased on
    the 40 ms grid (like annotations rounded to the nearest frame), rather than every run
    growing by a frame as with "any sub-frame".
    """
    above = (sub_energy_db > threshold_db).sum(axis=1) * 2 > sub_energy_db.shape[1]
    return fill_holes(above, fill)


def annotated_threshold(energy: np.ndarray, speech: np.ndarray, fill: int = 0) -> float:
    """Energy threshold (dB) whose VAD best agrees with annotated speech frames.

    Agreement has a wide plateau; its low end sits just above the noise floor (noise
    blips become speech), so take the middle (in dB) of the thresholds within 0.2 % of
    the best agreement.
    """
    lo, hi = np.quantile(energy.ravel(), [0.01, 0.99])
    grid = np.arange(lo, hi, 0.5)  # 0.5 dB steps
    if grid.size == 0:
        return float(lo)
    agree = np.array([np.mean(frame_vad(energy, g, fill) == speech) for g in grid])
    best = grid[agree >= agree.max() - 2e-3]
    return float((best.min() + best.max()) / 2)
