"""Cache keys change with the contents of the agents and corpora a result is made from."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from duplexsim.config.scenario import Scenario, SideConfig
from duplexsim.digests import (
    AGENT_FILES,
    CORPUS_INPUT_FILES,
    corpus_input_digest,
    directory_digest,
    file_digest,
    scenario_inputs,
    scenario_key,
    tokenizer_folder_digest,
)
from duplexsim.sweeps import load_sweep

ROOT = Path(__file__).parents[1]


def fake_agent(root: Path, weights: bytes) -> Path:
    (root / "model").mkdir(parents=True, exist_ok=True)
    (root / "agent.json").write_text("{}")
    (root / "model" / "config.json").write_text("{}")
    (root / "model" / "model.safetensors").write_bytes(weights)
    return root


def test_file_digest_follows_the_bytes(tmp_path: Path) -> None:
    path = tmp_path / "w.bin"
    assert file_digest(path) == ""
    path.write_bytes(b"one")
    first = file_digest(path)
    assert file_digest(path) == first
    path.write_bytes(b"two")  # same size, new bytes: a new modification time
    os.utime(path, ns=(1, 2))
    assert file_digest(path) != first


def test_file_digest_follows_a_rewrite_that_keeps_size_and_times(tmp_path: Path) -> None:
    """Rewritten within one tick of the file system's clock (same size, same times): other
    bytes, other digest."""
    path = tmp_path / "w.bin"
    path.write_bytes(b"one")
    st = path.stat()
    first = file_digest(path)
    path.write_bytes(b"two")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # as if in the same tick
    assert file_digest(path) != first


def test_file_digest_follows_a_copy_that_kept_the_modification_time(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import duplexsim.digests as digests

    path, copy = tmp_path / "w.bin", tmp_path / "copy.bin"
    path.write_bytes(b"one")
    os.utime(path, ns=(1, 10**18))
    monkeypatch.setattr(digests, "_now_ns", lambda: 10**19,  # hashed long after the writes
                        raising=False)
    first = file_digest(path)
    copy.write_bytes(b"two")
    os.utime(copy, ns=(1, 10**18))
    os.replace(copy, path)  # same size, same modification time: `cp -p`, `rsync -a`
    assert file_digest(path) != first


def test_a_retrained_agent_or_a_rebuilt_corpus_is_a_new_scenario_key(tmp_path: Path) -> None:
    agent = fake_agent(tmp_path / "agent", b"weights 1")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "manifest.json").write_text('{"dialogues": 1}')
    scenario = Scenario(a=SideConfig(kind="syncllm", agent=str(agent)),
                        b=SideConfig(kind="replay", corpus=str(corpus), dialogue="d0"))
    config = scenario.to_dict()
    assert set(scenario_inputs(config)) == {"a.agent", "b.corpus"}
    keys = [scenario_key(config)]
    assert scenario_key(config) == keys[0]  # stable
    fake_agent(agent, b"weights 2")  # retrained in place
    keys.append(scenario_key(config))
    (corpus / "manifest.json").write_text('{"dialogues": 2}')  # rebuilt in place
    keys.append(scenario_key(config))
    keys.append(scenario_key(dataclasses.replace(scenario, seed=1).to_dict()))
    import duplexsim.digests as digests  # a simulator that gives other traces: new keys

    version, digests.SIMULATOR_VERSION = digests.SIMULATOR_VERSION, "another"
    try:
        keys.append(scenario_key(config))
    finally:
        digests.SIMULATOR_VERSION = version
    assert len(set(keys)) == 5
    assert directory_digest(tmp_path / "nothing", ("agent.json",)) != \
        directory_digest(agent, ("agent.json",))


def test_a_corpus_rebuilt_with_another_tokenizer_is_a_new_key(tmp_path: Path) -> None:
    """``corpus build --rebuild`` with another tokenizer can leave manifest.json byte for
    byte (it names the tokenizer's folder, not its contents) over units of another
    inventory: cells and continuations keyed by the manifest alone were reused. What
    agent.json's corpus_digest covers stays the manifest: agents trained before still match."""
    sys.path.insert(0, str(ROOT / "experiments"))
    from cli_workspace import write_corpus, write_tokenizer
    from continuation_cache import inputs_key
    from continuation_plan import Plan, Prompt

    from duplexsim.digests import CORPUS_FILES

    corpus = tmp_path / "corpora" / "fisher-like"
    write_corpus(corpus)
    config = Scenario(b=SideConfig(kind="replay", corpus=str(corpus))).to_dict()
    plan = Plan(tmp_path / "agents", tmp_path / "corpora", tmp_path / "out")
    prompt = Prompt("fisher-like/d0", "fisher-like", np.zeros((2, 3), np.int64),
                    np.zeros((2, 4), np.int64))
    before = (scenario_key(config), inputs_key(plan, (), prompt),
              directory_digest(corpus, CORPUS_FILES))
    manifest = (corpus / "manifest.json").read_bytes()
    write_tokenizer(corpus / "tokenizer", n_silence_units=2)  # rebuilt with another one
    assert (corpus / "manifest.json").read_bytes() == manifest
    after = (scenario_key(config), inputs_key(plan, (), prompt),
             directory_digest(corpus, CORPUS_FILES))
    assert before[0] != after[0] and before[1] != after[1]
    assert before[2] == after[2]  # the corpus_digest an agent recorded


def test_sweep_cells_are_new_when_their_agent_is_retrained(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    fake_agent(tmp_path / "runs" / "agents" / "fisher", b"weights 1")
    (tmp_path / "base.toml").write_text('chunk_ms = 160\n[a]\nkind = "syncllm"\n'
                                        'agent = "runs/agents/fisher"\n[b]\nkind = "replay"\n')
    (tmp_path / "sweep.toml").write_text('[sweep]\nname = "t"\nbase = "base.toml"\n'
                                         'seeds = [0, 1]\n')
    before = [c.key for c in load_sweep("sweep.toml", check_scenarios=False).cells()]
    assert before == [c.key for c in load_sweep("sweep.toml", check_scenarios=False).cells()]
    fake_agent(tmp_path / "runs" / "agents" / "fisher", b"weights 2")
    after = [c.key for c in load_sweep("sweep.toml", check_scenarios=False).cells()]
    assert not set(before) & set(after)


def test_the_experiments_conversation_cache_is_keyed_by_the_agent(tmp_path: Path) -> None:
    sys.path.insert(0, str(ROOT / "experiments"))
    from cached import conversation_path

    agent = fake_agent(tmp_path / "agent", b"weights 1")
    scenario = Scenario(name="fisher-selfplay-s0", a=SideConfig(kind="syncllm", agent=str(agent)))
    first = conversation_path(tmp_path, scenario)
    assert first.name.startswith("fisher-selfplay-s0-") and first.suffix == ".npz"
    fake_agent(agent, b"weights 2")
    assert conversation_path(tmp_path, scenario) != first


def fake_tokenizer(folder: Path, arrays: bytes = b"arrays") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text("{}")
    (folder / "arrays.safetensors").write_bytes(arrays)
    return folder


def test_the_usual_corpus_layout_keeps_its_digest(tmp_path: Path) -> None:
    """A corpus whose manifest names its own ``tokenizer/`` (or names none, or cannot be
    read: the simulator reports it) is digested as before, so no cached cell is redone."""
    corpus = tmp_path / "c"
    corpus.mkdir()
    (corpus / "manifest.json").write_text('{"dialogues": []}')
    fake_tokenizer(corpus / "tokenizer")
    assert corpus_input_digest(corpus) == directory_digest(corpus, CORPUS_INPUT_FILES) \
        == "56e6508a7cce3aa2"  # made by the code before corpus_input_digest
    assert tokenizer_folder_digest(corpus / "tokenizer") == "c0ce9191bcef2baa"
    assert corpus_input_digest(tmp_path / "none") == "e1588f0cc310cba1"
    for manifest in ('{"tokenizer": "tokenizer"}', '{"tokenizer": "./tokenizer"}',
                     f'{{"tokenizer": "{corpus / "tokenizer"}"}}',  # absolute: the same files
                     '{"tokenizer": 5}', '{"tokenizer": ""}', "[1]", "{not json", "\udcff"):
        (corpus / "manifest.json").write_text(manifest, errors="surrogateescape")
        assert corpus_input_digest(corpus) == directory_digest(corpus, CORPUS_INPUT_FILES)


def test_a_corpus_tokenizer_retrained_where_its_manifest_names_it_is_a_new_key(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``"tokenizer": "../shared_tok"``: the key hashed ``corpus/tokenizer/`` (two missing
    files), so a sweep cell over the corpus was reused after that tokenizer was retrained."""
    monkeypatch.chdir(tmp_path)  # a scenario's relative paths: from the current directory
    Path("c").mkdir()
    Path("c/manifest.json").write_text('{"tokenizer": "../shared_tok"}')
    fake_tokenizer(Path("shared_tok"))
    config = Scenario(b=SideConfig(kind="replay", corpus="c", dialogue="d0")).to_dict()
    before = scenario_inputs(config)["b.corpus"]
    assert before == corpus_input_digest(tmp_path / "c")
    fake_tokenizer(Path("shared_tok"), b"retrained")
    os.utime("shared_tok/arrays.safetensors", ns=(1, 2))  # whatever the clock's tick
    assert scenario_inputs(config)["b.corpus"] != before
    # its files keyed under the folder's own name: one folder, however named, one digest
    assert tokenizer_folder_digest(Path("c/../shared_tok")) == \
        tokenizer_folder_digest(tmp_path / "shared_tok")


def test_a_jitter_trace_rewritten_in_place_is_a_new_key(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The trace's numbers make the delays: a sweep cell over a rewritten trace file was
    reused with the old trace's results (mouth-to-ear 163 ms kept; 575 ms when run anew)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "jitter.txt").write_text("1\n2\n3\n")
    (tmp_path / "base.toml").write_text(
        'chunk_ms = 160\n[a]\nkind = "replay"\n[b]\nkind = "replay"\n'
        '[network.a_to_b]\ndelay_ms = 50\njitter_dist = "trace"\njitter_trace = "jitter.txt"\n')
    (tmp_path / "sweep.toml").write_text('[sweep]\nname = "t"\nbase = "base.toml"\n'
                                         'seeds = [0]\n')
    before = [c.key for c in load_sweep("sweep.toml", check_scenarios=False).cells()]
    inputs = scenario_inputs(load_sweep("sweep.toml", check_scenarios=False).cells()[0].config)
    assert list(inputs) == ["network.a_to_b.jitter_trace"]
    (tmp_path / "jitter.txt").write_text("100\n200\n300\n")
    os.utime(tmp_path / "jitter.txt", ns=(1, 2))
    after = [c.key for c in load_sweep("sweep.toml", check_scenarios=False).cells()]
    assert not set(before) & set(after)


def test_a_number_written_with_or_without_a_decimal_point_is_one_key() -> None:
    """delay_ms = 160 and 160.0 resolve to the same scenario: they were two cells, the
    second run recomputed instead of reusing."""
    from duplexsim.digests import key_of

    assert key_of({"a": {"delay_ms": 160}, "b": [1, 2.0]}) == \
        key_of({"a": {"delay_ms": 160.0}, "b": [1.0, 2]})
    assert key_of({"x": 0.5}) != key_of({"x": 1}) and key_of({"x": True}) != key_of({"x": 1})


def test_an_agent_with_sharded_weights_is_digested_by_its_shards(tmp_path: Path) -> None:
    """``save_pretrained`` past its shard size writes ``model-0000k-of-0000n.safetensors`` and
    an index, no ``model.safetensors``: a shard retrained in place is another agent."""
    agent = fake_agent(tmp_path / "agent", b"unused")
    (agent / "model" / "model.safetensors").unlink()
    for k in (1, 2):
        (agent / "model" / f"model-0000{k}-of-00002.safetensors").write_bytes(b"shard %d" % k)
    (agent / "model" / "model.safetensors.index.json").write_text('{"weight_map": {}}')
    first = directory_digest(agent, AGENT_FILES)
    (agent / "model" / "model-00002-of-00002.safetensors").write_bytes(b"shard 2, retrained")
    assert directory_digest(agent, AGENT_FILES) != first
    # one file of weights: the digest of earlier versions (the cache keys already made)
    one = fake_agent(tmp_path / "one", b"weights")
    old = hashlib.sha256("".join(
        f"{n}={file_digest(one / n)};" for n in
        ("agent.json", "model/config.json", "model/model.safetensors")).encode()).hexdigest()
    assert directory_digest(one, AGENT_FILES) == old[:16]
