"""`duplexsim units train`: flags that belong to another tokenizer type are refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from duplexsim.cli import main


@pytest.mark.parametrize(("flags", "flag"), [
    (["--hubert-dir", "/models/hubert-base-ls960"], "--hubert-dir"),
    (["--hubert-layer", "0"], "--hubert-layer"),
])
def test_hubert_flags_without_the_hubert_type_are_refused(tmp_path: Path, capsys, flags,
                                                          flag) -> None:
    """``--hubert-dir H`` without ``--type hubert-kmeans`` trained a mel-kmeans tokenizer
    and said nothing: the user believed they had HuBERT units."""
    out = tmp_path / "units"
    assert main(["units", "train", "--corpus", str(tmp_path / "no_corpus"), "--out", str(out),
                 *flags]) == 2
    err = capsys.readouterr().err
    assert err == (f"duplexsim units train: {flag}: only read by --type hubert-kmeans, not "
                   f"--type mel-kmeans (allowed: --type hubert-kmeans with {flag}, or no "
                   f"{flag})\n")
    assert not out.exists()
