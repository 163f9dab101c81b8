"""The demo's results page: one metrics table, one figure, one markdown summary.

Rows: the test split of each corpus (ground truth) and each simulated conversation.
Reads what the earlier stages wrote (``metrics.json`` per simulation, corpus units), so
it can be re-run alone.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from duplexsim.atomic import atomic_path, write_png, write_text

COLUMNS = {
    "fto_median_ms": "FTO median (ms)",
    "fto_sd_ms": "FTO sd (ms)",
    "ipu_median_ms": "IPU median (ms)",
    "gap_median_ms": "gap median (ms)",
    "overlap_transition_share": "overlapping transitions",
    "backchannels_per_min": "backchannels/min",
    "speech_share": "speech share",
    "overlap_share": "overlap share",
    "lookahead_mean": "lookahead (chunks)",
    "est_unit_accuracy": "estimate unit acc.",
    "est_va_agreement": "estimate VA agree.",
    "deadline_miss_rate": "deadline misses",
    "mouth_to_ear_mean_ms": "mouth-to-ear (ms)",
}


def corpus_row(corpus_dir: Path, split: str = "test") -> tuple[dict, list[float], list[np.ndarray]]:
    """Turn-taking summary of a corpus split from its units; also its FTOs and VAD."""
    from duplexsim.corpora import load_corpus
    from duplexsim.metrics.turntaking import detect_events, summarize_events, vad_from_units

    corpus = load_corpus(corpus_dir)
    silence = corpus.tokenizer().silence_units
    ids = corpus.ids(split) or corpus.ids()
    events, total_ms, ftos, vads = [], 0.0, [], []
    for dialogue_id in ids:
        units = corpus.dialogue(dialogue_id).units
        vad = vad_from_units(units, silence)
        ev = detect_events(vad)
        events.append(ev)
        total_ms += units.shape[1] * 40
        ftos += ev["fto_ms"].dropna().tolist()
        vads.append(vad)
    summary = summarize_events(pd.concat(events, ignore_index=True), total_ms)
    return summary, ftos, vads


def write_demo_report(sim_dirs: list[Path], corpora: dict[str, Path], out: Path) -> pd.DataFrame:
    """Write ``metrics.csv``, ``demo.png`` and ``SUMMARY.md`` into ``out``; return the table."""
    rows, ftos = {}, {}
    for name, corpus_dir in corpora.items():
        summary, fto, _ = corpus_row(Path(corpus_dir))
        rows[f"corpus {name}"] = summary
        ftos[f"corpus {name}"] = fto
    timelines, silence = {}, {}
    for sim_dir in sim_dirs:
        metrics = json.loads((sim_dir / "metrics.json").read_text())
        rows[sim_dir.name] = metrics
        ftos[sim_dir.name] = metrics.get("fto_values_ms", [])
        silence[sim_dir.name] = set(metrics.get("silence_units", [0]))
        timelines[sim_dir.name] = pd.read_parquet(sim_dir / "timeline.parquet")
    table = pd.DataFrame.from_dict(rows, orient="index")
    table = table[[c for c in COLUMNS if c in table.columns]].rename(columns=COLUMNS)
    with atomic_path(out / "metrics.csv") as tmp:
        table.to_csv(tmp, float_format="%.4g")
    _plot(ftos, timelines, silence, out / "demo.png")
    md = ["# duplexsim demo", "",
          "Fisher agent (A) and CANDOR agent (B) at 200 ms chunks across simulated networks; "
          "corpus rows are the test split of each synthetic corpus (ground truth).", "",
          table.to_markdown(floatfmt=".2f"), "",
          "![demo](demo.png)", ""]
    for sim_dir in sim_dirs:
        md.append(f"- `{sim_dir.name}`: listen to `{sim_dir.name}/audio.wav` "
                  "(A left, B right); traces in `*.parquet`.")
    write_text(out / "SUMMARY.md", "\n".join(md) + "\n")
    return table


def _plot(ftos: dict[str, list[float]], timelines: dict[str, pd.DataFrame],
          silence_units: dict[str, set[int]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(timelines)
    fig, axes = plt.subplots(n + 1, 1, figsize=(11, 2.2 * n + 3.2), squeeze=False)
    bins = np.arange(-1500, 2001, 100)
    ax = axes[0, 0]
    for name, values in ftos.items():
        if len(values) >= 2:
            ax.hist(values, bins=bins, density=True, histtype="step", linewidth=1.6,
                    label=f"{name} (n={len(values)})")
    ax.axvline(0, color="grey", linewidth=0.8)
    ax.set(xlabel="floor-transfer offset (ms; negative = overlap)", ylabel="density",
           title="Floor-transfer offsets: simulated conversations vs the corpora")
    ax.legend(fontsize=8)
    for ax, (name, timeline) in zip(axes[1:, 0], timelines.items(), strict=True):
        t = timeline["t_ms"].to_numpy() / 1000
        silence = silence_units[name]
        sides = (("a_played", "A (Fisher)"), ("b_played", "B (CANDOR)"))
        for row, (col, label) in enumerate(sides):
            active = ~np.isin(timeline[col].to_numpy(), list(silence))
            ax.fill_between(t, row, row + 0.8 * active, step="post", alpha=0.8, label=label)
        ax.set(yticks=[0.4, 1.4], yticklabels=["A", "B"], xlabel="time (s)",
               title=f"{name}: who speaks when")
        ax.set_xlim(t[0], t[-1] if len(t) else 1)
    write_png(fig, path)

