"""espeak-ng synthesis: the fork server gives the command's samples, in any order of calls."""

from __future__ import annotations

import io
import json
import os
import shutil
import struct
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from duplexsim.corpora import tts
from duplexsim.corpora.tts import Voice

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None,
                                reason="espeak-ng not installed")

# voices by name and by language (``en-gb+f1`` is not a voice name), rates the corpus
# generator's re-tries use, the two endings of the yield cue; one case repeated after others
CASES = [
    ("yeah that is true,", Voice("en-us+f3", 50, 205)),
    ("ok you know?", Voice("en", 69, 300)),
    ("if the internet just stopped working", Voice("en-gb+f1", 28, 156)),
    ("mhm", Voice("en-us+m3", 40, 98)),
    ("yeah that is true,", Voice("en-us+f3", 50, 205)),
    ("i think wikipedia will become a credible source", Voice("en-gb+f1", 28, 430)),
    ("uh huh", Voice("en-us+klatt", 31, 439)),
]


def test_the_server_gives_the_commands_samples_whatever_was_said_before() -> None:
    """espeak-ng keeps state between utterances in one process (the same text twice gives
    other samples there); a fresh fork per utterance does not."""
    server = tts._server()
    assert server.proc is not None, "libespeak-ng did not load: the command is used instead"
    for text, voice in CASES:
        got = server.speak(text, voice)
        assert got is not None and got.dtype == np.float32
        assert np.array_equal(got, tts._espeak_command(text, voice)), (text, voice)


@pytest.mark.parametrize("text", ["-5 degrees", "--help", "-v en-gb"])
def test_a_text_that_starts_with_a_dash_is_said_not_read_as_a_flag(text: str) -> None:
    """The command took it for an option: an error, or the usage text parsed as a WAV."""
    voice = Voice("en-us", 50, 175)
    server = tts._server().speak(text, voice)
    assert server is not None and server.size > 1000
    assert np.array_equal(tts._espeak_command(text, voice), server)


def test_a_voice_espeak_does_not_know_is_resolved_as_the_command_resolves_it() -> None:
    voice = Voice("no-such-voice", 50, 175)  # the command picks a voice by properties
    assert np.array_equal(tts._espeak("hello", voice), tts._espeak_command("hello", voice))


def test_a_dead_server_falls_back_to_the_command() -> None:
    server = tts._server()
    server.close()  # as if it had died: the next utterance comes from the command
    text, voice = CASES[0]
    assert server.speak(text, voice) is None
    assert np.array_equal(tts._espeak(text, voice), tts._espeak_command(text, voice))
    tts._SERVER = None  # the next test's utterances start a new server


_SAY_IN_A_FRESH_HOME = """
import hashlib, sys
from duplexsim.corpora.tts import _espeak, Voice
h = hashlib.sha1()
for text, name, pitch, rate in [
        ("if the internet just stopped working", "en-gb+f1", 28, 156),
        ("uh huh", "en-us+f3", 69, 188), ("school senior", "en-us+f2", 64, 220),
        ("why is no one answering back adios have", "en-us+m3", 40, 150)]:
    h.update(_espeak(text, Voice(name, pitch, rate)).tobytes())
print(h.hexdigest())
"""


