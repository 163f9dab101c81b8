"""What a scenario needs on disk: the trained agents, corpora and jitter traces it names.

Owns :func:`missing_files` (what ``duplexsim simulate`` and ``validate --check-files``
refuse: a file that is not there, a jitter trace that does not read, an agent of another
kind or not trained for the chunk size or slice, a dialogue the corpus does not hold, two
sides of different unit vocabularies or tokenizers) and :func:`tokenizer_folders`;
:meth:`Scenario.missing_files <duplexsim.config.scenario.Scenario.missing_files>` and
:meth:`Scenario.tokenizer_folders <duplexsim.config.scenario.Scenario.tokenizer_folders>`
call them. It reads ``agent.json`` and manifests only: no model is loaded. The scenario's
own values are checked in :mod:`duplexsim.config.scenario`, without touching the disk.
Must not import the simulator, envs, models or agents.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

from duplexsim.config.link import read_jitter_trace
from duplexsim.config.readers import read_json
from duplexsim.errors import DuplexsimError, Problem

if TYPE_CHECKING:
    from duplexsim.config.scenario import Scenario, SideConfig


def missing_files(scenario: Scenario, file: str = "<scenario>") -> list[Problem]:
    """Files this scenario needs that are not there or unusable (jitter traces are read
    and checked); for ``simulate`` and ``validate --check-files``."""
    problems = []
    for key, side in (("a", scenario.a), ("b", scenario.b)):
        if side.kind in ("syncllm", "tdm") \
                and not (Path(side.agent) / "agent.json").is_file():
            problems.append(Problem(
                file, f"{key}.agent",
                f"no trained agent at {side.agent!r} (agent.json missing)",
                "train one first: duplexsim train agents/<card>.toml",
            ))
        corpus_missing = side.corpus and not (Path(side.corpus) / "manifest.json").is_file()
        if side.kind == "replay" and corpus_missing:
            problems.append(Problem(
                file, f"{key}.corpus", f"no corpus at {side.corpus!r} (manifest.json missing)",
                'build one with `duplexsim corpus build`, or "" for the shipped dialogue',
            ))
        if side.kind == "replay" and side.corpus and not corpus_missing and side.dialogue:
            problems += _unknown_dialogue(side, file, key)
        if side.kind == "replay" and not side.corpus and side.dialogue:
            from duplexsim.corpora.default import default_dialogue_id

            shipped = default_dialogue_id()
            if side.dialogue != shipped:
                problems.append(Problem(
                    file, f"{key}.dialogue", f"{side.dialogue!r} is not the shipped dialogue "
                    '(corpus = "" replays the dialogue in the package)',
                    f'"" or {shipped!r}, or set {key}.corpus to a corpus folder'))
    problems += _missing_traces(scenario.network.to_dict() if hasattr(scenario.network, "to_dict")
                                else dataclasses.asdict(scenario.network), file)
    return problems or _agent_problems(scenario, file) or _vocabulary_problems(scenario, file)


def _agent_problems(scenario: Scenario, file: str) -> list[Problem]:
    """What ``simulate`` refuses about a trained agent, read from its ``agent.json``
    alone (no model loaded): another architecture than the side's kind, a chunk size
    (or TDM slice) it was not trained for."""
    problems = []
    for key, side in (("a", scenario.a), ("b", scenario.b)):
        if side.kind not in ("syncllm", "tdm"):
            continue
        try:
            info = read_json(Path(side.agent) / "agent.json")
        except DuplexsimError:
            continue  # reported when the side is built, with its own file and key
        kind = str(info.get("kind", "syncllm"))
        chunks, slices = info.get("chunk_ms"), info.get("slice_ms")
        if kind != side.kind:
            problems.append(Problem(file, f"{key}.kind", f"{side.agent!r} is a {kind} "
                                    f"agent, not a {side.kind} agent", f'kind = "{kind}"'))
        elif kind == "syncllm" and isinstance(chunks, list) \
                and scenario.chunk_ms not in chunks:
            problems.append(Problem(file, "chunk_ms", f"{scenario.chunk_ms}: {key}.agent "
                                    f"{side.agent!r} was not trained for it",
                                    ", ".join(map(str, chunks))))
        elif kind == "tdm" and isinstance(slices, list) and side.slice_ms \
                and side.slice_ms not in slices:
            problems.append(Problem(file, f"{key}.slice_ms", f"{side.slice_ms}: the agent "
                                    f"{side.agent!r} was not trained for it",
                                    ", ".join(map(str, slices))))
    return problems


def _vocabulary_problems(scenario: Scenario, file: str) -> list[Problem]:
    """Both sides must speak one unit vocabulary: a trained agent's ``n_units`` and a
    replayed corpus's must agree (scripted sides take their partner's)."""
    sizes: dict[str, int] = {}
    for key, side in (("a", scenario.a), ("b", scenario.b)):
        where = {"syncllm": (side.agent, "agent.json"), "tdm": (side.agent, "agent.json"),
                 "replay": (side.corpus, "manifest.json")}.get(side.kind)
        if side.kind == "replay" and not side.corpus:  # the shipped dialogue
            from duplexsim.corpora.default import default_n_units

            sizes[key] = default_n_units()
            continue
        if where is None or not where[0]:
            continue
        try:
            n_units = read_json(Path(where[0]) / where[1]).get("n_units")
        except DuplexsimError:
            continue  # reported when the side is built, with its own file and key
        if isinstance(n_units, int):
            sizes[key] = n_units
    if len(sizes) == 2 and sizes["a"] != sizes["b"]:
        side_key = {"syncllm": "agent", "tdm": "agent", "replay": "corpus"}
        return [Problem(file, f"b.{side_key[scenario.b.kind]}",
                        f"speaks {sizes['b']} units, but a.{side_key[scenario.a.kind]} speaks "
                        f"{sizes['a']}", "two sides with one unit vocabulary (n_units)")]
    return _tokenizer_problems(scenario, file)


def tokenizer_folders(scenario: Scenario) -> list[tuple[str, Path]]:
    """(side key, unit tokenizer folder) of each side whose agent or corpus is named: an
    agent's ``tokenizer/``, a replayed corpus's (its manifest's ``tokenizer``). The
    folders need not hold a tokenizer (:func:`~duplexsim.units.shared_tokenizer`)."""
    from duplexsim.corpora.corpus import tokenizer_dir

    found: list[tuple[str, Path]] = []
    for key, side in (("a", scenario.a), ("b", scenario.b)):
        if side.kind in ("syncllm", "tdm") and side.agent:
            found.append((f"{key}.agent", Path(side.agent) / "tokenizer"))
        elif side.kind == "replay" and side.corpus:
            found.append((f"{key}.corpus", tokenizer_dir(side.corpus)))
    return found


def _tokenizer_problems(scenario: Scenario, file: str) -> list[Problem]:
    """Sides of as many units must also hold one unit tokenizer (what ``simulate``
    refuses: each side would read the other's units as other sounds)."""
    from duplexsim.units import shared_tokenizer

    try:
        folders = tokenizer_folders(scenario)
    except DuplexsimError:
        return []  # a broken manifest: reported when the side is built
    try:
        shared_tokenizer(folders)
    except DuplexsimError as e:
        return [Problem(file, p.file, p.message, p.allowed) for p in e.problems]
    return []


def _unknown_dialogue(side: SideConfig, file: str, key: str) -> list[Problem]:
    """A replay side's ``dialogue`` that its built corpus does not hold (``simulate`` named
    only the corpus's manifest.json; ``validate --check-files`` passed it). A corpus that
    does not open is left to ``simulate``, whose error names what is wrong in it."""
    from duplexsim.corpora.corpus import Corpus

    try:
        Corpus(Path(side.corpus)).check_id(side.dialogue, key=f"{key}.dialogue")
    except DuplexsimError as e:
        first = e.problems[0]
        if first.key != f"{key}.dialogue":  # the manifest itself is broken: simulate says how
            return []
        return [Problem(file, f"{key}.dialogue", f"{side.dialogue!r} is not a dialogue of the "
                        f"corpus at {side.corpus!r}", f"one of its ids: {first.allowed}, or "
                        '"" (its first test dialogue)')]
    return []


def _missing_traces(obj: Any, file: str, key: str = "network") -> list[Problem]:
    """Jitter trace files named anywhere in the network table that do not exist, or whose
    samples are unusable (not numbers, negative, not finite, fewer than 2)."""
    out: list[Problem] = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == "jitter_trace" and isinstance(v, str) and v and not Path(v).is_file():
                what = "is a folder, not a file" if Path(v).is_dir() else "not found"
                out.append(Problem(file, f"{key}.{k}", f"trace file {v!r} {what}",
                                   "a text file with one delay sample (ms) per line"))
            elif k == "jitter_trace" and isinstance(v, str) and v:
                try:
                    read_jitter_trace(v)
                except DuplexsimError as e:
                    out += [Problem(p.file, p.key, f"{p.message} (named by {file}: {key}.{k})",
                                    p.allowed) for p in e.problems]
            else:
                out += _missing_traces(v, file, f"{key}.{k}")
    elif isinstance(obj, list | tuple):
        for i, v in enumerate(obj):
            out += _missing_traces(v, file, f"{key}[{i}]")
    return out
