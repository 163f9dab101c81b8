"""The paper's continuation protocol (SyncLLM section 5, Tables 2, 6 and 7).

A ground-truth dialogue is cut into a prompt (first 30 s) and a continuation (next
90 s). A model continues the prompt; for each prompt we take the *mean* duration of each
turn-taking event (IPU, pause, floor-transfer offset; gap and overlap as extras) in the
generated continuation, in the ground-truth continuation and in the prompt itself. The
score is the Pearson correlation across prompts between the generated means and the
ground-truth means, per event and averaged over the paper's events (Table 2 / 6), and
between the generated means and the prompt's means (Table 7: does the model follow the
prompt's style). Pure functions of voice activity; must not run models.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from duplexsim.metrics.turntaking import TurnTakingParams, detect_events

PAPER_EVENTS = ("ipu", "pause", "fto")
"""The events of the paper's correlation tables; their mean is the ``avg`` column."""
ALL_EVENTS = ("ipu", "pause", "gap", "overlap", "fto")
PROMPT_S = 30.0
CONTINUATION_S = 90.0


def split_prompt(
    stream: np.ndarray, prompt_s: float = PROMPT_S, continuation_s: float = CONTINUATION_S,
    frame_ms: int = 40,
) -> tuple[np.ndarray, np.ndarray]:
    """Cut ``[2, T]`` units or VAD into the prompt and the continuation that follows it.

    Raises if the stream is shorter than the prompt plus the continuation.
    """
    n_prompt = round(prompt_s * 1000 / frame_ms)
    n_cont = round(continuation_s * 1000 / frame_ms)
    if stream.shape[-1] < n_prompt + n_cont:
        have = stream.shape[-1] * frame_ms / 1000
        raise ValueError(f"stream of {have:.1f} s is shorter than prompt + continuation "
                         f"({prompt_s} + {continuation_s} s)")
    return stream[..., :n_prompt], stream[..., n_prompt : n_prompt + n_cont]


def mean_durations(
    vad: np.ndarray, frame_ms: int = 40, params: TurnTakingParams | None = None
) -> dict[str, float]:
    """Mean duration (ms) of each event of :data:`ALL_EVENTS` in a ``[2, T]`` VAD (NaN if none).

    ``fto`` is the mean floor-transfer offset over transitions (negative = overlap).
    """
    events = detect_events(vad, frame_ms, params)
    out = {}
    for kind in ("ipu", "pause", "gap", "overlap"):
        d = events.loc[events["kind"] == kind, "duration_ms"]
        out[kind] = float(d.mean()) if len(d) else float("nan")
    fto = events["fto_ms"].dropna()
    out["fto"] = float(fto.mean()) if len(fto) else float("nan")
    return out


def per_prompt_means(
    vads: Mapping[tuple[str, str], np.ndarray], frame_ms: int = 40,
    params: TurnTakingParams | None = None,
) -> pd.DataFrame:
    """One row per (prompt id, source) with the mean event durations of that VAD.

    ``vads`` maps ``(prompt_id, source)`` to a ``[2, T]`` VAD, where source is e.g.
    ``ground_truth``, ``prompt``, ``resynth`` or ``syncllm-f-160``.
    """
    rows = [{"prompt": p, "source": s, **mean_durations(v, frame_ms, params)}
            for (p, s), v in vads.items()]
    return pd.DataFrame(rows, columns=["prompt", "source", *ALL_EVENTS])


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if len(x) < 3 or x.std() == 0 or y.std() == 0:
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1])


def correlations(
    per_prompt: pd.DataFrame, reference: str = "ground_truth",
    events: Iterable[str] = PAPER_EVENTS, extra: Iterable[str] = ("gap", "overlap"),
) -> pd.DataFrame:
    """Pearson r across prompts between each source's means and ``reference``'s means.

    Returns one row per source other than the reference with a column per event of
    ``events`` and ``extra``, ``avg`` (mean r over ``events``, the paper's average) and
    ``n_prompts`` (prompts where both sides have a value). r needs 3 prompts, else NaN.
    ``reference="prompt"`` gives the Table 7 analogue.
    """
    events, extra = list(events), [e for e in extra if e not in events]
    sources = [s for s in dict.fromkeys(per_prompt["source"]) if s != reference]
    if reference not in set(per_prompt["source"]):
        raise ValueError(f"reference source {reference!r} not in the table "
                         f"(sources: {', '.join(map(str, dict.fromkeys(per_prompt['source'])))})")
    wide = per_prompt.pivot_table(index="prompt", columns="source", values=events + extra,
                                  aggfunc="mean", dropna=False)
    rows = []
    for source in sources:
        row: dict[str, float | str] = {"source": source}
        for ev in events + extra:
            row[ev] = _pearson(wide[(ev, source)].to_numpy(float),
                               wide[(ev, reference)].to_numpy(float))
        row["avg"] = float(np.nanmean([row[e] for e in events])) \
            if any(np.isfinite(row[e]) for e in events) else float("nan")
        both = wide[(events[0], source)].notna() & wide[(events[0], reference)].notna()
        row["n_prompts"] = int(both.sum())
        rows.append(row)
    return pd.DataFrame(rows, columns=["source", *events, *extra, "avg", "n_prompts"])
