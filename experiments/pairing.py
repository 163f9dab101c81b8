"""Pairing (issue 7): does cross-corpus pairing cost anything? F-F, F-C, C-F, C-C.

Full mode: trained SyncLLM agents (``--agents runs/agents`` with ``fisher/`` and
``candor/``) on each side, at one-way delays 0 / 160 / 240 ms, 20 seeds, 60 s (``--delays``,
``--seeds``, ``--duration-s`` scale it). Smoke mode (``--smoke``): A is a scripted talker
or a replay side against a replay partner, one delay, one seed, 10 s. Writes
``OUT/sweep.toml``, results, ``OUT/report/REPORT.md`` and the effect tables
(``effects_vs_b.agent_*``: each partner against the other at the same A and delay;
``effects_vs_delay0``: each pairing's delays against its own 0 ms;
``delay_cost_vs_b.agent_fisher``: how much more (or less) a delay costs with the CANDOR
partner than with the Fisher one, a difference in differences;
``partner_effect_vs_a.agent_fisher``: B's effect (CANDOR against Fisher) with A = CANDOR
minus the same with A = Fisher: positive for overlap where the agents collide more with a
partner of their own corpus, negative where a mismatched pair costs more than the two
agents' styles add up to; 95% CIs over seeds, paired by seed).

    python experiments/pairing.py --out runs/pairing
    python experiments/pairing.py --smoke --out /tmp/pairing
"""

from __future__ import annotations

from pathlib import Path

from duplexsim.atomic import write_text
from duplexsim.cli import number, run_reporting
from duplexsim.metrics.report import write_report
from duplexsim.sweeps.config import SweepConfig, dump_sweep, load_sweep
from duplexsim.sweeps.runner import SWEEP_OUTPUTS, run_sweep
from duplexsim.threads import use_threads

from effects import SMOKE_UNREAD, reference_corpus, sweep_parser, write_effects, write_interactions
from outdir import check_out  # --out: writable, and not another folder's
from provenance import provenance  # the report line (command and commit)

OUTPUTS = ("base.toml", "sweep.toml", *SWEEP_OUTPUTS)
"""What pairing.py writes in --out: a folder holding one of them is an earlier run's."""

BOTH_DELAYS = "network.a_to_b.delay_ms+network.b_to_a.delay_ms"
DELAY_MS = number(0, 600_000, integer=True)
"""A one-way delay flag (ms): the range a scenario accepts."""


def base_scenario(smoke: bool, agents: Path) -> str:
    link = 'jitter_dist = "none"\nloss_model = "none"\ndelay_ms = 0.0\njitter_ms = 0.0\n'
    if smoke:
        sides = '[a]\nkind = "scripted"\npolicy = "random-talker"\n[b]\nkind = "replay"\n'
    else:
        fisher = agents / "fisher"
        sides = (f'[a]\nkind = "syncllm"\nagent = "{fisher}"\n'
                 f'[b]\nkind = "syncllm"\nagent = "{fisher}"\n')
    return (f'name = "pairing"\nchunk_ms = 160\nduration_s = 60.0\n{sides}'
            f'[network]\npreset = "ideal"\n[network.a_to_b]\n{link}[network.b_to_a]\n{link}'
            '[output]\naudio = false\n')


def main(argv: list[str] | None = None) -> int:
    parser = sweep_parser(__doc__, "runs/pairing")
    parser.add_argument("--delays", type=DELAY_MS, nargs="+",
                        default=[0, 160, 240],
                        help="one-way delays (ms), both directions (default: %(default)s)")
    args = parser.parse_args(argv)
    check_out(args.out, OUTPUTS, "pairing.py")  # before any work or world is made
    # (they went unread without a word: --smoke --delays 500 ran no delay at all)
    parser.refuse_unread(args, "--smoke", (*SMOKE_UNREAD, "delays"),
                         "smoke mode takes a scripted or replay A against a replay B, no "
                         "delay, one seed, 10 s")
    args.corpus = reference_corpus(parser, args.corpus)
    use_threads(args.threads)  # this process and the sweep workers it starts
    dirs = [str(args.agents / "fisher"), str(args.agents / "candor")]
    if not args.smoke:
        parser.require_trained("--agents", dirs)
    base = args.out / "base.toml"
    write_text(base, base_scenario(args.smoke, args.agents))
    if args.smoke:
        sweep = SweepConfig(name="pairing-smoke", base=str(base), seeds=(0,),
                            workers=args.workers, batch=args.batch, set={"duration_s": 10.0},
                            grid={"a.kind": ["scripted", "replay"]})
    else:
        sweep = SweepConfig(name="pairing", base=str(base), seeds=tuple(range(args.seeds)),
                            workers=args.workers, batch=args.batch,
                            set={"duration_s": args.duration_s},
                            grid={"a.agent": dirs, "b.agent": dirs, BOTH_DELAYS: args.delays})
    write_text(args.out / "sweep.toml", dump_sweep(sweep))
    line = provenance("pairing.py", argv)  # the code of the moment the run starts
    table = run_sweep(load_sweep(args.out / "sweep.toml"), args.out, progress=True)
    report = write_report(args.out, corpus=args.corpus, provenance=line)
    keys = list(sweep.grid)
    contrast = "b.agent" if "b.agent" in keys else keys[0]
    for value in sweep.grid[contrast]:
        write_effects(args.out, keys, contrast, value,
                      name=f"effects_vs_{contrast}_{Path(str(value)).name}", note=line)
    if "a.agent" in keys:  # is B's effect the same whatever A is? (a mismatch cost if not)
        write_interactions(args.out, keys, contrast, sweep.grid[contrast][0], "a.agent",
                           sweep.grid["a.agent"][0], name="partner_effect_vs_a.agent_"
                           + Path(str(sweep.grid["a.agent"][0])).name, note=line)
    if len(sweep.grid.get(BOTH_DELAYS, [])) > 1:  # each pairing's cost of delay
        write_effects(args.out, keys, BOTH_DELAYS, min(sweep.grid[BOTH_DELAYS]),
                      name="effects_vs_delay0", note=line)
        # does the delay cost more with the other partner? (difference in differences)
        write_interactions(args.out, keys, BOTH_DELAYS, min(sweep.grid[BOTH_DELAYS]),
                           contrast, sweep.grid[contrast][0], name="delay_cost_vs_b.agent_"
                           + Path(str(sweep.grid[contrast][0])).name, note=line)
    print(f"{len(table)} cells -> {report}")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_reporting(main, "pairing.py"))
