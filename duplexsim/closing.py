"""Closing several things at once: each once, in order, every one even if an earlier fails.

Owns :func:`close_each` (objects with an optional ``close()``: agents, sessions, envs, a
progress bar) and :func:`call_each` under it (the closing calls themselves, for an owner
that closes its parts by other names, e.g. a learner side's ``close_model``). Who closes
what is the callers' business (:mod:`duplexsim.agents.base` has the rule for agents);
this module must not know what it closes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable


def call_each(calls: Iterable[Callable[[], object]]) -> None:
    """Call each of ``calls`` in order, every one even if an earlier one raises; then raise
    the first error (usually the cause), each later one added to it as a note."""
    first: BaseException | None = None
    for call in list(calls):  # all taken before any runs: a close may change where they came from
        try:
            call()
        except BaseException as e:  # also Ctrl-C: the rest are still closed, then it goes on
            if first is None:
                first = e
            else:
                first.add_note(f"closing the rest then raised {type(e).__name__}: {e}")
    if first is not None:
        raise first


def close_each(objects: Iterable[object]) -> None:
    """``close()`` once on each distinct object of ``objects`` that has one (others, None
    included, are skipped), in order, all of them even if one raises (:func:`call_each`)."""
    closers: dict[int, Callable[[], object]] = {}  # (each close holds its object: ids stay unique)
    for obj in objects:
        close = getattr(obj, "close", None)
        if callable(close):
            closers.setdefault(id(obj), close)
    call_each(closers.values())
