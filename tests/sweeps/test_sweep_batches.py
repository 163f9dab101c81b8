"""Batched sweeps: cells run in groups give the table of one-by-one (the real simulate
cell on tiny SyncLLM and TDM agents too), and a failing group retries its cells alone."""

from __future__ import annotations

import json
import sys

import pandas as pd
import pytest
from test_sweep_runner import HERE, write_sweep  # (tests/sweeps is on the path)

from duplexsim.errors import ConfigError
from duplexsim.sweeps import load_sweep, run_sweep


def test_batched_groups_give_the_same_table(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(HERE))
    monkeypatch.setenv("SWEEP_TEST_GROUPS", str(tmp_path / "groups"))
    sweep = load_sweep(write_sweep(tmp_path, extra="batch = 5"), check_scenarios=False)
    assert sweep.config.batch == 5
    batched = run_sweep(sweep, tmp_path / "b", workers=1, progress=False)
    sizes = sorted(int(p.name.split("-")[1]) for p in (tmp_path / "groups").iterdir())
    assert sizes == [2, 5, 5]  # 12 cells in groups of 5
    one_by_one = run_sweep(sweep, tmp_path / "o", workers=1, progress=False, batch=1)
    pd.testing.assert_frame_equal(batched, one_by_one)


def test_a_failing_group_retries_its_cells_one_by_one(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(HERE))
    sweep = load_sweep(write_sweep(tmp_path, cell="sweep_cellfns:failing_cell",
                                   extra="batch = 4"), check_scenarios=False)
    table = run_sweep(sweep, tmp_path / "o", workers=1, progress=False)
    assert len(table) == 6 and set(table["seed"]) == {0}  # only the seed-1 cells are lost
    assert len(json.loads((tmp_path / "o" / "failures.json").read_text())) == 6


def test_batch_must_be_positive(tmp_path):
    with pytest.raises(ConfigError, match="batch: 0 is out of range"):
        load_sweep(write_sweep(tmp_path, extra="batch = 0"), check_scenarios=False)


def test_default_cell_batched_equals_one_by_one(tmp_path, monkeypatch):
    """The real simulate cell: tiny SyncLLM agents, model calls batched across cells."""
    sys.path.insert(0, str(HERE.parent / "models"))
    from syncllm_fixtures import train_tiny_agent

    agent = train_tiny_agent(tmp_path / "agent", steps=2)
    (tmp_path / "base.toml").write_text(f"""name = "base"
chunk_ms = 160
duration_s = 4.0
[a]
kind = "syncllm"
agent = "{agent}"
[b]
kind = "syncllm"
agent = "{agent}"
[network]
preset = "ideal"
[output]
audio = false
""")
    (tmp_path / "sweep.toml").write_text(f"""[sweep]
name = "real"
base = "{tmp_path / 'base.toml'}"
seeds = [0, 1]
workers = 1
batch = 4
[sweep.grid]
"network.a_to_b.delay_ms+network.b_to_a.delay_ms" = [0, 300]
""")
    sweep = load_sweep(tmp_path / "sweep.toml")
    batched = run_sweep(sweep, tmp_path / "b", progress=False)
    alone = run_sweep(sweep, tmp_path / "o", progress=False, batch=1)
    assert len(batched) == 4
    pd.testing.assert_frame_equal(batched, alone)


def test_a_tdm_side_in_a_batched_sweep(tmp_path):
    """TDM against SyncLLM over a grid of slice lengths: batched (the SyncLLM sides share a
    forward, the TDM sides run on their own) gives the table of one-by-one."""
    sys.path.insert(0, str(HERE.parent / "models"))
    from tdm_fixtures import train_tiny_tdm_agent

    from duplexsim.bench.bench_envs import train_tiny_agent

    tdm = train_tiny_tdm_agent(tmp_path / "tdm", steps=2)
    sync = train_tiny_agent(tmp_path / "sync", steps=2)
    (tmp_path / "base.toml").write_text(f"""name = "base"
chunk_ms = 160
duration_s = 4.0
[a]
kind = "tdm"
agent = "{tdm}"
slice_ms = 640
[b]
kind = "syncllm"
agent = "{sync}"
[network]
preset = "ideal"
[output]
audio = false
""")
    (tmp_path / "sweep.toml").write_text(f"""[sweep]
name = "tdm"
base = "{tmp_path / 'base.toml'}"
seeds = [0, 1]
workers = 1
batch = 4
[sweep.grid]
"a.slice_ms" = [640, 800]
""")
    sweep = load_sweep(tmp_path / "sweep.toml")
    batched = run_sweep(sweep, tmp_path / "b", progress=False)
    alone = run_sweep(sweep, tmp_path / "o", progress=False, batch=1)
    assert len(batched) == 4 and batched["speech_share"].gt(0).all()
    pd.testing.assert_frame_equal(batched, alone)
    assert batched["a.slice_ms"].tolist() == [640, 640, 800, 800]
