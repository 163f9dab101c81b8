"""Latency sweep (issue 7): how turn-taking degrades with one-way delay, jitter and loss,
with and without partner estimation.

Full mode: trained SyncLLM agents (``--agents runs/agents`` with ``fisher/`` and
``candor/``), 20 seeds x 60 s per grid point, in two sweeps per pairing:

- ``delay``: one-way delays 0, 80, 160, 200, 240, 320, 480, 640 ms x estimation
  model / silence / wait, no jitter, no loss; F-F and F-C (``OUT/F-F/delay``, ``OUT/F-C/delay``);
- ``network``: jitter sd 0/10/30 ms x loss 0/1% x estimation at one-way delays 160 and
  320 ms; F-C (``OUT/F-C/network``).

``--factorial`` runs the issue's full product (delays x jitter x loss x estimation, 432
cells a pairing) as one sweep instead (``OUT/F-X/factorial``): about 6x the CPU for
interactions the two sweeps do not show. ``--sweeps delay`` (or ``network``) runs one of
the two only. ``--delays``, ``--jitter``, ``--loss``,
``--estimation``, ``--network-delays``, ``--seeds`` and ``--duration-s`` scale either.
Estimation: ``model`` = the agent estimates missing partner chunks (SyncLLM); ``silence`` =
missing chunks are assumed silent; ``wait`` = the agent stalls until the real chunks
arrive and its playout slips (no estimation at all).
Smoke mode (``--smoke``): both sides replay the shipped dialogue, two delays, one seed,
10 s: checks the whole pipeline in seconds. Each sweep folder gets ``sweep.toml``, the
results, ``report/REPORT.md`` and effect tables (95% CIs over seeds, differences paired by
seed): ``effects_vs_delay0`` (and ``effects_vs_delayD`` for ``--contrast-delays D``) with
its plot ``latency.png``, ``effects_vs_jitter0`` and ``effects_vs_loss0`` (the network's
cost at equal delay) and ``effects_vs_estimation_off`` (each mode against ``wait``; without
``wait`` in ``--estimation``, against ``silence``).

    python experiments/latency_sweep.py --out runs/latency            # full
    python experiments/latency_sweep.py --smoke --out /tmp/latency    # smoke
"""

from __future__ import annotations

import argparse
from pathlib import Path

from duplexsim.atomic import write_png, write_text
from duplexsim.cli import ArgumentParser, number, run_reporting
from duplexsim.metrics.report import series_label, write_report
from duplexsim.sweeps.config import SweepConfig, dump_sweep, load_sweep
from duplexsim.sweeps.runner import run_sweep
from duplexsim.threads import use_threads

import pandas as pd
from effects import SMOKE_UNREAD, reference_corpus, sweep_parser, write_effects
from outdir import check_out  # --out: writable, and not another folder's
from provenance import provenance  # the report line (command and commit)

OUTPUTS = ("F-F", "F-C")
"""What latency_sweep.py writes in --out: a folder holding one of them is an earlier run's."""

DELAYS_MS = [0, 80, 160, 200, 240, 320, 480, 640]
SMOKE_DELAYS_MS = [0, 320]
"""The one-way delays the ``--smoke`` run sweeps."""
BOTH_DELAYS = "network.a_to_b.delay_ms+network.b_to_a.delay_ms"
DELAY_MS = number(0, 600_000, integer=True)
"""A one-way delay flag (ms): the range a scenario accepts."""
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


def sweeps_for(args: argparse.Namespace, partner: str, base: Path,
               ) -> dict[str, SweepConfig]:
    """The sweeps to run for A = fisher against ``partner``, by sub-folder name."""
    common = {"base": str(base), "workers": args.workers, "batch": args.batch}
    if args.smoke:
        return {"delay": SweepConfig(name=f"latency-smoke-{partner}", seeds=(0,),
                                     grid={BOTH_DELAYS: SMOKE_DELAYS_MS},
                                     set={"duration_s": 10.0},
                                     **common)}
    seeds, run = tuple(range(args.seeds)), {"duration_s": args.duration_s}
    if args.factorial:
        return {"factorial": SweepConfig(
            name=f"latency-{partner}", seeds=seeds, set=run, **common,
            grid={BOTH_DELAYS: args.delays, BOTH_JITTER: args.jitter, BOTH_LOSS: args.loss,
                  ESTIMATION: args.estimation})}
    out = {}
    if "delay" in args.sweeps:
        out["delay"] = SweepConfig(name=f"latency-delay-{partner}", seeds=seeds, set=run,
                                   grid={BOTH_DELAYS: args.delays, ESTIMATION: args.estimation},
                                   **common)
    if "network" in args.sweeps and partner in args.network_partners:
        out["network"] = SweepConfig(
            name=f"latency-network-{partner}", seeds=seeds, set=run, **common,
            grid={BOTH_DELAYS: args.network_delays, BOTH_JITTER: args.jitter,
                  BOTH_LOSS: args.loss, ESTIMATION: args.estimation})
    return out


