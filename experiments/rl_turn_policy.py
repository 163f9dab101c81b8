"""RL on turn-taking that generalises: PPO trained on some partners, tested on others.

Protocol (issue 18), on ``duplexsim/TurnTaking-v0`` (``scenarios/rl-turntaking.toml``: 30 s
of 160 ms chunks, the learner on side A, turn actions):

- **train**: PPO (stable-baselines3, MLP on the voice-activity part of the observation,
  no clock) against a partner pool of train-split replay dialogues (both channels, random
  starts) plus the ``--train-agents`` SyncLLM partners, one env per latency (one-way
  delay 0, 160, 240, 480 ms), so one policy serves every latency;
- **baselines**: silent, always-speak, random, and the hand-written VAP-style rule
  (:class:`duplexsim.envs.baselines.RulePolicy`) tuned per latency on train dialogues
  (silence threshold x backchannels, best mean reward over ``--tune-episodes`` episodes,
  every setting on the same seeds; ``rule_tuning.csv`` gives each setting's interval and
  its paired difference from the winner, so a tie shows);
- **evaluate**: every policy on the same ``--episodes`` episodes (same seeds: same
  dialogue, start and network) per cell = partner set x latency. Sets: train dialogues,
  test dialogues (held out), and each ``--eval-agents`` SyncLLM agent (held out; the
  learner speaks test-split dialogues of ``--corpus``, which must share the agents'
  units), and with ``--test-corpus DIR`` every dialogue of another corpus of the same
  units (``test-corpus``: more held-out dialogues than ``--corpus``'s test split has;
  the held-out agents then hear lines of its train split; ``--sets`` runs some sets
  only). On replay sets the corpus reference (the dialogue's
  own other channel as actions) runs beside them;
- **report**: reward and turn-taking statistics (overlap, gap, FTO, the learner's FTO and
  backchannels) as means with 95% bootstrap intervals over the cell's dialogues (episodes
  of one dialogue are not independent: ``resample.cluster_weights``), the corpus's own values, the
  generalisation gap (held-out minus train dialogues) with its 95% interval, whether PPO
  beats every baseline with non-overlapping CIs and paired (PPO minus each baseline on the
  same episodes, its interval above 0), and a reward-farming check (fixed policies vs the
  reference on test dialogues).

``--policy RUN`` evaluates the PPO policy of an earlier run (``RUN/ppo.zip``,
``RUN/obs_norm.npz``; its training settings from ``RUN/config.json``) instead of training
one, e.g. on more episodes (``--episodes``, ``--agent-episodes``) or other held-out agents.
The rule is tuned anew, on ``--tune-episodes`` (not ``RUN``'s ``tune_episodes``: tuning is
part of the evaluation, like ``--episodes``; ``OUT/config.json`` records the number used).

Writes ``OUT/config.json``, ``OUT/ppo.zip`` (+ ``obs_norm.npz``: the observation
normaliser's mean and variance; ``ppo_progress.csv``: SB3's training log, one row per
update, its columns in the same order every run (an update's new ones added sorted); its
``time/fps`` and ``time/time_elapsed`` are wall-clock, so they differ from run to run),
``OUT/rule_tuning.csv``, ``OUT/episodes.csv``, ``OUT/summary.csv``, ``OUT/farming.csv``,
``OUT/REPORT.md`` and ``OUT/rl.png``.

    python experiments/rl_turn_policy.py --corpus runs/corpora/fisher-like \\
        --train-agents runs/agents/fisher-small --eval-agents fisher=runs/agents/fisher \\
        candor=runs/agents/candor --out runs/rl                              # full
    python experiments/rl_turn_policy.py --smoke --out /tmp/rl_smoke       # tiny world, seconds
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

from duplexsim.atomic import atomic_path, write_json
from duplexsim.cli import ArgumentParser, number, path_arg, run_reporting
from duplexsim.envs.actions import TurnAction
from duplexsim.envs.baselines import ConstantPolicy, CorpusReference, RandomPolicy, TurnPolicy
from duplexsim.threads import use_threads

import pandas as pd
from outdir import check_out  # --out: writable, and not another folder's
from provenance import provenance  # the report line (command and commit)
from rl_config import (  # the run's settings and their checks
    TRAINED_NUMBERS,
    Config,
    check_test_corpus,
    parse_latencies,
    read_trained,
    smoke_config,
)
from rl_report import plot, write_report  # REPORT.md and rl.png
from rl_stats import generalisation, summarize, verdicts  # intervals over dialogues, verdicts
from rl_train import (  # partner pools, PPO's training, the baselines' episodes
    PPOPolicy,
    eval_sets,
    farming,
    load_policy,
    policy_space,
    run_episodes,
    train,
    tune_rule,
)

OUTPUTS = ("world", "ppo.zip", "obs_norm.npz", "ppo_progress.csv", "ppo_progress.csv.partial",
           "config.json", "rule_tuning.csv", "episodes.csv", "summary.csv", "farming.csv", "rl.png",
           "REPORT.md")
"""What rl_turn_policy.py writes in --out: a folder holding one of them is an earlier run's."""


