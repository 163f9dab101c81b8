"""A built corpus folder's reader: its manifest's n_units, and which unit tokenizer folder
it names."""

from __future__ import annotations

from pathlib import Path

import pytest

from duplexsim.corpora import CorpusFormatError
from duplexsim.corpora.corpus import Corpus, tokenizer_dir
from duplexsim.errors import InputError
from duplexsim.tokens import MAX_N_UNITS


def test_the_tokenizer_folder_is_the_one_the_manifest_names(tmp_path: Path) -> None:
    corpus = tmp_path / "c"
    assert tokenizer_dir(corpus) == corpus / "tokenizer"  # no manifest (yet)
    assert tokenizer_dir(corpus, {}) == corpus / "tokenizer"
    assert tokenizer_dir(corpus, {"tokenizer": "../shared_tok"}) == corpus / "../shared_tok"
    assert tokenizer_dir(corpus, {"tokenizer": str(tmp_path / "t")}) == tmp_path / "t"
    for ref in ("", 5, None):
        with pytest.raises(CorpusFormatError, match="tokenizer.*a tokenizer folder, relative"):
            tokenizer_dir(corpus, {"tokenizer": ref})


@pytest.mark.parametrize("n_units", [MAX_N_UNITS + 1, 1 << 20, 1])
def test_a_manifest_n_units_beyond_int16_units_is_refused(tmp_path: Path, n_units: int) -> None:
    """Up to 2**20 was accepted, though a corpus's units are int16 (ids 0..32767): a
    manifest claiming more units than its files can hold is now one line naming the key."""
    import json

    from cli_workspace import write_corpus

    write_corpus(tmp_path)
    manifest = tmp_path / "manifest.json"
    meta = json.loads(manifest.read_text())
    manifest.write_text(json.dumps({**meta, "n_units": MAX_N_UNITS}))
    assert Corpus(tmp_path).n_units == MAX_N_UNITS == 32768
    manifest.write_text(json.dumps({**meta, "n_units": n_units}))
    with pytest.raises(InputError) as caught:
        Corpus(tmp_path)
    assert str(caught.value) == (f"{manifest}: n_units: {n_units} is out of range (allowed: "
                                 "an integer from 2 to 32768)")
