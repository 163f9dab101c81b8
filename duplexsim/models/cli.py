"""``duplexsim continue AGENT_DIR --corpus DIR --dialogue ID --prompt-s 30 --seconds 90 --out DIR``.

Owns only the command: takes the first ``--prompt-s`` seconds of a corpus dialogue, lets the
agent continue both sides (:func:`duplexsim.models.continuation.continue_dialogue`) and
writes ``units.npy`` ([2, T] int64), ``audio.wav`` (stereo, vocoded with the agent's unit
tokenizer when it has one) and ``continuation.json``, atomically.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from duplexsim.atomic import atomic_path, write_json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("agent", type=Path, help="trained agent directory")
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--dialogue", default="", help="dialogue id ('' = first test dialogue)")
    parser.add_argument("--prompt-s", type=float, default=30.0)
    parser.add_argument("--seconds", type=float, default=90.0)
    parser.add_argument("--chunk-ms", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--out", type=Path, required=True)


def run(args: argparse.Namespace) -> int:
    from duplexsim.corpora import load_corpus
    from duplexsim.models.agentdir import load_agent_files
    from duplexsim.models.continuation import continue_dialogue
    from duplexsim.models.sampling import SamplingConfig

    files = load_agent_files(args.agent)
    corpus = load_corpus(args.corpus)
    ids = corpus.ids(split="test") or corpus.ids()
    dialogue_id = args.dialogue or ids[0]
    dialogue = corpus.dialogue(dialogue_id)
    prompt = np.asarray(dialogue.units)[:, : int(args.prompt_s * 25)]
    chunk_ms = args.chunk_ms or files.chunk_ms[0]
    units = continue_dialogue(files, prompt, args.seconds, chunk_ms, args.seed,
                              SamplingConfig(temperature=args.temperature))
    out: Path = args.out
    with atomic_path(out / "units.npy") as tmp, tmp.open("wb") as fh:
        np.save(fh, units)
    tok_dir = files.root / "tokenizer"
    if tok_dir.is_dir():
        import soundfile as sf

        from duplexsim.units import load_tokenizer

        tok = load_tokenizer(tok_dir)
        wave = np.stack([tok.decode(units[0]), tok.decode(units[1])], axis=1)
        with atomic_path(out / "audio.wav", suffix=".wav") as tmp:
            sf.write(tmp, wave, tok.sample_rate_hz)
    write_json(out / "continuation.json", {
        "agent": str(files.root), "corpus": str(args.corpus), "dialogue": dialogue_id,
        "prompt_s": args.prompt_s, "seconds": args.seconds, "chunk_ms": chunk_ms,
        "seed": args.seed, "prompt_frames": int(prompt.shape[1] // (chunk_ms // 40)
                                                * (chunk_ms // 40)),
        "frames": int(units.shape[1]),
    })
    print(f"{out}: {units.shape[1] / 25:.1f} s of units ({args.seconds} s generated)")
    return 0