def parse(argv: list[str] | None) -> tuple[argparse.Namespace, Config]:
    p = _parser()
    args = p.parse_args(argv)
    check_out(args.out, OUTPUTS, "rl_turn_policy.py")  # before any work or world is made
    cfg = smoke_config(args.out) if args.smoke else Config()
    if args.policy is not None:
        _take_policy(p, args, cfg)
    for key in ("corpus", "timesteps", "episodes", "agent_episodes", "tune_episodes",
                "duration_s", "seed"):
        if getattr(args, key) is not None:
            setattr(cfg, key, getattr(args, key))
    _take_agents(p, args, cfg)
    for flag, key in (("latencies", "latencies_ms"), ("eval_latencies", "eval_latencies_ms")):
        text = getattr(args, flag)
        if text is not None:
            setattr(cfg, key, parse_latencies(p, f"--{flag.replace('_', '-')}", text))
    p.require_trained("--train-agents", cfg.train_agents)
    p.require_trained("--eval-agents", list(cfg.eval_agents.values()))
    # a held-out agent that is also a training partner is not held out: its cells would
    # report in-sample reward as generalisation
    trained = {Path(a).resolve() for a in cfg.train_agents}
    seen = [f"{n}={d}" for n, d in cfg.eval_agents.items() if Path(d).resolve() in trained]
    if seen:
        source = "train_agents of --policy's config.json" if cfg.policy else "--train-agents"
        p.error(f"--eval-agents: {', '.join(seen)} is also a training partner ({source}; "
                "allowed: agents held out from training)")
    if not (Path(cfg.corpus) / "manifest.json").is_file():
        p.error(f"--corpus: {cfg.corpus} is not a corpus (build one: duplexsim corpus build "
                "--preset fisher-like --hours 2 --out runs/corpora/fisher-like)")
    if args.test_corpus is not None:
        check_test_corpus(p, cfg, args.test_corpus)
        cfg.test_corpus = str(args.test_corpus)
    if args.sets is not None:
        known = list(eval_sets(cfg, every=True))
        p.require_distinct("--sets", args.sets, "a set", "distinct set names")
        if stray := [s for s in args.sets if s not in known]:
            p.error(f"--sets: {' '.join(stray)} (allowed: {', '.join(known)})")
        cfg.sets = list(args.sets)
    return args, cfg


