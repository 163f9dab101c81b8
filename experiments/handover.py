"""Does an agent hear a hand-over coming? (issue 16 diagnosis)

For every IPU end in a corpus split that is followed by at least one whole chunk in which
nobody speaks (starting >= 200 ms after the end), the agent is teacher-forced on the real
conversation with the *listener* as its own side, the partner known up to the chunk before
(lead 0: the most an agent can know), and gives the probability that the listener starts
speaking in that chunk: the probability mass of its non-silence units at the chunk's
``[S0]``. The IPUs after which the speaker hands over (``transfer``) should score higher
than those after which it goes on (``hold``): the AUC of that separation, with a 95%
bootstrap CI over dialogues, says how well the agent tells them apart before anyone speaks.

    python experiments/handover.py --pair runs/agents/fisher runs/corpora/fisher-like \\
        --out runs/handover
    python experiments/handover.py --smoke --out /tmp/handover     # tiny world, seconds

Outputs in ``--out``: ``events.csv`` (one row per IPU end and agent), ``summary.csv``,
``REPORT.md`` (command and commit), ``handover.png``.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from pathlib import Path

from duplexsim.atomic import atomic_path, write_png, write_text
from duplexsim.cli import ArgumentParser, chunk_ms_arg, number, path_arg, run_reporting
from duplexsim.corpora.corpus import SPLITS
from duplexsim.corpora.types import Segment
from duplexsim.errors import InputError
from duplexsim.metrics.intervals import percentile_interval

import numpy as np
import pandas as pd
from outdir import check_out  # --out: writable, and not another folder's
from provenance import provenance  # the report line (command and commit)

OUTPUTS = ("world", "events.csv", "summary.csv", "handover.png", "REPORT.md")
"""What handover.py writes in --out: a folder holding one of them is an earlier run's."""

MIN_GAP_S = 0.2  # the scored chunk starts at least this long after the IPU's end


def handover_events(agent_dir: Path, corpus_dir: Path, chunk_ms: int, context_chunks: int,
                    split: str | None) -> pd.DataFrame:
    """One row per scorable IPU end of ``corpus_dir`` (``split``; None: all): kind, gap,
    the agent's onset probability for the listener."""
    from duplexsim.corpora.corpus import check_agent_tokenizer, load_corpus
    from duplexsim.models.agentdir import load_agent_files
    from duplexsim.tokens import SyncFormat

    import torch

    corpus = load_corpus(corpus_dir)
    # the agent reads the corpus's units as its own: one tokenizer (an error naming both)
    check_agent_tokenizer(corpus_dir, agent_dir, corpus.manifest)
    files = load_agent_files(agent_dir)
    model = files.model.eval()
    silent = corpus.tokenizer().silence_units
    speech = torch.tensor([u for u in range(corpus.n_units) if u not in silent])
    files.check_chunk_ms(chunk_ms)
    fmt = SyncFormat(chunk_ms=chunk_ms, n_units=corpus.n_units, silence_unit=files.silence_unit)
    c_s, frames = chunk_ms / 1000, fmt.frames_per_chunk
    rows = []
    for id in corpus.ids(split):
        d = corpus.dialogue(id)
        units = d.units
        assert units is not None  # Corpus.dialogue always loads the dialogue's units
        for x, y, k in scorable_ends(d.segments, c_s, context_chunks):
            listener, lo = 1 - x.speaker, (k - context_chunks) * frames
            ids = fmt.encode(units[listener, lo : k * frames],
                             units[x.speaker, lo : k * frames]) + [fmt.S0]
            if len(ids) > files.context_tokens:
                raise InputError(str(agent_dir), "--context-chunks",
                                 f"{context_chunks}: {len(ids)} tokens in {context_chunks} "
                                 f"chunks of {id}, more than the agent's context",
                                 f"chunks that fit in {files.context_tokens} tokens")
            with torch.no_grad():
                p = torch.softmax(model(torch.tensor([ids])).logits[0, -1].float(), -1)
            rows.append({"dialogue": id, "kind": "transfer" if y.speaker != x.speaker else "hold",
                         "gap_s": round(y.start_s - x.end_s, 4),
                         "ipu_s": round(x.end_s - x.start_s, 4),
                         "p_onset": float(p[speech].sum())})
    return pd.DataFrame(rows, columns=["dialogue", "kind", "gap_s", "ipu_s", "p_onset"])


