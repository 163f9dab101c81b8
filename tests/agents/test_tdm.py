"""TdmAgent: slices decided at their first chunk, the context as played and received."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "models"))
from tdm_fixtures import tiny_tdm_card, train_tiny_tdm_agent  # noqa: E402

from duplexsim.agents import Agent, load  # noqa: E402
from duplexsim.agents.tdm import SliceError, TdmAgent, load_tdm_agent  # noqa: E402
from duplexsim.models.sampling import SamplingConfig  # noqa: E402


@pytest.fixture(scope="module")
def agent_dir(tmp_path_factory) -> Path:
    return train_tiny_tdm_agent(tmp_path_factory.mktemp("tdm") / "tiny", steps=2)


def partner_units(n_chunks: int, F: int, seed: int = 0) -> np.ndarray:
    """Speech in every chunk (units 1..500), so a silent frame in the context is a gap."""
    return np.random.default_rng(seed).integers(1, 501, size=(n_chunks, F))


def closed_pieces(agent: TdmAgent) -> list[tuple[int, np.ndarray]]:
    """The context's pieces before the open own piece (the last [S0] on)."""
    tokens = agent.lm.tokens[agent.row]
    last = max(i for i, t in enumerate(tokens) if t == agent.fmt.S0)
    return agent.fmt.slices(tokens[:last])


def converse(agent: TdmAgent, n: int, lag: int = 1, seed: int = 0) -> list[np.ndarray]:
    """Partner chunk k arrives just before own chunk k + lag is decided."""
    partner = partner_units(n, agent.frames_per_chunk, seed)
    out = []
    for j in range(n):
        if j - lag >= 0:
            agent.observe_partner(j - lag, partner[j - lag])
        report = agent.produce(j)
        agent.played(j, report.units)
        out.append(report.units)
    return out


def test_load_follows_the_agent_kind_and_names_the_wrong_one(agent_dir, tmp_path):
    from duplexsim.agents.syncllm import load_agent
    from duplexsim.bench.bench_envs import train_tiny_agent

    agent = load(agent_dir, chunk_ms=160, slice_ms=640, seed=0)
    assert isinstance(agent, TdmAgent) and isinstance(agent, Agent)
    assert (agent.chunks_per_slice, agent.silence_unit) == (4, 0)
    with pytest.raises(ValueError, match=r"a tdm agent, not a syncllm agent .*kind = \"tdm\""):
        load_agent(agent_dir, chunk_ms=160)
    sync_dir = train_tiny_agent(tmp_path / "sync", steps=1)
    with pytest.raises(ValueError, match="a syncllm agent, not a tdm agent"):
        load_tdm_agent(sync_dir, chunk_ms=160)
    # the decision lead goes to a TDM agent only (the envs pass it for either kind)
    assert type(load(sync_dir, chunk_ms=160, lead_chunks=2)).__name__ == "SyncLLMAgent"
    assert load(agent_dir, chunk_ms=160, lead_chunks=2).lead == 2


def test_slice_lengths_are_checked(agent_dir):
    with pytest.raises(SliceError, match=r"not trained for slice_ms=1000 \(allowed: 640, 800, "
                                         r"1200\)"):
        load_tdm_agent(agent_dir, chunk_ms=200, slice_ms=1000)
    with pytest.raises(SliceError, match="slice_ms: 1200 is not a whole number of chunk_ms=160"):
        load_tdm_agent(agent_dir, chunk_ms=160, slice_ms=1200)
    with pytest.raises(ValueError, match=r"^chunk_ms=160.5 \(allowed: a whole number >= 1\)$"):
        load_tdm_agent(agent_dir, chunk_ms=160.5)  # int() ran it as 160 ms
    # default: the first trained slice (card order) that is whole chunks
    assert load_tdm_agent(agent_dir, chunk_ms=160).slice_ms == 640
    assert load_tdm_agent(agent_dir, chunk_ms=200).slice_ms == 800


