"""Replay and scripted partners behind the agent protocol."""

from __future__ import annotations

import numpy as np
import pytest

from duplexsim.agents.base import Agent
from duplexsim.agents.replay import ReplayAgent
from duplexsim.agents.scripted import POLICIES, ScriptedAgent


def test_replay_plays_its_channel_then_silence() -> None:
    units = np.arange(1, 13)
    agent = ReplayAgent(units, frames_per_chunk=5, silence_unit=0)
    assert isinstance(agent, Agent)
    agent.reset(0)
    chunks = [agent.produce(j).units for j in range(4)]
    assert [c.tolist() for c in chunks] == [[1, 2, 3, 4, 5], [6, 7, 8, 9, 10],
                                            [11, 12, 0, 0, 0], [0, 0, 0, 0, 0]]
    agent.observe_partner(0, np.zeros(5))
    assert agent.produce(3).lookahead == 2  # partner chunks 1, 2 not received
    for k in (2, 3, 5):  # 1 and 4 lost
        agent.observe_partner(k, np.zeros(5))
    assert agent.produce(6).lookahead == 2
    assert agent.produce(4).lookahead == 1  # a clock running ahead: 5 is not < 4


def test_replay_refuses_float_units_and_ids_outside_its_inventory() -> None:
    """Float units were cast to int64 at construction (1.7 played as unit 1), past the
    simulator's check that refuses float units in a report."""
    with pytest.raises(ValueError, match=r"ReplayAgent r: units of dtype float64 \(allowed: "
                                         "integer unit ids"):
        ReplayAgent(np.array([0.0, 1.7, 2.0]), 1, name="r")
    with pytest.raises(ValueError, match=r"ReplayAgent r: units\[1\] = 12: not a unit id "
                                         r"\(allowed: 0..9\)"):
        ReplayAgent(np.array([0, 12, 3]), 1, name="r", n_units=10)
    assert ReplayAgent(np.array([0, 9, 3], np.int16), 1, n_units=10).units.dtype == np.int64
    with pytest.raises(ValueError, match=r"ReplayAgent r: silence_unit=10 is not one of the "
                                         r"n_units=10 units"):
        ReplayAgent(np.array([0, 9, 3]), 1, silence_unit=10, name="r", n_units=10)
    assert ReplayAgent([], 1).units.shape == (0,)


@pytest.mark.parametrize(("kw", "error"), [
    ({"frames_per_chunk": 2.5}, r"frames_per_chunk=2.5 \(allowed: a whole number >= 1\)"),
    ({"frames_per_chunk": 0}, r"frames_per_chunk=0 \(allowed: a whole number >= 1\)"),
    ({"silence_unit": 1.5}, r"silence_unit=1.5 \(allowed: a whole number >= 0\)"),
    ({"silence_unit": -1}, r"silence_unit=-1 \(allowed: a whole number >= 0\)"),
])
def test_partners_refuse_frame_counts_and_units_that_are_not_whole(kw: dict, error: str,
                                                                   ) -> None:
    """int() truncated them: 2.5 frames a chunk played 2, silence_unit 1.5 played unit 1;
    0 frames a chunk gave empty chunks; a negative n_chunks was numpy's 'negative
    dimensions are not allowed'."""
    args = {"frames_per_chunk": 5, **kw}
    with pytest.raises(ValueError, match=error):
        ScriptedAgent("random-talker", n_chunks=4, n_units=10, **args)
    with pytest.raises(ValueError, match="ReplayAgent r: " + error):
        ReplayAgent(np.arange(10), name="r", **args)
    with pytest.raises(ValueError, match=r"n_chunks=-1 \(allowed: a whole number >= 0\)"):
        ScriptedAgent("silent", 5, -1)
    assert ScriptedAgent("silent", np.int64(5), 0).produce(0).units.tolist() == [0] * 5


def test_scripted_lookahead_counts_lost_chunks() -> None:
    agent = ScriptedAgent("silent", frames_per_chunk=5, n_chunks=10, n_units=10)
    agent.reset(0)
    for k in (0, 1, 3):
        agent.observe_partner(k, np.zeros(5))
    assert agent.produce(5).lookahead == 2  # 2 and 4
    with pytest.raises(ValueError, match="one channel"):
        ReplayAgent(np.zeros((2, 5)), 5)


def test_scripted_silence_must_be_a_unit_of_its_vocabulary() -> None:
    """silence_unit=12 with n_units=10 played unit 12 for silence, which only the partner's
    check of the chunk then refused, naming the partner."""
    with pytest.raises(ValueError, match=r"silence_unit=12 is not one of the n_units=10 units "
                                         r"\(allowed: 0\.\.9\)"):
        ScriptedAgent("fixed-turns", 4, 40, n_units=10, silence_unit=12)


def test_replay_from_the_shipped_dialogue() -> None:
    corpora = pytest.importorskip("duplexsim.corpora")
    if not hasattr(corpora, "default_dialogue"):
        pytest.skip("duplexsim.corpora.default_dialogue not there yet")
    from duplexsim.config.scenario import Scenario, SideConfig

    try:
        dialogue = corpora.default_dialogue()
    except FileNotFoundError as e:  # the corpora engineer ships the data file
        pytest.skip(f"shipped dialogue not there yet ({e})")
    scenario = Scenario(chunk_ms=200, duration_s=4.0, a=SideConfig(kind="replay"),
                        b=SideConfig(kind="replay"))
    a = ReplayAgent.from_side(scenario.a, scenario, "a")
    b = ReplayAgent.from_side(scenario.b, scenario, "b")
    assert (a.produce(2).units == dialogue.units[0, 10:15]).all()
    assert (b.produce(2).units == dialogue.units[1, 10:15]).all()


