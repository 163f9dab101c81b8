"""Scenario schema: Python-built == TOML-loaded, validation messages, dump round trip."""

from __future__ import annotations

import dataclasses
import json
import re
import tomllib
from pathlib import Path

import pytest

from duplexsim.config.loader import from_dict
from duplexsim.config.network import NetworkConfig
from duplexsim.config.reward import RewardConfig
from duplexsim.config.scenario import (
    BufferConfig,
    ComputeConfig,
    OutputConfig,
    Scenario,
    SideConfig,
    load_scenario,
)
from duplexsim.config.toml_writer import dump_toml
from duplexsim.errors import ConfigError

SCENARIOS = sorted((Path(__file__).parents[2] / "scenarios").glob("*.toml"))


def _messages(data: dict, file: str = "s.toml") -> list[str]:
    with pytest.raises(ConfigError) as info:
        from_dict(Scenario, data, file=file)
    return [str(p) for p in info.value.problems]


def test_python_built_equals_toml_loaded() -> None:
    built = Scenario(
        name="fisher-candor-200ms",
        chunk_ms=200,
        duration_s=60.0,
        seed=0,
        decision_lead_chunks=1,
        a=SideConfig(kind="syncllm", agent="runs/agents/fisher", estimation="model",
                     temperature=1.0, top_k=0, top_p=1.0),
        b=SideConfig(kind="syncllm", agent="runs/agents/candor", temperature=1.0),
        network=NetworkConfig(preset="continental"),
        compute=ComputeConfig(model="none", on_miss="silence"),
        buffer=BufferConfig(give_up_ms=400),
        output=OutputConfig(audio=True),
    )
    loaded = load_scenario(Path(__file__).parents[2] / "scenarios/fisher-candor-200ms.toml")
    assert loaded == built
    assert loaded.frames_per_chunk == 5 and loaded.n_chunks == 300


def test_numpy_scalars_build_the_scenario_plain_numbers_build() -> None:
    """Values from ``np.arange`` / ``np.linspace`` (a sweep written in Python): np.float64
    went into scenario.toml as ``np.float64(40.0)``, np.int64 failed its write after the
    run, and np.float32 20.0 was refused as "longer than a day"."""
    import numpy as np

    from duplexsim.config.link import LinkConfig

    def build(f, i):  # noqa: ANN001, ANN202
        link = LinkConfig(delay_ms=f(40.0), jitter_ms=i(3), jitter_dist="normal")
        return Scenario(name="np", chunk_ms=i(200), duration_s=f(20.0), seed=i(3),
                        a=SideConfig(kind="scripted", clock_drift_ppm=f(20.0)),
                        b=SideConfig(kind="scripted"),
                        network=NetworkConfig(preset="lan", a_to_b=link, b_to_a=link),
                        buffer=BufferConfig(give_up_ms=i(400)))

    plain = build(float, int)
    for f, i in ((np.float64, np.int64), (np.float32, np.int32)):
        built = build(f, i)
        assert built == plain and dump_toml(built) == dump_toml(plain)
        assert type(built.seed) is int and type(built.network.a_to_b.delay_ms) is float
        assert from_dict(Scenario, tomllib.loads(dump_toml(built))) == plain


def test_path_objects_build_the_scenario_strings_build() -> None:
    """A script names a corpus or an agent with a ``pathlib.Path``: taken as its string, as
    a file gives it (the type check of a scenario built in Python refused it as a
    PosixPath), and written to scenario.toml as that string."""
    side = SideConfig(kind="replay", corpus=Path("runs/corpora/fisher-like"))
    assert side == SideConfig(kind="replay", corpus="runs/corpora/fisher-like")
    assert type(side.corpus) is str


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.name for p in SCENARIOS])
def test_dump_round_trip_and_asdict(path: Path) -> None:
    scenario = load_scenario(path)
    text = dump_toml(scenario)
    assert from_dict(Scenario, tomllib.loads(text)) == scenario
    # asdict is plain data (JSON-able) and rebuilds the same scenario
    as_json = json.loads(json.dumps(scenario.to_dict()))
    pruned = _drop_none(as_json)
    assert from_dict(Scenario, pruned) == scenario


