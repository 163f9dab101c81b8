"""Self-play at 0 ms (issue 16): does each agent turn-take like its own corpus?

Each agent (``--agents`` with ``fisher/`` and ``candor/``) talks to itself over an ideal
network (0 ms one way, no jitter, no loss), ``--chunk-ms`` chunks (200), ``--conversations``
conversations of ``--duration-s`` seconds (12 x 60 s), sampling at ``--temperature`` (1.0);
the conversations of one agent run batched (:func:`duplexsim.sim.batch.run_batch`).
Diagnostics (not the issue's protocol, which is the default): ``--decision-lead-chunks 0``
decides own chunk ``j`` at its start, with the partner's chunk ``j - 1`` already received
(lookahead 0 instead of the paper's 1: nothing is estimated at 0 ms);
``--estimation silence`` estimates every missing partner chunk as silence instead of by
the model; ``--top-p`` / ``--top-k`` truncate the agents' sampling (finding 27 of
``docs/results/selfplay/diagnosis.md``).

Scored on both sides, pooled over the conversations: overlap share (both talk, share of the
time), backchannels per minute, listener onsets per listening second and the FTO median
(:mod:`duplexsim.metrics.turntaking`), with 95% percentile bootstrap CIs resampling whole
conversations. The reference is each corpus (all its dialogues) passed through the SyncLLM
token format at the same chunk size: what a perfect agent could play (the format puts
onsets and offsets on the chunk grid). Verdicts, as the issue states them:

- overlap share, backchannels/min and listener onsets/s each within 30% of the agent's own
  corpus; FTO median within 80 ms of it;
- the CANDOR agent above the Fisher agent on backchannels/min and on overlap share (with a
  CI of the difference), as the CANDOR-like corpus is above the Fisher-like one.

Beside the verdicts, a coordination table (point values, frame-level voice activity, both
sides pooled): speech share per side, the share of frames where both speak
(``frame_overlap_share``: raw activity, no pauses bridged, so not the verdicts'
``overlap_share`` of IPUs), overlap episodes per minute and their mean length,
and the share of speech onsets made while the partner speaks. Two speakers who each talk
a share ``p`` of the time and ignore each other overlap ``p**2`` of it; alternation keeps
it far below that. Who ends an overlap episode that one side started over the other: the
side that was speaking first (``holder``: a turn handed over) or the one that came in
(``incomer``: mostly backchannels), the share and mean length of each.

Training runs: one trained agent per card is one draw from a wide distribution (the same
card on another seed or processor plays differently: ``docs/results/selfplay/diagnosis.md``,
findings 1 and 6). ``--agents`` takes several folders, each a training run of both cards
(e.g. ``duplexsim train CARD --seed K``); each plays ``--conversations``, the statistics pool
them all, the CIs resample runs and then conversations within each (two levels), and
``OUT/runs.csv`` gives each run alone.

Writes ``OUT/per_conversation.csv``, ``OUT/summary.csv``, ``OUT/verdicts.csv``,
``OUT/coordination.csv``, ``OUT/REPORT.md`` and ``OUT/selfplay.png`` (and, with several
training runs, ``OUT/runs.csv`` and ``OUT/run_variance.csv``: how much of the runs' spread
is the runs themselves rather than their conversations).

    python experiments/selfplay.py --agents runs/agents --corpora runs/corpora --out runs/selfplay
    python experiments/selfplay.py --agents runs/agents runs/agents-seed1 runs/agents-seed2 \
        --corpora runs/corpora --out runs/selfplay-3runs                      # three training runs
    python experiments/selfplay.py --smoke --out /tmp/selfplay     # tiny world, seconds
"""

from __future__ import annotations

from pathlib import Path

from duplexsim.atomic import write_text
from duplexsim.cli import ArgumentParser, chunk_ms_arg, number, path_arg, run_reporting

import pandas as pd
from continuation_stats import Scored  # one dialogue's events, computed once
from outdir import check_out  # --out: writable, and not another folder's
from provenance import provenance  # the report line (command and commit)
from selfplay_plan import AGENTS, Plan, source_vads
from selfplay_report import plot, render
from selfplay_tables import (
    boot_draws,
    coordination,
    pooled,
    run_table,
    run_variance,
    summarize,
    verdict_table,
)

OUTPUTS = ("world", "conversations", "summary.csv", "verdicts.csv", "per_conversation.csv",
           "coordination.csv", "runs.csv", "run_variance.csv", "selfplay.png", "REPORT.md")
"""What selfplay.py writes in --out: a folder holding one of them is an earlier run's."""


