"""experiments/selfplay_rl.py: end to end on the tiny world (a subprocess), the rewards
(``selfplay_rl_rollouts``), and the log-probabilities of recorded decisions against the
engine's own sampler mask (``selfplay_rl_policy``)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from experiment_run import run_experiment
from safetensors.numpy import load_file

ROOT = Path(__file__).parents[2]


def test_selfplay_rl_smoke(tmp_path: Path) -> None:
    out = tmp_path / "rl"
    proc = run_experiment("selfplay_rl.py", "--smoke", "--out", str(out), "--kl", "0.1",
                          "--silence-cost", "0.3", "--hold-onsets", "--hold-fto",
                          "--silence-grace-ms", "80")
    assert proc.returncode == 0, proc.stderr[-3000:]
    table = pd.read_csv(out / "iterations.csv")
    assert list(table.iteration) == [0, 1, 2] and (table.decisions > 0).all()
    assert table.kl.iloc[:2].notna().all() and np.isnan(table.kl.iloc[2])  # last: measured only
    assert np.isfinite(table.onset_bonus).all() and (table.onset_target > 0).all()
    assert (table.quick_target > 0).all() and np.isfinite(table.quick_bonus).all()
    assert "onsets/s)" in (out / "REPORT.md").read_text()
    assert "of such transfers)" in (out / "REPORT.md").read_text()
    base = load_file(out / "world" / "agents" / "fisher" / "model" / "model.safetensors")
    tuned = load_file(out / "agent" / "model" / "model.safetensors")
    assert base.keys() == tuned.keys()
    assert any((base[k] != tuned[k]).any() for k in base)
    assert (out / "agent" / "tokenizer").is_dir() and (out / "agent" / "agent.json").is_file()
    last = load_file(out / "snapshots" / "iteration2" / "model.safetensors")
    assert all((last[k] == tuned[k]).all() for k in tuned)  # the last snapshot = the agent
    assert (out / "snapshots" / "iteration1" / "config.json").is_file()
    assert "Command: `python experiments/selfplay_rl.py --smoke" in (out / "REPORT.md").read_text()


def _experiment(name: str):  # noqa: ANN202
    """The experiment module ``name`` (``experiments/`` put on the path its scripts use)."""
    import importlib

    sys.path.insert(0, str(ROOT / "experiments"))
    return importlib.import_module(name)


def test_rewards_charge_overlap_and_mutual_silence() -> None:
    ro = _experiment("selfplay_rl_rollouts")
    units = np.zeros((2, 15), np.int64)  # 3 chunks of 5 frames, unit 0 = silence
    units[0, 0:10] = 4  # side a speaks in chunks 0 and 1
    units[1, 3:5] = 9  # side b overlaps the last 2 frames of chunk 0
    found = ro.Rollouts(units=[units], decisions=[
        ro.Decision(0, key, j, [], [], None, None) for key in ("a", "b") for j in range(3)])
    ro.assign_rewards(found, 5, {0}, overlap_cost=1.0, silence_cost=0.5)
    rewards = {(d.side, d.chunk): d.reward for d in found.decisions}
    assert rewards[("a", 0)] == rewards[("b", 0)] == -0.4  # 2 of 5 frames both speak
    assert rewards[("a", 1)] == 0.0  # one speaks
    assert rewards[("a", 2)] == rewards[("b", 2)] == -0.5  # neither speaks


def test_the_onset_bonus_goes_to_the_chunk_that_starts_a_listener_onset() -> None:
    ro = _experiment("selfplay_rl_rollouts")
    units = np.zeros((2, 60), np.int64)  # 6 chunks of 10 frames (40 ms), unit 0 = silence
    units[0, 0:60] = 4  # side a holds the floor throughout
    units[1, 34:39] = 9  # side b, silent for 1.36 s, speaks up in chunk 3: a listener onset
    decisions = [ro.Decision(0, key, j, [], [], None, None) for key in ("a", "b")
                 for j in range(6)]
    plain = ro.Rollouts(units=[units], decisions=decisions)
    ro.assign_rewards(plain, 10, {0}, overlap_cost=1.0, silence_cost=0.5)
    before = {(d.side, d.chunk): d.reward for d in decisions}
    ro.assign_rewards(plain, 10, {0}, overlap_cost=1.0, silence_cost=0.5, onset_bonus=0.25)
    gained = {(d.side, d.chunk): d.reward - before[(d.side, d.chunk)] for d in decisions}
    assert gained.pop(("b", 3)) == 0.25
    assert all(g == 0.0 for g in gained.values())
    assert before[("b", 3)] == -0.5  # its 5 overlapped frames are still charged


def test_discounted_returns_run_per_side_and_conversation() -> None:
    ro = _experiment("selfplay_rl_rollouts")
    ds = [ro.Decision(c, side, j, [], [], None, None, reward)
          for c, side, j, reward in [(0, "a", 1, -1.0), (0, "a", 0, 0.0), (0, "a", 2, -2.0),
                                     (0, "b", 0, 5.0), (1, "a", 0, 7.0)]]
    ro.discount(ds, 0.5)
    assert [d.reward for d in ds] == [-2.0, -1.0, -2.0, 5.0, 7.0]  # -1 + 0.5 * -2; 0 + 0.5 * -2
    ro.discount(ds, 0.0)
    assert [d.reward for d in ds] == [-2.0, -1.0, -2.0, 5.0, 7.0]


def test_the_onset_multiplier_follows_the_shortfall() -> None:
    ro = _experiment("selfplay_rl_rollouts")
    assert ro.next_bonus(0.0, 0.2, 0.4, 0.5) == 0.25  # half the target: +0.5 x 0.5
    assert ro.next_bonus(0.25, 0.8, 0.4, 0.5) == -0.25  # twice the target: onsets cost
    assert ro.next_bonus(0.25, 0.4, 0.4, 0.5) == 0.25  # on target: unchanged
    assert ro.next_bonus(0.25, float("nan"), 0.4, 0.5) == 0.25  # nobody listened


def test_log_probs_match_the_samplers_distribution(tmp_path: Path) -> None:
    """Each recorded decision's log-probability equals the sum, token by token, of the log of
    what the engine's sampler (its allowed-id mask, temperature 1) gave the sampled token,
    computed here with the agent's own token rows (the lean forward)."""
    ro = _experiment("selfplay_rl_rollouts")
    pg = _experiment("selfplay_rl_policy")
    from selfplay_plan import Plan
    from tiny_world import build_tiny_world

    from duplexsim.models.agentdir import load_agent_files
    from duplexsim.models.engine import TokenRequest, allowed_mask
    from duplexsim.models.rows import LMRows
    from duplexsim.models.sampling import CounterRNG, SamplingConfig

    agents, corpora = build_tiny_world(tmp_path / "world")
    plan = Plan(agents=agents, corpora=corpora, out=tmp_path, conversations=2, duration_s=4.0,
                chunk_ms=160)
    found = ro.roll_out(plan, agents / "fisher", 7)
    assert found.decisions and len(found.units) == 2
    files = load_agent_files(agents / "fisher")
    vocab = files.vocab
    picked = [d for d in found.decisions if d.units or d.end is not None][:12]
    with torch.no_grad():
        got = pg.log_probs(files.model, picked, *pg.ids_of(vocab))
    lm = LMRows(files.model, vocab.n_units, files.context_tokens)
    row, rng, tags = lm.add_row(), CounterRNG(0), (vocab.S0, vocab.S1)
    for d, value in zip(picked, got, strict=True):
        lm.reset(row)
        lm.append(row, [*d.context, vocab.S0])
        want, prev = 0.0, -1 if d.prev_unit is None else d.prev_unit
        for token in [*d.units, *([] if d.end is None else [d.end])]:
            request = TokenRequest(lm, row, SamplingConfig(), rng, units=True, exclude=prev,
                                   tags=tags)
            logits = lm.logits([row])[0].masked_fill(~allowed_mask(lm, [request])[0],
                                                      float("-inf"))
            want += float(torch.log_softmax(logits, -1)[token])
            lm.append(row, [token])
            prev = token
        assert abs(float(value) - want) < 1e-3, (d.chunk, float(value), want)


