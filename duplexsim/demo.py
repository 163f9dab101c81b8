"""``duplexsim demo``: the whole mission end to end on embedded defaults.

Stages (each reuses what an earlier run made from the same inputs, so a second run is
quick; made from other inputs, it is rebuilt where that loses nothing and refused where it
would):

1. build small fisher-like and candor-like synthetic corpora (the first one trains the
   shared unit tokenizer, the second reuses it; ``corpus build`` resumes a corpus of the
   same parameters and refuses one of others);
2. train the Fisher agent and the CANDOR agent from ``agents/*.toml``: each card's step
   counts are the budget (sized to fit the demo's time on a 2-core machine, see
   ``docs/results/training.md``), the two run side by side as two 1-thread processes; an
   agent already trained from the same card is reused, one trained from another card is a
   one-line error (retraining would delete it);
3. simulate the Fisher agent (A) talking to the CANDOR agent (B) at 200 ms chunks over the
   ``continental`` preset and over ``satellite-geo`` (high latency); a conversation is
   reused while its scenario file, seed, length and both agents' files are the same
   (``inputs.json`` beside it), else simulated anew;
4. write a metrics table and plots beside the traces and stereo WAVs; print where it all is.

Every stage goes through the same CLI a user would type, so the demo is also a record of
the commands (printed before each stage). The plan and its reuse checks are
:mod:`duplexsim.demo_plan`; the processes it starts, :mod:`duplexsim.demo_processes`; the
report, :mod:`duplexsim.demo_report`.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import time
from pathlib import Path

from duplexsim import cli
from duplexsim.atomic import write_json
from duplexsim.demo_plan import AGENTS, DemoPlan, first_difference
from duplexsim.demo_processes import end_with, train_side_by_side
from duplexsim.errors import MAX_CORPUS_HOURS, MAX_DURATION_S, InputError

# the plan's names (duplexsim.demo_plan) are re-exported for callers of this module
__all__ = ["AGENTS", "DemoPlan", "add_arguments", "build_corpora", "check_cards",
           "check_scenarios", "demo_args", "demo_n_units", "first_difference", "plan_from_args",
           "run", "simulate", "train_agents", "train_argv"]


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


def _step(title: str, argv: list[str]) -> None:
    print(f"\n==> {title}\n    $ duplexsim {shlex.join(argv)}", flush=True)
    t0 = time.perf_counter()
    rc = cli.main(argv)
    if rc:  # the stage printed its one line; stop with its status
        raise SystemExit(rc)
    print(f"    done in {time.perf_counter() - t0:.0f} s", flush=True)


def _skip(title: str, where: Path) -> None:
    print(f"\n==> {title}: reusing {where}", flush=True)


def build_corpora(plan: DemoPlan) -> None:
    """Build, resume or extend each corpus (``corpus build`` refuses a folder built with
    other parameters; for a finished corpus of the same ones it takes seconds)."""
    for preset in ("fisher-like", "candor-like"):
        out = plan.corpus_dir(preset)
        _step(f"build the {preset} corpus", [
            "corpus", "build", "--preset", preset, "--hours", str(plan.corpus_hours),
            "--conversation-s", str(plan.conversation_s), "--seed", str(plan.seed),
            "--tokenizer", str(plan.units_dir), "--out", str(out),
        ])


def train_argv(plan: DemoPlan, name: str, preset: str) -> list[str]:
    argv = ["train", str(plan.card(name)), "--corpus", str(plan.corpus_dir(preset)),
            "--out", str(plan.agent_dir(name)), "--threads", "1"]
    if plan.train_max_minutes is not None:
        argv += ["--max-minutes", str(plan.train_max_minutes)]
    return argv


def demo_n_units(plan: DemoPlan) -> tuple[int, str]:
    """The unit vocabulary the demo's corpora will have, and where it comes from: the
    tokenizer in ``plan.units_dir`` when there is one (``corpus build --tokenizer`` reuses
    it), else the size ``corpus build`` trains one with (its ``--n-units`` default, which the
    demo does not pass)."""
    from duplexsim.units import load_tokenizer
    from duplexsim.units.kmeans import TokenizerConfig

    if (plan.units_dir / "config.json").is_file():
        return load_tokenizer(plan.units_dir).n_units, f"the tokenizer in {plan.units_dir}"
    return TokenizerConfig.n_units, f"the tokenizer corpus build trains into {plan.units_dir}"


def check_cards(plan: DemoPlan) -> None:
    """Read the cards of the agents still to train before anything is built, so a missing or
    bad card, or one whose ``model.n_units`` is not the corpora's (``train`` refuses it), is
    a one-line error now, not after the corpora (minutes of work)."""
    from duplexsim.config.card import load_card
    from duplexsim.config.cli import expect_kind

    cards = {}
    for name, _ in AGENTS:
        if not plan.trained(name):
            expect_kind(plan.card(name), "agent card")
            cards[name] = load_card(plan.card(name))
    if not cards:
        return
    n_units, source = demo_n_units(plan)
    for name, card in cards.items():
        if card.model.n_units != n_units:
            raise InputError(str(plan.card(name)), "model.n_units",
                             f"{card.model.n_units}, but the demo's corpora will have "
                             f"{n_units} units ({source})",
                             f"{n_units}; a card of other units trains with `duplexsim "
                             "train` on a corpus built with `corpus build --n-units`")


def check_scenarios(plan: DemoPlan) -> None:
    """Read the demo's scenario files before anything is built: they are relative to the
    folder the demo runs in (the repository's root, as ``make demo`` runs it), and a missing
    one was found only after the corpora and the training (forty minutes)."""
    from duplexsim.config.cli import expect_kind
    from duplexsim.config.scenario import load_scenario

    for path in plan.scenarios:
        expect_kind(path, "scenario")
        load_scenario(path)


def train_agents(plan: DemoPlan) -> None:
    todo = []
    for name, preset in AGENTS:
        if plan.trained(name):
            _skip(f"agent {name}", plan.agent_dir(name))
        else:
            todo.append((name, train_argv(plan, name, preset)))
    if len(todo) > 1 and plan.train_side_by_side:
        train_side_by_side(plan, todo)
    else:
        for name, argv in todo:
            _step(f"train the {name} agent", argv)


def simulate(plan: DemoPlan) -> list[Path]:
    """Run each demo scenario (shortened to ``sim_seconds``) and keep its metrics row: the
    scenarios still to run go side by side, one 1-thread process each (the same bytes as one
    after the other; about half the wall time on 2 cores)."""
    from duplexsim.config.readers import read_toml
    from duplexsim.digests import (
        AGENT_FILES,
        SIMULATOR_VERSION,
        TOKENIZER_FILES,
        directory_digest,
        file_digest,
        trace_inputs,
    )

    agents = {"a": plan.agent_dir("fisher"), "b": plan.agent_dir("candor")}
    outs, todo = [], []
    for scenario_path in plan.scenarios:
        name = Path(scenario_path).stem
        out = plan.out / name
        outs.append(out)
        inputs = {"scenario": file_digest(scenario_path), "seed": plan.seed,
                  "sim_seconds": plan.sim_seconds, "simulator": SIMULATOR_VERSION,
                  "agents": {k: directory_digest(d, AGENT_FILES + TOKENIZER_FILES)
                             for k, d in agents.items()}}  # audio.wav is vocoded with these
        traces = trace_inputs(read_toml(scenario_path))
        if traces:  # a jitter trace file it names (edited, the scenario file is the same)
            inputs["traces"] = traces
        if (out / "metrics.json").exists() and _read_inputs(out) == inputs:
            _skip(f"simulation {name}", out)
            continue
        print(f"\n==> simulate {name}\n    $ duplexsim simulate {scenario_path} --out {out} "
              f"--seed {plan.seed} --duration-s {plan.sim_seconds:g}\n    (agents: a = "
              f"{plan.agent_dir('fisher')}, b = {plan.agent_dir('candor')})", flush=True)
        todo.append((scenario_path, out, inputs))
    if not todo:
        return outs
    for _, out, _ in todo:  # a run interrupted from here on must not look like the old one
        (out / "inputs.json").unlink(missing_ok=True)
    _simulate_side_by_side(plan, todo, agents)
    return outs


def _simulate_side_by_side(plan: DemoPlan, todo: list[tuple[str, Path, dict[str, object]]],
                           agents: dict[str, Path]) -> None:
    """Simulate each of ``todo``'s ``(scenario path, out, inputs)`` in a pool of up to two
    1-thread worker processes, writing its ``inputs.json`` once its metrics are written."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    print(f"\n    running {len(todo)} simulation(s) side by side ...", flush=True)
    ctx = multiprocessing.get_context("spawn")
    # initializer: a worker ends with the demo, killed included (one left behind ran its
    # simulation to the end and wrote it over the folder a rerun was writing)
    pool = ProcessPoolExecutor(min(2, len(todo)), mp_context=ctx, initializer=end_with,
                               initargs=(os.getpid(),))
    try:
        jobs = [pool.submit(_simulate_one, path, out, plan.seed, plan.sim_seconds, agents)
                for path, out, _ in todo]
        for (path, out, inputs), job in zip(todo, jobs, strict=True):
            seconds = job.result()
            write_json(out / "inputs.json", inputs)  # what metrics.json was made from
            print(f"    {Path(path).stem} done in {seconds:.0f} s "
                  f"({plan.sim_seconds / seconds:.1f}x real time)", flush=True)
        pool.shutdown(wait=True)
    finally:  # a failed simulation, SIGTERM (which reaches this process only), Ctrl-C: the
        # others are stopped now, not run to their end (minutes) by workers left behind
        workers_left = list((pool._processes or {}).values())  # noqa: SLF001
        pool.shutdown(wait=False, cancel_futures=True)
        for process in workers_left:
            if process.is_alive():
                process.terminate()


def _read_inputs(out: Path) -> object:
    """The ``inputs.json`` an earlier run left beside its metrics (None if unreadable)."""
    try:
        return json.loads((out / "inputs.json").read_text())
    except (OSError, ValueError):
        return None


def _simulate_one(scenario_path: str, out: Path, seed: int, sim_seconds: float,
                  agents: dict[str, Path]) -> float:
    """One demo scenario in this process, its sides' agents those of ``agents`` (the demo's
    ``--root``): trace and metrics row written."""
    import dataclasses

    from duplexsim.config.scenario import load_scenario
    from duplexsim.errors import ConfigError
    from duplexsim.metrics.latency import trace_metrics
    from duplexsim.sim import run as run_scenario
    from duplexsim.threads import use_threads

    use_threads(None)  # $DUPLEXSIM_THREADS, else 1
    t0 = time.perf_counter()
    scenario = load_scenario(scenario_path)
    scenario = dataclasses.replace(
        scenario, seed=seed, duration_s=sim_seconds,
        **{k: dataclasses.replace(getattr(scenario, k), agent=str(agent))
           for k, agent in agents.items() if getattr(scenario, k).kind in ("syncllm", "tdm")})
    problems = scenario.missing_files(scenario_path)
    if problems:
        raise ConfigError(problems)
    trace = run_scenario(scenario, progress=False)
    trace.save(out)
    row = trace_metrics(trace, scenario.chunk_ms, lists=True)
    row["scenario"] = Path(scenario_path).stem
    row["silence_units"] = sorted(int(u) for u in trace.silence_units)
    write_json(out / "metrics.json", row)
    return time.perf_counter() - t0


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
    from duplexsim.demo_report import write_demo_report

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
