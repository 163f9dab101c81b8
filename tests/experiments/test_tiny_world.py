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


def test_a_world_built_by_other_code_is_refused(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The record held only the function's arguments: an agents folder trained from another
    ``tiny_card`` (an older version of this file), or corpora synthesised with other
    preset parameters, were reused as if this code had built them."""
    import json

    tw = _tiny_world()
    root = tmp_path / "world"
    agents, corpora = tw.build_tiny_world(root, steps=1)
    record = agents / "tiny_world.json"
    written = json.loads(record.read_text())
    record.write_text(json.dumps({"steps": 1, "train_seed": 0}))  # as older code wrote it
    with pytest.raises(OutputError, match=rf"^{re.escape(str(record))}: .* cards=None, asked"):
        tw.build_tiny_world(root, steps=1)
    record.write_text(json.dumps(written))
    assert tw.build_tiny_world(root, steps=1) == (agents, corpora)

    card = tw.tiny_card

    def other_card(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        import dataclasses

        made = card(*args, **kwargs)
        return dataclasses.replace(made, stage3=dataclasses.replace(made.stage3, lr=1e-3))

    with monkeypatch.context() as m:  # this file's tiny_card changed since the world was built
        m.setattr(tw, "tiny_card", other_card)
        with pytest.raises(OutputError, match=rf"^{re.escape(str(record))}: .* cards="):
            tw.build_tiny_world(root, steps=1)
    build = corpora / "candor-like" / "build.json"
    params = json.loads(build.read_text())
    params["params"]["ipu_median_s"] += 0.5  # synthesised from another preset
    build.write_text(json.dumps(params))
    with pytest.raises(OutputError, match=rf"^{re.escape(str(corpora / 'candor-like'))}: "
                       r"params.ipu_median_s: holds a corpus built with"):
        tw.build_tiny_world(root, steps=1)
