"""A ``tc qdisc ... netem`` argument string as link keys (the scenario key ``netem``)."""

from __future__ import annotations

import tomllib

import pytest

from duplexsim.config.link import LinkConfig
from duplexsim.config.loader import FieldError, from_dict
from duplexsim.config.netem import netem_delay_keys, netem_keys
from duplexsim.config.network import NetworkConfig
from duplexsim.config.scenario import load_scenario, scenario_from_dict
from duplexsim.config.toml_writer import dump_toml
from duplexsim.errors import ConfigError, InputError
from duplexsim.sim import run
from duplexsim.sim.delay import link_from_netem


@pytest.mark.parametrize("distribution", [None, "normal", "pareto", "paretonormal"])
@pytest.mark.parametrize("delay", ["120ms 20ms", "0.12s 0.02s", "120000us 20000usec",
                                   "120MS 20e3us"])
def test_a_delay_string_is_link_from_netem(delay: str, distribution: str | None) -> None:
    text = f"delay {delay}" + (f" distribution {distribution}" if distribution else "")
    want = link_from_netem(120.0, 20.0, distribution)
    got = LinkConfig(**netem_keys(text))
    assert got.ordering == "reorder" and got.jitter_dist == want.jitter_dist
    assert got.delay_ms == pytest.approx(want.delay_ms, rel=1e-12)
    assert got.jitter_ms == pytest.approx(want.jitter_ms, rel=1e-12)


@pytest.mark.parametrize(("text", "want"), [
    ("loss 1%", {"loss_model": "bernoulli", "loss": 0.01}),
    ("loss random 1", {"loss_model": "bernoulli", "loss": 0.01}),  # tc: a bare number is %
    ("drop 0.5%", {"loss_model": "bernoulli", "loss": 0.005}),
    ("loss .5", {"loss_model": "bernoulli", "loss": 0.005}),  # as tc's "loss random .5"
    ("loss gemodel 1% 20%", {"loss_model": "gilbert-elliott", "ge_p": 0.01, "ge_r": 0.2,
                             "loss_bad": 1.0, "loss_good": 0.0}),
    ("loss gemodel 1% 20% 70% 0.1%", {"loss_model": "gilbert-elliott", "ge_p": 0.01,
                                      "ge_r": 0.2, "loss_bad": 0.7, "loss_good": 0.001}),
    ("duplicate 0.5%", {"duplicate": 0.005}),
    ("rate 1mbit", {"bandwidth_kbps": 1000.0}),
    ("rate 64kbit", {"bandwidth_kbps": 64.0}),
    ("rate 2kibit", {"bandwidth_kbps": 2.048}),
    ("rate 100kbps", {"bandwidth_kbps": 800.0}),  # tc's bps are bytes per second
    ("rate 1MBps", {"bandwidth_kbps": 8000.0}),
    ("rate 96000", {"bandwidth_kbps": 96.0}),  # a bare rate is bit/s
    ("rate 1gbit delay 10ms", {"bandwidth_kbps": 1e6, "delay_ms": 10.0, "jitter_ms": 0.0,
                               "jitter_dist": "uniform", "ordering": "fifo"}),
    # netem's rate 0 is no rate (sch_netem: q->rate == 0), so its time-sorted queue
    # reorders as without rate: bandwidth_kbps 0 is unlimited here, and the order reorder
    ("delay 10ms 3ms rate 0kbit", {"bandwidth_kbps": 0.0, "delay_ms": 10.0,
                                   "jitter_ms": 3 / 3 ** 0.5, "jitter_dist": "uniform",
                                   "ordering": "reorder"}),
])
def test_loss_duplicate_and_rate_map_to_link_keys(text: str, want: dict[str, object]) -> None:
    got = netem_keys(text)
    assert got.keys() == want.keys()
    assert got == {k: pytest.approx(v) if isinstance(v, float) else v for k, v in want.items()}


@pytest.mark.parametrize(("short", "full"), [
    ("d 100ms 10ms di normal", "delay 100ms 10ms distribution normal"),
    ("del 100ms 10ms distrib pareto", "delay 100ms 10ms distribution pareto"),
    ("la 20ms", "delay 20ms"),  # latency
    ("lo 1%", "loss 1%"),
    ("dr random 1%", "loss random 1%"),  # drop
    ("lo gemodel 1% 20%", "loss gemodel 1% 20%"),
    ("du 0.5%", "duplicate 0.5%"),
    ("ra 1mbit d 10ms", "rate 1mbit delay 10ms"),
])
def test_keywords_may_be_shortened_as_tc_matches_them(short: str, full: str) -> None:
    """tc's matches(): a word is the first keyword of netem_parse_opt it is a prefix of."""
    assert netem_keys(short) == netem_keys(full)


