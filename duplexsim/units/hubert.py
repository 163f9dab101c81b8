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
import torch

from duplexsim.errors import InputError, MissingInputError


class HubertFeatures:
    """Callable: 16 kHz mono wave (whole 40 ms frames) -> ``[T, hidden]`` float32."""

    def __init__(self, model_dir: str | Path, layer: int = 6, chunk_s: float = 30.0,
                 normalize: bool | None = None):
        path = Path(model_dir)
        if not (path / "config.json").is_file():
            raise MissingInputError(
                str(path), "", "no HuBERT model here (config.json missing)",
                "a folder saved with HubertModel.save_pretrained(dir), downloaded beforehand")
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
        """Each chunk's samples standardised (zero mean, unit variance) before the model;
        None: as the model expects (a tokenizer passes what it was trained with)."""
        self.chunk_frames = max(1, int(chunk_s * 25))

    @torch.no_grad()
    def __call__(self, wave16k: np.ndarray) -> np.ndarray:
        t = wave16k.shape[0] // 640
        out = np.zeros((t, self.model.config.hidden_size), dtype=np.float32)
        for b in range(0, t, self.chunk_frames):
            e = min(t, b + self.chunk_frames)
            x = torch.from_numpy(np.ascontiguousarray(wave16k[b * 640 : e * 640]))
            if self.normalize:  # the chunk's own samples (fairseq: the clip's), no padding
                x = torch.nn.functional.layer_norm(x, x.shape)
            # the conv stack sees 400 samples every 320: 40 zeros on the left centre its
            # frame k on samples [320k, 320k + 320); 40 + 320 on the right give 2n + 1
            # frames for n 40 ms frames (2n with 40 alone), the last cut below
            x = torch.nn.functional.pad(x, (40, 40 + 320))
            hs = self.model(x[None], output_hidden_states=True)
            h = hs.hidden_states[self.layer][0].numpy()  # [~2(e-b), hidden] at 50 Hz
            n = e - b
            h = h[: 2 * n]
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
