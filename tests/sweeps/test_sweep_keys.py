"""Cell keys (duplexsim/sweeps/keys.py): a grid expands to cells with stable, distinct
keys; the default cell's key is the scenario it simulates, not its spelling; a cell of
one's own is keyed by every key it may read, and by its source file."""

from __future__ import annotations

import sys

import pytest
from test_sweep_runner import write_sweep  # (tests/sweeps is on the path)

from duplexsim.digests import file_digest
from duplexsim.errors import ConfigError
from duplexsim.sweeps import load_sweep, run_sweep
from duplexsim.sweeps.cells import DEFAULT_CELL
from duplexsim.sweeps.keys import cell_key, cell_source_digest


def test_grid_expands_to_cells_with_stable_distinct_keys(tmp_path):
    sweep = load_sweep(write_sweep(tmp_path), check_scenarios=False)
    cells = sweep.cells()
    assert len(cells) == 3 * 2 * 2
    assert len({c.key for c in cells}) == len(cells)
    c = cells[-1]
    assert c.params == {"network.a_to_b.delay_ms+network.b_to_a.delay_ms": 480,
                        "a.estimation": "silence", "seed": 1}
    assert c.config["network"]["b_to_a"]["delay_ms"] == 480
    assert c.config["network"]["a_to_b"]["delay_ms"] == 480
    assert c.config["duration_s"] == 30.0 and c.config["seed"] == 1
    assert c.config["network"]["preset"] == "lan"  # base kept
    again = load_sweep(write_sweep(tmp_path), check_scenarios=False).cells()
    assert [x.key for x in again] == [x.key for x in cells]


def _scenario(**changes: object) -> dict:
    base = {"name": "base", "chunk_ms": 160, "seed": 0, "a": {"kind": "replay"},
            "network": {"preset": "lan", "a_to_b": {"delay_ms": 160}}}
    return {**base, **changes}


@pytest.mark.parametrize("other", [
    _scenario(network={"preset": "lan", "a_to_b": {"delay_ms": 160.0}}),
    _scenario(name="renamed"),
    _scenario(output={"audio": True, "trace": "x"}),
    _scenario(reward={"gap_per_s": 3.0}),
])
@pytest.mark.parametrize("cell", ["", DEFAULT_CELL])
def test_the_default_cell_key_leaves_out_what_its_row_does_not_depend_on(other, cell):
    """A renamed scenario, one writing audio, one with other RL rewards or a cell named in
    full simulate and score the same conversation: they are one cell, not a rerun."""
    assert cell_key(other, cell) == cell_key(_scenario(), "")


@pytest.mark.parametrize("other", [
    _scenario(network={"preset": "lan", "a_to_b": {"delay_ms": 161}}),
    _scenario(seed=1),
    _scenario(chunk_ms=200),
    _scenario(a={"kind": "replay", "channel": 1}),
])
def test_the_default_cell_key_keeps_what_its_row_depends_on(other):
    assert cell_key(other, "") != cell_key(_scenario(), "")


LAN = {"delay_ms": 1.0, "jitter_ms": 0.3, "jitter_dist": "normal"}
"""The lan preset's values, written out as a user would over the ideal preset."""


@pytest.mark.parametrize("same", [
    # every left-out key written at its default (a replay side's channel is its own)
    _scenario(duration_s=60.0, decision_lead_chunks=1, b={"kind": "replay", "channel": 1},
              a={"kind": "replay", "channel": 0}, buffer={}),
    # the preset as its values, and the preset named beside values equal to its own
    _scenario(network={"a_to_b": {**LAN, "delay_ms": 160}, "b_to_a": LAN}),
    _scenario(network={"preset": "lan", "a_to_b": {**LAN, "delay_ms": 160}, "b_to_a": LAN}),
])
def test_the_default_cell_keys_the_scenario_it_simulates_not_its_spelling(same):
    """A key left out and written at its default, or a network preset and its values
    written out, simulate one conversation: they were two cells, run twice."""
    assert cell_key(same, "") == cell_key(_scenario(), "")
    # a cell of one's own may read the keys as written: its key stays the dict's
    cell = "sweep_cellfns:turntaking_cell"
    assert cell_key(same, cell) != cell_key(_scenario(), cell)