def test_a_decision_is_what_was_sampled_also_for_an_empty_piece_at_the_window_start(
        ) -> None:
    """An own piece of no unit at the window's first chunk is written to the row as the unit
    it goes on with; the decision recorded it as that unit sampled and the piece full (no
    tag), so log_probs scored a unit never drawn and missed the tag that was (3 of 40
    conversations' chunk 0 with this untrained model). It is no unit and its tag now."""
    ro = _experiment("selfplay_rl_rollouts")
    from duplexsim.config.card import ModelCard
    from duplexsim.models.generator import DuplexGenerator
    from duplexsim.models.model import build_model
    from duplexsim.models.rows import LMRows
    from duplexsim.models.vocab import Vocab
    from duplexsim.tokens import SyncFormat

    vocab, fmt = Vocab(20, 300), SyncFormat(chunk_ms=160, n_units=20, silence_unit=0)
    model = build_model(ModelCard(size="tiny", n_units=20, text_vocab_size=300), vocab.size,
                        vocab.pad, vocab.bos, vocab.eos, seed=0).eval()
    lm = LMRows(model, 20, 256)
    empty = 0
    for seed in range(10):
        gen = DuplexGenerator(lm, fmt, 256, seed=seed)
        decisions: list = []
        ro.record_decisions(gen, 0, "a", decisions)
        gen.step(0)
        ro.stop_recording(gen)
        gen.step(1)
        gen.close()
        assert len(decisions) == 1
        d = decisions[0]
        assert d.end is not None or len(d.units) == fmt.frames_per_chunk, (seed, d)
        empty += d.units == []
    assert empty >= 1  # the case occurred (seeds 5 and 9)


