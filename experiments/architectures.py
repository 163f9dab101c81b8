"""Architectures (issue 17): SyncLLM vs TDM agents trained on the same corpus, across delay.

Two duplex architectures on the same units, model size and corpus: SyncLLM (``--agents``
``fisher/``, ``candor/``: interleaved chunks, estimates the partner ahead) and the
time-division-multiplexing agent (``fisher-tdm/``, ``candor-tdm/``: 1.2 s slices with
``<idle>``/``<eos>``, :mod:`duplexsim.agents.tdm`). For each corpus and architecture, two
partners: the agent itself (self-play) and a replay of a held-out corpus dialogue (its
channel 1, which never yields: every barge-in is a test of the agent), at one-way delays
``--delays`` (0 160 240 480 ms, ideal network otherwise), ``--seeds`` conversations of
``--duration-s`` each, 200 ms chunks, decision lead 1. Two agents of one kind share their
clocks, so two TDM agents in self-play decide their slices at the same instants; a third
partner, ``self-offset`` (0 ms only), shifts side B's clock by half a slice (-600 ms), as
two independent systems would be.

Scored on the agent speakers (both sides in self-play, side A against a replay):
- turn-taking against the corpus: FTO median of transitions into them (their response
  latency), share of those transitions made in overlap and the median transition overlap
  (their double talk, :func:`duplexsim.metrics.turntaking.event_durations`, as
  ``summarize_events`` reports it), backchannels per speaker-minute, IPU median, speech share;
- interruption recovery (:mod:`duplexsim.metrics.interruptions`): time from a barge-in
  (partner IPU >= 1 s starting while the agent is 0.4 s into an IPU) to the end of the
  agent's IPU, in ms, chunks and slices (a recovery cut off by the conversation's end, the
  agent's IPU running to the last frame, is left out of the median: only a lower bound;
  the report counts these beside each median);
- the failure signatures: zombie output (talks through the whole barge-in) and deafness
  (a partner IPU >= 1 s ends and nobody speaks for 2 s).
The corpora's test splits (all dialogues of a corpus with none, and the report says so)
are scored the same way (both channels as agents). Statistics
are pooled over ``--block-s`` blocks (15 s) of every conversation; 95% CIs by a two-level
bootstrap (:func:`architectures_stats.resampled`) within a grid point: the clusters with
replacement, then the blocks of each drawn cluster with replacement. A cluster is a
conversation (its seed), and against a replay the replayed dialogue: with more ``--seeds``
than test dialogues, seeds replay one dialogue again (``seed % dialogues``) and are one
cluster; a corpus row's clusters are its dialogues. The resampled units are the clusters: below
``intervals.MIN_BOOT_UNITS`` of them there is no CI (the value alone). (Blocks resampled as
if independent gave intervals too narrow: a conversation's blocks are alike.) TDM - SyncLLM
differences are paired: the two architectures play the same seeds (against a replay, the
same dialogues), so a cluster, and within it the block of one seed and position, is drawn
for both at once. "Nearer own corpus": in self-play at 0 ms, ``|x - other corpus| - |x -
own corpus|`` for backchannels/min and FTO median, with its CI (resampling the agent's
clusters and each corpus's dialogues).

Writes ``OUT/conversations/*.npz`` (the played units, reused on rerun while the
scenario and its agents' and corpora's files are the same), ``OUT/
per_conversation.csv``, ``OUT/summary.csv``, ``OUT/differences.csv`` (TDM - SyncLLM),
``OUT/nearer.csv``, ``OUT/REPORT.md`` and ``OUT/architectures.png``.

    python experiments/architectures.py --out runs/architectures             # full
    python experiments/architectures.py --smoke --out /tmp/architectures     # tiny, seconds

Smoke mode builds a tiny world (:mod:`tiny_world`: two small corpora, tiny SyncLLM agents)
and trains tiny TDM agents through ``duplexsim train`` on cards it writes, then runs delays
0 and 480 ms, one seed, 8 s conversations.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from duplexsim.atomic import atomic_path, write_text
from duplexsim.cli import ArgumentParser, number, path_arg, run_reporting
from duplexsim.metrics.activity import vad_from_units
from duplexsim.metrics.intervals import MIN_BOOT_UNITS

import numpy as np
from architectures_grid import (  # the plan, its grid of conversations, their scenarios
    ARCHS,
    CORPORA,
    Plan,
    agent_dir,
    grid,
    held_out,
    held_out_dialogues,
    replayed,
    scenario,
)
from architectures_report import plot, report  # REPORT.md and architectures.png
from architectures_stats import differences, nearer, score  # blocks, bootstrap, CIs
from cached import conversation_path  # the conversation cache, keyed by its inputs
from outdir import check_out  # --out: writable, and not another folder's
from provenance import provenance  # the report line (command and commit)
from tqdm import tqdm

OUTPUTS = ("world", "conversations", "summary.csv", "differences.csv", "nearer.csv",
           "architectures.png", "REPORT.md")
"""What architectures.py writes in --out: a folder holding one of them is an earlier run's."""


