"""The audible hand-over (``SynthConfig.yield_cue``): with it, every IPU after which the
speaker hands over ends in a question tag, every IPU after which it goes on with a comma;
the timeline (what is said when) is the same with or without it. Real espeak-ng."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from duplexsim.corpora.config import PRESETS
from duplexsim.corpora.synth import YIELD_TAGS, generate, simulate_timeline


def _floor(segments):
    return [s for s in segments if s.kind == "ipu"]


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_every_hand_over_is_cued_and_only_those(preset: str) -> None:
    cfg = replace(PRESETS[preset], conversation_s=45.0, sample_rate_hz=8000, yield_cue=True)
    _, segments, _ = generate(cfg, np.random.SeedSequence(3, spawn_key=(1,)))
    floor = _floor(segments)
    pairs = list(zip(floor, floor[1:], strict=False))  # the last IPU's sequel is unknown
    handovers = [a for a, b in pairs if a.speaker != b.speaker]
    holds = [a for a, b in pairs if a.speaker == b.speaker]
    assert len(handovers) >= 3 and len(holds) >= 3
    for seg in handovers:
        assert seg.text.endswith("?") and any(seg.text.endswith(f" {t}?") for t in YIELD_TAGS), seg
    for seg in holds:
        assert seg.text.endswith(",") and "?" not in seg.text, seg


def test_without_the_cue_no_ipu_is_marked() -> None:
    cfg = replace(PRESETS["fisher-like"], conversation_s=30.0)
    _, segments, _ = generate(cfg, np.random.SeedSequence(3, spawn_key=(1,)))
    assert not any(s.text.endswith(("?", ",")) for s in _floor(segments))


def test_the_cue_does_not_change_the_timeline() -> None:
    cfg = replace(PRESETS["candor-like"], conversation_s=300.0)
    for i in range(3):
        seed = np.random.SeedSequence(5, spawn_key=(i,))
        assert simulate_timeline(cfg, seed) == simulate_timeline(replace(cfg, yield_cue=True), seed)
