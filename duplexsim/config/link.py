"""One one-way link's keys: :class:`LinkConfig`, its per-key range checks, and jitter traces.

Owns the keys a ``[network.a_to_b]`` / ``[network.b_to_a]`` table (and a topology edge) may
give (every one optional: a key left out keeps the preset's value; the ``netem`` key stands
for those it sets, :func:`~duplexsim.config.netem.netem_keys`), the checks of each key on its
own (:func:`link_range_errors`), :data:`LINK_KEYS`, and :func:`read_jitter_trace`, the
reader of a ``jitter_trace`` file. What a link's keys become over a preset, and the checks
that need the whole merged link, are :mod:`duplexsim.config.link_presets`'s; the
``[network]`` table around them is :mod:`duplexsim.config.network`'s. Validation only: the
models that *use* these numbers live in :mod:`duplexsim.sim`. Must not import the simulator.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

from duplexsim.config.field_errors import FieldError, raise_errors
from duplexsim.config.field_values import check_field_types, plain_fields
from duplexsim.config.netem import netem_keys
from duplexsim.errors import InputError, MissingInputError, finite_in, finite_number, plain_number

JitterDist = Literal["none", "uniform", "normal", "pareto", "paretonormal", "normal-analytic",
                     "pareto-analytic", "trace"]
LossModel = Literal["none", "bernoulli", "gilbert-elliott"]
Ordering = Literal["fifo", "reorder"]

JITTER_DISTS = ("none", "uniform", "normal", "pareto", "paretonormal", "normal-analytic",
                "pareto-analytic", "trace")
LOSS_MODELS = ("none", "bernoulli", "gilbert-elliott")
ORDERINGS = ("fifo", "reorder")


@dataclass(frozen=True)
class LinkConfig:
    """One-way link parameters; ``None`` = take the value from the preset underneath.

    In a scenario file the key ``netem`` (a ``tc qdisc ... netem`` argument string,
    :func:`~duplexsim.config.netem.netem_keys`) stands for the keys it sets; it is read into
    them (:data:`TOML_EXPANDS`), so the config, and the scenario written back, hold only
    those keys. From Python there is no ``netem=`` argument (the loader expands the key
    before the class is built); spread the keys instead:
    ``LinkConfig(**netem_keys("delay 100ms 10ms distribution normal loss 1%"))``."""

    TOML_EXPANDS: ClassVar[dict[str, Any]] = {"netem": netem_keys}
    """TOML keys the loader replaces by the link keys their function returns."""

    delay_ms: float | None = None
    """Base one-way delay (propagation + fixed processing). May be fractional: a path's
    hops add their delays (and jitter draws) as floats and the arrival is rounded to whole
    ms at its end (half up), so a constant 160.5 ms link delivers as 161 ms does, while
    under jitter, or summed with other hops, the fraction shifts the delays it gives."""
    jitter_ms: float | None = None
    """Standard deviation of the delay variation. Given over a preset without jitter (ideal)
    and no ``jitter_dist``: uniform, netem's default; with ``jitter_dist = "none"`` an
    error."""
    jitter_dist: JitterDist | None = None
    """Marginal distribution of the variation: netem's tables (normal, pareto, paretonormal,
    as iproute2 builds them), uniform, their analytic forms (normal-analytic,
    pareto-analytic) or an empirical trace (:mod:`duplexsim.sim.delay`)."""
    jitter_trace: str | None = None
    """jitter_dist = "trace": text file, one delay sample (ms) per line; the variation is
    drawn from its samples (each equally likely) centred to mean 0 and rescaled to
    jitter_ms; jitter_ms = 0, or not given beside ``jitter_dist = "trace"``, keeps the
    trace's own sd. The base stays ``delay_ms``."""
    correlation: float | None = None
    """AR(1) coefficient on the underlying standard-normal variate (marginal kept)."""
    loss: float | None = None
    """Mean loss probability."""
    loss_model: LossModel | None = None
    """none | bernoulli | gilbert-elliott. A link that does not name its model but gives
    ``ge_p``/``ge_r`` or ``loss_good`` > 0, or a ``loss`` > 0 with ``burst``/``loss_bad``/
    ``loss_good``, gets gilbert-elliott; one given only a ``loss`` > 0 over a preset
    without loss (ideal, lan: model none) gets bernoulli. Gilbert-Elliott keys beside
    ``bernoulli``/``none`` are an error."""
    burst: float | None = None
    """gilbert-elliott: mean stay in the bad state in packets (r = 1/burst)."""
    ge_p: float | None = None
    """gilbert-elliott, netem's ``gemodel p r``: good -> bad transition probability per
    packet. ``ge_p`` and ``ge_r`` both > 0 give the chain and replace ``loss`` and
    ``burst``; both 0 (the presets) derive it from them (:func:`gilbert_elliott_chain`);
    one 0 beside the other > 0 is an error."""
    ge_r: float | None = None
    """gilbert-elliott: bad -> good transition probability per packet: > 0 beside a
    ``ge_p`` > 0, or 0 beside ``ge_p = 0`` (then ``r = 1 / burst``); 0 beside ``ge_p`` > 0
    is an error (it would make the bad state absorbing)."""
    loss_bad: float | None = None
    """gilbert-elliott: loss probability in the bad state (netem's 1-h; default 1)."""
    loss_good: float | None = None
    """gilbert-elliott: loss probability in the good state (netem's 1-k; default 0)."""
    ordering: Ordering | None = None
    """fifo: a packet leaves the hop no earlier than those that entered it before it;
    reorder: each packet's delay independent (netem's time-sorted queue)."""
    duplicate: float | None = None
    """Probability a packet is delivered twice."""
    bandwidth_kbps: float | None = None
    """Serialisation rate; 0 = unlimited."""
    spike_period_s: float | None = None
    """Periodic delay spikes (satellite handovers): every spike_period_s seconds (the
    schedule runs on the wall clock: a conversation starts at a point of it drawn from the
    scenario's seed, the same on every link) ..."""
    spike_ms: float | None = None
    """... add spike_ms of delay ..."""
    spike_duration_ms: float | None = None
    """... for spike_duration_ms."""

    def __post_init__(self) -> None:
        plain_fields(self)
        check_field_types(self)  # (an unknown jitter_dist, loss_model or ordering, too)
        raise_errors(link_range_errors(self))

    def link_values(self) -> dict[str, Any]:
        """The link keys that are set (not None)."""
        return {k: getattr(self, k) for k in LINK_KEYS if getattr(self, k) is not None}

    def is_complete(self) -> bool:
        return all(getattr(self, k) is not None for k in LINK_KEYS)

    def can_lose(self) -> bool:
        """Whether this (resolved) link can lose a packet: bernoulli, or gilbert-elliott
        from ``loss`` and ``burst``, with a mean ``loss`` > 0; a gilbert-elliott chain given
        by ``ge_p`` / ``ge_r`` (both > 0: it visits both states; ``loss`` is not used) with
        ``loss_bad`` or ``loss_good`` > 0. The one test of it: the simulator builds a loss
        process exactly then (:func:`duplexsim.sim.loss.make_loss`) and a scenario asks a
        waiting side behind such a link for a finite give-up."""
        if self.loss_model == "none":
            return False
        if self._given_chain():
            return bool(self.loss_bad) or bool(self.loss_good)
        return bool(self.loss)

    def loss_text(self) -> str:
        """How this link loses packets, for messages: ``loss 0.05`` or the chain's p/r."""
        if self._given_chain():
            return f"gilbert-elliott ge_p {self.ge_p}, ge_r {self.ge_r}"
        return f"loss {self.loss}"

    def _given_chain(self) -> bool:
        """A gilbert-elliott link given as netem's ``gemodel p r`` (``ge_p`` > 0)."""
        return self.loss_model == "gilbert-elliott" and bool(self.ge_p)


