"""A fork server over libespeak-ng: every utterance synthesised in a fresh copy of one
initialised process. Run by :mod:`duplexsim.corpora.tts` as ``python <this file>``; standard
library only (it starts in ~30 ms and forks cheaply).

Why fork: espeak-ng keeps state between utterances in one process (the glottal flutter's
phase, per-voice settings), so the same text said twice in one process gives different
samples, and a corpus would depend on what was said before. The ``espeak-ng`` command
starts a process per utterance, which costs ~20 ms of start-up; a fork of this process,
initialised once with the default voice loaded, costs a few. Each child does exactly what
``espeak-ng -v VOICE -p PITCH -s RATE --stdout TEXT`` does (set the voice by name, else by
language, then rate and pitch, then synthesise with the command's flags) and its samples
equal the command's (``tests/corpora/test_tts.py``).

Protocol (binary, little-endian, on stdin / stdout): at start the server writes the sample
rate (int32; -1 if the library could not be loaded or initialised, then exits). Each
request is a uint32 length and that many bytes of JSON ``{"text", "voice", "pitch",
"rate"}``; each answer a uint32 length, then int32 status (0 = ok, else espeak-ng's error
code), then the int16 samples. End of stdin ends the server.
"""

import ctypes
import ctypes.util
import json
import os
import struct
import sys

AUDIO_OUTPUT_SYNCHRONOUS = 2
INITIALIZE_DONT_EXIT = 0x8000
POS_CHARACTER = 1
RATE, PITCH = 1, 3  # espeak_PARAMETER
# the command's flags: espeakCHARS_AUTO | espeakPHONEMES | espeakENDPAUSE
SYNTH_FLAGS = 0x0000 | 0x0100 | 0x1000
class VoiceSpec(ctypes.Structure):  # espeak_VOICE
    _fields_ = [("name", ctypes.c_char_p), ("languages", ctypes.c_char_p),
                ("identifier", ctypes.c_char_p), ("gender", ctypes.c_ubyte),
                ("age", ctypes.c_ubyte), ("variant", ctypes.c_ubyte), ("xx1", ctypes.c_ubyte),
                ("score", ctypes.c_int), ("spare", ctypes.c_void_p)]


CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                            ctypes.c_void_p)


def load() -> ctypes.CDLL:
    lib = ctypes.CDLL(ctypes.util.find_library("espeak-ng") or "libespeak-ng.so.1")
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_SetVoiceByProperties.argtypes = [ctypes.POINTER(VoiceSpec)]
    lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.espeak_Synth.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
                                 ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
    return lib


def read_exactly(fd: int, n: int) -> bytes:
    parts, got = [], 0
    while got < n:
        part = os.read(fd, n - got)
        if not part:
            break
        parts.append(part)
        got += len(part)
    return b"".join(parts)


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def synthesise(lib: ctypes.CDLL, chunks: list, request: dict) -> bytes:
    """In the child: the command's calls, in its order; status + samples."""
    voice = request["voice"].encode()
    status = lib.espeak_SetVoiceByName(voice)
    if status != 0:  # as the command does: the name as a language (``en-gb+f1``)
        status = lib.espeak_SetVoiceByProperties(ctypes.byref(VoiceSpec(languages=voice)))
    if status == 0:
        lib.espeak_SetParameter(RATE, int(request["rate"]), 0)
        lib.espeak_SetParameter(PITCH, int(request["pitch"]), 0)
        text = request["text"].encode()
        status = lib.espeak_Synth(text, len(text) + 1, 0, POS_CHARACTER, 0, SYNTH_FLAGS, None,
                                  None) or lib.espeak_Synchronize()
    return struct.pack("<i", status) + b"".join(chunks)


def main() -> None:
    stdin, stdout = sys.stdin.fileno(), sys.stdout.fileno()
    try:
        lib = load()
        rate = lib.espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, None, INITIALIZE_DONT_EXIT)
    except OSError:
        rate = -1
    if rate <= 0:
        write_all(stdout, struct.pack("<i", -1))
        return
    chunks: list[bytes] = []

    def collect(wav, n, _events):  # noqa: ANN001, ANN202 - a C callback
        if wav and n > 0:
            chunks.append(ctypes.string_at(wav, 2 * n))
        return 0

    callback = CALLBACK(collect)
    lib.espeak_SetSynthCallback(callback)
    lib.espeak_SetVoiceByName(b"en-us")  # loaded once here, not in every child
    write_all(stdout, struct.pack("<i", rate))
    while True:
        head = read_exactly(stdin, 4)
        if len(head) < 4:
            return
        request = json.loads(read_exactly(stdin, struct.unpack("<I", head)[0]))
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: synthesise once, send, exit without cleanup
            os.close(r)
            try:
                answer = synthesise(lib, chunks, request)
            except Exception:  # noqa: BLE001 - any failure is an answer, never a hang
                answer = struct.pack("<i", -2)
            write_all(w, answer)
            os._exit(0)
        os.close(w)
        parts = []
        while part := os.read(r, 1 << 20):
            parts.append(part)
        os.close(r)
        _, status = os.waitpid(pid, 0)
        # a child that did not exit cleanly (killed mid-answer: out of memory) may have sent
        # part of its samples, which the client would take, and cache, as the utterance
        answer = b"".join(parts) if status == 0 and parts else struct.pack("<i", -3)
        write_all(stdout, struct.pack("<I", len(answer)) + answer)


if __name__ == "__main__":
    main()
