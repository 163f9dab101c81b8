"""Where the experiments cache what they simulate, so that a rerun reuses it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from duplexsim.digests import scenario_key


def conversation_path(out: Path, scenario: Any) -> Path:
    """``OUT/conversations/<name>-<key>.npz`` for a :class:`~duplexsim.config.scenario.Scenario`:
    named by the scenario and keyed by its parameters and the contents of its agents and
    corpora (:func:`duplexsim.digests.scenario_key`), so a retrained agent, a rebuilt corpus
    or another setting is simulated anew, never read from an older run's cache."""
    return out / "conversations" / f"{scenario.name}-{scenario_key(scenario.to_dict())}.npz"
