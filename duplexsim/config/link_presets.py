"""Named network presets and a link resolved over one, with the checks of the merged link.

Owns the :data:`PRESETS` table of DESIGN.md "Network", :func:`resolve_link` (a preset's link
with a direction's or edge's own keys over it, and the loss model or jitter distribution
those keys imply), :func:`gilbert_elliott_chain`, and the checks that need the merged link
or what the user gave beside the preset under it: keys that would change nothing
(:func:`override_errors`) and keys that contradict each other (:func:`resolved_errors`).
The link's keys themselves are :mod:`duplexsim.config.link`'s; the ``[network]`` table that
names a preset is :mod:`duplexsim.config.network`'s. Must not import the simulator.
"""

from __future__ import annotations

import dataclasses

from duplexsim.config.field_errors import FieldError
from duplexsim.config.link import JITTER_DISTS, LinkConfig


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


def override_errors(override: LinkConfig | None, prefix: str, preset: str,
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


def resolved_errors(link: LinkConfig, prefix: str) -> list[FieldError]:
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

