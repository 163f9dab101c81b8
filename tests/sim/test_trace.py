"""The trace a simulation leaves: what it counts as silence."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from sim_scenarios import scripted

from duplexsim.audio.io import headroom
from duplexsim.config.scenario import SideConfig
from duplexsim.metrics.activity import vad_from_units
from duplexsim.sim import run
from duplexsim.timebase import ms_from_s
from duplexsim.tokens import FRAME_MS
from duplexsim.units import KMeansTokenizer, TokenizerConfig, load_tokenizer


def test_every_silence_unit_of_an_agent_is_silence_in_the_trace_and_to_a_scripted_partner(
    tiny_agent_dir: Path, tmp_path: Path
) -> None:
    """An agent whose tokenizer has two silence units (agent.json ``silence_units``): the
    scripted partner speaks none of them and the trace counts both as silence. Before, the
    set stopped at the single ``silence_unit``: the scripted side spoke unit 1 (32 of its
    250 speech frames here) and the trace's ``silence_units`` was {0}."""
    agent = tmp_path / "agent"
    agent.mkdir()
    (agent / "model").symlink_to(tiny_agent_dir / "model")
    info = json.loads((tiny_agent_dir / "agent.json").read_text())
    (agent / "agent.json").write_text(json.dumps({**info, "silence_units": [0, 1]}))
    side = SideConfig(kind="syncllm", agent=str(agent), temperature=0.0)
    trace = run(dataclasses.replace(scripted(200, 20.0, delay_ms=0.0), a=side))
    assert trace.silence_units == frozenset({0, 1})
    partner = trace.units[1]
    assert (partner != 0).sum() > 100 and not (partner == 1).any()
    assert (
        vad_from_units(trace.units, trace.silence_units)
        == ~((trace.units == 0) | (trace.units == 1))
    ).all()


def test_summary_estimation_accuracy_is_the_metrics_one() -> None:
    """summary.json's estimation_unit_accuracy is scored as duplexsim.metrics.estimation
    scores it: each decision's estimate against the real frames, the shorter of the two.
    It compared the whole run's estimates with the whole run's real frames concatenated, so
    one decision with fewer real frames than estimated (none in a simulated trace today:
    every estimate is of a partner chunk played in full) failed on the lengths or shifted
    every later comparison."""
    from duplexsim.metrics.estimation import estimation_summary, estimation_table

    trace = run(scripted(200, 2.0, delay_ms=0.0))
    dec = trace.decisions.copy()
    first, second = dec.index[dec["agent"] == "a"][:2]
    dec.at[first, "estimated_units"], dec.at[first, "real_units"] = [1, 2, 3, 4, 5], [1, 2, 3, 9, 5]
    dec.at[second, "estimated_units"], dec.at[second, "real_units"] = [7] * 5, [7, 7]
    trace = dataclasses.replace(trace, decisions=dec)
    agent = trace.summary()["agents"]["a"]
    assert agent["estimated_frames"] == 10
    assert agent["estimation_unit_accuracy"] == estimation_summary(
        estimation_table(dec[dec["agent"] == "a"], trace.silence_units))["est_unit_accuracy"]
    assert agent["estimation_unit_accuracy"] == 6 / 7
    assert trace.summary()["agents"]["b"]["estimation_unit_accuracy"] is None  # none estimated


def test_a_duration_on_a_half_ms_counts_its_chunks_and_frames_from_the_ms_rounded_up() -> None:
    """duration_s = 1.2805 is 1280.5 ms, 1281 by the simulator's rule (round() made it 1280):
    a ninth, partial chunk of 160 ms is played and decided, and the timeline has the 32
    whole frames of those 1281 ms (:func:`~duplexsim.sim.clock.ms_from_s`)."""
    trace = run(scripted(160, 1.2805))
    scenario = trace.scenario
    assert scenario.duration_ms == ms_from_s(1.2805) == 1281
    assert scenario.n_chunks == 9 and -(-round(1.2805 * 1000) // 160) == 8
    for _agent, d in trace.decisions.groupby("agent"):
        assert d["chunk"].tolist() == list(range(9))
    assert trace.units.shape == (2, 1281 // FRAME_MS)


def test_a_copy_in_flight_at_the_end_has_its_due_time_and_no_arrival() -> None:
    """One hop of 350 ms, 200 ms chunks over 2 s: partner chunks 8 and 9 (sent at 1800 and
    2000 ms) are due at 2150 and 2350, after the end (2001): in flight, so no arrival_ms
    (NaN) and no transit, but their due_ms and delay_ms are known; a copy that arrived has
    arrival_ms == due_ms."""
    trace = run(scripted(200, 2.0, delay_ms=350.0))
    end = trace.extra["end_ms"]
    for _direction, g in trace.network.groupby("direction"):
        g = g.set_index("chunk")
        flying = g[g["status"] == "in-flight"]
        assert flying.index.tolist() == [8, 9]
        assert flying["arrival_ms"].isna().all() and flying["transit_ms"].isna().all()
        assert (flying["due_ms"] == flying["sent_ms"] + 350).all()
        assert (flying["due_ms"] > end).all() and (flying["delay_ms"] == 350).all()
        arrived = g.drop(index=[8, 9])
        assert (arrived["arrival_ms"] == arrived["due_ms"]).all() and len(arrived) == 8


@pytest.mark.parametrize("level", [0.01, 50.0])
def test_audio_is_each_channel_decoded_and_scaled_into_full_scale(
    level: float, tmp_path: Path
) -> None:
    """Trace.audio scales its stack of the two channels in place (the waves, their stack
    and a scaled copy were alive at once): the bytes are still
    ``headroom(stack(decode(a), decode(b)))``, quiet (unscaled) and loud (scaled to 1)."""
    trace = run(scripted(200, 2.0))
    n_units = max(2, int(trace.units.max()) + 1)
    spectra = np.random.default_rng(0).random((n_units, 513), dtype=np.float32) * level
    KMeansTokenizer(TokenizerConfig(n_units=n_units), np.zeros((n_units, 64)), spectra,
                    -40.0).save(tmp_path / "tok")
    wave, sr = dataclasses.replace(trace, tokenizer_dir=tmp_path / "tok").audio()
    tok = load_tokenizer(tmp_path / "tok")
    want = headroom(np.stack([tok.decode(u) for u in trace.units]))
    assert sr == 16000 and wave.dtype == np.float32 and wave.shape == (2, 50 * 640)
    assert wave.tobytes() == want.tobytes()
    assert (float(np.abs(wave).max()) == pytest.approx(1.0)) == (level > 1)
