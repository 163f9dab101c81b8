"""Partner pools of TurnTaking-v0: drawn per reset, reproducible, checked, clear errors."""

from __future__ import annotations

import dataclasses
from collections import Counter
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import duplexsim  # noqa: F401  (registers the envs)
from duplexsim.agents.base import n_units_of
from duplexsim.corpora import load_corpus
from duplexsim.envs.registration import TURN_TAKING_ID
from duplexsim.envs.world import default_scenario


def scenario(duration_s: float = 4.0):  # noqa: ANN201
    return dataclasses.replace(default_scenario(), duration_s=duration_s)


def make(partner, duration_s: float = 4.0, **kw) -> gym.Env:  # noqa: ANN001
    s = scenario(duration_s)
    return gym.make(TURN_TAKING_ID, scenario=s, partner=partner, max_episode_steps=s.n_chunks,
                    **kw)


def rollout(env: gym.Env, seed: int, steps: int = 25) -> list:
    obs, info = env.reset(seed=seed)
    out = [info["partner"], obs["partner_units"].copy()]
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        obs, reward, _, truncated, info = env.step(int(rng.integers(4)))
        out += [obs["partner_units"].copy(), obs["own_units"].copy(), reward]
        if truncated:
            break
    return out


def same(a: list, b: list) -> bool:
    return len(a) == len(b) and all(np.array_equal(np.asarray(x), np.asarray(y))
                                    for x, y in zip(a, b, strict=True))


def test_replay_pool_draws_split_dialogues_with_their_other_channel(tiny_corpus: Path) -> None:
    corpus = load_corpus(tiny_corpus)
    train = set(corpus.ids("train"))
    env = make({"kind": "replay", "corpus": str(tiny_corpus), "split": "train",
                "start_s": "random"})
    pool = env.unwrapped.pool
    assert len(pool.members) == 2 * len(train)  # both channels of every train dialogue
    seen, starts = Counter(), set()
    for seed in range(30):
        _, info = env.reset(seed=seed)
        p = env.unwrapped.partner_info
        assert info["partner"] == p["label"] and p["dialogue"] in train
        assert p["speech_dialogue"] == p["dialogue"] and p["speech_channel"] == 1 - p["channel"]
        assert 0 <= p["start_s"] <= 20.0 - 4.0
        seen[(p["dialogue"], p["channel"])] += 1
        starts.add(p["start_s"])
    assert len(seen) == len(pool.members) and len(starts) > 10
    # the partner plays that dialogue's channel from the drawn start, as received
    env.reset(seed=3)
    p = env.unwrapped.partner_info
    units = corpus.dialogue(p["dialogue"]).units[p["channel"]]
    first = round(p["start_s"] * 25)
    heard = {}
    for _ in range(15):
        obs, *_ = env.step(0)
        heard.update({k: obs["partner_units"][i * 4:(i + 1) * 4]
                      for i, k in enumerate(range(env.unwrapped.world.chunk - 8,
                                                  env.unwrapped.world.chunk))
                      if k >= 0 and obs["partner_received"][i]})
    assert len(heard) >= 10
    for k, got in heard.items():
        assert np.array_equal(got, units[first + 4 * k:first + 4 * k + 4])


def test_a_replay_started_late_keeps_its_silence_units() -> None:
    """The late-start copy of a replay partner was built without its tokenizer's silence
    units: only the one it plays past the end counted as silence."""
    from duplexsim.agents.replay import ReplayAgent
    from duplexsim.config.scenario import SideConfig
    from duplexsim.envs.partner_pool import PartnerMember, PartnerPool

    side = SideConfig(kind="replay", corpus="X")
    member = PartnerMember(side=side, speech=(), label="replay", spec=0)
    pool = PartnerPool([member], [1.0], scenario=scenario(), side="b")
    pool._agents[side] = ReplayAgent(np.array([1, 5, 5, 0, 1] * 20), 5, silence_unit=0,
                                     silence_units=[0, 1], n_units=8)  # as from a corpus
    late = pool.agent(member, start_chunks=2)
    assert late.silence_units == {0, 1} and late.units.tolist() == [1, 5, 5, 0, 1] * 18
    assert late.n_units == 8  # its inventory too, checked against the learner's speech


