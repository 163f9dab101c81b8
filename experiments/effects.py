"""Effect sizes of a finished sweep, with 95% CIs that resample conversations.

Per grid point: the floor-transfer offsets of all its cells pooled over seeds
(``fto_values_ms``, one per turn transition: their median and the share made in overlap)
and the per-conversation means of the sweep's time-share and rate metrics (overlap share,
backchannels and IPUs per minute); each against the grid point that differs only in
``contrast == baseline``. One seed is one conversation per grid point, the unit of every
CI, and a difference is paired by seed (the same utterances, network draws and sampling
streams where the two points allow). The per-conversation means and their differences
get the Student-t interval over seeds (of the per-seed values, differences, or
differences in differences). The pooled FTO statistics get a bootstrap over seeds: every
resample draws seeds with replacement and uses the same draw for a point and its
baseline, so the dependence between transitions of one conversation is kept; the
interval is the expanded percentile interval
(:func:`~duplexsim.metrics.intervals.percentile_interval`), and none (NaN)
below :data:`~duplexsim.metrics.intervals.MIN_BOOT_UNITS` seeds, where no bootstrap interval
holds its level. Against a known truth the plain percentile interval these tables used
before covered 73 % at 3 seeds and 84-91 % at 5-10; now 91-99 % from 5 seeds on (means: t,
93-97 % from 3). 20 seeds is the default and what the reports here use. Reads
``results.parquet``; writes ``<name>.csv`` and ``<name>.md`` next to it. Must not simulate.
"""

from __future__ import annotations

from pathlib import Path

from duplexsim.atomic import write_text
from duplexsim.cli import ArgumentParser, number, path_arg
from duplexsim.digests import results_mark
from duplexsim.metrics.intervals import MIN_BOOT_UNITS, percentile_interval, t_interval
from duplexsim.sweeps.config import MAX_BATCH, MAX_WORKERS

import numpy as np
import pandas as pd
from resample import point_rng  # each grid point's own bootstrap stream

N_BOOT = 1000
DEFAULT_CORPUS = Path("runs/corpora/fisher-like")
PER_CONVERSATION = ("overlap_share", "backchannels_per_min", "ipus_per_min")
"""Per-conversation metrics averaged over seeds (when the sweep has them)."""


SMOKE_UNREAD = ("agents", "seeds", "duration_s")
"""The :func:`sweep_parser` flags smoke mode does not read (its sides need no trained agent,
it runs one seed for 10 s); each script refuses them with ``--smoke`` and its own."""


def sweep_parser(doc: str, out: str) -> ArgumentParser:
    """The arguments every sweep experiment shares (latency_sweep, pairing, presets)."""
    parser = ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--out", type=path_arg, default=Path(out),
                        help="output folder (new or empty, or an earlier run's of this script) "
                             "(default: %(default)s)")
    parser.add_argument("--agents", type=Path, default=Path("runs/agents"),
                        help="trained agents' folder, with fisher/ and candor/ (full mode) "
                             "(default: %(default)s)")
    parser.add_argument("--smoke", action="store_true", help="tiny budget, no trained agents")
    parser.add_argument("--workers", type=number(0, MAX_WORKERS, integer=True), default=0,
                        help="worker processes, one torch thread each (0 = one per core)"
                             " (default: %(default)s)")
    parser.add_argument("--batch", type=number(1, MAX_BATCH, integer=True), default=16,
                        help="cells per worker simulated together by the engine, forwards "
                             "batched (bench_sim: 16 together about 2.5-3x one at a time)"
                             " (default: %(default)s)")
    parser.add_argument("--corpus", type=Path, default=None,
                        help=f"FTO histogram reference (default: {DEFAULT_CORPUS} when it "
                             "exists, else none)")
    parser.add_argument("--seeds", type=number(1, 100_000, integer=True), default=20,
                        help="seeds 0..N-1 (full mode; fewer give wide CIs) (default: %(default)s)")
    parser.add_argument("--duration-s", type=number(0, 86_400, low_open=True), default=60.0,
                        help="length of each conversation in s, full mode (default: "
                             "%(default)s)")
    parser.add_threads()
    return parser


def reference_corpus(parser: ArgumentParser, given: Path | None) -> Path | None:
    """The corpus the reports compare with: ``--corpus`` when given (one that is not a
    built corpus is an error before any work, not a report without a reference), else
    :data:`DEFAULT_CORPUS` when it exists."""
    if given is None:
        return DEFAULT_CORPUS if (DEFAULT_CORPUS / "manifest.json").is_file() else None
    if not (given / "manifest.json").is_file():
        parser.error(f"--corpus: {given} is not a corpus, it has no manifest.json (allowed: "
                     "a folder built by `duplexsim corpus build` or `corpus import`)")
    return given


