"""netem's vocabulary: its delay tables, and a ``tc qdisc ... netem`` argument string as link keys.

Owns iproute2's ``normal``, ``pareto`` and ``paretonormal`` tables (how they are built, and
how netem's ``delay D J distribution X`` maps onto our ``delay_ms`` / ``jitter_ms``:
:mod:`duplexsim.sim.delay`'s doc) and :func:`netem_keys`, the one parser of a netem argument
string (the scenario link key ``netem``). Returns plain key dicts: it sits under
:mod:`duplexsim.config.link`, which builds the :class:`LinkConfig`; must not import it
or the simulator.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from duplexsim.config.field_errors import FieldError
from duplexsim.errors import InputError

NETEM_DIST_SCALE = 8192  # include/uapi/linux/pkt_sched.h: table values are sigma * 8192
NETEM_TABLESIZE = 16384  # iproute2 netem/*.c: the normal CDF grid; the tables keep 1 in 4
NETEM_ENTRIES = 4096  # entries of every .dist table


@lru_cache(maxsize=1)
def _netem_normal_grid() -> np.ndarray:
    """``normal.c``'s ``table[16385]``: the largest ``x`` of its sweep at each
    ``rint(16384 Phi(x))`` (the sweep accumulates ``x += 0.00005`` in doubles, as here)."""
    steps = np.full(int(20.05 / 0.00005) + 2, 0.00005)
    x = np.cumsum(np.r_[-10.0, steps])  # sequential sums, like the C loop's x += .00005
    x = x[x < 10.05]
    from scipy import special  # here: `duplexsim validate` imports this module

    index = np.rint(NETEM_TABLESIZE * (0.5 + 0.5 * special.erf(x / math.sqrt(2.0))))
    grid = np.empty(NETEM_TABLESIZE + 1)
    grid[index.astype(np.int64)] = x  # x ascends: the last (largest) x per index stays
    return grid


def _netem_pareto_ints() -> np.ndarray:
    """``pareto.c``'s 4096 integers: ``i = 65536, 65520, ..., 16``."""
    i = np.arange(65536, 0, -16, dtype=np.float64)
    value = (4.0 / 3.0) * NETEM_DIST_SCALE * ((i / 65536.0) ** (-1.0 / 3.0) - 1.5)
    return np.rint(np.minimum(value, 32767))


@lru_cache(maxsize=1)
def netem_normal_table() -> np.ndarray:
    """iproute2's ``normal.dist`` [4096], in units of netem's sigma (ascending)."""
    value = np.rint(_netem_normal_grid()[0:NETEM_TABLESIZE:4] * NETEM_DIST_SCALE)
    return np.clip(value, -32768, 32767) / NETEM_DIST_SCALE


@lru_cache(maxsize=1)
def netem_pareto_table() -> np.ndarray:
    """iproute2's ``pareto.dist`` [4096], in units of netem's sigma (ascending)."""
    return _netem_pareto_ints() / NETEM_DIST_SCALE


@lru_cache(maxsize=1)
def netem_paretonormal_table() -> np.ndarray:
    """iproute2's ``paretonormal.dist`` [4096], in units of netem's sigma (ascending):
    ``paretonormal.c`` mixes its normal grid at ``i = 0, 4, ...`` with the Pareto values."""
    normal = _netem_normal_grid()[0:NETEM_TABLESIZE:4]
    value = np.trunc((np.rint(normal * NETEM_DIST_SCALE) + 3 * _netem_pareto_ints()) / 4)
    return np.clip(value, -32768, 32767) / NETEM_DIST_SCALE  # C int division truncates


NETEM_TABLES: dict[str, Callable[[], np.ndarray]] = {
    "normal": netem_normal_table, "pareto": netem_pareto_table,
    "paretonormal": netem_paretonormal_table,
}
"""netem's distribution name -> its table (the names ``tc ... distribution X`` takes)."""
_NO_UNIFORM_TABLE = ("tc has no uniform.dist: uniform is netem's default, 'delay D J' "
                     "without a distribution")
