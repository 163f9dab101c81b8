"""SynthConfig: the corpus schema's checks."""
from __future__ import annotations

import dataclasses
import json
import re

import numpy as np
import pytest

from duplexsim.corpora.config import SynthConfig, load_config
from duplexsim.corpora.rebuild import build_record
from duplexsim.errors import ConfigError


def test_numpy_scalars_make_the_config_written_with_plain_numbers() -> None:
    """A config built from NumPy values (a sweep's np.linspace) checks, hashes and writes as
    the one written with Python numbers: np.int64(16000) was refused as an unsupported
    rate, and np.float64 fields went into build.json as NumPy values."""
    cfg = load_config("fisher-like", conversation_s=np.float64(60.0),
                      sample_rate_hz=np.int64(16000), p_yield=np.float64(0.5),
                      rate_wpm=(np.int64(150), np.int64(190)))
    plain = load_config("fisher-like", conversation_s=60.0, sample_rate_hz=16000,
                        p_yield=0.5, rate_wpm=(150, 190))
    assert cfg == plain and hash(cfg) == hash(plain)
    assert all(type(v) is type(getattr(plain, k)) for k, v in dataclasses.asdict(cfg).items())
    assert json.dumps(build_record(cfg, 0, "fisher-like", 501, None)) == json.dumps(
        build_record(plain, 0, "fisher-like", 501, None))
    assert type(SynthConfig(rate_wpm=[np.int64(150), np.int64(190)]).rate_wpm[0]) is int


@pytest.mark.parametrize(("key", "value", "message"), [
    ("rate_wpm", ["1", 2], "must be whole numbers, got ['1', 2]"),
    ("pitch", [True, 50], "must be whole numbers, got [True, 50]"),
    ("pitch", [25.5, 70], "must be whole numbers, got [25.5, 70]"),
    ("rate_wpm", 150, "must be a pair, got 150"),
    ("rate_wpm", "ab", "must be a pair, got 'ab'"),
    ("pitch", [10], "must be a pair, got [10]"),
    ("rate_wpm", [500, 100], "[500, 100]")])
def test_a_pair_field_that_is_no_pair_of_whole_numbers_is_one_line(
        key: str, value: object, message: str) -> None:
    """rate_wpm=["1", 2] (a keyword) was reported as "['1', 2]" with the range, rate_wpm=150
    raised a TypeError, and pitch=[25.5, 70] was drawn as 25 .. 70; a TOML file's reader
    already said "wrong type" for each. Now each is one line naming the field and its range."""
    low, high = (80, 450) if key == "rate_wpm" else (0, 99)
    allowed = f"[low, high] with {low} <= low <= high <= {high}"
    with pytest.raises(ConfigError, match=rf"^{key}: {re.escape(message)} "
                                          rf"\(allowed: {re.escape(allowed)}\)$"):
        load_config("fisher-like", **{key: value})


@pytest.mark.parametrize(("seconds", "nearest"), [(20.01, "20"), (8.02, "8.04"), (5.001, "5")])
def test_a_conversation_of_no_whole_number_of_unit_frames_is_refused(
        seconds: float, nearest: str, tmp_path) -> None:
    """conversation_s = 20.01 built units of 500 frames under a manifest whose duration_s
    said 500.25 of them. Now a keyword and a config file's key are each refused in one line
    naming the key and the nearest allowed length; a length of whole 40 ms frames passes."""
    line = (rf"conversation_s: {seconds} s is not a whole number of 40 ms unit frames "
            rf"\(allowed: a multiple of 0.04 s, e.g. {re.escape(nearest)}\)$")
    with pytest.raises(ConfigError, match="^" + line):
        load_config("fisher-like", conversation_s=seconds)
    path = tmp_path / "c.toml"
    path.write_text(f"conversation_s = {seconds}\n")
    with pytest.raises(ConfigError, match=f"^{re.escape(str(path))}: " + line):
        load_config("fisher-like", path)
    for whole in (8.04, 20.0, 45.0, 1800.0):  # 8.04 * 25 is 200.99999999999997 in floats
        assert load_config("fisher-like", conversation_s=whole).conversation_s == whole
