"""What continuation.py scores, source by source: the agents' continuations and prompted
interactions (:func:`generate_all`, each prompt sampled from a stream of its own,
:func:`prompt_seed`), cut to the ground truth's frames (:func:`scored_window`); the
references (resynthesis, token format, prompt) and every source's per-prompt mean durations
(:func:`score`); the statistics of each source against both corpora
(:func:`corpus_comparison`)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

from duplexsim.digests import key_of
from duplexsim.metrics.activity import vad_from_units
from duplexsim.metrics.protocol import mean_durations
from duplexsim.tokens import FRAME_MS, format_roundtrip

import numpy as np
import pandas as pd
from continuation_cache import cached_units, inputs_key, resynth_key  # keyed by their inputs
from continuation_plan import Plan, Prompt  # the study's settings and prompts
from continuation_stats import (  # pooled statistics and the sources' names
    AGENTS,
    Scored,
    compare_to_corpora,
    format_name,
    pooled_stats,
    source_name,
)
from tqdm import tqdm


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