@pytest.mark.parametrize("value", [None, "abc", 1200, [1200.5], [], [True]])
def test_a_corrupt_slice_list_in_agent_json_is_one_line(agent_dir, tmp_path, value):
    import json
    import shutil

    copy = tmp_path / "agent"
    shutil.copytree(agent_dir, copy)
    info = json.loads((copy / "agent.json").read_text())
    info["slice_ms"] = value
    (copy / "agent.json").write_text(json.dumps(info))
    with pytest.raises(ValueError, match=r"agent.json: slice_ms: .*positive multiples of 40"):
        load_tdm_agent(copy, chunk_ms=160)


def test_a_context_shorter_than_a_slice_is_refused_at_load(agent_dir, tmp_path):
    """A full piece of a 1200 ms slice (30 units) does not fit 20 tokens: the agent loaded
    and failed mid-run with "row 0: 21 tokens (allowed: <= max_tokens=20); crop or reset
    it first", naming neither the file nor the key."""
    import json
    import shutil

    copy = tmp_path / "agent"
    shutil.copytree(agent_dir, copy)
    info = json.loads((copy / "agent.json").read_text())
    info["context_tokens"] = 60
    (copy / "agent.json").write_text(json.dumps(info))
    # the slice pair it answers, [S0] and its own piece: 3 x 30 + 5 (a slide below it
    # dropped the partner slice the agent was answering: it decided on [S0] alone)
    with pytest.raises(ValueError, match=r"agent.json: context_tokens: 60 is too short for "
                                         r"slice_ms=1200 .*\(allowed: >= 95\)"):
        load_tdm_agent(copy, chunk_ms=200, slice_ms=1200)
    agent = load_tdm_agent(copy, chunk_ms=160, slice_ms=640, seed=0,
                           sampling=SamplingConfig(temperature=5.0))  # 3 x 16 + 5: fits
    seen = []
    sync = agent.decoder.sync

    def watch(row, tokens):  # the context each slice is decided on
        seen.append(list(tokens))
        return sync(row, tokens)
    agent.decoder.sync = watch
    assert len(converse(agent, 40)) == 40
    S1 = agent.fmt.S1
    assert all(S1 in tokens for tokens in seen[1:]), [len(t) for t in seen]  # m-1 kept


def test_a_slice_is_decided_at_its_first_chunk_with_the_partner_as_received(agent_dir):
    agent = load_tdm_agent(agent_dir, chunk_ms=160, slice_ms=640, seed=1, lead_chunks=1)
    F, K = agent.frames_per_chunk, agent.chunks_per_slice
    partner = partner_units(12, F)
    # own chunk 0 comes before own slice 0 (chunks 1..K, after partner slice -1): silent
    first = agent.produce(0)
    assert not first.units.any() and first.generated_tokens == 0 and not agent.decisions
    for j in range(1, K + 1):  # own slice 0; partner chunks 0..K-2 arrive meanwhile
        if j - 1 <= K - 2:
            agent.observe_partner(j - 1, partner[j - 1])
        agent.played(j, agent.produce(j).units)
    assert agent.decisions[0]["chunk"] == 1
    agent.observe_partner(K - 2, partner[K - 2])  # again: a duplicate changes nothing
    report = agent.produce(K + 1)  # slice 1 is decided now: partner chunk K-1 not here yet
    pieces = closed_pieces(agent)
    assert [s for s, _ in pieces] == [0, 1]
    heard = pieces[1][1]
    assert np.array_equal(heard[: (K - 1) * F], partner[: K - 1].ravel())
    assert not heard[(K - 1) * F:].any()  # not received by the decision: silence
    assert agent.decisions[-1] == {"slice": 1, "chunk": K + 1, "partner_missing": 1,
                                   "idle": agent.decisions[-1]["idle"]}
    assert report.prefill_tokens > 0
    # inside the slice the piece goes on: the context only grows, nothing is re-fed
    agent.observe_partner(K - 1, partner[K - 1])  # the late chunk arrives mid-slice
    before = list(agent.lm.tokens[agent.row])
    mid = agent.produce(K + 2)
    assert agent.lm.tokens[agent.row][: len(before)] == before and mid.prefill_tokens <= 1
    for j in range(K + 3, 2 * K + 1):
        agent.produce(j)
    agent.produce(2 * K + 1)  # slice 2: the late chunk now replaces the silence
    heard = closed_pieces(agent)[1][1]
    assert np.array_equal(heard, partner[:K].ravel())


