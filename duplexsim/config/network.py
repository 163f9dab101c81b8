"""Network parameters: one-way link settings, named presets, and the optional topology.

Owns the ``[network]`` table of a scenario: :class:`LinkConfig` (every key optional: a key
left out keeps the preset's value), :class:`EdgeConfig` / :class:`TopologyConfig` (a path
through a networkx graph), :class:`NetworkConfig`, the :data:`PRESETS` table of DESIGN.md
"Network" and :func:`resolve_link`. Validation only; the models that *use* these numbers
(delay, jitter, loss, ordering) live in :mod:`duplexsim.sim`. Must not import the simulator.

How a direction's path is built (``NetworkConfig.hops``): the direction link itself
(preset + ``[network.a_to_b]`` / ``[network.b_to_a]`` overrides) is the first hop; with a
``[network.topology]``, the hops of the lowest-delay path from endpoint node ``"A"`` to
``"B"`` (or back) follow. An edge starts from its own ``preset`` (default ``"ideal"``: no
delay, no loss) plus its link keys. Per-hop delays add; loss on any hop loses the chunk.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

from duplexsim.config.loader import FieldError, plain_fields, raise_errors, reading
from duplexsim.config.netem import netem_keys
from duplexsim.errors import InputError, MissingInputError, finite_in, plain_number

JitterDist = Literal["none", "uniform", "normal", "pareto", "paretonormal", "normal-analytic",
                     "pareto-analytic", "trace"]
LossModel = Literal["none", "bernoulli", "gilbert-elliott"]
Ordering = Literal["fifo", "reorder"]

JITTER_DISTS = ("none", "uniform", "normal", "pareto", "paretonormal", "normal-analytic",
                "pareto-analytic", "trace")
LOSS_MODELS = ("none", "bernoulli", "gilbert-elliott")
ORDERINGS = ("fifo", "reorder")
ENDPOINTS = ("A", "B")
"""Topology node names of the two agents."""


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
        raise_errors(_link_errors(self))

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


def _link_errors(link: LinkConfig) -> list[FieldError]:
    """Per-field range checks (values that are None are not checked)."""
    errors: list[FieldError] = []

    def need(name: str, ok: bool, allowed: str, what: str = "out of range") -> None:
        value = getattr(link, name)
        if value is not None and not ok:
            errors.append(FieldError(name, f"{value!r} {what}", allowed))

    def finite(name: str) -> bool:
        value = getattr(link, name)
        return value is not None and math.isfinite(value)

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
    need("jitter_dist", link.jitter_dist in JITTER_DISTS, ", ".join(JITTER_DISTS), "unknown")
    need("loss_model", link.loss_model in LOSS_MODELS, ", ".join(LOSS_MODELS), "unknown")
    need("ordering", link.ordering in ORDERINGS, ", ".join(ORDERINGS), "unknown")
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


def _preset(delay_ms: float, jitter_ms: float, dist: str, loss: float, burst: float,
            **extra: float) -> LinkConfig:
    return LinkConfig(
        delay_ms=delay_ms, jitter_ms=jitter_ms, jitter_dist=dist,  # type: ignore[arg-type]
        jitter_trace="", correlation=0.0, loss=loss,
        loss_model="none" if loss == 0 else "gilbert-elliott", burst=burst,
        ge_p=0.0, ge_r=0.0, loss_bad=1.0, loss_good=0.0, ordering="fifo",
        duplicate=0.0, bandwidth_kbps=0.0, spike_period_s=extra.get("spike_period_s", 0.0),
        spike_ms=extra.get("spike_ms", 0.0), spike_duration_ms=extra.get("spike_duration_ms", 0.0),
    )


# One-way, per direction (DESIGN.md "Network"): carrier SLAs, WonderNetwork measurements,
# Starlink studies, ITU-T G.114/G.1050. "ideal" is the network that is not there.
PRESETS: dict[str, LinkConfig] = {
    "ideal": _preset(0.0, 0.0, "none", 0.0, 1.0),
    "lan": _preset(1.0, 0.3, "normal", 0.0, 1.0),
    "metro": _preset(8.0, 2.0, "paretonormal", 0.001, 2.0),
    "continental": _preset(30.0, 5.0, "paretonormal", 0.003, 2.0),
    "transatlantic": _preset(50.0, 6.0, "paretonormal", 0.005, 2.0),
    "transpacific": _preset(90.0, 8.0, "paretonormal", 0.005, 2.0),
    "wifi-congested": _preset(15.0, 15.0, "pareto", 0.015, 3.0),
    "mobile-lte": _preset(40.0, 15.0, "paretonormal", 0.01, 2.5),
    "mobile-5g": _preset(20.0, 6.0, "paretonormal", 0.004, 2.0),
    # LEO handovers: +60 ms for 300 ms every 15 s
    "satellite-leo": _preset(25.0, 10.0, "paretonormal", 0.01, 5.0, spike_period_s=15.0,
                             spike_ms=60.0, spike_duration_ms=300.0),
    "satellite-geo": _preset(300.0, 15.0, "normal", 0.01, 3.0),
}


def resolve_link(preset: str, override: LinkConfig | None = None) -> LinkConfig:
    """The preset's link with every key set in ``override`` replacing it (all keys set)."""
    if preset not in PRESETS:
        raise FieldError("preset", f"unknown preset {preset!r}", ", ".join(PRESETS))
    base = PRESETS[preset]
    if override is None:
        return base
    values = override.link_values()
    if "loss_model" not in values and base.loss_model != "gilbert-elliott":
        if values.get("ge_p") or values.get("ge_r") or values.get("loss_good") or (
                values.get("loss") and any(k in values for k in ("burst", "loss_bad",
                                                                 "loss_good"))):
            values["loss_model"] = "gilbert-elliott"  # its keys given: the chain they name
        elif values.get("loss") and base.loss_model == "none":
            values["loss_model"] = "bernoulli"  # a preset without loss has no burst statistics
    if "jitter_dist" not in values and base.jitter_dist == "none" and values.get("jitter_ms"):
        values["jitter_dist"] = "uniform"  # netem's default ("delay D J" with no table)
    if values.get("jitter_dist") in ("none", "trace") and "jitter_ms" not in values:
        values["jitter_ms"] = 0.0  # none: no jitter; trace: its own spread (not the preset's)
    return dataclasses.replace(base, **values)


