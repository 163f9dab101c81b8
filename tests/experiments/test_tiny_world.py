"""experiments/tiny_world.py: a world is reused only when asked for with the parameters it
was built with; otherwise one line names the folder and the parameters that differ."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from duplexsim.errors import OutputError

ROOT = Path(__file__).parents[2]


def _tiny_world():  # noqa: ANN202
    sys.path.insert(0, str(ROOT / "experiments"))
    import tiny_world

    return tiny_world


def test_a_world_asked_for_with_other_parameters_is_refused(tmp_path: Path) -> None:
    """It was reused silently: ``build_tiny_world(root, n_units=16)`` after a 24-unit build
    returned the 24-unit corpora and agents."""
    tw = _tiny_world()
    root = tmp_path / "world"
    agents, corpora = tw.build_tiny_world(root, steps=1)
    made = (agents / "fisher" / "agent.json").stat().st_mtime_ns
    assert tw.build_tiny_world(root, steps=1) == (agents, corpora)  # the same: reused
    assert (agents / "fisher" / "agent.json").stat().st_mtime_ns == made
    record = root / "tiny_world.json"
    with pytest.raises(
        OutputError,
        match=rf"^{re.escape(str(record))}: the tiny world there was built with "
        r"n_units=24, asked 16 \(allowed: the same",
    ):
        tw.build_tiny_world(root, steps=1, n_units=16)
    with pytest.raises(
        OutputError,
        match=rf"^{re.escape(str(agents / 'tiny_world.json'))}: .* steps=1, "
        r"asked 2 \(allowed",
    ):
        tw.build_tiny_world(root, steps=2)
    other = tmp_path / "other"
    (other / "corpora").mkdir(parents=True)  # a folder this version did not build
    with pytest.raises(
        OutputError, match=rf"^{re.escape(str(other))}: holds files but no tiny_world.json"
    ):
        tw.build_tiny_world(other)
    assert not (other / "tiny_world.json").exists()