"""Why ``uniform`` is no distribution name, in tc and here (said where one is refused)."""


def netem_delay_keys(delay_ms: float, jitter_ms: float, distribution: str | None = None,
                     ) -> dict[str, Any]:
    """The link keys of netem's ``delay {delay_ms}ms {jitter_ms}ms [distribution X]``:
    ``delay_ms``, ``jitter_ms``, ``jitter_dist`` and ``ordering = "reorder"`` (module doc of
    :mod:`duplexsim.sim.delay`). ``None``: netem's default without a table, uniform on
    ``[D - J, D + J)``. ``"uniform"`` is refused, as the ``netem`` key's ``distribution
    uniform`` is (tc has no ``uniform.dist``)."""
    if distribution is None:
        return {"delay_ms": delay_ms, "jitter_ms": jitter_ms / math.sqrt(3.0),
                "jitter_dist": "uniform", "ordering": "reorder"}
    if distribution not in NETEM_TABLES:
        hint = f" ({_NO_UNIFORM_TABLE})" if distribution == "uniform" else ""
        raise InputError("distribution", "", f"{distribution!r} is not one of netem's "
                         f"tables{hint}", ", ".join(NETEM_TABLES) + ", or None for netem's "
                         "default (uniform)")
    table = NETEM_TABLES[distribution]()
    base = delay_ms + jitter_ms * float(table.mean())
    if base < 0:  # the table's mean is below 0: a small D gives a base delay_ms below 0
        raise InputError("delay", "", f"{delay_ms} ms with jitter {jitter_ms} ms and "
                         f"distribution {distribution} has a mean delay below 0 ({base:.4g} "
                         "ms), which a link's delay_ms cannot be",
                         f"D >= {-float(table.mean()):.4f} J for {distribution}")
    return {"delay_ms": base, "jitter_ms": jitter_ms * float(table.std()),
            "jitter_dist": distribution, "ordering": "reorder"}


# get_time64 (iproute2 lib/utils.c), case-insensitive: the unit -> ms
_TIME_UNITS_MS = {**dict.fromkeys(("s", "sec", "secs"), 1000.0),
                  **dict.fromkeys(("ms", "msec", "msecs"), 1.0),
                  **dict.fromkeys(("us", "usec", "usecs"), 1e-3),
                  **dict.fromkeys(("ns", "nsec", "nsecs"), 1e-6)}
# get_rate64's suffixes (iproute2), case-insensitive, so "kbps" is kilo*bytes* per second
_RATE_UNITS_BPS = {"bit": 1.0, "kibit": 1024.0, "kbit": 1e3, "mibit": 1024.0**2, "mbit": 1e6,
                   "gibit": 1024.0**3, "gbit": 1e9, "tibit": 1024.0**4, "tbit": 1e12,
                   "bps": 8.0, "kibps": 8 * 1024.0, "kbps": 8e3, "mibps": 8 * 1024.0**2,
                   "mbps": 8e6, "gibps": 8 * 1024.0**3, "gbps": 8e9, "tibps": 8 * 1024.0**4,
                   "tbps": 8e12}
_NUMBER = re.compile(r"((?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)(.*)")
NETEM_GRAMMAR = ("delay TIME [JITTER], distribution normal|pareto|paretonormal, "
                 "loss [random] PERCENT, loss gemodel P R [1-H [1-K]], duplicate PERCENT, "
                 "rate RATE; TIME with a unit (us, ms, s), PERCENT as tc reads it (1% or 1)")
NOT_MODELLED = ("reorder", "gap", "corrupt", "slot", "limit", "ecn", "seed")
"""netem options we have no counterpart for (README, "Jitter and Linux netem")."""
TC_KEYWORDS = ("limit", "latency", "delay", "loss", "drop", "seed", "ecn", "reorder",
               "corrupt", "gap", "duplicate", "distribution", "rate", "slot")
