"""close_each / call_each: each once, in order, all of them even if one raises, then the
first error (the ExitStack loops they replace raised the last one)."""

from __future__ import annotations

import pytest

from duplexsim.closing import call_each, close_each


class Closeable:
    def __init__(self, name: str, log: list[str], fails: bool = False) -> None:
        self.name, self.log, self.fails = name, log, fails

    def close(self) -> None:
        self.log.append(self.name)
        if self.fails:
            raise RuntimeError(f"{self.name} failed")


def test_close_each_closes_each_distinct_object_once_in_order() -> None:
    log: list[str] = []
    a, b, c = (Closeable(n, log) for n in "abc")
    close_each(x for x in [b, a, None, b, object(), c, a])  # a one-shot iterable too
    assert log == ["b", "a", "c"]
    close_each([])
    assert log == ["b", "a", "c"]


def test_close_each_closes_all_even_if_some_raise_then_raises_the_first() -> None:
    log: list[str] = []
    objects = [Closeable("a", log), Closeable("b", log, fails=True), Closeable("c", log),
               Closeable("d", log, fails=True)]
    with pytest.raises(RuntimeError, match="^b failed") as info:
        close_each(objects)
    assert log == ["a", "b", "c", "d"]
    assert info.value.__notes__ == ["closing the rest then raised RuntimeError: d failed"]


def test_call_each_calls_all_even_if_some_raise_then_raises_the_first() -> None:
    log: list[str] = []

    def interrupted() -> None:
        log.append("interrupted")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):  # Ctrl-C in a close: the rest are still closed
        call_each([interrupted, Closeable("a", log, fails=True).close,
                   Closeable("b", log).close])
    assert log == ["interrupted", "a", "b"]
    call_each([Closeable("c", log).close])
    assert log[-1] == "c"