def _drop_none(obj: object) -> object:
    if isinstance(obj, dict):
        return {k: _drop_none(v) for k, v in obj.items() if v is not None}
    if isinstance(obj, list):
        return [_drop_none(v) for v in obj]
    return obj


def test_replay_sides_default_to_their_own_channel() -> None:
    s = from_dict(Scenario, {"a": {"kind": "replay"}, "b": {"kind": "replay"}})
    assert (s.a.channel, s.b.channel) == (0, 1)
    assert Scenario(b=SideConfig(kind="replay", channel=0)).b.channel == 0
    assert Scenario().b == SideConfig(kind="replay", channel=1)


def test_chunk_ms_150_names_field_and_allowed_multiples() -> None:
    (msg,) = _messages({"chunk_ms": 150})
    assert msg.startswith("s.toml: chunk_ms: 150 is not a positive multiple of the 40 ms frame")
    assert "allowed: multiples of 40" in msg
    with pytest.raises(ValueError, match="chunk_ms"):
        Scenario(chunk_ms=150)


@pytest.mark.parametrize(("data", "expected"), [
    ({"chunk_ms": 100_000, "duration_s": 1.0},
     "s.toml: chunk_ms: 100000 is not a positive multiple of the 40 ms frame"),
    ({"chunk_ms": 150, "duration_s": 0.1},
     "s.toml: chunk_ms: 150 is not a positive multiple of the 40 ms frame"),
    ({"chunk_ms": 100_000, "duration_s": 200.0,
      "a": {"kind": "tdm", "agent": "x", "slice_ms": 1200}},
     "s.toml: chunk_ms: 100000 is not a positive multiple of the 40 ms frame"),
    ({"compute": {"model": "profile", "overhead_ms": -1.0}},
     "s.toml: compute.overhead_ms: -1.0 is negative or not finite"),
    ({"compute": {"model": "profile", "decode_ms_per_token": float("nan")}},
     "s.toml: compute.decode_ms_per_token: nan is negative or not finite"),
    ({"a": {"kind": "tdm", "agent": "x", "slice_ms": -40}}, "s.toml: a.slice_ms: -40 is negative"),
])
def test_one_mistake_is_one_line(data: dict, expected: str) -> None:
    """A chunk_ms out of range was also "duration_s: 1.0 s is shorter than one chunk" (or a
    TDM slice "not a whole number of chunk_ms = 100000 chunks"), a NaN or negative compute cost
    also "model = 'profile' with every cost 0": checks that read the bad value; a negative
    slice_ms that is a multiple of 40 was "-40 is not a multiple of the 40 ms frame"."""
    (msg,) = _messages(data)
    assert msg.startswith(expected), msg

@pytest.mark.parametrize(("compute", "user", "expected"), [
    ({"overhead_ms": 50.0}, "profile",
     "compute.overhead_ms: not used by model = 'none' (only by model = 'profile')"),
    ({"model": "measured", "decode_ms_per_token": 2.0}, "profile",
     "compute.decode_ms_per_token: not used by model = 'measured' (only by model = 'profile')"),
    ({"model": "profile", "overhead_ms": 5.0, "scale": 2.0}, "measured",
     "compute.scale: not used by model = 'profile' (only by model = 'measured')"),
])
def test_a_compute_key_its_model_does_not_read_is_refused(compute: dict, user: str,
                                                          expected: str) -> None:
    """Under model = "none" a profile's costs (or a scale) were accepted and changed nothing:
    a sweep over compute.overhead_ms ran identical cells."""
    (msg,) = _messages({"compute": compute})
    assert msg.startswith(f"s.toml: {expected} (allowed: model = '{user}'"), msg
    unused = next(k for k in compute if expected.startswith(f"compute.{k}:"))
    used = {**compute, "model": user, "overhead_ms": 5.0 if user == "profile" else 0.0}
    if user != "measured":
        used.pop("scale", None)
    assert from_dict(Scenario, {"compute": used}, file="s.toml").compute.model == user
    assert unused in used