"""iproute2 ``tc/q_netem.c`` ``netem_parse_opt``'s keywords, in the order it tests them, each
with ``matches()`` (``lib/utils.c``: a word stands for the first keyword it is a prefix of,
case-sensitive): ``d`` is ``delay``, ``di`` ``distribution``, ``du`` ``duplicate``, ``l``
``limit``, ``lo`` ``loss``, ``r`` ``reorder``, ``ra`` ``rate``."""
_TC_SYNONYMS = {"latency": "delay", "drop": "loss"}


def _tc_keyword(word: str) -> str | None:
    """The netem option ``word`` names as tc reads it (:data:`TC_KEYWORDS`; ``latency`` is
    ``delay``, ``drop`` is ``loss``), or ``None`` where tc asks 'What is "word"?'."""
    keyword = next((k for k in TC_KEYWORDS if word and k.startswith(word)), None)
    return _TC_SYNONYMS.get(keyword, keyword) if keyword else None


def netem_keys(text: str) -> dict[str, Any]:
    """The link keys of ``tc qdisc ... netem {text}``, for the subset of tc-netem(8) we model:

    - ``delay TIME [JITTER]`` and ``distribution X``: :func:`netem_delay_keys` (``delay_ms``,
      ``jitter_ms``, ``jitter_dist``, ``ordering``: ``reorder``, netem's time-sorted queue,
      or ``fifo`` beside ``rate``, which keeps netem's order). TIME needs a unit (``us``,
      ``ms``, ``s``, ``ns``; ``100ms``, ``0.1s``, ``100000us``): tc reads a bare number as
      microseconds in old iproute2 and as nanoseconds since delays became 64-bit. netem's
      delay correlation (``delay D J C%``) shrinks the jitter; ours keeps the marginal, so
      it is refused: set ``correlation`` separately;
    - ``loss [random] P``: ``loss_model = "bernoulli"``, ``loss = P``;
      ``loss gemodel P R [1-H [1-K]]``: ``loss_model = "gilbert-elliott"``, ``ge_p``, ``ge_r``,
      ``loss_bad`` (default 1), ``loss_good`` (default 0); R is required (iproute2's default
      changed between versions);
    - ``duplicate P``: ``duplicate``;
    - ``rate RATE``: ``bandwidth_kbps`` (tc's units: ``bit``, ``kbit``, ``mbit``, ``gbit``,
      ``kibit``..., and ``bps``, ``kbps``, ``mbps``... in *bytes* per second, any case; a bare
      number is bit/s; ``rate 0`` is no rate limit, as netem's ``q->rate == 0``, and
      ``bandwidth_kbps = 0`` is unlimited, ``ordering`` left as without rate). Ours
      serialises a packet (its 40 header bytes and payload, no link-layer header) when it
      enters the hop and then adds its delay draw; netem's rate queues each packet behind
      the one before it and never reorders
      (:mod:`duplexsim.sim.link`).

    A keyword may be shortened as tc allows (:data:`TC_KEYWORDS`: ``del 10ms`` is ``delay
    10ms``, ``r 1%`` is tc's ``reorder``, refused); ``random`` and ``gemodel`` after ``loss``,
    and a distribution's name, are whole words, as in tc.

    PERCENT as tc's ``parse_percent``: ``1%`` or ``1`` is 1% (0.01 here), 0 .. 100. A clause
    left out sets nothing: the preset underneath keeps those keys. Anything else (loss or
    duplicate correlation, ``loss state``, ``reorder``, ``gap``, ``corrupt``, ``slot``,
    ``limit``, ``ecn``, ``seed``, a clause given twice) is a :class:`FieldError` on ``netem``."""
    parse = _Parse(text.split())
    while parse.i < len(parse.tokens):
        word = parse.tokens[parse.i]
        keyword = _tc_keyword(word)
        if keyword in _CLAUSES:
            parse.once(keyword)
            _CLAUSES[keyword](parse)
        elif keyword in NOT_MODELLED:
            named = repr(word) if word == keyword else f"{word!r} (tc's {keyword})"
            raise _refuse(f"{named} is not modelled")
        else:
            raise _refuse(f"unknown word {word!r} (tc's keywords, or a prefix of one: "
                          f"{', '.join(TC_KEYWORDS)})")
        if parse.number_next() and keyword in ("loss", "duplicate"):  # their correlation
            raise _refuse(f"{word} then {parse.tokens[parse.i + 1]!r}: netem's correlation of "
                          f"{keyword} is not modelled", NETEM_GRAMMAR)
        parse.i += 1
    return _parsed_keys(parse)


