"""The paper's prompt -> continuation protocol on hand-made timelines with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from duplexsim.metrics.protocol import (
    common_prompts,
    correlations,
    mean_durations,
    split_prompt,
    window_frames,
)


def turns(n_frames: int, ipu: int, gap: int) -> np.ndarray:
    """Alternating turns of ``ipu`` frames separated by ``gap`` frames of silence (40 ms)."""
    vad = np.zeros((2, n_frames), dtype=bool)
    t, s = 0, 0
    while t + ipu <= n_frames:  # whole IPUs only, so every mean is exact
        vad[s, t : t + ipu] = True
        t += ipu + gap
        s = 1 - s
    return vad


def test_split_prompt_cuts_30_and_90_seconds():
    units = np.arange(2 * 3100).reshape(2, 3100)
    prompt, cont = split_prompt(units)
    assert prompt.shape == (2, 750) and cont.shape == (2, 2250)
    assert cont[0, 0] == units[0, 750]
    with pytest.raises(ValueError, match="shorter than prompt"):
        split_prompt(units[:, :2000])


def test_mean_durations_of_regular_turns():
    means = mean_durations(turns(500, ipu=50, gap=8))  # 2 s IPUs, 320 ms gaps
    assert means["ipu"] == pytest.approx(2000)
    assert means["gap"] == pytest.approx(320) and means["fto"] == pytest.approx(320)
    assert np.isnan(means["pause"]) and np.isnan(means["overlap"])
    # a switch on the same frame is a transition (FTO 0) with no gap: the gap mean was 274
    vad = turns(500, ipu=50, gap=8)
    vad[1, 50:58] = True  # B's first IPU starts as A's first ends
    means = mean_durations(vad)
    assert means["gap"] == pytest.approx(320) and means["fto"] < 320
    # overlap: transition overlaps only (A's 400 ms backchannel in B's turn was pooled: 280)
    vad = turns(500, ipu=50, gap=8)
    vad[1, 46:58] = True  # B takes the turn in 160 ms of overlap with A's first IPU
    vad[0, 75:85] = True  # 400 ms inside B's turn, 1 s after A's first IPU: a backchannel
    assert mean_durations(vad)["overlap"] == pytest.approx(160)


def test_window_lengths_must_be_positive_numbers():
    """A negative prompt_s cut the 'prompt' from the stream's end (stream[..., :-25]) and
    frame_ms = 0 was a bare ZeroDivisionError."""
    units = np.arange(2 * 3100).reshape(2, 3100)
    for kwargs, name in (({"prompt_s": -1.0}, "prompt_s"),
                         ({"continuation_s": 0}, "continuation_s"),
                         ({"frame_ms": 0}, "frame_ms"), ({"prompt_s": float("nan")}, "prompt_s")):
        with pytest.raises(ValueError, match=f"{name} must be a finite number > 0"):
            split_prompt(units, **kwargs)
    assert window_frames(np.float64(30.0), np.int64(90), 40) == (750, 2250)


@pytest.mark.parametrize(("kwargs", "name"), [({"prompt_s": True}, "prompt_s"),
                                              ({"frame_ms": True}, "frame_ms"),
                                              ({"continuation_s": 10**400}, "continuation_s"),
                                              ({"prompt_s": "30"}, "prompt_s")])
def test_a_window_that_is_no_finite_number_is_a_one_line_error(kwargs, name) -> None:
    """prompt_s=True was a 1 s prompt (a bool is no length), and 10**400 s an
    OverflowError traceback from math.isfinite: one line naming the argument."""
    with pytest.raises(ValueError, match=f"^{name} must be a finite number > 0, got "):
        window_frames(**kwargs)


def test_window_frames_round_a_half_frame_up() -> None:
    """30.02 s is 750.5 frames of 40 ms: 751 (round() took it to 750, and 30.06 s to 752),
    by the project's one rule (duplexsim.timebase.frames_from_s)."""
    assert window_frames(30.02, 30.06, 40) == (751, 752)
    assert window_frames(0.1, 4.62, 40) == (3, 116)  # 2.5 and 4.62 * 25 = 115.49999999999999


def test_a_window_shorter_than_half_a_frame_is_an_error() -> None:
    """0.01 s is a quarter of a 40 ms frame: the window was 0 frames, the prompt or the
    continuation empty, every mean NaN and every r NaN, with no word (a whole study's report
    of NaN for ``--continuation-s 0.01``)."""
    units = np.arange(2 * 3100).reshape(2, 3100)
    for kwargs, name in (({"prompt_s": 0.01}, "prompt_s"),
                         ({"continuation_s": 0.019}, "continuation_s")):
        with pytest.raises(ValueError, match=f"{name}=0.01.* is 0 frames of 40 ms "
                                             r"\(allowed: >= 0.02 s"):
            split_prompt(units, **kwargs)
    assert window_frames(0.02, 0.02, 40) == (1, 1)  # half a frame: one, half up


def test_common_prompts_pair_the_sources_on_every_event():
    """An event that one of the sources (any of its seeds) lacks on a prompt is dropped for
    all of them there: their r are over the same prompts; other sources are untouched."""
    rows = []
    for i in range(6):
        rows.append({"prompt": f"p{i}", "source": "ground_truth", "seed": -1,
                     "ipu": i, "pause": i, "fto": i})
        rows.append({"prompt": f"p{i}", "source": "prompt", "seed": -1, "ipu": i,
                     "pause": i, "fto": np.nan if i == 0 else i})
        for seed in (0, 1):
            rows.append({"prompt": f"p{i}", "source": "agent", "seed": seed, "ipu": i,
                         "pause": np.nan if (i, seed) == (1, 1) else i, "fto": i})
        rows.append({"prompt": f"p{i}", "source": "other", "seed": -1, "ipu": i,
                     "pause": i, "fto": np.nan if i == 2 else i})
    table = pd.DataFrame(rows)
    before = correlations(table).set_index("source")
    assert before.loc["prompt", "n_fto"] == 5 and before.loc["agent", "n_fto"] == 6
    paired = common_prompts(table, ["prompt", "agent"])
    r = correlations(paired).set_index("source")
    assert r.loc["prompt", "n_fto"] == r.loc["agent", "n_fto"] == 5
    assert r.loc["prompt", "n_pause"] == r.loc["agent", "n_pause"] == 5  # seed 1 lacks p1
    assert r.loc["other", "n_fto"] == 5 and r.loc["other", "n_pause"] == 6
    assert paired[paired.source.isin(["ground_truth", "other"])].equals(
        table[table.source.isin(["ground_truth", "other"])])
