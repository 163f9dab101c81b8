"""The model vocabulary: units, speaker tags, specials, then text (byte-level BPE).

Owns: the id layout and the in-repo text tokenizer. Must not touch models or corpora.

Layout (docs/interfaces.md "Token ids"): ``0..n_units-1`` units, ``[S0] = n_units``,
``[S1] = n_units + 1``, then the specials ``[PAD] [BOS] [EOS]``, then the text tokens
(the BPE's own ids shifted by :attr:`Vocab.text_offset`).

The TDM agents (:mod:`duplexsim.tdm_tokens`) use :class:`TdmVocab`: the same layout with
``<idle>`` and ``<eos>`` right after the speaker tags (``n_units + 2``, ``n_units + 3``),
the specials and text shifted by two.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from duplexsim.atomic import write_text

SPECIALS = ("[PAD]", "[BOS]", "[EOS]")


@dataclass(frozen=True)
class Vocab:
    """Id layout for one agent."""

    n_units: int
    n_text: int
    """Text tokens (the BPE's vocabulary size)."""

    @property
    def S0(self) -> int:  # noqa: N802 - paper's name
        return self.n_units

    @property
    def S1(self) -> int:  # noqa: N802
        return self.n_units + 1

    @property
    def pad(self) -> int:
        return self.n_units + 2

    @property
    def bos(self) -> int:
        return self.n_units + 3

    @property
    def eos(self) -> int:
        return self.n_units + 4

    @property
    def text_offset(self) -> int:
        return self.n_units + 2 + len(SPECIALS)

    @property
    def size(self) -> int:
        return self.text_offset + self.n_text


@dataclass(frozen=True)
class TdmVocab(Vocab):
    """Id layout of a TDM agent: units, ``[S0] [S1] <idle> <eos>``, specials, text.

    ``<idle>`` (a whole silent slice) and ``<eos>`` (stop speaking inside a slice) sit at
    the ids :class:`duplexsim.tdm_tokens.TdmFormat` gives them, so the format needs no
    model vocabulary to encode or decode.
    """

    @property
    def idle(self) -> int:
        return self.n_units + 2

    @property
    def eos_speech(self) -> int:
        """``<eos>`` of the TDM format (not the text ``[EOS]`` special)."""
        return self.n_units + 3

    @property
    def pad(self) -> int:
        return self.n_units + 4

    @property
    def bos(self) -> int:
        return self.n_units + 5

    @property
    def eos(self) -> int:
        return self.n_units + 6

    @property
    def text_offset(self) -> int:
        return self.n_units + 4 + len(SPECIALS)


VOCABS: dict[str, type[Vocab]] = {"syncllm": Vocab, "tdm": TdmVocab}
"""Agent kind -> its id layout (``agent.json`` ``kind``; absent = syncllm)."""


def train_text_tokenizer(texts: Iterable[str], vocab_size: int):  # noqa: ANN201 - tokenizers type
    """Train a byte-level BPE on ``texts`` (deterministic for the same input)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    texts = [t for t in texts if t and t.strip()] or ["hello"]
    tok.train_from_iterator(texts, trainer=trainer)
    return tok


def save_text_tokenizer(tok, path: str | Path) -> None:  # noqa: ANN001
    write_text(path, tok.to_str())


def encode_text(tok, vocab: Vocab, text: str) -> list[int]:  # noqa: ANN001
    """Text -> model ids (BPE ids shifted past units, tags and specials)."""
    return [vocab.text_offset + i for i in tok.encode(text).ids if i < vocab.n_text]