GILBERT_ELLIOTT_KEYS = ("burst", "ge_p", "ge_r", "loss_bad", "loss_good")


def _override_errors(override: LinkConfig | None, prefix: str, preset: str,
                     link: LinkConfig) -> list[FieldError]:
    """Keys given that would change nothing (:func:`_loss_override_errors`,
    :func:`_jitter_override_errors`)."""
    return (_loss_override_errors(override, prefix, preset, link)
            + _jitter_override_errors(override, prefix, preset, link))


def _jitter_override_errors(override: LinkConfig | None, prefix: str, preset: str,
                            link: LinkConfig) -> list[FieldError]:
    """``jitter_dist`` (a distribution) or ``correlation`` given over a preset without
    jitter and no ``jitter_ms`` (no jitter to shape: ignored without a word). An explicit
    ``jitter_ms = 0`` beside them (a sweep's jitter-free cell), ``"none"``, a trace (its own
    spread) and the preset's own values pass."""
    if override is None or override.jitter_ms is not None or link.jitter_ms \
            or link.jitter_dist == "trace":
        return []
    return [FieldError(f"{prefix}{key}", f"{getattr(override, key)!r} over preset {preset!r} "
                       "with no jitter_ms given: it would change nothing",
                       "a jitter_ms > 0 beside it, or leave the key out")
            for key in ("jitter_dist", "correlation")
            if getattr(override, key) not in (None, "none", getattr(PRESETS[preset], key))]


