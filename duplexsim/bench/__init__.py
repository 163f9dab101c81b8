"""Benchmarks: speed is measured here, as ratios against a baseline run side by side.

Each ``bench_*.py`` module has a ``main(argv=None) -> int`` and runs alone with
``python -m duplexsim.bench.bench_NAME``; ``python -m duplexsim.bench`` (``make bench``)
runs them all in turn. Nothing here is imported by the library, and no test asserts a time.
"""
