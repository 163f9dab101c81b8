"""Continuation study (issue 7, paper section 5, Tables 2 / 6 / 7; issue 4 "nearer own corpus").

Protocol (:mod:`duplexsim.metrics.protocol`): each held-out dialogue of both corpora is cut
into a prompt (default 30 s) and the ground-truth continuation that follows it (90 s).
SyncLLM-F and SyncLLM-C (``--agents DIR`` with ``fisher/`` and ``candor/``) continue every
prompt at chunk sizes 160/200/240 ms (``continue_dialogue``: the model speaks for both
sides). Sources scored per prompt (mean IPU, pause, FTO, gap, overlap durations):

- ``syncllm-f-160`` ... ``syncllm-c-240``: the agents' continuations (one row per seed;
  with several seeds every r is computed per seed, one continuation per prompt as in the
  paper, and averaged over the seeds: :func:`~duplexsim.metrics.protocol.correlations`);
- ``inter-ff-160`` ... ``inter-fc-240`` (``--pairs``): prompted interaction, the Table 6
  analogue (:func:`~duplexsim.models.continuation.interact_dialogues`): the first agent
  speaks channel 0, the second channel 1, each deciding its chunk ``j`` with the other's
  real chunks up to ``j - 2`` (lookahead 1, the simulator at 0 ms; ``--lead 0``: ``j - 1``);
- ``resynth``: the topline, the ground-truth continuation's units vocoded to audio with the
  unit tokenizer's vocoder (Griffin-Lim) and encoded back to units with the same tokenizer,
  each channel on its own (the paper resynthesises audio -> HuBERT units the same way);
- ``format-160`` ... ``format-240``: the ground truth through the SyncLLM token format and
  back at that chunk size, what a perfect agent would play (onsets move to the chunk grid);
- ``prompt``: the prompt's own statistics used as a prediction of the continuation's.

Every source but the prompt is scored on the same frames, those of the ground-truth
continuation (:func:`continuation_sources.scored_window`): an agent sees the prompt cut to
whole chunks (at 160 ms a 30 s prompt is 187 chunks, 29.92 s) and writes chunks until the
continuation's last frame is covered; the format references are cut to the same frames.

Tables: Pearson r across prompts against the ground truth (Table 2 / 6 analogues, per prompt
corpus and pooled) and against the prompt (Table 7), each with a 95% bootstrap CI over
prompts, and each agent's in-distribution average beside its corpus's Prompt row (the
ratio issue 16 asks to reach 0.6); per agent, FTO median, backchannels
per minute, listener onsets per listening second and overlap share of its continuations of
its own corpus's prompts against both corpora, as recorded and through the token format,
and against the same prompts' ground truth through the format (each pooled over
dialogues; bootstrap 95% CI over prompts, a drawn prompt bringing all its continuations:
its seeds and, in the rows that pool chunk sizes, those); the same statistics for every source
(``sources.csv``); style persistence, r against the prompt per window of the
continuation (``persistence.csv``, ``--windows``). ``--no-resynth`` skips the
resynthesis topline (about 30 s per prompt). Sampling: ``--temperature`` (default 1.0,
the model's own distribution: 0.9, the simulator's default, suppresses onsets). Writes
``OUT/REPORT.md``, CSVs and ``OUT/continuation.png``; generated units are cached in
``OUT/units/`` so a rerun resumes (each file keyed by what it is made from: the agents'
files, the prompt's units, the unit tokenizer and the sampling settings; a retrained agent
or a re-encoded prompt is generated anew).

Several training runs of the cards (``--agents A B C``, each a folder with ``fisher/`` and
``candor/``, e.g. ``duplexsim train CARD --seed K``): the study runs once per run on the same
prompts (``OUT/runs/runK/``, the units cached once in ``OUT/units/``), and ``OUT/REPORT.md``
gives every r as the mean over runs with a CI that resamples prompts, then runs
(:func:`~duplexsim.metrics.protocol.correlations_over_runs`), beside each run alone.

    python experiments/continuation.py --out runs/continuation          # full
    python experiments/continuation.py --smoke --out /tmp/continuation  # tiny world, seconds
    python experiments/continuation.py --asr ...   # + ASR perplexity (needs duplexsim[asr])

Smoke mode builds a tiny world (:mod:`tiny_world`: two 4 x 12 s corpora, tiny agents trained
for a few steps) and runs the same path with a 3 s prompt and a 6 s continuation.

``--asr`` (off by default) adds the text route of the semantic proxy
(:mod:`duplexsim.metrics.asr`): every scored continuation's channels are transcribed by
Whisper tiny.en and the transcripts scored by the en-us trigram LM, giving columns
``asr_ppl``, ``asr_oov_rate``, ``asr_words``, ``asr_repeat_rate`` (both channels pooled) and
``asr_wer``. Audio:
``ground_truth`` = the corpus audio of the continuation span (WER against the corpus
transcript of the segments centred in it), ``resynth`` = the ground-truth units vocoded
(the audio that ``resynth`` re-encodes; same WER reference), agents = their units vocoded;
the prompt row gets none. Results are cached in ``OUT/asr/``, each row keyed by what it
transcribes (the audio, or the units and their vocoder), its WER reference and the ASR's
versions and settings (:func:`continuation_asr.asr_key`); smoke mode scores the first
prompt of each corpus only (16 rows; about 30 s more on a busy 2-core machine).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from duplexsim.atomic import write_text
from duplexsim.cli import ArgumentParser, chunk_ms_arg, number, path_arg, run_reporting
from duplexsim.corpora.corpus import SPLITS
from duplexsim.threads import use_threads

import numpy as np
import pandas as pd
from continuation_asr import asr_table  # --asr: the transcripts' columns
from continuation_plan import Plan, load_prompts, unit_tokenizer  # settings, prompts, tokenizer
from continuation_report import plot_runs, write_outputs, write_runs_report  # REPORT.md, figures
from continuation_sources import corpus_comparison, generate_all, score  # every source scored
from continuation_stats import (  # r across prompts, pooled statistics and their CIs
    AGENTS,
    Scored,
    correlation_tables,
    in_distribution,
    persistence_table,
    runs_correlation_tables,
    source_table,
)
from outdir import check_out  # --out: writable, and not another folder's
from provenance import provenance  # the report line (command and commit)

OUTPUTS = ("world", "units", "asr", "runs", "per_prompt.csv", "correlations.csv",
           "corpus_comparison.csv", "persistence.csv", "sources.csv", "asr_transcripts.csv",
           "runs_correlations.csv", "runs_in_distribution.csv", "runs.csv", "continuation.png",
           "sources.png", "runs.png", "REPORT.md")
"""What continuation.py writes in --out: a folder holding one of them is an earlier run's."""


