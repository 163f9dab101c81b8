"""Atomic writes: all or nothing, with ordinary file permissions."""

from __future__ import annotations

import os
import stat

import pytest

from duplexsim.atomic import atomic_path, write_json, write_png


def test_failed_write_leaves_old_file_and_no_temp(tmp_path):
    target = tmp_path / "a.json"
    write_json(target, {"x": 1})
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("interrupted")
    assert target.read_text().strip().startswith("{")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]


def test_written_file_is_readable_by_others(tmp_path):
    old = os.umask(0o022)
    try:
        write_json(tmp_path / "b.json", [1, 2])
    finally:
        os.umask(old)
    mode = stat.S_IMODE((tmp_path / "b.json").stat().st_mode)
    assert mode == 0o644


@pytest.mark.parametrize("layout", [True, False])
def test_write_png_saves_a_png_closes_the_figure_and_leaves_no_temp(tmp_path, layout):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    write_png(fig, tmp_path / "sub" / "f.png", layout=layout)
    assert (tmp_path / "sub" / "f.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert os.listdir(tmp_path / "sub") == ["f.png"]
    assert not plt.fignum_exists(fig.number)
