"""Partner pool specs checked when the env is made: bad specs are one-line named errors,
members must speak the learner's unit inventory (scripted members take it from the
learner's speech)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import gymnasium as gym
import pytest
from test_partner_pools import make, scenario  # (tests/envs is on the path: rootdir-less import)

import duplexsim  # noqa: F401  (registers the envs)
from duplexsim.agents.base import n_units_of
from duplexsim.envs.registration import TURN_TAKING_ID


@pytest.mark.parametrize(("partner", "message"), [
    ({"kind": "replay", "corpus": "CORPUS", "split": "tset"},
     r"partner\[0\]\.split: 'tset' \(allowed: train, val, test\)"),
    ([{"kind": "replay"}, {"kind": "robot"}], r"partner\[1\]\.kind: 'robot' .*allowed: replay"),
    ({"kind": ["replay"]}, r"partner\[0\]\.kind: \['replay'\] is not a partner kind"),
    ({"kind": "replay", "corpus": "/no/such/corpus"}, r"partner\[0\]\.corpus: .*no manifest"),
    ({"kind": "syncllm", "agents": ["/no/agent"]}, r"partner\[0\]\.agents: .*agent\.json"),
    ({"kind": "syncllm"}, r"partner\[0\]: agent: .*allowed"),
    ({"kind": "replay", "corpus": "CORPUS", "dialgues": ["x"]},
     r"partner\[0\]: unknown key 'dialgues' for kind 'replay' \(allowed: .*dialogues"),
    ({"kind": "replay", "corpus": "CORPUS", "dialogues": ["nope"]},
     r"partner\[0\]\.dialogues: no dialogue 'nope'"),
    ({"kind": "replay", "corpus": "CORPUS", "dialogue": "nope"},
     r"partner\[0\]\.dialogue: no dialogue 'nope'"),
    ({"kind": "replay", "corpus": "CORPUS", "start_s": 99},
     r"partner\[0\]\.start_s: 99 \(allowed: \"random\" or 0 \.\. 16 s"),
    ({"kind": "scripted", "speech_corpus": "CORPUS", "speech_split": "val"},  # none: not all
     r"partner\[0\]\.speech_split: no 'val' dialogues in .* \(allowed: train, test\)"),
    ({"kind": "replay", "channels": [2]}, r"partner\[0\]\.channels: 2 \(allowed: 0, 1\)"),
    ({"kind": "replay", "channel": 5}, r"partner\[0\]\.channel: 5 \(allowed: 0, 1\)"),
    ({"kind": "scripted", "policies": ["nope"]}, r"partner\[0\]: policy: unknown value"),
    ({"kind": "scripted", "weight": 0}, r"partner\[0\]\.weight: 0 \(allowed: a number > 0\)"),
    # 10**400 (a pool given as a dict) was a TypeError from np.isfinite, as a start_s an
    # OverflowError from math.isfinite
    ({"kind": "scripted", "weight": 10**400}, r"partner\[0\]\.weight: 1000*0 \(allowed: a num"),
    ({"kind": "replay", "corpus": "CORPUS", "start_s": 10**400},
     r"partner\[0\]\.start_s: 1000*0 \(allowed: \"random\" or 0 \.\. 16 s"),
    ([], r"partner: empty pool"),
    (["not-a-kind-or-dir"], r"partner\[0\]: 'not-a-kind-or-dir' is neither"),
    ([{"kind": "replay", "corpus": "CORPUS"}, {"kind": "replay"}],
     r"partner\[1\]: speaks 501 units but partner\[0\] 32 \(allowed: one unit inventory"),
])
def test_bad_pool_specs_are_one_line_named_errors(tiny_corpus: Path, partner, message) -> None:  # noqa: ANN001
    def fill(x):  # noqa: ANN001, ANN202
        if isinstance(x, dict):
            return {k: fill(v) for k, v in x.items()}
        if isinstance(x, list):
            return [fill(v) for v in x]
        return str(tiny_corpus) if x == "CORPUS" else x

    with pytest.raises(ValueError, match=message) as caught:
        make(fill(partner))
    assert "\n" not in str(caught.value)


def test_a_pool_partner_in_another_unit_inventory_is_refused(tiny_corpus: Path) -> None:
    """A given replay agent of a 32-unit corpus (its learner speech: the shipped dialogue's
    501 units) is refused when the env is made (it was once accepted, its units then read
    in the learner's inventory). A scripted spec speaks its learner speech's units, not
    the scenario's learner side's (here a 32-unit replay): the shipped dialogue's 501 by
    default, the 32 of a 32-unit speech_corpus (it took the scenario's 32 and was refused
    with the shipped speech)."""
    import re

    from duplexsim.agents.replay import ReplayAgent
    from duplexsim.config.scenario import SideConfig
    from duplexsim.errors import ConfigError

    replay = SideConfig(kind="replay", corpus=str(tiny_corpus))
    agent = ReplayAgent.from_side(replay, scenario(), "b")
    shipped = r"speaks 32 units, the learner's speech \(the shipped dialogue\) 501 \(allowed"
    with pytest.raises(ConfigError, match=rf"^partner\[1\] {re.escape(agent.name)}: {shipped}"
                       r".*; for an agent in other units give its directory, e\.g\. "
                       r"\{'kind': 'tdm', 'agent': DIR\}, not the Agent: the learner then "
                       r"speaks its training corpus\)$"):
        make(["scripted", agent])
    learner_32 = dataclasses.replace(scenario(), a=replay)
    env = gym.make(TURN_TAKING_ID, scenario=learner_32, partner=[{"kind": "scripted"}])
    env.reset(seed=0)
    assert env.unwrapped.pool.n_units == 501
    assert n_units_of(env.unwrapped.world.partner) == 501
    env = gym.make(TURN_TAKING_ID, scenario=learner_32, partner=[
        {"kind": "scripted", "speech_corpus": str(tiny_corpus)}])
    obs, _ = env.reset(seed=0)
    assert env.unwrapped.pool.n_units == 32 and obs["partner_units"].max() < 32
    assert n_units_of(env.unwrapped.world.partner) == 32
    fine = ReplayAgent.from_side(SideConfig(kind="replay"), scenario(), "b")  # 501 units
    make(["scripted", fine]).reset(seed=0)


def test_a_pool_of_two_unit_tokenizers_is_refused(tmp_path: Path) -> None:
    """Two corpora of as many units from tokenizers of their own (built without
    --tokenizer) passed the pool's one-inventory check: the learner read one's units as the
    other's. Copies of one tokenizer are one inventory."""
    from cli_workspace import write_corpus, write_tokenizer

    from duplexsim.errors import ConfigError

    for name in ("one", "two"):
        write_corpus(tmp_path / name)
    pool = [{"kind": "replay", "corpus": str(tmp_path / n)} for n in ("one", "two")]
    make(pool).close()  # byte-identical tokenizers
    write_tokenizer(tmp_path / "two" / "tokenizer", n_silence_units=2)
    with pytest.raises(ConfigError, match=rf"^partner\[1\]\.corpus: its unit tokenizer "
                       rf"{tmp_path}/two/tokenizer is not partner\[0\]\.corpus's "
                       rf"\({tmp_path}/one/tokenizer\)"):
        make(pool)


def test_a_scripted_member_speaks_its_learner_speechs_inventory(tmp_path: Path) -> None:
    """A scripted spec speaks the unit inventory of the learner's speech it faces (its
    n_units, silence unit and silence units), as sim.build's scripted side facing a given
    agent does; the scenario's learner side (here a corpus of as many units but another
    tokenizer, one silence unit) has no say. It took the scenario side's tokenizer, so a
    speech_corpus of another tokenizer was refused, and its silence units were not the
    learner's."""
    from cli_workspace import write_corpus, write_tokenizer

    from duplexsim.agents.base import silence_units_of
    from duplexsim.config.scenario import SideConfig

    for name in ("one", "two"):
        write_corpus(tmp_path / name)
    write_tokenizer(tmp_path / "two" / "tokenizer", n_silence_units=2)
    learner = dataclasses.replace(scenario(), a=SideConfig(kind="replay",
                                                           corpus=str(tmp_path / "one")))
    env = gym.make(TURN_TAKING_ID, scenario=learner,
                   partner=[{"kind": "scripted", "speech_corpus": str(tmp_path / "two")}])
    env.reset(seed=0)
    source, partner = env.unwrapped.learner.source, env.unwrapped.world.partner
    assert len(source.silence_units) == 2
    assert (n_units_of(partner), partner.silence_unit, silence_units_of(partner)) == (
        source.n_units, source.silence_unit, source.silence_units)
    env.close()
