"""Local text-to-speech (espeak-ng) with an on-disk cache; other modules may use ``speak``.

``speak(text, voice, sample_rate_hz)`` returns float32 mono speech with leading and
trailing silence trimmed (so annotations can match the audio exactly). Results are
cached under ``~/.cache/duplexsim/tts`` (or ``cache_dir``), keyed by text, every
voice parameter and the espeak-ng version (:func:`espeak_version`: another espeak-ng
speaks anew instead of reusing the old one's samples; only the key changes, not the audio).
Requires espeak-ng (its library and its command); nothing is downloaded.
Each utterance is synthesised by a fork server over libespeak-ng (``_espeak_server.py``),
or by the ``espeak-ng`` command where the library does not load: the same samples, the
server about twice as fast.

Both run without an audio server (:func:`synth_env`): libespeak-ng's audio layer reaches for
PulseAudio even when it only synthesises, and where that autospawns a daemon (a home
directory without one, e.g. every fresh machine) some utterances came out with other
samples from run to run (found 2026-12-04: two cold corpus builds differed in 10-30% of
their utterances; ``tests/corpora/test_tts.py``).
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import io
import json
import os
import shutil
import struct
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from duplexsim.atomic import atomic_path
from duplexsim.audio.io import resample
from duplexsim.errors import InputError, MissingInputError

ESPEAK_SR_HZ = 22050
TRIM_LEVEL = 0.02  # samples below 2% of the peak at either end are silence


@dataclass(frozen=True)
class Voice:
    """espeak-ng voice: language+variant (``en-us+f3``), pitch 0-99, rate in words/minute."""

    name: str = "en-us"
    pitch: int = 50
    rate_wpm: int = 175

    def key(self) -> str:
        return f"{self.name}|p{self.pitch}|s{self.rate_wpm}"


def default_cache_dir() -> Path:
    return Path(os.environ.get("DUPLEXSIM_TTS_CACHE", Path.home() / ".cache/duplexsim/tts"))


def _espeak(text: str, voice: Voice) -> np.ndarray:
    """Speech for ``text`` at espeak-ng's rate: from the fork server where libespeak-ng
    loads, else from the ``espeak-ng`` command (the same samples either way)."""
    wave = _server().speak(text, voice)
    return wave if wave is not None else _espeak_command(text, voice)


@functools.lru_cache(maxsize=1)
def espeak_version() -> str:
    """``espeak-ng --version``'s line (version and data folder, e.g. ``eSpeak NG
    text-to-speech: 1.51  Data at: /usr/lib/x86_64-linux-gnu/espeak-ng-data``), asked once a
    process; "" without the command (nothing can then be spoken, only cache misses)."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        return ""
    try:
        out = subprocess.run([exe, "--version"], capture_output=True, check=False,
                             env=synth_env(), timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return out.stdout.decode(errors="replace").strip() if out.returncode == 0 else ""


def synth_env() -> dict[str, str]:
    """The environment espeak-ng runs in: this process's, with PulseAudio pointed at a
    server that does not exist (no autospawn; the connection fails at once)."""
    return {**os.environ, "PULSE_SERVER": "unix:/nonexistent/duplexsim-no-audio"}


def _espeak_command(text: str, voice: Voice) -> np.ndarray:
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise MissingInputError("espeak-ng", "", "not found on PATH",
                                "install it: apt-get install espeak-ng")
    # ``--`` ends the options: a text that starts with "-" ("-5 degrees") is said, as the
    # server says it, not read as a flag (an error, or --help's text as a WAV)
    cmd = [exe, "-v", voice.name, "-p", str(voice.pitch), "-s", str(voice.rate_wpm),
           "--stdout", "--", text]
    out = subprocess.run(cmd, capture_output=True, check=False, env=synth_env())
    if out.returncode != 0 or not out.stdout:
        raise RuntimeError(f"espeak-ng failed for voice {voice.key()}: "
                           f"{out.stderr.decode(errors='replace').strip()}")
    wave, sr = sf.read(io.BytesIO(out.stdout), dtype="float32")
    if sr != ESPEAK_SR_HZ:
        wave = resample(wave, sr, ESPEAK_SR_HZ)
    return wave


class _Server:
    """This process's espeak-ng fork server (``_espeak_server.py``: why and how), started at
    the first utterance. ``speak`` returns None where the server cannot answer (no
    libespeak-ng, another sample rate, an error, a dead server); the caller then asks the
    command, which also words any error."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.lock = threading.Lock()  # one request at a time on the pipes
        self.proc: subprocess.Popen[bytes] | None = None
        try:
            self.proc = subprocess.Popen(
                [sys.executable, str(Path(__file__).with_name("_espeak_server.py"))],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                env=synth_env())
            head = self.proc.stdout.read(4)  # type: ignore[union-attr]
            if len(head) < 4 or struct.unpack("<i", head)[0] != ESPEAK_SR_HZ:
                self.close()
        except OSError:
            self.close()

    def speak(self, text: str, voice: Voice) -> np.ndarray | None:
        if self.proc is None:
            return None
        request = json.dumps({"text": text, "voice": voice.name, "pitch": voice.pitch,
                              "rate": voice.rate_wpm}).encode()
        try:
            with self.lock:
                self.proc.stdin.write(struct.pack("<I", len(request)) + request)  # type: ignore[union-attr]
                self.proc.stdin.flush()  # type: ignore[union-attr]
                head = self.proc.stdout.read(4)  # type: ignore[union-attr]
                size = struct.unpack("<I", head)[0]
                answer = self.proc.stdout.read(size)  # type: ignore[union-attr]
        except (OSError, struct.error, AttributeError):  # AttributeError: closed meanwhile
            self.close()
            return None
        if len(answer) != size:  # the server died mid-answer: not a cut utterance (cached)
            self.close()
            return None
        if len(answer) <= 4 or struct.unpack("<i", answer[:4])[0] != 0:  # no samples, or an
            return None  # error: the command says why (or succeeds where the library did not)
        return np.frombuffer(answer, np.int16, offset=4).astype(np.float32) / 32768.0

    def close(self) -> None:
        if self.proc is not None and self.pid == os.getpid():  # never a parent's server
            self.proc.kill()
            self.proc.wait()
        self.proc = None


_SERVER: _Server | None = None


def _server() -> _Server:
    """This process's server (a forked worker starts its own: pipes are not shared)."""
    global _SERVER
    if _SERVER is None or _SERVER.pid != os.getpid():
        _SERVER = _Server()
        atexit.register(_SERVER.close)
    return _SERVER


def trim(wave: np.ndarray) -> np.ndarray:
    """Cut leading/trailing samples quieter than TRIM_LEVEL x peak."""
    if wave.size == 0:
        return wave
    loud = np.flatnonzero(np.abs(wave) > TRIM_LEVEL * np.abs(wave).max())
    return wave[loud[0] : loud[-1] + 1] if loud.size else wave[:0]


def _encodable(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def speak(text: str, voice: Voice | str = "en-us", sample_rate_hz: int = 16000,
          cache_dir: str | Path | None = None) -> np.ndarray:
    """Trimmed speech for ``text`` at ``sample_rate_hz`` (float32 mono), cached on disk."""
    if isinstance(voice, str):
        voice = Voice(voice)
    # refused, not said: the server stopped at a NUL ("a\0b" said "a") where the command
    # raised ValueError, and a lone surrogate raised UnicodeEncodeError from the cache key
    if "\0" in text or not _encodable(text):
        raise InputError("speak", "text", f"{text[:40]!r} holds a NUL or a character that "
                         "is not Unicode text (a lone surrogate)", "text without them")
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    # the version is in the key only (the manifest records voice.key()): output unchanged
    digest = hashlib.sha1(f"{espeak_version()}|{voice.key()}|{text}".encode()).hexdigest()
    path = cache / digest[:2] / f"{digest}.npy"
    if path.is_file():
        try:
            raw = np.load(path)
        except (ValueError, OSError, EOFError):  # a corrupt entry (an empty file: EOFError)
            raw = None                              # is rebuilt, not trusted
    else:
        raw = None
    if raw is None:
        wave = trim(_espeak(text, voice))
        raw = np.round(np.clip(wave, -1, 1) * 32767).astype(np.int16)
        with atomic_path(path) as tmp, tmp.open("wb") as fh:
            np.save(fh, raw)
    return resample(raw.astype(np.float32) / 32767.0, ESPEAK_SR_HZ, sample_rate_hz)
