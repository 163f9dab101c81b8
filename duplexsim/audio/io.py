"""Read and write sound files; resample.

Reads WAV / FLAC / MP3 / uncompressed or u-law NIST SPHERE through soundfile. Fisher ships
shorten-compressed SPHERE, which libsndfile cannot decode: that, and any other SPHERE file
libsndfile refuses, gets an error telling the user to convert with ``sph2pipe``. Writes
are atomic (``duplexsim.atomic``).
Arrays are ``[channels, samples]`` float32 in [-1, 1].
"""

from __future__ import annotations

import functools
import math
import os
from pathlib import Path

import numpy as np
import soundfile as sf

from duplexsim.atomic import atomic_path
from duplexsim.errors import InputError


class AudioError(InputError):
    """A sound file that cannot be used as asked (names the file and what was expected)."""


MAX_SPHERE_HEADER = 1 << 20
"""Largest SPHERE header size taken as one (bytes; they are 1024, a few KiB at most)."""


def _sphere_header(path: Path) -> dict[str, str] | None:
    """The ``name -type value`` fields of a NIST SPHERE header, or None if not SPHERE.

    Reads the header size its second line declares (``1024``, or more for a long header)
    and the fields up to ``end_head``: what follows it is padding, not fields. A header
    without a size (up to :data:`MAX_SPHERE_HEADER`) or an ``end_head`` is an
    :class:`AudioError`."""
    with path.open("rb") as fh:
        if fh.readline(16).rstrip(b"\r\n") != b"NIST_1A":
            return None
        size_line = fh.readline(16).strip()
        size = int(size_line) if size_line.isdigit() else 0
        if not fh.tell() < size <= MAX_SPHERE_HEADER:
            raise AudioError(f"{path}:2: SPHERE header size {size_line.decode('latin-1')!r} "
                             f"(allowed: the header's length in bytes, e.g. 1024, at most "
                             f"{MAX_SPHERE_HEADER})")
        head = fh.read(size - fh.tell())
    fields: dict[str, str] = {}
    for line in head.decode("latin-1").splitlines():
        if line.strip() == "end_head":
            return fields
        if len(parts := line.split(None, 2)) == 3:  # a string value may hold spaces
            fields[parts[0]] = parts[2].strip()
    raise AudioError(f"{path}: SPHERE header without end_head in its {size} bytes (allowed: a "
                     "whole header: copy or convert the file again)")


SPHERE_COMPRESSIONS = ("shorten", "wavpack", "shortpack")
"""SPHERE sample codings (``pcm,embedded-shorten-v2.00``...) that only sph2pipe decodes."""


READABLE_FORMATS = ("WAV, FLAC, OGG (Vorbis, Opus), MP3, AIFF, uncompressed or u-law NIST "
                    "SPHERE and the other formats libsndfile reads; convert others (M4A, "
                    "AAC, WMA...) first, e.g. with ffmpeg or sox")
"""What :func:`read_audio` reads, for the error naming a file it cannot."""

SF_ERR_SYSTEM = 2
"""libsndfile's error code for an operating-system failure (a full disk): "System error."."""

MAX_FLOAT_PEAK = 64.0
"""Largest float sample taken as audio at full scale +-1 (36 dB over it: overshoots of
resampled or vocoded audio stay far below; int16-scale samples stored as float, +-32768,
do not): past it, features and voice activity would be those of a wave 60-90 dB too loud."""


def first_over_full_scale(wave: np.ndarray) -> int | None:
    """Flat index of the first sample of float ``wave`` past :data:`MAX_FLOAT_PEAK`, or None."""
    if not wave.size or not float(np.max(np.abs(wave))) > MAX_FLOAT_PEAK:  # (NaN: None)
        return None
    return int(np.flatnonzero(np.abs(wave) > MAX_FLOAT_PEAK)[0])


STREAMED_WAV_SIZE = 0x7F000000
"""A WAV data chunk size from here up is taken as a placeholder, not a length."""


def _wav_frames(path: Path) -> int | None:
    """Samples per channel that a RIFF WAVE header's data chunk declares, or None (not a
    WAV file, or a streamed one whose size is a placeholder: 0, or 2 GB and more, as tools
    writing to a pipe leave it: 0xFFFFFFFF, 0x7FFFFFFF, 0x7FFFF000...). For ADPCM and GSM
    WAV it is the number of blocks, fewer than the samples: never a truncation."""
    with path.open("rb") as fh:
        head = fh.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:] != b"WAVE":
            return None
        align = 0
        while len(chunk := fh.read(8)) == 8:
            name, size = chunk[:4], int.from_bytes(chunk[4:], "little")
            if name == b"data":
                return size // align if align and 0 < size < STREAMED_WAV_SIZE else None
            body = fh.read(size + size % 2)  # chunks are padded to an even size
            if name == b"fmt " and len(body) >= 14:
                align = int.from_bytes(body[12:14], "little")  # bytes per sample frame
    return None


