"""``duplexsim simulate SCENARIO --out DIR [--seed N]``: run a scenario, write its trace.

Owns the command line of the simulator only; the work is :func:`duplexsim.sim.run` and
:meth:`duplexsim.sim.trace.Trace.save`. Everything that can be checked is checked before
the simulation starts: the flags, the ``--out`` folder (writable, and no other command's
folder: a corpus, an agent, a sweep), the scenario and the files it names
(agents, corpora, jitter traces) and the unit tokenizer that will vocode ``audio.wav``.
Errors reach the user through ``duplexsim.cli.main`` (one line each, exit 2).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from duplexsim.cli import number, path_arg
from duplexsim.errors import MAX_DURATION_S, OutputError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("scenario", help="scenario TOML file (see scenarios/)")
    parser.add_argument("--out", type=path_arg, required=True,
                        help="output folder (created; an earlier run's files there are replaced)")
    parser.add_argument("--seed", type=number(0, 2**63 - 1, integer=True), default=None,
                        help="override the scenario's seed")
    parser.add_argument("--duration-s", type=number(0, MAX_DURATION_S, low_open=True),
                        default=None, help="override the scenario's duration (seconds)")
    parser.add_argument("--no-audio", action="store_true", help="do not write audio.wav")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from duplexsim.atomic import check_not_foreign, check_output_dir
    from duplexsim.config.cli import expect_kind, with_flags
    from duplexsim.config.scenario import load_scenario
    from duplexsim.sim.trace import RUN_MARKERS

    expect_kind(args.scenario, "scenario")
    check_output_dir(args.out)
    # the scenario file may be kept in the folder the simulation writes to (as a sweep's)
    check_not_foreign(args.out, RUN_MARKERS, "simulation", "a new or empty folder, or an earlier "
                      "simulation's folder (its files are replaced)", inputs=[args.scenario])
    _check_scenario_kept(args.scenario, Path(args.out))
    scenario = load_scenario(args.scenario, check_files=True)
    scenario = with_flags(scenario, "duplexsim simulate", seed=args.seed,
                          duration_s=args.duration_s)
    audio = scenario.output.audio and not args.no_audio
    if audio:  # (sides of two unit tokenizers: refused by load_scenario's file checks)
        _check_vocoder(scenario)

    from duplexsim.sim import run as simulate

    trace = simulate(scenario, progress=not args.quiet)
    trace.save(args.out, audio=audio)
    print(json.dumps(trace.summary(), indent=2, sort_keys=True))
    print(f"wrote {args.out}")
    return 0


def _check_scenario_kept(scenario: str, out: Path) -> None:
    """Refuse ``simulate dir/scenario.toml --out dir``: the resolved copy the trace is saved
    with would replace the user's scenario file (its comments, its layout, the defaults it
    left out). The ``scenario.toml`` of an earlier simulation in that folder (its trace
    beside it) is that run's own copy: rerunning it replaces it, as before."""
    from duplexsim.sim.trace import RUN_MARKERS

    copy = out / "scenario.toml"
    try:
        same = copy.is_file() and os.path.samefile(scenario, copy)
    except OSError:  # unreadable: load_scenario reports it
        return
    if same and not any((out / name).exists() for name in RUN_MARKERS if name != copy.name):
        raise OutputError(str(out), "--out", f"would overwrite the scenario file being run "
                          f"({scenario}) with its resolved copy", "another folder, or the "
                          "scenario file kept there under another name")


def _check_vocoder(scenario: object) -> None:
    """Load the unit tokenizer ``audio.wav`` will be vocoded with (a broken one fails now,
    not after the simulation); say so when there is none and the audio is a sonification."""
    from duplexsim.sim.build import tokenizer_dir

    where = tokenizer_dir(scenario)  # type: ignore[arg-type]
    if where is None:
        print("note: no unit tokenizer found with the agents or corpora: audio.wav is a "
              "sonification (a tone per speech frame), not vocoded speech", file=sys.stderr)
        return
    from duplexsim.units import load_tokenizer

    load_tokenizer(where)