def run_plan(plan: Plan, command: str = "") -> tuple[Path, pd.DataFrame, pd.DataFrame]:
    """The whole study for ``plan``; returns the report path (``command``: its
    provenance line, :func:`provenance`), the per-prompt table and the correlations."""
    prompts = load_prompts(plan)
    tokenizer = unit_tokenizer(plan.agents, plan.corpora)
    silence = set(int(u) for u in tokenizer.silence_units)
    generated = generate_all(plan, prompts)
    per_prompt, vads = score(plan, prompts, generated, silence, tokenizer)
    if plan.asr:
        asr = asr_table(plan, prompts, generated, tokenizer)
        texts = ["prompt", "source", "seed", "asr_text_0", "asr_text_1"]
        write_text(plan.out / "asr_transcripts.csv", asr[texts].to_csv(index=False))
        per_prompt = per_prompt.merge(asr.drop(columns=texts[3:]), how="left",
                                      on=["prompt", "source", "seed"])
    corr = correlation_tables(per_prompt)
    scored = {source: [Scored.of(v) for v in group] for source, group in vads.items()
              if source != "prompt"}  # each continuation's events, computed once
    comp = corpus_comparison(plan, scored, silence, tokenizer, per_prompt)
    persistence = persistence_table(plan, prompts, generated, silence)
    return write_outputs(plan, per_prompt, corr, comp, persistence,
                         source_table(scored, per_prompt), command), per_prompt, corr