@pytest.mark.parametrize(("text", "fragment"), [
    ("r 25%", "'r' (tc's reorder) is not modelled"),  # reorder is tested before rate
    ("l 1000", "'l' (tc's limit) is not modelled"),  # limit before latency and loss
    ("delay 10ms c 1%", "'c' (tc's corrupt) is not modelled"),
    ("delays 10ms", "unknown word 'delays' (tc's keywords, or a prefix of one: limit,"),
    ("Delay 10ms", "unknown word 'Delay'"),  # matches() is case-sensitive
    ("loss rand 1%", "loss 'rand' is not modelled"),  # tc: strcmp(*argv, "random")
    ("d 1ms delay 2ms", "'delay' given twice"),
    ("lo 1% 25%", "correlation of loss is not modelled"),

    ("delay 100", "no unit we read (tc reads a bare number as us or ns"),
    ("delay 100ms 10ms 25%", "delay correlation '25%'"),
    ("loss gemodel 1%", "loss gemodel without r"),
    ("loss state 1 2", "loss 'state' is not modelled"),
    ("loss 1% 25%", "correlation of loss is not modelled"),
    ("duplicate 1% 25%", "correlation of duplicate is not modelled"),
    ("reorder 25% 50%", "'reorder' is not modelled"),
    ("delay 10ms corrupt 1%", "'corrupt' is not modelled"),
    ("delay 10ms slot 1ms", "'slot' is not modelled"),
    ("delay 10ms limit 1000", "'limit' is not modelled"),
    ("delay 10ms ecn", "'ecn' is not modelled"),
    ("delay 10ms gap 5", "'gap' is not modelled"),
    ("jitter 10ms", "unknown word 'jitter'"),
    ("rate 1mbit 20", "rate packet overhead '20'"),
    ("rate 5furlongs", "rate '5furlongs' is not a rate tc reads"),
    ("loss 101%", "'101%' is not a percentage"),
    ("loss -1%", "'-1%' is not a percentage"),  # these said "not modelled (the 4-state
    ("loss nan", "'nan' is not a percentage"),  # model, 'loss state', is not)"
    ("loss inf%", "'inf%' is not a percentage"),
    ("delay 10ms 5ms distribution experimental", "'experimental' is not one we model"),
    ("distribution pareto", "distribution pareto without a delay jitter"),
    ("delay 1ms 50ms distribution pareto", "has a mean delay below 0"),
    ("delay 1ms delay 2ms", "'delay' given twice"),
    ("delay", "'delay' needs its time"),
    ("", "empty"),
])
def test_each_refusal_is_one_line_on_the_netem_key(text: str, fragment: str) -> None:
    with pytest.raises(FieldError) as info:
        netem_keys(text)
    assert info.value.field == "netem" and fragment in info.value.message
    with pytest.raises(ConfigError) as info2:
        from_dict(NetworkConfig, {"b_to_a": {"netem": text}}, file="s.toml", prefix="network")
    (problem,) = info2.value.problems
    assert str(problem).startswith("s.toml: network.b_to_a.netem: ") and "\n" not in str(problem)


@pytest.mark.parametrize("name", ["uniform", "experimental", "Normal", "norm"])
def test_a_distribution_is_one_of_the_tables_tc_reads(name: str) -> None:
    """tc opens <tc lib>/NAME.dist (whole name, case as given); iproute2 ships no uniform.dist,
    so 'distribution uniform' fails in tc and here (it was read as 'delay D J' alone)."""
    with pytest.raises(FieldError) as info:
        netem_keys(f"delay 10ms 5ms distribution {name}")
    assert info.value.message.startswith(f"distribution {name!r} is not one we model")
    assert info.value.allowed == ("normal, pareto, paretonormal (iproute2's tables; not its "
                                  "experimental.dist)")
    assert ("tc has no uniform.dist" in info.value.message) == (name == "uniform")


@pytest.mark.parametrize("name", ["uniform", "experimental", "Normal"])
def test_the_python_entry_points_take_the_distributions_the_netem_key_takes(name: str) -> None:
    """``link_from_netem(D, J, "uniform")`` mapped as 'delay D J' alone, while the netem key
    refuses 'distribution uniform' (tc has no uniform.dist): one vocabulary, one refusal."""
    for entry in (netem_delay_keys, link_from_netem):
        with pytest.raises(InputError) as info:
            entry(120.0, 20.0, name)
        (problem,) = info.value.problems
        assert problem.message.startswith(f"{name!r} is not one of netem's tables")
        assert ("tc has no uniform.dist" in problem.message) == (name == "uniform")
        assert problem.allowed == ("normal, pareto, paretonormal, or None for netem's default "
                                   "(uniform)")
        assert "\n" not in str(info.value)
    assert link_from_netem(120.0, 20.0).jitter_dist == "uniform"  # None: netem's default