def test_roll_out_leaves_no_session_or_token_rows_behind(tmp_path: Path) -> None:
    """Without the cyclic garbage collector, nothing of a roll-out outlives it but what it
    returns: its sessions are closed and the decision-recording wrappers (which refer back
    to their generators) undone, so the token rows' KV caches go with the roll-out, not at
    the next full collection (an iteration's rows stayed alive into the next ones)."""
    import gc

    ro = _experiment("selfplay_rl_rollouts")
    from selfplay_plan import Plan
    from tiny_world import build_tiny_world

    from duplexsim.models.rows import LMRows
    from duplexsim.sim.session import Session

    def alive() -> list[object]:
        return [o for o in gc.get_objects() if type(o) in (LMRows, Session)]

    agents, corpora = build_tiny_world(tmp_path / "world")
    plan = Plan(agents=agents, corpora=corpora, out=tmp_path, conversations=2, duration_s=2.0,
                chunk_ms=160)
    gc.collect()
    before = alive()  # (another test's, e.g. held by a failure's traceback)
    gc.disable()
    try:
        found = ro.roll_out(plan, agents / "fisher", 7)
        left = [type(o).__name__ for o in alive() if not any(o is b for b in before)]
    finally:
        gc.enable()
    assert found.decisions and len(found.units) == 2
    assert left == []


def test_overlap_grace_frees_the_start_of_each_overlap() -> None:
    ro = _experiment("selfplay_rl_rollouts")
    units = np.zeros((2, 10), np.int64)
    units[0, :] = 4  # side a speaks throughout
    units[1, 0:4] = 9  # b overlaps frames 0-3: with 2 frames of grace, 2 and 3 cost
    found = ro.Rollouts(units=[units], decisions=[ro.Decision(0, "b", 0, [], [], None, None)])
    ro.assign_rewards(found, 5, {0}, overlap_cost=1.0, silence_cost=0.0, grace_frames=2)
    assert found.decisions[0].reward == -0.4
    assert list(ro._late(np.array([1, 1, 1, 0, 1, 1], bool), 2)) == [0, 0, 1, 0, 0, 0]


def test_silence_grace_frees_the_start_of_each_mutual_silence() -> None:
    ro = _experiment("selfplay_rl_rollouts")
    units = np.zeros((2, 10), np.int64)
    units[0, 6:] = 4  # neither speaks in frames 0-5: with 2 frames of grace, 2-4 cost in chunk 0
    found = ro.Rollouts(units=[units], decisions=[ro.Decision(0, "a", 0, [], [], None, None),
                                                  ro.Decision(0, "a", 1, [], [], None, None)])
    ro.assign_rewards(found, 5, {0}, overlap_cost=1.0, silence_cost=1.0,
                      silence_grace_frames=2)
    assert [d.reward for d in found.decisions] == [-0.6, -0.2]


