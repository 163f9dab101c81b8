"""``duplexsim report runs/SWEEP``: a markdown report with tables and PNG plots of a sweep.

Reads ``results.parquet`` and ``sweep.json`` written by :mod:`duplexsim.sweeps.runner`.
The x axis is the first swept key naming a delay (``delay_ms``), unless ``--x`` says
otherwise; every other swept key (pairing, estimation, jitter, ...) splits the lines.
Each metric gets mean and 95% confidence interval over seeds (Student t), in a table and
a PNG. List columns written by cells (``fto_values_ms``; ``est_lookahead`` with
``est_unit_accuracy_by_lookahead`` and ``est_frames_by_lookahead``) give FTO histograms
(against a corpus with ``--corpus``) and estimation accuracy against lookahead depth.
Writes only inside the run folder, atomically; must not run simulations. A rerun removes
the files an earlier report wrote and a user left as it wrote them (by the record it keeps:
:mod:`duplexsim.metrics.report_record`), and nothing else in ``report/``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from duplexsim.atomic import atomic_path, output_dir, write_png, write_text
from duplexsim.cli import path_arg
from duplexsim.config.readers import read_json
from duplexsim.digests import file_digest, stale_tables
from duplexsim.errors import InputError, MissingInputError
from duplexsim.metrics.intervals import t_interval
from duplexsim.metrics.report_record import remove_created, report_files, write_record
from duplexsim.provenance import provenance as duplexsim_provenance

LIST_COLUMNS = ("fto_values_ms", "est_lookahead", "est_unit_accuracy_by_lookahead",
                "est_frames_by_lookahead")
KEY_METRICS = ("fto_median_ms", "gap_median_ms", "overlap_share", "response_latency_ms_a",
               "response_latency_ms_b", "takeover_rate", "est_unit_accuracy",
               "est_va_agreement", "lookahead_mean", "deadline_miss_rate",
               "mouth_to_ear_mean_ms", "ipus_per_min", "backchannels_per_min", "unit_ppl")


def load_run(run_dir: str | Path) -> tuple[pd.DataFrame, list[str]]:
    """The results table and the swept parameter columns (grid keys, then ``seed``)."""
    run_dir = Path(run_dir)
    results = run_dir / "results.parquet"
    if not results.is_file():
        raise MissingInputError(str(results), "", "not found",
                                f"a sweep folder: run `duplexsim sweep SWEEP.toml --out {run_dir}`")
    try:
        table = pd.read_parquet(results)
    except (OSError, ValueError) as e:  # pyarrow's errors are both
        raise InputError(str(results), "", f"not a readable results table ({e})",
                         "the results.parquet `duplexsim sweep` wrote") from None
    if table.empty:  # every cell failed (or none ran): a report of nothing, "0 cells"
        failures = run_dir / "failures.json"  # a sweep writes it always: {} when none failed
        failed = failures.is_file() and read_json(failures, what="sweep failures.json")
        raise InputError(str(results), "", "no finished cells" + (
            f" (see {failures} for the failed ones)" if failed else ""),
            f"a sweep with finished cells: fix the failures, then `duplexsim sweep "
            f"SWEEP.toml --out {run_dir}` resumes")
    meta_path = run_dir / "sweep.json"
    grid: list[str] = []
    if meta_path.is_file():
        meta = read_json(meta_path, what="sweep.json")
        keys = meta.get("grid_keys") or (meta.get("sweep") or {}).get("grid") or []
        if not isinstance(keys, list | dict) or not all(isinstance(k, str) for k in keys):
            raise InputError(str(meta_path), "grid_keys", f"{keys!r}", "a list of column names")
        grid = list(keys)  # grid_keys keeps order
    keys = [g for g in grid if g in table.columns] + ["seed"]
    if "seed" in table.columns and table[keys].astype(str).duplicated().any():
        raise InputError(str(meta_path), "grid_keys", f"{grid} leave cells of "
                         "results.parquet alike (a seed twice in one grid point: another "
                         "sweep's table, or no sweep.json)",
                         f"the sweep.json `duplexsim sweep` wrote with this results.parquet: "
                         f"run `duplexsim sweep SWEEP.toml --out {run_dir}` to completion")
    return table, keys


def sweep_name(run_dir: str | Path) -> str:
    """The ``[sweep] name`` that ``sweep.json`` records; the folder's name where it records
    none (no sweep.json: a table made another way)."""
    run_dir = Path(run_dir)
    meta_path = run_dir / "sweep.json"
    if meta_path.is_file():
        table = read_json(meta_path, what="sweep.json").get("sweep")
        name = table.get("name") if isinstance(table, dict) else None
        if isinstance(name, str) and name:
            return name
    return run_dir.name


def summarize(table: pd.DataFrame, keys: list[str], metrics: list[str]) -> pd.DataFrame:
    """Mean and 95% CI over seeds of each metric, per combination of ``keys``."""
    rows = []
    groups = table.groupby(keys, sort=False, dropna=False) if keys else [((), table)]
    for key, part in groups:
        key = key if isinstance(key, tuple) else (key,)
        row: dict[str, Any] = dict(zip(keys, key, strict=True))
        row["seeds"] = len(part)
        for m in metrics:
            mean, half, n = t_interval(part[m].to_numpy(float))
            row[m] = mean
            row[f"{m}_ci95"] = half
            row[f"{m}_n"] = n
        rows.append(row)
    return pd.DataFrame(rows)


def _fmt(v: Any) -> str:
    if isinstance(v, float | np.floating):
        return "nan" if not np.isfinite(v) else f"{v:.4g}"
    return str(v)


def markdown_table(df: pd.DataFrame, metrics: list[str], keys: list[str]) -> str:
    """Markdown table: key columns, seeds, then ``mean ± ci`` per metric (``(n=K)`` after
    it where only K of the seeds have a value, e.g. no transition in a conversation)."""
    head = [*keys, "seeds", *metrics]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in df.to_dict("records"):  # (iterrows would print the seed count as a float)
        cells = [_fmt(r[k]) for k in keys] + [str(int(r["seeds"]))]
        cells += [f"{_fmt(r[m])} ± {_fmt(r[f'{m}_ci95'])}"
                  + (f" (n={int(r[f'{m}_n'])})" if r.get(f"{m}_n", r["seeds"]) != r["seeds"]
                     else "") for m in metrics]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def series_label(key: tuple | Any, names: list[str]) -> str:
    """``delay_ms=160, estimation=model``: a plot line's legend from its values of ``names``."""
    key = key if isinstance(key, tuple) else (key,)
    return ", ".join(f"{n.split('.')[-1] if '+' not in n else n.split('+')[0].split('.')[-1]}="
                     f"{_fmt(k)}" for n, k in zip(names, key, strict=True)) or "all"


