"""Run every benchmark module in turn (``make bench``)."""

from __future__ import annotations

import importlib
import pkgutil
import sys

import duplexsim.bench as bench_pkg


def main() -> int:
    modules = pkgutil.iter_modules(bench_pkg.__path__)
    names = sorted(m.name for m in modules if m.name.startswith("bench_"))
    failed = []
    for name in names:
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
