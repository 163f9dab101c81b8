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
the commands (printed before each stage).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from duplexsim import cli
from duplexsim.atomic import write_json
from duplexsim.errors import MAX_CORPUS_HOURS, MAX_DURATION_S, InputError


@dataclass(frozen=True)
class DemoPlan:
    """Sizes of the demo; the defaults keep a cold run under ~45 minutes on 2 cores."""

    root: Path = Path("runs")
    out: Path = Path("runs/demo")
    corpus_hours: float = 4.0
    """Data the small agents do not overfit within 1500 stage-3 steps (the cards train 1000):
    on 0.5 h validation loss rose after ~200 steps, on 2 h (Fisher) after ~750; on 4 h it
    still falls at 1500 (2.76, against 3.22 at best on 2 h)."""
    conversation_s: float = 120.0
    cards: Path = Path("agents")
    """Folder of the agent cards ``fisher.toml`` and ``candor.toml``: their steps are the
    training budget (no wall-clock plan: the same seed gives the same agents anywhere)."""
    train_side_by_side: bool = True
    """Train the two agents as two 1-thread processes at once (measured faster on 2 cores
    than one after the other: docs/results/training.md)."""
    train_max_minutes: float | None = None
    """Optional guard passed to ``duplexsim train --max-minutes`` (stops at a step boundary
    and says so in agent.json); none by default."""
    sim_seconds: float = 60.0
    seed: int = 0
    scenarios: tuple[str, ...] = (
        "scenarios/fisher-candor-200ms.toml",
        "scenarios/fisher-candor-satellite-geo.toml",
    )

    @property
    def units_dir(self) -> Path:
        return self.root / "units"

    def corpus_dir(self, preset: str) -> Path:
        return self.root / "corpora" / preset

    def agent_dir(self, name: str) -> Path:
        return self.root / "agents" / name

    def card(self, name: str) -> Path:
        return self.cards / f"{name}.toml"

    def trained(self, name: str) -> bool:
        """Is agent ``name`` trained already from its card (reused, not trained again)? One
        trained from another card is an :class:`~duplexsim.errors.InputError` naming the
        first setting that differs, and so is one trained on another corpus than the one in
        its corpus folder now (rebuilt there with other parameters; judged once that folder
        has a manifest, and only for agents that recorded ``corpus_digest``; or with another
        unit tokenizer than the corpus's, which its manifest need not show), and so is one
        whose corpus the plan's ``corpus_hours`` would resize (checked before the corpora are
        built); one a time guard stopped is not trained yet (its checkpoint resumes)."""
        from duplexsim.config.card import card_with_defaults, load_card
        from duplexsim.digests import CORPUS_FILES, directory_digest
        from duplexsim.models.agentdir import read_agent_json

        if not (self.agent_dir(name) / "agent.json").exists():
            return False
        info = read_agent_json(self.agent_dir(name))
        # as JSON values, and an older agent's card with the keys added since at their
        # defaults (as a resumed training run compares them)
        was, card = (json.loads(json.dumps(c)) for c in (
            card_with_defaults(info.get("card")), load_card(self.card(name)).to_dict()))
        changed = first_difference(was, card)
        if changed is not None:
            key, was, now = changed
            raise InputError(str(self.agent_dir(name)), f"card.{key}",
                             f"trained with {was!r}, but {self.card(name)} says {now!r}",
                             "delete the folder to train it anew from the card, or another "
                             "--root")
        corpus = self.corpus_dir(dict(AGENTS)[name])
        recorded = info.get("corpus_digest")
        if recorded and (corpus / "manifest.json").is_file() and \
                recorded != directory_digest(corpus, CORPUS_FILES):
            raise InputError(str(self.agent_dir(name)), "corpus_digest",
                             f"trained on another corpus than {corpus} holds now (its "
                             "manifest.json differs: rebuilt with other --corpus-hours, "
                             "--conversation-s or --seed?)",
                             "delete the agent folder to train it anew on this corpus, the "
                             "demo's earlier settings, or another --root")
        if (corpus / "manifest.json").is_file():
            if recorded:
                self._check_corpus_kept(name, corpus)
            self._check_same_tokenizer(name, corpus)
        # one --train-max-minutes stopped is not: training resumes and finishes it
        return not (info.get("stopped_early")
                    and (self.agent_dir(name) / "checkpoints" / "last.pt").is_file())

    def _check_same_tokenizer(self, name: str, corpus: Path) -> None:
        """Refuse agent ``name`` when the unit tokenizer it was trained with (its
        ``tokenizer/``) is not its corpus's: ``corpus_digest`` covers the manifest only, and
        a corpus rebuilt with another tokenizer can keep its manifest's bytes."""
        from duplexsim.corpora.corpus import check_agent_tokenizer
        from duplexsim.errors import with_note

        try:
            check_agent_tokenizer(corpus, self.agent_dir(name))
        except InputError as e:
            raise with_note(e, "delete the agent folder to train it anew on this corpus, "
                            "or another --root") from None

    def _check_corpus_kept(self, name: str, corpus: Path) -> None:
        """Refuse, before ``corpus build`` runs, a ``--corpus-hours`` that would resize the
        corpus agent ``name`` was trained on: the build extended or shrank it first, and only
        then was the agent refused (its corpus_digest no longer matched)."""
        from duplexsim.config.readers import read_json
        from duplexsim.corpora.build import plan as corpus_plan
        from duplexsim.corpora.synth import load_config

        dialogues = read_json(corpus / "manifest.json", what="corpus manifest.json").get(
            "dialogues")
        if not isinstance(dialogues, list):
            return  # not a corpus a build made; ``corpus build`` says what is wrong with it
        built = [d.get("id") if isinstance(d, dict) else None for d in dialogues]
        cfg = load_config(dict(AGENTS)[name], conversation_s=self.conversation_s)
        planned = [e["id"] for e in corpus_plan(cfg, self.corpus_hours, self.seed)]
        if built != planned:
            raise InputError(str(self.agent_dir(name)), "--corpus-hours",
                             f"{self.corpus_hours:g} would resize {corpus} from {len(built)} to "
                             f"{len(planned)} conversations, and this agent was trained on the "
                             f"{len(built)}", "the demo's earlier --corpus-hours, delete the "
                             "agent folder to train it anew on the resized corpus, or another "
                             "--root")