def run_plan(plan: Plan, command: str) -> Path:
    vads = source_vads(plan)
    run_of = [k for k in range(len(plan.roots)) for _ in range(plan.conversations)]
    parts = {name: [Scored.of(v) for v in vads[name]] for name in [*AGENTS, *AGENTS.values()]}
    played = {a: parts[a] for a in AGENTS}
    refs = {p: parts[p] for p in AGENTS.values()}
    coord = pd.DataFrame([{"source": name, **coordination(vads[name])}
                          for agent, preset in AGENTS.items() for name in (agent, preset)])
    draws = {name: boot_draws(parts, plan.n_boot, i, run_of if name in AGENTS else None)
             for i, (name, parts) in enumerate([*played.items(), *refs.items()])}
    summary = summarize(played, refs, draws, runs=len(plan.roots))
    verdicts = verdict_table(summary, draws)
    per_conv = pd.DataFrame([{"agent": a, "run": str(plan.roots[run_of[i]]), "conversation": i,
                              **pooled([p])}
                             for a, parts in played.items() for i, p in enumerate(parts)])
    per_run = run_table(plan, played, refs, {p: draws[p] for p in refs}, run_of) \
        if len(plan.roots) > 1 else None
    plan.out.mkdir(parents=True, exist_ok=True)
    tables = {"summary": summary, "verdicts": verdicts, "per_conversation": per_conv,
              "coordination": coord}
    if per_run is not None:
        tables["runs"] = per_run
        tables["run_variance"] = run_variance(per_run)
    for name, table in tables.items():
        write_text(plan.out / f"{name}.csv", table.to_csv(index=False))
    plot(summary, plan.out / "selfplay.png", per_run, command)  # the figure names it too
    report = plan.out / "REPORT.md"
    write_text(report, render(plan, summary, verdicts, coord, command, per_run))
    return report


def check_roots(parser: ArgumentParser, roots: list[Path]) -> None:
    """Each ``--agents`` folder once, each holding both agents (one line otherwise)."""
    seen: set[Path] = set()
    for root in roots:
        if root.resolve() in seen:
            parser.error(f"--agents: {root} given twice (allowed: each training run once)")
        seen.add(root.resolve())
        parser.require_trained("--agents", [root / a for a in AGENTS])


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    check_out(args.out, OUTPUTS, "selfplay.py")  # before any work or world is made
    from duplexsim.threads import use_threads

    use_threads(args.threads)
    roots, corpora = list(args.agents), args.corpora
    if args.smoke:
        from tiny_world import build_tiny_world

        agents, corpora = build_tiny_world(args.out / "world")
        roots = [agents]
    check_roots(parser, roots)
    plan = Plan(agents=roots[0], replicates=tuple(roots[1:]), corpora=corpora, out=args.out,
                conversations=2 if args.smoke else args.conversations,
                duration_s=6.0 if args.smoke else args.duration_s,
                chunk_ms=160 if args.smoke else args.chunk_ms, temperature=args.temperature,
                n_boot=50 if args.smoke else args.n_boot,
                decision_lead_chunks=args.decision_lead_chunks, estimation=args.estimation,
                estimate_temperature=args.estimate_temperature, top_p=args.top_p,
                top_k=args.top_k)
    print(f"wrote {run_plan(plan, provenance('selfplay.py', argv))}")
    return 0


def _parser() -> ArgumentParser:
    """The flags, in ``--help``'s order."""
    parser = ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=path_arg, default=Path("runs/selfplay"),
                        help="output folder (new or empty, or an earlier run's of this script) "
                             "(default: %(default)s)")
    parser.add_argument("--agents", type=Path, nargs="+", default=[Path("runs/agents")],
                        help="one folder with fisher/ and candor/ per training run of the "
                        "cards (several: replicates, e.g. `duplexsim train --seed`; CIs "
                        "then resample runs too) (default: %(default)s)")
    parser.add_argument("--corpora", type=Path, default=Path("runs/corpora"),
                        help="built corpora's folder, with fisher-like/ and candor-like/ "
                             "(default: %(default)s)")
    parser.add_argument("--smoke", action="store_true", help="tiny world built in OUT/world")
    parser.add_argument("--conversations", type=number(1, 100_000, integer=True), default=12,
                        help="self-play conversations per agent and training run (seeds 0..N-1) "
                             "(default: %(default)s)")
    parser.add_argument("--duration-s", type=number(0, 86_400, low_open=True), default=60.0,
                        help="length of each conversation in s (default: %(default)s)")
    parser.add_argument("--chunk-ms", type=chunk_ms_arg, default=200,
                        help="chunk length in ms (default: %(default)s)")
    parser.add_argument("--temperature", type=number(0, 100), default=1.0,
                        help="sampling temperature of the agents (1.0: the model's own "
                             "distribution) (default: %(default)s)")
    parser.add_argument("--n-boot", type=number(1, 1_000_000, integer=True), default=1000,
                        help="bootstrap resamples of the 95%% CIs (default: %(default)s)")
    parser.add_argument("--decision-lead-chunks", type=int, default=1, choices=(0, 1),
                        help="1: the paper's set-up (lookahead 1 at 0 ms); 0: a diagnostic"
                             " (default: %(default)s)")
    parser.add_argument("--estimation", default="model", choices=("model", "silence"),
                        help="how a missing partner chunk is estimated (diagnostic)"
                             " (default: %(default)s)")
    parser.add_argument("--estimate-temperature", type=number(0, 100), default=None,
                        help="temperature of the model's partner estimates (default: "
                        "--temperature; 0: the most likely continuation)")
    parser.add_argument("--top-p", type=number(0, 1, low_open=True), default=1.0,
                        help="nucleus sampling of the agents' units and estimates "
                             "(default: %(default)s: off)")
    parser.add_argument("--top-k", type=number(0, 1_000_000, integer=True), default=0,
                        help="top-k sampling (default: %(default)s: off)")
    parser.add_threads()
    return parser


if __name__ == "__main__":
    raise SystemExit(run_reporting(main, "selfplay.py"))
