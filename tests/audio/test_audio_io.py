"""Framing arithmetic, sound-file I/O errors, SPHERE handling, resampling."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given
from hypothesis import strategies as st

from duplexsim.audio import (
    FRAME_MS,
    AudioError,
    chunks_to_frames,
    frames_per_chunk,
    frames_to_ms,
    frames_to_samples,
    ms_to_frames,
    n_frames,
    read_audio,
    resample,
    samples_per_frame,
    write_audio,
)
from duplexsim.audio.io import audio_duration_s, check_decodable


@given(st.integers(0, 10**6))
def test_frames_ms_round_trip(frames: int) -> None:
    assert ms_to_frames(frames_to_ms(frames)) == frames
    assert ms_to_frames(frames_to_ms(frames) + FRAME_MS - 1) == frames
    assert ms_to_frames(frames_to_ms(frames) + 1, rounding="ceil") == frames + 1


@given(st.sampled_from([8000, 16000, 22050, 24000, 44100, 48000]), st.integers(0, 10**5))
def test_samples_frames_consistent(sr: int, frames: int) -> None:
    n = frames_to_samples(frames, sr)
    assert n == frames * samples_per_frame(sr)
    assert n_frames(n, sr) == frames
    assert n_frames(n + samples_per_frame(sr) - 1, sr) == frames


def test_ms_to_frames_rounding_modes_and_chunks_to_frames() -> None:
    """40 ms frames: 160 ms is exactly 4 frames in every mode; 179 ms is 4.475 frames
    (floor 4, round 4, ceil 5), 180 ms 4.5 (round half up: 5), 161 ms ceil 5; 3 chunks of
    200 ms are 15 frames (mutations rounding down for "round", ceiling an exact multiple
    up, and counting a chunk too many all passed)."""
    for mode in ("floor", "round", "ceil"):
        assert ms_to_frames(160, rounding=mode) == 4
    assert [ms_to_frames(179, rounding=m) for m in ("floor", "round", "ceil")] == [4, 4, 5]
    assert ms_to_frames(180, rounding="round") == 5
    assert ms_to_frames(161, rounding="ceil") == 5
    assert chunks_to_frames(3, 200) == 15 and chunks_to_frames(0, 160) == 0


def test_chunk_arithmetic_and_errors() -> None:
    assert [frames_per_chunk(c) for c in (160, 200, 240)] == [4, 5, 6]
    with pytest.raises(ValueError, match="chunk_ms: 150"):
        frames_per_chunk(150)
    with pytest.raises(ValueError, match="samples per 40 ms"):
        samples_per_frame(11111)


def test_write_read_round_trip_and_channel_rate_errors(tmp_path) -> None:
    t = np.arange(8000) / 8000
    wave = np.stack([0.5 * np.sin(2 * np.pi * 440 * t), 0.25 * np.sin(2 * np.pi * 220 * t)])
    write_audio(tmp_path / "a.flac", wave, 8000)
    back, sr = read_audio(tmp_path / "a.flac", channels=2, sample_rate_hz=8000)
    assert sr == 8000 and back.shape == (2, 8000)
    assert np.max(np.abs(back - wave)) < 1e-3
    write_audio(tmp_path / "mono.wav", wave[0], 8000)
    with pytest.raises(AudioError, match=r"mono.wav: mono audio, but 2 channels"):
        read_audio(tmp_path / "mono.wav", channels=2)
    with pytest.raises(AudioError, match=r"sample rate 8000 Hz, expected 16000 Hz \(allowed: "
                                         r"16000 Hz: resample the file first, e\.g\. `sox "
                                         r"a\.flac -r 16000 a-16000\.flac`\)$"):
        read_audio(tmp_path / "a.flac", sample_rate_hz=16000)
    with pytest.raises(AudioError, match="not found"):
        read_audio(tmp_path / "missing.wav")


def test_write_takes_integer_pcm_at_its_scale_and_refuses_nonsense(tmp_path) -> None:
    """int16 PCM is written as read back (it was cast to float and clipped to full scale:
    1000 became 32767); NaN is refused (libsndfile wrote it as full-scale negative); a path
    without an audio extension names the user's path, not a temporary one."""
    write_audio(tmp_path / "pcm.wav", np.array([1000, -1000, 0], np.int16), 8000)
    back, _ = sf.read(tmp_path / "pcm.wav", dtype="int16")
    assert back.tolist() == [1000, -1000, 0]
    with pytest.raises(ValueError, match=r"wave: dtype int64 \(allowed"):  # was silence
        write_audio(tmp_path / "int64.wav", np.array([1000, -1000, 0], np.int64), 8000)
    # finite float64 past float32's range is clipped like any loud sample (was refused as
    # "not finite": the cast to float32 made it inf)
    write_audio(tmp_path / "huge.wav", np.array([0.5, 1e300, -1e300]), 8000)
    assert sf.read(tmp_path / "huge.wav", dtype="int16")[0].tolist() == [16384, 32767, -32768]
    (tmp_path / "huge.wav").unlink()
    with pytest.raises(AudioError, match=r"nan.wav: 1 samples are not finite"):
        write_audio(tmp_path / "nan.wav", np.array([0.5, np.nan], np.float32), 8000)
    with pytest.raises(AudioError, match=r"noext: no audio format for the extension ''"):
        write_audio(tmp_path / "noext", np.zeros(4, np.float32), 8000)
    # a bad rate was libsndfile's "System error.", which atomic_path blamed on the disk
    for rate in (0, -8000, 8000.5, True):
        with pytest.raises(AudioError, match=r"rate.wav: sample rate .* whole number of Hz"):
            write_audio(tmp_path / "rate.wav", np.zeros(4, np.float32), rate)
    with pytest.raises(AudioError, match=r"rank.wav: wave of shape \(1, 2, 4\)"):
        write_audio(tmp_path / "rank.wav", np.zeros((1, 2, 4), np.float32), 8000)
    write_audio(tmp_path / "float-rate.wav", np.zeros(4, np.float32), 8000.0)
    # what the format cannot hold was blamed on the disk ("allowed: free space on the
    # device") or was soundfile's bare "Invalid combination of format, subtype and endian"
    with pytest.raises(AudioError, match=r"tr.wav: WAV PCM_16 cannot be written with 16000 "
                                         r"channels .* \(an \[N, C\] wave\? pass \[C, N\]"):
        write_audio(tmp_path / "tr.wav", np.zeros((16000, 2), np.float32), 16000)
    with pytest.raises(AudioError, match=r"ch.flac: FLAC PCM_16 cannot be written with 9 "
                                         r"channels at 8000 Hz \(libsndfile: Format not"):
        write_audio(tmp_path / "ch.flac", np.zeros((9, 100), np.float32), 8000)
    with pytest.raises(AudioError, match=r"fast.flac: .* with 1 channels at 700000 Hz"):
        write_audio(tmp_path / "fast.flac", np.zeros(100, np.float32), 700_000)
    with pytest.raises(AudioError, match=r"a.ogg: OGG files cannot hold PCM_16 samples "
                                         r"\(allowed: VORBIS"):
        write_audio(tmp_path / "a.ogg", np.zeros(100, np.float32), 8000)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["float-rate.wav", "pcm.wav"]


