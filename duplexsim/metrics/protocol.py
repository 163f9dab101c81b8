"""The paper's continuation protocol (SyncLLM section 5, Tables 2, 6 and 7).

A ground-truth dialogue is cut into a prompt (first 30 s) and a continuation (next
90 s). A model continues the prompt; for each prompt we take the *mean* duration of each
turn-taking event (IPU, pause, floor-transfer offset; gap and overlap as extras) in the
generated continuation, in the ground-truth continuation and in the prompt itself. The
score is the Pearson correlation across prompts between the generated means and the
ground-truth means, per event and averaged over the paper's events (Table 2 / 6), and
between the generated means and the prompt's means (Table 7: does the model follow the
prompt's style). Pure functions of voice activity; must not run models.
The r and its bootstrap CIs are computed in correlation.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from duplexsim.errors import finite_number
from duplexsim.metrics.correlation import over_replicates, pearson_rows
from duplexsim.metrics.turntaking import TurnTakingParams, detect_events, event_durations
from duplexsim.timebase import frames_from_s

PAPER_EVENTS = ("ipu", "pause", "fto")
"""The events of the paper's correlation tables; their mean is the ``avg`` column."""
ALL_EVENTS = ("ipu", "pause", "gap", "overlap", "fto")
PROMPT_S = 30.0
CONTINUATION_S = 90.0


def window_frames(prompt_s: float = PROMPT_S, continuation_s: float = CONTINUATION_S,
                  frame_ms: int = 40) -> tuple[int, int]:
    """Frames of the prompt and of the continuation (each rounded on its own, half up; a
    window of under half a frame is an error: it was 0 frames, and every mean and r NaN)."""
    for name, value in (("prompt_s", prompt_s), ("continuation_s", continuation_s),
                        ("frame_ms", frame_ms)):
        # a negative prompt_s cut the prompt from the stream's end (stream[..., :-25])
        if not (finite_number(value) and value > 0):  # (not a bool: True was 1 s, 1 ms)
            raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    frames = frames_from_s(prompt_s, frame_ms), frames_from_s(continuation_s, frame_ms)
    for name, value, n in zip(("prompt_s", "continuation_s"), (prompt_s, continuation_s),
                              frames, strict=True):
        if n < 1:
            raise ValueError(f"{name}={value!r} is 0 frames of {frame_ms} ms (allowed: >= "
                             f"{frame_ms / 2000:g} s, half a frame)")
    return frames


def split_prompt(
    stream: np.ndarray, prompt_s: float = PROMPT_S, continuation_s: float = CONTINUATION_S,
    frame_ms: int = 40,
) -> tuple[np.ndarray, np.ndarray]:
    """Cut ``[2, T]`` units or VAD into the prompt and the continuation that follows it.

    Raises if the stream is shorter than the prompt plus the continuation
    (:func:`window_frames`).
    """
    n_prompt, n_cont = window_frames(prompt_s, continuation_s, frame_ms)
    if stream.shape[-1] < n_prompt + n_cont:
        have = stream.shape[-1] * frame_ms / 1000
        raise ValueError(f"stream of {have:.1f} s is shorter than prompt + continuation "
                         f"({prompt_s} + {continuation_s} s)")
    return stream[..., :n_prompt], stream[..., n_prompt : n_prompt + n_cont]


def mean_durations(
    vad: np.ndarray, frame_ms: int = 40, params: TurnTakingParams | None = None
) -> dict[str, float]:
    """Mean duration (ms) of each event of :data:`ALL_EVENTS` in a ``[2, T]`` VAD (NaN if none;
    the durations of ``turntaking.event_durations``).

    ``fto`` is the mean floor-transfer offset over transitions (negative = overlap). An IPU
    cut by the window's first or last frame counts with its in-window (truncated) length, in
    generated and ground-truth windows alike (cut at the same frames); the paper does not
    say edge IPUs are dropped (silence at the edges is no event, see ``turntaking``).
    """
    events = detect_events(vad, frame_ms, params)
    out = {}
    for kind in ("ipu", "pause", "gap", "overlap"):
        d = event_durations(events, kind)
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


def seed_tables(per_prompt: pd.DataFrame) -> list[pd.DataFrame]:
    """One per-prompt table per sampling seed (column ``seed``; a table without one is
    one table). A source with several seeds (a generated continuation) has that seed's
    rows in each table; a source with one seed, none of them, or no seed (NaN: a reference,
    a deterministic topline), has its rows in every table. Sources with several seeds must
    have the same ones."""
    if "seed" not in per_prompt.columns:
        return [per_prompt]
    by_source = per_prompt.groupby("source", sort=False)["seed"]
    # NaN, no seed: every NaN was a seed of its own (NaN != NaN), and a reference with NaN
    # seeds vanished from every table ("reference source 'ground_truth' not in the table")
    mixed = [s for s, v in by_source if v.isna().any() and v.notna().any()]
    if mixed:
        raise ValueError(f"sources {mixed} have rows with a seed and rows without (NaN) "
                         "(allowed: a seed on every row of a source, or on none)")
    seeds = by_source.agg(lambda s: tuple(sorted(set(s.dropna()))))
    varied = {v for v in seeds if len(v) > 1}
    if len(varied) > 1:
        raise ValueError(f"sources with other seeds: {dict(seeds)} (allowed: every source "
                         "with several seeds has the same ones)")
    if not varied:
        return [per_prompt]
    (replicates,) = varied
    wrong = [s for s, v in seeds.items() if len(v) == 1 and v[0] in replicates]
    if wrong:
        raise ValueError(f"sources {wrong} have one of the seeds {list(replicates)} only "
                         "(allowed: all of them, or one seed outside them for a reference)")
    shared = per_prompt["source"].map(lambda s: len(seeds[s]) <= 1)
    return [per_prompt[shared | (per_prompt["seed"] == k)] for k in replicates]