def _loss_override_errors(override: LinkConfig | None, prefix: str, preset: str,
                          link: LinkConfig) -> list[FieldError]:
    """Keys given beside a model that ignores them (checked on what the user wrote, not on
    the preset underneath): a named ``none``/``bernoulli`` model, or, with no model named,
    a link that stays lossless with no ``loss`` given (``burst`` or ``loss_bad`` alone over
    ``ideal``: no loss to shape, and nothing said; a key spelled out at the preset's own
    value changes nothing and passes, and so does an explicit ``loss = 0``: a sweep's
    lossless cell over a base with ``burst``); ``loss`` or ``burst`` beside a chain given as
    ``ge_p`` / ``ge_r`` (which replaces them). And one key missing: ``burst`` for a lossy
    gilbert-elliott chain derived from ``loss`` over a lossless preset (``ideal``, ``lan``),
    whose ``burst = 1`` is a placeholder (bursts of exactly one packet, never two losses in
    a row: not what a bursty model was asked for). ``link``: the override resolved over
    ``preset`` (:func:`resolve_link`)."""
    if override is None:
        return []
    given = [key for key in GILBERT_ELLIOTT_KEYS if getattr(override, key) is not None]
    if override.loss_model in ("none", "bernoulli"):
        return [FieldError(f"{prefix}{key}", f"{getattr(override, key)} beside loss_model = "
                           f"{override.loss_model!r}, which has no bad state",
                           'loss_model = "gilbert-elliott" (or leave the key out)')
                for key in given]
    if link._given_chain():  # netem's gemodel p r: the chain is given, loss and burst unused
        p, r = gilbert_elliott_chain(link)
        mean = (p * float(link.loss_bad) + r * float(link.loss_good)) / (p + r)  # type: ignore[arg-type]
        return [FieldError(f"{prefix}{key}", f"{getattr(override, key)} beside ge_p = {p}, "
                           f"ge_r = {r}, which give the chain itself (mean loss {mean:.4g}): "
                           f"{key} would change nothing",
                           "leave it out, or ge_p = ge_r = 0 to derive the chain from loss "
                           "and burst")
                for key in ("loss", "burst") if getattr(override, key) is not None]
    if override.loss_model is None and override.loss is None and link.loss_model == "none":
        return [FieldError(f"{prefix}{key}", f"{getattr(override, key)} over preset "
                           f"{preset!r} with no loss given: it would change nothing",
                           "a loss > 0 beside it (or ge_p and ge_r), or leave the key out")
                for key in given if getattr(override, key) != getattr(PRESETS[preset], key)]
    if link.loss_model == "gilbert-elliott" and link.can_lose() and override.burst is None \
            and PRESETS[preset].loss_model == "none":  # its burst is a placeholder
        return [FieldError(f"{prefix}burst", f"not given for a gilbert-elliott loss of "
                           f"{link.loss} over preset {preset!r}, which has no bursts (its "
                           f"placeholder burst {PRESETS[preset].burst} would make every "
                           "burst exactly one packet)", "a burst >= 1 (mean stay in the bad "
                           "state, packets) beside the loss, the chain as ge_p and ge_r, or "
                           'loss_model = "bernoulli"')]
    return []


