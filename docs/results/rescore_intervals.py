"""Re-derive committed reports' intervals from their committed raw tables (2026-12-07).

Since commit e28749b every bootstrap interval is the expanded percentile interval, and since
47c2836 each grid point of an effects table draws its resamples from its own stream; the
reports under docs/results made before kept the intervals of their day. This script makes,
in place and from the folder's committed raw table alone (nothing is simulated, no agent or
corpus is read), what today's code derives from it:

- ``sweep DIR...``: a folder of ``latency_sweep.py``, ``pairing.py`` or ``presets.py``: every
  effect table in it (``effects_*``, ``delay_cost_*``, ``partner_effect_*``: ``.csv`` and
  ``.md``), each against the contrast its title names, and ``latency.png`` where there is
  one, from ``results.parquet`` and ``sweep.toml``;
- ``handover DIR...``: a folder of ``handover.py``: ``summary.csv``, ``REPORT.md`` and
  ``handover.png``, from ``events.csv`` (split, chunk and context read off the REPORT.md it
  replaces; 1000 resamples, the script's default).

Each file it writes names this command and its commit, and keeps the line of the run that
made the raw table. Usage, from the repository root::

    python docs/results/rescore_intervals.py sweep docs/results/pairing
"""

from __future__ import annotations

import ast
import re
import shlex
import sys
import tomllib
from pathlib import Path

import duplexsim  # noqa: F401  (before numpy: it pins OpenBLAS, duplexsim/threads.py)

import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "experiments"))

from duplexsim.atomic import write_text  # noqa: E402
from duplexsim.provenance import commit  # noqa: E402

from effects import write_effects, write_interactions  # noqa: E402
from handover import report, summarize  # noqa: E402
from latency_sweep import plot_against_delay  # noqa: E402

EFFECTS = re.compile(r"# Effects vs (?P<contrast>\S+) = (?P<baseline>.+)")
INTERACTION = re.compile(r"# Effect of (?P<contrast>\S+) \(vs (?P<baseline>.+)\) against its "
                         r"effect at (?P<factor>\S+) = (?P<factor_baseline>.+)")
HANDOVER = re.compile(r"Every IPU end of the (?P<split>\S+) split followed by a (?P<chunk>\d+) "
                      r"ms chunk .* on the last (?P<context>\d+) chunks")


def note(command: str, raw: str, old: Path) -> str:
    """The line a re-derived file carries: this command and commit, and the line of the run
    that made ``raw`` (the third line of the file ``old`` it replaces, or of an earlier
    re-derivation)."""
    run = old.read_text(encoding="utf-8").splitlines()[2].split("The run: ", 1)[-1]
    if not run.startswith("Command: "):
        raise SystemExit(f"{old}: line 3 is not the run's command line: {run[:80]!r}")
    return f"Regenerated from the committed {raw} {command}; nothing re-simulated. The run: {run}"


def sweep(folder: Path, command: str) -> None:
    """Every effect table of a sweep folder again from its ``results.parquet``."""
    config = tomllib.loads((folder / "sweep.toml").read_text(encoding="utf-8"))["sweep"]
    keys = list(config["grid"])
    for md in sorted(folder.glob("*.md")):
        title = md.read_text(encoding="utf-8").splitlines()[0]
        line = note(command, "results.parquet", md) if title.startswith("# Effect") else ""
        if m := EFFECTS.fullmatch(title):
            eff = write_effects(folder, keys, m["contrast"], ast.literal_eval(m["baseline"]),
                                name=md.stem, note=line)
            if md.stem == "effects_vs_delay0" and (folder / "latency.png").is_file():
                plot_against_delay(eff, folder / "latency.png", config["name"], line)
        elif m := INTERACTION.fullmatch(title):
            write_interactions(folder, keys, m["contrast"], ast.literal_eval(m["baseline"]),
                               m["factor"], ast.literal_eval(m["factor_baseline"]),
                               name=md.stem, note=line)
        elif title.startswith("# Effect"):
            raise SystemExit(f"{md}: a title this script does not read: {title[:80]!r}")
        else:
            continue
        print(f"{md} and its csv", flush=True)


def handover(folder: Path, command: str) -> None:
    """A hand-over folder's summary, report and figure again from its ``events.csv``."""
    old = folder / "REPORT.md"
    m = HANDOVER.search(old.read_text(encoding="utf-8"))
    if m is None:
        raise SystemExit(f"{old}: no split, chunk and context found")
    line = note(command, "events.csv", old)
    events = pd.read_csv(folder / "events.csv")
    summary = pd.DataFrame([{"label": label, **summarize(events[events.label == label], 1000)}
                            for label in dict.fromkeys(events.label)])
    write_text(folder / "summary.csv", summary.to_csv(index=False))
    report(summary, events, folder, line, chunk_ms=int(m["chunk"]),
           context_chunks=int(m["context"]), split=None if m["split"] == "whole" else m["split"])
    print(f"{folder}: summary.csv, REPORT.md, handover.png", flush=True)


def main(argv: list[str]) -> int:
    kinds = {"sweep": sweep, "handover": handover}
    if len(argv) < 2 or argv[0] not in kinds:
        raise SystemExit(f"usage: {Path(__file__).name} {{{','.join(kinds)}}} DIR...")
    script = Path(__file__).resolve().relative_to(ROOT)
    command = f"at commit {commit()} by `{shlex.join(['python', str(script), *argv])}`"
    for folder in map(Path, argv[1:]):
        kinds[argv[0]](folder, command)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
