"""HuBERT features at 25 Hz from a model in a LOCAL directory (no download, ever).

Loads ``transformers.HubertModel.from_pretrained(dir, local_files_only=True)``, runs it on
16 kHz audio (standardised first where the model was trained so: see
:func:`expects_normalized_input`), takes hidden layer ``layer`` (50 Hz) and averages frame
pairs to the 25 Hz unit grid. Used by the hubert-kmeans tokenizer; must not know about
k-means or corpora.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from duplexsim.config.readers import json_number
from duplexsim.errors import InputError, MissingInputError
from duplexsim.timebase import frames_from_s
from duplexsim.tokens import FRAME_MS

CHUNK_S = 30.0
"""Seconds of audio HuBERT runs on at once (memory: attention is quadratic in length); every
hubert-kmeans tokenizer saved before the chunk was recorded used 30 s."""
CONTEXT_S = 2.0
"""Seconds of audio each side of a chunk that new tokenizers run HuBERT on: its positional
conv embedding spans 128 frames at 50 Hz (2.56 s, 1.28 s each side) and attention is
global, so a chunk's frames within ~1-2 s of a cut edge came out otherwise than from the
continuous recording."""
RANGES_S = {"chunk_s": (0.04, 600.0), "context_s": (0.0, 600.0)}
"""Allowed ``chunk_s`` (one 40 ms frame .. 10 min) and ``context_s`` (none .. 10 min), in
calls and in a tokenizer's record; both are rounded to whole 40 ms frames, half a frame up
(:func:`~duplexsim.timebase.frames_from_s`)."""


class HubertFeatures:
    """Callable: 16 kHz mono wave (whole 40 ms frames) -> ``[T, hidden]`` float32.

    The model runs on ``chunk_s`` stretches (memory: attention is quadratic in length), each
    with ``context_s`` of the audio around it (clipped to the file) whose frames are dropped.
    Measured on a random 2-layer HuBERT (hidden 32, positional conv of 128 frames as in
    HuBERT base/large, layer 2) over a 10 s wave cut into 2 s chunks: within 0.5 s of the
    4 internal edges, the mean |difference| from one forward over the whole file was 0.119
    without context (cosine 0.977; features' mean |value| 0.63) and 0.0029 with 2 s (cosine
    0.99999), as far from the edges (0.0031, what the whole-clip group norm and global
    attention leave); with a layer-norm extractor (standardised input) 0.0132 -> 0.0005.
    """

    def __init__(self, model_dir: str | Path, layer: int = 6, chunk_s: float = CHUNK_S,
                 normalize: bool | None = None, context_s: float = CONTEXT_S):
        path = Path(model_dir)
        if not (path / "config.json").is_file():
            raise MissingInputError(
                str(path), "", "no HuBERT model here (config.json missing)",
                "a folder saved with HubertModel.save_pretrained(dir), downloaded beforehand")
        given = {"chunk_s": chunk_s, "context_s": context_s}
        for key, (low, high) in RANGES_S.items():  # (bools, NaN too; before the model loads)
            json_number(given, str(path), key, low, high)
        self.model = _load_hubert(path)
        n_layers = self.model.config.num_hidden_layers
        if not 0 <= layer <= n_layers:
            # (named with the model: the flag or tokenizer setting alone did not say which)
            raise InputError(str(path), "hubert_layer", f"{layer} is out of range for this "
                             f"HuBERT of {n_layers} layers (config.json num_hidden_layers)",
                             f"0..{n_layers}")
        self.layer = layer
        self.normalize = expects_normalized_input(self.model.config) if normalize is None \
            else normalize
        """The samples fed for each chunk (its context included) standardised (zero mean,
        unit variance) before the model; None: as the model expects (a tokenizer passes what
        it was trained with)."""
        # half a frame up, as every length in seconds (``round`` went to even: a 0.1 s chunk
        # was 2 frames, 0.02 s of context none); a recorded ``chunk_frames / 25`` gives back
        # the same count (``int`` lost a frame for 925 of 1..15000), so every tokenizer saved,
        # which records whole frames only, encodes as before
        self.chunk_frames = frames_from_s(chunk_s, FRAME_MS)
        """40 ms frames run through the model at a time."""
        self.context_frames = frames_from_s(context_s, FRAME_MS)
        """40 ms frames of audio run through the model on each side of a chunk (clipped to
        the file) and dropped from its output, so that a chunk's edge frames see what they
        would in one forward over the whole file; 0: chunks run alone (tokenizers saved
        before the context was recorded)."""

    @property
    def chunk_s(self) -> float:
        """The chunk actually used, in seconds (whole 40 ms frames)."""
        return self.chunk_frames / 25

    @property
    def context_s(self) -> float:
        """The context actually used, in seconds (whole 40 ms frames)."""
        return self.context_frames / 25

    def __call__(self, wave16k: np.ndarray) -> np.ndarray:
        import torch  # (here, not at the top: a tokenizer's load reads RANGES_S)

        t = wave16k.shape[0] // 640
        out = np.zeros((t, self.model.config.hidden_size), dtype=np.float32)
        c = self.context_frames
        with torch.no_grad():
            for b in range(0, t, self.chunk_frames):
                e = min(t, b + self.chunk_frames)
                lo, hi = max(0, b - c), min(t, e + c)  # the chunk and its context, in the file
                x = torch.from_numpy(np.ascontiguousarray(wave16k[lo * 640 : hi * 640]))
                if self.normalize:  # the samples fed (fairseq: the clip's), context in, no pad
                    x = torch.nn.functional.layer_norm(x, x.shape)
                # the conv stack sees 400 samples every 320: 40 zeros on the left centre its
                # frame k on samples [320k, 320k + 320); 40 + 320 on the right give 2n + 1
                # frames for n 40 ms frames (2n with 40 alone), the last cut below (inside the
                # file the zeros lie at the context's far ends, whose frames are dropped)
                x = torch.nn.functional.pad(x, (40, 40 + 320))
                hs = self.model(x[None], output_hidden_states=True)
                h = hs.hidden_states[self.layer][0].numpy()  # [~2(hi-lo), hidden] at 50 Hz
                n = e - b
                h = h[2 * (b - lo) : 2 * (e - lo)]  # the chunk's own frames
                if h.shape[0] < 2 * n:
                    h = np.concatenate([h, np.repeat(h[-1:], 2 * n - h.shape[0], axis=0)])
                out[b:e] = h.reshape(n, 2, -1).mean(axis=1)
        return out


def expects_normalized_input(config: Any) -> bool:
    """Whether a HuBERT was trained on standardised waves: those whose conv feature
    extractor ends each layer in a layer norm (``feat_extract_norm = "layer"``: HuBERT
    large and xlarge), as fairseq pairs them (``normalize: true  # must be consistent with
    extractor``; the HF downloads' preprocessor_config.json says ``do_normalize``). Fed raw
    samples at speech level (std ~0.05), such a model's features were those of a wave far
    quieter than any it was trained on, offset by its conv biases."""
    return getattr(config, "feat_extract_norm", "group") == "layer"


def _load_hubert(path: Path):  # -> HubertModel (transformers: imported when called)
    """``HubertModel.from_pretrained(path)``, refusing on one line what would not load as the
    HuBERT in ``config.json``: another ``model_type`` (``from_pretrained`` never looks: a
    wav2vec2 folder loaded with most of its tensors ignored and the rest a random init),
    a folder without weights or with unreadable ones (a raw transformers traceback), weights
    that leave tensors missing or of another shape (a random init: features, and units, of
    nothing). Tensors the folder has beyond ``HubertModel`` (a CTC head) are dropped."""
    from transformers import HubertModel

    from duplexsim.models.model import load_checked

    # masked_spec_embed: the pre-training mask's vector, unused at inference
    model = load_checked(HubertModel, path, "hubert", "a HuBERT", key="",
                         corrupt="the HuBERT model does not load",
                         allowed="a folder saved with HubertModel.save_pretrained(dir), "
                         "downloaded beforehand", unexpected=False,
                         ignored=("masked_spec_embed",))
    return model.eval()
