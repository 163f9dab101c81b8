"""What rl_turn_policy.py runs: its :class:`Config` (the full study's defaults,
:func:`smoke_config`'s tiny one) and the checks of the settings read into it: one-way delays
(:func:`parse_latencies`), an earlier run's training settings (:func:`read_trained`) and
``--test-corpus`` (:func:`check_test_corpus`). Must not train, run episodes or write
outputs."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from duplexsim.cli import number
from duplexsim.digests import array_digest
from duplexsim.errors import InputError

MAX_DELAY_MS = 600_000  # a link's delay_ms limit (duplexsim.config.network)


@dataclass
class Config:
    """What to run; the defaults are the full study, ``--smoke`` shrinks them."""

    corpus: str = "runs/corpora/fisher-like"
    train_agents: list[str] = field(default_factory=list)
    eval_agents: dict[str, str] = field(default_factory=dict)
    latencies_ms: list[int] = field(default_factory=lambda: [0, 160, 240, 480])
    """One-way delays trained at (and evaluated at, unless ``eval_latencies_ms`` is given)."""
    eval_latencies_ms: list[int] = field(default_factory=list)
    """One-way delays evaluated at (empty: ``latencies_ms``)."""
    timesteps: int = 400_000
    episodes: int = 40
    tune_episodes: int = 100
    """Episodes per rule setting and latency in the rule's tuning (train dialogues, seeds
    20000 on). 20 (17 dialogues) left the 240 ms pick to chance: 240 ms silence beat 80 ms /
    1500 ms by 0.012, paired interval [-1.35, +1.02]; on 100 (63 dialogues) 80 ms / 1500 ms
    is ahead by 0.81 [0.32, 1.24]; tuning takes 216 s there (43 s at 20; one thread)
    (docs/results/rl/REPORT.md, 2026-12-07)."""
    duration_s: float = 30.0
    window: int = 12
    agent_weight: float = 1.0
    """Pool weight of the train agents against 1 for the replay dialogues."""
    envs_per_latency: int = 4
    """Training conversations per latency, stepped together (native vector env)."""
    agent_episodes: int = 20
    """Evaluation episodes per cell against a held-out agent (replay cells: ``episodes``)."""
    rule_silence_ms: list[float] = field(default_factory=lambda: [0, 80, 160, 240, 400, 640])
    rule_backchannel_ms: list[float] = field(default_factory=lambda: [0, 1500])
    seed: int = 0
    scenario: str = "scenarios/rl-turntaking.toml"
    """The env's scenario file; a relative path is read from the repository root."""
    policy: str = ""
    """An earlier run's directory whose PPO policy is evaluated (empty: train one here)."""
    test_corpus: str = ""
    """Another corpus of the same units (e.g. built with another seed) whose every dialogue
    is held out: the evaluation set ``test-corpus`` (empty: none). ``--corpus``'s test
    split holds a tenth of its dialogues (12 of the 4 h corpus), and intervals over
    dialogues need many."""
    sets: list[str] = field(default_factory=list)
    """The evaluation sets to run (empty: all of :func:`rl_train.eval_sets`)."""

    def evaluated(self) -> list[int]:
        """The one-way delays the evaluation (and the rule's tuning) runs at."""
        return self.eval_latencies_ms or self.latencies_ms


TRAINING = ("corpus", "train_agents", "latencies_ms", "timesteps", "duration_s", "window",
            "agent_weight", "envs_per_latency", "seed", "scenario")
"""What ``--policy RUN`` takes from ``RUN/config.json``: how the policy was trained."""


def smoke_config(out: Path) -> Config:
    sys.path.insert(0, str(Path(__file__).parent))
    from tiny_world import build_tiny_world

    agents, corpora = build_tiny_world(out / "world")
    return Config(corpus=str(corpora / "fisher-like"), train_agents=[str(agents / "fisher")],
                  eval_agents={"candor": str(agents / "candor")}, latencies_ms=[0, 240],
                  timesteps=256, episodes=2, agent_episodes=2, tune_episodes=1,
                  duration_s=3.2, envs_per_latency=2,
                  rule_silence_ms=[0, 160], rule_backchannel_ms=[0])


def parse_latencies(p: argparse.ArgumentParser, flag: str, text: str) -> list[int]:
    """``text`` as distinct one-way delays in ms (``0,160,240``); anything else is a one-line
    error (a negative delay used to end in a ConfigError traceback once training had begun,
    a repeated one trained twice as many envs at it and evaluated its cells twice)."""
    allowed = (f"one-way ms as distinct integers 0..{MAX_DELAY_MS}, comma separated, e.g. "
               "0,160,240,480")
    try:
        values = [int(x) for x in text.split(",")]
    except ValueError:
        p.error(f"{flag}: {text!r} (allowed: {allowed})")
    if any(not 0 <= v <= MAX_DELAY_MS for v in values) or len(set(values)) != len(values):
        p.error(f"{flag}: {text!r} (allowed: {allowed})")
    return values


