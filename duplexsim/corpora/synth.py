"""Synthetic conversations: the turn-taking process rendered with TTS, or without it.

:func:`generate` draws one conversation's style and turn-taking process
(:mod:`duplexsim.corpora.turn_process`) and renders each utterance with espeak-ng
(:mod:`duplexsim.corpora.speakers`: text from the chitchat-dataset word stream; the realised
duration is what gets annotated, so the annotations match the audio exactly);
:func:`simulate_timeline` gives the same process without any TTS. Both run at the central
speaker that makes a pooled corpus realise the preset (:mod:`duplexsim.corpora.calibration`).
With ``yield_cue`` the words say what comes next: an IPU before a hand-over ends in a
question tag (``YIELD_TAGS``, question intonation), one before a pause with a comma; the
timeline is the same draw for draw. With ``overlap_dropout_ms`` an IPU the process cut when
overlapped has its speech cut there too. Must not know about tokenizers or the corpus
directory layout.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from duplexsim.corpora.calibration import (
    check_realisable,
    population_centres,
    validate_synth_toml,
)
from duplexsim.corpora.config import PRESETS, SynthConfig, load_config
from duplexsim.corpora.speakers import Speaker, TextStream, rms
from duplexsim.corpora.style import ConversationStyle, draw_style
from duplexsim.corpora.turn_process import (
    Utter,
    conversation_streams,
    ipu_draw_scale_for,
    tempo_drift,
    timeline,
    turn_taking,
)
from duplexsim.corpora.types import Segment

# re-exported for callers of this module: PRESETS, SynthConfig and load_config
# (duplexsim.corpora.config), the process (turn_process) and its calibration (calibration)
__all__ = ["PRESETS", "SynthConfig", "TextStream", "Utter", "check_realisable",
           "conversation_style", "generate", "ipu_draw_scale_for", "load_config",
           "population_centres", "simulate_timeline", "turn_taking", "validate_synth_toml"]

BACKCHANNELS = ("yeah", "mhm", "uh huh", "right", "okay", "yes", "oh", "sure", "i see", "wow")
# question tags that end an IPU after which the speaker hands over (``yield_cue``)
YIELD_TAGS = ("you know", "right", "don't you think", "what about you", "isn't it",
              "how about you", "you see", "do you")

# the fade that ends speech cut when overlapped (``overlap_dropout_ms``) without a click
_CUT_FADE_S = 0.01


def _cut(wave: np.ndarray, n: int, fade: int) -> np.ndarray:
    """The first ``n`` samples of ``wave``, faded out over the last ``fade``."""
    out = wave[:n].copy()
    k = min(fade, n)
    out[n - k:] *= np.linspace(1.0, 0.0, k, dtype=out.dtype)
    return out


def conversation_style(cfg: SynthConfig, seed: int | np.random.SeedSequence) -> ConversationStyle:
    """The style conversation ``seed`` is drawn with (what :func:`generate` and
    :func:`simulate_timeline` use; cheap: no process, no TTS). Its speakers' parameters:
    ``style.speaker(cfg, population_centres(cfg), who)``; for the manifest
    ``style.record(cfg, population_centres(cfg))``."""
    ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    return draw_style(cfg, np.random.default_rng(conversation_streams(ss)[2]))


def simulate_timeline(cfg: SynthConfig, seed: int | np.random.SeedSequence) -> list[Segment]:
    """Segments of one conversation without TTS: IPUs last their target (0.25..12 s),
    backchannels 0.25-0.6 s (espeak-ng's range for the words used). For testing the
    process's statistics over many hours in well under a second. Same style as
    :func:`generate` draws for ``seed`` (:func:`conversation_style`)."""
    ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    return timeline(cfg, ss, None, population_centres(cfg))


def generate(cfg: SynthConfig, seed: np.random.SeedSequence,
             cache_dir: str | Path | None = None) -> tuple[np.ndarray, list[Segment], dict]:
    """One conversation: ``(audio [2, N] float32, segments, meta)``; deterministic in seed.

    ``meta``: ``{"voices": [...], "style": ConversationStyle.record}``."""
    proc_ss, render_ss, _, _ = conversation_streams(seed)
    rng = np.random.default_rng(render_ss)
    text = TextStream(rng)
    styles = tempo_drift(cfg, seed, population_centres(cfg))
    voices = [styles.speaker(w, 0.0).tts_voice() for w in (0, 1)]
    cache = Path(cache_dir) if cache_dir is not None else None
    spk = [Speaker(v, 10 ** ((cfg.level_db + rng.uniform(-3, 3)) / 20), cfg, cache)
           for v in voices]
    sr = cfg.sample_rate_hz

    def utter(speaker: int, kind: str, target_s: float) -> tuple[str, float, object]:
        if kind == "backchannel":
            words = BACKCHANNELS[int(rng.integers(len(BACKCHANNELS)))]
            wave = spk[speaker].say(words)
            wave = wave * spk[speaker].gain / max(rms(wave), 1e-6)
        elif cfg.yield_cue and kind == "turn-end":
            tag = YIELD_TAGS[int(rng.integers(len(YIELD_TAGS)))]
            words, wave = spk[speaker].ipu(target_s, text, tag, "?")
        else:
            words, wave = spk[speaker].ipu(target_s, text, end="," if cfg.yield_cue else "")
        return words, len(wave) / sr, wave

    placed = turn_taking(cfg, np.random.default_rng(proc_ss), utter, styles)
    audio = np.zeros((2, int(round(cfg.conversation_s * sr))), dtype=np.float32)
    for seg, wave in placed:
        if not isinstance(wave, np.ndarray):  # utter's payload: its wave
            raise TypeError(f"generate: a placed utterance holds {type(wave).__name__}, "
                            "not its wave")
        i = int(round(seg.start_s * sr))
        n = int(round((seg.end_s - seg.start_s) * sr))
        if n < len(wave) - int(_CUT_FADE_S * sr):  # dropped out when overlapped
            wave = _cut(wave, n, int(_CUT_FADE_S * sr))
        w = wave[: max(0, audio.shape[1] - i)]
        audio[seg.speaker, i : i + len(w)] += w
    segments = [seg for seg, _ in placed]
    audio += rng.normal(0.0, 10 ** (cfg.noise_db / 20), audio.shape)
    meta = {"voices": [v.key() for v in voices], "style": styles.style.record(cfg, styles.centres)}
    return np.clip(audio, -1, 1).astype(np.float32), segments, meta
