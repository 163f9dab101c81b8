"""The scenario's TOML writer: what it writes reads back, every character included."""

from __future__ import annotations

import json
import tomllib

import pytest

from duplexsim.config.loader import from_dict
from duplexsim.config.scenario import Scenario, SideConfig
from duplexsim.config.toml_writer import dump_toml, toml_string, toml_value
from duplexsim.errors import ConfigError


def test_dump_toml_writes_characters_past_the_basic_plane() -> None:
    """json.dumps wrote "\U0001f3a7" as a surrogate pair, which TOML refuses: simulate ran a
    scenario named (or with a path) with an emoji, then failed writing scenario.toml with a
    TOMLDecodeError traceback."""
    scenario = Scenario(name="lan-\U0001f3a7 \"q\" \\ \x7f\t",
                        a=SideConfig(kind="replay", corpus="/tmp/\U0001f3a7/corpus"))
    text = dump_toml(scenario)
    assert 'name = "lan-\\U0001f3a7 \\"q\\" \\\\ \\u007f\\t"' in text
    assert from_dict(Scenario, tomllib.loads(text)) == scenario
    for plain in ("runs/x", "é", "a\"b\\c", "\n\x01\x7f"):  # as json.dumps writes them
        assert toml_string(plain) == json.dumps(plain)
    with pytest.raises(ConfigError, match="no Unicode character"):
        toml_string("runs/\udcff")  # a file name in another encoding (surrogateescape)


def test_a_sweep_is_written_with_the_scenario_writer_s_values() -> None:
    """dump_sweep had a value writer of its own, which refused a table: a sweep setting
    network.topology.edges (a list of tables, as scenarios/asymmetric-topology.toml writes
    them) could not be written ("cannot write dict to a sweep file")."""
    from duplexsim.sweeps.config import SweepConfig, dump_sweep

    edges = [{"a": "A", "b": "relay", "preset": "metro"}, {"a": "relay", "b": "B",
                                                             "delay_ms": 40.0}]
    config = SweepConfig(name="x", base="b.toml", set={"network.topology.edges": edges},
                         grid={"network.a_to_b.delay_ms": [0.0, float("inf")]})
    text = dump_sweep(config)
    assert '"network.topology.edges" = [{ a = "A", b = "relay", preset = "metro" }, ' in text
    assert tomllib.loads(text)["sweep"]["set"] == {"network.topology.edges": edges}
    assert toml_value([True, 3, -0.0, float("nan"), "\U0001f3a7", ("x",)]) == \
        '[true, 3, -0.0, nan, "\\U0001f3a7", ["x"]]'
    with pytest.raises(TypeError, match=r"^dump_sweep: cannot write object <object "):
        dump_sweep(SweepConfig(name="x", base="b.toml", set={"a.b": object()}))


def test_the_scenario_module_still_hands_out_the_writer() -> None:
    """dump_toml and toml_string moved here from duplexsim.config.scenario, which re-exports
    them: code that imports them from there gets the same functions."""
    from duplexsim.config import scenario, toml_writer

    assert scenario.dump_toml is toml_writer.dump_toml
    assert scenario.toml_string is toml_writer.toml_string
