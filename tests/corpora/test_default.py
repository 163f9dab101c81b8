"""The shipped default dialogue: ``python -m duplexsim.corpora.default`` rebuilds it byte for
byte, writes where ``--out`` says, and refuses a bad corpus folder in one line."""

from __future__ import annotations

import subprocess
import sys
from importlib import resources

import pytest

from duplexsim.corpora.default import RESOURCE, rebuild


@pytest.mark.slow
def test_a_rebuild_is_the_shipped_file_byte_for_byte(tmp_path):
    """Before: the corpus was built in a mkdtemp folder whose random name went into the
    resource's metadata ("duplexsim-default-gf9jaj85"), so no rebuild matched it."""
    shipped = resources.files("duplexsim.data").joinpath(RESOURCE).read_bytes()
    out = rebuild(out=tmp_path / "default.npz")
    assert out == tmp_path / "default.npz"
    assert out.read_bytes() == shipped


def test_a_missing_corpus_folder_is_one_line(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "duplexsim.corpora.default",
                           str(tmp_path / "nothing"), "--out", str(tmp_path / "d.npz")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr and str(tmp_path / "nothing") in proc.stderr
    assert not (tmp_path / "d.npz").exists()