def test_random_starts_are_drawn_per_dialogue(tiny_corpus: Path, tmp_path: Path) -> None:
    """start_s="random": each dialogue's start is drawn so that the episode fits in that
    dialogue (a short one caps only itself); a dialogue shorter than the episode is
    refused, naming it."""
    import json
    import shutil

    corpus = tmp_path / "mixed"
    shutil.copytree(tiny_corpus, corpus)
    manifest = json.loads((corpus / "manifest.json").read_text())
    short = next(d for d in manifest["dialogues"] if d["split"] == "train")
    short["duration_s"] = 10.0  # of 20 s: its first 250 frames
    units = np.load(corpus / short["units"])
    np.save(corpus / short["units"], units[:, :250])
    (corpus / "manifest.json").write_text(json.dumps(manifest))
    spec = {"kind": "replay", "corpus": str(corpus), "split": "train", "start_s": "random"}
    env = make(spec, 3.2)
    latest: dict[str, float] = {}
    for seed in range(80):
        env.reset(seed=seed)
        p = env.unwrapped.partner_info
        room = (10.0 if p["dialogue"] == short["id"] else 20.0) - 3.2
        assert 0 <= p["start_s"] <= room + 1e-9
        latest[p["dialogue"]] = max(latest.get(p["dialogue"], 0.0), p["start_s"])
    assert len(latest) == 3 and max(latest.values()) > 10.0 - 3.2  # not capped by the short
    with pytest.raises(ValueError, match=rf"^partner\[0\]\.start_s: \"random\" but dialogue "
                                         rf"'{short['id']}' is 10 s, shorter than the 12 s "
                                         r"episode \(1 of 3\) \(allowed: "):
        make(spec, 12.0)


def test_the_learner_speaks_the_pool_dialogue(tiny_corpus: Path) -> None:
    env = make({"kind": "replay", "corpus": str(tiny_corpus), "dialogues":
                [load_corpus(tiny_corpus).ids("test")[0]], "channels": [1]})
    env.reset(seed=0)
    p = env.unwrapped.partner_info
    channel = load_corpus(tiny_corpus).dialogue(p["dialogue"]).units[0]
    spoken = np.concatenate([env.step(1)[0]["own_units"][-4:] for _ in range(12)])
    spoken = spoken[spoken != env.unwrapped.learner.source.silence_unit]
    assert len(spoken) and np.isin(spoken, channel).all()  # units of the other channel


def test_same_seed_same_rollouts_across_a_mixed_pool(tiny_agents: list[Path]) -> None:
    pool = [{"kind": "replay", "start_s": "random"},
            {"kind": "syncllm", "agents": [str(a) for a in tiny_agents], "weight": 2},
            {"kind": "scripted", "policies": ["random-talker", "fixed-turns"]}]
    a, b = make(pool, 2.4), make(pool, 2.4)
    runs = [(rollout(a, s), rollout(b, s)) for s in range(6)]
    assert all(same(x, y) for x, y in runs)
    assert len({x[0] for x, _ in runs}) >= 3  # several partners drawn
    assert not same(runs[0][0], runs[1][0])
    assert len(a.unwrapped.pool._agents) <= 2 + 1 + 2  # each agent built once, then reused


