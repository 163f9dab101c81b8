"""Corpus-building speed (``python -m duplexsim.bench.bench_corpus``); prints ratios, asserts
nothing.

1. Utterances: espeak-ng's fork server (:mod:`duplexsim.corpora.tts`, the default) against
   the ``espeak-ng`` command per utterance (the fallback, and how corpora were made before),
   on the same texts and voices; the samples are checked equal.
2. One conversation rendered (``corpus build``'s per-conversation job: turn-taking, speech,
   telephone band, audio and transcripts written), fisher-like, 120 s, with each of the two,
   each time into an empty TTS cache.

Each pair runs side by side, the order rotated per repeat, ``--repeats`` times (a shared
machine moves the absolute speeds; the ratios are what to read).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from duplexsim.bench.measure import interleaved, spread
from duplexsim.cli import HelpFormatter, number
from duplexsim.corpora import tts
from duplexsim.corpora.tts import Voice

VOICES = (Voice("en-us+f3", 50, 205), Voice("en-gb+f1", 28, 156), Voice("en-us+m3", 40, 180))


def utterances(n: int) -> list[tuple[str, Voice]]:
    from duplexsim.corpora.speakers import TextStream

    text = TextStream(np.random.default_rng(0))
    return [(text.take(1 + i % 12), VOICES[i % len(VOICES)]) for i in range(n)]


def command_only() -> None:
    """This process's utterances from the command from now on (a server that has stopped)."""
    server = tts._server()
    server.close()


def server_again() -> None:
    tts._SERVER = None


def render_one(index: int) -> float:
    """Seconds to render conversation ``index`` of a 120 s fisher-like corpus, empty cache."""
    from duplexsim.corpora.build import _render
    from duplexsim.corpora.config import load_config

    cfg = dataclasses.replace(load_config("fisher-like"), conversation_s=120.0)
    with tempfile.TemporaryDirectory(prefix="bench-corpus-") as tmp:
        for sub in ("audio", "fisher", "candor"):
            os.makedirs(Path(tmp) / sub)
        t0 = time.perf_counter()
        _render((cfg, 0, index, tmp, str(Path(tmp) / "tts")))
        return time.perf_counter() - t0


def side_by_side(label: str, base: Callable[[], float], cand: Callable[[], float],
                 repeats: int, unit: str) -> None:
    """Each returns the seconds of its timed part; ``repeats`` of both, the order rotated
    per repeat (:func:`duplexsim.bench.measure.interleaved`)."""
    runs = interleaved([base, cand], repeats)
    times = [(b, c) for (_, b), (_, c) in zip(*runs, strict=True)]  # (baseline, candidate) s
    lo, med, hi = spread([b / c for b, c in times])
    b_med = statistics.median(b for b, _ in times)
    c_med = statistics.median(c for _, c in times)
    print(f"{label:<52} {lo:5.2f}x {med:5.2f}x {hi:5.2f}x   {b_med:7.2f} -> {c_med:7.2f} {unit}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m duplexsim.bench.bench_corpus",
                                description=__doc__.splitlines()[0],
                                formatter_class=HelpFormatter)
    p.add_argument("--utterances", type=number(1, 100_000, integer=True), default=120,
                   help="utterances synthesised by each of the fork server and the command "
                        "(default: %(default)s)")
    p.add_argument("--repeats", type=number(1, 1000, integer=True), default=3,
                   help="side-by-side repeats of each comparison (default: %(default)s)")
    args = p.parse_args(argv)
    from duplexsim.corpora.calibration import population_centres
    from duplexsim.corpora.config import load_config

    population_centres(load_config("fisher-like"))  # a constant of the preset: not timed
    todo = utterances(args.utterances)
    for text, voice in todo[:10]:
        same = np.array_equal(tts._espeak(text, voice), tts._espeak_command(text, voice))
        if not same:
            print(f"the server and the command differ on {text!r} ({voice.key()})")
            return 1

    def timed(fn: Callable[[str, Voice], np.ndarray]) -> Callable[[], float]:
        def run() -> float:
            t0 = time.perf_counter()
            for text, voice in todo:
                fn(text, voice)
            return time.perf_counter() - t0
        return run

    def command_render() -> float:
        command_only()
        try:
            return render_one(0)
        finally:
            server_again()

    print(f"espeak-ng: fork server vs command, {args.utterances} utterances; one conversation "
          f"(fisher-like, 120 s); {args.repeats} repeats, ratios min / median / max")
    print(f"{'':<52} {'min':>6} {'median':>6} {'max':>6}   baseline -> candidate")
    side_by_side("utterances: fork server vs espeak-ng command", timed(tts._espeak_command),
                 timed(tts._espeak), args.repeats, "s")
    def server_render() -> float:
        tts._server()  # running before the clock, as in a build's worker after its first job
        return render_one(0)

    side_by_side("one conversation rendered: server vs command", command_render,
                 server_render, args.repeats, "s")
    return 0


if __name__ == "__main__":
    from duplexsim.cli import run_reporting

    sys.exit(run_reporting(main, "python -m duplexsim.bench.bench_corpus"))  # bad input: one line