def scorable_ends(segments: Sequence[Segment], chunk_s: float,
                  context_chunks: int) -> list[tuple[Segment, Segment, int]]:
    """``(x, y, k)`` per scorable IPU end: ``x`` the IPU, ``y`` the first IPU that starts at
    or after ``x``'s end (its speaker says transfer or hold), ``k`` the scored chunk, the
    first starting :data:`MIN_GAP_S` or more after ``x``'s end, with ``context_chunks``
    before it and nobody heard from ``x``'s end to the end of chunk ``k``. An IPU inside
    ``x`` (a listener's attempt that stops before ``x`` does) is not what follows ``x``:
    taken as the next IPU by start time, it labelled the end a transfer with a negative gap
    whoever spoke next."""
    floor = sorted((s for s in segments if s.kind == "ipu"), key=lambda s: s.start_s)
    starts = [s.start_s for s in floor]
    out = []
    for x in floor:
        y = next((y for y in floor[bisect.bisect_left(starts, x.end_s):] if y is not x), None)
        if y is None:
            continue  # the last word: nothing to hand over or hold
        k = math.ceil((x.end_s + MIN_GAP_S) / chunk_s - 1e-9)  # the scored chunk
        if k < context_chunks or any(s.end_s > x.end_s and s.start_s < (k + 1) * chunk_s
                                     for s in segments if s is not x):
            continue  # too early for a full context, or anyone heard from x's end to k
        out.append((x, y, k))
    return out


def pair_parser(doc: str, out: str, verb: str) -> ArgumentParser:
    """The flags the agent-on-corpus probes (this one, ``style_probe.py``) begin with:
    ``--pair`` (an agent and a corpus to ``verb`` it on), ``--out`` (default ``out``),
    ``--smoke`` and ``--chunk-ms``."""
    parser = ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--pair", nargs=2, action="append", metavar=("AGENT", "CORPUS"),
                        type=Path, help=f"an agent directory and a corpus to {verb} it on")
    parser.add_argument("--out", type=path_arg, default=Path(out),
                        help="output folder (new or empty, or an earlier run's of this script) "
                             "(default: %(default)s)")
    parser.add_argument("--smoke", action="store_true", help="tiny world built in OUT/world")
    parser.add_argument("--chunk-ms", type=chunk_ms_arg, default=200,
                        help="chunk length in ms (default: %(default)s)")
    return parser


def smoke_pairs(out: Path) -> list[tuple[Path, Path]]:
    """``--smoke``'s pairs: each tiny-world agent on its own corpus (the world built, or
    reused, in ``out/world``)."""
    from tiny_world import AGENTS, build_tiny_world

    agents, corpora = build_tiny_world(out / "world")
    return [(agents / a, corpora / p) for a, p in AGENTS.items()]


def check_pairs(parser: ArgumentParser, pairs: Sequence[tuple[Path, Path]]) -> None:
    """One line (exit 2) for a ``--pair`` given twice (its rows would fall under one label)
    or an agent that is not trained."""
    parser.require_distinct("--pair", pairs, "a pair", "distinct AGENT CORPUS pairs",
                            show=False, key=tuple)
    parser.require_trained("--pair", [agent for agent, _ in pairs])


def pair_labels(pairs: Sequence[tuple[Path, Path]]) -> list[str]:
    """``AGENT on CORPUS`` by folder names for each ``--pair``; where two pairs share those
    names (the same names in other folders), the paths as given, so that no two pairs'
    rows fall under one label."""
    short = [f"{agent.name} on {corpus.name}" for agent, corpus in pairs]
    return [label if short.count(label) == 1 else f"{agent} on {corpus}"
            for (agent, corpus), label in zip(pairs, short, strict=True)]


def auc(transfer: np.ndarray, hold: np.ndarray) -> float:
    """P(a transfer scores above a hold), ties counted half (Mann-Whitney U / n1 n2)."""
    from scipy.stats import mannwhitneyu

    if not len(transfer) or not len(hold):
        return float("nan")
    return float(mannwhitneyu(transfer, hold).statistic / (len(transfer) * len(hold)))


def summarize(events: pd.DataFrame, n_boot: int, seed: int = 0) -> dict[str, float]:
    """AUC and mean onset probabilities, with a bootstrap over dialogues."""
    by = {d: (g.p_onset[g.kind == "transfer"].to_numpy(), g.p_onset[g.kind == "hold"].to_numpy())
          for d, g in events.groupby("dialogue")}
    dialogues = sorted(by)
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(n_boot):
        pick = rng.choice(len(dialogues), len(dialogues))
        t = np.concatenate([by[dialogues[i]][0] for i in pick])
        h = np.concatenate([by[dialogues[i]][1] for i in pick])
        boots.append(auc(t, h))
    t, h = (events.p_onset[events.kind == k].to_numpy() for k in ("transfer", "hold"))
    lo, hi = percentile_interval(boots, len(dialogues))
    return {"n_transfer": len(t), "n_hold": len(h), "auc": auc(t, h), "auc_lo": float(lo),
            "auc_hi": float(hi), "p_onset_transfer": float(t.mean()) if len(t) else np.nan,
            "p_onset_hold": float(h.mean()) if len(h) else np.nan}