class _Point:
    """One grid point's conversations, by seed: FTO arrays and per-conversation metrics."""

    def __init__(self, part: pd.DataFrame, metrics: list[str]) -> None:
        part = part.sort_values("seed")
        self.seeds = part["seed"].tolist()
        self.fto = [np.asarray(v, dtype=float) for v in part["fto_values_ms"]]
        self.metrics = {m: part[m].to_numpy(dtype=float) for m in metrics}

    def stats(self, pick: np.ndarray | None = None) -> dict[str, float]:
        """The point's statistics over its conversations ``pick`` (indices; all if None)."""
        pick = np.arange(len(self.seeds)) if pick is None else pick
        fto = np.concatenate([self.fto[i] for i in pick]) if len(pick) else np.zeros(0)
        out = {"fto_median_ms": float(np.median(fto)) if len(fto) else float("nan"),
               "overlap_transition_share": float(np.mean(fto < 0)) if len(fto)
               else float("nan")}
        for m, values in self.metrics.items():
            out[m] = float(np.nanmean(values[pick])) if len(pick) else float("nan")
        return out


def _points(table: pd.DataFrame, keys: list[str]) -> dict[tuple, _Point]:
    """Grid point (values of ``keys``) -> its conversations."""
    metrics = [m for m in PER_CONVERSATION if m in table.columns]
    return {(k if isinstance(k, tuple) else (k,)): _Point(part, metrics)
            for k, part in table.groupby(keys, sort=False)}


def effects(table: pd.DataFrame, keys: list[str], contrast: str, baseline: object,
            seed: int = 0) -> pd.DataFrame:
    """Per grid point (values of ``keys``): pooled FTO median, share of transitions in
    overlap and the per-conversation metrics, each with a 95% CI over all its
    conversations, and their difference to the grid point with ``contrast == baseline``
    (other keys equal), paired by seed: estimate and CI both over the seeds the two share
    (``n_paired``; fewer than ``n_seeds`` when a cell of either failed). A point's
    resamples come from its own stream (:func:`point_rng`)."""
    points = _points(table, keys)
    i = keys.index(contrast)
    rows = []
    for key, point in points.items():
        rng = point_rng(seed, keys, key)
        base = points.get(key[:i] + (baseline,) + key[i + 1:])
        seeds = point.seeds if base is None else sorted(set(point.seeds) & set(base.seeds))
        mine = np.array([point.seeds.index(s) for s in seeds], dtype=np.int64)
        est = point.stats()
        draws = rng.integers(0, len(point.seeds), size=(N_BOOT, len(point.seeds)))
        boot = [point.stats(d) for d in draws]
        theirs = np.zeros(0, dtype=np.int64)  # with a baseline: its rows of ``seeds``
        d_est: dict[str, float] = {}
        d_boot: list[dict[str, float]] = []
        if base is not None:
            theirs = np.array([base.seeds.index(s) for s in seeds], dtype=np.int64)
            mine_est = point.stats(mine)
            d_est = {k: mine_est[k] - v for k, v in base.stats(theirs).items()}
            pairs = draws if len(seeds) == len(point.seeds) else \
                rng.integers(0, len(seeds), size=(N_BOOT, len(seeds)))
            d_boot = [{k: v - b[k] for k, v in point.stats(mine[d]).items()}
                      for d, b in zip(pairs, (base.stats(theirs[d]) for d in pairs),
                                      strict=True)]
        row = {**dict(zip(keys, key, strict=True)), "n_seeds": len(point.seeds),
               "n_paired": len(seeds) if base is not None else float("nan"),
               "n_transitions": int(sum(len(f) for f in point.fto))}
        for name in est:
            row[name], row[f"{name}_lo"], row[f"{name}_hi"] = _estimate_ci(
                name, point.metrics.get(name), est, boot, len(point.seeds))
            if base is None:
                continue
            # per seed: estimate and CI over the seeds both have a value
            paired = point.metrics[name][mine] - base.metrics[name][theirs] \
                if name in point.metrics else None
            row[f"d_{name}"], row[f"d_{name}_lo"], row[f"d_{name}_hi"] = _estimate_ci(
                name, paired, d_est, d_boot, len(seeds))
        rows.append(row)
    return pd.DataFrame(rows)


