"""Bad scenarios fail before anything runs, with the key and what is allowed; the CLI."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from sim_scenarios import scripted

from duplexsim.cli import main
from duplexsim.config.loader import from_dict
from duplexsim.config.scenario import Scenario, SideConfig
from duplexsim.errors import ConfigError
from duplexsim.sim import run


@pytest.mark.parametrize("network,fragments", [
    ({"a_to_b": {"delay_ms": -5.0}}, ["network.a_to_b.delay_ms", "negative", ">= 0"]),
    ({"b_to_a": {"loss": 1.5}}, ["network.b_to_a.loss", "0 <= loss <= 1"]),
    ({"preset": "moon-base"}, ["network.preset", "unknown preset 'moon-base'", "satellite-geo"]),
    ({"a_to_b": {"correlation": 1.0}}, ["network.a_to_b.correlation", "0 <= correlation < 1"]),
    ({"a_to_b": {"jitter_dist": "trace"}}, ["network.a_to_b.jitter_trace", "needs a file"]),
    # a trace beside another distribution (the preset's) was silently never drawn from
    ({"preset": "lan", "b_to_a": {"jitter_trace": "jitter.txt"}},
     ["network.b_to_a.jitter_trace", "'jitter.txt' is read only with jitter_dist = \"trace\", "
      "not 'normal'", 'jitter_dist = "trace" beside it']),
    ({"topology": {"nodes": ["A", "r1", "r2", "B"],
                   "edges": [{"a": "A", "b": "r1"}, {"a": "r2", "b": "B"}]}},
     ["network.topology.edges", 'no path between "A" and "B"']),
    ({"topology": {"nodes": ["A", "B"], "edges": [{"a": "A", "b": "C"}]}},
     ["network.topology.edges[0]", "unknown node 'C'"]),
    ({"topology": {"nodes": ["A", "B"], "edges": [{"a": "A", "b": "B", "delay_ms": 10.0},
                                                  {"a": "B", "b": "A", "delay_ms": 50.0}]}},
     ["network.topology.edges[1]", "a second edge B-A", "edges[0] joins them already"]),
    # a self-loop is on no path: its delay was silently ignored
    ({"topology": {"nodes": ["A", "B"], "edges": [{"a": "A", "b": "A", "delay_ms": 100.0},
                                                  {"a": "A", "b": "B"}]}},
     ["network.topology.edges[0]", "joins 'A' to itself", "two different nodes"]),
    ({"a_to_b": {"loss": 0.1, "loss_model": "none"}},
     ["network.a_to_b.loss_model", '"none" with loss = 0.1', "bernoulli or gilbert-elliott"]),
    ({"a_to_b": {"loss_model": "gilbert-elliott", "ge_p": 0.1}},
     ["network.a_to_b.ge_r", "0 while ge_p = 0.1", "both ge_p and ge_r"]),
    ({"a_to_b": {"loss_model": "gilbert-elliott", "loss": 0.5, "loss_bad": 0.4}},
     ["network.a_to_b.loss", "outside the states' losses"]),
    ({"a_to_b": {"loss_bad": 1.5}}, ["network.a_to_b.loss_bad", "0 <= loss_bad <= 1"]),
    # every other link amount had an upper bound: 1e300 packets was a burst
    ({"a_to_b": {"loss": 0.01, "burst": 1e300}},
     ["network.a_to_b.burst", "1e+300 out of range", "<= 1000000 packets"]),
    # a chain worked out from a mean loss of 0 while the good state loses: nothing lost
    ({"a_to_b": {"loss_good": 0.1}}, ["network.a_to_b.loss", "0 with loss_good = 0.1",
                                      "would lose nothing", "ge_p and ge_r"]),
    ({"preset": "metro", "b_to_a": {"loss": 0.0, "loss_good": 0.02, "burst": 3.0}},
     ["network.b_to_a.loss", "0 with loss_good = 0.02, loss_bad = 1.0"]),
    ({"a_to_b": {"loss_model": "gilbert-elliott", "loss_good": 0.1, "loss_bad": 0.5}},
     ["network.a_to_b.loss", "between loss_good and loss_bad"]),
    # states given the other way round are accepted (0.3 is reached), so the message may not
    # say loss_good <= loss <= loss_bad
    ({"a_to_b": {"loss_model": "gilbert-elliott", "loss": 0.6, "loss_good": 0.5,
                 "loss_bad": 0.1}},
     ["network.a_to_b.loss", "0.5 (good) .. 0.1 (bad)", "between loss_good and loss_bad"]),
])
def test_bad_networks_name_key_and_range(network: dict, fragments: list[str]) -> None:
    with pytest.raises(ConfigError) as info:
        from_dict(Scenario, {"network": network}, file="bad.toml")
    text = str(info.value)
    assert text.startswith("bad.toml: ")
    for fragment in fragments:
        assert fragment in text


@pytest.mark.parametrize("link", [
    {"loss": 0.05, "loss_model": "gilbert-elliott"}, {"loss": 0.05, "loss_bad": 0.5},
    {"loss": 0.05, "loss_good": 0.01}])
@pytest.mark.parametrize("preset", ["ideal", "lan"])
def test_gilbert_elliott_over_a_lossless_preset_needs_its_burst(preset: str, link: dict,
                                                               ) -> None:
    """The lossless presets' burst = 1 is a placeholder: a chain derived from a loss over
    them without a burst had bursts of exactly one packet (never two losses in a row)."""
    with pytest.raises(ConfigError) as info:
        from_dict(Scenario, {"network": {"preset": preset, "a_to_b": link}}, file="s.toml")
    text = str(info.value)
    assert text.startswith(f"s.toml: network.a_to_b.burst: not given for a gilbert-elliott "
                           f"loss of 0.05 over preset '{preset}'") and "\n" not in text
    assert 'loss_model = "bernoulli"' in text
    for fine in ({**link, "burst": 1.0}, {"loss_model": "gilbert-elliott", "loss": 0.0},
                 {"loss": 0.05},
                 {"loss_model": "gilbert-elliott", "ge_p": 0.1, "ge_r": 0.5}):
        from_dict(Scenario, {"network": {"preset": preset, "a_to_b": fine}})
    # a lossy preset's own burst is a real one
    from_dict(Scenario, {"network": {"preset": "metro", "a_to_b": link}})


def test_gilbert_elliott_without_loss_loses_nothing_only_where_asked() -> None:
    """A mean loss of 0 is no loss (a sweep's loss = 0 cell over a base with burst and
    loss_bad, a preset's loss turned off); with ge_p / ge_r the chain is given and loses."""
    for network in ({"preset": "metro", "a_to_b": {"loss": 0.0}},
                    {"a_to_b": {"loss": 0.0, "burst": 3.0, "loss_bad": 0.8}},
                    {"a_to_b": {"loss_model": "gilbert-elliott", "loss_bad": 0.5}}):
        link = from_dict(Scenario, {"network": network}).network.link("a_to_b")
        assert not link.can_lose(), network
    chain = from_dict(Scenario, {"network": {"a_to_b": {"ge_p": 0.1, "ge_r": 0.5,
                                                        "loss_good": 0.1, "loss_bad": 0.0}}})
    assert chain.network.link("a_to_b").can_lose()


def test_topology_hops_add(tmp_path: Path) -> None:
    scenario = from_dict(Scenario, {
        "chunk_ms": 200, "duration_s": 2.0,
        "a": {"kind": "scripted"}, "b": {"kind": "scripted"},
        "network": {"preset": "ideal", "a_to_b": {"delay_ms": 5.0}, "topology": {
            "nodes": ["A", "relay", "slow", "B"],
            "edges": [{"a": "A", "b": "relay", "delay_ms": 10.0},
                      {"a": "relay", "b": "B", "delay_ms": 20.0},
                      {"a": "A", "b": "slow", "delay_ms": 100.0},
                      {"a": "slow", "b": "B", "delay_ms": 1.0}]}},
    })
    net = run(scenario).network
    delays = net.groupby("direction")["delay_ms"].agg(lambda x: set(x.dropna()))
    assert delays["A->B"] == {35.0} and delays["B->A"] == {30.0}  # lowest-delay path + own link


def test_chunk_size_the_agent_was_not_trained_for(tiny_agent_dir: Path) -> None:
    side = SideConfig(kind="syncllm", agent=str(tiny_agent_dir))
    scenario = dataclasses.replace(scripted(240, 2.0), a=side)
    with pytest.raises(ValueError,
                       match=r"chunk_ms=240 \(scenario a\.agent\) \(allowed: 160, 200\)"):
        run(scenario)
    # validate --check-files reads agent.json and says so too (no model loaded)
    problems = scenario.missing_files("s.toml")
    assert [p.key for p in problems] == ["chunk_ms"] and "160, 200" in problems[0].allowed
    wrong_kind = dataclasses.replace(scripted(240, 2.0), a=dataclasses.replace(side, kind="tdm"))
    assert [p.key for p in wrong_kind.missing_files("s.toml")] == ["a.kind"]


def test_sides_of_two_unit_inventories_are_refused_when_built(tiny_agent_dir: Path) -> None:
    """The tiny agent (20 units) against the shipped dialogue (501) passed sim.run's build and
    stopped 54 chunks into a 30 s run ("partner chunk 54[0] = 169: not a unit id (allowed:
    0..19)"); only the scenario file check (simulate, validate --check-files) refused it."""
    from duplexsim.errors import InputError

    scenario = dataclasses.replace(scripted(160, 30.0), a=SideConfig(
        kind="syncllm", agent=str(tiny_agent_dir)), b=SideConfig(kind="replay"))
    with pytest.raises(InputError, match=r"^b: agent 'replay:.*' speaks 501 units \(ids "
                       r"0\.\.500\), but a's agent 'a:.*' speaks 20 \(ids 0\.\.19\) "
                       r"\(allowed: two sides with one unit vocabulary \(n_units\)"):
        run(scenario)
    assert [p.key for p in scenario.missing_files("s.toml")] == ["b.corpus"]  # (as before)


def test_simulate_cli_writes_outputs(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "s.toml"
    path.write_text('name = "cli"\nchunk_ms = 160\nduration_s = 3.0\n[a]\nkind = "scripted"\n'
                    '[b]\nkind = "scripted"\npolicy = "fixed-turns"\n[network]\n'
                    'preset = "transatlantic"\n')
    out = tmp_path / "run"
    assert main(["simulate", str(path), "--out", str(out), "--seed", "4", "--quiet"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["seed"] == 4 and summary["directions"]["A->B"]["chunks_sent"] == 19
    assert (out / "audio.wav").stat().st_size > 44
    assert 'preset = "transatlantic"' in (out / "scenario.toml").read_text()
    bad = tmp_path / "bad.toml"
    bad.write_text('[network]\npreset = "lan"\n[network.a_to_b]\nloss = 2.0\n')
    assert main(["simulate", str(bad), "--out", str(tmp_path / "x"), "--quiet"]) == 2
    assert "network.a_to_b.loss" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_simulate_keeps_the_scenario_file_it_runs(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture) -> None:
    """``simulate exp/scenario.toml --out exp`` replaced the user's file (its comments, its
    layout) with the resolved copy: refused. Kept under another name there, it runs; the
    scenario.toml of a simulation's folder reruns as before."""
    text = ('# mine: keep this comment\nname = "kept"\nchunk_ms = 160\nduration_s = 1.0\n'
            '[a]\nkind = "scripted"\n[b]\nkind = "scripted"\npolicy = "fixed-turns"\n')
    exp = tmp_path / "exp"
    exp.mkdir()
    (exp / "scenario.toml").write_text(text)
    assert main(["simulate", str(exp / "scenario.toml"), "--out", str(exp), "--quiet",
                 "--no-audio"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"{exp}: --out: would overwrite the scenario file being run "
                   f"({exp / 'scenario.toml'}) with its resolved copy (allowed: another "
                   "folder, or the scenario file kept there under another name)"]
    assert [p.name for p in exp.iterdir()] == ["scenario.toml"]
    assert (exp / "scenario.toml").read_text() == text
    (exp / "scenario.toml").rename(exp / "mine.toml")
    assert main(["simulate", str(exp / "mine.toml"), "--out", str(exp), "--quiet",
                 "--no-audio"]) == 0
    assert (exp / "mine.toml").read_text() == text and (exp / "summary.json").is_file()
    summary = (exp / "summary.json").read_bytes()
    assert main(["simulate", str(exp / "scenario.toml"), "--out", str(exp), "--quiet",
                 "--no-audio"]) == 0  # the run's own copy
    assert (exp / "summary.json").read_bytes() == summary


def test_an_unknown_shipped_dialogue_names_the_scenario_file(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """A replay side of the shipped dialogue (corpus = "") with another dialogue id was
    "b.dialogue: 'nosuch' is not the shipped dialogue ..." from simulate, without the
    scenario file, and passed `validate --check-files`."""
    from duplexsim.corpora.default import default_dialogue_id

    path = tmp_path / "s.toml"
    text = ('name = "d"\nchunk_ms = 240\nduration_s = 1.0\n[a]\nkind = "scripted"\n'
            '[b]\nkind = "replay"\ndialogue = "{}"\n[output]\naudio = false\n')
    path.write_text(text.format("nosuch"))
    assert main(["simulate", str(path), "--out", str(tmp_path / "x"), "--quiet"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith(
        f"{path}: b.dialogue: 'nosuch' is not the shipped dialogue"), err
    assert f"'{default_dialogue_id()}'" in err[0]
    assert not (tmp_path / "x").exists()
    assert main(["validate", "--check-files", str(path)]) == 1
    assert capsys.readouterr().out.startswith(f"{path}: b.dialogue: ")
    path.write_text(text.format(default_dialogue_id()))  # its own id is fine
    assert main(["validate", "--check-files", str(path)]) == 0


def test_a_dialogue_the_corpus_lacks_fails_validate_check_files(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """A replay side naming a dialogue its built corpus does not hold passed
    `validate --check-files` (simulate then failed, naming only the manifest)."""
    import json

    corpus = tmp_path / "c"
    corpus.mkdir()
    (corpus / "manifest.json").write_text(json.dumps({
        "format": "duplexsim-corpus/1", "name": "c", "n_units": 32, "sample_rate_hz": 8000,
        "dialogues": [{"id": "d1", "duration_s": 10.0, "split": "test", "audio": "audio/d1.flac",
                       "units": "units/d1.npy"}]}))
    path = tmp_path / "s.toml"
    text = ('name = "d"\nchunk_ms = 240\nduration_s = 1.0\n[a]\nkind = "scripted"\n'
            '[b]\nkind = "replay"\ncorpus = "{}"\ndialogue = "{}"\n')
    path.write_text(text.format(corpus, "nosuch"))
    assert main(["validate", "--check-files", str(path)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == (f"{path}: b.dialogue: 'nosuch' is not a dialogue of the corpus at "
                      f"'{corpus}' (allowed: one of its ids: d1, or \"\" (its first test "
                      "dialogue))"), out


def test_sides_whose_units_come_from_two_tokenizers_are_refused(tmp_path: Path) -> None:
    """Nothing compared the two sides' unit tokenizers: agents (or corpora) trained with
    different ones were paired without a word, each reading the other's unit ids in its own
    inventory, and audio.wav vocoded side b with side a's tokenizer."""
    import numpy as np

    from duplexsim.sim.build import tokenizer_dir
    from duplexsim.units import TokenizerConfig, copy_tokenizer, train_tokenizer

    rng = np.random.default_rng(0)
    wave = (rng.standard_normal(16000 * 2) * np.repeat(rng.random(50) > 0.5, 640) * 0.1
            + rng.standard_normal(16000 * 2) * 1e-3).astype(np.float32)
    for name, seed in (("one", 0), ("other", 1)):
        train_tokenizer([(wave, 16000, None)], TokenizerConfig(n_units=4, seed=seed)).save(
            tmp_path / name / "tokenizer")
    copy_tokenizer(tmp_path / "one" / "tokenizer", tmp_path / "copy" / "tokenizer")

    def pair(a: str, b: str) -> Scenario:
        return from_dict(Scenario, {"a": {"kind": "replay", "corpus": str(tmp_path / a)},
                                    "b": {"kind": "replay", "corpus": str(tmp_path / b)}})

    assert tokenizer_dir(pair("one", "copy")) == tmp_path / "one" / "tokenizer"  # same files
    with pytest.raises(ValueError, match=r"^b.corpus: its unit tokenizer .*other/tokenizer is "
                                         r"not a.corpus's \(.*one/tokenizer\): their units "
                                         r"would mean other sounds \(allowed: "):
        tokenizer_dir(pair("one", "other"))