def _sphere(path, coding: str, payload: bytes, channels: int = 2) -> None:
    fields = [
        "NIST_1A", "   1024", "sample_count -i 4", f"channel_count -i {channels}",
        "sample_n_bytes -i 2" if coding == "pcm" else "sample_n_bytes -i 1",
        "sample_rate -i 8000", "sample_byte_format -s2 01",
        f"sample_coding -s{len(coding)} {coding}", "end_head",
    ]
    head = ("\n".join(fields) + "\n").encode().ljust(1024, b" ")
    path.write_bytes(head + payload)


def test_shorten_sphere_is_a_clear_error(tmp_path) -> None:
    p = tmp_path / "fe_03_00001.sph"
    _sphere(p, "pcm,embedded-shorten-v2.00", b"\x00" * 32)
    with pytest.raises(AudioError, match="sph2pipe"):
        read_audio(p, channels=2)


def _long_sphere(fields: list[str], samples: np.ndarray, size: int = 2048,
                 after_end: str = "") -> bytes:
    """A 2-channel 8 kHz SPHERE file whose header is ``size`` bytes (its second line) and
    holds ``after_end`` past end_head, as padding may."""
    lines = ["NIST_1A", f"{size:7d}", *fields, "end_head", after_end]
    return ("\n".join(lines) + "\n").encode().ljust(size, b" ") + samples.tobytes()


