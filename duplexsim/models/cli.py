"""``duplexsim continue AGENT_DIR --corpus DIR --dialogue ID --prompt-s 30 --seconds 90 --out DIR``.

Owns only the command: takes the first ``--prompt-s`` seconds of a corpus dialogue, lets the
agent continue both sides (:func:`duplexsim.models.continuation.continue_dialogue`) and
writes ``units.npy`` ([2, T] int64), ``audio.wav`` (stereo, vocoded with the agent's unit
tokenizer when it has one) and ``continuation.json``, moved into ``--out`` together
(:func:`duplexsim.atomic.output_dir`; an earlier continuation's files there are replaced).
The agent, corpus, dialogue, lengths, tokenizer and ``--out`` are checked before generating;
errors reach the user through ``duplexsim.cli.main`` (one line each, exit 2).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from duplexsim.atomic import check_not_foreign, check_output_dir, output_dir, write_json
from duplexsim.audio.framing import FRAME_RATE_HZ
from duplexsim.cli import number, path_arg
from duplexsim.errors import MAX_DURATION_S, InputError
from duplexsim.timebase import frames_from_s, ms_from_s
from duplexsim.tokens import FRAME_MS

if TYPE_CHECKING:
    from duplexsim.units import UnitTokenizer

COMMAND = "duplexsim continue"
CONTINUATION_MARKERS = ("units.npy", "continuation.json")
"""Files that make a folder an earlier continuation's (not ``audio.wav``: a simulation's
folder has one too, and the continuation would be mixed into it)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("agent", type=path_arg, help="trained agent directory")
    parser.add_argument("--corpus", type=path_arg, required=True,
                        help="built corpus (of the agent's units) the prompt is taken from")
    parser.add_argument("--dialogue", default="", help="dialogue id ('' = first test dialogue)")
    parser.add_argument("--prompt-s", type=number(0, MAX_DURATION_S, low_open=True),
                        default=30.0,
                        help="prompt length in seconds of the dialogue (default: %(default)s)")
    parser.add_argument("--seconds", type=number(0, MAX_DURATION_S, low_open=True),
                        default=90.0, help="seconds to generate (default: %(default)s)")
    parser.add_argument("--chunk-ms", type=number(FRAME_MS, 60_000, integer=True), default=None,
                        help="chunk size (default: the agent's first)")
    parser.add_argument("--seed", type=number(0, 2**63 - 1, integer=True), default=0,
                        help="seeds the sampling (default: %(default)s)")
    parser.add_argument("--temperature", type=number(0, 100), default=1.0,
                        help="sampling temperature (default: %(default)s)")
    parser.add_argument("--out", type=path_arg, required=True,
                        help="folder to write units.npy, audio.wav and continuation.json to")


def run(args: argparse.Namespace) -> int:
    from duplexsim.models.agentdir import load_agent_files
    from duplexsim.models.continuation import continue_dialogue
    from duplexsim.models.sampling import SamplingConfig

    check_output_dir(args.out)
    check_not_foreign(args.out, CONTINUATION_MARKERS, "continuation", "a new or empty folder, "
                      "or an earlier continuation's folder (its files are replaced)")
    dialogue_id, chunk_ms, units, prompt_frames = _checked_prompt(args)
    tok = _tokenizer(args.agent)
    files = load_agent_files(args.agent)
    prompt = units[:, :prompt_frames]
    out_units = continue_dialogue(files, prompt, args.seconds, chunk_ms, args.seed,
                                  SamplingConfig(temperature=args.temperature))
    _write(args, files.root, dialogue_id, chunk_ms, prompt_frames, out_units, tok)
    generated = (out_units.shape[1] - prompt_frames) / FRAME_RATE_HZ
    print(f"{args.out}: {out_units.shape[1] / FRAME_RATE_HZ:.2f} s of units ({generated:.2f} s "
          f"generated in whole {chunk_ms} ms chunks; {args.seconds:g} s asked)")
    return 0