def _refuse(message: str, allowed: str = NETEM_GRAMMAR) -> FieldError:
    return FieldError("netem", message, allowed)


@dataclass
class _Parse:
    """A netem argument string being read (:func:`netem_keys`): its words, the one being
    read (tc's ``argv``), the clauses seen, and what they gave."""

    tokens: list[str]
    i: int = 0
    seen: set[str] = field(default_factory=set)
    keys: dict[str, Any] = field(default_factory=dict)
    delay: tuple[float, float] | None = None
    distribution: str | None = None

    def take(self, what: str) -> str:
        """The next word, the clause's ``what`` (tc's ``NEXT_ARG``)."""
        self.i += 1
        if self.i >= len(self.tokens):
            raise _refuse(f"{self.tokens[self.i - 1]!r} needs its {what}")
        return self.tokens[self.i]

    def number_next(self) -> bool:
        """tc's ``NEXT_IS_NUMBER``: the next word starts with a digit."""
        return self.i + 1 < len(self.tokens) and self.tokens[self.i + 1][:1].isdigit()

    def once(self, clause: str) -> None:
        if clause in self.seen:
            raise _refuse(f"{clause!r} given twice", "each clause once")
        self.seen.add(clause)


def _delay_clause(parse: _Parse) -> None:
    d_ms = _time_ms(parse.take("time"))
    j_ms = _time_ms(parse.take("jitter")) if parse.number_next() else 0.0
    if parse.number_next():
        raise _refuse(f"delay correlation {parse.tokens[parse.i + 1]!r}: netem's correlation "
                      "shrinks the jitter, ours keeps its distribution, so there is no "
                      "counterpart", "delay D J without it, and the link key correlation set "
                      "separately (README, netem)")
    parse.delay = (d_ms, j_ms)


def _distribution_clause(parse: _Parse) -> None:
    parse.distribution = distribution = parse.take("name")
    if distribution not in NETEM_TABLES:  # tc opens <tc lib>/<name>.dist
        uniform = f" ({_NO_UNIFORM_TABLE})" if distribution == "uniform" else ""
        raise _refuse(f"distribution {distribution!r} is not one we model{uniform}",
                      ", ".join(NETEM_TABLES) + " (iproute2's tables; not its "
                      "experimental.dist)")


def _loss_clause(parse: _Parse) -> None:
    kind = parse.take("percent or model")
    if kind == "random" or kind[:1].isdigit() or _numeric(kind):  # (nan, -1%: refused)
        value = _percent(parse.take("percent") if kind == "random" else kind)
        parse.keys.update(loss_model="bernoulli", loss=value)
    elif kind == "gemodel":
        values = [_percent(parse.take("p"))]
        while parse.number_next() and len(values) < 4:
            values.append(_percent(parse.take("percent")))
        if len(values) < 2:
            raise _refuse("loss gemodel without r: iproute2's default r changed between "
                          "versions", "loss gemodel P R [1-H [1-K]]")
        values += [1.0, 0.0][len(values) - 2:]
        parse.keys.update(zip(("loss_model", "ge_p", "ge_r", "loss_bad", "loss_good"),
                              ("gilbert-elliott", *values), strict=True))
    else:
        raise _refuse(f"loss {kind!r} is not modelled (the 4-state model, 'loss state', is "
                      "not)", "loss [random] PERCENT, loss gemodel P R [1-H [1-K]]")