def _parser() -> ArgumentParser:
    """The flags (None: the default, --smoke's or --policy's, settled by :func:`parse`)."""
    p = ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=path_arg, default=Path("runs/rl_turn_policy"),
                   help="output folder (new or empty, or an earlier run's of this script) "
                        "(default: %(default)s)")
    p.add_argument("--smoke", action="store_true", help="tiny world in OUT/world, tiny budget")
    p.add_argument("--corpus", default=None,
                   help="built corpus: train split the replay partners, test split held out "
                        f"(default: {Config.corpus}; --smoke: the tiny world's; --policy: "
                        "that run's, the flag refused)")
    p.add_argument("--train-agents", nargs="*", default=None, help="SyncLLM agent dirs")
    p.add_argument("--eval-agents", nargs="*", default=None, help="NAME=DIR, held out")
    p.add_argument("--latencies", default=None,
                   help="one-way ms, comma separated: trained at and evaluated at")
    p.add_argument("--eval-latencies", default=None,
                   help="one-way ms, comma separated: evaluated at (default: --latencies)")
    p.add_argument("--timesteps", type=TRAINED_NUMBERS["timesteps"], default=None,
                   help=f"PPO training timesteps (default: {Config.timesteps}; --smoke: a tiny "
                        "budget; --policy: that run's, the flag refused)")
    p.add_argument("--episodes", type=number(1, 100_000, integer=True), default=None,
                   help=f"per replay cell (default {Config.episodes})")
    p.add_argument("--agent-episodes", type=number(1, 100_000, integer=True), default=None,
                   help=f"per held-out agent cell (default {Config.agent_episodes})")
    p.add_argument("--tune-episodes", type=number(1, 100_000, integer=True), default=None,
                   help="per rule setting and latency in the rule baseline's tuning on train "
                        f"dialogues (default {Config.tune_episodes}; --smoke: 1; --policy: "
                        "this flag's, not that run's)")
    p.add_argument("--policy", type=Path, default=None,
                   help="evaluate the PPO policy of this earlier run instead of training one "
                        "(its ppo.zip, obs_norm.npz and training settings in config.json)")
    p.add_argument("--test-corpus", type=Path, default=None,
                   help="another corpus of --corpus's units (e.g. built with another seed): "
                        "all its dialogues are the held-out set test-corpus")
    p.add_argument("--sets", nargs="+", default=None,
                   help="the evaluation sets to run (default: all; train-dialogues, "
                        "test-dialogues, test-corpus, agent-NAME)")
    p.add_argument("--duration-s", type=TRAINED_NUMBERS["duration_s"], default=None,
                   help="length of each training and evaluation episode in s (default: "
                        f"{Config.duration_s}; --smoke: a few s; --policy: that run's, the flag "
                        "refused)")
    p.add_argument("--seed", type=TRAINED_NUMBERS["seed"], default=None,
                   help=f"seeds PPO's training and the scenario (default: {Config.seed}; "
                        "--policy: that run's, the flag refused)")
    p.add_threads()
    p.add_argument("--workers", type=number(1, 1024, integer=True), default=1,
                   help="processes the training conversations are split over (default: "
                        "%(default)s; 2 on two cores trains faster, the same policy: "
                        "duplexsim.envs.sharded)")
    return p


def _take_policy(p: ArgumentParser, args: argparse.Namespace, cfg: Config) -> None:
    """``--policy RUN``: its files there, its training settings into ``cfg``; a flag that
    would set one of them again is refused."""
    given = [f"--{k.replace('_', '-')}" for k in ("corpus", "train_agents", "latencies",
                                                  "timesteps", "duration_s", "seed")
             if getattr(args, k) is not None]
    if given:
        p.error(f"--policy: {', '.join(given)} come from {args.policy}/config.json "
                "(allowed with --policy: --episodes, --agent-episodes, --tune-episodes, "
                "--eval-agents, --eval-latencies, --test-corpus, --sets)")
    missing = [n for n in ("ppo.zip", "obs_norm.npz", "config.json")
               if not (args.policy / n).is_file()]
    if missing:
        p.error(f"--policy: {args.policy} has no {', '.join(missing)} (allowed: the --out "
                "of an earlier rl_turn_policy.py run)")
    for key, value in read_trained(p, args.policy / "config.json").items():
        setattr(cfg, key, value)
    cfg.policy = str(args.policy)


