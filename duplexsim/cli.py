"""The ``duplexsim`` command.

Each subcommand lives next to the code it drives, in a module exposing
``add_arguments(parser)`` and ``run(args) -> int``. Only the chosen subcommand's
module is imported, so ``duplexsim validate`` does not pay for torch.

One error path for every command (:func:`main`): the project's own errors
(:class:`duplexsim.errors.DuplexsimError`) and the operating-system errors a user can fix
(missing, is-a-directory, not-a-directory, permission, read-only, no space:
:func:`duplexsim.errors.os_problem`) print one line per problem,
``file: key or position: what is wrong (allowed: ...)``, on stderr and exit 2; so do bad
command-line values (:class:`ArgumentParser`). Anything else is a bug and keeps its
traceback. Ctrl-C prints one line and exits 130. Commands check their inputs and output
folder before they start work.

Every subcommand takes ``--threads N`` (torch threads in this process and the worker
processes it starts; default ``$DUPLEXSIM_THREADS`` or 1, see :mod:`duplexsim.threads`).
"""

from __future__ import annotations

import argparse
import copy
import importlib
import os
import shlex
import signal
import sys
import threading
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from duplexsim.errors import DuplexsimError, finite_in, os_problem, plain_number, warning_printer

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "validate": ("duplexsim.config.cli",
                 "check scenario / agent-card / sweep / corpus-config files"),
    "corpus": ("duplexsim.corpora.cli",
               "build synthetic corpora, import real Fisher / CANDOR trees, print statistics"),
    "units": ("duplexsim.units.cli", "train a unit tokenizer (wav -> 25 Hz units)"),
    "train": ("duplexsim.training.cli", "train a SyncLLM or TDM agent from an agent card"),
    "continue": ("duplexsim.models.cli", "continue a prompt dialogue with a trained agent"),
    "simulate": ("duplexsim.sim.cli", "run a scenario: two agents across a simulated network"),
    "sweep": ("duplexsim.sweeps.cli", "run a grid of scenario fields x seeds"),
    "report": ("duplexsim.metrics.report", "write a markdown report with plots for a sweep"),
    "demo": ("duplexsim.demo.cli", "the whole mission end to end on embedded defaults"),
}


EXIT_BAD_INPUT = 2
"""Exit status for input a user can fix (argparse's own usage-error status)."""
EXIT_INTERRUPTED = 130
"""Exit status after Ctrl-C (128 + SIGINT, as shells report it)."""
EXIT_TERMINATED = 143  # 128 + SIGTERM


class Terminated(KeyboardInterrupt):
    """SIGTERM (``timeout``, a CI cancel, ``kill``) raised where the process is, so that
    whatever cleans up after Ctrl-C (a child process killed, a temporary file removed) runs
    for it too; a KeyboardInterrupt so that no ``except Exception`` swallows it."""


def _terminate(signum: int, frame: object) -> NoReturn:
    raise Terminated


class HelpFormatter(argparse.HelpFormatter):
    """argparse's help, with a list default shown as it is typed: ``(default: test val)``
    for ``--splits test val``, not the Python list ``['test', 'val']``; an empty one as
    ``none``. Every parser with a list default uses it (:class:`ArgumentParser` by default;
    the benchmarks' plain argparse parsers name it)."""

    def _expand_help(self, action: argparse.Action) -> str:
        if isinstance(action.default, (list, tuple)):
            action = copy.copy(action)  # (the parser's own action keeps its real default)
            action.default = shlex.join(map(str, action.default)) or "none"
        return super()._expand_help(action)