def audio_duration_s(path: str | Path) -> float | None:
    """Seconds of audio in ``path`` from its header alone (a SPHERE header's sample_count and
    sample_rate, also for shorten-compressed files), or None where it cannot be told."""
    path = Path(path)
    try:
        fields = _sphere_header(path)
        if fields is not None:
            return int(fields["sample_count"]) / int(fields["sample_rate"])
        with path.open("rb") as fh:  # a file object: see read_audio
            return float(sf.info(fh).duration)
    except (OSError, RuntimeError, KeyError, ValueError, ZeroDivisionError):
        return None


def check_decodable(path: str | os.PathLike[str]) -> None:
    """Raise :class:`AudioError` for a SPHERE file that :func:`read_audio` cannot decode,
    telling the user to convert it with sph2pipe: compressed (shorten, as Fisher's releases
    ship it, wavpack, shortpack: libsndfile has no decoder) or a header libsndfile refuses
    (u-law with ``sample_byte_format 10``, a header longer than 1024 bytes...: only
    libsndfile's opening tells). Cheap (reads the header): an import checks every file
    before it writes anything."""
    path = Path(path)
    sphere = _sphere_header(path)
    if sphere is None:
        return
    _check_sphere_coding(path, sphere)
    try:
        with path.open("rb") as fh:  # a file object: see read_audio
            sf.info(fh)
    except (sf.LibsndfileError, RuntimeError) as e:
        raise _sphere_refused(path, sphere, e) from None


def _check_sphere_coding(path: Path, sphere: dict[str, str]) -> None:
    """Raise :func:`_sphere_refused` for compressed SPHERE (no libsndfile decoder)."""
    coding = sphere.get("sample_coding", "pcm")
    what = next((f"{c}-compressed SPHERE" for c in SPHERE_COMPRESSIONS if c in coding), "")
    if what:
        raise _sphere_refused(path, sphere, None, f"{what} ({coding})")


def _sphere_refused(path: Path, sphere: dict[str, str], error: Exception | None,
                    what: str = "") -> AudioError:
    """The error for SPHERE ``path`` that libsndfile cannot decode (``error``: what it said
    opening it; ``what``: the file's kind, else its coding and byte format): convert it
    with sph2pipe."""
    if not what:
        what = (f"SPHERE ({sphere.get('sample_coding', 'pcm')}, sample_byte_format "
                f"{sphere.get('sample_byte_format')})")
    reason = "" if error is None else \
        f" by libsndfile ({getattr(error, 'error_string', str(error)).strip()})"
    return AudioError(
        f"{path}: {what} cannot be read{reason}; convert it first, e.g. `sph2pipe -f wav "
        f"{path.name} {path.stem}.wav` (or to FLAC with sox), and point the reader at the "
        "converted file"
    )


def read_audio(
    path: str | os.PathLike[str],
    *,
    channels: int | None = None,
    sample_rate_hz: int | None = None,
) -> tuple[np.ndarray, int]:
    """Read ``path`` as ``([channels, N] float32, sample_rate)``.

    ``channels`` / ``sample_rate_hz``: if given, a file with another channel count or rate is
    an :class:`AudioError` (no silent up-mixing or resampling: the caller decides).
    """
    path = Path(path)
    if not path.is_file():
        raise AudioError(str(path), "", "audio file not found", "an existing sound file")
    sphere = _sphere_header(path)
    if sphere is not None:  # (what check_decodable refuses, libsndfile opening it once)
        _check_sphere_coding(path, sphere)
    wave, sr = _decode(path, sphere)
    _check_samples(path, wave)
    _check_whole(path, wave, sr, sphere)
    if channels is not None and wave.shape[0] != channels:
        what = "mono" if wave.shape[0] == 1 else f"{wave.shape[0]}-channel"
        raise AudioError(
            f"{path}: {what} audio, but {channels} channels are required "
            "(one speaker per channel, speaker A = channel 0)"
        )
    if sample_rate_hz is not None and sr != sample_rate_hz:
        raise AudioError(f"{path}: sample rate {sr} Hz, expected {sample_rate_hz} Hz (allowed: "
                         f"{sample_rate_hz} Hz: resample the file first, e.g. `sox {path.name} "
                         f"-r {sample_rate_hz} {path.stem}-{sample_rate_hz}{path.suffix}`)")
    return wave, int(sr)