def run_replicates(plan: Plan, roots: list[Path], command: str = "") -> Path:
    """The study once per training run (``roots``: folders with ``fisher/`` and
    ``candor/``), each in ``OUT/runs/runK/`` (the one-run report), the units cached once in
    ``OUT/units/``; then ``OUT/REPORT.md`` (:func:`continuation_report.write_runs_report`),
    ``runs_correlations.csv`` and
    ``runs_in_distribution.csv``: every r over the runs (:func:`runs_correlation_tables`),
    each run's own in-distribution r in ``runs.csv``, both in ``runs.png``."""
    tables, own = [], []
    for k, root in enumerate(roots):
        print(f"training run {k + 1} of {len(roots)}: {root}", flush=True)
        sub = replace(plan, agents=root, out=plan.out / "runs" / f"run{k}", cache=plan.out)
        _, per_prompt, corr = run_plan(sub, command)
        tables.append(per_prompt)
        own.append(in_distribution([per_prompt]).assign(run=k, agents=str(root)))
    corr = runs_correlation_tables(tables)
    pooled = in_distribution(tables)
    per_run = pd.concat(own, ignore_index=True)
    for name, df in (("runs_correlations", corr), ("runs_in_distribution", pooled),
                     ("runs", per_run)):
        write_text(plan.out / f"{name}.csv", df.to_csv(index=False, float_format="%.4g"))
    each = per_run.pivot_table(index="source", columns="run", values="avg_r", sort=False,
                               dropna=False)
    pooled = pooled.assign(runs_alone=[", ".join(f"{v:.2f}" for v in each.loc[s])
                                       for s in pooled["source"]],
                           bar=0.6 * pooled["prompt_avg_r"],
                           met=pooled["avg_r"] >= 0.6 * pooled["prompt_avg_r"])
    plot_runs(pooled, per_run, plan.out / "runs.png", command)
    return write_runs_report(plan, roots, pooled, corr, tables[0]["prompt"].nunique(),
                             command)


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    check_out(args.out, OUTPUTS, "continuation.py")  # before any work or world is made
    for flag, values in (("--seeds", args.seeds), ("--chunk-ms", args.chunk_ms),
                         ("--splits", args.splits)):
        # a repeat would score one source twice (a split twice: each prompt twice)
        parser.require_distinct(flag, values)
    use_threads(args.threads)
    problem = _problem(args)
    if problem is not None:
        print(problem, file=sys.stderr)
        return 2
    plan = _plan(parser, args)
    command = provenance("continuation.py", argv)
    report = run_replicates(plan, args.agents, command) if len(args.agents) > 1 \
        else run_plan(plan, command)[0]
    print(f"report -> {report}")
    return 0


def _parser() -> ArgumentParser:
    """The flags, in ``--help``'s order."""
    parser = ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=path_arg, default=Path("runs/continuation"),
                        help="output folder (new or empty, or an earlier run's of this script) "
                             "(default: %(default)s)")
    parser.add_argument("--agents", type=Path, nargs="+", default=[Path("runs/agents")],
                        help="one folder with fisher/ and candor/ per training run of the "
                        "cards (several: each continues the same prompts; every r is then "
                        "the mean over runs, its CI resamples prompts, then runs)"
                        " (default: %(default)s)")
    parser.add_argument("--corpora", type=Path, default=Path("runs/corpora"),
                        help="built corpora's folder, with fisher-like/ and candor-like/ "
                             "(default: %(default)s)")
    parser.add_argument("--smoke", action="store_true", help="tiny world built in OUT/world")
    parser.add_argument("--seeds", type=number(0, 2**32 - 1, integer=True), nargs="+",
                        default=[0], help="sampling seeds (distinct) (default: %(default)s)")
    parser.add_argument("--prompts", type=number(1, 1_000_000, integer=True), default=40,
                        help="prompts per corpus, at most (default: %(default)s, the protocol's; "
                             "a CI over fewer than about 10 prompts says little)")
    parser.add_argument("--chunk-ms", type=chunk_ms_arg, nargs="+",
                        default=[160, 200, 240],
                        help="chunk lengths in ms the agents continue at (distinct) "
                             "(default: %(default)s)")
    parser.add_argument("--prompt-s", type=number(0, 86_400, low_open=True), default=30.0,
                        help="prompt length in s cut from each held-out dialogue "
                             "(default: %(default)s)")
    parser.add_argument("--continuation-s", type=number(0, 86_400, low_open=True),
                        default=90.0,
                        help="length in s of the ground-truth continuation after each prompt "
                             "(default: %(default)s)")
    parser.add_argument("--splits", nargs="+", default=["test", "val"], choices=SPLITS,
                        help="corpus splits the prompts come from, distinct (default: "
                             "%(default)s, never trained on: a train split's dialogues are the "
                             "agents' own training data; val chose the kept checkpoint "
                             "(keep_best), so test alone, or another corpus seed's dialogues, "
                             "is fully held out)")
    parser.add_argument("--temperature", type=number(0, 100), default=1.0,
                        help="sampling temperature of both agents (1.0 = the model's own "
                             "distribution); part of every cached continuation's key, so "
                             "another temperature generates anew in the same --out"
                             " (default: %(default)s)")
    parser.add_argument("--pairs", nargs="*", default=list(Plan.pairs),
                        choices=["ff", "fc", "cf", "cc"],
                        help="prompted interaction (Table 6): agent pairs, channel 0 first "
                             "(f = Fisher, c = CANDOR); none: --pairs with no value"
                             " (default: %(default)s)")
    parser.add_argument("--lead", type=int, default=1, choices=[0, 1],
                        help="interaction lookahead in chunks (1: the paper's)"
                             " (default: %(default)s)")
    parser.add_argument("--no-resynth", action="store_true",
                        help="skip the resynthesis topline (about 30 s per prompt)")
    parser.add_argument("--windows", type=float, nargs="+", default=list(Plan.windows_s),
                        help="edges in seconds of the style-persistence windows"
                             " (default: %(default)s)")
    parser.add_argument("--asr", action="store_true",
                        help="also score ASR transcripts (needs: pip install 'duplexsim[asr]')")
    parser.add_threads()
    return parser


