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
continuation (:func:`scored_window`): an agent sees the prompt cut to whole chunks (at
160 ms a 30 s prompt is 187 chunks, 29.92 s) and writes chunks until the continuation's
last frame is covered; the format references are cut to the same frames.

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
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
from continuation_asr import asr_table  # --asr: the transcripts' columns
from continuation_cache import cached_units, inputs_key, resynth_key  # keyed by their inputs
from continuation_report import plot_runs, write_outputs, write_runs_report  # REPORT.md, figures
from continuation_stats import (  # r across prompts, pooled statistics and their CIs
    AGENTS,
    Scored,
    compare_to_corpora,
    correlation_tables,
    format_name,
    in_distribution,
    persistence_table,
    pooled_stats,
    runs_correlation_tables,
    source_name,
    source_table,
)
from outdir import check_out  # --out: writable, and not another folder's
from provenance import provenance  # the report line (command and commit)
from tqdm import tqdm

from duplexsim.atomic import write_text
from duplexsim.cli import ArgumentParser, chunk_ms_arg, number, path_arg, run_reporting
from duplexsim.corpora.corpus import SPLITS
from duplexsim.digests import key_of
from duplexsim.errors import InputError
from duplexsim.metrics.activity import vad_from_units
from duplexsim.metrics.protocol import mean_durations, split_prompt, window_frames
from duplexsim.threads import use_threads
from duplexsim.tokens import FRAME_MS, format_roundtrip

OUTPUTS = ("world", "units", "asr", "runs", "per_prompt.csv", "correlations.csv",
           "corpus_comparison.csv", "persistence.csv", "sources.csv", "asr_transcripts.csv",
           "runs_correlations.csv", "runs_in_distribution.csv", "runs.csv", "continuation.png",
           "sources.png", "runs.png", "REPORT.md")
"""What continuation.py writes in --out: a folder holding one of them is an earlier run's."""


@dataclass(frozen=True)
class Plan:
    """What to run; the full defaults follow the paper, smoke mode shrinks them."""

    agents: Path
    corpora: Path
    out: Path
    chunk_ms: tuple[int, ...] = (160, 200, 240)
    seeds: tuple[int, ...] = (0,)
    prompt_s: float = 30.0
    continuation_s: float = 90.0
    prompts_per_corpus: int = 40
    splits: tuple[str, ...] = ("test", "val")
    """Prompt dialogues come from these splits (never trained on; the val split's loss chose
    each agent's kept checkpoint, so only test, or a corpus of another seed, is untouched)."""
    batch: int = 16
    """Continuations generated together (one forward per step)."""
    asr: bool = False
    """Also score ASR transcripts of the continuations (``--asr``; needs the asr extra)."""
    asr_prompts: int | None = None
    """ASR only for the first this many prompts of each corpus (None = all; smoke: 1)."""
    resynth: bool = True
    """Score the resynthesis topline (``--no-resynth`` skips it: about 30 s per prompt)."""
    windows_s: tuple[float, ...] = (0.0, 15.0, 30.0, 60.0, 90.0)
    """Edges (seconds into the continuation) of the windows of the style-persistence table:
    r against the prompt of each window's own means (``--windows``)."""
    pairs: tuple[str, ...] = ("ff", "fc")
    """Prompted interaction (Table 6 analogue): agent pairs, first letter on channel 0
    (``ff``: Fisher with Fisher, ``fc``: Fisher on channel 0, CANDOR on 1; ``--pairs``)."""
    lead: int = 1
    """Interaction lookahead in chunks (1: the paper's, the simulator at 0 ms; ``--lead``)."""
    cache: Path | None = None
    """Where generated units (``units/``) and ASR results (``asr/``) are cached (None: ``out``);
    the training runs of ``--agents A B ...`` share ``OUT``'s (keys name the agents' bytes)."""
    temperature: float = 1.0
    """Sampling temperature of both agents: 1.0 samples the model's own distribution, the
    one to hold against a corpus (0.9, the simulator's default, measured: listener onsets at
    0.43x the corpus's rate, against 0.8x at 1.0). Part of a cached file's key
    (:func:`continuation_cache.inputs_key`): another temperature makes its continuations anew."""

    @property
    def cache_dir(self) -> Path:
        return self.cache or self.out


