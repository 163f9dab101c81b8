"""SyncLLMAgent: the agent protocol on a tiny trained agent."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).parents[1] / "models"))
from syncllm_fixtures import N_UNITS, train_tiny_agent  # noqa: E402

from duplexsim.agents import Agent, load  # noqa: E402
from duplexsim.agents.syncllm import load_agent  # noqa: E402
from duplexsim.models.sampling import SamplingConfig  # noqa: E402
from duplexsim.tokens import SyncFormat  # noqa: E402


@pytest.fixture(scope="module")
def agent_dir(tmp_path_factory) -> Path:
    return train_tiny_agent(tmp_path_factory.mktemp("agent") / "tiny", steps=2)


def converse(agent, n: int, delay_chunks: int = 1, seed: int = 0) -> list:
    """Partner chunk k arrives before own chunk k + 1 + delay_chunks is decided (lookahead =
    delay_chunks)."""
    rng = np.random.default_rng(seed)
    partner = rng.integers(0, N_UNITS, size=(n, agent.frames_per_chunk))
    reports = []
    for j in range(n):
        k = j - 1 - delay_chunks
        if k >= 0:
            agent.observe_partner(k, partner[k])
        reports.append(agent.produce(j))
        agent.played(j, reports[-1].units)
    return reports


def test_protocol_lookahead_and_reports(agent_dir) -> None:
    agent = load(agent_dir, chunk_ms=160, seed=3)
    assert isinstance(agent, Agent) and agent.frames_per_chunk == 4
    reports = converse(agent, 12, delay_chunks=1)
    assert [r.lookahead for r in reports[3:]] == [1] * 9  # the paper's setting
    assert all(len(r.units) == 4 and r.units.max() < N_UNITS for r in reports)
    assert all(set(r.estimates) == {r.chunk - 1} for r in reports[3:])
    deeper = converse(load(agent_dir, chunk_ms=160, seed=3), 12, delay_chunks=3)
    assert [r.lookahead for r in deeper[5:]] == [3] * 7
    assert reports[5].generated_tokens >= 1 and reports[5].compute_wall_ms > 0
    # the context is exactly the SyncLLM encoding of what it knows
    fmt = SyncFormat(chunk_ms=160, n_units=N_UNITS)
    gen = agent.generator
    own = np.concatenate([gen.own[k] for k in range(12)])
    partner = np.concatenate([gen.partner[k] for k in range(11)])
    expected = fmt.encode(own[:44], partner)
    expected += [fmt.S0, *fmt.encode_stream_chunk(gen.own[11], int(gen.own[10][-1]))]
    assert gen.tokens == expected


def test_a_lost_partner_chunk_counts_in_the_lookahead(agent_dir) -> None:
    """Lookahead = partner chunks < j not received (DESIGN.md "Agents", ChunkReport), as
    the replay and scripted partners count it: a lost chunk counts until it arrives, also
    after its estimate is in the context and after the context slid past it."""
    agent = load(agent_dir, chunk_ms=160, seed=3)
    rng = np.random.default_rng(0)
    n = 3 * agent.generator.context_tokens // (agent.frames_per_chunk + 2)  # > 1 slide
    partner = rng.integers(0, N_UNITS, size=(n, agent.frames_per_chunk))
    got = {}
    for j in range(n):
        k = j - 2
        if k >= 0 and k != 4:  # partner chunk 4 is lost
            agent.observe_partner(k, partner[k])
        got[j] = agent.produce(j).lookahead
        agent.played(j, np.zeros(agent.frames_per_chunk, np.int64))
    assert got[5] == 1 and set(got[j] for j in range(6, n)) == {2}  # 4 and j - 1
    assert agent.generator.base > 4  # the context slid past the lost chunk
    agent.observe_partner(4, partner[4])  # it turns up after all
    agent.observe_partner(n - 2, partner[0])
    assert agent.produce(n).lookahead == 1  # n - 1


def test_same_seed_same_chunks_and_reset(agent_dir) -> None:
    a = load_agent(agent_dir, chunk_ms=200, seed=7)
    b = load_agent(agent_dir, chunk_ms=200, seed=7)
    ra, rb = converse(a, 10), converse(b, 10)
    assert all(np.array_equal(x.units, y.units) for x, y in zip(ra, rb, strict=True))
    a.reset(7)
    rc = converse(a, 10)
    assert all(np.array_equal(x.units, y.units) for x, y in zip(ra, rc, strict=True))


def test_replacing_an_estimate_crops_and_matches_full_recompute(agent_dir) -> None:
    agent = load_agent(agent_dir, chunk_ms=160, seed=0, sampling=SamplingConfig(2.0))
    for j in range(6):
        agent.produce(j)  # partner chunks 0..4 all estimated
    real = np.array([5, 6, 7, 8])
    agent.observe_partner(2, real)
    gen, lm = agent.generator, agent.lm
    assert np.array_equal(gen.partner[2], real) and 2 in gen.partner_real
    assert lm.n_cached[gen.row] <= gen.pstarts[2]  # cropped back, not recomputed
    forwarded = lm.n_forwarded[gen.row]
    logits = lm.logits([gen.row])[0]
    assert lm.n_forwarded[gen.row] - forwarded == len(gen.tokens) - gen.pstarts[2] + 1
    with torch.no_grad():
        full = lm.model(input_ids=torch.tensor([gen.tokens])).logits[0, -1]
    torch.testing.assert_close(logits, full.float(), atol=1e-4, rtol=1e-4)


def test_silence_estimation_and_played_amend(agent_dir) -> None:
    agent = load_agent(agent_dir, chunk_ms=160, estimation="silence", seed=0)
    agent.produce(0)
    pieces: list = []
    agent.generator.on_own_piece = pieces.append
    r1 = agent.produce(1)
    assert np.array_equal(r1.estimates[0], np.zeros(4, dtype=np.int64))
    # silence estimates sample nothing: the draws are the own piece's units and its ending
    # tag, if it ended on one (it was pinned to the units alone, true only for a full piece)
    (own,) = pieces
    assert r1.generated_tokens == len(own.units) + (own.end is not None)
    agent.played(0, np.full(4, 9))  # a deadline miss: something else was played
    assert np.array_equal(agent.generator.own[0], np.full(4, 9))
    assert agent.generator.tokens[:2] == [agent.fmt.S0, 9]
    with pytest.raises(ValueError, match="produce\\(1\\)"):
        agent.produce(1)


def test_context_slides_when_full(agent_dir) -> None:
    agent = load_agent(agent_dir, chunk_ms=160, seed=1, sampling=SamplingConfig(3.0))
    limit = agent.files.context_tokens
    converse(agent, 150)
    assert agent.generator.base > 0 and len(agent.generator.tokens) <= limit


def test_bad_arguments(agent_dir, tmp_path) -> None:
    with pytest.raises(ValueError, match="not trained for chunk_ms=240.*160, 200"):
        load_agent(agent_dir, chunk_ms=240)
    with pytest.raises(ValueError, match=r"^chunk_ms=160.5 \(allowed: a whole number >= 1\)$"):
        load_agent(agent_dir, chunk_ms=160.5)  # int() ran it as 160 ms
    agent = load_agent(agent_dir, chunk_ms=160)
    with pytest.raises(ValueError, match=r": produce\(-1\): chunk=-1 \(allowed: a whole"):
        agent.produce(-1)  # said "own chunk -1 exists"
    with pytest.raises(ValueError, match="5 frames"):
        agent.observe_partner(0, np.zeros(5))
    with pytest.raises(FileNotFoundError, match="agent.json missing"):
        load_agent(tmp_path)


def _estimates_with_own_chunks_fixed(agent, own: np.ndarray) -> list[dict]:
    """Each step's estimates when every own chunk is amended to ``own[j]`` as it is played
    (the context then differs between seeds only by what was sampled for the partner)."""
    out = []
    for j in range(len(own)):
        out.append(agent.produce(j).estimates)
        agent.played(j, own[j])
    return out


def test_estimate_temperature_zero_estimates_the_most_likely_partner(agent_dir) -> None:
    own = np.random.default_rng(0).integers(0, N_UNITS, size=(10, 4))

    def estimates(seed: int, **kw) -> list[dict]:
        agent = load_agent(agent_dir, chunk_ms=160, seed=seed, sampling=SamplingConfig(2.0, **kw))
        return _estimates_with_own_chunks_fixed(agent, own)

    def same(a: list[dict], b: list[dict]) -> bool:
        return all(x.keys() == y.keys() and all(np.array_equal(x[k], y[k]) for k in x)
                   for x, y in zip(a, b, strict=True))

    assert not same(estimates(1), estimates(2))  # sampled at 2.0: the seed shows
    assert same(estimates(1, estimate_temperature=0.0), estimates(2, estimate_temperature=0.0))
    # the same temperature given twice is the default, draw for draw
    assert same(estimates(1, estimate_temperature=2.0), estimates(1))
    with pytest.raises(ValueError, match="estimate_temperature"):
        SamplingConfig(1.0, estimate_temperature=-0.5)


def test_estimate_temperature_keeps_own_sampling(agent_dir) -> None:
    """Own units still sample at ``temperature``: greedy estimates do not make the agent
    greedy (two seeds give different own chunks)."""
    cfg = SamplingConfig(2.0, estimate_temperature=0.0)
    a = converse(load_agent(agent_dir, chunk_ms=160, seed=1, sampling=cfg), 10)
    b = converse(load_agent(agent_dir, chunk_ms=160, seed=2, sampling=cfg), 10)
    assert any(not np.array_equal(x.units, y.units) for x, y in zip(a, b, strict=True))


def test_agents_rebuilt_on_one_lm_give_their_rows_back(agent_dir) -> None:
    """SyncLLM sides of one agent directory share one LMRows (sim.build); an agent closed
    gives its generator's row back, so rebuilding agents on a long-lived LMRows does not
    grow it, and the closed agent refuses to touch the row it gave back (as TdmAgent)."""
    from duplexsim.agents.syncllm import SyncLLMAgent
    from duplexsim.models.agentdir import load_agent_files
    from duplexsim.models.rows import LMRows

    files = load_agent_files(agent_dir)
    lm = LMRows(files.model, files.vocab.n_units, files.context_tokens)
    kept = SyncLLMAgent(files, 160, lm=lm, seed=0)
    for seed in range(5):
        agent = SyncLLMAgent(files, 160, lm=lm, seed=seed)
        converse(agent, 6)
        agent.close()
        agent.close()  # again: does not free the row a later agent took
    assert agent.closed and not kept.closed
    assert len(lm.tokens) == 2 and agent.generator.row != kept.generator.row
    other = SyncLLMAgent(files, 160, lm=lm, seed=9)
    other.produce(0), other.produce(1)
    held = list(lm.tokens[other.generator.row])
    units = np.ones(agent.frames_per_chunk, dtype=np.int64)
    for call in (lambda: agent.reset(0), lambda: agent.produce(7),
                 lambda: agent.observe_partner(0, units), lambda: agent.played(0, units)):
        with pytest.raises(ValueError, match=rf"^{agent.name}: .*is closed") as err:
            call()
        assert "\n" not in str(err.value)
    assert lm.tokens[other.generator.row] == held and other.generator.row == agent.generator.row
