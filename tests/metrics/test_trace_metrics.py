"""Estimation accuracy and latency metrics on hand-made trace tables with known answers."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from duplexsim.metrics.estimation import (
    accuracy_by_lookahead,
    estimation_summary,
    estimation_table,
)
from duplexsim.metrics.latency import (
    decision_metrics,
    network_metrics,
    response_metrics,
    trace_metrics,
)
from duplexsim.metrics.turntaking import detect_events

SIL = {0}


def decisions() -> pd.DataFrame:
    return pd.DataFrame({
        "agent": ["A", "A", "A", "B", "B"],
        "chunk": [1, 2, 3, 1, 2],
        "decided_ms": [0, 160, 320, 0, 160],
        "lookahead": [1, 1, 2, 0, 1],
        "estimated_units": [np.array([5, 5, 0, 0]), np.array([7, 7, 7, 7]),
                            [np.array([0, 0, 0, 0]), np.array([3, 3, 3, 3])], None,
                            np.array([1, 2, 3, 4])],
        "real_units": [np.array([5, 6, 0, 0]), np.array([0, 0, 0, 0]),
                       [np.array([0, 0, 0, 0]), np.array([3, 3, 9, 9])], None, None],
        "generated_tokens": [3, 3, 6, 2, 3],
        "compute_ms": [10.0, 12.0, 20.0, 5.0, 5.0],
        "deadline_miss": [False, False, True, False, False],
    })


def test_estimation_accuracy_per_decision_and_lookahead():
    table = estimation_table(decisions(), SIL)
    # B's decisions: nothing estimated / real never arrived -> left out
    assert table["agent"].tolist() == ["A", "A", "A"]
    assert table["unit_accuracy"].tolist() == [0.75, 0.0, 0.75]
    assert table["va_agreement"].tolist() == [1.0, 0.0, 1.0]  # 3 vs 9: both speech
    by_l = accuracy_by_lookahead(table).set_index("lookahead")
    assert by_l.loc[1, "unit_accuracy"] == pytest.approx(3 / 8)
    assert by_l.loc[2, "frames"] == 8 and by_l.loc[2, "decisions"] == 1
    s = estimation_summary(table)
    assert s["est_unit_accuracy"] == pytest.approx(9 / 16)
    assert s["est_va_agreement"] == pytest.approx(12 / 16)


def test_decision_and_network_metrics():
    d = decision_metrics(decisions())
    assert d["deadline_miss_rate"] == pytest.approx(0.2)
    assert d["lookahead_max"] == 2 and d["lookahead_mean"] == pytest.approx(1.0)
    net = pd.DataFrame({
        "direction": ["A->B"] * 6, "chunk": [0, 1, 1, 2, 3, 3],
        "sent_ms": [160.0, 320.0, 320.0, 480.0, 640.0, 640.0],
        "arrival_ms": [190.0, 380.0, 370.0, np.nan, np.nan, 700.0],
        "lost": [False, False, False, True, True, False],
        "duplicate": [False, False, True, False, False, True],
        "mouth_to_ear_ms": [250.0, np.nan, 300.0, np.nan, np.nan, 330.0],
    })
    n = network_metrics(net, chunk_ms=160)
    # transit per chunk from its earliest copy (chunk 1's duplicate overtook the original)
    assert n["transit_mean_ms"] == pytest.approx((190 + 210 + 220) / 3)
    # mouth-to-ear as the trace has it: when the receiver was handed the chunk
    assert n["mouth_to_ear_mean_ms"] == pytest.approx((250 + 300 + 330) / 3)
    # chunk 3's first copy was lost, its duplicate arrived: one chunk of four lost
    assert n["loss_rate"] == pytest.approx(1 / 4)


def test_response_latency_and_takeovers():
    f = 10  # ms frames
    vad = np.zeros((2, 900), dtype=bool)
    vad[0, 0:150] = True      # A talks 0-1.5 s
    vad[1, 180:330] = True    # B answers after 300 ms
    vad[0, 300:450] = True    # A takes over in overlap (FTO -300 into A)
    vad[1, 380:430] = True    # B cuts in 500 ms after its turn (not isolated: no backchannel)
    vad[1, 500:700] = True    # B answers after 500 ms
    ev = detect_events(vad, f)
    r = response_metrics(ev)
    assert r["response_latency_ms_b"] == pytest.approx((300 + 500) / 2)
    assert r["response_latency_ms_a"] == pytest.approx(-300)
    # two overlaps started outside backchannels; A's won the floor, B's did not
    assert r["takeover_rate"] == pytest.approx(0.5)


def test_trace_metrics_row_from_trace_tables():
    units = np.zeros((2, 250), dtype=np.int64)
    units[0, 0:50] = 7
    units[1, 55:120] = 9
    trace = SimpleNamespace(units=units, decisions=decisions(), network=None)
    row = trace_metrics(trace, chunk_ms=160)
    assert row["duration_s"] == pytest.approx(10.0)
    assert row["fto_median_ms"] == pytest.approx(200)
    assert row["est_unit_accuracy"] == pytest.approx(9 / 16)
    assert np.isnan(row["loss_rate"])
    assert all(isinstance(v, float) for v in row.values())


@pytest.mark.parametrize("trace", ["runs/sim/replay-lan", None])
def test_trace_metrics_of_what_is_no_trace_is_one_line(trace):
    """A trace folder's path (or None) failed as ``'str' object has no attribute 'units'``."""
    with pytest.raises(TypeError, match=r"^trace: got (str|NoneType) \(allowed: a "
                                        r"duplexsim.sim.Trace, from duplexsim.sim.run\(scenario"
                                        r"\), or an object with its units, decisions and "
                                        r"network\)$"):
        trace_metrics(trace, chunk_ms=160)


