"""The overlapped speaker drops out (``SynthConfig.overlap_dropout_ms``): an overlapping
hand-over ends a reaction time after the incoming speaker starts, not at the outgoing
speaker's planned IPU end; its speech is cut there (real espeak-ng) and its words marked as
broken off. Off, the presets are unchanged (tests/corpora/test_synth_turntaking.py)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from duplexsim.corpora.config import PRESETS, SynthConfig
from duplexsim.corpora.synth import generate, simulate_timeline

# listeners often start deep inside the holder's IPU (FTO sd 900 ms), so that many
# hand-overs are cut: the experiment corpus of docs/results/selfplay/diagnosis.md finding 16
DEEP = {"fto_sd_ms": 900.0}


def _overlaps(cfg: SynthConfig, n: int) -> np.ndarray:
    """How long the incoming speaker overlaps the outgoing one, per overlapping hand-over."""
    out = []
    for i in range(n):
        floor = [s for s in simulate_timeline(cfg, np.random.SeedSequence(7, spawn_key=(i,)))
                 if s.kind == "ipu"]
        out += [a.end_s - b.start_s for a, b in zip(floor, floor[1:], strict=False)
                if a.speaker != b.speaker and b.start_s < a.end_s]
    return np.array(out)


def test_overlaps_end_a_reaction_time_after_the_incoming_start() -> None:
    base = replace(PRESETS["fisher-like"], conversation_s=120.0, **DEEP)
    kept = _overlaps(base, 60)
    dropped = _overlaps(replace(base, overlap_dropout_ms=250.0), 60)
    assert len(kept) > 300 and len(dropped) > 300
    print(np.percentile(kept, [50, 90, 99]), np.percentile(dropped, [50, 90, 99]))
    # finishing the planned IPU, a fifth of the overlaps last over 1 s; dropping out after a
    # reaction time (lognormal, median 250 ms, sigma 0.3: 99th percentile 0.50 s) plus at
    # most the 50 ms not worth cutting, almost none do
    assert np.mean(kept > 1.0) > 0.15
    assert np.mean(dropped > 1.0) < 0.005
    assert 0.18 <= np.median(dropped) <= 0.32
    assert np.percentile(dropped, 99) < 0.7


def test_cut_speech_stops_where_its_segment_ends() -> None:
    cfg = replace(PRESETS["fisher-like"], conversation_s=60.0, overlap_dropout_ms=250.0, **DEEP)
    cut = []
    for i in range(3):
        audio, segments, _ = generate(cfg, np.random.SeedSequence(3, spawn_key=(i,)))
        sr = cfg.sample_rate_hz
        for seg in segments:
            if seg.kind != "ipu" or not seg.text.endswith("-"):
                continue
            cut.append(seg)
            assert seg.text[:-1].split(), seg  # at least one word kept
            nxt = min((s.start_s for s in segments
                       if s.speaker == seg.speaker and s.start_s > seg.start_s), default=1e9)
            if nxt - seg.end_s < 0.2:
                continue
            during = audio[seg.speaker, int((seg.end_s - 0.3) * sr):int((seg.end_s - 0.05) * sr)]
            after = audio[seg.speaker, int((seg.end_s + 0.005) * sr):int((seg.end_s + 0.15) * sr)]
            rms = [float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) for x in (during, after)]
            # speech (-20 dBFS +- 3 dB over an IPU, gaps between words included: > -40 dB
            # over 250 ms), then the noise floor (-60 dB)
            assert rms[0] > 10 ** (-40 / 20) and rms[1] < 10 ** (-50 / 20), (seg, rms)
    assert len(cut) >= 5


def test_without_dropout_no_ipu_is_cut() -> None:
    cfg = replace(PRESETS["fisher-like"], conversation_s=30.0, **DEEP)
    _, segments, _ = generate(cfg, np.random.SeedSequence(3, spawn_key=(0,)))
    assert not any(s.text.endswith("-") for s in segments)


@pytest.mark.parametrize("value", [-1.0, float("nan"), 1e6])
def test_a_bad_reaction_time_is_refused(value: float) -> None:
    with pytest.raises(ValueError, match="overlap_dropout_ms"):
        SynthConfig(overlap_dropout_ms=value)


def test_only_an_overlapped_ipu_is_cut_also_at_the_end() -> None:
    """An IPU was cut for the incoming speaker before that speaker's IPU was known to fit:
    where it did not (the conversation's end), the last IPU stopped mid-word ("-") with no
    one overlapping it (about 1 in 9 conversations of 60 s). Every cut IPU now has the
    partner's IPU starting inside it; the timelines are otherwise the same draw for draw."""
    from duplexsim.corpora import synth, turn_process

    cfg = replace(PRESETS["fisher-like"], conversation_s=60.0, overlap_dropout_ms=250.0)
    centres = synth.population_centres(cfg)
    n_cut = 0
    for i in range(60):
        ss = np.random.SeedSequence(11, spawn_key=(i,))
        proc_ss, dur_ss, _, _ = turn_process.conversation_streams(ss)
        dur_rng = np.random.default_rng(dur_ss)

        def utter(speaker: int, kind: str, target_s: float, rng=dur_rng) -> tuple:
            if kind == "backchannel":
                return "yeah", float(rng.uniform(0.25, 0.6)), None
            return "one two three four five six", float(np.clip(target_s, 0.25, 12.0)), None

        placed = turn_process.turn_taking(cfg, np.random.default_rng(proc_ss), utter,
                                          turn_process.tempo_drift(cfg, ss, centres))
        floor = [seg for seg, _ in placed if seg.kind == "ipu"]
        plain = [s for s in simulate_timeline(cfg, ss) if s.kind == "ipu"]
        assert [s.start_s for s in floor] == [s.start_s for s in plain]  # the same draws
        for seg in floor:
            if seg.text.endswith("-"):
                n_cut += 1
                assert any(o.speaker != seg.speaker and seg.start_s < o.start_s < seg.end_s
                           for o in floor), seg
    assert n_cut > 30
