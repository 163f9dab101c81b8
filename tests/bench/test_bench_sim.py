"""``python -m duplexsim.bench.bench_sim``: a ratio between two ways that should play the same
conversations says whether they did."""

from __future__ import annotations

import dataclasses

from duplexsim.bench.bench_sim import _ratios, _scenario
from duplexsim.sim import run


def test_a_ratio_says_whether_both_ways_played_the_same_conversations(capsys) -> None:
    """'lean vs HF forward' and 'batched vs one by one' printed a speed-up without looking at
    what either played; a candidate that changed the conversation read as plain speed."""
    first, other = (dataclasses.replace(_scenario(200, 2.0), seed=s) for s in (0, 1))
    assert (run(first).units != run(other).units).any()  # scripted sides: the seed tells
    ratios, runs = _ratios("same", lambda: run(first), lambda: [run(first)], 2, 2.0, "-",
                           same=True)
    assert len(ratios) == 2 and len(runs) == 2
    assert capsys.readouterr().out.rstrip().endswith("same conversations: yes")
    _ratios("other", lambda: run(first), lambda: run(other), 2, 2.0, "-", same=True)
    assert capsys.readouterr().out.splitlines()[0].endswith("same conversations: NO")