@pytest.mark.parametrize("kind", ["scripted", "syncllm"])
def test_a_pool_object_given_to_several_envs_gives_each_its_own_rollouts(
        kind: str, tiny_agents: list[Path]) -> None:
    """A PartnerPool object given to two envs (gym.make twice, make_vec "sync"): each env
    draws from its own copy with its own agents, so each rollout is the one its spec gives
    (they drove the same cached agents: scripted rollouts differed, a SyncLLM raised)."""
    from duplexsim.envs.partners import parse_pool

    spec = ([{"kind": "scripted", "policies": ["random-talker"]}] if kind == "scripted" else
            [{"kind": "syncllm", "agents": [str(tiny_agents[0])]}])
    pool = parse_pool(spec, scenario(1.6), "b")
    shared, alone = [make(pool, 1.6) for _ in range(2)], [make(spec, 1.6) for _ in range(2)]
    runs = [[env.reset(seed=5 + k % 2)[0]["partner_units"]]
            for k, env in enumerate(shared + alone)]
    for t in range(9):  # the two envs stepped in turn
        for k, env in enumerate(shared + alone):
            obs, reward, *_ = env.step(t % 4)
            runs[k] += [obs["partner_units"], reward]
    assert same(runs[0], runs[2]) and same(runs[1], runs[3])
    assert shared[0].unwrapped.pool is not pool
    args = {"scenario": scenario(1.6), "max_episode_steps": scenario(1.6).n_chunks}
    vecs = [gym.make_vec(TURN_TAKING_ID, num_envs=2, vectorization_mode="sync", partner=p,
                         **args) for p in (pool, spec)]
    assert same(*[[v.reset(seed=3)[0]["partner_units"]] for v in vecs])
    for _ in range(9):
        assert same(*[[obs["partner_units"], reward] for obs, reward, *_ in
                      [v.step(np.array([1, 0])) for v in vecs]])


def test_a_pool_pickles_the_same_after_envs_used_it(tiny_corpus: Path) -> None:
    """The env copies share the pool's speech banks and corpora, which were pickled with it:
    a scripted pool of 1364 bytes pickled to 12749 after one env step (a sharded env's
    workers got the banks the caller's other envs had cut). Now the caches stay behind and
    a pool unpickled (as a worker gets it) gives the same rollouts."""
    import pickle

    from duplexsim.envs.partners import parse_pool

    spec = {"kind": "replay", "corpus": str(tiny_corpus), "split": "train"}
    pool = parse_pool(spec, scenario(1.6), "b")
    before = pickle.dumps(pool)
    used = [rollout(make(pool, 1.6), seed, steps=9) for seed in range(4)]
    assert pool._sources and pickle.dumps(pool) == before
    shipped = pickle.loads(before)
    assert not shipped._corpora and not shipped._sources
    for seed, run in enumerate(used):
        assert same(run, rollout(make(shipped, 1.6), seed, steps=9))


def test_a_pool_holding_agent_objects_is_for_one_env() -> None:
    """An Agent object in a pool cannot be copied: a second env given that pool is refused."""
    from duplexsim.agents.scripted import ScriptedAgent
    from duplexsim.envs.partners import parse_pool

    s = scenario()
    pool = parse_pool([ScriptedAgent("random-talker", s.frames_per_chunk, s.n_chunks),
                       "scripted"], s, "b")
    env = make(pool)
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"^partner: a PartnerPool holding Agent objects "
                                         r"\(partner\[0\]\) is used by another env"):
        make(pool)
    with pytest.raises(ValueError, match="is used by another env"):
        make(env.unwrapped.pool)


def test_agent_directories_and_weights(tiny_agents: list[Path]) -> None:
    env = make([str(tiny_agents[0]), {"kind": "syncllm", "agent": str(tiny_agents[1]),
                                      "weight": 3, "temperature": 0.5}], 0.8)
    drawn = Counter()
    for seed in range(40):
        env.reset(seed=seed)
        drawn[env.unwrapped.partner_info["agent"]] += 1
    assert set(drawn) == {str(a) for a in tiny_agents}
    assert drawn[str(tiny_agents[1])] > 2 * drawn[str(tiny_agents[0])]  # weight 3 vs 1
    assert env.unwrapped.partner_info["speech_corpus"] == ""  # no training corpus: shipped


def test_checkers_pass_with_pools(tiny_corpus: Path) -> None:
    from gymnasium.utils.env_checker import check_env
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    pool = {"kind": "replay", "corpus": str(tiny_corpus), "split": "train",
            "start_s": "random"}
    check_env(make(pool).unwrapped, skip_render_check=True)
    sb3_check_env(make(pool).unwrapped, warn=True)
    check_env(make(pool, action_mode="units").unwrapped, skip_render_check=True)


