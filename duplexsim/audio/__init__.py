"""Audio I/O, resampling and framing arithmetic (ms <-> frames <-> chunks <-> samples).

Owns reading/writing sound files (soundfile; SPHERE handling), sample-rate conversion
(scipy ``resample_poly``) and the 40 ms unit-frame grid. Must not know about units,
tokens, corpora or the simulator.
"""

from duplexsim.audio.framing import (
    FRAME_RATE_HZ,
    chunks_to_frames,
    frames_per_chunk,
    frames_to_ms,
    frames_to_samples,
    ms_to_frames,
    n_frames,
    samples_per_frame,
)
from duplexsim.audio.io import AudioError, read_audio, resample, write_audio
from duplexsim.tokens import FRAME_MS

__all__ = [
    "FRAME_MS", "FRAME_RATE_HZ", "AudioError", "chunks_to_frames", "frames_per_chunk",
    "frames_to_ms", "frames_to_samples", "ms_to_frames", "n_frames", "read_audio", "resample",
    "samples_per_frame", "write_audio",
]