def plot_vs(summary: pd.DataFrame, x: str, lines_by: list[str], metric: str, path: Path,
            caption: str | None = None) -> None:
    """One metric against ``x``, a line per combination of ``lines_by``, 95% CI band."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    groups = summary.groupby(lines_by, sort=False, dropna=False) if lines_by else [((), summary)]
    for key, part in groups:
        part = part.sort_values(x)
        xs, ys = part[x].to_numpy(float), part[metric].to_numpy(float)
        ci = np.nan_to_num(part[f"{metric}_ci95"].to_numpy(float))
        ax.plot(xs, ys, marker="o", label=series_label(key, lines_by))
        ax.fill_between(xs, ys - ci, ys + ci, alpha=0.2)
    ax.set_xlabel(x)
    ax.set_ylabel(metric)
    ax.grid(alpha=0.3)
    if lines_by:
        ax.legend(fontsize=7)
    write_png(fig, path, layout=False, caption=caption)


def plot_fto_hist(table: pd.DataFrame, by: list[str], corpus_fto: np.ndarray | None,
                  path: Path, caption: str | None = None) -> None:
    """FTO histograms per group (pooled over seeds), with the corpus's as a reference."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    bins = np.arange(-2000, 2001, 100).tolist()  # (matplotlib's stub takes a list, not an array)
    if corpus_fto is not None and len(corpus_fto):
        ax.hist(np.clip(corpus_fto, -2000, 2000), bins=bins, density=True, color="0.6",
                label="corpus")
    groups = table.groupby(by, sort=False, dropna=False) if by else [((), table)]
    for key, part in groups:
        values = np.concatenate([np.asarray(v, float) for v in part["fto_values_ms"]
                                 if not _absent(v)] or [np.zeros(0)])
        if len(values):
            ax.hist(np.clip(values, -2000, 2000), bins=bins, density=True, histtype="step",
                    label=series_label(key, by))
    ax.set_xlabel("floor-transfer offset (ms; negative = overlap)")
    ax.set_ylabel("density")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7)
    else:  # e.g. short replay conversations: matplotlib would warn on stderr for an empty legend
        ax.text(0.5, 0.5, "no floor transfers", ha="center", va="center",
                transform=ax.transAxes)
    write_png(fig, path, layout=False, caption=caption)