def test_no_pool_draws_nothing_extra() -> None:
    """Without a pool the env draws exactly what it drew before pools existed."""
    env = gym.make(TURN_TAKING_ID, scenario=scenario())
    env.reset(seed=5)
    rng = np.random.default_rng(np.random.SeedSequence(5))
    # reset draws the episode seed first, then the utterance order (a permutation)
    assert env.unwrapped.world.session is not None
    episode_seed = int(rng.integers(2**31 - 1))
    assert env.unwrapped.world.session.scenario.seed == episode_seed


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


def test_a_given_agent_is_described_by_its_own_kind() -> None:
    """partner=<Agent> (fixed or in a pool): partner_info has the agent's kind, not the
    scenario side's, and no dialogue, so the corpus reference refuses it."""
    from duplexsim.agents.base import AgentWrapper
    from duplexsim.agents.replay import ReplayAgent
    from duplexsim.agents.scripted import ScriptedAgent
    from duplexsim.envs.baselines import CorpusReference

    s = scenario()
    scripted = ScriptedAgent("random-talker", s.frames_per_chunk, s.n_chunks)
    replay = ReplayAgent(np.zeros(400, np.int64), s.frames_per_chunk)
    assert s.b.kind == "replay"  # the scenario's own partner side, which a given agent replaces
    for partner, kind in [(scripted, "scripted"), ([scripted], "scripted"),
                          (AgentWrapper(scripted), "scripted"), ([replay], "replay")]:
        env = make(partner)
        env.reset(seed=0)
        p = env.unwrapped.partner_info
        assert p["kind"] == kind and p["dialogue"] is None and p["corpus"] is None
        with pytest.raises(ValueError, match="not a replay from a partner pool"):
            CorpusReference().reset(env, np.random.default_rng(0))
    env = make("scripted")  # built from the scenario: its side, as before
    env.reset(seed=0)
    assert env.unwrapped.partner_info["kind"] == "scripted"


def test_the_shipped_dialogue_is_named_by_its_id_in_a_pool_as_for_a_fixed_partner() -> None:
    """partner_info["speech_dialogue"]: the shipped dialogue's id whether the partner is
    fixed or drawn from a pool (a pool's said "", a fixed partner's the id); a replay's
    "dialogue", the one it plays, is that id too (it said "", the scenario key unset)."""
    from duplexsim.corpora.default import default_dialogue_id

    shipped = default_dialogue_id()
    assert shipped
    for partner in [None, "scripted", {"kind": "replay"}, ["scripted"],
                    [{"kind": "scripted"}, {"kind": "replay", "channels": [0]}]]:
        env = make(partner)
        for seed in range(3):
            env.reset(seed=seed)
            p = env.unwrapped.partner_info
            assert (p["speech_corpus"], p["speech_dialogue"]) == ("", shipped), (partner, p)
            assert p["dialogue"] == (shipped if p["kind"] == "replay" else ""), (partner, p)


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


def test_start_s_is_counted_in_whole_ms(tmp_path: Path) -> None:
    """8.04 s dialogues (201 frames; 8.04 * 1000 = 8039.999... as a float) and an 8 s
    episode of 40 ms chunks: one chunk of room. The float floor made it none: a random
    start was always chunk 0 and start_s = 0.04 was refused. A fixed start of half a chunk
    (0.02 s) rounds up, as the simulator's times do (round() went to even: chunk 0)."""
    from duplexsim.corpora.build import build_corpus
    from duplexsim.corpora.config import load_config
    from duplexsim.envs.partners import parse_pool
    from duplexsim.errors import ConfigError

    corpus = tmp_path / "fl"
    build_corpus(corpus, load_config("fisher-like", conversation_s=8.04), hours=8.04 / 3600,
                 seed=0, preset="fisher-like", cache_dir=tmp_path / "tts", workers=1,
                 n_units=32)
    assert load_corpus(corpus).manifest["dialogues"][0]["duration_s"] * 1000 < 8040
    s = dataclasses.replace(default_scenario(), chunk_ms=40, duration_s=8.0)

    def members(start_s: object) -> set[tuple[int, int]]:
        pool = parse_pool({"kind": "replay", "corpus": str(corpus), "start_s": start_s}, s, "b")
        return {(m.start_chunks, m.max_start_chunks) for m in pool.members}

    assert members("random") == {(0, 1)}
    assert members(0.04) == {(1, 0)} and members(0.02) == {(1, 0)}
    with pytest.raises(ConfigError,
                       match=r"start_s: 0\.06 \(allowed: \"random\" or 0 \.\. 0\.04 s,"):
        members(0.06)