def run_one(out: Path, config: SweepConfig, args: argparse.Namespace) -> None:
    """Run one sweep into ``out``; write its report and effect tables."""
    write_text(out / "sweep.toml", dump_sweep(config))
    sweep = load_sweep(out / "sweep.toml")
    table = run_sweep(sweep, out, progress=True)
    report = write_report(out, corpus=args.corpus, provenance=args.provenance)
    grid = sweep.config.grid
    keys = list(grid)
    if len(grid[BOTH_DELAYS]) > 1:
        eff = write_effects(out, keys, BOTH_DELAYS, min(grid[BOTH_DELAYS]),
                            name="effects_vs_delay0", note=args.provenance)
        plot_against_delay(eff, out / "latency.png", config.name, args.provenance)
        for base in sorted(set(args.contrast_delays) & set(grid[BOTH_DELAYS])):
            if base != min(grid[BOTH_DELAYS]):
                write_effects(out, keys, BOTH_DELAYS, base, name=f"effects_vs_delay{base}",
                              note=args.provenance)
    for key, name in ((BOTH_JITTER, "jitter"), (BOTH_LOSS, "loss")):  # the network's cost
        if len(grid.get(key, [])) > 1:
            write_effects(out, keys, key, min(grid[key]), name=f"effects_vs_{name}0",
                          note=args.provenance)
    est = grid.get(ESTIMATION, [])
    if len(est) > 1:  # against no estimation at all, else against no model estimate
        off = next(mode for mode in ("wait", "silence") if mode in est)
        write_effects(out, keys, ESTIMATION, off, name="effects_vs_estimation_off",
                      note=args.provenance)
    print(f"{len(table)} cells -> {report}")


PANELS = (("fto_median_ms", "FTO median (ms), transitions pooled"),
          ("overlap_share", "overlap share of time"),
          ("backchannels_per_min", "backchannels / min"))