class ArgumentParser(argparse.ArgumentParser):
    """argparse, with a bad flag reported as one line: ``duplexsim CMD: --flag: what is wrong
    (allowed: ...)`` (exit 2), not a usage block; ``--help`` shows the usage and list defaults
    as typed (:class:`HelpFormatter`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        if message.startswith("argument "):
            flag, _, rest = message[len("argument "):].partition(": ")
            message = f"{flag.split('/')[-1]}: {rest}"
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: {message}\n")

    def add_threads(self, default: Any = None) -> None:
        """``--threads N``: torch threads per process (:func:`duplexsim.threads.use_threads`
        resolves ``None``: ``$DUPLEXSIM_THREADS`` or 1)."""
        self.add_argument("--threads", type=number(0, 1024, integer=True), default=default,
                          metavar="N",
                          help="torch threads per process (default: $DUPLEXSIM_THREADS or 1; "
                               "0 = torch's own setting); parallelism comes from processes")

    def require_distinct(self, flag: str, values: Sequence[Any], what: str = "a value",
                         allowed: str = "distinct values", show: bool = True,
                         key: Callable[[Any], Any] | None = None) -> None:
        """One line (exit 2) when two of ``values`` (compared by ``key``) are the same:
        ``FLAG [the values]: WHAT repeats (allowed: ALLOWED)``."""
        keys = [v if key is None else key(v) for v in values]
        if len(set(keys)) != len(keys):
            shown = f" {' '.join(map(str, values))}" if show else ""
            self.error(f"{flag}{shown}: {what} repeats (allowed: {allowed})")

    def refuse_unread(self, args: argparse.Namespace, mode: str, dests: Sequence[str],
                      takes: str) -> None:
        """One line (exit 2) when the flag ``mode`` (``--smoke``) is given with a flag of
        ``dests`` (argument names) set off its default: that mode fixes those settings
        (``takes``: to what), so the flag would go unread:
        ``FLAG with MODE: not read (allowed: leave FLAGS out; TAKES)``."""
        if getattr(args, mode.lstrip("-").replace("-", "_")) in (None, False):
            return
        given = [f"--{d.replace('_', '-')}" for d in dests
                 if getattr(args, d) != self.get_default(d)]
        if given:
            self.error(f"{given[0]} with {mode}: not read (allowed: leave "
                       f"{', '.join(given)} out; {takes})")

    def require_trained(self, flag: str, dirs: Sequence[str | Path]) -> None:
        """One line (exit 2) naming every folder of ``dirs`` that holds no trained agent
        (no ``agent.json``): ``FLAG: no trained agent at A, B (allowed: ...)``, naming
        ``--smoke`` where this parser has it."""
        missing = [str(d) for d in dirs if not (Path(d) / "agent.json").is_file()]
        if missing:
            smoke = "; or --smoke for a tiny world" if "--smoke" in \
                self._option_string_actions else ""
            self.error(f"{flag}: no trained agent at {', '.join(missing)} (allowed: a folder "
                       "that `duplexsim train agents/<card>.toml --out DIR` wrote, with "
                       f"agent.json{smoke})")


def number(low: float, high: float, *, integer: bool = False, low_open: bool = False,
           allowed: str | None = None) -> Callable[[str], float]:
    """An argparse ``type``: a finite number in ``[low, high]`` (``(low, high]`` with
    ``low_open``), a plain decimal integer with ``integer``
    (:func:`duplexsim.errors.plain_number`); anything else is a one-line error."""
    kind = "an integer" if integer else "a number"
    lo, hi = (f"{int(low):d}", f"{int(high):d}") if integer else (f"{low:g}", f"{high:g}")
    allowed = allowed or f"{kind} {'>' if low_open else '>='} {lo} and <= {hi}"

    def parse(text: str) -> float:
        value = plain_number(text, integer=integer)  # not int(): int("1_0") is 10
        if value is None:
            raise argparse.ArgumentTypeError(f"{text!r} is not {kind} (allowed: {allowed})")
        if not finite_in(value, low, high, low_open=low_open):
            raise argparse.ArgumentTypeError(f"{text} is out of range (allowed: {allowed})")
        return value

    parse.__name__ = "integer" if integer else "number"
    return parse


def chunk_ms_arg(text: str) -> int:
    """An argparse ``type``: a chunk size in ms, a multiple of the 40 ms frame (40 ..
    10000), as a scenario's ``chunk_ms`` must be."""
    from duplexsim.tokens import FRAME_MS  # (numpy: not at the CLI's import)

    allowed = f"a multiple of {FRAME_MS} (the frame) from {FRAME_MS} to 10000"
    value = int(number(FRAME_MS, 10_000, integer=True, allowed=allowed)(text))
    if value % FRAME_MS:
        raise argparse.ArgumentTypeError(f"{text} is not a multiple of {FRAME_MS} ms "
                                         f"(allowed: {allowed})")
    return value