def simulate_all(plan: Plan) -> dict[str, np.ndarray]:
    """Every conversation's played units ``[2, T]`` (cached in OUT/conversations)."""
    from duplexsim.sim import run

    tests = held_out_dialogues(plan)
    units = {}
    cells = grid(plan)
    for cell in tqdm(cells, desc="conversations", unit="conv"):
        s = scenario(plan, cell["corpus"], cell["arch"], cell["partner"], cell["delay_ms"],
                     cell["seed"], replayed(tests, cell["corpus"], cell["seed"]))
        path = conversation_path(plan.out, s)
        if not path.is_file():
            trace = run(s)
            with atomic_path(path) as tmp, open(tmp, "wb") as f:
                np.savez_compressed(f, units=np.asarray(trace.units, np.int64))
        units[s.name] = np.load(path)["units"]
    return units


def run_plan(plan: Plan, command: str) -> Path:
    from duplexsim.corpora import load_corpus

    units = simulate_all(plan)
    first = load_corpus(plan.corpora / CORPORA["fisher"])
    silence = set(first.tokenizer().silence_units)
    held = held_out(plan)
    dialogues = {c: ids for c, (ids, _) in held.items()}
    corpus_vads = {}
    for c, p in CORPORA.items():
        corpus = load_corpus(plan.corpora / p)
        corpus_vads[c] = [vad_from_units(corpus.units(i), silence)
                          for i in dialogues[c]]
    summary, draws, labelled = score(plan, units, silence, corpus_vads, dialogues)
    diffs, near = differences(plan, labelled, summary), nearer(draws, summary)
    for name, table in (("summary", summary), ("differences", diffs), ("nearer", near)):
        with atomic_path(plan.out / f"{name}.csv") as tmp:
            table.to_csv(tmp, index=False, float_format="%.6g")
    write_text(plan.out / "REPORT.md", report(plan, summary, diffs, near, command,
                                              {c: what for c, (_, what) in held.items()}))
    plot(plan, summary, plan.out / "architectures.png", command)
    return plan.out / "REPORT.md"


