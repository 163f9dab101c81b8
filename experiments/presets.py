"""Network presets (issue 7): every preset of DESIGN.md between two agents.

Full mode: a fisher agent against a candor agent (``--agents runs/agents``), every preset,
20 seeds, 60 s (``--seeds``, ``--duration-s`` scale it). Smoke mode (``--smoke``): replay
sides, two presets, one seed, 10 s.
Writes ``OUT/sweep.toml``, results and ``OUT/report/REPORT.md`` (x axis: the preset).

    python experiments/presets.py --out runs/presets
    python experiments/presets.py --smoke --out /tmp/presets
"""

from __future__ import annotations

from pathlib import Path

from duplexsim.atomic import write_png, write_text
from duplexsim.cli import run_reporting
from duplexsim.metrics.report import write_report
from duplexsim.sweeps.config import SweepConfig, dump_sweep, load_sweep
from duplexsim.sweeps.runner import SWEEP_OUTPUTS, run_sweep
from duplexsim.threads import use_threads

from effects import SMOKE_UNREAD, reference_corpus, sweep_parser, write_effects
from outdir import check_out  # --out: writable, and not another folder's
from provenance import provenance  # the report line (command and commit)

OUTPUTS = ("base.toml", "sweep.toml", *SWEEP_OUTPUTS)
"""What presets.py writes in --out: a folder holding one of them is an earlier run's."""

PRESETS = ["lan", "metro", "continental", "transatlantic", "transpacific", "wifi-congested",
           "mobile-lte", "mobile-5g", "satellite-leo", "satellite-geo"]


def base_scenario(smoke: bool, agents: Path) -> str:
    if smoke:
        sides = '[a]\nkind = "replay"\n[b]\nkind = "replay"\n'
    else:
        sides = (f'[a]\nkind = "syncllm"\nagent = "{agents / "fisher"}"\n'
                 f'[b]\nkind = "syncllm"\nagent = "{agents / "candor"}"\n')
    return (f'name = "presets"\nchunk_ms = 160\nduration_s = 60.0\n{sides}'
            '[network]\npreset = "lan"\n[output]\naudio = false\n')


PLOTTED = ("fto_median_ms", "gap_median_ms", "overlap_share", "takeover_rate",
           "mouth_to_ear_mean_ms", "est_unit_accuracy")


def plot_presets(out: Path, caption: str | None = None) -> Path:
    """Bar chart per key metric against the preset (mean and 95% CI over seeds); ``caption``:
    the command and commit that made it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    summary = pd.read_csv(out / "report" / "summary.csv")
    metrics = [m for m in PLOTTED if m in summary.columns]
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.2 * len(metrics), 3.6))
    for ax, m in zip(axes, metrics, strict=True):
        ax.bar(range(len(summary)), summary[m], yerr=summary[f"{m}_ci95"].fillna(0),
               capsize=3)
        ax.set_xticks(range(len(summary)), summary["network.preset"], rotation=60,
                      ha="right", fontsize=7)
        ax.set_title(m, fontsize=9)
    path = out / "report" / "presets.png"
    write_png(fig, path, caption=caption)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = sweep_parser(__doc__, "runs/presets")
    args = parser.parse_args(argv)
    check_out(args.out, OUTPUTS, "presets.py")  # before any work or world is made
    # (they went unread without a word: --smoke --seeds 5 ran one seed)
    parser.refuse_unread(args, "--smoke", SMOKE_UNREAD,
                         "smoke mode takes replay sides, the lan and satellite-geo presets, "
                         "one seed, 10 s")
    args.corpus = reference_corpus(parser, args.corpus)
    use_threads(args.threads)  # this process and the sweep workers it starts
    if not args.smoke:
        parser.require_trained("--agents", [args.agents / n for n in ("fisher", "candor")])
    base = args.out / "base.toml"
    write_text(base, base_scenario(args.smoke, args.agents))
    sweep = SweepConfig(
        name="presets-smoke" if args.smoke else "presets", base=str(base),
        seeds=(0,) if args.smoke else tuple(range(args.seeds)), workers=args.workers,
        batch=args.batch,
        set={"duration_s": 10.0 if args.smoke else args.duration_s},
        grid={"network.preset": ["lan", "satellite-geo"] if args.smoke else PRESETS})
    write_text(args.out / "sweep.toml", dump_sweep(sweep))
    line = provenance("presets.py", argv)  # the code of the moment the run starts
    table = run_sweep(load_sweep(args.out / "sweep.toml"), args.out, progress=True)
    write_effects(args.out, ["network.preset"], "network.preset", "lan", name="effects_vs_lan",
                  note=line)
    report = write_report(args.out, corpus=args.corpus, provenance=line)
    print(f"{len(table)} cells -> {report}, {plot_presets(args.out, line)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_reporting(main, "presets.py"))