@pytest.mark.parametrize("policy", sorted(POLICIES))
def test_scripted_policies(policy: str) -> None:
    agent = ScriptedAgent(policy, frames_per_chunk=4, n_chunks=200, n_units=50)
    agent.reset(3)
    units = np.concatenate([agent.produce(j).units for j in range(200)])
    talking = units != 0
    assert units.min() >= 0 and units.max() < 50
    if policy == "silent":
        assert not talking.any()
    elif policy == "fixed-turns":  # 2 s (50 frames) on, 2 s off, A first
        assert talking[:50].all() and not talking[50:100].any() and talking[100:150].all()
        other = ScriptedAgent(policy, 4, 200, 50, first=False)
        assert not other.produce(0).units.any() and other.produce(13).units.all()
    else:
        assert 0.2 < talking.mean() < 0.8
        agent.reset(3)
        again = np.concatenate([agent.produce(j).units for j in range(200)])
        agent.reset(4)
        different = np.concatenate([agent.produce(j).units for j in range(200)])
        assert (again == units).all() and not (different == units).all()


def test_replay_of_the_shipped_dialogue_checks_its_id_and_length() -> None:
    """A dialogue id without a corpus was ignored (the shipped dialogue played instead), and
    a scenario longer than the dialogue went on in silence without a word (audit)."""
    from duplexsim.config.scenario import Scenario, SideConfig
    from duplexsim.errors import InputError

    scenario = Scenario(chunk_ms=200, duration_s=4.0, a=SideConfig(kind="replay",
                                                                   dialogue="nope"))
    with pytest.raises(InputError, match=r"a\.dialogue: 'nope' is not the shipped dialogue"):
        ReplayAgent.from_side(scenario.a, scenario, "a")
    long = Scenario(chunk_ms=200, duration_s=90.0, a=SideConfig(kind="replay"))
    with pytest.warns(UserWarning, match="lasts 60 s, the scenario 90 s: side a is silent"):
        ReplayAgent.from_side(long.a, long, "a")


def test_replay_warns_whenever_the_scenario_outlasts_its_dialogue() -> None:
    """The warning came only when the scenario ran a whole chunk past the dialogue: 60.2 s
    over the shipped 60 s dialogue at 200 ms chunks played 200 ms of silence unannounced."""
    import warnings

    from duplexsim.config.scenario import Scenario, SideConfig

    for duration_s in (60.04, 60.2):
        over = Scenario(chunk_ms=200, duration_s=duration_s, a=SideConfig(kind="replay"))
        with pytest.warns(UserWarning, match=f"lasts 60 s, the scenario {duration_s:g} s"):
            ReplayAgent.from_side(over.a, over, "a")
    # exactly as long, or a last partial chunk past the scenario's end: nothing to say
    for chunk_ms, duration_s in ((200, 60.0), (160, 59.9)):
        fits = Scenario(chunk_ms=chunk_ms, duration_s=duration_s, a=SideConfig(kind="replay"))
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            ReplayAgent.from_side(fits.a, fits, "a")


@pytest.mark.parametrize("make", [
    lambda: ReplayAgent(np.arange(1, 13), 4, name="replay"),
    lambda: ScriptedAgent("fixed-turns", 4, 3, n_units=20, name="scripted"),
])
@pytest.mark.parametrize(("call", "message"), [
    (lambda a: a.produce(-2), r"produce\(-2\): chunk=-2 \(allowed: a whole number >= 0\)$"),
    (lambda a: a.produce(1.5), r"produce\(1.5\): chunk=1.5 \(allowed"),
    (lambda a: a.observe_partner(-1, np.zeros(4, np.int64)),
     r"observe_partner\(chunk=-1\): partner chunk=-1 \(allowed"),
    (lambda a: a.observe_partner(1.5, np.zeros(4, np.int64)),
     r"observe_partner\(chunk=1.5\): partner chunk=1.5 \(allowed"),
    (lambda a: a.played(-1, np.zeros(4, np.int64)),
     r"played\(chunk=-1\): own chunk=-1 \(allowed"),
    (lambda a: a.played(0.5, np.zeros(4, np.int64)),
     r"played\(chunk=0.5\): own chunk=0.5 \(allowed"),
])
def test_partners_refuse_a_chunk_index_that_is_no_whole_number_from_0(make, call,  # noqa: ANN001
                                                                      message: str) -> None:
    """produce(-2) played the last chunk of the channel (a slice [-8:-4]), produce(1.5) was
    a TypeError from the slicing, a received 1.5 counted as chunk 1 and -1 as a chunk, and
    played(-1) passed unnoticed (the SyncLLM and TDM agents refuse it)."""
    agent = make()
    with pytest.raises(ValueError, match=rf"^{agent.name}: {message}"):
        call(agent)
    assert agent.produce(2).lookahead == 2  # nothing was taken in
