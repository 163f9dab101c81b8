"""Run every benchmark module in turn (``make bench``), or one with its own arguments:
``python -m duplexsim.bench bench_envs --agent runs/agents/fisher`` (``envs`` works too)."""

from __future__ import annotations

import importlib
import pkgutil
import sys

import duplexsim.bench as bench_pkg


def names() -> list[str]:
    modules = pkgutil.iter_modules(bench_pkg.__path__)
    return sorted(m.name for m in modules if m.name.startswith("bench_"))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("-h", "--help"):
        print("usage: python -m duplexsim.bench [NAME [ARGS...]]\n\n"
              "no NAME: every benchmark in turn (make bench); NAME: that one with its own "
              "arguments\n(NAME --help lists them). NAME, with or without the bench_ prefix: "
              + ", ".join(names()))
        return 0
    if argv:  # one benchmark, the rest of the line its arguments
        name = argv[0] if argv[0].startswith("bench_") else f"bench_{argv[0]}"
        if name not in names():
            print(f"duplexsim.bench: unknown benchmark {argv[0]!r} "
                  f"(allowed: {', '.join(names())})", file=sys.stderr)
            return 2
        from duplexsim.cli import run_reporting

        module = importlib.import_module(f"duplexsim.bench.{name}")
        # bad input (a missing --agent) is one line, as in the duplexsim commands
        return run_reporting(lambda: int(module.main(argv[1:]) or 0),
                             f"python -m duplexsim.bench {argv[0]}")
    failed = []
    for name in names():
        print(f"\n=== {name} ===", flush=True)
        module = importlib.import_module(f"duplexsim.bench.{name}")
        try:
            rc = module.main([])
        except Exception as e:  # report and go on: one broken benchmark should not hide the rest
            print(f"{name} failed: {e!r}")
            rc = 1
        if rc:
            failed.append(name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
