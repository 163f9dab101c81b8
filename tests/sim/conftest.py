"""Shared fixtures for the simulator tests: a tiny trained SyncLLM agent (small scenarios:
``sim_scenarios.py``, imported by name; ``from conftest import`` would pick whichever
``conftest`` module pytest imported first)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "models"))


@pytest.fixture(scope="session")
def tiny_agent_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny SyncLLM agent trained for 160 and 200 ms chunks (a few seconds)."""
    from syncllm_fixtures import train_tiny_agent

    return train_tiny_agent(tmp_path_factory.mktemp("agent") / "tiny", steps=2)
