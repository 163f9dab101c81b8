"""Network presets (issue 7): every preset of DESIGN.md between two agents.

Full mode: a fisher agent against a candor agent (``--agents runs/agents``), every preset,
3 seeds, 60 s (``--seeds``, ``--duration-s`` scale it). Smoke mode (``--smoke``): replay
sides, two presets, one seed, 10 s.
Writes ``OUT/sweep.toml``, results and ``OUT/report/REPORT.md`` (x axis: the preset).

    python experiments/presets.py --out runs/presets
    python experiments/presets.py --smoke --out /tmp/presets
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from duplexsim.atomic import write_text
from duplexsim.metrics.report import write_report
from duplexsim.sweeps.config import SweepConfig, dump_sweep, load_sweep
from duplexsim.sweeps.runner import run_sweep

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("runs/presets"))
    parser.add_argument("--agents", type=Path, default=Path("runs/agents"))
    parser.add_argument("--smoke", action="store_true", help="tiny budget, no trained agents")
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 (full mode)")
    parser.add_argument("--duration-s", type=float, default=60.0, help="full mode")
    args = parser.parse_args(argv)
    if not args.smoke:
        missing = [n for n in ("fisher", "candor")
                   if not (args.agents / n / "agent.json").is_file()]
        if missing:
            print(f"no trained agent(s) {missing} under {args.agents}; or run with --smoke",
                  file=sys.stderr)
            return 2
    base = args.out / "base.toml"
    write_text(base, base_scenario(args.smoke, args.agents))
    sweep = SweepConfig(
        name="presets-smoke" if args.smoke else "presets", base=str(base),
        seeds=(0,) if args.smoke else tuple(range(args.seeds)), workers=args.workers,
        set={"duration_s": 10.0 if args.smoke else args.duration_s},
        grid={"network.preset": ["lan", "satellite-geo"] if args.smoke else PRESETS})
    write_text(args.out / "sweep.toml", dump_sweep(sweep))
    table = run_sweep(load_sweep(args.out / "sweep.toml"), args.out, progress=True)
    print(f"{len(table)} cells -> {write_report(args.out)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