def test_the_samples_do_not_depend_on_an_audio_server(tmp_path: Path) -> None:
    """libespeak-ng's audio layer may reach for PulseAudio even when it only synthesises; in
    a fresh home directory (pulse autospawns there) that changed the samples of some
    utterances from run to run (3 different digests here before the fix). Each run starts
    in its own empty home."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULSE")}
    digests = []
    for i in range(3):
        home = tmp_path / f"home{i}"
        home.mkdir()
        out = subprocess.run([sys.executable, "-c", _SAY_IN_A_FRESH_HOME],
                             env={**env, "HOME": str(home)}, capture_output=True, text=True,
                             timeout=120, check=True)
        digests.append(out.stdout.strip())
    assert len(set(digests)) == 1, digests


def test_another_espeak_ng_does_not_reuse_the_cached_speech(tmp_path: Path,
                                                            monkeypatch) -> None:
    """The cache was keyed by text and voice alone: an upgraded espeak-ng (or another data
    folder) reused the old one's samples. Its ``--version`` line is in the key; the samples
    of the same espeak-ng are the same (only the key changed)."""
    voice, cache = Voice("en-us+f3", 50, 175), tmp_path / "cache"
    real = shutil.which("espeak-ng")
    version = subprocess.run([real, "--version"], capture_output=True, text=True).stdout
    tts.espeak_version.cache_clear()
    first = tts.speak("mhm", voice, 16000, cache)
    assert tts.espeak_version() == version.strip() and "eSpeak NG" in version
    assert np.array_equal(tts.speak("mhm", voice, 16000, cache), first)
    assert len(list(cache.rglob("*.npy"))) == 1  # the same espeak-ng: its entry reused
    # an espeak-ng that says it is another version (its speech the real one's)
    other = tmp_path / "bin"
    other.mkdir()
    (other / "espeak-ng").write_text(
        f'#!/bin/sh\nif [ "$1" = --version ]; then echo "eSpeak NG text-to-speech: 9.99"; '
        f'else exec {real} "$@"; fi\n')
    (other / "espeak-ng").chmod(0o755)
    monkeypatch.setenv("PATH", f"{other}{os.pathsep}{os.environ['PATH']}")
    tts.espeak_version.cache_clear()
    try:
        assert tts.espeak_version() == "eSpeak NG text-to-speech: 9.99"
        assert np.array_equal(tts.speak("mhm", voice, 16000, cache), first)
        assert len(list(cache.rglob("*.npy"))) == 2  # spoken anew, under its own key
    finally:
        tts.espeak_version.cache_clear()


@pytest.mark.parametrize("damage", ["empty", "truncated"])
def test_a_damaged_cache_entry_is_spoken_again(tmp_path: Path, damage: str) -> None:
    """A corrupt cache entry is rebuilt, not trusted: an empty one (a copy cut short, a
    full disk) was a bare EOFError traceback from numpy instead."""
    voice = Voice("en-us+f3", 50, 175)
    first = tts.speak("mhm", voice, 16000, tmp_path)
    (entry,) = tmp_path.rglob("*.npy")
    entry.write_bytes(b"" if damage == "empty" else entry.read_bytes()[:100])
    assert np.array_equal(tts.speak("mhm", voice, 16000, tmp_path), first)
    assert np.load(entry).size > 0  # written again


def test_an_answer_cut_short_by_a_dying_server_is_not_used() -> None:
    """A server that died mid-answer left fewer samples than it announced: they were used
    (and cached) as the utterance, or an odd byte count raised a numpy ValueError."""
    class Dead:  # a server process whose answer stops after 3 of its 100 samples
        stdin = io.BytesIO()
        stdout = io.BytesIO(struct.pack("<I", 204) + struct.pack("<i", 0) + b"\x01\x00" * 3)
        killed = False

        def kill(self) -> None:
            self.killed = True

        def wait(self) -> None:
            pass

    server = tts._Server.__new__(tts._Server)
    server.pid, server.lock, server.proc = os.getpid(), threading.Lock(), Dead()
    dead = server.proc
    assert server.speak("hello", Voice()) is None
    assert dead.killed and server.proc is None  # closed: the command speaks from now on


@pytest.mark.parametrize("text", ["a\0b", "caf\ud800"])
def test_text_that_espeak_cannot_be_given_is_refused_in_one_line(tmp_path: Path,
                                                                text: str) -> None:
    """A NUL: the server said what came before it, the command raised ValueError (the two
    disagreed); a lone surrogate: UnicodeEncodeError from the cache key."""
    from duplexsim.errors import InputError

    with pytest.raises(InputError, match=r"speak: text: .* \(allowed: text without them\)"):
        tts.speak(text, Voice(), 8000, tmp_path)
    assert not list(tmp_path.iterdir())  # nothing cached


_CHILD_KILLED_MID_ANSWER = """
import os, signal, struct, sys
import duplexsim.corpora._espeak_server as srv

class Lib:  # libespeak-ng as far as main() calls it outside the child
    def espeak_Initialize(self, *args): return 22050
    def espeak_SetSynthCallback(self, *args): return 0
    def espeak_SetVoiceByName(self, *args): return 0

parent, write_all = os.getpid(), srv.write_all

def dying_write_all(fd, data):
    if os.getpid() != parent:  # the child: half of its answer, then killed
        write_all(fd, data[: len(data) // 2])
        os.kill(os.getpid(), signal.SIGKILL)
    write_all(fd, data)

srv.load = Lib
srv.synthesise = lambda lib, chunks, request: struct.pack("<i", 0) + b"\\x01\\x00" * 1000
srv.write_all = dying_write_all
srv.main()
"""


def test_a_server_child_killed_mid_answer_sends_no_samples() -> None:
    """The server sent what a child killed mid-answer had written (half of its samples,
    status 0), which the client took, and cached, as the whole utterance."""
    request = json.dumps({"text": "hi", "voice": "en-us", "pitch": 50, "rate": 175}).encode()
    out = subprocess.run([sys.executable, "-c", _CHILD_KILLED_MID_ANSWER],
                         input=struct.pack("<I", len(request)) + request, capture_output=True,
                         timeout=60, check=True).stdout
    assert struct.unpack("<i", out[:4])[0] == 22050
    n = struct.unpack("<I", out[4:8])[0]
    assert struct.unpack("<i", out[8:12])[0] != 0 and n == 4, out[:16]