def test_quick_transfers_are_found_and_rewarded_in_the_chunk_of_their_onset() -> None:
    ro = _experiment("selfplay_rl_rollouts")
    from duplexsim.metrics.activity import vad_from_units

    units = np.zeros((2, 100), np.int64)  # 10 chunks of 10 frames (40 ms)
    units[0, 0:30] = 4  # a speaks, then b after a 2-frame gap (80 ms): a quick transfer
    units[1, 32:60] = 9
    units[0, 70:100] = 4  # a again after 10 frames (400 ms): a slow one
    vad = vad_from_units(units, {0})
    side, frame, fto = ro.transfers(vad)
    assert list(side) == [1, 0] and list(frame) == [32, 70] and list(fto) == [80.0, 400.0]
    assert ro.quick_share([vad], 80.0) == 0.5
    decisions = [ro.Decision(0, key, j, [], [], None, None) for key in ("a", "b")
                 for j in range(10)]
    found = ro.Rollouts(units=[units], decisions=decisions)
    ro.assign_rewards(found, 10, {0}, overlap_cost=1.0, silence_cost=0.0)
    before = {(d.side, d.chunk): d.reward for d in decisions}
    ro.assign_rewards(found, 10, {0}, overlap_cost=1.0, silence_cost=0.0, quick_bonus=0.5,
                      quick_ms=80.0)
    gained = {(d.side, d.chunk): d.reward - before[(d.side, d.chunk)] for d in decisions}
    assert gained.pop(("b", 3)) == 0.5
    assert all(g == 0.0 for g in gained.values())


def _measure(world: Path, out: Path, gamma: float = 0.0) -> pd.DataFrame:
    """``selfplay_rl.train`` with no update: iteration 0's row, the base agent's rollouts."""
    import argparse

    rl = _experiment("selfplay_rl")
    from selfplay_plan import Plan

    agents, corpora = world / "agents", world / "corpora"
    plan = Plan(agents=agents, corpora=corpora, out=out, conversations=2, duration_s=4.0,
                chunk_ms=160)
    args = argparse.Namespace(out=out, anchor=0.0, lr=1e-5, iterations=0, first_seed=7,
                              conversations=2, onset_target=None, fto_target=None,
                              overlap_cost=1.0, silence_cost=0.3, overlap_grace_ms=0,
                              silence_grace_ms=0, gamma=gamma, keep_snapshots=False)
    out.mkdir(parents=True)
    return rl.train(args, agents / "fisher", corpora / "fisher-like", None, plan,
                    progress=False)


def test_rollouts_are_scored_with_every_silence_unit_of_the_corpus(tmp_path: Path) -> None:
    """A tokenizer with two silence units: the rollouts' voice activity treats both as
    silence, as the corpus reference does (unit 1 counted as speech before)."""
    import json

    ro = _experiment("selfplay_rl_rollouts")
    from selfplay_plan import Plan
    from tiny_world import build_tiny_world

    agents, corpora = build_tiny_world(tmp_path / "world")
    config = corpora / "fisher-like" / "tokenizer" / "config.json"
    data = json.loads(config.read_text())
    data["config"]["n_silence_units"], data["silence_units"] = 2, [0, 1]
    config.write_text(json.dumps(data))
    table = _measure(tmp_path / "world", tmp_path / "rl")
    plan = Plan(agents=agents, corpora=corpora, out=tmp_path, conversations=2, duration_s=4.0,
                chunk_ms=160)
    units = ro.roll_out(plan, agents / "fisher", 7).units  # the same seeds, the same weights
    assert any((u == 1).any() for u in units)  # the agent writes the second silence unit
    from duplexsim.metrics.activity import vad_from_units

    want = ro.stats_of([vad_from_units(u, {0, 1}) for u in units])
    for stat in ("overlap_share", "speech_share_per_side"):
        assert table[stat].iloc[0] == want[stat], stat


def test_mean_reward_is_per_chunk_with_or_without_discounting(tmp_path: Path) -> None:
    """``mean_reward`` is the chunks' own reward (equal at iteration 0, the base agent's
    rollouts, whatever ``--gamma``); the discounted return is ``mean_return``."""
    _experiment("selfplay_rl")
    from tiny_world import build_tiny_world

    build_tiny_world(tmp_path / "world")
    plain = _measure(tmp_path / "world", tmp_path / "g0")
    discounted = _measure(tmp_path / "world", tmp_path / "g05", gamma=0.5)
    assert discounted.mean_reward.iloc[0] == plain.mean_reward.iloc[0] < 0
    assert "mean_return" not in plain
    assert discounted.mean_return.iloc[0] < discounted.mean_reward.iloc[0]  # costs add up