def _resolved_errors(link: LinkConfig, prefix: str) -> list[FieldError]:
    """Checks that need the whole (merged) link."""
    errors: list[FieldError] = []
    if link.jitter_dist == "trace" and not link.jitter_trace:
        errors.append(FieldError(f"{prefix}jitter_trace", 'jitter_dist = "trace" needs a file',
                                 "a text file with one delay sample (ms) per line"))
    if link.jitter_trace and link.jitter_dist != "trace":  # its samples were never drawn
        errors.append(FieldError(f"{prefix}jitter_trace", f"{link.jitter_trace!r} is read "
                                 f'only with jitter_dist = "trace", not {link.jitter_dist!r}',
                                 'jitter_dist = "trace" beside it, or jitter_trace = ""'))
    if link.loss_model == "none" and link.loss:
        errors.append(FieldError(f"{prefix}loss_model", f'"none" with loss = {link.loss}',
                                 "bernoulli or gilbert-elliott (or loss = 0)"))
    if link.loss_model == "gilbert-elliott":
        errors += _gilbert_elliott_errors(link, prefix)
    if link.jitter_dist == "none" and link.jitter_ms:
        errors.append(FieldError(f"{prefix}jitter_dist", f'"none" with jitter_ms = '
                                 f"{link.jitter_ms}", f"{', '.join(JITTER_DISTS[1:])} (or "
                                 "jitter_ms = 0)"))
    if link.spike_ms and not (link.spike_period_s and link.spike_duration_ms):
        key = "spike_duration_ms" if link.spike_period_s else "spike_period_s"
        errors.append(FieldError(f"{prefix}{key}", f"0 while spike_ms = {link.spike_ms}: the "
                                 "spikes never happen", "> 0 (spike_ms adds delay for "
                                 "spike_duration_ms every spike_period_s)"))
    if link.spike_period_s and link.spike_duration_ms > link.spike_period_s * 1000:  # type: ignore[operator]
        errors.append(FieldError(f"{prefix}spike_duration_ms",
                                 f"{link.spike_duration_ms} ms spikes every "
                                 f"{link.spike_period_s} s overlap", "<= spike_period_s * 1000"))
    return errors


def gilbert_elliott_chain(link: LinkConfig) -> tuple[float, float]:
    """``(p, r)`` of a gilbert-elliott link: ``ge_p`` / ``ge_r`` when given, else from the
    mean ``loss`` and ``burst`` (``r = 1 / burst``; ``p`` puts the stationary loss
    ``pi_bad * loss_bad + (1 - pi_bad) * loss_good`` at ``loss``)."""
    if link.ge_p or link.ge_r:
        return float(link.ge_p), float(link.ge_r)  # type: ignore[arg-type]
    r = 1.0 / float(link.burst)  # type: ignore[arg-type]
    bad, good, loss = float(link.loss_bad), float(link.loss_good), float(link.loss)  # type: ignore[arg-type]
    pi_bad = (loss - good) / (bad - good) if bad != good else 0.0
    if pi_bad >= 1:
        return 1.0, 0.0  # always in the bad state (r = 0 makes it absorbing)
    return pi_bad * r / (1.0 - pi_bad), r


def _gilbert_elliott_errors(link: LinkConfig, prefix: str) -> list[FieldError]:
    if bool(link.ge_p) != bool(link.ge_r):
        given, other = ("ge_p", "ge_r") if link.ge_p else ("ge_r", "ge_p")
        return [FieldError(f"{prefix}{other}", f"0 while {given} = {getattr(link, given)}",
                           "both ge_p and ge_r > 0 (netem's gemodel p r), or neither")]
    if link.ge_p:
        return []
    bad, good = float(link.loss_bad), float(link.loss_good)  # type: ignore[arg-type]
    if not link.loss and min(good, bad) > 0:  # both states lose: a mean of 0 is out of reach
        return [FieldError(f"{prefix}loss", f"0 with loss_good = {good}, loss_bad = {bad}: "
                           "without ge_p / ge_r the chain comes from this mean loss, so the "
                           "link would lose nothing",
                           "a mean loss between loss_good and loss_bad, or the chain "
                           "itself as ge_p and ge_r (netem's gemodel p r 1-h 1-k)")]
    if link.loss is None:  # (a resolved link has every key)
        raise ValueError(f"{prefix}loss: not set on a resolved link")
    if not min(good, bad) <= link.loss <= max(good, bad):
        return [FieldError(f"{prefix}loss", f"{link.loss} is outside the states' losses "
                           f"{good} (good) .. {bad} (bad)",
                           "a mean loss between loss_good and loss_bad (either may be the "
                           "higher)")]
    p, _ = gilbert_elliott_chain(link)
    if p > 1:  # the good state would have to be left more often than every packet
        return [FieldError(f"{prefix}loss", f"{link.loss} cannot be reached with bursts of "
                           f"{link.burst}", "a lower loss or longer bursts (p = pi_bad * r / "
                           "(1 - pi_bad) must be <= 1)")]
    return []


