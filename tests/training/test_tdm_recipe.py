"""The TDM recipe: slice windows, the synthetic barge-ins, the agent directory, resume."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).parents[1] / "models"))
from tdm_fixtures import tiny_tdm_card  # noqa: E402

from duplexsim.config.card import TdmCard  # noqa: E402
from duplexsim.corpora import default_dialogue  # noqa: E402
from duplexsim.errors import ConfigError  # noqa: E402
from duplexsim.models.vocab import TdmVocab  # noqa: E402
from duplexsim.tdm_tokens import TdmFormat  # noqa: E402
from duplexsim.training.datasets import (
    frames_in,
    prepare,  # noqa: E402
)
from duplexsim.training.tdm import TdmStageData, inject_interruption, speech_runs, train_tdm_agent


def stream(runs: list[tuple[int, bool]], rng: np.random.Generator) -> np.ndarray:
    return np.concatenate([rng.integers(1, 50, n) if talk else np.zeros(n, np.int64)
                           for n, talk in runs]).astype(np.int64)


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 10_000), st.sampled_from([400, 800, 1200]))
def test_a_barge_in_makes_the_agent_stop_at_the_next_slice(seed, slice_ms):
    rng = np.random.default_rng(seed)
    fmt = TdmFormat(slice_ms=slice_ms, n_units=50)
    S = fmt.slice_frames
    L = 12 * S
    own = stream([(int(rng.integers(0, 20)), False), (L, True)], rng)[:L]  # talks and talks
    partner = np.zeros(L, np.int64)
    clips = stream([(30, False), (int(rng.integers(25, 120)), True), (30, False)], rng)
    cfg = TdmCard(slice_ms=(slice_ms,))
    new_own, new_partner, done = inject_interruption(own, partner, clips, fmt, cfg, rng)
    assert done is not None and len(new_own) == len(new_partner) == L
    t, y, r = done["onset"], done["yield_at"], done["resume_at"]
    assert new_partner[t] != 0 and not new_partner[:t].any()  # the barge-in starts at t
    assert new_own[t] != 0  # ... while the agent speaks
    heard = t + cfg.min_heard_ms // 40
    boundary = -(-heard // S) * S  # the first slice decided after hearing enough of it
    assert boundary <= y <= boundary + cfg.yield_ms[1] // 40
    lead = int(np.flatnonzero(own)[0])
    assert new_own[lead:y].all() and not new_own[y:min(r, L)].any()  # then it stops until r
    if y < L and y % S:  # in the TDM format: that slice ends in <eos>
        piece = fmt.encode_piece(new_own[y // S * S:(y // S + 1) * S])
        assert piece[-1] == fmt.eos and len(piece) - 1 == y % S


def test_barge_in_timings_draw_every_frame_of_their_range_alike():
    """yield_ms (0, 200) is 0..5 frames, each a sixth of the draws (flooring a uniform ms
    value drew 5 frames once in 201)."""
    rng = np.random.default_rng(0)
    counts = np.bincount([frames_in((0, 200), rng) for _ in range(6000)], minlength=6)
    assert len(counts) == 6 and np.all(np.abs(counts / 6000 - 1 / 6) < 0.02)
    assert {frames_in((1000, 1000), rng) for _ in range(10)} == {25}


def test_no_barge_in_without_a_long_enough_own_ipu():
    fmt = TdmFormat(slice_ms=800, n_units=50)
    rng = np.random.default_rng(0)
    own = stream([(10, True), (30, False)] * 4, rng)  # IPUs of 0.4 s < one slice
    partner = np.zeros_like(own)
    out_own, out_partner, done = inject_interruption(own, partner, own, fmt, TdmCard(), rng)
    assert done is None and out_own is own and out_partner is partner
    assert speech_runs(np.array([1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 1], bool)) == [(0, 5), (10, 11)]


def data(stage: str, interruption_prob: float = 0.5, split_seed: int = 0) -> TdmStageData:
    card = tiny_tdm_card(interruption_prob=interruption_prob)
    d = default_dialogue()
    vocab = TdmVocab(501, 300)
    from duplexsim.models.vocab import train_text_tokenizer

    tok = train_text_tokenizer([s.text for s in d.segments], 300)
    return TdmStageData(stage, card, prepare([d], vocab, tok), vocab, split_seed)


@pytest.mark.parametrize("stage", ["stage2", "stage3"])
def test_every_silence_unit_of_the_corpus_is_silence_in_the_slices(stage):
    """A tokenizer with two silence units: silent frames written as unit 1 make ``<idle>``
    slices and ``<eos>`` cuts as unit 0 does (they were speech units: no ``<idle>`` at all
    where the corpus's silence was unit 1)."""
    import dataclasses

    from duplexsim.models.vocab import train_text_tokenizer

    card = tiny_tdm_card(interruption_prob=0.5)
    d = default_dialogue()
    units = np.where(d.units == 1, 2, d.units)  # unit 1 means silence from here on
    silent = np.flatnonzero(units.ravel() == 0)
    two = units.ravel().copy()
    two[silent[::2]] = 1  # every other silent frame: the second silence unit
    vocab = TdmVocab(501, 300)
    tok = train_text_tokenizer([s.text for s in d.segments], 300)

    def batch(u: np.ndarray, silence: set[int]) -> torch.Tensor:
        prepared = prepare([dataclasses.replace(d, units=u.reshape(units.shape))], vocab, tok)
        return TdmStageData(stage, card, prepared, vocab, 0, silence_units=silence).batch(0)

    one_unit, two_units = batch(units, {0}), batch(two, {0, 1})
    assert (one_unit == vocab.idle).sum() > 0
    for special in (vocab.idle, vocab.eos, vocab.S0, vocab.S1, vocab.pad):
        assert torch.equal(one_unit == special, two_units == special), special


@pytest.mark.parametrize("stage", ["stage2", "stage3"])
def test_windows_are_tdm_sequences_and_pure_functions_of_the_step(stage):
    a, b = data(stage), data(stage)
    first = a.batch(3)
    assert torch.equal(first, b.batch(3)) and not torch.equal(first, a.batch(4))
    vocab = a.vocab
    assert first.shape == (a.scard.seqs_per_micro, a.scard.seq_len + 1)
    for row in first.tolist():
        seq = [t for t in row if t != vocab.pad]
        assert seq[0] == vocab.S0
        last = max(i for i, t in enumerate(seq) if t in (vocab.S0, vocab.S1))
        for slice_ms in a.tdm.slice_ms:  # one of the card's slice lengths decodes it
            try:
                TdmFormat(slice_ms=slice_ms, n_units=501).slices(seq[:last])
                break
            except ValueError:
                continue
        else:
            pytest.fail(f"window decodes with none of {a.tdm.slice_ms}")


def test_every_injected_yield_is_within_the_training_length():
    """Windows run past ``seq_len`` (the tiny card: 6 slices, 128 tokens), and a yield in the
    cut-off tail was counted as injected but never trained (here 21 of 96 injected windows;
    the shipped fisher-tdm card on the shipped dialogue: 95 of 1600, 6 %). Whole slices are
    cut from the front instead, the barge-in's slice kept."""
    import copy

    d = data("stage3", 1.0)
    L = d.scard.seq_len + 1
    tail = 0
    for seed in range(150):
        rng = np.random.default_rng(seed)
        mirror = copy.deepcopy(rng)
        seq = d.sequence(rng)
        # the same draws as TdmStageData.sequence, keeping what the barge-in did
        i = int(mirror.choice(len(d.streams), p=d.weights))
        orient = int(mirror.integers(2))
        units = d.streams[i]
        fmt = TdmFormat(slice_ms=int(mirror.choice(d.tdm.slice_ms)), n_units=501)
        S, T = fmt.slice_frames, units.shape[1]
        window = min(d.tdm.window_slices, T // S) * S
        start = int(mirror.integers(0, T - window + 1))
        mirror.random()
        own, partner, done = inject_interruption(
            units[orient, start:start + window], units[1 - orient, start:start + window],
            units[1 - orient], fmt, d.tdm, mirror)
        whole = fmt.encode(own, partner)
        if done is None or done["yield_at"] >= window:
            assert seq == whole
            continue
        starts = [k for k, t in enumerate(whole) if t == fmt.S0]
        m = done["yield_at"] // S
        tail += whole.index(fmt.S1, starts[m]) > L  # the yield piece ran past the row
        cut = len(whole) - len(seq)
        assert seq == whole[cut:] and cut in starts and cut <= starts[done["onset"] // S]
        assert seq.index(fmt.S1, starts[m] - cut) <= L  # its last token is a target
        fmt.slices(seq)  # still the TDM format
    assert tail >= 5


def test_stage3_injects_interruptions_at_the_card_rate():
    every, never = data("stage3", 1.0), data("stage3", 0.0)
    for step in range(6):
        every.batch(step)
        never.batch(step)
    n = 6 * every.scard.seqs_per_micro
    assert never.injected == 0 and every.injected >= n // 2  # most windows have a long IPU
    assert data("stage2", 1.0).batch(0) is not None and data("stage2", 1.0).injected == 0


def test_train_tdm_agent_writes_a_tdm_agent_directory_and_resumes(tmp_path):
    d = default_dialogue()
    card = tiny_tdm_card(steps=2)
    info = train_tdm_agent(card, [d.crop(0, 40)], [d.crop(40, 60)], tmp_path / "a",
                           progress=False)
    saved = json.loads((tmp_path / "a" / "agent.json").read_text())
    assert saved == json.loads(json.dumps(info))
    assert saved["silence_units"] == [0]  # no corpus set given: the card's silence unit
    assert saved["kind"] == "tdm" and saved["slice_ms"] == [640, 800, 1200]
    assert saved["card"]["agent"]["kind"] == "tdm" and saved["card"]["tdm"]["window_slices"] == 6
    assert set(saved["val_loss"]) == {"stage2", "stage3"}
    from duplexsim.config.card import card_from_dict

    assert card_from_dict(saved["card"]) == card  # the card round-trips through agent.json
    weights = (tmp_path / "a" / "model" / "model.safetensors").read_bytes()
    again = train_tdm_agent(card, [d.crop(0, 40)], [d.crop(40, 60)], tmp_path / "a",
                            progress=False)  # everything done: resumes to the same weights
    assert again["val_loss"] == info["val_loss"]
    assert (tmp_path / "a" / "model" / "model.safetensors").read_bytes() == weights
    with pytest.raises(ConfigError, match="agent.kind: 'syncllm' .*\\(allowed: 'tdm'\\)$"):
        from duplexsim.config.card import AgentCard

        train_tdm_agent(AgentCard(), [d], [d], tmp_path / "b", progress=False)


def test_dialogues_shorter_than_a_slice_are_named_not_a_nan_loss(tmp_path) -> None:
    """0.6 s dialogues hold no 640 ms slice: every row was [PAD], the loss nan, and the
    error said to lower stage2.lr."""
    from duplexsim.corpora import default_dialogue
    from duplexsim.errors import InputError
    from duplexsim.training.tdm import train_tdm_agent

    d = default_dialogue()
    with pytest.raises(InputError, match=r"the train split: stage2: no dialogue has one slice "
                                         r"\(640 ms\) of units"):
        train_tdm_agent(tiny_tdm_card(2), [d.crop(0.0, 0.6)], [d.crop(40.0, 40.6)],
                        tmp_path / "agent", progress=False)


def test_a_dialogue_shorter_than_some_slices_gives_windows_of_those_it_holds():
    """A 0.7 s dialogue holds a 640 ms slice but no 800 or 1200 ms one: a window that drew
    one of those was an all-[PAD] row (stage 3: 137 rows in 200), and a validation batch of
    them a loss of nan (review). It draws among the slices the dialogue holds instead."""
    from duplexsim.models.vocab import train_text_tokenizer

    d = default_dialogue().crop(40.0, 40.7)
    card = tiny_tdm_card(2)
    tok = train_text_tokenizer(["hello"], 300)
    vocab = TdmVocab(501, tok.get_vocab_size())
    data = TdmStageData("stage3", card, prepare([d], vocab, tok), vocab, 1)
    rows = torch.cat([data.batch(step) for step in range(50)])
    assert not (rows[:, 0] == vocab.pad).any()


def test_make_vocab_gives_a_tdm_card_the_tdm_id_layout() -> None:
    """make_vocab gave every card the SyncLLM layout, [PAD] of a TDM card on its <idle> id;
    train_tdm_agent built its vocabulary with a copy of it instead (review)."""
    from duplexsim.training.recipe import make_vocab

    vocab, tok = make_vocab(tiny_tdm_card(), [default_dialogue()])
    assert type(vocab) is TdmVocab and vocab.n_text == tok.get_vocab_size()
    assert vocab.pad == vocab.n_units + 4


def test_the_syncllm_recipe_refuses_a_tdm_card(tmp_path) -> None:
    """train_agent trained a TDM card as a SyncLLM agent without a word: an agent.json with
    no ``kind`` (loaded as SyncLLM) whose card says tdm (review). Nothing is written."""
    from duplexsim.training.recipe import train_agent

    d = default_dialogue()
    with pytest.raises(ConfigError, match="agent.kind: 'tdm' .*\\(allowed: 'syncllm'\\)$"):
        train_agent(tiny_tdm_card(), [d], [d], tmp_path / "a", progress=False)
    assert not (tmp_path / "a").exists()


@pytest.mark.parametrize("kind", ["syncllm", "tdm"])
def test_max_minutes_counts_building_the_data_in_both_recipes(tmp_path, monkeypatch, kind):
    """train_tdm_agent repeated the SyncLLM loop and started its --max-minutes clock after
    the data was built (minutes on a corpus), the SyncLLM recipe before (review). Both now
    run :func:`fit` with the guard made first: a data build that outlasts the limit stops
    the run at the first step boundary in either recipe."""
    from syncllm_fixtures import synthetic_dialogues, tiny_card

    from duplexsim.training import guards, recipe, tdm
    from duplexsim.training.guards import WallGuard

    now = [0.0]

    class FakeClockGuard(WallGuard):
        def __init__(self, max_minutes: float | None = None) -> None:
            super().__init__(max_minutes, clock=lambda: now[0])

    def slow_prepare(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        now[0] += 3600.0  # an hour of building data, by the guard's clock
        return prepare(*args, **kwargs)

    for module in (guards, recipe):
        monkeypatch.setattr(module, "WallGuard", FakeClockGuard)
    for module in (recipe, tdm):
        monkeypatch.setattr(module, "prepare", slow_prepare)
    if kind == "tdm":
        d = default_dialogue()
        info = train_tdm_agent(tiny_tdm_card(steps=3), [d.crop(0, 40)], [d.crop(40, 60)],
                               tmp_path / "a", max_minutes=1, progress=False)
    else:
        dialogues = synthetic_dialogues()
        info = recipe.train_agent(tiny_card(steps=3), dialogues[:2], dialogues[2:],
                                  tmp_path / "a", max_minutes=1, progress=False)
    stop = info["stopped_early"]
    assert stop is not None and stop["reason"] == "max_minutes"
    assert stop["stage"] == next(iter(info["val_loss"]))  # the first stage it trained