def first_difference(was: object, now: object, key: str = "") -> tuple[str, object, object] | None:
    """The first dotted key at which two JSON values differ: ``(key, was, now)``; None if
    they are equal."""
    if isinstance(was, dict) and isinstance(now, dict):
        for k in sorted(set(was) | set(now)):
            found = first_difference(was.get(k), now.get(k), f"{key}.{k}" if key else k)
            if found is not None:
                return found
        return None
    return None if was == now else (key, was, now)


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


AGENTS = (("fisher", "fisher-like"), ("candor", "candor-like"))


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
        _train_side_by_side(plan, todo)
    else:
        for name, argv in todo:
            _step(f"train the {name} agent", argv)


def _train_side_by_side(plan: DemoPlan, todo: list[tuple[str, list[str]]],
                        poll_s: float = 30.0) -> None:
    """Each agent in its own 1-thread ``duplexsim train`` process, all at once; output is
    appended to ``<agent dir>.log``, progress (from each run's train_log.json) every ``poll_s``."""
    print(f"\n==> train the {' and '.join(n for n, _ in todo)} agents side by side "
          "(1 thread each)", flush=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    t0 = time.perf_counter()
    procs: dict[str, tuple[subprocess.Popen[bytes], Path]] = {}
    try:
        for name, argv in todo:
            log = plan.agent_dir(name).with_suffix(".log")
            log.parent.mkdir(parents=True, exist_ok=True)
            print(f"    $ duplexsim {shlex.join(argv + ['--no-progress'])}  > {log}", flush=True)
            with log.open("ab") as fh:  # a rerun resumes training: keep the earlier output
                fh.write(f"==> duplexsim {shlex.join(argv)}\n".encode())
                fh.flush()
                procs[name] = (subprocess.Popen(
                    [sys.executable, "-m", "duplexsim.cli", *argv, "--no-progress"],
                    stdout=fh, stderr=subprocess.STDOUT, env=env,
                    preexec_fn=_ends_with_this_process()), log)
        next_report = poll_s
        while None in (codes := [p.poll() for p, _ in procs.values()]):
            if any(codes):
                break  # one failed: the demo fails, the others are stopped below (each
                # resumes from its last checkpoint when the demo is run again)
            time.sleep(0.5)
            elapsed = time.perf_counter() - t0
            if elapsed >= next_report:
                next_report += poll_s
                print(f"    {elapsed:5.0f} s: " + " | ".join(
                    f"{n} {_progress(plan.agent_dir(n), p)}" for n, (p, _) in procs.items()),
                    flush=True)
    finally:  # a failed run, SIGTERM (which reaches this process only), Ctrl-C
        ended_by_us = _stop([p for p, _ in procs.values()])
        stopped = [n for n, (p, _) in procs.items() if p in ended_by_us]
    failed = [(n, log) for n, (p, log) in procs.items() if p.returncode and n not in stopped]
    if stopped:
        print(f"    stopped {', '.join(stopped)} (another failed); it resumes from its last "
              "checkpoint when the demo runs again", flush=True)
    for name, log in failed:
        tail = log.read_text(errors="replace").strip().splitlines()[-5:]
        print(f"    {name} failed; the end of {log}:\n      " + "\n      ".join(tail))
    if failed:
        raise SystemExit(f"demo: training {', '.join(n for n, _ in failed)} failed")
    print(f"    done in {time.perf_counter() - t0:.0f} s", flush=True)


def _ends_with_this_process() -> Callable[[], None] | None:
    """A ``preexec_fn`` giving the child SIGTERM when this process ends, killed (SIGKILL, an
    OOM kill) included: a trainer left behind would train on and a rerun of the demo would
    start a second one on the same folder (Linux ``prctl(PR_SET_PDEATHSIG)``; None
    elsewhere, where a killed demo still leaves its trainers running)."""
    import functools

    prctl = _prctl()
    return None if prctl is None else functools.partial(_end_with, os.getpid(), prctl)


def _prctl() -> Callable[..., int] | None:
    """Linux's ``prctl``; None elsewhere."""
    import ctypes

    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl  # type: ignore[no-any-return]
    except (OSError, AttributeError):
        return None


def _end_with(parent: int, prctl: Callable[..., int] | None = None) -> None:
    """In a child of process ``parent``: have SIGTERM sent to this process when ``parent``
    ends, however it ends (``prctl``: looked up here when not given; nothing without it)."""
    import signal

    prctl = prctl or _prctl()
    if prctl is None:
        return
    prctl(1, int(signal.SIGTERM), 0, 0, 0)  # 1: PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the parent ended before the line above
        os.kill(os.getpid(), signal.SIGTERM)


def _stop(procs: list[subprocess.Popen[bytes]],
          grace_s: float = 10.0) -> list[subprocess.Popen[bytes]]:
    """SIGTERM each process still running (``duplexsim train`` stops as on Ctrl-C), then
    SIGKILL any that has not ended ``grace_s`` later; returns those it stopped."""
    running = [p for p in procs if p.poll() is None]
    for p in running:
        p.terminate()
    deadline = time.monotonic() + grace_s
    for p in running:
        try:
            p.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    return running


def _progress(agent_dir: Path, proc: subprocess.Popen[bytes]) -> str:
    """``stage3 450`` from the run's last checkpoint log, or ``done``."""
    if proc.poll() is not None:
        return "done" if proc.returncode == 0 else f"failed (exit {proc.returncode})"
    try:
        rows = json.loads((agent_dir / "train_log.json").read_text())
        return f"{rows[-1]['stage']} step {rows[-1]['step']}"
    except (OSError, ValueError, LookupError):
        return "starting"


def simulate(plan: DemoPlan) -> list[Path]:
    """Run each demo scenario (shortened to ``sim_seconds``) and keep its metrics row: the
    scenarios still to run go side by side, one 1-thread process each (the same bytes as one
    after the other; about half the wall time on 2 cores)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

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
    print(f"\n    running {len(todo)} simulation(s) side by side ...", flush=True)
    ctx = multiprocessing.get_context("spawn")
    # initializer: a worker ends with the demo, killed included (one left behind ran its
    # simulation to the end and wrote it over the folder a rerun was writing)
    pool = ProcessPoolExecutor(min(2, len(todo)), mp_context=ctx, initializer=_end_with,
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
    return outs


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
