"""The demo's stages: build the corpora, train the agents, simulate the conversations; and
the checks run before any of them (the cards, the scenario files).

Each stage goes through the ``duplexsim`` command a user would type (printed before it
runs) and reuses what an earlier run made from the same inputs. The order they run in, and
the command line, are :mod:`duplexsim.demo.cli`'s; the plan and its reuse checks,
:mod:`duplexsim.demo.plan`'s; the processes it starts, :mod:`duplexsim.demo.processes`'s.
"""

from __future__ import annotations

import json
import os
import shlex
import time
from pathlib import Path

from duplexsim import cli
from duplexsim.atomic import write_json
from duplexsim.demo.plan import AGENTS, DemoPlan
from duplexsim.demo.processes import end_with, train_side_by_side
from duplexsim.errors import InputError


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