def test_netem_beside_a_key_it_sets_is_ambiguous_others_pass() -> None:
    with pytest.raises(ConfigError, match=r"network\.a_to_b\.netem: sets delay_ms, loss, "
                       "which the table gives too: ambiguous"):
        from_dict(NetworkConfig, {"a_to_b": {"netem": "delay 50ms 5ms loss 1%", "loss": 0.01,
                                             "delay_ms": 50.0}}, file="s.toml", prefix="network")
    edge = {"a": "A", "b": "B", "netem": "delay 50ms 5ms", "delay_ms": 3.0}
    with pytest.raises(ConfigError, match=r"topology\.edges\[0\]\.netem: sets delay_ms"):
        from_dict(NetworkConfig, {"topology": {"edges": [edge]}}, file="s.toml",
                  prefix="network")
    ok = from_dict(NetworkConfig, {"a_to_b": {"netem": "delay 50ms 5ms", "correlation": 0.5}},
                   file="s.toml", prefix="network")
    assert ok.link("a_to_b").correlation == 0.5


SCENARIO = """chunk_ms = 200
duration_s = 6.0
seed = 3
[a]
kind = "scripted"
policy = "random-talker"
[b]
kind = "scripted"
policy = "fixed-turns"
[network]
preset = "ideal"
[network.a_to_b]
{a_to_b}
[network.topology]
nodes = ["A", "R", "B"]
edges = [{{ a = "A", b = "R" }}, {{ a = "R", b = "B", {edge} }}]
"""


def test_a_scenario_with_netem_strings_resolves_and_runs(tmp_path) -> None:  # noqa: ANN001
    """The string stands for its keys: the scenario equals the one with the keys written out
    (same dict, same cache key, same trace) and runs."""
    netem = tmp_path / "netem.toml"
    netem.write_text(SCENARIO.format(
        a_to_b='netem = "delay 120ms 20ms distribution pareto loss gemodel 5% 30% duplicate '
               '0.5%"', edge='netem = "delay 10ms rate 1mbit loss 2%"'))
    keys = link_from_netem(120.0, 20.0, "pareto")
    spelled = tmp_path / "keys.toml"
    spelled.write_text(SCENARIO.format(
        a_to_b=f'delay_ms = {keys.delay_ms!r}\njitter_ms = {keys.jitter_ms!r}\n'
               'jitter_dist = "pareto"\nordering = "reorder"\nloss_model = "gilbert-elliott"\n'
               'ge_p = 0.05\nge_r = 0.3\nloss_bad = 1.0\nloss_good = 0.0\nduplicate = 0.005',
        edge='delay_ms = 10.0, jitter_ms = 0.0, jitter_dist = "uniform", ordering = "fifo", '
             'bandwidth_kbps = 1000.0, loss_model = "bernoulli", loss = 0.02'))
    scenario = load_scenario(netem)
    assert scenario.to_dict() == load_scenario(spelled).to_dict()
    assert scenario_from_dict(tomllib.loads(dump_toml(scenario))) == scenario
    hop = scenario.network.hops("a_to_b")[0]
    assert (hop.ge_p, hop.ge_r, hop.duplicate, hop.jitter_dist) == (0.05, 0.3, 0.005, "pareto")
    assert scenario.network.hops("b_to_a")[1].bandwidth_kbps == 1000.0
    trace = run(scenario)
    assert len(trace.network) > 0


@pytest.mark.parametrize("where, table", [
    ("network.a_to_b", {"a_to_b": {"netem": "delay 1000s"}}),
    ("network.topology.edges[0]", {"topology": {"edges": [{"a": "A", "b": "B",
                                                           "netem": "delay 1000s"}]}}),
])
def test_a_value_netem_gives_out_of_range_is_blamed_on_netem(where: str, table: dict) -> None:
    """The file holds netem, not delay_ms: before, the line named network.a_to_b.delay_ms."""
    with pytest.raises(ConfigError) as info:
        from_dict(NetworkConfig, table, file="s.toml", prefix="network")
    (problem,) = info.value.problems
    assert str(problem).startswith(f"s.toml: {where}.netem: gives delay_ms: 1000000.0 ")


@pytest.mark.parametrize("where, table", [
    ("network.a_to_b", {"a_to_b": {"netem": "loss gemodel 1% 0%"}}),
    ("network.topology.edges[0]", {"topology": {"edges": [{"a": "A", "b": "B",
                                                           "netem": "loss gemodel 1% 0%"}]}}),
])
def test_a_check_of_the_enclosing_table_on_a_key_netem_gave_names_netem(where: str,
                                                                        table: dict) -> None:
    """The ge_p / ge_r pairing is checked by the network (or topology) table, not the link:
    'loss gemodel 1% 0%' was refused as network.a_to_b.ge_r, a key the file does not hold."""
    with pytest.raises(ConfigError) as info:
        from_dict(NetworkConfig, table, file="s.toml", prefix="network")
    (problem,) = info.value.problems
    assert str(problem).startswith(f"s.toml: {where}.netem: gives ge_r: 0 while ge_p = "
                                   "0.01"), str(problem)
    with pytest.raises(ConfigError, match=r"s\.toml: network\.a_to_b\.ge_r: 0 while ge_p"):
        from_dict(NetworkConfig, {"a_to_b": {"loss_model": "gilbert-elliott", "ge_p": 0.01,
                                             "ge_r": 0.0}}, file="s.toml", prefix="network")