@dataclass(frozen=True)
class Prompt:
    id: str
    corpus: str
    prompt: np.ndarray
    """Units ``[2, T_prompt]``."""
    truth: np.ndarray
    """Ground-truth continuation units ``[2, T_cont]``."""


def load_prompts(plan: Plan) -> list[Prompt]:
    """Up to ``prompts_per_corpus`` dialogues of each corpus, cut into prompt + continuation.

    A dialogue is long enough by its units (the frames that are cut), not by the manifest's
    ``duration_s``: a manifest that said 121 s over 2000 frames of units chose the dialogue
    and ``split_prompt`` failed with a traceback; one that said 100 s over 3000 frames left
    a dialogue out that holds the windows."""
    from duplexsim.corpora import load_corpus

    out = []
    # the windows in whole frames, as split_prompt cuts them (each rounded on its own: 29.99
    # + 89.99 s is 3000 frames, more than the 2999 of a 119.98 s dialogue)
    try:
        frames = window_frames(plan.prompt_s, plan.continuation_s, FRAME_MS)
    except ValueError as e:  # a window of under half a frame: the flags' error, one line
        flag = "--prompt-s" if str(e).startswith("prompt_s") else "--continuation-s"
        raise InputError(flag, "", str(e)) from None
    need = sum(frames)
    for preset in AGENTS.values():
        corpus = load_corpus(plan.corpora / preset)
        chosen = 0
        for i in (i for s in plan.splits for i in corpus.ids(s)):
            if chosen == plan.prompts_per_corpus:
                break
            units = corpus.units(i)
            if units.shape[1] < need:
                continue
            prompt, truth = split_prompt(units, plan.prompt_s, plan.continuation_s, FRAME_MS)
            out.append(Prompt(f"{preset}/{i}", preset, prompt, truth))
            chosen += 1
        if not chosen:  # the flags' error, one line (a ValueError was printed as a bug)
            raise InputError(str(corpus.root), "--prompt-s, --continuation-s",
                             f"{plan.prompt_s:g} + {plan.continuation_s:g} s: no dialogue of "
                             f"at least {need * FRAME_MS / 1000:g} s of units in splits "
                             f"{', '.join(plan.splits)}",
                             "shorter windows, a longer corpus or other --splits")
    return out


def prompt_seed(prompt_id: str, seed: int) -> int:
    """The sampling seed (63 bits) of the continuation of prompt ``prompt_id`` with ``seed``
    (``--seeds``): a stream of its own per prompt, as the paper's independent samples, the
    same for every agent and chunk size (their differences on a prompt stay paired), and
    the same whichever other prompts run. Every prompt used to draw from ``seed`` itself:
    the same uniforms in the same order, so continuations of different prompts were
    sampled together (the tiny world's agents: 93% of frames the same unit across
    prompts, 5% from streams of their own), and r across prompts was taken over
    continuations whose sampling noise was largely shared."""
    return int(key_of({"prompt": prompt_id, "seed": seed}), 16) >> 1


def resynthesise(tokenizer, units: np.ndarray) -> np.ndarray:  # noqa: ANN001 - UnitTokenizer
    """Units -> vocoder audio -> units again, channel by channel, same length ``[2, T]``."""
    out = np.full_like(units, tokenizer.silence_unit)
    for ch in range(units.shape[0]):
        wave = tokenizer.decode(units[ch])
        back = tokenizer.encode(wave, tokenizer.sample_rate_hz)[: units.shape[1]]
        out[ch, : len(back)] = back
    return out


def pair_name(pair: str, chunk_ms: int, lead: int = 1) -> str:
    return f"inter-{pair}-{chunk_ms}" + ("" if lead == 1 else f"-lead{lead}")


PAIR_AGENTS = {"f": "fisher", "c": "candor"}