def _take_agents(p: ArgumentParser, args: argparse.Namespace, cfg: Config) -> None:
    """``--train-agents`` and ``--eval-agents NAME=DIR`` into ``cfg``, each listed once."""
    if args.train_agents is not None:
        cfg.train_agents = list(args.train_agents)
        # a folder given twice was drawn twice as often as the others, without a word
        p.require_distinct("--train-agents", cfg.train_agents, "an agent folder",
                           "distinct agent folders", key=lambda a: Path(a).resolve())
    if args.eval_agents is not None:
        try:
            named = [tuple(a.split("=", 1)) for a in args.eval_agents]
            cfg.eval_agents = dict(named)  # type: ignore[arg-type]
        except ValueError:
            p.error(f"--eval-agents: {args.eval_agents} (allowed: NAME=DIR ...)")
        # a NAME given twice kept the last DIR only: the first agent was never evaluated
        p.require_distinct("--eval-agents", [n for n, _ in named], "a NAME",
                           "NAME=DIR with distinct names")


def main(argv: list[str] | None = None) -> int:
    args, cfg = parse(argv)
    use_threads(args.threads)
    t0 = time.perf_counter()
    command = provenance("rl_turn_policy.py", argv)  # the code as it is when the run starts
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    model, obs_norm = (load_policy(Path(cfg.policy), out) if cfg.policy
                       else train(cfg, out, args.workers))
    # after the policy it describes is saved: a run that fails before leaves an earlier
    # run's config.json beside that run's ppo.zip
    write_json(out / "config.json", dataclasses.asdict(cfg))
    tuned, tuning = tune_rule(cfg, out)
    space = policy_space(cfg)
    # replay cells run cfg.episodes, agent cells cfg.agent_episodes (more than episodes
    # used to be cut to episodes without a word)
    seeds = [10_000 + i for i in range(max(cfg.episodes, cfg.agent_episodes))]
    rows = []
    for set_name, partner in eval_sets(cfg).items():
        n = cfg.episodes if partner["kind"] == "replay" else cfg.agent_episodes
        for delay in cfg.evaluated():
            policies: list[TurnPolicy] = [
                PPOPolicy(model, space, obs_norm), tuned[float(delay)], RandomPolicy(),
                ConstantPolicy(int(TurnAction.SPEAK), "always-speak"),
                ConstantPolicy(int(TurnAction.SILENT), "silent")]
            if partner["kind"] == "replay":
                policies.append(CorpusReference())
            for policy in policies:
                for row in run_episodes(cfg, partner, delay, policy, seeds[:n]):
                    rows.append({"set": set_name, **row})
            print(f"{set_name} {delay} ms done ({(time.perf_counter() - t0) / 60:.1f} min)",
                  flush=True)
    df = pd.DataFrame(rows)
    summary = summarize(df)
    farm = (farming(cfg, [d for d in (0, 240) if d in cfg.evaluated()] or cfg.evaluated()[:1],
                    seeds[:cfg.episodes])
            if "test-dialogues" in eval_sets(cfg) else pd.DataFrame())
    ver, gen = verdicts(summary, df), generalisation(df)
    for name, frame in (("episodes", df), ("summary", summary), ("farming", farm)):
        with atomic_path(out / f"{name}.csv") as tmp:
            frame.to_csv(tmp, index=False)
    write_report(out, cfg, command, summary, ver, gen, farm, tuned, tuning,
                 time.perf_counter() - t0)
    plot(summary, out / "rl.png", command)  # the figure names its command too
    print(ver.to_string(index=False))
    print(gen.to_string(index=False))
    print(json.dumps({"report": str(out / "REPORT.md")}))
    return 0


if __name__ == "__main__":
    sys.exit(run_reporting(main, "rl_turn_policy.py"))