def test_every_problem_is_reported_at_once() -> None:
    msgs = _messages({
        "chunk_ms": 150,
        "duration_s": -5,
        "sede": 1,
        "a": {"kind": "syncllm", "temperature": "hot"},
        "b": {"kind": "robot"},
        "compute": {"model": "profile", "scale": 0},
        "buffer": {"give_up_ms": -7},
    })
    text = "\n".join(msgs)
    for expected in [
        "s.toml: chunk_ms: 150 is not a positive multiple",
        "s.toml: duration_s: -5.0 is not a positive duration",
        "s.toml: sede: unknown key (allowed: a, b, buffer,",
        "s.toml: a.temperature: wrong type string (allowed: number)",
        # a key left out, its check reading the (valid) kind only: named beside temperature
        "s.toml: a.agent: a syncllm side needs its trained agent directory",
        "s.toml: b.kind: unknown value 'robot' (allowed: syncllm, tdm, replay, scripted)",
        "s.toml: compute.scale: 0.0 is not a positive number (allowed: > 0 and <= 1000000)",
        "s.toml: compute.decode_ms_per_token: model = 'profile' with every cost 0",
        "s.toml: buffer.give_up_ms: -7 is not allowed (allowed: 0 .. 3600000, or -1 = never",
    ]:
        assert expected in text, f"{expected!r} not in:\n{text}"
    assert len(msgs) == 9, text


def test_a_side_without_its_agent_names_its_other_bad_fields_too() -> None:
    """A side missing the key its kind needs (a syncllm or tdm side's agent) still has its
    other fields checked, and so do the other tables: every problem in one run."""
    assert _messages({"chunk_ms": 150,
                      "a": {"kind": "syncllm", "temperature": 500.0, "top_k": -1},
                      "b": {"kind": "tdm", "top_p": "x"}}) == [
        "s.toml: a.agent: a syncllm side needs its trained agent directory (allowed: a path "
        'such as "runs/agents/fisher" (written by `duplexsim train`))',
        "s.toml: a.temperature: 500.0 out of range (allowed: 0 (greedy) .. 100)",
        "s.toml: a.top_k: -1 is negative (allowed: >= 0 (0 = off))",
        "s.toml: b.top_p: wrong type string (allowed: number)",
        "s.toml: b.agent: a tdm side needs its trained agent directory (allowed: a path such "
        'as "runs/agents/fisher-tdm" (written by `duplexsim train`))',
        "s.toml: chunk_ms: 150 is not a positive multiple of the 40 ms frame (allowed: "
        "multiples of 40 up to 60000: 40, 80, 120, 160, 200, 240, ...)",
    ]


def test_side_validation() -> None:
    with pytest.raises(ValueError, match="agent: a syncllm side needs its trained agent"):
        SideConfig(kind="syncllm")
    msgs = _messages({"a": {"kind": "syncllm", "agent": "x", "channel": 1, "policy": "silent"}})
    assert any("a.channel: not used by kind = 'syncllm' (only by kind = 'replay')" in m
               for m in msgs)
    assert any("a.policy: not used by kind = 'syncllm'" in m for m in msgs)
    msgs = _messages({"b": {"kind": "replay", "channel": 2, "top_p": 0.0}})
    assert "s.toml: b.channel: no channel 2 (allowed: 0, 1)" in msgs
    assert any(m.startswith("s.toml: b.top_p: 0.0 out of range") for m in msgs)
    msgs = _messages({"a": {"kind": "syncllm", "agent": "x", "estimate_temperature": -1},
                      "b": {"kind": "tdm", "agent": "x", "estimate_temperature": 0.5}})
    assert "s.toml: a.estimate_temperature: -1.0 out of range (allowed: 0 (greedy) .. 100, " \
        "or unset)" in msgs
    assert any(m.startswith("s.toml: b.estimate_temperature: not used by kind = 'tdm'")
               for m in msgs)
    assert SideConfig(kind="syncllm", agent="x", estimate_temperature=0.0).estimate_temperature \
        == 0.0