def generate_all(plan: Plan, prompts: list[Prompt]) -> dict[tuple[str, str, int], np.ndarray]:
    """(prompt id, source, seed) -> continuation units ``[2, T]`` for every agent x chunk
    (continuation) and every pair x chunk (interaction).

    Per source, the prompts x seeds not yet cached are generated together
    (:func:`~duplexsim.models.continuation.continue_dialogues` /
    :func:`~duplexsim.models.continuation.interact_dialogues`: one forward per step for
    the batch), each from its prompt's own stream (:func:`prompt_seed`); each continuation
    is cached as its own ``.npy`` file when its batch ends.
    """
    from duplexsim.models.agentdir import load_agent_files
    from duplexsim.models.continuation import continue_dialogues, interact_dialogues
    from duplexsim.models.sampling import SamplingConfig

    files = {a: load_agent_files(plan.agents / a) for a in AGENTS}
    sampling = SamplingConfig(plan.temperature)
    Todo = list[tuple[Prompt, int, Path]]  # (prompt, seed, cache file) to generate

    def alone(agent: str, todo: Todo, chunk: int) -> list[np.ndarray]:
        return continue_dialogues(
            files[agent], [p.prompt for p, _, _ in todo], plan.continuation_s, chunk_ms=chunk,
            seeds=[prompt_seed(p.id, s) for p, s, _ in todo], max_batch=plan.batch,
            sampling=sampling)

    def paired(pair: str, todo: Todo, chunk: int) -> list[np.ndarray]:
        return interact_dialogues(
            files[PAIR_AGENTS[pair[0]]], files[PAIR_AGENTS[pair[1]]],
            [p.prompt for p, _, _ in todo], plan.continuation_s, chunk_ms=chunk,
            seeds=[prompt_seed(p.id, s) for p, s, _ in todo], sampling=sampling,
            max_batch=plan.batch, lead=plan.lead)

    # (source, chunk ms, its agents, (todo, chunk ms) -> units [2, T] per todo entry)
    groups: list[tuple[str, int, tuple[str, ...], Callable[[Todo, int], list[np.ndarray]]]]
    groups = [(source_name(a, c), c, (a,), partial(alone, a))
              for a in AGENTS for c in plan.chunk_ms]
    groups += [(pair_name(pair, c, plan.lead), c, tuple(PAIR_AGENTS[k] for k in pair),
                partial(paired, pair)) for pair in plan.pairs for c in plan.chunk_ms]
    out = {}
    for name, chunk, agents, make in tqdm(groups, desc="continuations", unit="source"):
        jobs = [(p, s, plan.cache_dir / "units" / f"{name}_{p.id.replace('/', '_')}_s{s}-"
                 f"{inputs_key(plan, agents, p)}.npy")
                for p in prompts for s in plan.seeds]
        todo = [(p, s, path) for p, s, path in jobs if not path.is_file()]
        made: dict[Path, np.ndarray] = {}
        if todo:
            for (p, _, path), u in zip(todo, make(todo, chunk), strict=True):
                made[path] = scored_window(p, u)
        for p, s, path in jobs:  # new ones are written here, cached ones read
            out[(p.id, name, s)] = cached_units(path, lambda path=path, made=made: made[path])
    return out


def scored_window(p: Prompt, units: np.ndarray) -> np.ndarray:
    """Frames ``[T_prompt, T_prompt + T_cont)`` of ``units`` on the prompt's timeline (frame
    0: the prompt's first): the span of the ground truth, the one window every source is
    scored on. An agent sees the prompt cut to whole chunks (29.92 s of 30 at 160 ms) and
    writes whole chunks past the window's end
    (:func:`~duplexsim.models.continuation.chunks_to_cover`); the frames it writes before
    the prompt's end and after the window are not scored."""
    lo = p.prompt.shape[1]
    hi = lo + p.truth.shape[1]
    if units.shape[1] < hi:
        raise ValueError(f"{p.id}: {units.shape[1]} frames do not reach the continuation's "
                         f"end (frame {hi}; allowed: a source that covers the window)")
    return units[:, lo:hi]


