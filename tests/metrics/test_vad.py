"""Audio VAD (silero-vad with bundled weights, energy fallback) against a known timeline."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
import soundfile as sf

from duplexsim.corpora.types import Dialogue, Segment
from duplexsim.metrics.vad import (
    audio_vad,
    energy_vad,
    silero_available,
    stamps_to_frames,
    vad_agreement,
)

SR = 16000


@pytest.fixture(scope="module")
def speech(tmp_path_factory) -> np.ndarray:
    """Real synthetic speech (espeak-ng), trimmed to its voiced span."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng not installed")
    wav = tmp_path_factory.mktemp("vad") / "s.wav"
    subprocess.run(["espeak-ng", "-w", str(wav), "-s", "170",
                    "well I think we should probably go there tomorrow morning"], check=True)
    wave, sr = sf.read(wav, dtype="float32")
    from scipy.signal import resample_poly

    wave = resample_poly(wave, SR, sr).astype(np.float32)
    loud = np.flatnonzero(np.abs(wave) > 0.02)
    return wave[loud[0] : loud[-1]]


def place(speech: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Channel with 1 s silence, speech, 1.5 s silence; and its true 40 ms frame VAD, the
    speech's edges rounded to the nearest frame as the project rounds annotated segments
    (``Dialogue.segment_vad``; the end was floored: the test's speech ends at frame 94.78,
    so frame 94 was truth's silence)."""
    pad_a, pad_b = np.zeros(SR, np.float32), np.zeros(int(1.5 * SR), np.float32)
    rng = np.random.default_rng(0)
    wave = np.concatenate([pad_a, speech, pad_b])
    wave = wave + rng.normal(0, 1e-4, len(wave)).astype(np.float32)  # faint room noise
    spoken = Dialogue("place", [Segment(0, 1.0, (SR + len(speech)) / SR)])
    return wave, spoken.segment_vad(len(wave) * 25 // SR)[0]


def test_vad_agreement_known_values():
    ref = np.array([1, 1, 0, 0, 1, 0, 0, 0], bool)
    oth = np.array([1, 0, 0, 0, 1, 1, 0, 0], bool)
    agree = vad_agreement(ref, oth)
    assert agree["accuracy"] == pytest.approx(6 / 8)
    assert agree["precision"] == pytest.approx(2 / 3) and agree["recall"] == pytest.approx(2 / 3)
    assert agree["kappa"] == pytest.approx((0.75 - (3 / 8 * 3 / 8 + 5 / 8 * 5 / 8))
                                           / (1 - (3 / 8 * 3 / 8 + 5 / 8 * 5 / 8)))
    assert vad_agreement(ref, ref)["kappa"] == pytest.approx(1.0)


def test_energy_vad_finds_the_spoken_span(speech):
    wave, truth = place(speech)
    active = energy_vad(wave, SR)
    assert active.shape == truth.shape
    assert not active[:20].any() and not active[-30:].any()
    assert vad_agreement(truth, active)["kappa"] > 0.6


def test_energy_vad_keeps_a_channel_of_faint_noise_silent(speech):
    # a side that never speaks: its noise floor (vocoded silence is about -61 dBFS) is not
    # speech just because it is that channel's loudest frame
    rng = np.random.default_rng(1)
    wave, truth = place(speech)
    noise = rng.normal(0, 10 ** (-60 / 20), len(wave)).astype(np.float32)
    assert not energy_vad(noise, SR).any()
    both = audio_vad(np.stack([wave, noise]), SR, method="energy")
    assert not both.active[1].any()
    assert vad_agreement(truth, both.active[0])["kappa"] > 0.6


def test_speech_stamps_map_to_the_nearest_frame_edges():
    """silero's stamps (samples) onto 40 ms frames: edges rounded to the nearest frame, as
    Dialogue.segment_vad does. The start was floored and the end ceiled, so 32-64 ms of
    speech (frames 0.8-1.6) lit frames 0 and 1 (80 ms), every stamp leaning towards speech
    by about a frame; a stamp 20-36 ms (no frame's better half) lights none."""
    sr = 16000  # 640 samples a frame
    stamps = [{"start": 512, "end": 1024}, {"start": 3 * 640 + 100, "end": 6 * 640 + 319},
              {"start": 9 * 640 + 320, "end": 12 * 640 + 320}]
    active = stamps_to_frames(stamps, sr, 40, 14)
    assert np.flatnonzero(active).tolist() == [1, 3, 4, 5, 10, 11, 12]
    assert not stamps_to_frames([{"start": 320, "end": 576}], sr, 40, 4).any()
    # a stamp past the last whole frame is clipped to the channel
    assert stamps_to_frames([{"start": 0, "end": 10 * 640}], sr, 40, 3).all()


@pytest.mark.skipif(not silero_available(), reason="silero-vad not installed")
def test_silero_vad_agrees_with_the_true_timeline_and_handles_8khz(speech):
    wave, truth = place(speech)
    result = audio_vad(np.stack([wave, np.zeros_like(wave)]), SR, method="silero")
    assert result.method == "silero" and result.active.shape == (2, len(truth))
    assert not result.active[1].any()  # a silent channel stays silent
    assert vad_agreement(truth, result.active[0])["kappa"] > 0.6
    narrow = audio_vad(wave[::2], SR // 2, method="silero")  # telephone band (Fisher)
    assert vad_agreement(truth, narrow.active[0])["kappa"] > 0.6
    with pytest.raises(ValueError, match="allowed"):
        audio_vad(wave, SR, method="webrtc")


def test_integer_pcm_is_scaled_as_soundfile_reads_it(speech):
    """int16 samples were cast to float unscaled (speech at +-10000 where silero expects
    +-1): the same audio as int16 and as float gives the same voice activity now."""
    wave, _ = place(speech)
    pcm = np.round(np.clip(wave, -1, 1 - 2**-15) * 32768).astype(np.int16)
    for method in ("energy", "silero") if silero_available() else ("energy",):
        as_int = audio_vad(pcm, SR, method=method).active
        as_float = audio_vad(pcm / 32768.0, SR, method=method).active
        assert np.array_equal(as_int, as_float), method


def test_vad_agreement_refuses_channels_that_do_not_match():
    """A [T] reference against [2, T] was scored against channel 0 alone (accuracy 1.0 with
    channel 1 the exact opposite); [1, T] against [2, T] crashed in a broadcast."""
    ref = np.array([1, 1, 0, 0], bool)
    both = np.array([[1, 1, 0, 0], [0, 0, 1, 1]], bool)
    with pytest.raises(ValueError, match="same C"):
        vad_agreement(ref, both)
    with pytest.raises(ValueError, match="same C"):
        vad_agreement(ref[None], both)
    two = vad_agreement(np.stack([ref, ref]), both)  # pooled over channels, shorter length
    assert two["accuracy"] == pytest.approx(0.5) and two["frames"] == 8


def test_vad_agreement_refuses_a_probability_vad():
    """0.3 cast to bool is True: a probability VAD was scored as all speech."""
    with pytest.raises(ValueError, match=r"other must be voice activity, bool or 0/1"):
        vad_agreement(np.array([1, 0, 0], bool), np.array([0.9, 0.3, 0.1]))
    assert vad_agreement(np.array([1, 0, 0]), np.array([1, 0, 1]))["accuracy"] == pytest.approx(
        2 / 3)