@pytest.mark.parametrize(("cls", "kwargs", "expected"), [
    (Scenario, {"a": {"kind": "replay"}}, "a: got dict (allowed: SideConfig (the [a] table))"),
    (Scenario, {"network": "lan"},
     "network: got str (allowed: NetworkConfig (the [network] table))"),
    (Scenario, {"buffer": 400}, "buffer: got int (allowed: BufferConfig (the [buffer] table))"),
    (Scenario, {"name": None}, "name: wrong type null (allowed: string)"),
    (Scenario, {"chunk_ms": "160"}, "chunk_ms: wrong type string (allowed: integer)"),
    (Scenario, {"seed": 1.5}, "seed: wrong type float (allowed: integer)"),
    (Scenario, {"seed": True}, "seed: wrong type boolean (allowed: integer)"),
    (Scenario, {"decision_lead_chunks": 1.0},
     "decision_lead_chunks: wrong type float (allowed: integer)"),
    (Scenario, {"duration_s": "60"}, "duration_s: wrong type string (allowed: number)"),
    (SideConfig, {"clock_offset_ms": 1.5}, "clock_offset_ms: wrong type float (allowed: integer)"),
    (SideConfig, {"channel": 1.0}, "channel: wrong type float (allowed: integer)"),
    (SideConfig, {"kind": "syncllm", "agent": "x", "estimation": "guess"},
     "estimation: unknown value 'guess' (allowed: model, silence, wait)"),
    (SideConfig, {"kind": "robot"},
     "kind: unknown value 'robot' (allowed: syncllm, tdm, replay, scripted)"),
    (SideConfig, {"kind": "replay", "temperature": -1.0},
     "temperature: -1.0 out of range (allowed: 0 (greedy) .. 100)"),
    (ComputeConfig, {"on_miss": "loop"},
     "on_miss: unknown value 'loop' (allowed: silence, repeat)"),
    (BufferConfig, {"give_up_ms": 1.5}, "give_up_ms: wrong type float (allowed: integer)"),
    (OutputConfig, {"audio": 1}, "audio: wrong type integer (allowed: true or false)"),
])
def test_built_in_python_a_wrong_type_is_one_line(cls: type, kwargs: dict,
                                                  expected: str) -> None:
    """Python takes what a file takes and refuses what it refuses: a dict for a side or a
    None name was an AttributeError, ``chunk_ms = "160"`` a TypeError from a comparison, and
    ``seed = 1.5``, ``clock_offset_ms = 1.5`` or an unknown ``estimation`` were accepted (to
    fail deep in a run, or never); a bad value of a key the side's kind does not read was a
    second line for one mistake."""
    with pytest.raises(ConfigError) as info:
        cls(**kwargs)
    assert [str(p) for p in info.value.problems] == [expected]
    table = {ComputeConfig: "compute", BufferConfig: "buffer", OutputConfig: "output",
             SideConfig: "a"}.get(cls)
    if table is not None or not expected.startswith(("a:", "network:", "buffer:")):
        # (no file holds a Python object; a file gives no None)
        data, key = ({table: kwargs}, f"{table}.") if table else (kwargs, "")
        if None not in kwargs.values():
            assert _messages(data) == [f"s.toml: {key}{expected}"]


def test_built_in_python_numbers_of_the_right_kind_still_build() -> None:
    """An int where a float is wanted stays as given (its TOML is unchanged); NumPy scalars
    are their Python numbers."""
    import numpy as np

    s = Scenario(duration_s=60, seed=np.int64(3), chunk_ms=np.int32(200),
                 a=SideConfig(kind="replay", clock_drift_ppm=np.float64(5.0), channel=np.int8(1)))
    assert (s.duration_s, type(s.duration_s), s.seed, s.chunk_ms) == (60, int, 3, 200)
    assert (s.a.clock_drift_ppm, s.a.channel) == (5.0, 1)
    assert Scenario(reward=None).reward is None
    assert Scenario(reward=RewardConfig()).reward == RewardConfig()