def common_prompts(per_prompt: pd.DataFrame, sources: Iterable[str],
                   events: Iterable[str] = PAPER_EVENTS) -> pd.DataFrame:
    """``per_prompt`` with each of ``events`` of ``sources`` set to NaN on every prompt where
    one of those sources (any of its seeds) has no value for it: :func:`correlations` then
    takes every source's r of an event over the same prompts, so two rows compare paired.
    Apart, an agent's r (fto over 40 prompts) was set beside the Prompt row's over the 37
    prompts whose prompt had a floor transfer."""
    sources, events = list(sources), list(events)
    mine = per_prompt["source"].isin(sources)
    for ev in events:
        lacking = per_prompt.loc[mine & per_prompt[ev].isna(), "prompt"]
        per_prompt = per_prompt.assign(**{ev: per_prompt[ev].mask(
            mine & per_prompt["prompt"].isin(lacking))})
    return per_prompt


def correlations(
    per_prompt: pd.DataFrame, reference: str = "ground_truth",
    events: Iterable[str] = PAPER_EVENTS, extra: Iterable[str] = ("gap", "overlap"),
    n_boot: int = 0, seed: int = 0,
) -> pd.DataFrame:
    """Pearson r across prompts between each source's means and ``reference``'s means.

    Returns one row per source other than the reference with a column per event of
    ``events`` and ``extra`` (an ``extra`` event that is not a column of the table is left
    out), ``avg`` (mean r over ``events``, the paper's average; over those with an r when
    some have none, e.g. a source that never pauses), ``avg_events`` (how many events
    ``avg`` averages: fewer than ``events`` flags a partial average), ``n_prompts``
    (prompts where both sides have a value for every one of ``events``), ``n_<event>`` per
    event of ``events`` (prompts where both sides have that event: the prompts its r is
    over) and ``n_seeds``. r needs 3 prompts, else NaN.
    ``reference="prompt"`` gives the Table 7 analogue. With ``n_boot`` > 0, each of
    ``events`` and ``avg`` also gets a 95% CI (columns ``<name>_lo``, ``<name>_hi``):
    percentile bootstrap over prompts, the same ``n_boot`` resamples (from ``seed``) for
    every event and source, so ``avg``'s CI is that of the average; NaN over fewer than
    ``intervals.MIN_BOOT_UNITS`` prompts (``n_<event>``, ``n_prompts`` for ``avg``): over 3
    every draw with an r had the same 3 prompts, and the CI was [r, r].

    Several sampling seeds (a ``seed`` column, :func:`seed_tables`): the paper scores one
    continuation per prompt, so r is computed per seed, across prompts, and averaged over
    the seeds (``sd_seeds``: their standard deviation of ``avg``); the CI is the two-level
    bootstrap of :func:`correlations_over_runs` with seeds for runs. As there, a CI's count
    of resampled units (``percentile_interval``'s widening and its ``MIN_BOOT_UNITS``
    floor) is the prompts, the units each r is over, not the seeds. r of the prompts' means
    over seeds would be another statistic, higher (40 prompts, 4 seeds: 0.64 against
    per-seed r of 0.34-0.46): averaging seeds takes the sampling noise out of the means.
    """
    events = list(events)
    _check_request([per_prompt], events, n_boot)
    tables = seed_tables(per_prompt)
    out = over_replicates(tables, list(range(len(tables))), reference, events, extra,
                           n_boot, seed)
    return out.rename(columns={"n_groups": "n_seeds", "sd_groups": "sd_seeds"}).drop(
        columns=["n_replicates"])