def test_a_sphere_header_is_read_to_end_head_within_the_size_it_declares(tmp_path) -> None:
    """The header was taken as the first 1024 bytes and parsed past end_head: a 2048-byte
    header's fields after byte 1024 were lost (the call's length unknown; libsndfile
    cannot read such a file either: sph2pipe can), and padding that looked like a field
    overrode the real one (a whole file called truncated)."""
    pcm = np.zeros((400, 2), "<i2")  # 400 samples a channel, 0.05 s
    fields = [f"comment -s1200 {'x' * 1200}", "channel_count -i 2", "sample_count -i 400",
              "sample_rate -i 8000", "sample_n_bytes -i 2", "sample_byte_format -s2 01",
              "sample_coding -s3 pcm"]
    long = tmp_path / "long.sph"
    long.write_bytes(_long_sphere(fields, pcm))
    assert audio_duration_s(long) == 0.05
    with pytest.raises(AudioError, match=r"long.sph: SPHERE .* `sph2pipe -f wav long.sph"):
        read_audio(long, channels=2)
    padded = tmp_path / "padded.sph"  # a header whose padding holds a stale field
    padded.write_bytes(_long_sphere(fields[1:], pcm, after_end="sample_count -i 9999"))
    assert audio_duration_s(padded) == 0.05
    assert read_audio(padded, channels=2)[0].shape == (2, 400)
    padded.write_bytes(padded.read_bytes()[:2048 + 4 * 300])  # cut off: 300 samples left
    with pytest.raises(AudioError, match=r"padded.sph: truncated: its SPHERE header gives 400 "
                                         r"samples per channel \(0.1 s\), the file holds 300"):
        read_audio(padded, channels=2)
    bad = tmp_path / "bad.sph"
    bad.write_bytes(b"NIST_1A\nabc\n" + b" " * 1010)
    with pytest.raises(AudioError, match=r"bad.sph:2: SPHERE header size 'abc' \(allowed: the "
                                         r"header's length in bytes, e.g. 1024, at most"):
        read_audio(bad)
    bad.write_bytes(_long_sphere(fields[1:], pcm, size=1024).replace(b"end_head", b"end_hdr"))
    with pytest.raises(AudioError, match="bad.sph: SPHERE header without end_head in its 1024"):
        read_audio(bad)


@pytest.mark.parametrize("fields, what", [
    (["sample_n_bytes -i 1", "sample_coding -s4 ulaw", "sample_byte_format -s2 10"],
     r"SPHERE \(ulaw, sample_byte_format 10\) cannot be read by libsndfile \("),
    (["sample_n_bytes -i 2", "sample_coding -s20 pcm,embedded-wavpack",
      "sample_byte_format -s2 01"], r"wavpack-compressed SPHERE \(pcm,embedded-wavpack\)"),
    (["sample_n_bytes -i 2", "sample_coding -s23 pcm,embedded-shortpack-v2",
      "sample_byte_format -s2 01"], r"shortpack-compressed SPHERE"),
])
def test_sphere_that_libsndfile_refuses_asks_for_sph2pipe(tmp_path, fields, what) -> None:
    """These got libsndfile's own words ("unsupported compression format", "unimplemented
    format") as "not a readable sound file", without the way out."""
    p = tmp_path / "fe_03_00001.sph"
    p.write_bytes(_long_sphere(["channel_count -i 2", "sample_count -i 400",
                                "sample_rate -i 8000", *fields], np.zeros(800, "u1"), size=1024))
    line = rf"fe_03_00001.sph: {what}.* `sph2pipe -f wav fe_03_00001.sph fe_03_00001.wav`"
    with pytest.raises(AudioError, match=line):
        check_decodable(p)
    with pytest.raises(AudioError, match=line):
        read_audio(p)


