"""The demo's results page: one metrics table, one figure, one markdown summary.

Rows: the test split of each corpus as recorded, the same dialogues through the SyncLLM
token format at the simulations' chunk size (what a perfect agent would play: the format
moves onsets to the chunk grid, fisher-like's FTO median 180 ms recorded, 80 ms through it),
and each simulated conversation. A corpus without a test split is summarised over every
dialogue, and the row and the summary say so. Reads what the earlier stages wrote
(``metrics.json`` and ``scenario.toml`` per simulation, corpus units), so it can be re-run
alone.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
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


def corpus_rows(corpus_dir: Path, chunk_sizes: Sequence[int | None] = (None,),
                split: str = "test",
                ) -> tuple[dict[int | None, tuple[dict, list[float], list[np.ndarray]]], str]:
    """Turn-taking summary of a corpus split from its units, with its FTOs and VAD, per chunk
    size (None: as recorded; a size: each dialogue's units through the token format at it
    first, :func:`~duplexsim.tokens.format_roundtrip`), and which dialogues it covers
    (``"test split"``, or ``"every dialogue (no test split)"``). Each dialogue's units are
    read once for every size."""
    from duplexsim.corpora import load_corpus
    from duplexsim.metrics.activity import vad_from_units
    from duplexsim.metrics.turntaking import detect_events, summarize_events
    from duplexsim.tokens import FRAME_MS, format_roundtrip

    corpus = load_corpus(corpus_dir)
    tokenizer = corpus.tokenizer()
    ids, scope = corpus.ids(split), f"{split} split"
    if not ids:
        ids, scope = corpus.ids(), f"every dialogue (no {split} split)"
    parts: dict[int | None, tuple[list, list[float], list[np.ndarray]]] = {
        chunk: ([], [], []) for chunk in chunk_sizes}
    total_ms = 0.0
    for dialogue_id in ids:
        recorded = corpus.units(dialogue_id)
        total_ms += recorded.shape[1] * FRAME_MS
        for chunk, (events, ftos, vads) in parts.items():
            units = recorded if chunk is None else format_roundtrip(
                recorded, chunk, tokenizer.n_units, tokenizer.silence_unit)
            vad = vad_from_units(units, tokenizer.silence_units)
            ev = detect_events(vad, FRAME_MS)
            events.append(ev)
            ftos += ev["fto_ms"].dropna().tolist()
            vads.append(vad)
    rows = {chunk: (summarize_events(pd.concat(events, ignore_index=True), total_ms), ftos, vads)
            for chunk, (events, ftos, vads) in parts.items()}
    return rows, scope


def _chunk_sizes(sim_dirs: list[Path]) -> list[int]:
    """The chunk sizes of the simulations (their resolved ``scenario.toml``)."""
    import tomllib

    return sorted({int(tomllib.loads((d / "scenario.toml").read_text())["chunk_ms"])
                   for d in sim_dirs})


def write_demo_report(sim_dirs: list[Path], corpora: dict[str, Path], out: Path, *,
                      provenance: str) -> pd.DataFrame:
    """Write ``metrics.csv``, ``demo.png`` and ``SUMMARY.md`` into ``out``; return the table.
    ``provenance``: the line naming the command and commit that made them (under the title
    of SUMMARY.md and under the plot, :func:`duplexsim.provenance.provenance`)."""
    rows, ftos, scopes = {}, {}, {}
    chunks = _chunk_sizes(sim_dirs)
    for name, corpus_dir in corpora.items():
        by_chunk, scope = corpus_rows(Path(corpus_dir), [None, *chunks])
        for chunk, (summary, fto, _) in by_chunk.items():
            label = f"corpus {name}" + (" recorded" if chunk is None
                                         else f" through the format ({chunk} ms)")
            if scope != "test split":
                label += f" [{scope}]"
            rows[label], ftos[label], scopes[name] = summary, fto, scope
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
    _plot(ftos, timelines, silence, out / "demo.png", provenance)
    sizes = "/".join(str(c) for c in chunks)
    md = ["# duplexsim demo", "", provenance, "",
          f"Fisher agent (A) and CANDOR agent (B) at {sizes} ms chunks across simulated "
          "networks. Corpus rows ("
          + "; ".join(f"{name}: {scope}" for name, scope in scopes.items())
          + "): each corpus as recorded, and through the SyncLLM token format at the "
          "simulations' chunk size. An agent speaks through the format, whose interpolation "
          "moves onsets to the chunk grid, so the second row is what a perfect agent would "
          "reach.", "",
          table.to_markdown(floatfmt=".2f"), "",
          "![demo](demo.png)", ""]
    for sim_dir in sim_dirs:
        md.append(f"- `{sim_dir.name}`: listen to `{sim_dir.name}/audio.wav` "
                  "(A left, B right); traces in `*.parquet`.")
    write_text(out / "SUMMARY.md", "\n".join(md) + "\n")
    return table


def _plot(ftos: dict[str, list[float]], timelines: dict[str, pd.DataFrame],
          silence_units: dict[str, set[int]], path: Path, caption: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(timelines)
    fig, axes = plt.subplots(n + 1, 1, figsize=(11, 2.2 * n + 3.2), squeeze=False)
    bins = np.arange(-1500, 2001, 100)
    ax = axes[0, 0]
    for name, values in ftos.items():
        if len(values) >= 2:  # those beyond the range counted in its end bins, as in n
            ax.hist(np.clip(values, bins[0], bins[-1]), bins=bins, density=True,
                    histtype="step", linewidth=1.6,
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
    write_png(fig, path, caption=caption)