def _problem(args: argparse.Namespace) -> str | None:
    """What is wrong with ``--windows`` or ``--asr`` (its packages missing), in one line."""
    w = args.windows
    if len(w) < 2 or w[0] < 0 or any(b <= a for a, b in zip(w, w[1:], strict=False)) \
            or not all(np.isfinite(w)):
        return (f"--windows: {' '.join(f'{x:g}' for x in w)} (allowed: two or more increasing "
                "edges in seconds, the first >= 0)")
    if args.asr:
        from duplexsim.metrics.asr import AsrUnavailableError, require_asr

        try:
            require_asr()  # before hours of generation, not after
        except AsrUnavailableError as e:
            return str(e)
    return None


def _plan(parser: ArgumentParser, args: argparse.Namespace) -> Plan:
    """The study's plan: the tiny world's with ``--smoke`` (built in OUT/world; the flags
    it sets itself refused), else the flags' (every ``--agents`` run checked first)."""
    # the tiny world's windows and prompts: the flags went unread
    parser.refuse_unread(args, "--smoke", ("prompt_s", "continuation_s", "prompts", "splits",
                                           "windows"),
                         "smoke mode takes 3 s prompts, 6 s continuations and 4 prompts of "
                         "every split")
    if args.smoke:
        from tiny_world import build_tiny_world

        agents, corpora = build_tiny_world(args.out / "world")
        args.agents = [agents]
        plan = Plan(agents, corpora, args.out, tuple(args.chunk_ms), tuple(args.seeds),
                    prompt_s=3.0, continuation_s=6.0, prompts_per_corpus=4,
                    splits=("train", "val", "test"), asr=args.asr, asr_prompts=1,
                    resynth=not args.no_resynth, windows_s=(0.0, 3.0, 6.0),
                    pairs=tuple(args.pairs), lead=args.lead,
                    temperature=args.temperature)
    else:
        parser.require_distinct("--agents", args.agents, "a training run",
                                "each training run once", key=lambda r: r.resolve())
        parser.require_trained("--agents", [r / a for r in args.agents for a in AGENTS])
        for root in args.agents:  # every run's, before the first is studied
            unit_tokenizer(root, args.corpora)
        plan = Plan(args.agents[0], args.corpora, args.out, tuple(args.chunk_ms),
                    tuple(args.seeds), args.prompt_s, args.continuation_s, args.prompts,
                    tuple(args.splits), asr=args.asr, resynth=not args.no_resynth,
                    pairs=tuple(args.pairs), lead=args.lead,
                    windows_s=tuple(args.windows), temperature=args.temperature)
    return plan


if __name__ == "__main__":
    raise SystemExit(run_reporting(main, "continuation.py"))