def _absent(cell: object) -> bool:
    """A list cell without a list: None (a Parquet null) or NaN (what pandas puts in a row
    that lacks the column, e.g. a table of ``trace_metrics`` rows made with and without
    ``lists=True``)."""
    return cell is None or (isinstance(cell, float) and np.isnan(cell))


def estimation_by_lookahead(table: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Frame-weighted unit accuracy per lookahead depth, per group, from the list columns."""
    rows = []
    for _, r in table.iterrows():
        if _absent(r.get("est_lookahead")):
            continue
        for lk, acc, fr in zip(r["est_lookahead"], r["est_unit_accuracy_by_lookahead"],
                               r["est_frames_by_lookahead"], strict=True):
            rows.append({**{k: r[k] for k in by}, "lookahead": int(lk), "acc": acc, "fr": fr})
    if not rows:
        return pd.DataFrame()
    df = pd.DataFrame(rows).assign(w=lambda d: d["acc"] * d["fr"])
    g = df.groupby([*by, "lookahead"], as_index=False, dropna=False)[["w", "fr"]].sum()
    return g.assign(unit_accuracy=g["w"] / g["fr"]).drop(columns="w").rename(
        columns={"fr": "frames"})


def corpus_ftos(corpus_dir: str | Path, split: str | None = "test") -> np.ndarray:
    """All floor-transfer offsets (ms) of a corpus's dialogues, from its units."""
    from duplexsim.corpora import load_corpus
    from duplexsim.metrics.activity import vad_from_units
    from duplexsim.metrics.turntaking import detect_events

    corpus = load_corpus(corpus_dir)
    silence = corpus.tokenizer().silence_units
    out = []
    for d in corpus.dialogues(split=split):
        if d.units is None:  # a built corpus's dialogues always carry units
            raise ValueError(f"corpus_ftos: dialogue {d.id!r} of {corpus_dir} has no units")
        out.append(detect_events(vad_from_units(d.units, silence))["fto_ms"].dropna().to_numpy())
    return np.concatenate(out) if out else np.zeros(0)


def _estimation_section(table: pd.DataFrame, grid: list[str], out: Path,
                        caption: str | None = None) -> list[str]:
    """Markdown lines and a PNG for estimation accuracy against lookahead ([] if no data)."""
    import matplotlib.pyplot as plt

    if "est_lookahead" not in table.columns:
        return []
    est = estimation_by_lookahead(table, grid)
    if not len(est):
        return []
    fig, ax = plt.subplots(figsize=(6, 4))
    for key, part in (est.groupby(grid, sort=False, dropna=False) if grid else [((), est)]):
        ax.plot(part["lookahead"], part["unit_accuracy"], marker="o",
                label=series_label(key, grid))
    ax.set_xlabel("lookahead depth (partner chunks estimated)")
    ax.set_ylabel("unit accuracy of estimates")
    ax.legend(fontsize=7)
    write_png(fig, out / "estimation_vs_lookahead.png", layout=False, caption=caption)
    lines = ["## Estimation accuracy against lookahead", "",
             "| " + " | ".join(est.columns) + " |", "|" + "---|" * len(est.columns)]
    lines += ["| " + " | ".join(_fmt(v) for v in r) + " |" for r in est.itertuples(index=False)]
    return [*lines, "", "![estimation](estimation_vs_lookahead.png)", ""]


def write_report(run_dir: str | Path, *, x: str | None = None,
                 corpus: str | Path | None = None, provenance: str | None = None,
                 stale: list[Path] | None = None) -> Path:
    """Write ``REPORT.md`` and PNG plots into ``run_dir/report``; return the markdown path.
    ``provenance``: the line naming the command and commit that made the report (under the
    title and under every plot; default: the ``duplexsim report`` command for it).
    ``stale``: the tables beside the sweep made from earlier results, which the report names
    (default: :func:`~duplexsim.digests.stale_tables` of ``run_dir``)."""
    run_dir = Path(run_dir)
    if provenance is None:
        args = [str(run_dir)] + (["--x", x] if x else []) + \
            (["--corpus", str(corpus)] if corpus else [])
        provenance = duplexsim_provenance("duplexsim report", args)
    table, params = load_run(run_dir)
    ref = corpus_ftos(corpus) if corpus else None  # a bad corpus fails before any write
    folder = run_dir / "report"
    owned = report_files(folder)  # (a bad record is refused before any write)
    existed = {p.name for p in folder.iterdir()} if folder.is_dir() else None
    written: dict[str, str] = {}  # name: sha256, of the files staged
    try:
        with output_dir(folder, owned=owned, last=("REPORT.md",)) as out:
            _write_report(out, sweep_name(run_dir), table, params, x, ref, corpus is not None,
                          provenance, [p.name for p in (stale_tables(run_dir) if stale is None
                                                        else stale)])
            written = {p.name: file_digest(p) for p in out.iterdir() if p.is_file()}
            # recorded before the files move in: a kill among the moves leaves none unowned
            before = {n: file_digest(folder / n) for n in owned}
            write_record(folder, {n: {d for d in (before.get(n), written.get(n)) if d}
                                  for n in {*owned, *written}})
    except BaseException:  # (a kill leaves them: the record names them for a rerun)
        # REPORT.md in with the bytes written: every file had moved in (it goes last) and the
        # failure came after (Ctrl-C as output_dir removed its stage): the report stands
        if file_digest(folder / "REPORT.md") != written.get("REPORT.md"):
            remove_created(folder, existed, written)
        raise
    write_record(folder, {n: {d} for n, d in written.items()})
    return run_dir / "report" / "REPORT.md"


def _write_report(out: Path, name: str, table: pd.DataFrame, params: list[str],
                  x: str | None, ref: np.ndarray | None, corpus: bool,
                  provenance: str, stale: list[str]) -> None:
    grid = [p for p in params if p != "seed"]
    x = x or next((p for p in grid if "delay_ms" in p), grid[0] if grid else None)
    if x is not None and x not in grid:
        raise InputError("duplexsim report", "--x", f"{x!r} is not a swept column",
                         ", ".join(grid) or "no swept columns")
    numeric = [c for c in table.columns if c not in (*params, "cell", *LIST_COLUMNS)
               and pd.api.types.is_numeric_dtype(table[c])]
    metrics = [m for m in KEY_METRICS if m in numeric] or numeric
    summary = summarize(table, grid, numeric)
    lines = [f"# Sweep report: {name}", "", provenance, "",
             f"{len(table)} cells; swept: {', '.join(grid) or '(nothing)'}; seeds: "
             f"{sorted(table['seed'].unique().tolist()) if 'seed' in table else '-'}.",
             "Values are mean ± half-width of the 95% confidence interval over seeds "
             "(Student t; nan with one seed).", "",
             *([f"**Stale beside this report**: {', '.join(stale)} were made from earlier "
                "results than these (the sweep was extended or rerun after them); the "
                "command under each title makes it anew.", ""] if stale else []),
             "## Key metrics", "", markdown_table(summary, metrics, grid), ""]
    if x is not None and pd.api.types.is_numeric_dtype(table[x]):
        lines += [f"## Metrics against {x}", ""]
        by = [g for g in grid if g != x]
        for m in metrics:
            png = f"{m}_vs_{x.split('+')[0].split('.')[-1]}.png"
            plot_vs(summary, x, by, m, out / png, provenance)
            lines += [f"![{m}]({png})", ""]
    if "fto_values_ms" in table.columns:
        plot_fto_hist(table, grid, ref, out / "fto_hist.png", provenance)
        lines += ["## Floor-transfer offsets", "",
                  "(no --corpus given: no corpus reference)" if not corpus else
                  "(the corpus's test split has no floor transfers: no corpus reference)"
                  if ref is None or not len(ref) else "",
                  "![fto](fto_hist.png)", ""]
    lines += _estimation_section(table, grid, out, provenance)
    with atomic_path(out / "summary.csv") as tmp:
        summary.to_csv(tmp, index=False)
    write_text(out / "REPORT.md", "\n".join(lines) + "\n")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", type=path_arg, help="a sweep output folder (results.parquet)")
    parser.add_argument("--x", default=None, help="swept column for the x axis "
                        "(default: the first swept key with delay_ms)")
    parser.add_argument("--corpus", type=path_arg, default=None,
                        help="corpus folder whose test-split FTOs are the histogram reference")


def run(args: argparse.Namespace) -> int:
    from duplexsim.atomic import check_output_dir

    if Path(args.run_dir).is_file():  # (check_output_dir: "allowed: a path through folders")
        raise InputError(str(args.run_dir), "run_dir", "is a file, not a sweep folder",
                         "a sweep folder with results.parquet, the --out of `duplexsim sweep`")
    check_output_dir(Path(args.run_dir) / "report", key="run_dir")
    stale = stale_tables(args.run_dir)  # one look: the report names them, the note too
    path = write_report(args.run_dir, x=args.x, corpus=args.corpus, stale=stale)
    print(f"wrote {path}")
    if stale:
        print(f"note: {', '.join(p.name for p in stale)} in {args.run_dir} were made from "
              "earlier results; the command under each title makes it anew", file=sys.stderr)
    return 0