def _checked_prompt(args: argparse.Namespace) -> tuple[str, int, np.ndarray, int]:
    """The agent (a SyncLLM one), the corpus (of its units), the dialogue and the lengths,
    each checked before the model loads: the dialogue id, the chunk in ms, the dialogue's
    units ``[2, T]`` and the prompt's frames (whole chunks)."""
    from duplexsim.corpora import load_corpus
    from duplexsim.models.agentdir import agent_kind, read_agent_json

    info = read_agent_json(args.agent)  # cheap checks first, the model after
    if agent_kind(info) != "syncllm":  # continuation generates SyncLLM chunks only
        raise InputError(str(args.agent / "agent.json"), "kind", f"{agent_kind(info)!r}: "
                         f"{COMMAND} continues SyncLLM agents only", "a SyncLLM agent folder")
    corpus = load_corpus(args.corpus)
    if corpus.n_units != info["n_units"]:
        raise InputError(str(args.corpus), "n_units", f"corpus units {corpus.n_units} are not "
                         f"the agent's ({info['n_units']} in {args.agent / 'agent.json'})",
                         "a corpus with the agent's unit vocabulary")
    dialogue_id = args.dialogue or (corpus.ids(split="test") or corpus.ids())[0]
    corpus.check_id(dialogue_id, key="--dialogue")
    chunk_ms = args.chunk_ms or int(info["chunk_ms"][0])
    if chunk_ms not in info["chunk_ms"]:
        raise InputError(COMMAND, "--chunk-ms", f"agent {args.agent} was not trained for "
                         f"{chunk_ms} ms chunks", ", ".join(map(str, info["chunk_ms"])))
    units = corpus.units(dialogue_id)
    frames_per_chunk = chunk_ms // FRAME_MS
    # whole chunks of the prompt (rounded to a frame first: 4.64 s is 116 frames, not 115.99)
    prompt_frames = frames_from_s(args.prompt_s, FRAME_MS) // frames_per_chunk * frames_per_chunk
    if not 0 < prompt_frames <= units.shape[1]:
        raise InputError(COMMAND, "--prompt-s", f"{args.prompt_s:g} s is not a prompt from "
                         f"dialogue {dialogue_id!r} ({units.shape[1] / FRAME_RATE_HZ:g} s)",
                         f"at least one chunk ({chunk_ms} ms), at most the dialogue")
    if ms_from_s(args.seconds) < chunk_ms:
        raise InputError(COMMAND, "--seconds", f"{args.seconds:g} s is shorter than one chunk",
                         f">= {chunk_ms / 1000:g} s")
    return dialogue_id, chunk_ms, units, prompt_frames


def _write(args: argparse.Namespace, agent_root: Path, dialogue_id: str, chunk_ms: int,
           prompt_frames: int, out_units: np.ndarray, tok: UnitTokenizer | None) -> None:
    """``units.npy``, ``audio.wav`` (with a tokenizer) and ``continuation.json``, moved into
    ``--out`` together."""
    with output_dir(args.out, owned=("units.npy", "audio.wav"),
                    last=("continuation.json",)) as stage:
        with (stage / "units.npy").open("wb") as fh:
            np.save(fh, out_units)
        if tok is not None:
            from duplexsim.audio.io import headroom, write_audio

            wave = headroom(np.stack([tok.decode(out_units[0]), tok.decode(out_units[1])]),
                            in_place=True)  # (the stack is ours: no scaled copy)
            write_audio(stage / "audio.wav", wave, tok.sample_rate_hz)
        write_json(stage / "continuation.json", {
            "agent": str(agent_root), "corpus": str(args.corpus), "dialogue": dialogue_id,
            "prompt_s": args.prompt_s, "seconds": args.seconds, "chunk_ms": chunk_ms,
            "seed": args.seed, "temperature": args.temperature, "prompt_frames": prompt_frames,
            "frames": int(out_units.shape[1]),
            "generated_s": (int(out_units.shape[1]) - prompt_frames) / FRAME_RATE_HZ,
            "audio": tok is not None,
        })


def _tokenizer(agent: Path) -> UnitTokenizer | None:
    """The agent's unit tokenizer (loaded and checked now), or None when it has none: then
    no ``audio.wav`` is written (``continuation.json`` says ``"audio": false``)."""
    if not (agent / "tokenizer").is_dir():
        return None
    from duplexsim.units import load_tokenizer

    return load_tokenizer(agent / "tokenizer")
