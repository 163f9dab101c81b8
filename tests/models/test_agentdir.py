"""The agent directory's read side: agent.json checked against the card and the model."""

from __future__ import annotations

import json

import pytest

from duplexsim.atomic import write_json
from duplexsim.config.card import AgentCard, ModelCard, TrainCard
from duplexsim.models.agentdir import load_agent_files
from duplexsim.models.model import build_model, save_model
from duplexsim.models.vocab import Vocab
from duplexsim.training.checkpoints import RunState
from duplexsim.training.recipe import agent_info

VOCAB = Vocab(20, 300)


@pytest.fixture(scope="module")
def agent_dir(tmp_path_factory):  # noqa: ANN001, ANN201
    """An untrained tiny agent: the model and the agent.json training writes for its card."""
    root = tmp_path_factory.mktemp("agent")
    card = AgentCard(model=ModelCard(size="tiny", n_units=VOCAB.n_units, text_vocab_size=300),
                     train=TrainCard(chunk_ms=(160,)))
    model = build_model(card.model, VOCAB.size, VOCAB.pad, VOCAB.bos, VOCAB.eos)
    save_model(model, root / "model")
    write_json(root / "agent.json", agent_info(card, VOCAB, RunState(), corpus=""))
    return root


def _edited(agent_dir, tmp_path, change):  # noqa: ANN001, ANN202
    (tmp_path / "model").symlink_to(agent_dir / "model")
    info = json.loads((agent_dir / "agent.json").read_text())
    change(info)
    (tmp_path / "agent.json").write_text(json.dumps(info))
    return tmp_path


def test_an_agent_loads_with_its_vocabulary(agent_dir) -> None:
    assert load_agent_files(agent_dir).vocab == VOCAB


@pytest.mark.parametrize(("change", "error"), [
    (lambda i: i.update(n_units=21, n_text=299), r"n_units: 21 but card.model.n_units is 20"),
    (lambda i: i.update(n_units=30), r"n_units: 30 but card.model.n_units is 20"),
    (lambda i: (i.update(n_units=21, n_text=299), i["card"]["model"].update(n_units=21)),
     r"n_units: 21 units and 299 text ids put pad/bos/eos at 23/24/25, model/config.json "
     r"has 22/23/24"),
    (lambda i: (i.update(n_units=19, n_text=301), i.pop("card")),
     r"n_units: 19 units and 301 text ids put pad/bos/eos at 21/22/23"),
    (lambda i: i.update(silence_unit=19),  # which unit is silence: loaded without a word
     r"silence_unit: 19 but card.model.silence_unit is 0"),
    (lambda i: (i.update(n_units=32769), i["card"]["model"].update(n_units=32769)),
     r"n_units: 32769 is out of range \(allowed: an integer from 2 to 32768\)$"),  # int16 units
])
def test_units_and_text_ids_that_trade_an_id_are_refused(agent_dir, tmp_path, change,
                                                         error) -> None:
    """Only the total size was checked: n_units 20 -> 21 with n_text 300 -> 299 loaded as
    Vocab(21, 299), [S0]/[S1] and every special one id off the model's."""
    edited = _edited(agent_dir, tmp_path, change)
    with pytest.raises(ValueError, match=error) as caught:
        load_agent_files(edited)
    assert str(caught.value).startswith(str(edited / "agent.json"))
    assert "\n" not in str(caught.value)


def test_silence_units_come_from_agent_json_and_default_to_the_silence_unit(
        agent_dir, tmp_path) -> None:  # noqa: ANN001
    """A tokenizer with several silence units: agent.json records the set (an agent.json
    written before it has the one silence_unit)."""
    assert load_agent_files(agent_dir).silence_units == frozenset({0})
    edited = _edited(agent_dir, tmp_path, lambda i: i.update(silence_units=[0, 1]))
    assert load_agent_files(edited).silence_units == frozenset({0, 1})


@pytest.mark.parametrize("units", [[1, 2], [0, 20], [0, 0], "0", [0, True],
                                   list(range(20))])
def test_bad_silence_units_are_refused(agent_dir, tmp_path, units) -> None:  # noqa: ANN001
    edited = _edited(agent_dir, tmp_path, lambda i: i.update(silence_units=units))
    with pytest.raises(ValueError, match=r"silence_units: .* \(allowed: a list of distinct "
                                         r"unit ids 0..19 that holds silence_unit 0") as caught:
        load_agent_files(edited)
    assert str(caught.value).startswith(str(edited / "agent.json"))
    assert "\n" not in str(caught.value)


def test_a_weights_file_changed_since_training_is_refused(tmp_path) -> None:
    """safetensors keeps no checksum: a flipped bit in an agent's weights loaded silently.
    agent.json records each weights file's sha256 (``weights_sha256``) and loading checks
    it; an agent trained before it records none and still loads."""
    import shutil
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from syncllm_fixtures import train_tiny_agent

    agent = train_tiny_agent(tmp_path / "agent", steps=1)
    info = json.loads((agent / "agent.json").read_text())
    weights = agent / "model" / "model.safetensors"
    assert list(info["weights_sha256"]) == ["model/model.safetensors"]
    load_agent_files(agent)
    older = tmp_path / "older"  # an agent from before weights_sha256, intact
    shutil.copytree(agent, older)
    del info["weights_sha256"]
    (older / "agent.json").write_text(json.dumps(info))
    load_agent_files(older)
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0x01  # one bit of the last weight
    weights.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"corrupted or modified since training") as caught:
        load_agent_files(agent)
    assert str(caught.value).startswith(f"{weights}: ") and "\n" not in str(caught.value)
    # weights written on purpose (a fine-tuning run) are recorded anew, and then load
    from duplexsim.models.agentdir import record_weights

    record_weights(agent)
    load_agent_files(agent)
    record_weights(older)  # one that records none keeps recording none
    assert "weights_sha256" not in json.loads((older / "agent.json").read_text())
