"""The env tests need the simulator and the shipped dialogue; skip cleanly until they land."""

from __future__ import annotations

import pytest


def _missing() -> str | None:
    try:
        from duplexsim.corpora import default_dialogue
        from duplexsim.sim import Session  # noqa: F401

        default_dialogue()
    except (ImportError, OSError) as e:
        return f"needs duplexsim.sim.Session and duplexsim.corpora.default_dialogue ({e})"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reason = _missing()
    if reason is None:
        return
    for item in items:
        if "needs_sim" in item.keywords:
            item.add_marker(pytest.mark.skip(reason=reason))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "needs_sim: needs the simulator and the shipped dialogue")