def _duplicate_clause(parse: _Parse) -> None:
    parse.keys["duplicate"] = _percent(parse.take("percent"))


def _rate_clause(parse: _Parse) -> None:
    parse.keys["bandwidth_kbps"] = _rate_kbps(parse.take("rate"))
    if parse.i + 1 < len(parse.tokens) and parse.tokens[parse.i + 1].lstrip("+-")[:1].isdigit():
        raise _refuse(f"rate packet overhead {parse.tokens[parse.i + 1]!r} is not modelled",
                      "rate RATE alone (a packet is its 40 header bytes and payload)")


_CLAUSES: dict[str, Callable[[_Parse], None]] = {
    "delay": _delay_clause, "distribution": _distribution_clause, "loss": _loss_clause,
    "duplicate": _duplicate_clause, "rate": _rate_clause}
"""The netem options we model (tc's keyword, :func:`_tc_keyword`) -> the reader of its clause."""


def _parsed_keys(parse: _Parse) -> dict[str, Any]:
    """The link keys of a whole netem string read by :func:`netem_keys`: its clauses' keys
    and those of its delay and distribution, together (:func:`netem_delay_keys`)."""
    keys, delay, distribution = parse.keys, parse.delay, parse.distribution
    if not parse.tokens:
        raise _refuse("empty")
    if distribution is not None and (delay is None or not delay[1]):
        raise _refuse(f"distribution {distribution} without a delay jitter (tc refuses it "
                      "too)", "delay TIME JITTER distribution X")
    if delay is not None:
        try:
            keys.update(netem_delay_keys(*delay, distribution))
        except InputError as e:
            raise _refuse(f"delay: {e.problems[0].message}",
                          e.problems[0].allowed or "") from None
        if keys.get("bandwidth_kbps"):  # (rate 0 is no rate, in netem and here: 0 = unlimited)
            keys["ordering"] = "fifo"  # netem's rate sends each packet after the one before
    return keys


def _time_ms(word: str) -> float:
    match = _NUMBER.fullmatch(word)
    unit = match.group(2).lower() if match else ""
    if match is None or unit not in _TIME_UNITS_MS:
        hint = " (tc reads a bare number as us or ns, by version)" if match and not unit else ""
        raise FieldError("netem", f"time {word!r} has no unit we read{hint}",
                         "a number and us, ms, s or ns: 100ms, 0.1s, 100000us")
    return float(match.group(1)) * _TIME_UNITS_MS[unit]


def _percent(word: str) -> float:
    match = _NUMBER.fullmatch(word)
    if match is None or match.group(2) not in ("", "%") or float(match.group(1)) > 100:
        raise FieldError("netem", f"{word!r} is not a percentage",
                         "0 .. 100, with or without % (tc: 1% and 1 are both 1%)")
    return float(match.group(1)) / 100.0


def _numeric(word: str) -> bool:
    """Whether ``word`` reads as a number (``-1%``, ``nan``, ``.5``): a loss given as one is
    a percentage, refused as one when out of range, not taken for a loss model's name."""
    try:
        float(word.removesuffix("%"))
    except ValueError:
        return False
    return True


def _rate_kbps(word: str) -> float:
    match = _NUMBER.fullmatch(word)
    unit = match.group(2).lower() if match else ""
    if match is None or (unit and unit not in _RATE_UNITS_BPS):
        raise FieldError("netem", f"rate {word!r} is not a rate tc reads",
                         "a number of bit/s with a unit: " + ", ".join(_RATE_UNITS_BPS)
                         + " (bps etc. are bytes/s; a percentage of the device is not)")
    return float(match.group(1)) * _RATE_UNITS_BPS.get(unit, 1.0) / 1000.0


__all__ = ["NETEM_ENTRIES", "NETEM_GRAMMAR", "NETEM_TABLES", "NOT_MODELLED", "TC_KEYWORDS",
           "netem_delay_keys", "netem_keys", "netem_normal_table", "netem_pareto_table",
           "netem_paretonormal_table"]
