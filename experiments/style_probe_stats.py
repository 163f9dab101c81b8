"""style_probe.py's statistics from the decisions (:func:`summarize`): the long context's
gain, what a speaker's drawn or heard style adds to a view (:func:`style_gain`, logistic
regressions cross-fitted over dialogues), rates per speaker (:func:`speaker_table`) and
the correlations across speakers, each with a bootstrap CI over dialogues."""

from __future__ import annotations

from duplexsim.metrics.correlation import pearson_rows
from duplexsim.metrics.intervals import percentile_interval

import numpy as np
import pandas as pd


def _log_loss(p: np.ndarray, y: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return -(y * np.log(p) + (1 - y) * np.log1p(-p))


STATES = {"speaking": "stop", "silent": "start"}  # the decision's state -> its event


def speaker_table(dec: pd.DataFrame) -> pd.DataFrame:
    """Per speaker (dialogue, side): for its stops and its starts, how many, the observed
    rate and the mean predicted probability of each view; its drawn IPU and pause medians."""
    rows = []
    for (d, side), g in dec.groupby(["dialogue", "side"], sort=True):
        row = {"dialogue": d, "side": side, "ipu_median_s": g.ipu_median_s.iloc[0],
               "pause_median_s": g.pause_median_s.iloc[0]}
        for state, event in STATES.items():
            h = g[g.state == state]
            row |= {f"n_{event}s": len(h), f"{event}_rate": h.event.mean(),
                    f"p_{event}_long": h.p_long.mean(), f"p_{event}_short": h.p_short.mean()}
        rows.append(row)
    return pd.DataFrame(rows)


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p) - np.log1p(-p)


STYLES = {"drawn": ["ipu_median_s", "pause_median_s"],  # the manifest's, per speaker
          "heard": ["heard_ipu_s", "heard_pause_s"]}  # what the long context holds whole


def style_gain(dec: pd.DataFrame, view: str | None, style: str = "drawn",
               folds: int = 2) -> np.ndarray:
    """Per decision of ``dec`` (one state): what a style adds to a prediction, in nats:
    the log loss of a logistic regression on the view's logit (``view``: ``"p_long"``,
    ``"p_short"``; None: a constant) minus that of one on the logit and the style's logs
    (``style``: ``"drawn"``, the speaker's IPU and pause medians; ``"heard"``, the mean
    IPU and pause its long context holds whole, a missing one filled with the fitting
    half's median and flagged). Cross-fitted over dialogues (``folds`` groups), so
    a style that predicts nothing gains about 0 or less, never by fitting noise."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold

    y = dec.event.to_numpy()
    raw = np.log(dec[STYLES[style]].to_numpy(float))
    base = (np.zeros((len(dec), 1)) if view is None
            else _logit(dec[view].to_numpy(float))[:, None])
    gain = np.full(len(dec), np.nan)
    groups = dec.dialogue.to_numpy()
    if len(np.unique(groups)) < folds or len(np.unique(y)) < 2:
        return gain
    for fit, test in GroupKFold(n_splits=folds).split(base, y, groups):
        seen = ~np.isnan(raw[fit])
        fill = [np.median(raw[fit][seen[:, i], i]) if seen[:, i].any() else 0.0
                for i in range(raw.shape[1])]
        style_x = np.hstack([np.where(np.isnan(raw), fill, raw), np.isnan(raw)])
        losses = []
        for x in (base, np.hstack([base, style_x])):
            if len(np.unique(y[fit])) < 2:
                losses.append(_log_loss(np.full(len(test), y[fit].mean()), y[test]))
                continue
            model = LogisticRegression(max_iter=1000).fit(x[fit], y[fit])
            losses.append(_log_loss(model.predict_proba(x[test])[:, 1], y[test]))
        gain[test] = losses[0] - losses[1]
    return gain


def summarize(dec: pd.DataFrame, n_boot: int, seed: int = 0
              ) -> tuple[dict[str, float], pd.DataFrame]:
    """Per event (stop, start): the long context's gain per decision and what the drawn
    style adds to a constant, to the short and to the long view (nats per decision), and
    the correlations across speakers of the observed rate and of the long view with the
    style; each with a 95% bootstrap CI over dialogues. Also the mean long-context history
    (``history_s``) and, second, the :func:`speaker_table` the correlations come from."""
    y = dec.event.to_numpy()
    dec = dec.assign(gain=_log_loss(dec.p_short.to_numpy(), y)
                     - _log_loss(dec.p_long.to_numpy(), y))
    for state in STATES:
        mask = (dec.state == state).to_numpy()
        for view, style, name in ((None, "drawn", "style_alone"),
                                  ("p_short", "drawn", "style_short"),
                                  ("p_long", "drawn", "style_long"),
                                  ("p_short", "heard", "heard_short"),
                                  ("p_long", "heard", "heard_long")):
            dec.loc[mask, name] = style_gain(dec[mask], view, style)
    spk = speaker_table(dec)

    def stats(d: pd.DataFrame, s: pd.DataFrame) -> dict[str, float]:
        log_ipu, log_pause = (np.log(s[c].to_numpy(float))
                              for c in ("ipu_median_s", "pause_median_s"))
        out: dict[str, float] = {}
        for state, event in STATES.items():
            h = d[d.state == state]
            out |= {f"{event}_context": h.gain.mean(),
                    f"{event}_style_alone": h.style_alone.mean(),
                    f"{event}_style_short": h.style_short.mean(),
                    f"{event}_style_long": h.style_long.mean(),
                    f"{event}_heard_short": h.heard_short.mean(),
                    f"{event}_heard_long": h.heard_long.mean()}
        for event, style, name in (("stop", log_ipu, "ipu"), ("start", log_pause, "pause")):
            for view, column in (("rate", f"{event}_rate"), ("long", f"p_{event}_long")):
                out[f"r_{event}_{view}_{name}"] = float(
                    pearson_rows(s[column].to_numpy(float), style)[0])
        return out

    point = stats(dec, spk)
    dialogues = sorted(dec.dialogue.unique())
    by_d = dict(tuple(dec.groupby("dialogue")))
    by_s = dict(tuple(spk.groupby("dialogue")))
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(n_boot):
        pick = [dialogues[i] for i in rng.choice(len(dialogues), len(dialogues))]
        boots.append(stats(pd.concat([by_d[k] for k in pick]),
                           pd.concat([by_s[k] for k in pick])))
    out = {"n_dialogues": len(dialogues),
           "history_s": float((dec.history_chunks * dec.chunk_ms).mean() / 1000),
           "n_stops": int((dec.state == "speaking").sum()),
           "n_starts": int((dec.state == "silent").sum()),
           "stop_rate": dec.event[dec.state == "speaking"].mean(),
           "start_rate": dec.event[dec.state == "silent"].mean()}
    for key, value in point.items():
        lo, hi = percentile_interval([x[key] for x in boots], len(dialogues))
        out[key], out[f"{key}_lo"], out[f"{key}_hi"] = value, lo, hi
    return out, spk