def test_missing_files_only_when_asked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # relative paths are relative to the current directory
    path = tmp_path / "s.toml"
    path.write_text('[a]\nkind = "syncllm"\nagent = "agents/fisher"\n'
                    '[b]\nkind = "replay"\ncorpus = "corpora/candor"\n')
    scenario = load_scenario(path)  # validate does not need trained agents
    with pytest.raises(ConfigError) as info:
        load_scenario(path, check_files=True)
    keys = [p.key for p in info.value.problems]
    assert keys == ["a.agent", "b.corpus"]
    (tmp_path / "agents/fisher").mkdir(parents=True)
    (tmp_path / "agents/fisher/agent.json").write_text("{}")
    (tmp_path / "corpora/candor").mkdir(parents=True)
    (tmp_path / "corpora/candor/manifest.json").write_text("{}")
    assert load_scenario(path, check_files=True) == scenario
    resolved = scenario.resolve()
    assert resolved.a.agent == str(tmp_path.resolve() / "agents/fisher")
    assert resolved.b.corpus == str(tmp_path.resolve() / "corpora/candor")
    assert dataclasses.replace(resolved, a=scenario.a, b=scenario.b) == scenario


REWARD_SCENARIO = """name = "rewarded"
chunk_ms = 160
duration_s = 2.0
[network]
preset = "lan"
[output]
audio = false
[reward]
gap_per_s = 2.5
gap_free_ms = 600
fto_sd_ms = 300.0
"""


def test_reward_table_is_optional_and_validated() -> None:
    assert Scenario().reward is None and "[reward]" not in dump_toml(Scenario())
    s = from_dict(Scenario, tomllib.loads(REWARD_SCENARIO))
    assert s.reward == RewardConfig(gap_per_s=2.5, gap_free_ms=600.0, fto_sd_ms=300.0)
    assert from_dict(Scenario, tomllib.loads(dump_toml(s))) == s
    msgs = _messages({"reward": {"colour": 1, "fto": "high", "gap_per_s": -1.0,
                                 "fto_sd_ms": 0.0, "interrupt": 1e300,
                                 "bc_min_interval_ms": 1e12}})
    assert msgs[0] == ("s.toml: reward.colour: unknown key (allowed: backchannel, "
                       "bc_context_ms, bc_min_interval_ms, fto, fto_mean_ms, fto_sd_ms, "
                       "gap_free_ms, gap_per_s, interrupt, overlap_per_s)")
    assert "s.toml: reward.fto: wrong type string (allowed: number)" in msgs
    assert "s.toml: reward.gap_per_s: -1.0 is out of range (allowed: 0 .. 1e+06)" in msgs
    assert "s.toml: reward.interrupt: 1e+300 is out of range (allowed: 0 .. 1e+06)" in msgs
    assert ("s.toml: reward.bc_min_interval_ms: 1000000000000.0 is out of range (allowed: "
            "0 .. 86400000)") in msgs
    assert "s.toml: reward.fto_sd_ms: 0.0 is out of range (allowed: > 0 and <= 86400000)" in msgs
    assert len(msgs) == 6, msgs
    assert _messages({"reward": 3}) == ["s.toml: reward: wrong type integer (allowed: table)"]
    # joint silence is scored in 40 ms frames: 500 was taken as 480, silently
    assert _messages({"reward": {"gap_free_ms": 500}}) == [
        "s.toml: reward.gap_free_ms: 500 is not whole 40 ms frames (allowed: a multiple of "
        "40, e.g. 480 or 520)"]
    assert from_dict(Scenario, {"reward": {"gap_free_ms": 0}}).reward == RewardConfig(
        gap_free_ms=0.0)
    # so is a backchannel's context: 1010 was taken as 1000, silently
    assert _messages({"reward": {"bc_context_ms": 1010}}) == [
        "s.toml: reward.bc_context_ms: 1010 is not whole 40 ms frames (allowed: a multiple "
        "of 40, e.g. 1000 or 1040)"]
    assert from_dict(Scenario, {"reward": {"bc_context_ms": 520}}).reward == RewardConfig(
        bc_context_ms=520.0)
    with pytest.raises(ValueError, match="reward: got dict"):
        Scenario(reward={"gap_per_s": 2.0})  # type: ignore[arg-type]


