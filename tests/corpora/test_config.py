"""SynthConfig: the corpus schema's checks."""
from __future__ import annotations

import dataclasses
import json

import numpy as np

from duplexsim.corpora.build import build_record
from duplexsim.corpora.config import SynthConfig, load_config


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
