"""K-means unit tokenizers (mel-kmeans, hubert-kmeans): train, encode, decode, save, load.

Voice activity is decided explicitly, not left to the clustering: a frame is speech when
more than half of its 10 ms sub-frames have 60 Hz-4 kHz energy above a threshold learned in
training (from the corpus's annotations when given, else by Otsu's method); short silent
holes inside speech are filled (energy_vad.py). Silence frames get the silence units
``0..n_silence_units-1`` (unit 0 is the canonical silence), speech frames the remaining
k-means units. So voice activity reads
off the units exactly. Decoding uses each unit's mean magnitude spectrum (vocoder.py).
Training's passes are in fitting.py; what a hubert-kmeans tokenizer records of its HuBERT,
and the checks of it, in hubert_record.py.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load_file, save_file

from duplexsim.atomic import output_dir, write_json
from duplexsim.config.field_errors import check
from duplexsim.config.loader import from_dict
from duplexsim.config.readers import json_number, read_json
from duplexsim.errors import InputError, MissingInputError
from duplexsim.threads import warn_unpinned_openblas
from duplexsim.tokens import DEFAULT_N_UNITS, MAX_N_UNITS
from duplexsim.units import features as F
from duplexsim.units.energy_vad import annotated_threshold, fill_holes, frame_vad, otsu_threshold
from duplexsim.units.fitting import (
    Channels,
    feature_pass,
    spectra_pass,
    speech_threshold,
    unit_centroids,
)
from duplexsim.units.hubert_record import (
    HUBERT_WEIGHTS,
    check_hubert_digest,
    hubert_fingerprint,
    recorded_hubert,
)

if TYPE_CHECKING:
    from duplexsim.units.hubert import HubertFeatures

FORMAT = "duplexsim-tokenizer/1"
TYPES = ("mel-kmeans", "hubert-kmeans")
ASSIGN_BLOCK_FRAMES = 16384
"""Frames :meth:`KMeansTokenizer.assign` compares with the centroids at a time (11 minutes):
its float64 distances take at most 16384 * K * 8 bytes (262 MB for 2000 HuBERT units,
66 MB for 501), whatever the stream's length."""
TOKENIZER_FILES = ("arrays.safetensors", "config.json")
"""The files a saved tokenizer consists of (config.json is written last)."""


@dataclass(frozen=True)
class TokenizerConfig:
    """How a k-means tokenizer is built (written into its config.json)."""

    type: str = "mel-kmeans"
    n_units: int = DEFAULT_N_UNITS  # the paper's HuBERT k-means inventory size
    n_silence_units: int = 1  # one silence unit keeps deduplicated silence to one token
    n_mels: int = 64
    vad_fill_frames: int = 2  # silent holes <= 80 ms inside speech are speech (stop closures)
    hubert_dir: str = ""
    hubert_layer: int = 6
    max_train_frames: int = 200_000
    seed: int = 0

    def __post_init__(self) -> None:
        check(self.type in TYPES, "type", f"unknown tokenizer {self.type!r}", ", ".join(TYPES))
        check(1 <= self.n_silence_units <= 1024, "n_silence_units", "out of range", "1 .. 1024")
        check(self.n_silence_units < self.n_units <= MAX_N_UNITS, "n_units",
              f"{self.n_units} is out of range", f"{self.n_silence_units + 1} .. {MAX_N_UNITS}")
        check(1 <= self.n_mels <= 512, "n_mels", f"{self.n_mels} is out of range", "1 .. 512")
        check(0 <= self.vad_fill_frames <= 1000, "vad_fill_frames", "out of range", "0 .. 1000")
        check(0 <= self.hubert_layer <= 64, "hubert_layer", "out of range", "0 .. 64")
        check(1 <= self.max_train_frames <= 10**9, "max_train_frames", "out of range",
              "1 .. 1e9")
        check(0 <= self.seed < 2**32, "seed", f"{self.seed} is out of range",
              "0 .. 2**32 - 1 (scikit-learn's random_state)")
        check(self.type != "hubert-kmeans" or bool(self.hubert_dir), "hubert_dir",
              "hubert-kmeans needs a local model directory", "a path")