def test_with_no_delay_the_partner_slice_is_complete_at_every_decision(agent_dir):
    """With no delay partner chunk k has arrived when own chunk k + lead + 1 is decided (at
    the start of own chunk k + 1): the agent never decides on a partial partner slice."""
    for lead in (0, 1, 2):
        agent = load_tdm_agent(agent_dir, chunk_ms=160, slice_ms=640, seed=0, lead_chunks=lead)
        converse(agent, 24, lag=lead + 1)
        assert [d["chunk"] for d in agent.decisions] == [lead + 4 * m for m in range(6)]
        assert all(d["partner_missing"] == 0 for d in agent.decisions)
    late = load_tdm_agent(agent_dir, chunk_ms=160, slice_ms=640, seed=0, lead_chunks=1)
    converse(late, 24, lag=4)  # two chunks of network delay
    assert all(d["partner_missing"] == 2 for d in late.decisions[1:])


def test_the_lookahead_counts_every_partner_chunk_not_received(agent_dir):
    """As for every agent (ChunkReport): a lost partner chunk counts until it arrives."""
    agent = load_tdm_agent(agent_dir, chunk_ms=160, slice_ms=640, seed=0, lead_chunks=1)
    partner = partner_units(12, agent.frames_per_chunk)
    for k in (0, 1, 3, 4, 5):  # 2 lost
        agent.observe_partner(k, partner[k])
    assert [agent.produce(j).lookahead for j in (0, 1, 7)] == [0, 0, 2]  # 7: 2 and 6


def test_the_context_holds_what_was_played(agent_dir):
    agent = load_tdm_agent(agent_dir, chunk_ms=160, slice_ms=640, seed=2, lead_chunks=0)
    K, F = agent.chunks_per_slice, agent.frames_per_chunk
    produced = [agent.produce(j).units for j in range(K)]
    missed = np.zeros(F, np.int64)  # chunk 1 missed its deadline: silence was played
    for j in range(K):
        agent.played(j, missed if j == 1 else produced[j])
    agent.produce(K)
    own = closed_pieces(agent)[0][1]
    want = np.concatenate([missed if j == 1 else produced[j] for j in range(K)])
    assert np.array_equal(own, np.where(np.arange(K * F) < len(want), want, 0))


def test_same_seed_same_slices_and_every_piece_is_well_formed(agent_dir):
    def run(seed: int) -> list[np.ndarray]:
        agent = load_tdm_agent(agent_dir, chunk_ms=160, slice_ms=640, seed=seed)
        out = converse(agent, 40, lag=3)
        closed_pieces(agent)  # raises on any malformed piece
        for d in agent.decisions:  # an <idle> slice plays silence (lead 1: from chunk 1)
            if d["idle"]:
                assert not np.concatenate(out[d["chunk"]:d["chunk"] + 4]).any()
        return out

    a, b, c = run(3), run(3), run(4)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c, strict=True))


def test_the_context_window_slides_by_whole_slices(agent_dir):
    agent = load_tdm_agent(agent_dir, chunk_ms=160, slice_ms=640, seed=0,
                           sampling=SamplingConfig(temperature=1.0))
    limit = agent.context_limit
    lengths = []
    partner = partner_units(200, 4)
    for j in range(200):
        if j >= 1:
            agent.observe_partner(j - 1, partner[j - 1])
        agent.played(j, agent.produce(j).units)
        lengths.append(len(agent.lm.tokens[agent.row]))
    assert max(lengths) <= limit and agent.base > 0
    pieces = closed_pieces(agent)  # starts with a whole slice
    assert pieces[0][0] == 0