def test_simulate_writes_the_reward_table_back(tmp_path: Path) -> None:
    from duplexsim.cli import main

    path = tmp_path / "rewarded.toml"
    path.write_text(REWARD_SCENARIO)
    out = tmp_path / "out"
    assert main(["simulate", str(path), "--out", str(out), "--quiet"]) == 0
    assert "[reward]" in (out / "scenario.toml").read_text()
    written = load_scenario(out / "scenario.toml")
    assert written.reward == load_scenario(path).reward
    assert written == load_scenario(path).resolve()


def test_an_integer_too_large_for_a_float_is_one_line(tmp_path: Path) -> None:
    """TOML reads integers of any length; one too large for a float in a number field was an
    OverflowError with its traceback."""
    path = tmp_path / "big.toml"
    path.write_text(f'name = "big"\nduration_s = {"9" * 400}\n'
                    f'[network.a_to_b]\ndelay_ms = {"9" * 310}\n')
    with pytest.raises(ConfigError) as info:
        load_scenario(path)
    assert [str(p) for p in info.value.problems] == [
        f"{path}: duration_s: integer of 400 digits is too large for a number "
        "(allowed: a number below 1.8e308)",
        f"{path}: network.a_to_b.delay_ms: integer of 310 digits is too large for a number "
        "(allowed: a number below 1.8e308)"]


@pytest.mark.parametrize("sample", ["1_0", "+10", "\u0661\u0660", "0x10", "10 ms"])
def test_jitter_trace_samples_are_plain_numbers(tmp_path, sample: str) -> None:
    """float() read "1_0" as 10 ms and other scripts' digits as numbers: a stray
    character became a delay sample instead of the one-line error naming the line."""
    from duplexsim.config.link import read_jitter_trace
    from duplexsim.errors import InputError

    trace = tmp_path / "trace.txt"
    trace.write_text(f"12.5\n{sample}\n1e1\n", encoding="utf-8")
    with pytest.raises(InputError, match=rf"trace.txt: line 2: '{re.escape(sample)}' is not a "
                       "number"):
        read_jitter_trace(trace)
    trace.write_text("12.5  # comment\n\n 7 \n1e1\n", encoding="utf-8")
    assert read_jitter_trace(trace) == [12.5, 7.0, 10.0]
    trace.write_text("\ufeff12.5\r\n7\r\n", encoding="utf-8")  # a spreadsheet's export
    assert read_jitter_trace(trace) == [12.5, 7.0]


def test_a_jitter_trace_without_variation_is_refused(tmp_path) -> None:
    """A trace whose samples are all equal gave no jitter at all, whatever jitter_ms it was
    scaled to (jitter_ms = 5 over "50 50 50": sd 0), without a word."""
    from duplexsim.config.link import read_jitter_trace
    from duplexsim.errors import InputError

    trace = tmp_path / "trace.txt"
    trace.write_text("50\n50.0\n50\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"trace.txt: all 3 samples are 50 ms: no variation "
                       r"to draw jitter from \(allowed: at least 2 different delay samples"):
        read_jitter_trace(trace)
    trace.write_text("50\n50\n51\n", encoding="utf-8")
    assert read_jitter_trace(trace) == [50.0, 50.0, 51.0]


def test_duration_ms_is_the_simulators_half_up_ms_and_counts_the_chunks() -> None:
    """duration_s in ms as the simulator rounds (half a ms up, float error snapped): 0.1595 s
    is 159.5 ms, one 160 ms chunk (it was refused as shorter than one, though round() made
    it 160), and 0.3205 s is 321 ms, three chunks (round() made it 320, two)."""
    assert Scenario(chunk_ms=160, duration_s=0.1595).n_chunks == 1
    assert _messages({"chunk_ms": 160, "duration_s": 0.1594}) == [
        "s.toml: duration_s: 0.1594 s is shorter than one chunk (allowed: >= 0.16 s)"]
    three = Scenario(chunk_ms=160, duration_s=0.3205)
    assert (three.duration_ms, three.n_chunks) == (321, 3)
    assert Scenario(chunk_ms=160, duration_s=0.1 * 3 + 0.02).duration_ms == 320  # 0.32...06