MIN_BANDWIDTH_KBPS = 0.001
"""Lowest bandwidth (1 bit/s; a 48-byte packet takes 6.4 minutes): below it a unit mistake."""
# upper bounds of the link's amounts: past them a unit mistake, not a network
_LINK_MAX = {"delay_ms": 600_000.0, "jitter_ms": 600_000.0, "bandwidth_kbps": 1e9,
             "spike_period_s": 86_400.0, "spike_ms": 600_000.0, "spike_duration_ms": 86_400_000.0}


def link_range_errors(link: LinkConfig) -> list[FieldError]:
    """Per-field range checks (values that are None are not checked), of a link whose
    fields are of their types (:func:`~duplexsim.config.field_values.check_field_types`)."""
    errors: list[FieldError] = []

    def need(name: str, ok: bool, allowed: str, what: str = "out of range") -> None:
        value = getattr(link, name)
        if value is not None and not ok:
            errors.append(FieldError(name, f"{value!r} {what}", allowed))

    def finite(name: str) -> bool:
        return finite_number(getattr(link, name))

    for name, high in _LINK_MAX.items():
        need(name, finite(name) and 0 <= getattr(link, name) <= high, f">= 0 and <= {high:g}",
             "is negative, not finite or too large")
    # a packet's time on the wire is bits / kbps: a few 1e-305 made it infinite
    need("bandwidth_kbps", not 0 < (link.bandwidth_kbps or 0.0) < MIN_BANDWIDTH_KBPS,
         f"0 = unlimited, or >= {MIN_BANDWIDTH_KBPS:g} and <= {_LINK_MAX['bandwidth_kbps']:g}",
         "is below 1 bit/s")
    need("correlation", finite("correlation") and 0.0 <= (link.correlation or 0.0) < 1.0,
         "0 <= correlation < 1")
    need("loss", finite("loss") and 0.0 <= (link.loss or 0.0) <= 1.0, "0 <= loss <= 1")
    for name in ("duplicate", "ge_p", "ge_r", "loss_bad", "loss_good"):
        need(name, finite(name) and 0.0 <= getattr(link, name) <= 1.0, f"0 <= {name} <= 1")
    # a mean stay of a million packets (about 55 hours at 200 ms chunks) is a unit mistake
    need("burst", finite("burst") and 1.0 <= (link.burst or 0.0) <= 1e6,
         ">= 1 and <= 1000000 packets (mean burst length)")
    return errors