def test_uncompressed_sphere_reads(tmp_path) -> None:
    p = tmp_path / "x.sph"
    sf.write(str(p), np.full((400, 2), 0.25, dtype=np.float32), 8000, format="NIST",
             subtype="PCM_16")
    wave, sr = read_audio(p, channels=2, sample_rate_hz=8000)
    assert wave.shape == (2, 400) and abs(float(wave.mean()) - 0.25) < 1e-3


def test_resample_keeps_a_tone() -> None:
    t = np.arange(8000) / 8000
    up = resample(np.sin(2 * np.pi * 300 * t), 8000, 16000)
    assert up.shape == (16000,) and up.dtype == np.float32
    spec = np.abs(np.fft.rfft(up))
    assert abs(np.argmax(spec) * 16000 / len(up) - 300) < 2
    # integer PCM at its scale, as write_audio and encode take it (int16 came out +-16384)
    pcm = np.round(0.5 * np.sin(2 * np.pi * 300 * t) * 32768).astype(np.int16)
    for to_hz in (16000, 8000):
        np.testing.assert_allclose(resample(pcm, 8000, to_hz),
                                   resample(pcm / 32768.0, 8000, to_hz), atol=1e-6)


@pytest.mark.parametrize(("from_hz", "to_hz"), [(22050, 16000), (22050, 8000), (16000, 8000),
                                                (8000, 16000)])
