"""The speakers of synthetic conversations: IPUs sized from words espeak-ng says (real
espeak-ng)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from duplexsim.corpora import tts
from duplexsim.corpora.config import PRESETS
from duplexsim.corpora.speakers import Speaker
from duplexsim.corpora.tts import Voice
from duplexsim.errors import InputError

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None,
                                reason="espeak-ng not installed")


def test_an_ipu_of_words_espeak_says_as_nothing_takes_more_words(tmp_path: Path) -> None:
    """chitchat-dataset has the word "'", which espeak-ng says as no sound: a one-word IPU
    of it was placed and annotated with 0 s and no audio."""

    class Words:
        def __init__(self) -> None:
            self.words = ["'", "hello", "there"]

        def take(self, n: int) -> str:
            out, self.words = self.words[:n], self.words[n:]
            return " ".join(out)

    assert tts.speak("'", Voice(), 8000, tmp_path).size == 0
    speaker = Speaker(Voice("en-us", 50, 175), 0.1, PRESETS["fisher-like"], tmp_path)
    words, wave = speaker.ipu(0.3, Words())  # type: ignore[arg-type]
    assert words == "' hello" and wave.size > 0.1 * 8000 and np.isfinite(wave).all()

    class Quotes(Words):  # nothing it says sounds: one line, not a build that never ends
        def take(self, n: int) -> str:
            return " ".join(["'"] * n)

    with pytest.raises(InputError, match=r"^espeak-ng: gave no sound for \"' ' ' "):
        speaker.ipu(0.3, Quotes())  # type: ignore[arg-type]