def test_backchannel_overlap_is_not_a_takeover_attempt():
    vad = np.zeros((2, 500), dtype=bool)
    vad[0, 0:400] = True
    vad[1, 150:190] = True  # a 400 ms backchannel inside A's turn
    r = response_metrics(detect_events(vad, 10))
    assert np.isnan(r["takeover_rate"])


def test_trace_metrics_list_columns_for_reports():
    units = np.zeros((2, 250), dtype=np.int64)
    units[0, 0:50] = 7
    units[1, 55:120] = 9
    units[0, 110:200] = 7
    trace = SimpleNamespace(units=units, decisions=decisions(), network=None)
    row = trace_metrics(trace, chunk_ms=160, lists=True)
    assert row["fto_values_ms"] == [200.0, -400.0]
    assert row["est_lookahead"] == [1, 2]
    assert row["est_unit_accuracy_by_lookahead"] == pytest.approx([3 / 8, 0.75])
    assert row["est_frames_by_lookahead"] == [8.0, 8.0]


def test_double_talk_without_an_outcome_is_no_takeover_attempt():
    """Overlaps that run into the end of the conversation (or come before anyone held the
    floor) cannot win or lose it: they used to count as failed takeovers."""
    vad = np.zeros((2, 900), dtype=bool)
    vad[:, 0:40] = True       # both open at once: no floor yet
    vad[0, 40:300] = True     # A holds the floor
    vad[1, 250:500] = True    # B takes over in overlap: won
    vad[0, 700:900] = True    # A answers ...
    vad[1, 850:900] = True    # ... and B cuts in as the recording ends: no outcome
    ev = detect_events(vad, 10)
    assert (ev["kind"] == "overlap").sum() == 3
    assert response_metrics(ev)["takeover_rate"] == pytest.approx(1.0)
    vad[1, 850:900] = False
    vad[1, 740:880] = True    # cut in (no backchannel: 1.4 s) and stopped while A went on
    ev = detect_events(vad, 10)
    assert "backchannel" not in set(ev["kind"])
    assert response_metrics(ev)["takeover_rate"] == pytest.approx(0.5)  # a lost attempt


def test_overlap_split_by_mutual_silence_is_one_takeover_attempt():
    """A, both, silence (300 ms: no bridged pause), both, B is one stretch between two sole
    runs: one takeover, won. Its two overlap rows counted as two won attempts, so beside a
    lost attempt the rate was 2/3, not 1/2."""
    vad = np.zeros((2, 900), dtype=bool)
    vad[0, 0:150] = True      # A holds the floor
    vad[1, 100:150] = True    # B comes in over A ...
    vad[:, 180:220] = True    # ... both stop for 300 ms and start again at once ...
    vad[1, 220:400] = True    # ... and B goes on alone: the floor changed once
    vad[0, 450:800] = True    # A answers
    vad[1, 600:750] = True    # B cuts in (1.5 s: no backchannel) and stops while A goes on
    ev = detect_events(vad, 10)
    assert ((ev["kind"] == "overlap") & ev["transition"]).sum() == 2
    assert "backchannel" not in set(ev["kind"])
    assert response_metrics(ev)["takeover_rate"] == pytest.approx(0.5)


def test_network_p95_is_the_95th_percentile():
    """21 chunks with transit 160, 170, ..., 360 ms (and mouth-to-ear 10 ms more): the p95
    columns are their 95th percentile (350 and 360; the 90th would be 340 and 350), the
    means 260 and 270."""
    k = np.arange(21)
    net = pd.DataFrame({
        "direction": ["A->B"] * 21, "chunk": k, "sent_ms": 160.0 * (k + 1),
        "arrival_ms": 160.0 * (k + 1) + 10.0 * k, "lost": [False] * 21,
        "duplicate": [False] * 21, "mouth_to_ear_ms": 170.0 + 10.0 * k,
    })
    n = network_metrics(net, chunk_ms=160)
    assert n["transit_p95_ms"] == pytest.approx(350.0)
    assert n["mouth_to_ear_p95_ms"] == pytest.approx(360.0)
    assert n["transit_mean_ms"] == pytest.approx(260.0)
    assert n["mouth_to_ear_mean_ms"] == pytest.approx(270.0)