def _decode(path: Path, sphere: dict[str, str] | None) -> tuple[np.ndarray, int]:
    """libsndfile's ``[channels, N]`` float32 samples of ``path`` and its rate (``sphere``:
    its SPHERE header, None: not SPHERE)."""
    try:
        # through a file object, not the path: given a path, libsndfile takes a macOS
        # resource fork ``._<name>`` beside the file (a copy from a Mac leaves one) for the
        # file's own and reads a header-less MP3 as Sound Designer II ("bad data offset")
        with path.open("rb") as fh:
            data, sr = sf.read(fh, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as e:
        if sphere is not None:  # a SPHERE header libsndfile refuses: sph2pipe reads it
            raise _sphere_refused(path, sphere, e) from None
        # a LibsndfileError's str names the file object: its reason alone
        reason = e.error_string.strip() if isinstance(e, sf.LibsndfileError) else str(e)
        raise AudioError(str(path), "", f"not a readable sound file ({reason})",
                         READABLE_FORMATS) from None
    return np.ascontiguousarray(data.T), sr


def _check_samples(path: Path, wave: np.ndarray) -> None:
    """Refuse samples that are not finite, or float samples far past full scale."""
    finite = np.isfinite(wave)
    if not finite.all():  # a float file can hold NaN / inf: features and units of it are noise
        channel, sample = (int(i[0]) for i in np.nonzero(~finite))
        n_bad = int((~finite).sum())
        raise AudioError(str(path), f"channel {channel}, sample {sample}",
                         f"not finite ({n_bad} such sample{'s' if n_bad > 1 else ''})",
                         "finite samples: repair or re-export the file")
    over = first_over_full_scale(wave)
    if over is not None:  # a float file written at another scale (int16's, by some tools)
        channel, sample = divmod(over, wave.shape[1])
        raise AudioError(str(path), f"channel {channel}, sample {sample}",
                         f"{float(wave[channel, sample]):g} is far past full scale +-1",
                         f"float samples at full scale +-1 (peaks up to {MAX_FLOAT_PEAK:g}): "
                         "re-export the file at that scale, or as integer PCM")


def _check_whole(path: Path, wave: np.ndarray, sr: int, sphere: dict[str, str] | None) -> None:
    """Refuse a file that holds fewer samples than its SPHERE or WAV header declares
    (libsndfile reads what is there)."""
    declared = (sphere or {}).get("sample_count", "")
    header = "SPHERE" if sphere is not None else "WAV"
    if sphere is None:
        declared = str(_wav_frames(path) or "")
    if declared.isdigit() and wave.shape[1] < int(declared):
        raise AudioError(f"{path}: truncated: its {header} header gives {int(declared)} samples "
                         f"per channel ({int(declared) / sr:.1f} s), the file holds "
                         f"{wave.shape[1]} ({wave.shape[1] / sr:.1f} s) (allowed: the whole "
                         "file: copy or convert it again)")


def write_audio(
    path: str | os.PathLike[str], wave: np.ndarray, sample_rate_hz: int, subtype: str = "PCM_16"
) -> None:
    """Write ``wave`` (``[C, N]`` or ``[N]``; float at full scale +-1, clipped, or integer
    PCM, scaled as :func:`as_float` reads it) atomically; format from the extension.
    Non-finite samples, a wave of another rank, a sample rate that is not a whole number of
    Hz >= 1, an extension libsndfile cannot write and a subtype, channel count or rate its
    format cannot hold are an :class:`AudioError`."""
    path = Path(path)
    if path.suffix[1:].upper() not in sf.available_formats():
        raise AudioError(f"{path}: no audio format for the extension {path.suffix!r} "
                         "(allowed: .wav, .flac, .ogg, ...)")
    if (isinstance(sample_rate_hz, bool)
            or not isinstance(sample_rate_hz, int | float | np.integer | np.floating)
            or not 1 <= sample_rate_hz <= 2**31 - 1 or sample_rate_hz != int(sample_rate_hz)):
        raise AudioError(f"{path}: sample rate {sample_rate_hz!r} (allowed: a whole number of "
                         "Hz >= 1): nothing written")  # libsndfile: "System error." (the disk)
    arr = as_float(wave)
    if not np.isfinite(arr).all():
        raise AudioError(f"{path}: {int((~np.isfinite(arr)).sum())} samples are not finite "
                         "(NaN or inf): nothing written")
    if arr.ndim not in (1, 2):
        raise AudioError(f"{path}: wave of shape {arr.shape} (allowed: [N] or [C, N]): "
                         "nothing written")
    fmt = path.suffix[1:].upper()
    if not sf.check_format(fmt, subtype):  # soundfile: a bare "Invalid combination of ..."
        raise AudioError(f"{path}: {fmt} files cannot hold {subtype} samples (allowed: "
                         f"{', '.join(sf.available_subtypes(fmt))}): nothing written")
    data = arr.T if arr.ndim == 2 else arr
    with atomic_path(path, suffix=path.suffix) as tmp:
        try:
            sf.write(str(tmp), np.clip(data, -1.0, 1.0), int(sample_rate_hz), subtype=subtype)
        except sf.LibsndfileError as e:
            if e.code in (0, SF_ERR_SYSTEM):  # a full disk: atomic_path makes it one line
                raise
            # what the format cannot take (FLAC: 9+ channels, rates over 655350 Hz; WAV:
            # 1025+ channels) was blamed on the disk by atomic_path
            n_channels = data.shape[1] if data.ndim == 2 else 1
            hint = (" (an [N, C] wave? pass [C, N], one row a channel)"
                    if arr.ndim == 2 and arr.shape[0] > arr.shape[1] else "")
            raise AudioError(f"{path}: {fmt} {subtype} cannot be written with {n_channels} "
                             f"channels at {int(sample_rate_hz)} Hz (libsndfile: "
                             f"{e.error_string.strip()}){hint}: nothing written") from None


def as_float(wave: np.ndarray) -> np.ndarray:
    """``wave`` as float32 at full scale +-1: float stays as it is, integer PCM is scaled as
    soundfile reads it (``int16 / 32768``; unsigned 8-bit centred at 128), so the same
    audio gives the same result whichever way it was read. 64-bit integers are refused
    (no PCM format: int16-scale samples gone through ``astype(int)`` came out silent)."""
    arr = np.asarray(wave)
    if arr.dtype.kind in "iu" and arr.dtype.itemsize > 4:
        # no sound format holds 64-bit PCM (soundfile refuses it too): such samples are ints
        # at another scale (``.astype(int)`` of int16 values), which /2**63 made silence
        raise ValueError(f"wave: dtype {arr.dtype} (allowed: float at full scale +-1, or "
                         "integer PCM as int16, int32 or uint8: say which, e.g. "
                         ".astype(np.int16))")
    if arr.dtype.kind in "iu":
        info = np.iinfo(arr.dtype)
        centre = 0 if arr.dtype.kind == "i" else (int(info.max) + 1) // 2
        arr = (arr.astype(np.float64) - centre) / (int(info.max) + 1 - centre)
    elif arr.dtype.kind != "f":
        raise ValueError(f"wave: dtype {arr.dtype} (allowed: float, or integer PCM)")
    elif arr.dtype.itemsize > 4:  # finite samples past float32's range stay finite (they
        big = float(np.finfo(np.float32).max)  # became inf: "not finite" for 1e300)
        huge = np.isfinite(arr) & (np.abs(arr) > big)
        if huge.any():
            arr = np.where(huge, np.copysign(big, arr), arr)
    return arr.astype(np.float32, copy=False)


def headroom(wave: np.ndarray, *, in_place: bool = False) -> np.ndarray:
    """``wave`` scaled by one factor for all channels so that its peak is at most full
    scale (a vocoder can overshoot; clipping at write time would distort those samples);
    unchanged when it fits already. ``in_place``: scale ``wave`` itself (a float array the
    caller owns), the same bytes without a second copy of the audio (77 MB per 10 minutes of
    stereo)."""
    peak = float(np.max(np.abs(wave))) if wave.size else 0.0
    if peak <= 1.0:
        return wave
    if in_place:
        wave /= peak
        return wave
    return (wave / peak).astype(wave.dtype, copy=False)


def resample(wave: np.ndarray, from_hz: int, to_hz: int) -> np.ndarray:
    """Resample along the last axis with a polyphase filter (float32 out). Integer PCM is
    scaled first, as :func:`as_float` reads it (it came out at +-32768 for int16, which
    write_audio then clipped to a square wave)."""
    if np.asarray(wave).dtype.kind in "iu":
        wave = as_float(wave)
    if from_hz == to_hz:
        return np.asarray(wave, dtype=np.float32)
    from scipy.signal import resample_poly  # imported here: scipy.signal costs ~1 s to load

    g = math.gcd(int(from_hz), int(to_hz))
    up, down = to_hz // g, from_hz // g
    out = resample_poly(np.asarray(wave, dtype=np.float64), up, down, axis=-1,
                        window=_lowpass(up, down))
    return out.astype(np.float32)


@functools.lru_cache(maxsize=16)
def _lowpass(up: int, down: int) -> np.ndarray:
    """The FIR filter ``resample_poly`` designs by default (Kaiser window, beta 5), designed
    once per ratio instead of once per call (a third of a short utterance's resampling)."""
    from scipy.signal import firwin

    max_rate = max(up, down)
    h = firwin(2 * 10 * max_rate + 1, 1.0 / max_rate, window=("kaiser", 5.0))
    h.flags.writeable = False  # shared by every call
    return h