def score(plan: Plan, prompts: list[Prompt], generated: dict, silence: set[int],
          tokenizer) -> tuple[pd.DataFrame, dict[str, list[np.ndarray]]]:  # noqa: ANN001
    """Per-prompt mean durations of every source; VADs by source for the corpus comparison."""
    rows: list[dict[str, object]] = []
    vads: dict[str, list[np.ndarray]] = {}

    def add(p: Prompt, source: str, seed: int, units: np.ndarray) -> None:
        vad = vad_from_units(units, silence)
        vads.setdefault(source, []).append(vad)
        rows.append({"prompt": p.id, "corpus": p.corpus, "source": source, "seed": seed,
                     "seconds": units.shape[1] * FRAME_MS / 1000,
                     **mean_durations(vad, FRAME_MS)})

    for p in tqdm(prompts, desc="resynthesis" if plan.resynth else "references", unit="dlg"):
        add(p, "ground_truth", -1, p.truth)
        add(p, "prompt", -1, p.prompt)
        if plan.resynth:
            path = plan.cache_dir / "units" / \
                f"resynth_{p.id.replace('/', '_')}-{resynth_key(plan, p)}.npy"
            add(p, "resynth", -1, cached_units(path, lambda p=p: resynthesise(tokenizer, p.truth)))
        whole = np.concatenate([p.prompt, p.truth], axis=1)
        for chunk in plan.chunk_ms:  # the chunk grid from frame 0, as the agents'
            back = format_roundtrip(whole, chunk, tokenizer.n_units, tokenizer.silence_unit)
            add(p, format_name(chunk), -1, scored_window(p, back))
    for (pid, source, seed), units in generated.items():
        add(next(p for p in prompts if p.id == pid), source, seed, units)
    return pd.DataFrame(rows), vads


def corpus_comparison(plan: Plan, scored_by: dict[str, list[Scored]], silence: set[int],
                      tokenizer, per_prompt: pd.DataFrame) -> pd.DataFrame:  # noqa: ANN001
    """:func:`compare_to_corpora` against both corpora of ``plan`` (every dialogue, as
    recorded and through the token format at each chunk size). ``tokenizer``: the corpora's
    UnitTokenizer; ``per_prompt``: :func:`score`'s table."""
    from duplexsim.corpora import load_corpus

    refs, refs_format = {}, {}
    for preset in AGENTS.values():
        corpus = load_corpus(plan.corpora / preset)
        units = [corpus.units(i) for i in corpus.ids()]
        refs[preset] = pooled_stats([Scored.of(vad_from_units(u, silence)) for u in units])
        for chunk in plan.chunk_ms:
            refs_format[preset, chunk] = [Scored.of(vad_from_units(format_roundtrip(
                u, chunk, tokenizer.n_units, tokenizer.silence_unit), silence)) for u in units]
    return compare_to_corpora(plan.chunk_ms, scored_by, per_prompt, refs, refs_format)


def unit_tokenizer(agents: Path, corpora: Path):  # noqa: ANN201 - UnitTokenizer
    """The one unit tokenizer of the study's corpora and agents (``agents/fisher`` ...),
    checked (:func:`~duplexsim.units.shared_tokenizer`: other ones are an error naming
    both folders): both agents continue both corpora's prompts, and every source is scored
    and vocoded with its silence units and sounds."""
    from duplexsim.corpora.corpus import load_corpus, tokenizer_dir
    from duplexsim.units import load_tokenizer, shared_tokenizer

    folders = [(str(corpora / c), tokenizer_dir(corpora / c)) for c in AGENTS.values()]
    folders += [(str(agents / a), agents / a / "tokenizer") for a in AGENTS]
    found = shared_tokenizer(folders)  # none: the corpus's error (not a corpus, no tokenizer)
    return load_corpus(corpora / AGENTS["fisher"]).tokenizer() if found is None \
        else load_tokenizer(found)


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
