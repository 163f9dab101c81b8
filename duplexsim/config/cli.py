"""``duplexsim validate FILE [FILE...]``: check scenario, agent-card, sweep and corpus files.

Owns only the command: it reads each file once, decides what it is from its content
(a ``[sweep]`` table: sweep file; an ``[agent]`` or ``[model]`` table: agent card; no
tables and SynthConfig keys: a corpus config for ``duplexsim corpus build --config``, also
calibrated as the build calibrates it, in seconds; otherwise a scenario) and hands it to
that schema's loader. Prints ``FILE: OK`` or every
problem as ``file: key: what is wrong (allowed: ...)``; exits 1 if any file has one.
Must not train, simulate or import torch.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from duplexsim.config.field_errors import FieldError
from duplexsim.config.readers import read_toml
from duplexsim.errors import ConfigError, DuplexsimError, InputError, Problem

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

Config = TypeVar("Config", bound="DataclassInstance")

# file kind -> (module, loader function): loaders are imported only when needed, so a
# missing or broken module affects only files of its kind
LOADERS: dict[str, tuple[str, str]] = {
    "scenario": ("duplexsim.config.scenario", "load_scenario"),
    "agent card": ("duplexsim.config.card", "load_card"),
    "sweep": ("duplexsim.sweeps.config", "load_sweep"),
    "corpus config": ("duplexsim.corpora.synth", "validate_synth_toml"),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE",
                        help="scenario / agent card / sweep / corpus config TOML files")
    parser.add_argument("--check-files", action="store_true",
                        help="scenarios: also require trained agents, corpora and trace files "
                             "to exist (as `duplexsim simulate` does); agent cards: the "
                             "model.init_from folder (as `duplexsim train`); sweeps: those of "
                             "every cell, and an importable cell function (as `duplexsim sweep` "
                             "does)")


def run(args: argparse.Namespace) -> int:
    failed = 0
    for path in args.files:
        problems = validate_file(path, check_files=args.check_files)
        if problems:
            failed += 1
            for problem in problems:
                print(problem)
        else:
            print(f"{path}: OK")
    if failed and len(args.files) > 1:
        print(f"{failed} of {len(args.files)} files have problems")
    return 1 if failed else 0


def file_kind(data: dict[str, Any]) -> str:
    """What a parsed TOML file is: ``sweep``, ``agent card``, ``corpus config`` or
    ``scenario``."""
    if "sweep" in data:
        return "sweep"
    if "agent" in data or "model" in data or (  # every card key has a default: a card may be
            set(data) & KIND_MARKERS["agent card"]  # only its [train] or [stageN] table, as
            and not set(data) & KIND_MARKERS["scenario"]):  # `train` reads it
        return "agent card"
    from duplexsim.corpora.config import PRESETS, SYNTH_KEYS, is_synth_config

    keys = set(data)
    if is_synth_config(data) or (keys & SYNTH_KEYS and not keys & KIND_MARKERS["scenario"]):
        return "corpus config"  # also with a stray table: its keys say what it is
    name = data.get("name")  # any TOML value: a list or table is not a preset name
    if isinstance(name, str) and name in PRESETS and not keys & KIND_MARKERS["scenario"]:
        return "corpus config"  # named after a corpus preset, its other keys misspelt
    return "scenario"


# top-level keys only one kind of settings file has
KIND_MARKERS: dict[str, frozenset[str]] = {
    "sweep": frozenset({"sweep"}),
    "agent card": frozenset({"agent", "model", "train", "stage1", "stage2", "stage3"}),
    "scenario": frozenset({"a", "b", "network", "compute", "buffer", "output", "reward",
                           "chunk_ms", "duration_s", "decision_lead_chunks"}),
}


def with_flags(config: Config, command: str, **values: object) -> Config:
    """``config`` (a frozen dataclass) with the fields given on the command line replaced
    (``None``: the flag was not given). A value its checks refuse is reported under the
    flag the user typed (``duplexsim simulate: --duration-s: ...``), not the field's key."""
    for name, value in values.items():
        if value is None:
            continue
        try:
            config = dataclasses.replace(config, **{name: value})
        except FieldError as e:  # e.g. --duration-s shorter than one chunk
            flag = "--" + name.replace("_", "-")
            raise InputError(command, flag, e.message, e.allowed) from None
    return config


def expect_kind(path: str | Path, kind: str) -> None:
    """Raise a :class:`ConfigError` when ``path`` is clearly another kind of settings file
    (an agent card given to ``simulate``, a scenario to ``train``, ...), instead of listing
    every key of it as unknown. Unreadable files are left to the command's own loader."""
    try:
        keys = set(read_toml(path))
    except ConfigError:
        return
    from duplexsim.corpora.config import SYNTH_KEYS

    markers = {**KIND_MARKERS, "corpus config": SYNTH_KEYS}
    found = next((k for k, marks in markers.items() if keys & marks), kind)
    if found != kind:
        usage = {"scenario": "duplexsim simulate", "agent card": "duplexsim train",
                 "sweep": "duplexsim sweep", "corpus config": "duplexsim corpus build --config"
                 }[found]
        raise ConfigError([Problem(str(path), "", f"is {_article(found)} {found} file, not "
                                   f"{_article(kind)} {kind} (it is for `{usage}`)",
                                   f"{_article(kind)} {kind} file")])


def _article(kind: str) -> str:
    return "an" if kind[0] in "aeiou" else "a"


def validate_file(path: str | Path, *, check_files: bool = False) -> list[Problem]:
    """Every problem in one file (empty list: the file is fine)."""
    file = str(path)
    try:
        data = read_toml(path)
    except ConfigError as e:
        return e.problems
    kind = file_kind(data)
    loader = _loader(kind, file)
    if isinstance(loader, Problem):
        return [loader]
    try:
        if kind in ("scenario", "agent card"):
            loader(path, check_files=check_files)
        elif kind == "sweep" and check_files:  # what `duplexsim sweep` refuses before it runs
            from duplexsim.sweeps.cli import check_ready

            check_ready(loader(path))
        else:
            loader(path)
    except DuplexsimError as e:  # anything else a loader raises is a bug: its traceback shows
        return e.problems
    return []


def _loader(kind: str, file: str) -> Callable[..., Any] | Problem:
    module_name, func_name = LOADERS[kind]
    try:
        return getattr(importlib.import_module(module_name), func_name)
    except (ImportError, AttributeError) as e:
        return Problem(file, "", f"checking {kind} files needs {module_name}.{func_name}, "
                                 f"which is not available ({e})")
