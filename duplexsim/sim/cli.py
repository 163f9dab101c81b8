"""``duplexsim simulate SCENARIO --out DIR [--seed N]``: run a scenario, write its trace.

Owns the command line of the simulator only; the work is :func:`duplexsim.sim.run` and
:meth:`duplexsim.sim.trace.Trace.save`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys

from duplexsim.config.loader import ConfigError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("scenario", help="scenario TOML file (see scenarios/)")
    parser.add_argument("--out", required=True, help="output directory (created)")
    parser.add_argument("--seed", type=int, default=None, help="override the scenario's seed")
    parser.add_argument("--duration-s", type=float, default=None,
                        help="override the scenario's duration (seconds)")
    parser.add_argument("--no-audio", action="store_true", help="do not write audio.wav")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from duplexsim.config.scenario import load_scenario
    from duplexsim.sim import run as simulate

    try:
        scenario = load_scenario(args.scenario, check_files=True)
        if args.seed is not None:
            scenario = dataclasses.replace(scenario, seed=args.seed)
        if args.duration_s is not None:
            scenario = dataclasses.replace(scenario, duration_s=args.duration_s)
        trace = simulate(scenario, progress=not args.quiet)
    except ConfigError as e:
        print(str(e), file=sys.stderr)
        return 1
    except (ValueError, FileNotFoundError) as e:
        print(f"{args.scenario}: {e}", file=sys.stderr)
        return 1
    trace.save(args.out, audio=False if args.no_audio else None)
    print(json.dumps(trace.summary(), indent=2, sort_keys=True))
    print(f"wrote {args.out}")
    return 0