def path_arg(text: str) -> Path:
    """An argparse ``type``: a path that is not empty or blank. To Python ``--out ""`` is
    the current folder: a run's files would land there (replacing an earlier run's)."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is an empty path (allowed: a file or "
                                         "folder path; '.' for the current folder)")
    return Path(text)


def report(error: BaseException) -> int | None:
    """Print ``error`` as one line per problem and return the exit status, or None when it is
    not an error a user can fix (a bug: the caller re-raises it)."""
    if isinstance(error, DuplexsimError):
        problems = error.problems
    elif isinstance(error, OSError) and (known := os_problem(error)) is not None:
        problems = [known]
    else:
        return None
    for problem in problems:
        print(problem, file=sys.stderr)
    return EXIT_BAD_INPUT


def _top_parser() -> argparse.ArgumentParser:
    lines = [f"  {name:<10} {help_}" for name, (_, help_) in COMMANDS.items()]
    return ArgumentParser(
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
    try:  # (simulate's module imports torch: seconds in which Ctrl-C gave a traceback)
        module = importlib.import_module(COMMANDS[name][0])
    except KeyboardInterrupt:
        print(f"duplexsim {name}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    parser = ArgumentParser(prog=f"duplexsim {name}", description=COMMANDS[name][1])
    module.add_arguments(parser)
    _add_threads(parser, None)
    args = parser.parse_args(argv[1:])
    from duplexsim.threads import use_threads

    try:
        use_threads(args.threads)  # --threads is checked; this checks $DUPLEXSIM_THREADS
    except ValueError as e:
        parser.error(str(e))
    return run_reporting(lambda: int(module.run(args) or 0), f"duplexsim {name}")


def _add_threads(parser: ArgumentParser, default: Any) -> None:
    """``--threads N`` on ``parser`` and on every action of its subcommands (``duplexsim
    corpus stats DIR --threads 1`` as well as ``duplexsim corpus --threads 1 stats DIR``);
    the actions' copies leave the value alone when not given (``SUPPRESS``)."""
    parser.add_threads(default)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):
                _add_threads(sub, argparse.SUPPRESS)


def run_reporting(run: Callable[[], int], name: str) -> int:
    """``run()``'s exit status, where a problem the user can fix (a
    :class:`DuplexsimError`, a known OS error: a missing file, a full disk) is one line per
    problem and its status (:func:`report`), anything else a bug with its traceback, and
    Ctrl-C one line naming ``name`` (the ``duplexsim`` commands and experiment scripts);
    SIGTERM is handled as Ctrl-C is (:class:`Terminated`, status 143). duplexsim's own
    warnings are one line too, ``NAME: warning: ...`` (:func:`warning_printer`)."""
    main_thread = threading.current_thread() is threading.main_thread()
    before = signal.signal(signal.SIGTERM, _terminate) if main_thread else None
    try:
        with warnings.catch_warnings():  # (the printer is put back after: main() in tests)
            warnings.showwarning = warning_printer(name)
            return run()
    except BrokenPipeError:  # `duplexsim corpus stats DIR | head`: the reader has gone
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # (the interpreter's final flush would fail)
        return 141  # 128 + SIGPIPE, as a shell pipeline reports it
    except (DuplexsimError, OSError) as e:
        status = report(e)
        if status is None:
            raise
        return status
    except KeyboardInterrupt as e:  # Ctrl-C: every write is atomic, a rerun resumes or redoes
        terminated = isinstance(e, Terminated)
        print(f"{name}: {'terminated' if terminated else 'interrupted'}", file=sys.stderr)
        return EXIT_TERMINATED if terminated else EXIT_INTERRUPTED
    finally:
        if before is not None:
            signal.signal(signal.SIGTERM, before)


if __name__ == "__main__":
    raise SystemExit(main())