def interactions(table: pd.DataFrame, keys: list[str], contrast: str, baseline: object,
                 factor: str, factor_baseline: object, seed: int = 0) -> pd.DataFrame:
    """Difference in differences, paired by seed: per grid point with ``contrast !=
    baseline`` and ``factor != factor_baseline``, how much the point's effect of
    ``contrast`` (against ``baseline``, other keys equal) differs from the same effect at
    ``factor == factor_baseline``. E.g. does a 240 ms delay cost a cross-corpus pairing
    more than a same-corpus one? Columns ``dd_<stat>`` with 95% CIs (the four points'
    conversations resampled together, by seed; each point's from its own stream,
    :func:`point_rng`)."""
    points = _points(table, keys)
    i, j = keys.index(contrast), keys.index(factor)

    def at(key: tuple, index: int, value: object) -> tuple:
        return key[:index] + (value,) + key[index + 1:]

    rows = []
    for key, point in points.items():
        if key[i] == baseline or key[j] == factor_baseline:
            continue
        corners = [points.get(at(key, i, baseline)), points.get(at(key, j, factor_baseline)),
                   points.get(at(at(key, i, baseline), j, factor_baseline))]
        quad = [point, *(q for q in corners if q is not None)]
        if len(quad) < 4:
            continue
        seeds = sorted(set.intersection(*(set(q.seeds) for q in quad)))
        index = [np.array([q.seeds.index(s) for s in seeds]) for q in quad]

        def did(pick: np.ndarray, quad: list = quad, index: list = index) -> dict[str, float]:
            a, b, c, d = (q.stats(ix[pick]) for q, ix in zip(quad, index, strict=True))
            return {m: a[m] - b[m] - c[m] + d[m] for m in a}

        est = did(np.arange(len(seeds)))
        rng = point_rng(seed, keys, key)
        boot = [did(d) for d in rng.integers(0, len(seeds), size=(N_BOOT, len(seeds)))]
        row = {**dict(zip(keys, key, strict=True)), "n_seeds": len(seeds)}
        for name in est:
            per_seed = None
            if name in point.metrics:  # per seed: a - b - c + d, over the seeds all four have
                a, b, c, d = (q.metrics[name][ix] for q, ix in zip(quad, index, strict=True))
                per_seed = a - b - c + d
            row[f"dd_{name}"], row[f"dd_{name}_lo"], row[f"dd_{name}_hi"] = _estimate_ci(
                name, per_seed, est, boot, len(seeds))
        rows.append(row)
    return pd.DataFrame(rows)


def _estimate_ci(name: str, per_seed: np.ndarray | None, est: dict[str, float],
                 boot: list[dict[str, float]], n_seeds: int) -> tuple[float, float, float]:
    """``(estimate, low, high)`` of statistic ``name``: with ``per_seed`` values (a
    per-conversation metric, or its paired differences) their mean and Student-t interval
    (:func:`_t_bounds`); otherwise (the pooled FTO statistics) the point estimate
    ``est[name]`` and the expanded percentile interval of its ``boot`` draws over
    ``n_seeds`` resampled seeds."""
    if per_seed is not None:
        return _t_bounds(per_seed)
    low, high = percentile_interval([b[name] for b in boot], n_seeds)
    return est[name], low, high


def _t_bounds(values: np.ndarray) -> tuple[float, float, float]:
    """``(mean, low, high)``: the mean of the finite per-seed ``values`` and its Student-t
    95% interval (NaN bounds under 2). The estimate comes from here too, so that it is over
    the same seeds as its interval: a difference's mean over each point's own seeds left a
    seed with a NaN on one side out of the CI only (estimate 0.038, CI [0.02, 0.02])."""
    mean, half, _ = t_interval(values)
    return mean, mean - half, mean + half


def write_effects(run_dir: str | Path, keys: list[str], contrast: str, baseline: object,
                  name: str = "effects", note: str = "") -> pd.DataFrame:
    """Effects of a sweep in ``run_dir`` against ``contrast == baseline``; CSV + markdown
    (``note``, e.g. the command and commit, under its title)."""
    table = pd.read_parquet(Path(run_dir) / "results.parquet")
    df = effects(table, keys, contrast, baseline)
    _write(run_dir, name, df, f"Effects vs {contrast} = {baseline!r}", note, table,
           "paired by seed for the differences (`d_`)")
    return df


def write_interactions(run_dir: str | Path, keys: list[str], contrast: str, baseline: object,
                       factor: str, factor_baseline: object, name: str, note: str = ""
                       ) -> pd.DataFrame:
    """:func:`interactions` of a sweep in ``run_dir``; CSV + markdown."""
    table = pd.read_parquet(Path(run_dir) / "results.parquet")
    df = interactions(table, keys, contrast, baseline, factor, factor_baseline)
    _write(run_dir, name, df, f"Effect of {contrast} (vs {baseline!r}) against its effect at "
           f"{factor} = {factor_baseline!r}", note, table,
           "the four grid points of each difference in differences (`dd_`) resampled "
           "together by seed")
    return df


def _write(run_dir: str | Path, name: str, df: pd.DataFrame, title: str, note: str,
           table: pd.DataFrame, pairing: str) -> None:
    run_dir = Path(run_dir)
    write_text(run_dir / f"{name}.csv", df.to_csv(index=False, float_format="%.4g"))
    note = f"{note}\n\n" if note else ""
    seeds = sorted(table["seed"].unique().tolist())
    head = (f"# {title}\n\n{note}{results_mark(run_dir)} Seeds {seeds} (one "
            "conversation each per grid point); FTO statistics pool the transitions of all "
            "seeds; the other columns are means over conversations; 95% CIs: Student-t over "
            "seeds for the means, expanded percentile bootstrap over seeds for the FTO "
            f"statistics (none under {MIN_BOOT_UNITS} seeds), {pairing}.\n")
    write_text(run_dir / f"{name}.md", head + "\n" + df.to_markdown(index=False,
                                                                   floatfmt=".3g") + "\n")