def test_resample_equals_scipys_own_filter_design(from_hz: int, to_hz: int) -> None:
    """The filter designed once per ratio is the one ``resample_poly`` designs per call: the
    corpora's audio does not change with the caching."""
    from scipy.signal import resample_poly

    wave = np.random.default_rng(0).normal(0, 0.3, (2, 3001))
    g = np.gcd(from_hz, to_hz)
    want = resample_poly(wave, to_hz // g, from_hz // g, axis=-1).astype(np.float32)
    for _ in range(2):  # the second call reuses the cached filter
        assert np.array_equal(resample(wave, from_hz, to_hz), want)


def test_headroom_scales_an_overshoot_instead_of_clipping_it() -> None:
    from duplexsim.audio.io import headroom

    wave = np.array([[0.5, -1.07, 0.2], [0.1, 0.3, -0.4]], np.float32)
    out = headroom(wave)
    assert np.max(np.abs(out)) == pytest.approx(1.0)
    assert np.allclose(out * 1.07, wave)  # one factor for both channels: balance kept
    fits = np.array([[0.5, -0.9]], np.float32)
    assert headroom(fits) is fits
    inplace = wave.copy()
    assert headroom(inplace, in_place=True) is inplace  # (Trace.audio: no second copy)
    assert inplace.tobytes() == out.tobytes()


def test_a_float_file_at_int16_scale_is_refused_naming_the_first_sample(tmp_path) -> None:
    """Some tools write float WAV at +-32768: it was read as it was, then clipped to a square
    wave by write_audio (corpus import) and encoded as loud speech in every frame."""
    wave = np.zeros((3, 2), np.float32)
    wave[:, 0] = [0.5, -1.5, 0.25]  # an overshoot past full scale is audio
    wave[1:, 1] = [-20000.0, 7.0]
    sf.write(str(tmp_path / "int-scale.wav"), wave, 8000, subtype="FLOAT")
    with pytest.raises(AudioError, match=r"int-scale.wav: channel 1, sample 1: -20000 is far "
                                         r"past full scale \+-1 \(allowed: float samples at "
                                         r"full scale \+-1 \(peaks up to 64\)"):
        read_audio(tmp_path / "int-scale.wav")
    sf.write(str(tmp_path / "over.wav"), wave[:, :1], 8000, subtype="FLOAT")
    assert read_audio(tmp_path / "over.wav")[0][0, 1] == -1.5


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_a_float_file_with_non_finite_samples_is_refused_naming_the_first(tmp_path,
                                                                          bad) -> None:
    """A float WAV with a NaN or inf sample was read as it was: ``duplexsim units train``
    on it ended in numpy's "arange: cannot compute length" traceback, and encoding it gave
    units without a word."""
    wave = np.zeros((2, 800), np.float32)
    wave[1, 123] = bad
    sf.write(str(tmp_path / "f.wav"), wave.T, 8000, subtype="FLOAT")
    with pytest.raises(AudioError, match=r"^\S+f.wav: channel 1, sample 123: not finite "
                       r"\(1 such sample\) \(allowed: finite samples"):
        read_audio(tmp_path / "f.wav", channels=2)


def test_a_truncated_wav_file_is_an_error_naming_it(tmp_path) -> None:
    """libsndfile reads as many samples as a cut-off WAV holds (as for SPHERE, which was
    checked already): a half-copied call was read as a shorter one without a word. The
    header's data chunk size tells the real length; a whole file still reads."""
    path = tmp_path / "fe_03_00001.wav"
    sf.write(str(path), np.full((8000, 2), 0.25, np.float32), 8000, subtype="PCM_16")
    assert read_audio(path, channels=2)[0].shape == (2, 8000)
    path.write_bytes(path.read_bytes()[:44 + 4 * 6000])  # 2000 samples per channel missing
    with pytest.raises(AudioError, match=r"fe_03_00001.wav: truncated: its WAV header gives "
                       r"8000 samples per channel \(1.0 s\), the file holds 6000 \(0.8 s\)"):
        read_audio(path, channels=2)


@pytest.mark.parametrize("placeholder", [0xFFFFFFFF, 0x7FFFFFFF, 0x7FFFF000])
def test_a_streamed_wav_with_a_placeholder_size_reads(tmp_path, placeholder) -> None:
    """A WAV written to a pipe cannot seek back to fill in its sizes: its data chunk holds a
    placeholder (sox, ffmpeg, espeak-ng --stdout), not a length. Such a file is whole."""
    path = tmp_path / "streamed.wav"
    sf.write(str(path), np.full((800, 1), 0.25, np.float32), 8000, subtype="PCM_16")
    data = bytearray(path.read_bytes())
    at = data.index(b"data") + 4
    data[at:at + 4] = placeholder.to_bytes(4, "little")
    path.write_bytes(bytes(data))
    wave, sr = sf.read(str(path))  # libsndfile reads to the end of the file
    assert len(wave) == 800
    assert read_audio(path, channels=1)[0].shape == (1, 800)


@pytest.mark.parametrize("name, content", [
    ("call.m4a", b"\x00\x00\x00\x20ftypM4A " + bytes(100)),  # AAC in MP4: no libsndfile codec
    ("notes.wav", b"hello"),  # not audio at all
    ("empty.flac", b""),
])
def test_an_unreadable_file_says_what_would_be_read(tmp_path, name, content) -> None:
    """libsndfile's reason alone ("Format not recognised.") left the user guessing which
    formats are read: the line names them and how to convert the file."""
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(AudioError, match=rf"^\S+{name}: not a readable sound file \(Format "
                       r"not recognised\.\) \(allowed: WAV, FLAC, .*MP3.*SPHERE.*ffmpeg"):
        read_audio(path)