LINK_KEYS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(LinkConfig))

MAX_TRACE_DELAY_MS = 600_000.0
"""Largest delay sample a jitter trace may hold (10 minutes): beyond it, a unit mistake."""


def read_jitter_trace(path: str | Path) -> list[float]:
    """Delay samples (ms) of a jitter trace file: one per line, blank lines and ``#``
    comments skipped. Each must be a finite number in 0..600000 ms and there must be at
    least 2, not all equal; otherwise an :class:`~duplexsim.errors.InputError` naming the
    file and line."""
    path = Path(path)
    allowed = "one delay sample in ms per line, 0 .. 600000"
    try:
        # utf-8-sig: a byte-order mark (Windows editors, spreadsheet exports) is dropped, not
        # line 1's "'\ufeff12.5' is not a number"
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise MissingInputError(str(path), "", "trace file not found", allowed) from None
    except IsADirectoryError:
        raise InputError(str(path), "", "a folder, not a trace file", allowed) from None
    except UnicodeDecodeError as e:
        raise InputError(str(path), f"byte {e.start}", "not UTF-8 text", allowed) from None
    values: list[float] = []
    for n, line in enumerate(text.splitlines(), start=1):
        item = line.split("#", 1)[0].strip()
        if not item:
            continue
        value = plain_number(item)  # not float(): float("1_0") is 10.0, and "\u0661" 1.0
        if value is None:
            raise InputError(str(path), f"line {n}", f"{item!r} is not a number",
                             allowed + " (digits, '.', an exponent)")
        if not finite_in(value, 0.0, MAX_TRACE_DELAY_MS):
            raise InputError(str(path), f"line {n}", f"{item} is not a delay", allowed)
        values.append(value)
    if len(values) < 2:
        raise InputError(str(path), "", f"{len(values)} samples",
                         "at least 2 delay samples, one per line")
    if min(values) == max(values):  # its jitter was 0 at any jitter_ms, without a word
        raise InputError(str(path), "", f"all {len(values)} samples are {values[0]:g} ms: no "
                         "variation to draw jitter from", "at least 2 different delay samples "
                         '(a constant delay: delay_ms with jitter_dist = "none")')
    return values