def plot_against_delay(eff: pd.DataFrame, path: Path, title: str,
                       caption: str | None = None) -> None:
    """One panel per statistic of ``eff`` (an ``effects_vs_delay0`` table) against the
    one-way delay, one line per other grid value (estimation), 95% CIs as bars; ``title``:
    the sweep's name; ``caption``: the command and commit that made it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [(c, label) for c, label in PANELS if c in eff.columns]
    others = [k for k in eff.columns[: list(eff.columns).index("n_seeds")] if k != BOTH_DELAYS]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6), squeeze=False)
    for ax, (col, label) in zip(axes[0], panels, strict=True):
        for value, part in (eff.groupby(others, sort=False) if others else [("", eff)]):
            part = part.sort_values(BOTH_DELAYS)
            x, y = part[BOTH_DELAYS].to_numpy(float), part[col].to_numpy(float)
            err = [y - part[f"{col}_lo"].to_numpy(float), part[f"{col}_hi"].to_numpy(float) - y]
            ax.errorbar(x, y, yerr=err, marker="o", capsize=3,
                        label=series_label(value, others) if others else None)
        ax.set_xlabel("one-way delay (ms)")
        ax.set_title(label, fontsize=10)
        ax.grid(alpha=0.3)
    if others:  # every other swept key in each line's label (jitter, loss, estimation)
        axes[0][0].legend(fontsize=7)
    fig.suptitle(title, fontsize=9)
    write_png(fig, path, caption=caption)


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    _check_args(parser, args)
    args.provenance = provenance("latency_sweep.py", argv)
    use_threads(args.threads)  # this process and the sweep workers it starts
    partners = ["fisher"] if args.smoke else args.partners
    if not args.smoke:
        parser.require_trained("--agents", [args.agents / p for p in partners])
    for partner in partners:
        pair = args.out / f"F-{partner[0].upper()}"
        base = pair / "base.toml"
        write_text(base, base_scenario(args.smoke, args.agents, partner))
        for name, config in sweeps_for(args, partner, base).items():
            run_one(pair / name, config, args)
    return 0


def _parser() -> ArgumentParser:
    """The sweep's flags (:func:`sweep_parser`'s and this script's), in ``--help``'s order."""
    parser = sweep_parser(__doc__, "runs/latency")
    parser.add_argument("--delays", type=DELAY_MS, nargs="+",
                        default=DELAYS_MS,
                        help="one-way delays (ms), both directions (default: %(default)s)")
    parser.add_argument("--jitter", type=number(0, 600_000), nargs="+",
                        default=[0.0, 10.0, 30.0], help="jitter sd (ms), both directions"
                                                        " (default: %(default)s)")
    parser.add_argument("--loss", type=number(0, 1), nargs="+", default=[0.0, 0.01],
                        help="loss probability, both directions (default: %(default)s)")
    parser.add_argument("--estimation", nargs="+", default=["model", "silence", "wait"],
                        choices=["model", "silence", "wait"],
                        help="partner estimation modes swept (model: the agent estimates missing "
                             "partner chunks; silence: assumed silent; wait: it stalls until they "
                             "arrive) (default: %(default)s)")
    parser.add_argument("--partners", nargs="+", default=["fisher", "candor"],
                        choices=["fisher", "candor"], help="B's agent (A is fisher)"
                                                           " (default: %(default)s)")
    parser.add_argument("--network-delays", type=DELAY_MS, nargs="+",
                        default=[160, 320],
                        help="one-way delays of the jitter x loss sweep (default: %(default)s)")
    parser.add_argument("--network-partners", nargs="+", default=["candor"],
                        choices=["fisher", "candor"],
                        help="pairings of the jitter x loss sweep (each among --partners)"
                             " (default: %(default)s)")
    parser.add_argument("--contrast-delays", type=DELAY_MS, nargs="*",
                        default=[],
                        help="also write effects against these delays (effects_vs_delayD; "
                             "the smallest delay's are always written, as effects_vs_delay0)"
                             " (default: %(default)s)")
    parser.add_argument("--sweeps", nargs="+", default=["delay", "network"],
                        choices=["delay", "network"],
                        help="which of the two sweeps to run (full mode, without --factorial)"
                             " (default: %(default)s)")
    parser.add_argument("--factorial", action="store_true",
                        help="one full product sweep instead of the delay and network sweeps")
    return parser


def _check_args(parser: ArgumentParser, args: argparse.Namespace) -> None:
    """``--out`` and the flags checked together before any work, ``args.corpus`` resolved
    (:func:`reference_corpus`); a problem is one line (``parser.error``)."""
    check_out(args.out, OUTPUTS, "latency_sweep.py")  # before any work or world is made
    # (they went unread without a word: --smoke --delays 500 ran 0 and 320 ms, --smoke
    # --partners candor the fisher pairing); --contrast-delays is read (320 ms)
    parser.refuse_unread(args, "--smoke", (*SMOKE_UNREAD, "delays", "jitter", "loss",
                                           "estimation", "partners", "network_delays",
                                           "network_partners", "sweeps", "factorial"),
                         "smoke mode takes replay sides, the fisher pairing's delay sweep "
                         f"at {' and '.join(map(str, SMOKE_DELAYS_MS))} ms, one seed, 10 s")
    args.corpus = reference_corpus(parser, args.corpus)
    # the delays the sweeps that run have (the network sweep's alone when it runs alone)
    # (--smoke's own delays too: --smoke --contrast-delays 160 wrote no table, exit 0)
    flag, swept = (("the --smoke delays", SMOKE_DELAYS_MS) if args.smoke
                   else ("--delays", args.delays) if args.factorial or "delay" in args.sweeps
                   else ("--network-delays", args.network_delays))
    if stray := sorted(set(args.contrast_delays) - set(swept)):
        parser.error(f"--contrast-delays {' '.join(map(str, stray))}: not among {flag} "
                     f"{' '.join(map(str, swept))} (allowed: delays of the sweep)")
    # a network pairing not among the pairings run was skipped without a word (--partners
    # fisher with the default --network-partners candor ran no network sweep, and
    # --sweeps network then nothing at all, exit 0)
    if not args.smoke and not args.factorial and "network" in args.sweeps and \
            (stray := [p for p in args.network_partners if p not in args.partners]):
        parser.error(f"--network-partners {' '.join(stray)}: not among --partners "
                     f"{' '.join(args.partners)} (allowed: pairings that run, or --sweeps "
                     "delay for no network sweep)")


if __name__ == "__main__":
    raise SystemExit(run_reporting(main, "latency_sweep.py"))