@pytest.mark.parametrize("over_samples", ["half a ms", "a frame less a sample"])
def test_a_random_start_never_runs_past_the_units(tiny_corpus: Path, tmp_path: Path,
                                                  over_samples: str) -> None:
    """The start room is counted in the units' whole frames, not the manifest's
    ``duration_s``: an imported dialogue's is its audio's, samples / rate, which its units
    (``T = samples * 25 // rate``) undershoot by up to a frame less a sample. 103 frames
    (4.12 s) against a 4 s episode of 160 ms chunks leave no chunk of room; a duration_s
    319 samples at 8 kHz (39.875 ms) over them rounded to 4160 ms and gave one, so a replay
    started at chunk 1 ran 40 ms past its units (silence the dialogue never had). Half a ms
    over (4121 ms) gave none either way."""
    import json
    import shutil

    from duplexsim.envs.partners import parse_pool

    corpus = tmp_path / "imported"
    shutil.copytree(tiny_corpus, corpus)
    manifest = json.loads((corpus / "manifest.json").read_text())
    rate = manifest["sample_rate_hz"]
    extra = {"half a ms": rate // 2000, "a frame less a sample": rate // 25 - 1}[over_samples]
    for d in manifest["dialogues"]:
        np.save(corpus / d["units"], np.load(corpus / d["units"])[:, :103])
        d["duration_s"] = (103 * rate // 25 + extra) / rate  # samples / rate, as imported
    (corpus / "manifest.json").write_text(json.dumps(manifest))
    s = scenario(4.0)
    pool = parse_pool({"kind": "replay", "corpus": str(corpus), "start_s": "random"}, s, "b")
    assert {m.max_start_chunks for m in pool.members} == {0}
    frames = s.n_chunks * s.frames_per_chunk
    for member in pool.members:
        start = member.max_start_chunks * s.frames_per_chunk
        assert start + frames <= len(pool.agent(member).units)
    with pytest.raises(ValueError, match=r"start_s: 0\.16 \(allowed: \"random\" or 0 \.\. 0 s"):
        parse_pool({"kind": "replay", "corpus": str(corpus), "start_s": 0.16}, s, "b")


def test_a_replay_pool_with_a_misshapen_units_file_is_one_line(tiny_corpus: Path,
                                                                tmp_path: Path) -> None:
    """The start room reads each dialogue's frames from its units file's header when the
    pool is parsed: a units file of one channel is one line naming the spec and the file
    (its header only: a file's values are checked when the replay loads them)."""
    import shutil

    from duplexsim.envs.partners import parse_pool

    corpus = tmp_path / "broken"
    shutil.copytree(tiny_corpus, corpus)
    d = load_corpus(corpus).manifest["dialogues"][0]
    assert load_corpus(corpus).n_frames(d["id"]) == load_corpus(corpus).units(d["id"]).shape[1]
    np.save(corpus / d["units"], np.load(corpus / d["units"])[0])
    with pytest.raises(ValueError, match=rf"^partner\[0\]\.corpus: .*{d['units']}.*shape.*\[500\]"
                                         r".*allowed: an integer array \[2, T\]") as e:
        parse_pool({"kind": "replay", "corpus": str(corpus), "start_s": "random"}, scenario(),
                   "b")
    assert "\n" not in str(e.value)
