"""Continuation: shape, determinism from the seed, the prompt kept, chunk-size checks."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from syncllm_fixtures import N_UNITS, synthetic_dialogues, train_tiny_agent  # noqa: E402

from duplexsim.models.agentdir import load_agent_files  # noqa: E402
from duplexsim.models.continuation import chunks_to_cover, continue_dialogue  # noqa: E402
from duplexsim.tokens import SyncFormat  # noqa: E402


def test_continuation(tmp_path) -> None:
    files = load_agent_files(train_tiny_agent(tmp_path / "agent", steps=2))
    prompt = synthetic_dialogues(1)[0].units[:, :101]  # 101 frames: cut to 25 whole chunks
    units = continue_dialogue(files, prompt, seconds=30.0, chunk_ms=160, seed=4)
    # frames [101, 851) must be there: 188 chunks from frame 100 (187, as before, ended at
    # frame 848 and left the last 3 frames of the 30 s unwritten)
    assert units.shape == (2, 100 + 188 * 4)
    assert np.array_equal(units[:, :100], prompt[:, :100])
    assert units.min() >= 0 and units.max() < N_UNITS
    again = continue_dialogue(files, prompt, seconds=30.0, chunk_ms=160, seed=4)
    other = continue_dialogue(files, prompt, seconds=30.0, chunk_ms=160, seed=5)
    assert np.array_equal(units, again) and not np.array_equal(units, other)
    with pytest.raises(ValueError, match="chunk_ms=240"):
        continue_dialogue(files, prompt, 1.0, chunk_ms=240)


def test_interaction_is_causal_and_the_same_alone_or_batched(tmp_path) -> None:
    """Two agents continue prompts together: prompt kept, each prompt's units the same alone
    or in a batch, and at lead 1 A's first two chunks cannot depend on who B is (B's first
    chunk reaches A for A's third), while B's chunks do reach A later."""
    from duplexsim.models.continuation import interact_dialogues

    # A trained enough that its context moves its tokens (a 2-step model samples the same
    # ids from nearly uniform logits whatever it hears); B barely trained: another partner
    a = load_agent_files(train_tiny_agent(tmp_path / "a", steps=30))
    b = load_agent_files(train_tiny_agent(tmp_path / "b", steps=2))
    prompts = [d.units[:, :101] for d in synthetic_dialogues(3)]  # 25 whole 160 ms chunks
    units = interact_dialogues(a, b, prompts, seconds=4.0, chunk_ms=160, seeds=[0, 1, 2],
                               max_batch=2)
    for u, prompt in zip(units, prompts, strict=True):
        assert u.shape == (2, 100 + 26 * 4)  # reaches frame 101 + 100
        assert np.array_equal(u[:, :100], prompt[:, :100])
        assert u.min() >= 0 and u.max() < N_UNITS
    alone = interact_dialogues(a, b, prompts[1:2], seconds=4.0, chunk_ms=160, seeds=[1])
    assert np.array_equal(alone[0], units[1])
    with_itself = interact_dialogues(a, a, prompts, seconds=4.0, chunk_ms=160, seeds=[0, 1, 2])
    first_change = [np.flatnonzero(u[0] != v[0]) for u, v in zip(units, with_itself,
                                                                    strict=True)]
    assert all(len(f) for f in first_change)  # B's chunks reach A ...
    assert min(f[0] for f in first_change) >= 108  # ... from A's chunk 27 on (25, 26 as was)
    lead0 = interact_dialogues(a, b, prompts[:1], seconds=1.0, chunk_ms=160, lead=0)
    assert lead0[0].shape == (2, 100 + 7 * 4)  # reaches frame 101 + 25
    with pytest.raises(ValueError, match="lead=2"):
        interact_dialogues(a, b, prompts[:1], seconds=1.0, chunk_ms=160, lead=2)


@pytest.mark.parametrize(("chunk_ms", "chunks"), [(160, 563), (200, 450), (240, 375)])
def test_the_new_chunks_reach_the_end_of_the_asked_seconds(chunk_ms, chunks) -> None:
    """A 30 s prompt (750 frames) and 90 s: at 160 ms the model sees 748 frames (whole
    chunks) and needs 563 chunks to reach frame 3000; 562 (seconds // chunk) ended at 2996.
    200 and 240 ms divide both spans: the count of before."""
    fmt = SyncFormat(chunk_ms=chunk_ms, n_units=N_UNITS, silence_unit=0)
    assert chunks_to_cover(750, 90.0, fmt) == chunks
    F = fmt.frames_per_chunk
    assert 750 // F * F + chunks * F >= 3000 > 750 // F * F + (chunks - 1) * F


def test_a_half_frame_of_asked_seconds_is_covered() -> None:
    """0.5 s is 12.5 frames: round() made it 12, and 3 chunks of 160 ms (0.48 s) fell short
    of the 0.5 s asked; half up (duplexsim.timebase.frames_from_s) it is 13: 4 chunks."""
    fmt = SyncFormat(chunk_ms=160, n_units=N_UNITS, silence_unit=0)
    assert chunks_to_cover(748, 0.5, fmt) == 4
    assert chunks_to_cover(748, 0.48, fmt) == 3


def test_continue_refuses_a_tdm_agent_first_and_says_why(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``duplexsim continue`` generates SyncLLM chunks: a TDM agent folder was refused only
    after the corpus and prompt checks, as 'a tdm agent, not a syncllm agent (allowed: use
    it as a kind = "tdm" side)', a scenario's advice (review)."""
    from syncllm_fixtures import tiny_card

    from duplexsim.atomic import write_json
    from duplexsim.cli import main
    from duplexsim.models.vocab import TdmVocab
    from duplexsim.training.checkpoints import RunState
    from duplexsim.training.recipe import agent_info

    info = agent_info(tiny_card(), TdmVocab(N_UNITS, 300), RunState(), "")
    write_json(tmp_path / "tdm" / "agent.json", {**info, "kind": "tdm", "slice_ms": [640]})
    assert main(["continue", str(tmp_path / "tdm"), "--corpus", str(tmp_path / "no_corpus"),
                 "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"{tmp_path / 'tdm' / 'agent.json'}: kind: 'tdm': duplexsim continue "
                   "continues SyncLLM agents only (allowed: a SyncLLM agent folder)"], err
    assert not (tmp_path / "out").exists()