def test_an_agent_trained_on_a_silent_side_stays_idle(tmp_path):
    """The model learns <idle>: trained on a dialogue where one side never speaks (both
    orientations: silent while the partner talks, talking while the partner is silent), it
    keeps quiet while its partner talks; trained on the dialogue itself, it speaks."""
    from duplexsim.corpora import default_dialogue
    from duplexsim.training.tdm import train_tdm_agent

    d = default_dialogue()
    silent = d.units.copy()
    silent[0] = 0
    idle = {}
    for name, units in (("quiet", silent), ("talker", d.units)):
        dialogue = type("D", (), {"units": units, "segments": d.segments})()
        train_tdm_agent(tiny_tdm_card(steps=10, interruption_prob=0.0), [dialogue], [dialogue],
                        tmp_path / name, progress=False)
        agent = load_tdm_agent(tmp_path / name, chunk_ms=160, slice_ms=640, seed=0,
                               sampling=SamplingConfig(temperature=0.0))
        converse(agent, 24, lag=2)
        idle[name] = [d["idle"] for d in agent.decisions]
    assert all(idle["quiet"]) and not all(idle["talker"]), idle


@pytest.mark.parametrize(("call", "message"), [
    (lambda a, u: a.observe_partner(-1, u), r"observe_partner\(chunk=-1\): partner chunk=-1 "),
    (lambda a, u: a.observe_partner(1.5, u), r"observe_partner\(chunk=1.5\): partner chunk="),
    (lambda a, u: a.produce(2.5), r"produce\(2.5\): chunk=2.5 \(allowed: a whole number >= 0"),
    (lambda a, u: a.produce(-1), r"produce\(-1\): chunk=-1 "),
    (lambda a, u: a.played(-3, u), r"played\(chunk=-3\): own chunk=-3 "),
])
def test_a_chunk_index_that_is_no_whole_number_from_0_is_one_line(agent_dir, call,
                                                                  message: str) -> None:
    """As the SyncLLM agent says it: -1 and 1.5 were kept as chunks (a received -1 made
    every later lookahead one too small, produce(2.5) reported a lookahead of 0.5)."""
    agent = load_tdm_agent(agent_dir, chunk_ms=160, slice_ms=640, seed=1)
    units = np.ones(agent.frames_per_chunk, dtype=np.int64)
    with pytest.raises(ValueError, match=rf"^{agent.name}: {message}"):
        call(agent, units)
    assert not agent.received and not agent.played_own and not agent.planned
    assert agent.produce(3).lookahead == 3


def test_agents_rebuilt_on_one_lm_give_their_rows_back(agent_dir):
    """TDM sides of one agent directory share one LMRows (sim.build); an agent closed gives
    its row back, so rebuilding agents on a long-lived LMRows does not grow it, and the
    closed agent refuses to touch the row it gave back (as DuplexGenerator.close)."""
    from duplexsim.models.agentdir import load_agent_files
    from duplexsim.models.rows import LMRows

    files = load_agent_files(agent_dir, kind="tdm")
    lm = LMRows(files.model, files.vocab.n_units, files.context_tokens)
    kept = TdmAgent(files, 160, slice_ms=640, lm=lm, seed=0)
    for seed in range(5):
        agent = TdmAgent(files, 160, slice_ms=640, lm=lm, seed=seed)
        converse(agent, 6)
        agent.close()
        agent.close()  # again: does not free the row a later agent took
    assert len(lm.tokens) == 2 and agent.row != kept.row
    other = TdmAgent(files, 160, slice_ms=640, lm=lm, seed=9)
    other.produce(0), other.produce(1)
    held = list(lm.tokens[other.row])
    units = np.ones(agent.frames_per_chunk, dtype=np.int64)
    for call in (lambda: agent.reset(0), lambda: agent.produce(7),
                 lambda: agent.observe_partner(0, units), lambda: agent.played(0, units)):
        with pytest.raises(ValueError, match=rf"^{agent.name}: .*this agent is closed"):
            call()
    assert lm.tokens[other.row] == held and other.row == agent.row