@dataclass(frozen=True)
class EdgeConfig(LinkConfig):
    """An (undirected) edge of the topology: endpoints, a preset and/or link keys."""

    a: str = ""
    b: str = ""
    preset: str = "ideal"

    def __post_init__(self) -> None:
        plain_fields(self)
        errors = _link_errors(self)
        if self.preset not in PRESETS:
            errors.append(FieldError("preset", f"unknown preset {self.preset!r}",
                                     ", ".join(PRESETS)))
        for end in ("a", "b"):
            if not getattr(self, end):  # (it reads itself only: named beside a bad key too)
                errors.append(FieldError(end, "edge endpoint missing", "a node name", (end,)))
        raise_errors(errors)

    def link(self) -> LinkConfig:
        """This edge's complete link parameters."""
        return resolve_link(self.preset, LinkConfig(**self.link_values()))


@dataclass(frozen=True)
class TopologyConfig:
    """A graph the chunks travel through; endpoints are the nodes "A" and "B"."""

    nodes: tuple[str, ...] = ("A", "B")
    edges: tuple[EdgeConfig, ...] = ()

    def __post_init__(self) -> None:
        plain_fields(self)
        errors: list[FieldError] = []
        seen = set(self.nodes)
        if len(seen) != len(self.nodes):
            errors.append(FieldError("nodes", "duplicate node names", "unique names"))
        for end in ENDPOINTS:
            if end not in seen:
                errors.append(FieldError("nodes", f"endpoint {end!r} missing",
                                         'node names including "A" and "B"'))
        pairs: dict[frozenset[str], int] = {}
        # each edge's checks read the edges (and the node list): named beside bad nodes
        for i, edge in enumerate(self.edges):
            pair = frozenset((edge.a, edge.b))
            if pair in pairs:
                errors.append(FieldError(f"edges[{i}]", f"a second edge {edge.a}-{edge.b} "
                                         f"(edges[{pairs[pair]}] joins them already)",
                                         "one edge per pair of nodes (a relay node between "
                                         "them for a second route)", ("edges",)))
            pairs.setdefault(pair, i)
            if edge.a and edge.a == edge.b:  # no path uses it: its link would be ignored
                errors.append(FieldError(f"edges[{i}]", f"joins {edge.a!r} to itself",
                                         "an edge between two different nodes", ("edges",)))
            for end in (edge.a, edge.b):
                if end not in seen:
                    errors.append(FieldError(f"edges[{i}]", f"unknown node {end!r}",
                                             ", ".join(self.nodes), ("edges", "nodes")))
            link = edge.link()
            errors += reading(_override_errors(edge, f"edges[{i}].", edge.preset, link)
                              + _resolved_errors(link, f"edges[{i}]."), "edges")
        if not errors and self.path("A", "B") is None:
            errors.append(FieldError("edges", 'no path between "A" and "B"',
                                     "edges that connect A to B (through relays)"))
        raise_errors(errors)

    def graph(self) -> Any:
        """The topology as a ``networkx.Graph``; edge attribute ``link`` is a LinkConfig."""
        import networkx as nx

        graph = nx.Graph()
        graph.add_nodes_from(self.nodes)
        for edge in self.edges:
            link = edge.link()
            graph.add_edge(edge.a, edge.b, link=link, delay_ms=link.delay_ms)
        return graph

    def path(self, src: str, dst: str) -> list[LinkConfig] | None:
        """Hop links along the lowest-delay path from ``src`` to ``dst``; None if there is none."""
        import networkx as nx

        graph = self.graph()
        try:
            nodes = nx.shortest_path(graph, src, dst, weight="delay_ms")
        except nx.NetworkXNoPath:
            return None
        return [graph.edges[u, v]["link"] for u, v in zip(nodes, nodes[1:], strict=False)]


