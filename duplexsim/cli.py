"""The ``duplexsim`` command.

Each subcommand lives next to the code it drives, in a module exposing
``add_arguments(parser)`` and ``run(args) -> int``. Only the chosen subcommand's
module is imported, so ``duplexsim validate`` does not pay for torch.

Every subcommand takes ``--threads N`` (torch threads in this process and the worker
processes it starts; default ``$DUPLEXSIM_THREADS`` or 1, see :mod:`duplexsim.threads`).
"""

from __future__ import annotations

import argparse
import importlib
import sys

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "validate": ("duplexsim.config.cli", "check scenario / agent-card / sweep files"),
    "corpus": ("duplexsim.corpora.cli", "build synthetic corpora, print corpus statistics"),
    "units": ("duplexsim.units.cli", "train a unit tokenizer (wav -> 25 Hz units)"),
    "train": ("duplexsim.training.cli", "train a SyncLLM agent from an agent card"),
    "continue": ("duplexsim.models.cli", "continue a prompt dialogue with a trained agent"),
    "simulate": ("duplexsim.sim.cli", "run a scenario: two agents across a simulated network"),
    "sweep": ("duplexsim.sweeps.cli", "run a grid of scenario fields x seeds"),
    "report": ("duplexsim.metrics.report", "write a markdown report with plots for a sweep"),
    "demo": ("duplexsim.demo", "the whole mission end to end on embedded defaults"),
}


def _top_parser() -> argparse.ArgumentParser:
    lines = [f"  {name:<10} {help_}" for name, (_, help_) in COMMANDS.items()]
    return argparse.ArgumentParser(
        prog="duplexsim",
        description="Full-duplex SyncLLM agents across a simulated network.",
        epilog="commands:\n" + "\n".join(lines) + "\n\n'duplexsim COMMAND --help' for details.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    top = _top_parser()
    top.add_argument("command", choices=sorted(COMMANDS), metavar="COMMAND")
    if not argv or argv[0] in ("-h", "--help"):
        top.print_help()
        return 0 if argv else 2
    if argv[0] == "--version":
        from duplexsim import __version__

        print(__version__)
        return 0
    if argv[0] not in COMMANDS:
        top.error(f"unknown command {argv[0]!r} (allowed: {', '.join(COMMANDS)})")
    name = argv[0]
    module = importlib.import_module(COMMANDS[name][0])
    parser = argparse.ArgumentParser(prog=f"duplexsim {name}", description=COMMANDS[name][1])
    module.add_arguments(parser)
    parser.add_argument("--threads", type=int, default=None, metavar="N",
                        help="torch threads per process (default: $DUPLEXSIM_THREADS or 1; "
                             "0 = torch's own setting); parallelism comes from processes")
    args = parser.parse_args(argv[1:])
    from duplexsim.threads import use_threads

    try:
        use_threads(args.threads)
    except ValueError as e:
        parser.error(str(e))
    return int(module.run(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
