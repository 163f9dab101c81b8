"""``python -m duplexsim.bench.bench_corpus``: its pairs are timed in turn."""

from __future__ import annotations

from duplexsim.bench.bench_corpus import side_by_side


def test_neither_of_a_pair_always_runs_first(capsys) -> None:
    """The command (baseline) ran first in every repeat, so whatever the first run of a
    round pays (a cold page cache, the server's restart) fell on one side only."""
    order: list[str] = []
    side_by_side("pair", lambda: order.append("command") or 2.0,
                 lambda: order.append("server") or 1.0, 2, "s")
    assert order == ["command", "server", "server", "command"]
    assert "2.00x  2.00x  2.00x" in capsys.readouterr().out