DIRECTIONS = {"a_to_b": ("A", "B"), "b_to_a": ("B", "A")}


def _preset_link_errors(preset: str, override: LinkConfig | None,
                        direction: str) -> list[FieldError]:
    """What is wrong with ``override`` (a direction's own keys) over ``preset``."""
    link = resolve_link(preset, override)
    return (_override_errors(override, f"{direction}.", preset, link)
            + _resolved_errors(link, f"{direction}."))


def _said(error: FieldError) -> tuple[str, str, str | None]:
    """What a problem tells the user (to compare the problems of two presets)."""
    return error.field, error.message, error.allowed


@dataclass(frozen=True)
class NetworkConfig:
    """The ``[network]`` table: a preset for both directions, overrides, optional topology."""

    preset: str = "ideal"
    """Starting point for both directions; "ideal" (no delay, no loss) when not given."""
    a_to_b: LinkConfig | None = None
    b_to_a: LinkConfig | None = None
    topology: TopologyConfig | None = None

    def __post_init__(self) -> None:
        plain_fields(self)
        errors: list[FieldError] = []
        if self.preset not in PRESETS:
            errors.append(FieldError("preset", f"unknown preset {self.preset!r}",
                                     ", ".join(PRESETS)))
        for direction in DIRECTIONS:
            errors += self._direction_errors(direction)
        raise_errors(errors)

    def _direction_errors(self, direction: str) -> list[FieldError]:
        """The problems of one direction's link. Each reads the preset and this direction
        only (still named beside a bad topology); one it has over every preset reads the
        direction alone: named beside an unknown preset, or one of another type (which the
        loader's probe checks it over at its default, "ideal"), too."""
        override = getattr(self, direction)
        known = self.preset in PRESETS
        found = _preset_link_errors(self.preset if known else "ideal", override, direction)
        if known and not found:  # (a valid link: no other preset is tried)
            return []
        everywhere = set.intersection(*({_said(e) for e in _preset_link_errors(
            preset, override, direction)} for preset in PRESETS))
        errors: list[FieldError] = []
        for error in found:
            if _said(error) in everywhere:
                errors += reading([error], direction)
            elif known:
                errors += reading([error], "preset", direction)
        return errors

    def link(self, direction: str) -> LinkConfig:
        """The direction's own link (preset + overrides), every key set."""
        return resolve_link(self.preset, getattr(self, direction))

    def hops(self, direction: str) -> list[LinkConfig]:
        """All hops of a direction ("a_to_b" / "b_to_a"): own link, then topology edges."""
        hops = [self.link(direction)]
        if self.topology is not None:
            path = self.topology.path(*DIRECTIONS[direction])
            assert path is not None  # checked in TopologyConfig.__post_init__
            hops += path
        return hops

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def resolve(self, base_dir: str | Path) -> NetworkConfig:
        """A copy whose jitter trace paths are absolute against ``base_dir``."""
        base = Path(base_dir)

        def fix(link: Any) -> Any:
            if link is None or not link.jitter_trace:
                return link
            return dataclasses.replace(link, jitter_trace=str((base / link.jitter_trace).resolve()))

        topology = self.topology
        if topology is not None:
            topology = dataclasses.replace(topology, edges=tuple(fix(e) for e in topology.edges))
        return dataclasses.replace(self, a_to_b=fix(self.a_to_b), b_to_a=fix(self.b_to_a),
                                   topology=topology)


__all__ = [
    "DIRECTIONS", "ENDPOINTS", "JITTER_DISTS", "LINK_KEYS", "LOSS_MODELS", "ORDERINGS", "PRESETS",
    "EdgeConfig", "LinkConfig", "NetworkConfig", "TopologyConfig", "gilbert_elliott_chain",
    "resolve_link",
]
