"""`duplexsim validate` of agent cards that would train nonsense: refused with the key
and what is allowed."""

from __future__ import annotations

from pathlib import Path

import pytest

from duplexsim.config.cli import validate_file


@pytest.mark.parametrize(("text", "expected"), [
    # trained on rows longer than the model's context (or its position table)
    ('[model]\nsize = "tiny"\n[stage3]\nseq_len = 512\nbatch_tokens = 1024\n',
     "stage3.seq_len: 512 > the model's context_tokens = 256"),
    # an enabled stage that trains no step: an untrained agent written as trained
    ('[model]\nsize = "tiny"\n[stage3]\nsteps = 0\nwarmup_steps = 0\nseq_len = 64\n'
     'batch_tokens = 256\n', "stage3.steps: 0 (and tokens = 0): an enabled stage"),
    # a TDM slice the context cannot hold: trained, then refused at load
    ('[agent]\nkind = "tdm"\n[model]\nsize = "tiny"\n[tdm]\nslice_ms = [12000]\n'
     '[stage3]\nseq_len = 64\nbatch_tokens = 256\n',
     "model.context_tokens: 256 is too short for slice_ms = 12000 (300 units a slice"),
    # a slice no chunk size of the card divides: trained, then refused at load
    ('[agent]\nkind = "tdm"\n[model]\nsize = "tiny"\n[train]\nchunk_ms = [160, 200]\n'
     '[tdm]\nslice_ms = [1240]\n[stage3]\nseq_len = 64\nbatch_tokens = 256\n',
     "tdm.slice_ms: 1240 is not a whole number of chunks of any train.chunk_ms [160, 200]"),
    # yields taught before the barge-in was heard (100 ms floored to 80, 20 to 0)
    ('[agent]\nkind = "tdm"\n[model]\nsize = "tiny"\n[tdm]\nmin_heard_ms = 100\n'
     '[stage3]\nseq_len = 64\nbatch_tokens = 256\n', "tdm.min_heard_ms: 100 is out of range"),
    ('[agent]\nkind = "tdm"\n[model]\nsize = "tiny"\n[tdm]\nyield_ms = [0, 30]\n'
     '[stage3]\nseq_len = 64\nbatch_tokens = 256\n',
     "tdm.yield_ms: [0, 30]: not whole 40 ms frames"),
    # stage-2 gaps are laid out in whole frames: [250, 270] was always 200 ms, below it
    ('[model]\nsize = "tiny"\n[train]\nstage2_gap_ms = [250, 270]\n[stage3]\nseq_len = 64\n'
     'batch_tokens = 256\n', "train.stage2_gap_ms: [250, 270]: not whole 40 ms frames"),
])
def test_cards_that_would_train_nonsense_are_refused(tmp_path: Path, text: str,
                                                     expected: str) -> None:
    (tmp_path / "card.toml").write_text(text)
    problems = [f"{p.key}: {p.message}" for p in validate_file(tmp_path / "card.toml")]
    assert any(line.startswith(expected) for line in problems), problems


@pytest.mark.parametrize(("text", "expected"), [
    ('[agent]\nname = "c"\n[train]\nchunk_ms = [160, 200, 160]\n',
     "train.chunk_ms: [160, 200, 160] lists a size twice (drawn twice as often) "
     "(allowed: distinct chunk sizes)"),
    ('[agent]\nkind = "tdm"\n[tdm]\nslice_ms = [1200, 1200]\n',
     "tdm.slice_ms: [1200, 1200] lists a slice twice (drawn twice as often) "
     "(allowed: distinct slice lengths)"),
])
def test_a_chunk_size_or_slice_listed_twice_is_refused(tmp_path: Path, text: str,
                                                       expected: str) -> None:
    """Each training window draws one of the card's chunk sizes (TDM: slices) with equal
    odds: one listed twice was silently drawn twice as often, and agent.json listed it
    twice."""
    (tmp_path / "card.toml").write_text(text)
    assert [f"{p.key}: {p.message} (allowed: {p.allowed})"
            for p in validate_file(tmp_path / "card.toml")] == [expected]