@pytest.mark.parametrize("other", [
    _scenario(network={"a_to_b": {**LAN, "delay_ms": 160}, "b_to_a": {**LAN, "delay_ms": 2}}),
    _scenario(network={"preset": "metro", "a_to_b": {"delay_ms": 160}}),
    _scenario(duration_s=30.0),
    _scenario(b={"kind": "replay", "channel": 0}),
])
def test_the_default_cell_keys_apart_scenarios_that_simulate_differently(other):
    assert cell_key(other, "") != cell_key(_scenario(), "")


def test_an_invalid_config_is_keyed_by_its_dict():
    """It does not build (the pre-run check refuses it): still a key, one of its own."""
    bad = _scenario(chunk_ms=150)
    assert cell_key(bad, "") == cell_key(dict(bad), "") != cell_key(_scenario(), "")
    assert cell_key(bad, "") != cell_key(_scenario(chunk_ms=190), "")


def test_a_cell_of_ones_own_is_keyed_by_every_key_it_may_read():
    cell = "sweep_cellfns:turntaking_cell"
    assert cell_key(_scenario(name="renamed"), cell) != cell_key(_scenario(), cell)
    assert cell_key(_scenario(reward={"gap_per_s": 3.0}), cell) != cell_key(_scenario(), cell)


def test_the_default_cell_named_in_full_is_the_default_cell(tmp_path):
    """It was keyed apart from cell = "" and let a grid over name through."""
    short = load_sweep(write_sweep(tmp_path, cell=""), check_scenarios=False)
    full = load_sweep(write_sweep(tmp_path, cell=DEFAULT_CELL), check_scenarios=False)
    assert full.config.cell == ""
    assert [c.key for c in full.cells()] == [c.key for c in short.cells()]
    path = write_sweep(tmp_path, cell=DEFAULT_CELL)
    path.write_text(path.read_text().replace('"a.estimation" =', '"name" = ["x", "y"]\n'
                                             '"a.estimation" ='))
    with pytest.raises(ConfigError, match="sweep.grid.name: name does not change what"):
        load_sweep(path, check_scenarios=False)


def test_a_cell_function_edited_in_place_runs_its_cells_again(tmp_path, monkeypatch):
    # the key hashed the cell's name only: the rows of the old code were reused
    (tmp_path / "mycell").mkdir()
    module = tmp_path / "mycell" / "edited_cell.py"
    module.write_text("def cell(config):\n    return {'v': 1}\n")
    monkeypatch.syspath_prepend(str(tmp_path / "mycell"))
    path = write_sweep(tmp_path, cell="edited_cell:cell", seeds="[0]")
    first = run_sweep(load_sweep(path, check_scenarios=False), tmp_path / "out", workers=1,
                      progress=False)
    assert set(first["v"]) == {1}
    module.write_text("def cell(config):\n    return {'v': 2}\n")
    sys.modules.pop("edited_cell", None)
    again = run_sweep(load_sweep(path, check_scenarios=False), tmp_path / "out", workers=1,
                      progress=False)
    assert set(again["v"]) == {2}
    assert cell_source_digest("edited_cell:cell") == file_digest(module)
    # duplexsim's own cells are versioned by SIMULATOR_VERSION: their keys do not move
    assert cell_source_digest("") == cell_source_digest(
        "duplexsim.sweeps.cells:simulate_cell") == cell_source_digest("no_such_mod:f") == ""
    assert cell_source_digest("duplexsim:f") == ""  # the package itself is duplexsim's too
    # a module of one's own whose name only starts like duplexsim's is keyed by its file
    other = tmp_path / "mycell" / "duplexsim_mine.py"
    other.write_text("def cell(config):\n    return {'v': 3}\n")
    assert cell_source_digest("duplexsim_mine:cell") == file_digest(other)
