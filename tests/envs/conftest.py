"""Shared env-test fixtures: a small real corpus and two tiny trained SyncLLM agents."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four 20 s fisher-like conversations (espeak-ng speech, 32 mel-kmeans units): three
    train, one test (``duplexsim.corpora.build``, seed 0; about 10 s to build)."""
    from duplexsim.corpora.build import build_corpus
    from duplexsim.corpora.config import load_config

    root = tmp_path_factory.mktemp("corpus")
    build_corpus(root / "fl", load_config("fisher-like", conversation_s=20.0),
                 hours=80 / 3600, seed=0, preset="fisher-like", cache_dir=root / "tts",
                 workers=1, n_units=32)
    return root / "fl"


@pytest.fixture(scope="session")
def tiny_agents(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Two tiny SyncLLMs (501 units, 160 ms chunks) trained for 2 and 3 steps on the
    shipped dialogue: two different partners."""
    from duplexsim.bench.bench_envs import train_tiny_agent

    root = tmp_path_factory.mktemp("agents")
    return [train_tiny_agent(root / f"tiny{steps}", steps=steps) for steps in (2, 3)]