def report(summary: pd.DataFrame, events: pd.DataFrame, out: Path, line: str, *,
           chunk_ms: int, context_chunks: int, split: str | None) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = list(summary.label)
    fig, axes = plt.subplots(1, len(labels), figsize=(4 * len(labels), 3), squeeze=False)
    for ax, label in zip(axes[0], labels, strict=True):
        ev = events[events.label == label]
        for kind, colour in (("transfer", "tab:orange"), ("hold", "tab:blue")):
            ax.hist(ev.p_onset[ev.kind == kind], bins=np.linspace(0, 1, 21), alpha=0.6,
                    color=colour, label=kind)
        ax.set_title(label, fontsize=8)
        ax.set_xlabel("P(listener starts in the chunk)")
    axes[0][0].legend()
    write_png(fig, out / "handover.png", caption=line)  # the command and commit
    text = "\n".join([
        "# Does the agent hear a hand-over coming?", "", line, "",
        f"Every IPU end of the {split or 'whole'} split followed by a {chunk_ms} ms chunk "
        f"starting >= {int(MIN_GAP_S * 1000)} ms after it in which nobody speaks; the agent is "
        f"teacher-forced on the last {context_chunks} chunks with the listener as its own side "
        "(lead 0) and gives P(the listener starts in that chunk). AUC: transfer (the speaker "
        "hands over) against hold (it goes on); 95% bootstrap CI over dialogues.", "",
        summary.to_markdown(index=False, floatfmt=".3f"), "", "![hand-over](handover.png)", ""])
    write_text(out / "REPORT.md", text)
    return out / "REPORT.md"


def main(argv: list[str] | None = None) -> int:
    parser = pair_parser(__doc__, "runs/handover", "score")
    parser.add_argument("--context-chunks", type=number(1, 100_000, integer=True), default=48,
                        help="chunks of context before the scored one (default: %(default)s)")
    parser.add_argument("--split", default="test", choices=[*SPLITS, "all"],
                        help="corpus split ('all': every one) (default: %(default)s)")
    parser.add_argument("--n-boot", type=number(1, 1_000_000, integer=True), default=1000,
                        help="bootstrap resamples of the 95%% CIs (default: %(default)s)")
    parser.add_threads()
    args = parser.parse_args(argv)
    check_out(args.out, OUTPUTS, "handover.py")  # before any work or world is made
    # (they were replaced without a word: --smoke --chunk-ms 240 scored 160 ms chunks)
    parser.refuse_unread(args, "--smoke", ("pair", "chunk_ms", "context_chunks", "split",
                                           "n_boot"),
                         "smoke mode takes the tiny world's agents and corpora, 160 ms chunks, "
                         "4 context chunks, every split and 50 resamples")
    command = provenance("handover.py", argv)  # the code as it is when the run starts
    from duplexsim.threads import use_threads

    use_threads(args.threads)
    pairs, split = args.pair or [], None if args.split == "all" else args.split
    chunk_ms, context, n_boot = args.chunk_ms, args.context_chunks, args.n_boot
    if args.smoke:
        pairs = smoke_pairs(args.out)
        chunk_ms, context, n_boot, split = 160, 4, 50, None
    if not pairs:
        parser.error("give at least one --pair AGENT CORPUS (or --smoke)")
    check_pairs(parser, pairs)
    args.out.mkdir(parents=True, exist_ok=True)
    events, rows = [], []
    for (agent, corpus), label in zip(pairs, pair_labels(pairs), strict=True):
        ev = handover_events(agent, corpus, chunk_ms, context, split).assign(label=label)
        if ev.empty:  # nothing to score: no AUC, no bootstrap
            raise InputError(str(corpus), "--context-chunks", f"{context}: no IPU end of the "
                             f"{split or 'whole'} split to score (each needs {context} chunks "
                             "before it and a silent chunk after)",
                             "fewer context chunks, or a split with more dialogues")
        events.append(ev)
        rows.append({"label": label, **summarize(ev, n_boot)})
        print(rows[-1], flush=True)
    all_events, summary = pd.concat(events, ignore_index=True), pd.DataFrame(rows)
    with atomic_path(args.out / "events.csv") as tmp:
        all_events.to_csv(tmp, index=False)
    with atomic_path(args.out / "summary.csv") as tmp:
        summary.to_csv(tmp, index=False)
    path = report(summary, all_events, args.out, command,
                  chunk_ms=chunk_ms, context_chunks=context, split=split)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_reporting(main, "handover.py"))