# ---------------------------------------------------------------------- smoke world
def smoke_world(root: Path) -> tuple[Path, Path]:
    """Tiny corpora and SyncLLM agents (:mod:`tiny_world`) plus tiny TDM agents trained with
    ``duplexsim train`` on cards written here."""
    from duplexsim.cli import main as cli
    from duplexsim.corpora import load_corpus

    from tiny_world import build_tiny_world

    agents, corpora = build_tiny_world(root)
    for corpus, preset in CORPORA.items():
        out = agents / f"{corpus}-tdm"
        if (out / "agent.json").is_file():
            continue
        n_units = load_corpus(corpora / preset).n_units
        card = root / "cards" / f"{corpus}-tdm.toml"
        stage = "steps = 3\nbatch_tokens = 512\nseq_len = 128\nwarmup_steps = 1\nlr = 3e-3\n"
        write_text(card, f'[agent]\nname = "{corpus}-tdm"\ncorpus_preset = "{preset}"\n'
                         f'kind = "tdm"\n[model]\nsize = "tiny"\nn_units = {n_units}\n'
                         'text_vocab_size = 300\n[train]\nbf16 = false\nval_every = 3\n'
                         'val_batches = 1\ncheckpoint_every = 3\n[stage1]\nenabled = false\n'
                         f'[stage2]\n{stage}[stage3]\n{stage}[tdm]\nslice_ms = [1200]\n'
                         'window_slices = 6\ninterruption_prob = 0.5\n')
        code = cli(["train", str(card), "--corpus", str(corpora / preset), "--out", str(out),
                    "--no-progress"])
        if code:
            raise SystemExit(f"training {card} failed ({code})")
    return agents, corpora


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=path_arg, default=Path("runs/architectures"),
                        help="output folder (new or empty, or an earlier run's of this script) "
                             "(default: %(default)s)")
    parser.add_argument("--agents", type=Path, default=Path("runs/agents"),
                        help="trained agents' folder, with fisher/, candor/, fisher-tdm/ and "
                             "candor-tdm/ (default: %(default)s)")
    parser.add_argument("--corpora", type=Path, default=Path("runs/corpora"),
                        help="built corpora's folder, with fisher-like/ and candor-like/ "
                             "(default: %(default)s)")
    parser.add_argument("--smoke", action="store_true", help="tiny world built in OUT/world")
    parser.add_argument("--delays", type=number(0, 600_000, integer=True), nargs="+",
                        default=[0, 160, 240, 480],
                        help="one-way delays (ms, distinct); the first is self-offset's"
                             " (default: %(default)s)")
    # fewer than MIN_BOOT_UNITS conversations give no interval at all
    parser.add_argument("--seeds", type=number(MIN_BOOT_UNITS, 100_000, integer=True),
                        default=Plan.seeds,
                        help=f"conversations per grid point (seeds 0..N-1; at least "
                             f"{MIN_BOOT_UNITS}, as an interval needs) (default: %(default)s)")
    parser.add_argument("--duration-s", type=number(0, 86_400, low_open=True), default=60.0,
                        help="length of each conversation in s (default: %(default)s)")
    parser.add_argument("--block-s", type=number(0, 86_400, low_open=True), default=15.0,
                        help="block length (s): the inner level of the bootstrap"
                             " (default: %(default)s)")
    parser.add_argument("--n-boot", type=number(1, 1_000_000, integer=True), default=1000,
                        help="bootstrap resamples of the 95%% CIs (default: %(default)s)")
    parser.add_argument("--temperature", type=number(0, 100), default=1.0,
                        help="sampling temperature of the agents (1.0: the model's own "
                             "distribution) (default: %(default)s)")
    parser.add_threads()
    args = parser.parse_args(argv)
    check_out(args.out, OUTPUTS, "architectures.py")  # before any work or world is made
    from duplexsim.threads import use_threads

    use_threads(args.threads)
    parser.require_distinct("--delays", args.delays)  # one cell's blocks would count twice
    command = provenance("architectures.py", argv)
    plan = Plan(agents=args.agents, corpora=args.corpora, out=args.out,
                delays=tuple(args.delays), seeds=args.seeds, duration_s=args.duration_s,
                block_s=args.block_s, n_boot=args.n_boot, temperature=args.temperature)
    if args.smoke:
        agents, corpora = smoke_world(args.out / "world")
        plan = replace(plan, agents=agents, corpora=corpora, delays=(0, 480), seeds=1,
                       duration_s=8.0, block_s=4.0, n_boot=100)
    parser.require_trained("--agents", [agent_dir(plan, c, a) for c in CORPORA for a in ARCHS])
    path = run_plan(plan, command)
    print(json.dumps({"report": str(path)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(run_reporting(main, "architectures.py"))
