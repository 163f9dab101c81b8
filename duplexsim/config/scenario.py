"""Scenario files: who talks to whom, across which network, for how long.

Owns the scenario schema (frozen dataclasses validated in ``__post_init__``) and loading a
scenario TOML file. The optional check that the files a scenario names exist and fit
together is :mod:`duplexsim.config.scenario_files`'s (:meth:`Scenario.missing_files` calls
it); writing a resolved scenario back as TOML is :mod:`duplexsim.config.toml_writer`'s
(:func:`dump_toml`, :func:`toml_string`, re-exported here). The ``[network]`` table is
:class:`NetworkConfig` from :mod:`duplexsim.config.network` (owned by the simulator); the
optional ``[reward]`` table is :class:`RewardConfig` from :mod:`duplexsim.config.reward`
(read by the envs only). Must not import the simulator, envs, models or agents.

Paths in a scenario (``agent``, ``corpus``, jitter traces) are used as written: a relative
path is relative to the *current directory* (we run from the repository root), not to the
scenario file. :meth:`Scenario.resolve` makes them absolute before a scenario is written
next to results.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from duplexsim.config import scenario_files
from duplexsim.config.field_errors import FieldError, raise_errors
from duplexsim.config.field_values import check_field_types, plain_fields
from duplexsim.config.loader import from_dict, load_toml
from duplexsim.config.network import NetworkConfig
from duplexsim.config.reward import RewardConfig
from duplexsim.config.toml_writer import dump_toml, toml_string
from duplexsim.errors import MAX_DURATION_S, ConfigError, Problem, finite_in
from duplexsim.timebase import ms_from_s
from duplexsim.tokens import FRAME_MS

# (dump_toml and toml_string moved to toml_writer.py: still importable from here, as is
# FRAME_MS, which the simulator imports from here)
__all__ = ["COMMON_SIDE_KEYS", "COMPUTE_MODEL_KEYS", "FRAME_MS", "MAX_CLOCK_OFFSET_MS",
           "MAX_SEED", "SIDE_KEYS", "BufferConfig", "ComputeConfig", "OutputConfig", "Scenario",
           "SideConfig", "SideKind", "dump_toml", "load_scenario", "scenario_from_dict",
           "toml_string"]

SideKind = Literal["syncllm", "tdm", "replay", "scripted"]
MAX_SEED = 2**63 - 1
MAX_CLOCK_OFFSET_MS = 3_600_000

# Which SideConfig keys each kind reads (registry); a non-default value of another
# kind's key is an error rather than silently ignored.
SIDE_KEYS: dict[str, frozenset[str]] = {
    "syncllm": frozenset({"agent", "estimation", "temperature", "estimate_temperature",
                          "top_k", "top_p"}),
    "tdm": frozenset({"agent", "slice_ms", "temperature", "top_k", "top_p"}),
    "replay": frozenset({"corpus", "dialogue", "channel"}),
    "scripted": frozenset({"policy"}),
}
COMMON_SIDE_KEYS = frozenset({"kind", "clock_offset_ms", "clock_drift_ppm"})


def _need(errors: list[FieldError], ok: bool, name: str, message: str, allowed: str,
          depends: tuple[str, ...] = ()) -> None:
    if not ok:
        errors.append(FieldError(name, message, allowed, depends))


@dataclass(frozen=True)
class SideConfig:
    """One side of the conversation ([a] is speaker 0 on the global timeline, [b] speaker 1)."""

    kind: SideKind = "replay"
    """syncllm = trained SyncLLM agent; tdm = trained time-division-multiplexing agent
    (slices with ``<idle>``, :mod:`duplexsim.agents.tdm`); replay = one channel of a corpus
    dialogue; scripted = policy."""
    agent: str = ""
    """syncllm, tdm: trained agent directory (written by ``duplexsim train``)."""
    estimation: Literal["model", "silence", "wait"] = "model"
    """syncllm: how missing partner chunks are filled: model = the model estimates them;
    silence = silence is assumed; wait = none are missing: the decision waits, with no
    deadline, for the real chunks (or the buffer's give-up), and this side's playout slips
    (stalls) instead of missing deadlines (see :mod:`duplexsim.sim.playout`)."""
    temperature: float = 1.0  # the model's own distribution (0.9 measurably suppresses onsets)
    top_k: int = 0  # 0 = off
    top_p: float = 1.0  # 1 = off
    estimate_temperature: float | None = None
    """syncllm: temperature of the model's estimates of partner chunks not received yet
    (unset: ``temperature``; 0: the partner's most likely continuation); own units keep
    ``temperature``."""
    slice_ms: int = 0
    """tdm: slice length, a multiple of the scenario's ``chunk_ms`` and one the agent was
    trained for; a slice is decided at the decision time of its first chunk with the
    partner chunks that have arrived by then (the paper: about 2 s of input). 0 (the
    default): the first slice the agent was trained for that is whole chunks (the shipped
    cards: 1200 ms at 200 or 240 ms chunks, 1280 ms at 160 ms; a fixed 1200 refused the
    envs' 160 ms chunks)."""
    corpus: str = ""
    """replay: corpus directory; "" = the small dialogue shipped in the package."""
    dialogue: str = ""
    """replay: dialogue id; "" = the first test-split dialogue."""
    channel: int | None = None
    """replay: which channel of the dialogue this side replays (0 or 1); unset = the side's
    own channel (a: 0, b: 1), filled in by :class:`Scenario`."""
    policy: Literal["silent", "fixed-turns", "random-talker"] = "random-talker"
    """scripted: the turn-taking policy."""
    clock_offset_ms: int = 0
    """This side's clock minus the global clock, in ms. Only the two sides' difference
    matters: the simulation starts (global 0) when the clock furthest ahead starts its
    chunk 0, so a side whose clock is ahead speaks first (both shifted alike)."""
    clock_drift_ppm: float = 0.0
    """Clock rate error in parts per million (quartz: tens of ppm): > 0 runs fast (its clock
    reads ``global * (1 + ppm * 1e-6)``, so its chunks start earlier and last less global
    time, more of them per global second), < 0 slow (:class:`~duplexsim.sim.clock.ChunkClock`)."""

    def __post_init__(self) -> None:
        plain_fields(self)
        check_field_types(self)  # (a kind not in SIDE_KEYS, too: "unknown value")
        errors: list[FieldError] = []
        if self.kind in ("syncllm", "tdm"):
            example = "runs/agents/fisher" + ("-tdm" if self.kind == "tdm" else "")
            _need(errors, bool(self.agent.strip()), "agent",
                  f"a {self.kind} side needs its trained agent directory",
                  f'a path such as "{example}" (written by `duplexsim train`)', ("kind",))
        _need(errors, self.slice_ms >= 0 and self.slice_ms % FRAME_MS == 0, "slice_ms",
              f"{self.slice_ms} is negative" if self.slice_ms < 0 else
              f"{self.slice_ms} is not a multiple of the {FRAME_MS} ms frame",
              "a multiple of chunk_ms, e.g. 1200 (200 or 240 ms chunks), 1280 (160 ms), or 0 "
              "(the agent's first that fits)")
        _need(errors, 0.0 <= self.temperature <= 100.0, "temperature",
              f"{self.temperature} out of range", "0 (greedy) .. 100")
        _need(errors, self.estimate_temperature is None
              or 0.0 <= self.estimate_temperature <= 100.0, "estimate_temperature",
              f"{self.estimate_temperature} out of range", "0 (greedy) .. 100, or unset")
        _need(errors, self.top_k >= 0, "top_k", f"{self.top_k} is negative", ">= 0 (0 = off)")
        _need(errors, 0.0 < self.top_p <= 1.0, "top_p", f"{self.top_p} out of range",
              "0 < top_p <= 1")
        _need(errors, self.channel in (None, 0, 1), "channel", f"no channel {self.channel}",
              "0, 1")
        _need(errors, abs(self.clock_drift_ppm) <= 100_000, "clock_drift_ppm",
              f"{self.clock_drift_ppm} ppm is not a clock", "-100000 .. 100000")
        _need(errors, abs(self.clock_offset_ms) <= MAX_CLOCK_OFFSET_MS, "clock_offset_ms",
              f"{self.clock_offset_ms} ms is not a clock offset",
              f"-{MAX_CLOCK_OFFSET_MS} .. {MAX_CLOCK_OFFSET_MS} (one hour)")
        _need(errors, self.top_k <= 1 << 20, "top_k", f"{self.top_k} is out of range",
              "0 (off) .. 1048576")
        used = SIDE_KEYS[self.kind] | COMMON_SIDE_KEYS
        defaults, bad = SideConfig.__dataclass_fields__, {e.field for e in errors}
        for name, f in defaults.items():  # (a bad value: its own line only, as in [compute])
            if name not in used and name not in bad and getattr(self, name) != f.default:
                users = [k for k, keys in SIDE_KEYS.items() if name in keys]
                errors.append(FieldError(
                    name, f"not used by kind = {self.kind!r} (only by kind = "
                    f"{' or '.join(map(repr, users))})",
                    ", ".join(sorted(used)), depends=("kind",),
                ))
        raise_errors(errors)

    @property
    def waits(self) -> bool:
        """True for a side that stalls for the real partner chunks (syncllm, wait)."""
        return self.kind == "syncllm" and self.estimation == "wait"


COMPUTE_MODEL_KEYS: dict[str, tuple[str, ...]] = {
    "scale": ("measured",), "prefill_ms_per_token": ("profile",),
    "decode_ms_per_token": ("profile",), "overhead_ms": ("profile",)}
"""The [compute] keys only some models read: key -> those models."""


@dataclass(frozen=True)
class ComputeConfig:
    """How long producing a chunk takes in simulated time."""

    model: Literal["none", "measured", "profile"] = "none"
    """none = instant; measured = wall time of model calls x scale; profile = per-token costs."""
    scale: float = 1.0
    """measured: simulated ms = wall ms * scale (e.g. < 1 to model a faster machine)."""
    prefill_ms_per_token: float = 0.0
    decode_ms_per_token: float = 0.0
    overhead_ms: float = 0.0
    """profile: fixed cost per decision (scheduling, vocoder)."""
    on_miss: Literal["silence", "repeat"] = "silence"
    """What is played when a chunk misses its deadline."""

    def __post_init__(self) -> None:
        plain_fields(self)
        check_field_types(self)
        errors: list[FieldError] = []
        _need(errors, finite_in(self.scale, 0.0, 1e6, low_open=True), "scale",
              f"{self.scale} is not a positive number", "> 0 and <= 1000000")
        costs_ok = True
        for name in ("prefill_ms_per_token", "decode_ms_per_token", "overhead_ms"):
            value = getattr(self, name)
            ok = finite_in(value, 0.0, 3_600_000.0)
            costs_ok = costs_ok and ok
            _need(errors, ok, name, f"{value} is negative or not finite",
                  ">= 0 and <= 3600000 ms")
        # a key another model reads, given here, changed nothing: a sweep over
        # compute.overhead_ms under model = "none" ran identical cells (as SideConfig's keys
        # of another kind)
        defaults, bad = ComputeConfig.__dataclass_fields__, {e.field for e in errors}
        for name, users in COMPUTE_MODEL_KEYS.items():  # (a bad value: its own line only)
            if self.model not in users and name not in bad \
                    and getattr(self, name) != defaults[name].default:
                errors.append(FieldError(
                    name, f"not used by model = {self.model!r} (only by model = "
                    f"{' or '.join(map(repr, users))})",
                    f"model = {users[0]!r} to use it, or leave it out", depends=("model",)))
        if self.model == "profile" and costs_ok:  # a bad cost is its own line, not this one
            _need(errors, self.prefill_ms_per_token + self.decode_ms_per_token
                  + self.overhead_ms > 0, "decode_ms_per_token",
                  "model = 'profile' with every cost 0 (use model = 'none' for instant compute)",
                  "at least one of prefill_ms_per_token, decode_ms_per_token, overhead_ms > 0",
                  depends=("model", "prefill_ms_per_token", "overhead_ms"))
        raise_errors(errors)


@dataclass(frozen=True)
class BufferConfig:
    """The receive buffer that puts partner chunks back in order."""

    give_up_ms: int = 400
    """A missing chunk is skipped once a later one has waited this long; -1 = never (refused
    when a side waits, ``estimation = "wait"``, and its incoming link can lose chunks)."""

    def __post_init__(self) -> None:
        plain_fields(self)
        check_field_types(self)
        raise_errors([FieldError("give_up_ms", f"{self.give_up_ms} is not allowed",
                                 "0 .. 3600000, or -1 = never give up")]
                     if not -1 <= self.give_up_ms <= 3_600_000 else [])


@dataclass(frozen=True)
class OutputConfig:
    """What a simulation writes besides its trace."""

    audio: bool = True
    """Stereo WAV of what A and B played (vocoded units)."""

    def __post_init__(self) -> None:
        plain_fields(self)
        check_field_types(self)


@dataclass(frozen=True)
class Scenario:
    """A whole simulated conversation: sides, network, compute, buffer, output."""

    name: str = "scenario"
    chunk_ms: int = 160
    """Chunk length, a multiple of the 40 ms frame (paper: 160, 200, 240)."""
    duration_s: float = 60.0
    seed: int = 0
    """All randomness (network, sampling) derives from this seed."""
    decision_lead_chunks: int = 1
    """Own chunk j is decided at the start of chunk j - lead (paper: 1)."""
    a: SideConfig = field(default_factory=SideConfig)
    """Side A (speaker 0 on the global timeline); default: replay channel 0."""
    b: SideConfig = field(default_factory=SideConfig)
    """Side B (speaker 1); default: replay channel 1."""
    network: NetworkConfig = field(default_factory=NetworkConfig)
    compute: ComputeConfig = field(default_factory=ComputeConfig)
    buffer: BufferConfig = field(default_factory=BufferConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    reward: RewardConfig | None = None
    """Rewards of the RL envs (``duplexsim/TurnTaking-v0``, the parallel env); unset =
    :class:`RewardConfig` defaults. An env's ``reward=`` argument replaces it. Optional so
    that scenarios without it write no ``[reward]`` table; the simulator ignores it."""

    def __post_init__(self) -> None:
        plain_fields(self)
        check_field_types(self)  # (a, b, network, ...: their instances; reward: one or None)
        errors: list[FieldError] = []
        _need(errors, bool(self.name.strip()), "name", "empty name", "a non-empty string")
        chunk_ok = 0 < self.chunk_ms <= 60_000 and self.chunk_ms % FRAME_MS == 0
        _need(errors, chunk_ok, "chunk_ms",
              f"{self.chunk_ms} is not a positive multiple of the {FRAME_MS} ms frame",
              "multiples of 40 up to 60000: 40, 80, 120, 160, 200, 240, ...")
        if not finite_in(self.duration_s, 0.0, MAX_DURATION_S, low_open=True):
            what = "is longer than a day" if self.duration_s > 0 else "is not a positive duration"
            errors.append(FieldError("duration_s", f"{self.duration_s} {what}",
                                     f"> 0 seconds, at least one chunk, <= {MAX_DURATION_S:g}"))
        elif chunk_ok:  # against a bad chunk_ms it would be a second line for one mistake
            _need(errors, self.duration_ms >= self.chunk_ms, "duration_s",
                  f"{self.duration_s} s is shorter than one chunk",
                  f">= {self.chunk_ms / 1000:g} s", depends=("chunk_ms",))
        _need(errors, self.seed >= 0, "seed", f"{self.seed} is negative", ">= 0")
        _need(errors, self.seed <= MAX_SEED, "seed", f"{self.seed} is too large",
              "<= 2**63 - 1")
        _need(errors, 0 <= self.decision_lead_chunks <= 1000, "decision_lead_chunks",
              f"{self.decision_lead_chunks} is out of range", "0 .. 1000 (paper: 1)")
        errors += self._stall_errors()
        errors += self._slice_errors() if chunk_ok else []
        raise_errors(errors)
        # a replay side without a channel replays its own: a -> 0, b -> 1
        for key, channel in (("a", 0), ("b", 1)):
            side = getattr(self, key)
            if side.kind == "replay" and side.channel is None:
                object.__setattr__(self, key, dataclasses.replace(side, channel=channel))

    def _stall_errors(self) -> list[FieldError]:
        """A waiting side whose incoming link can lose chunks needs a finite give-up."""
        if self.buffer.give_up_ms >= 0:
            return []
        errors = []
        for key, incoming in (("a", "b_to_a"), ("b", "a_to_b")):
            lossy = [h for h in self.network.hops(incoming) if h.can_lose()]
            if getattr(self, key).waits and lossy:
                errors.append(FieldError(
                    "buffer.give_up_ms",
                    f"-1 (never give up) while {key}.estimation = 'wait' and network "
                    f"{incoming} can lose chunks ({lossy[0].loss_text()}): a lost chunk would "
                    f"stall {key} forever",
                    ">= 0 when a waiting side's incoming link has loss",
                    ("buffer", key, "network")))  # (named beside another table's mistake)
        return errors

    def _slice_errors(self) -> list[FieldError]:
        """A TDM side's slice must be whole chunks."""
        errors = []
        for key in ("a", "b"):
            side = getattr(self, key)
            if side.kind != "tdm" or self.chunk_ms <= 0 or side.slice_ms <= 0:
                continue
            if side.slice_ms % self.chunk_ms:
                lower = side.slice_ms // self.chunk_ms * self.chunk_ms
                near = [v for v in (lower, lower + self.chunk_ms) if v > 0]
                errors.append(FieldError(
                    f"{key}.slice_ms", f"{side.slice_ms} is not a whole number of "
                    f"chunk_ms = {self.chunk_ms} chunks",
                    f"multiples of {self.chunk_ms}, e.g. {' or '.join(map(str, near))}",
                    (key, "chunk_ms")))
        return errors

    @property
    def frames_per_chunk(self) -> int:
        return self.chunk_ms // FRAME_MS

    @functools.cached_property  # (read per env step; a frozen Scenario's fields never change)
    def duration_ms(self) -> int:
        """``duration_s`` in whole simulated ms, half a ms up (1.2805 s -> 1281 ms), by the
        project's one rule (:func:`~duplexsim.timebase.ms_from_s`): the length that
        :attr:`n_chunks`, a trace's timeline and the envs' end all count from."""
        return ms_from_s(self.duration_s)

    @functools.cached_property
    def n_chunks(self) -> int:
        """Chunks in the conversation (a partial last chunk counts)."""
        return -(-self.duration_ms // self.chunk_ms)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (``dataclasses.asdict``); ``from_dict(Scenario, d)`` rebuilds it."""
        return dataclasses.asdict(self)

    def resolve(self, base_dir: str | Path | None = None) -> Scenario:
        """A copy whose relative paths are absolute against ``base_dir`` (default: cwd)."""
        base = Path.cwd() if base_dir is None else Path(base_dir)

        def absolute(p: str) -> str:
            return str((base / p).resolve()) if p else p

        a, b = (dataclasses.replace(s, agent=absolute(s.agent), corpus=absolute(s.corpus))
                for s in (self.a, self.b))
        network = self.network
        if hasattr(network, "resolve"):
            network = network.resolve(base)
        return dataclasses.replace(self, network=network, a=a, b=b)

    def missing_files(self, file: str = "<scenario>") -> list[Problem]:
        """Files this scenario needs that are not there or unusable; for ``simulate`` and
        ``validate --check-files`` (:func:`duplexsim.config.scenario_files.missing_files`)."""
        return scenario_files.missing_files(self, file)

    def tokenizer_folders(self) -> list[tuple[str, Path]]:
        """(side key, unit tokenizer folder) of each side whose agent or corpus is named
        (:func:`duplexsim.config.scenario_files.tokenizer_folders`)."""
        return scenario_files.tokenizer_folders(self)


def scenario_from_dict(data: dict[str, Any], *, file: str = "<dict>") -> Scenario:
    """Build a :class:`Scenario` from a TOML-shaped dict, every problem in one ConfigError."""
    return from_dict(Scenario, data, file=file)


def load_scenario(path: str | Path, *, check_files: bool = False) -> Scenario:
    """Read and validate a scenario TOML file.

    ``check_files=True`` also reports trained agents, corpora and trace files that do not
    exist yet (``duplexsim simulate`` needs them; ``duplexsim validate`` does not).
    Relative paths stay as written and are relative to the current directory.
    """
    scenario = load_toml(path, Scenario)
    if check_files:
        problems = scenario.missing_files(str(path))
        if problems:
            raise ConfigError(problems)
    return scenario