TRAINED_NUMBERS = {"timesteps": number(1, 10**10, integer=True),
                   "duration_s": number(0, 86_400, low_open=True),
                   "window": number(1, 10_000, integer=True),
                   "agent_weight": number(0, 1e6),
                   "envs_per_latency": number(1, 1024, integer=True),
                   "seed": number(0, 2**32 - 1, integer=True)}
"""The numbers of :data:`TRAINING` and their bounds: the parsers of the flags that set
them (``--timesteps``, ``--duration-s``, ``--seed``) and of ``--policy``'s read-back."""


def read_trained(p: argparse.ArgumentParser, path: Path) -> dict[str, Any]:
    """The :data:`TRAINING` settings of an earlier run's ``config.json``, each checked (a
    string where a number goes, a negative delay or a folder list that is not one was a
    traceback mid-run, or ran with the wrong setting)."""
    try:
        trained = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as err:
        p.error(f"--policy: {path}: {err} (allowed: a JSON object)")
    if not isinstance(trained, dict):
        p.error(f"--policy: {path}: a JSON {type(trained).__name__} (allowed: a JSON object)")
    lacking = [key for key in TRAINING if key not in trained]
    if lacking:
        p.error(f"--policy: {path} has no {', '.join(lacking)} "
                f"(allowed: a config.json with {', '.join(TRAINING)})")
    out = {}
    for key in TRAINING:
        value = trained[key]
        where = f"--policy: {path}: {key}"
        if key in TRAINED_NUMBERS:
            try:
                if isinstance(value, bool) or not isinstance(value, int | float):
                    raise argparse.ArgumentTypeError(f"{value!r} is not a number")
                value = TRAINED_NUMBERS[key](str(value))
            except argparse.ArgumentTypeError as err:
                p.error(f"{where}: {err}")
        elif key == "latencies_ms":
            if not isinstance(value, list) or not value or not all(
                    isinstance(v, int) and not isinstance(v, bool) for v in value):
                p.error(f"{where}: {value!r} (allowed: a list of one-way ms as integers)")
            value = parse_latencies(p, where, ",".join(map(str, value)))
        elif key == "train_agents":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                p.error(f"{where}: {value!r} (allowed: a list of agent folders)")
        elif not isinstance(value, str) or not value:
            p.error(f"{where}: {value!r} (allowed: a path)")
        out[key] = value
    return out


def check_test_corpus(p: argparse.ArgumentParser, cfg: Config, test: Path) -> None:
    """``--test-corpus``: a corpus, not ``--corpus`` itself, of the same unit tokenizer (the
    policy reads units: another tokenizer's are other sounds under the same ids), none of
    whose dialogues is one of ``--corpus``'s train split (a corpus built with the same seed
    holds the same dialogues: its cells were in-sample, reported as held out)."""
    from duplexsim.corpora import load_corpus
    from duplexsim.corpora.corpus import tokenizer_dir
    from duplexsim.units import shared_tokenizer

    if not (test / "manifest.json").is_file():
        p.error(f"--test-corpus: {test} is not a corpus (build one with another seed: "
                f"duplexsim corpus build --seed 1 --tokenizer {cfg.corpus}/tokenizer ...)")
    if test.resolve() == Path(cfg.corpus).resolve():
        p.error(f"--test-corpus: {test} is --corpus (allowed: another corpus; --corpus's own "
                "held-out dialogues are the set test-dialogues)")
    try:
        shared_tokenizer([("--corpus", tokenizer_dir(Path(cfg.corpus))),
                          ("--test-corpus", tokenizer_dir(test))])
        train = load_corpus(cfg.corpus)
        # either channel order: the replay partner plays both channels of a dialogue
        trained = {array_digest(u) for i in train.ids("train")
                   for units in [train.units(i)] for u in (units, units[::-1])}
        held = load_corpus(test)
        seen = [i for i in held.ids() if array_digest(held.units(i)) in trained]
    except InputError as e:
        p.error(str(e))
    if seen:
        shown = ", ".join(seen[:3]) + (", ..." if len(seen) > 3 else "")
        p.error(f"--test-corpus: {test}: {len(seen)} of its {len(held.ids())} dialogues "
                f"({shown}) are dialogues of --corpus's train split, which the policy was "
                f"trained on (allowed: a corpus none of whose dialogues was trained on, e.g. "
                f"built with another --seed than {cfg.corpus}'s)")
