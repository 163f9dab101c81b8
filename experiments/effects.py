"""Effect sizes of a finished sweep from the per-transition FTO values of its cells.

Seeds are few on a CPU budget, so a Student-t interval over per-cell medians is wide; here
every cell's floor-transfer offsets (``fto_values_ms``, one per turn transition) are pooled
over seeds per grid point and compared by a percentile bootstrap over transitions (it
ignores the dependence between transitions of one conversation, so the intervals are on
the optimistic side; say so when quoting them). Reads ``results.parquet``; writes
``effects.csv`` and ``effects.md`` next to it. Must not simulate.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from duplexsim.atomic import write_text

N_BOOT = 1000


def sweep_parser(doc: str, out: str) -> argparse.ArgumentParser:
    """The arguments every sweep experiment shares (latency_sweep, pairing, presets)."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path(out))
    parser.add_argument("--agents", type=Path, default=Path("runs/agents"))
    parser.add_argument("--smoke", action="store_true", help="tiny budget, no trained agents")
    parser.add_argument("--workers", type=int, default=0,
                        help="worker processes, one torch thread each (0 = one per core)")
    parser.add_argument("--batch", type=int, default=16,
                        help="cells per worker simulated together by the engine, forwards "
                             "batched (bench_sim: 16 together about 2.5-3x one at a time)")
    parser.add_argument("--corpus", type=Path, default=Path("runs/corpora/fisher-like"),
                        help="FTO histogram reference (used when it exists)")
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 (full mode)")
    parser.add_argument("--duration-s", type=float, default=60.0, help="full mode")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads per process (default: $DUPLEXSIM_THREADS or 1)")
    return parser


def _stat(values: np.ndarray, name: str) -> float:
    if len(values) == 0:
        return float("nan")
    if name == "median":
        return float(np.median(values))
    return float(np.mean(values < 0))  # share of transitions made in overlap


def _boot(a: np.ndarray, b: np.ndarray | None, name: str, rng: np.random.Generator
          ) -> tuple[float, float]:
    """95% CI of stat(a) (or stat(a) - stat(b)) resampling transitions."""
    if len(a) == 0 or (b is not None and len(b) == 0):
        return float("nan"), float("nan")
    vals = []
    for _ in range(N_BOOT):
        x = _stat(rng.choice(a, len(a)), name)
        vals.append(x - _stat(rng.choice(b, len(b)), name) if b is not None else x)
    lo, hi = np.percentile(vals, [2.5, 97.5])
    return float(lo), float(hi)


def pooled_fto(table: pd.DataFrame, keys: list[str]) -> dict[tuple, np.ndarray]:
    """Grid point (values of ``keys``) -> FTO values of all its cells (seeds pooled)."""
    out = {}
    for key, part in table.groupby(keys, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        out[key] = np.concatenate([np.asarray(v, dtype=float) for v in part["fto_values_ms"]])
    return out


def effects(table: pd.DataFrame, keys: list[str], contrast: str, baseline: object,
            seed: int = 0) -> pd.DataFrame:
    """Per grid point: pooled FTO median and overlap-transition share with 95% CIs, and
    their difference to the grid point that has ``contrast == baseline`` (others equal)."""
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    pools = pooled_fto(table, keys)
    i = keys.index(contrast)
    rows = []
    for key, fto in pools.items():
        base = pools.get(key[:i] + (baseline,) + key[i + 1:])
        row = {**dict(zip(keys, key, strict=True)), "n_transitions": len(fto)}
        for name, col in (("median", "fto_median_ms"), ("share", "overlap_transition_share")):
            row[col] = _stat(fto, name)
            row[f"{col}_lo"], row[f"{col}_hi"] = _boot(fto, None, name, rng)
            if base is not None:
                row[f"d_{col}"] = _stat(fto, name) - _stat(base, name)
                row[f"d_{col}_lo"], row[f"d_{col}_hi"] = _boot(fto, base, name, rng)
        rows.append(row)
    return pd.DataFrame(rows)


def write_effects(run_dir: str | Path, keys: list[str], contrast: str, baseline: object,
                  name: str = "effects") -> pd.DataFrame:
    """Effects of a sweep in ``run_dir`` against ``contrast == baseline``; CSV + markdown."""
    run_dir = Path(run_dir)
    table = pd.read_parquet(run_dir / "results.parquet")
    df = effects(table, keys, contrast, baseline)
    write_text(run_dir / f"{name}.csv", df.to_csv(index=False, float_format="%.4g"))
    head = (f"# FTO effects vs {contrast} = {baseline!r}\n\nPooled over seeds "
            f"{sorted(table['seed'].unique().tolist())}; 95% bootstrap CI over transitions.\n")
    write_text(run_dir / f"{name}.md", head + "\n" + df.to_markdown(index=False,
                                                                   floatfmt=".3g") + "\n")
    return df
