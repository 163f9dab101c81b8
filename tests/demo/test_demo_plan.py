"""The demo's plan: an agent an earlier run left is reused only while its card, its corpus
and its unit tokenizer are those the plan would train it from; otherwise a one-line error."""

from __future__ import annotations

import pytest
from test_demo_stages import CARD, STAGE  # (tests/demo is on the path: rootdir-less import)

from duplexsim.demo.plan import AGENTS, DemoPlan
from duplexsim.errors import InputError


def test_demo_refuses_an_agent_trained_with_another_unit_tokenizer_than_its_corpus(tmp_path):
    """corpus_digest covers the manifest only: a corpus rebuilt with another unit tokenizer
    (the same manifest bytes) no longer passes for the agent's corpus; byte-identical
    copies of one tokenizer (the demo's: units -> corpus -> agent) are reused."""
    from duplexsim.atomic import write_json
    from duplexsim.config.card import load_card
    from duplexsim.models.vocab import Vocab
    from duplexsim.training.checkpoints import RunState
    from duplexsim.training.recipe import agent_info

    plan = DemoPlan(root=tmp_path, out=tmp_path / "demo", cards=tmp_path / "cards")
    plan.cards.mkdir()
    plan.card("fisher").write_text(CARD.format(name="fisher", preset="fisher-like", n_units=24,
                                               stages=STAGE.format(stage="stage3")))
    corpus = plan.corpus_dir("fisher-like")
    for tokenizer in (corpus / "tokenizer", plan.agent_dir("fisher") / "tokenizer"):
        tokenizer.mkdir(parents=True)
        (tokenizer / "config.json").write_text('{"config": {"type": "mel-kmeans"}}')
        (tokenizer / "arrays.safetensors").write_bytes(b"centroids of one tokenizer")
    (corpus / "manifest.json").write_text('{"name": "fisher-like", "seed": 0}')
    info = agent_info(load_card(plan.card("fisher")), Vocab(24, 300), RunState(),
                      corpus=str(corpus))
    write_json(plan.agent_dir("fisher") / "agent.json", info)
    assert plan.trained("fisher")
    (corpus / "tokenizer" / "arrays.safetensors").write_bytes(b"centroids of another one")
    with pytest.raises(InputError, match=r"agents/fisher: its unit tokenizer .* is not "
                       r".*fisher-like's .*delete the agent folder"):
        plan.trained("fisher")


@pytest.mark.parametrize(("name", "preset"), AGENTS)
def test_demo_refuses_an_agent_trained_on_a_corpus_since_rebuilt_with_other_parameters(
        tmp_path, name: str, preset: str):
    """agent.json records its corpus manifest's digest: the corpus folder rebuilt with other
    parameters (here another seed in its manifest) no longer passes for the agent's corpus;
    each agent is judged by its own corpus folder."""
    from duplexsim.atomic import write_json
    from duplexsim.config.card import load_card
    from duplexsim.models.vocab import Vocab
    from duplexsim.training.checkpoints import RunState
    from duplexsim.training.recipe import agent_info

    plan = DemoPlan(root=tmp_path, out=tmp_path / "demo", cards=tmp_path / "cards")
    plan.cards.mkdir()
    card_path = plan.card(name)
    card_path.write_text(CARD.format(name=name, preset=preset, n_units=24,
                                     stages=STAGE.format(stage="stage3")))
    corpus = plan.corpus_dir(preset)
    corpus.mkdir(parents=True)
    (corpus / "manifest.json").write_text('{"name": "' + preset + '", "seed": 0}')
    info = agent_info(load_card(card_path), Vocab(24, 300), RunState(), corpus=str(corpus))
    plan.agent_dir(name).mkdir(parents=True)
    write_json(plan.agent_dir(name) / "agent.json", info)
    assert plan.trained(name)
    (corpus / "manifest.json").write_text('{"name": "' + preset + '", "seed": 1}')
    with pytest.raises(InputError, match=rf"{name}: corpus_digest: trained on another "
                       rf"corpus than .*{preset} holds now"):
        plan.trained(name)
    # a corpus folder not built yet (the demo builds it before training) is not judged
    (corpus / "manifest.json").unlink()
    assert plan.trained(name)
    # nor is an agent trained before the digest was recorded
    (corpus / "manifest.json").write_text('{"name": "' + preset + '", "seed": 1}')
    del info["corpus_digest"]
    write_json(plan.agent_dir(name) / "agent.json", info)
    assert plan.trained(name)
