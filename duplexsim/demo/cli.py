"""``duplexsim demo``'s command line: its arguments, and the stages in the order they run.

:func:`run` checks the ``--root`` and ``--out`` folders, the cards and the scenario files
before anything is built, then runs :mod:`duplexsim.demo.stages` and writes the results page
(:mod:`duplexsim.demo.report`); :func:`demo_args` spells a plan out as the arguments that
run it (the provenance line under the results).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from duplexsim import cli
from duplexsim.demo.plan import DemoPlan
from duplexsim.demo.stages import (
    build_corpora,
    check_cards,
    check_scenarios,
    simulate,
    train_agents,
)
from duplexsim.errors import MAX_CORPUS_HOURS, MAX_DURATION_S


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = DemoPlan()
    parser.add_argument("--out", type=cli.path_arg, default=d.out,
                        help="where the demo's results go (default: %(default)s)")
    parser.add_argument("--root", type=cli.path_arg, default=d.root,
                        help="corpora, unit tokenizer and agents go here, reused when present "
                             "(default: %(default)s)")
    parser.add_argument("--corpus-hours", type=cli.number(0, MAX_CORPUS_HOURS, low_open=True),
                        default=d.corpus_hours,
                        help="audio hours of each synthetic corpus (default: %(default)s)")
    parser.add_argument("--conversation-s", type=cli.number(5, MAX_DURATION_S),
                        default=d.conversation_s,
                        help="conversation length in seconds of the synthetic corpora "
                             "(default: %(default)s)")
    parser.add_argument("--cards", type=Path, default=d.cards,
                        help="folder with fisher.toml and candor.toml, whose steps are the "
                             "training budget (default: %(default)s)")
    parser.add_argument("--train-one-at-a-time", action="store_true",
                        help="train the agents one after the other instead of side by side")
    parser.add_argument("--train-max-minutes", type=cli.number(0, 1e6, low_open=True),
                        default=d.train_max_minutes,
                        help="guard per agent (not a plan): stop training at a step boundary "
                             "after this many wall minutes, recorded in agent.json")
    parser.add_argument("--sim-seconds", type=cli.number(0, MAX_DURATION_S, low_open=True),
                        default=d.sim_seconds,
                        help="simulated seconds of each scenario (default: %(default)s)")
    parser.add_argument("--seed", type=cli.number(0, 2**63 - 1, integer=True), default=d.seed,
                        help="seeds the corpora and the simulations; training takes the "
                             "cards' seeds (default: %(default)s)")


def demo_args(plan: DemoPlan) -> list[str]:
    """The ``duplexsim demo`` arguments that run ``plan`` (every setting spelled out, so the
    line under the results says what made them whatever the defaults become)."""
    args = ["--out", str(plan.out), "--root", str(plan.root),
            "--corpus-hours", str(plan.corpus_hours),
            "--conversation-s", str(plan.conversation_s), "--cards", str(plan.cards)]
    if not plan.train_side_by_side:
        args.append("--train-one-at-a-time")
    if plan.train_max_minutes is not None:
        args += ["--train-max-minutes", str(plan.train_max_minutes)]
    return args + ["--sim-seconds", str(plan.sim_seconds), "--seed", str(plan.seed)]


def plan_from_args(args: argparse.Namespace) -> DemoPlan:
    return DemoPlan(root=args.root, out=args.out, corpus_hours=args.corpus_hours,
                    conversation_s=args.conversation_s, cards=args.cards,
                    train_side_by_side=not args.train_one_at_a_time,
                    train_max_minutes=args.train_max_minutes, sim_seconds=args.sim_seconds,
                    seed=args.seed)


def run(args: argparse.Namespace) -> int:
    plan = plan_from_args(args)
    from duplexsim.atomic import check_output_dir

    check_output_dir(plan.root, key="--root")
    check_output_dir(plan.out, key="--out")
    check_cards(plan)
    check_scenarios(plan)
    from duplexsim.provenance import provenance

    line = provenance("duplexsim demo", demo_args(plan))  # the code of the moment it starts
    t0 = time.perf_counter()
    build_corpora(plan)
    train_agents(plan)
    sim_dirs = simulate(plan)
    from duplexsim.demo.report import write_demo_report

    corpora = {p: plan.corpus_dir(p) for p in ("fisher-like", "candor-like")}
    table = write_demo_report(sim_dirs, corpora, plan.out, provenance=line)
    minutes = (time.perf_counter() - t0) / 60
    print(f"\nduplexsim demo finished in {minutes:.1f} min.\n")
    print(table.to_string(float_format=lambda v: f"{v:.2f}"))
    print(f"""
where things are:
  corpora          {plan.root / 'corpora'}/{{fisher-like,candor-like}}  (FLAC, transcripts, units)
  unit tokenizer   {plan.units_dir}
  agents           {plan.root / 'agents'}/{{fisher,candor}}  (model, loss.png, train_log.csv)
  conversations    {plan.out}/<scenario>/audio.wav (stereo: A left, B right), *.parquet traces
  metrics table    {plan.out / 'metrics.csv'}
  plots            {plan.out / 'demo.png'}
  summary          {plan.out / 'SUMMARY.md'}""")
    return 0
