"""A built corpus folder's reader: which unit tokenizer folder its manifest names."""

from __future__ import annotations

from pathlib import Path

import pytest

from duplexsim.corpora import CorpusFormatError
from duplexsim.corpora.corpus import tokenizer_dir


def test_the_tokenizer_folder_is_the_one_the_manifest_names(tmp_path: Path) -> None:
    corpus = tmp_path / "c"
    assert tokenizer_dir(corpus) == corpus / "tokenizer"  # no manifest (yet)
    assert tokenizer_dir(corpus, {}) == corpus / "tokenizer"
    assert tokenizer_dir(corpus, {"tokenizer": "../shared_tok"}) == corpus / "../shared_tok"
    assert tokenizer_dir(corpus, {"tokenizer": str(tmp_path / "t")}) == tmp_path / "t"
    for ref in ("", 5, None):
        with pytest.raises(CorpusFormatError, match="tokenizer.*a tokenizer folder, relative"):
            tokenizer_dir(corpus, {"tokenizer": ref})