def correlations_over_runs(
    runs: Sequence[pd.DataFrame], reference: str = "ground_truth",
    events: Iterable[str] = PAPER_EVENTS, n_boot: int = 0, seed: int = 0,
) -> pd.DataFrame:
    """:func:`correlations` for several training runs of the same agents, each of which
    continued the same prompts (``runs``: one per-prompt table each, the reference's values
    the same in all).

    Each source's r per event is the mean over runs of that run's r across prompts (its
    ``avg``: the mean of the runs' averages), the r of the average training run rather than
    of one draw of the training seed; ``sd_runs`` is the runs' standard deviation of
    ``avg``, ``n_runs`` the number of runs. With ``n_boot`` > 0 the 95% CIs come
    from a two-level bootstrap: the prompts with replacement (the same draw for every run:
    they continued the same prompts), then the runs with replacement, so a CI includes how
    much another training run would differ. One run gives :func:`correlations`'s numbers
    and CIs (the same prompt draws from ``seed``). Runs with several sampling seeds: a run's
    r is the mean over its seeds (each seed's r across prompts); the bootstrap's second
    level draws the runs, then the seeds of each drawn run (a seed is no other run: drawn on
    their own, 3 runs of 4 near-identical seeds had a CI half as wide as the same runs with
    one seed); ``sd_runs``
    is between the runs' averages over their seeds. Runs with different numbers of seeds
    (one whose sampling stopped early) weigh the same: each r is the mean over runs of the
    run's mean over its seeds, in the estimate and in every bootstrap draw (a run of 4 seeds
    beside runs of 2 counted twice as much); ``n_seeds`` is the fewest seeds of any run, as
    ``n_prompts`` and ``n_<event>`` (as in :func:`correlations`) are the fewest of any run and
    seed. A CI's count of resampled units (``percentile_interval``'s widening and its
    ``MIN_BOOT_UNITS`` floor) is the prompts, the units each r is over, not the runs: 2-4
    runs still get a CI, its run level coarse (``selfplay.py``, whose conversations are nested
    in runs, counts the runs and gives none under ``MIN_BOOT_UNITS`` of them).
    """
    events = list(events)
    if not runs:
        raise ValueError("no runs (allowed: one per-prompt table per training run)")
    _check_request(runs, events, n_boot)
    wides = [t.pivot_table(index="prompt", columns="source", values=events, aggfunc="mean",
                           dropna=False) for t in runs]
    prompts = wides[0].index
    for k, wide in enumerate(wides):
        if reference not in set(runs[k]["source"]):
            raise ValueError(f"run {k}: reference source {reference!r} not in the table")
        if not wide.index.equals(prompts) or not all(
                np.allclose(wide[(ev, reference)], wides[0][(ev, reference)], equal_nan=True)
                for ev in events):
            raise ValueError(f"run {k}: other prompts or other {reference} values than run 0 "
                             "(allowed: runs that continued the same prompts)")
    for k, table in enumerate(runs):
        if set(table["source"]) != set(runs[0]["source"]):
            raise ValueError(f"run {k}: sources {sorted(set(table['source']))} against run "
                             f"0's {sorted(set(runs[0]['source']))} (allowed: runs with the "
                             "same sources)")
    per_run = [seed_tables(t) for t in runs]
    tables = [t for each in per_run for t in each]
    groups = [k for k, each in enumerate(per_run) for _ in each]
    out = over_replicates(tables, groups, reference, events, (), n_boot, seed)
    ci = [c for c in out.columns if c.endswith(("_lo", "_hi"))]
    return out.rename(columns={"n_groups": "n_runs", "sd_groups": "sd_runs"}).assign(
        n_seeds=min(len(each) for each in per_run))[["source", *events, "avg", "n_prompts",
                                           *[f"n_{ev}" for ev in events], "sd_runs",
                                           "n_runs", "n_seeds", *ci]]


def _check_request(tables: Sequence[pd.DataFrame], events: list[str], n_boot: int) -> None:
    """One-line errors for an event that is no column of a per-prompt table (pandas said
    KeyError: 'fto'), for a table with a prompt and source (and seed) twice, and for an
    ``n_boot`` that is no count (numpy: 'negative dimensions')."""
    for k, table in enumerate(tables):
        where = f"run {k}'s per-prompt table" if len(tables) > 1 else "the per-prompt table"
        missing = [ev for ev in events if ev not in table.columns]
        if missing:
            raise ValueError(f"{where} has no column {', '.join(map(repr, missing))} (allowed "
                             f"events: its columns, e.g. {', '.join(ALL_EVENTS)} of "
                             "per_prompt_means)")
        # several rows of one prompt and source (and seed) were averaged by the pivot without
        # a word: 4 continuations per prompt with no seed column scored r of their means
        # (avg 0.52 where the per-seed r of correlations() averaged 0.29), n_seeds 1
        keys = ["prompt", "source", *(["seed"] if "seed" in table.columns else [])]
        twice = table[keys][table.duplicated(subset=keys)] if all(
            c in table.columns for c in keys[:2]) else table.iloc[:0]
        if len(twice):
            first = ", ".join(f"{c}={v!r}" for c, v in twice.iloc[0].items())
            raise ValueError(f"{where} has {len(twice)} repeated row(s) of one "
                             f"{'/'.join(keys)} (first: {first}) (allowed: one row each; "
                             "several continuations of a prompt need a seed column)")
    if isinstance(n_boot, bool) or not isinstance(n_boot, int | np.integer) or n_boot < 0:
        raise ValueError(f"n_boot must be a whole number >= 0, got {n_boot!r}")


# pearson_rows lives in correlation.py: importable from here as before
__all__ = ["ALL_EVENTS", "CONTINUATION_S", "PAPER_EVENTS", "PROMPT_S", "common_prompts",
           "correlations", "correlations_over_runs", "mean_durations", "pearson_rows",
           "per_prompt_means", "seed_tables", "split_prompt", "window_frames"]
