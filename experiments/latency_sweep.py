"""Latency sweep (issue 7): how turn-taking degrades with one-way delay, jitter and loss,
with and without partner estimation.

Full mode: F-F and F-C pairings of trained SyncLLM agents (``--agents runs/agents`` with
``fisher/`` and ``candor/``) at one-way delays 0-640 ms, jitter sd 0/10/30 ms, loss 0/1%,
estimation model / silence / wait, 3 seeds, 60 s (the issue's grid; ``--delays``,
``--jitter``, ``--loss``, ``--estimation``, ``--seeds`` and ``--duration-s`` shrink it to a
CPU budget). Smoke mode (``--smoke``): both sides replay
the shipped dialogue, two delays, one seed, 10 s: checks the whole pipeline in seconds.
Writes ``OUT/sweep.toml``, the sweep results and ``OUT/report/REPORT.md``.

    python experiments/latency_sweep.py --out runs/latency            # full
    python experiments/latency_sweep.py --smoke --out /tmp/latency    # smoke
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from effects import sweep_parser, write_effects

from duplexsim.atomic import write_text
from duplexsim.metrics.report import write_report
from duplexsim.sweeps.config import SweepConfig, dump_sweep, load_sweep
from duplexsim.sweeps.runner import run_sweep

DELAYS_MS = [0, 80, 160, 200, 240, 320, 480, 640]
BOTH_DELAYS = "network.a_to_b.delay_ms+network.b_to_a.delay_ms"
BOTH_JITTER = "network.a_to_b.jitter_ms+network.b_to_a.jitter_ms"
BOTH_LOSS = "network.a_to_b.loss+network.b_to_a.loss"
ESTIMATION = "a.estimation+b.estimation"


def base_scenario(smoke: bool, agents: Path, partner: str) -> str:
    """Scenario TOML text: replay sides (smoke) or a fisher agent against ``partner``."""
    link = ('jitter_dist = "normal"\nloss_model = "bernoulli"\nordering = "fifo"\n'
            "delay_ms = 0.0\njitter_ms = 0.0\nloss = 0.0\n")
    if smoke:
        sides = '[a]\nkind = "replay"\n[b]\nkind = "replay"\n'
    else:
        sides = (f'[a]\nkind = "syncllm"\nagent = "{agents / "fisher"}"\n'
                 f'[b]\nkind = "syncllm"\nagent = "{agents / partner}"\n')
    return (f'name = "latency-{partner}"\nchunk_ms = 160\nduration_s = 60.0\n{sides}'
            f'[network]\npreset = "ideal"\n[network.a_to_b]\n{link}[network.b_to_a]\n{link}'
            '[output]\naudio = false\n')


def sweep_for(args: argparse.Namespace, partner: str, base: Path) -> SweepConfig:
    if args.smoke:
        return SweepConfig(name=f"latency-smoke-{partner}", base=str(base), seeds=(0,),
                           grid={BOTH_DELAYS: [0, 320]}, set={"duration_s": 10.0},
                           workers=args.workers, batch=args.batch)
    return SweepConfig(
        name=f"latency-{partner}", base=str(base), seeds=tuple(range(args.seeds)),
        workers=args.workers, batch=args.batch, set={"duration_s": args.duration_s},
        grid={BOTH_DELAYS: args.delays, BOTH_JITTER: args.jitter, BOTH_LOSS: args.loss,
              ESTIMATION: args.estimation})


def main(argv: list[str] | None = None) -> int:
    parser = sweep_parser(__doc__, "runs/latency")
    parser.add_argument("--delays", type=int, nargs="+", default=DELAYS_MS,
                        help="one-way delays (ms), both directions")
    parser.add_argument("--jitter", type=float, nargs="+", default=[0.0, 10.0, 30.0])
    parser.add_argument("--loss", type=float, nargs="+", default=[0.0, 0.01])
    parser.add_argument("--estimation", nargs="+", default=["model", "silence", "wait"],
                        choices=["model", "silence", "wait"])
    parser.add_argument("--partners", nargs="+", default=["fisher", "candor"],
                        choices=["fisher", "candor"], help="B's agent (A is fisher)")
    args = parser.parse_args(argv)
    partners = ["fisher"] if args.smoke else args.partners
    for partner in partners:
        if not args.smoke and not (args.agents / partner / "agent.json").is_file():
            print(f"no trained agent at {args.agents / partner} (train it: duplexsim train "
                  f"agents/{partner}.toml), or run with --smoke", file=sys.stderr)
            return 2
        out = args.out / f"F-{partner[0].upper()}"
        base = out / "base.toml"
        write_text(base, base_scenario(args.smoke, args.agents, partner))
        write_text(out / "sweep.toml", dump_sweep(sweep_for(args, partner, base)))
        sweep = load_sweep(out / "sweep.toml")
        table = run_sweep(sweep, out, progress=True)
        corpus = args.corpus if (args.corpus / "manifest.json").is_file() else None
        report = write_report(out, corpus=corpus)
        keys = list(sweep.config.grid)
        write_effects(out, keys, BOTH_DELAYS, min(sweep.config.grid[BOTH_DELAYS]),
                      name="effects_vs_delay0")
        est = sweep.config.grid.get(ESTIMATION, [])
        if len(est) > 1:
            write_effects(out, keys, ESTIMATION, "wait" if "wait" in est else est[-1],
                          name="effects_vs_estimation_off")
        print(f"{len(table)} cells -> {report}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