class KMeansTokenizer:
    """A trained k-means tokenizer (implements the ``UnitTokenizer`` protocol)."""

    sample_rate_hz = F.FEATURE_SR_HZ

    def __init__(self, config: TokenizerConfig, centroids: np.ndarray, unit_spectra: np.ndarray,
                 threshold_db: float, hubert: dict[str, Any] | None = None):
        self.config = config
        self.hubert = hubert
        """hubert-kmeans: :func:`hubert_fingerprint` of the model it was trained with (None
        in tokenizers saved before it was recorded, and for mel-kmeans)."""
        self.centroids = np.asarray(centroids, dtype=np.float32)  # [n_units, D]
        self.unit_spectra = np.asarray(unit_spectra, dtype=np.float32)  # [n_units, F]
        self.threshold_db = float(threshold_db)
        self.n_units = config.n_units
        self.silence_units = frozenset(range(config.n_silence_units))
        self.silence_unit = 0
        self._mel = F.mel_filterbank(config.n_mels)
        self._hubert: HubertFeatures | None = None
        self._loaded = False
        """Made by :meth:`load` (HuBERT settings it does not record are those of before they
        were recorded), not by training."""
        self._unchecked_hubert: str | None = None
        """load(): the config.json whose recorded HuBERT digest :meth:`check_hubert` has yet
        to compare with ``hubert_dir`` (None: nothing left to check)."""
        self._training_hubert: dict[str, Any] = {}
        """:func:`train_tokenizer`: the HubertFeatures settings it was asked for
        (``context_s``); the rest, and all of them when empty, are HubertFeatures' defaults."""

    # -- features -------------------------------------------------------------------------
    def frame_features(self, wave: np.ndarray, sample_rate: int
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(features [T, D], sub-frame energy_db [T, 4], magnitude [T, F])`` of one channel."""
        w16 = F.to_feature_rate(wave, sample_rate)
        power = F.power_frames(w16)
        energy = F.band_energy_db(w16)
        if self.config.type == "hubert-kmeans":
            if self._hubert is None:
                from duplexsim.units.hubert import HubertFeatures

                self.check_hubert()
                # as trained: while training, HubertFeatures' defaults (normalize: as the
                # model expects) but for what train_tokenizer was given; loaded, as recorded,
                # and what a tokenizer saved before a setting (or the whole record) was kept
                # does not record, as it was then (raw samples, 30 s chunks run without context)
                recorded = self.hubert if self.hubert is not None else {} if self._loaded \
                    else None
                as_trained = self._training_hubert if recorded is None else {
                    "normalize": recorded.get("normalize", False),
                    "chunk_s": recorded.get("chunk_s", 30.0),
                    "context_s": recorded.get("context_s", 0.0)}
                self._hubert = HubertFeatures(self.config.hubert_dir, self.config.hubert_layer,
                                              **as_trained)
            feats = self._hubert(w16)
        else:
            feats = F.log_mel(power, self._mel)
        return feats, energy, np.sqrt(power)

    def check_hubert(self) -> None:
        """Refuse (:class:`InputError` naming config.json) a ``hubert_dir`` that now holds
        another HuBERT than the one this loaded tokenizer records. Run before HuBERT first
        encodes, not at load: it hashes the model's weights (seconds for a real HuBERT),
        which decoding and reading silence units (replay, the envs, traces) never use."""
        if self._unchecked_hubert is not None and self.hubert is not None:
            check_hubert_digest(self.hubert, self._unchecked_hubert, self.config.hubert_dir)
        self._unchecked_hubert = None

    def voice_activity(self, energy_db: np.ndarray) -> np.ndarray:
        """Speech frames from sub-frame band energy ``[T, 4]`` (see :func:`frame_vad`)."""
        return frame_vad(energy_db, self.threshold_db, self.config.vad_fill_frames)

    def assign(self, feats: np.ndarray, speech: np.ndarray) -> np.ndarray:
        """Nearest silence centroid for silent frames, nearest speech centroid otherwise.

        Distances are computed in float64: in float32 ``|c|^2 - 2 x.c`` (~400 for log-mel
        features) is off by up to 2.4e-3, while the demo corpora hold frames whose two
        nearest centroids are 6e-5 apart, so which one won followed the BLAS kernel (one
        frame of the demo's candor-like units under OpenBLAS's AVX-512 kernels against its
        AVX2 ones). In float64 the error is ~2e-12, so the choice no longer depends on the
        BLAS (the log-mel features themselves still differ between kernels in the last bit
        of float32, which moves a distance by ~1e-6).
        """
        n_sil = self.config.n_silence_units
        groups = []  # (is speech, first unit, [K, D] centroids, [K] |c|^2)
        for is_speech, lo, hi in ((False, 0, n_sil), (True, n_sil, self.n_units)):
            c = self.centroids[lo:hi].astype(np.float64)
            groups.append((is_speech, lo, c, (c * c).sum(1)))
        units = np.zeros(feats.shape[0], dtype=np.int64)
        # In blocks of ASSIGN_BLOCK_FRAMES rows: the [T, K] float64 distances of an hour
        # (90k frames) against 2000 HuBERT units were 1.4 GB. A frame's unit does not depend
        # on which rows share its block (the demo corpora re-encode to their stored units
        # with blocks of 16384 and of 1000 frames).
        for start in range(0, feats.shape[0], ASSIGN_BLOCK_FRAMES):
            rows = slice(start, start + ASSIGN_BLOCK_FRAMES)
            for is_speech, lo, c, cc in groups:
                mask = speech[rows] == is_speech
                if not mask.any() or len(c) == 1:
                    units[rows][mask] = lo
                    continue
                x = feats[rows][mask].astype(np.float64)  # [B', D]
                d = cc[None] - 2.0 * (x @ c.T)  # [B', K]; |x|^2 is constant per row
                units[rows][mask] = lo + np.argmin(d, axis=1)
        return units

    # -- protocol -------------------------------------------------------------------------
    def encode(self, wave: np.ndarray, sample_rate: int) -> np.ndarray:
        """``[N]`` wave -> ``[N * 25 // sample_rate]`` int64 units."""
        feats, energy, _ = self.frame_features(wave, sample_rate)
        return self.assign(feats, self.voice_activity(energy))

    def decode(self, units: np.ndarray, seed: int = 0) -> np.ndarray:
        """``[T]`` units -> 16 kHz float32 wave of ``T * 640`` samples."""
        from duplexsim.units.vocoder import griffin_lim  # torch: only when vocoding

        # (griffin_lim checks the ids and looks their spectra up one block at a time: a
        # whole [T, 513] float32 array was 31 MB per 10 minutes)
        return griffin_lim(self.unit_spectra, seed=seed, units=units)

    def is_speech(self, units: np.ndarray) -> np.ndarray:
        """Voice activity read off units: True where a unit is not a silence unit."""
        return np.asarray(units) >= self.config.n_silence_units

    def save(self, directory: str | Path) -> None:
        """Write ``config.json`` (versioned) and ``arrays.safetensors`` into ``directory``
        together (:func:`~duplexsim.atomic.output_dir`): a save cut short leaves the folder
        as it was, or, in the last moves, without config.json (refused on load); never the
        new arrays under an older config.json."""
        hubert = {} if self.hubert is None else {"hubert": self.hubert}
        with output_dir(directory, owned=TOKENIZER_FILES, last=("config.json",)) as stage:
            save_file({"centroids": self.centroids, "unit_spectra": self.unit_spectra},
                      str(stage / "arrays.safetensors"))
            write_json(stage / "config.json", {
                "format": FORMAT, "config": asdict(self.config),
                "threshold_db": self.threshold_db, "silence_units": sorted(self.silence_units),
                "silence_unit": self.silence_unit, "sample_rate_hz": self.sample_rate_hz,
                **hubert})

    @classmethod
    def load(cls, directory: str | Path) -> KMeansTokenizer:
        """Read a saved tokenizer, checking every value (names the file and key)."""
        d = Path(directory)
        file = str(d / "config.json")
        meta = read_json(file, what="tokenizer config.json")
        if meta.get("format") != FORMAT:
            raise InputError(file, "format", f"{meta.get('format')!r}", FORMAT)
        if not isinstance(meta.get("config"), dict):
            raise InputError(file, "config", "missing or not a table", "a JSON object")
        config = from_dict(TokenizerConfig, meta["config"], file=file, prefix="config")
        if config.type == "hubert-kmeans" and not Path(config.hubert_dir).is_dir():
            # (it was read at the first encode, from the current folder when relative)
            raise MissingInputError(file, "config.hubert_dir", f"{config.hubert_dir!r} is not "
                                    f"a folder (from {Path.cwd()})", "the HuBERT folder the "
                                    "tokenizer was trained with, as an absolute path")
        hubert = recorded_hubert(meta, file, config.hubert_dir) \
            if config.type == "hubert-kmeans" else None
        threshold = json_number(meta, file, "threshold_db", -400.0, 400.0)
        arrays = _read_arrays(d / "arrays.safetensors", config, hubert)
        tok = cls(config, arrays["centroids"], arrays["unit_spectra"], threshold, hubert)
        tok._unchecked_hubert, tok._loaded = file, True
        return tok


def _read_arrays(arrays_file: Path, config: TokenizerConfig,
                 hubert: dict[str, Any] | None) -> dict[str, np.ndarray]:
    """A saved tokenizer's ``centroids`` and ``unit_spectra``, each checked: finite floats of
    ``n_units`` rows, the centroids as wide as the features (names the file and array)."""
    try:
        arrays = load_file(str(arrays_file))
    except FileNotFoundError:
        raise MissingInputError(str(arrays_file), "", "missing",
                                "the arrays `duplexsim units train` wrote") from None
    except SafetensorError as e:
        raise InputError(str(arrays_file), "", f"corrupt or truncated ({e})",
                         "the arrays `duplexsim units train` wrote") from None
    # the centroids' width is the features': n_mels, or the recorded HuBERT's hidden_size
    # (else encode ended in numpy's "matmul: Input operand 1 has a mismatch")
    feature_width, source = (config.n_mels, "config.n_mels") \
        if config.type == "mel-kmeans" else (
        None if hubert is None else hubert["hidden_size"], "the HuBERT's hidden_size")
    for name, width in (("centroids", feature_width), ("unit_spectra", F.N_FFT // 2 + 1)):
        a = arrays.get(name)
        ok = (a is not None and a.ndim == 2 and a.shape[0] == config.n_units
              and (width is None or a.shape[1] == width) and a.shape[1] > 0
              and np.issubdtype(a.dtype, np.floating) and bool(np.isfinite(a).all()))
        if not ok:
            shape = "missing" if a is None else f"{a.dtype} {list(a.shape)}"
            of = (f" ({source} in config.json)" if name == "centroids" and a is not None
                  and a.ndim == 2 and width and a.shape[1] != width else "")
            raise InputError(str(arrays_file), name, f"{shape} (not finite or wrong shape)",
                             f"finite floats [{config.n_units}, {width or 'D'}]{of}")
    return arrays


def train_tokenizer(
    channels: Channels,
    config: TokenizerConfig = TokenizerConfig(),
    workers: int = 1,
    context_s: float | None = None,
) -> KMeansTokenizer:
    """Fit a tokenizer on ``(wave [N], sample_rate, annotated speech [T] | None)`` channels.

    ``channels`` is iterated twice (features, then per-unit spectra), so pass a list or a
    re-iterable source; memory stays at the size of the features, not of the spectra.
    ``workers`` > 1 computes each channel's features in that many processes (a few channels
    in flight at a time); the fit, and the order in which spectra are summed, stay in this
    process, so the tokenizer is the same bytes for any ``workers``. ``context_s``
    (hubert-kmeans only): the seconds of audio each side of a HuBERT chunk run with it
    (None: :data:`~duplexsim.units.hubert.CONTEXT_S`); recorded, as every HuBERT setting is.
    """
    if iter(channels) is channels:  # a generator: the second pass would find it empty
        raise InputError("train_tokenizer", "channels", "a one-shot iterator (the channels "
                         "are read twice: features, then the units' spectra)",
                         "a list, or an object whose __iter__ starts over")
    if context_s is not None and config.type != "hubert-kmeans":
        raise InputError("train_tokenizer", "context_s", f"only read by hubert-kmeans, not "
                         f"{config.type}", "None with mel-kmeans")
    tok = KMeansTokenizer(config, np.zeros((config.n_units, 1)), np.zeros((config.n_units, 1)),
                          0.0)
    if context_s is not None:  # (checked where HuBERT is loaded, naming its folder)
        tok._training_hubert = {"context_s": context_s}
    warn_unpinned_openblas()  # the k-means' centroids follow OpenBLAS's kernels
    if config.type == "hubert-kmeans":
        workers = 1  # HuBERT is loaded once, in this process
    feats, energy, masks = feature_pass(tok, channels, workers)
    if config.type == "hubert-kmeans":  # (after the features: HuBERT's own load errors first)
        assert tok._hubert is not None  # (made by the first channel's features, in-process)
        tok.hubert = {**hubert_fingerprint(config.hubert_dir),
                      "normalize": tok._hubert.normalize, "chunk_s": tok._hubert.chunk_s,
                      "context_s": tok._hubert.context_s}
    tok.threshold_db = speech_threshold(energy, masks, config.vad_fill_frames)
    tok.centroids = unit_centroids(tok, feats, energy)
    del feats
    tok.unit_spectra = spectra_pass(tok, channels, workers, len(energy),
                                    sum(len(e) for e in energy))
    return tok


# fill_holes, otsu_threshold, frame_vad and annotated_threshold live in energy_vad.py,
# HUBERT_WEIGHTS and hubert_fingerprint in hubert_record.py: importable from here as before
__all__ = ["ASSIGN_BLOCK_FRAMES", "FORMAT", "HUBERT_WEIGHTS", "TOKENIZER_FILES", "TYPES",
           "KMeansTokenizer", "TokenizerConfig", "annotated_threshold", "fill_holes",
           "frame_vad", "hubert_fingerprint", "otsu_threshold", "train_tokenizer"]
