"""The README stays true: every block marked ``<!-- runnable -->`` runs and exits 0, and the
command flags and ``docs/results/`` paths it and the docs name exist (docs/results/README.md's
index names every folder there)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"<!-- runnable -->\s*\n```(bash|python)\n(.*?)\n```", re.S)


def runnable_blocks() -> list[tuple[str, str]]:
    return BLOCK.findall((ROOT / "README.md").read_text(encoding="utf-8"))


def test_readme_has_runnable_blocks():
    kinds = [kind for kind, _ in runnable_blocks()]
    assert "bash" in kinds and "python" in kinds


@pytest.mark.parametrize("kind,code", runnable_blocks(), ids=lambda v: str(v)[:40])
def test_readme_block_runs(kind: str, code: str, tmp_path: Path):
    env = dict(os.environ)
    env["TMPDIR"] = str(tmp_path)  # what a block leaves in the temp folder (SB3's logger
    # makes an SB3-<time> folder per learn()) goes with the test's own folder
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    if kind == "bash":
        cmd = ["bash", "-euo", "pipefail", "-c", code]
    else:
        cmd = [sys.executable, "-c", code]
    # the blocks run as from the repository root, but what they write (runs/...) goes to the
    # test's folder: every top-level entry but runs/ is linked there
    for entry in ROOT.iterdir():
        if entry.name not in ("runs", ".git"):
            (tmp_path / entry.name).symlink_to(entry)
    result = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=600)
    failure = f"README {kind} block failed:\n{code}\n---\n{result.stderr[-3000:]}"
    assert result.returncode == 0, failure


DOCS = ["README.md", "docs/DESIGN.md", "docs/interfaces.md", "docs/results/README.md"]
COMMAND = re.compile(r"\bduplexsim (\w+)(?: (build|import|stats|train)\b)?([^`\n|]*)")


def cli_flags() -> dict[str, set[str]]:
    """Every ``duplexsim`` command's (and ``corpus`` / ``units`` action's) option strings, from
    the parsers ``duplexsim.cli.main`` builds."""
    import argparse
    import importlib

    from duplexsim import cli

    flags: dict[str, set[str]] = {}

    def collect(name: str, parser: argparse.ArgumentParser) -> None:
        flags[name] = {s for a in parser._actions for s in a.option_strings}
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub_name, sub in action.choices.items():
                    collect(f"{name} {sub_name}", sub)

    for name, (module_name, _) in cli.COMMANDS.items():
        parser = cli.ArgumentParser(prog=f"duplexsim {name}")
        importlib.import_module(module_name).add_arguments(parser)
        cli._add_threads(parser, None)
        collect(name, parser)
    return flags


def joined(text: str) -> str:
    """``text`` with each shell line continuation (a backslash ending a line) made two spaces,
    so a command wrapped over several lines reads as one; offsets, and so line numbers counted
    in ``text``, stay the same."""
    return re.sub(r"\\\n", "  ", text)


def test_joined_reads_a_wrapped_command_whole():
    text = "duplexsim corpus build --preset p \\\n    --seed 1\nnext"
    m = COMMAND.search(joined(text))
    assert m is not None and "--seed" in m.group(3) and "next" not in m.group(3)
    assert len(joined(text)) == len(text)


def test_docs_name_only_real_command_flags():
    """Every ``--flag`` written after ``duplexsim COMMAND`` in the README and docs, on every
    line of a command wrapped with backslashes, is one that command takes (a renamed or removed
    flag would send a reader to an argparse error)."""
    flags = cli_flags()
    wrong = []
    for doc in DOCS:
        text = (ROOT / doc).read_text(encoding="utf-8")
        for m in COMMAND.finditer(joined(text)):
            name = " ".join(p for p in m.group(1, 2) if p)
            if m.group(1) not in flags:
                continue  # prose: "duplexsim is ..."
            known = flags.get(name, flags[m.group(1)])
            line = text.count("\n", 0, m.start()) + 1
            wrong += [f"{doc}:{line}: duplexsim {name} {flag}"
                      for flag in re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", m.group(3))
                      if flag not in known]
    assert not wrong, "flags no command takes:\n" + "\n".join(wrong)


def named_results_paths(text: str) -> set[str]:
    """``docs/results/...`` paths a text names, ``{a,b}`` expanded (a glob stays a glob)."""
    paths = set()
    for m in re.finditer(r"docs/results/[\w./{},*-]*", text):
        path = m.group(0).rstrip(".,")
        brace = re.search(r"\{([^}]*)\}", path)
        options = brace.group(1).split(",") if brace else [""]
        for option in options:
            paths.add(path[:brace.start()] + option + path[brace.end():] if brace else path)
    return paths


def test_docs_results_paths_exist():
    """Every ``docs/results/...`` file or folder the README and docs name is in the repository,
    and so is every scenario file, agent card and experiment script the README names."""
    missing = []
    for doc in DOCS:
        for path in sorted(named_results_paths((ROOT / doc).read_text(encoding="utf-8"))):
            if not list(ROOT.glob(path.rstrip("/"))):
                missing.append(f"{doc}: {path}")
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    # (lower case: experiments/NAME.py is a placeholder)
    named = r"(?<![\w/.])(?:(?:scenarios|agents)/[\w.*-]+\.toml|experiments/[a-z_]+\.py)"
    for path in sorted(set(re.findall(named, text))):
        if not list(ROOT.glob(path)):
            missing.append(f"README.md: {path}")
    assert not missing, "named but not there:\n" + "\n".join(missing)


def test_results_index_lists_every_folder():
    """docs/results/README.md's table names only entries that exist, and every folder and file
    at the top of docs/results/ but the README itself is named in it."""
    results = ROOT / "docs" / "results"
    text = (results / "README.md").read_text(encoding="utf-8")
    table = [line.split("|")[1] for line in text.splitlines() if line.startswith("| `")]
    named = {name for cell in table for name in re.findall(r"`([^`]+)`", cell)}
    expanded = set()
    for name in named:
        brace = re.search(r"\{([^}]*)\}", name)
        expanded |= ({name[:brace.start()] + o + name[brace.end():]
                      for o in brace.group(1).split(",")} if brace else {name})
    assert not [n for n in sorted(expanded) if not list(results.glob(n))], \
        "the table names what is not there"
    tops = {n.split("/")[0] for n in expanded}
    unnamed = sorted(p.name for p in results.iterdir()
                     if p.name != "README.md" and p.name not in tops)
    assert not unnamed, f"docs/results/ entries the table does not name: {unnamed}"


EXPERIMENT_FLAGS = r"""
import contextlib, io, json, runpy, sys
from pathlib import Path
sys.path.insert(0, "experiments")
flags = {}
for path in sorted(Path("experiments").glob("*.py")):
    ns = runpy.run_path(str(path), run_name="readme_check")
    if "main" not in ns:
        continue  # a module the scripts import
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
        ns["main"](["--help"])
    flags[path.stem] = out.getvalue()
print(json.dumps(flags))
"""


FENCED_BASH = re.compile(r"```bash\n(.*?)```", re.S)


def test_docs_name_only_real_experiment_flags():
    """Every ``--flag`` the README writes after an experiment script's name (``continuation.py
    ... --pairs ff fc``), up to the next script, command, list item or paragraph, is one that
    script's ``--help`` lists; so is every one on a ``bash`` block's line in the other docs,
    a command wrapped with backslashes read whole (their prose is not checked: it names one
    script's flags after another's)."""
    result = subprocess.run([sys.executable, "-c", EXPERIMENT_FLAGS], cwd=ROOT, timeout=300,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    helps = json.loads(result.stdout.splitlines()[-1])
    flags = {name: set(re.findall(r"--[a-z][a-z0-9-]*", text)) for name, text in helps.items()}
    token = r"\b(\w+)\.py\b|(?<![\w-])(--[a-z][a-z0-9-]*)|(\bduplexsim \w+|{ends})"
    wrong = []
    for doc in DOCS:
        text = (ROOT / doc).read_text(encoding="utf-8")
        if doc == "README.md":
            spans, ends = [(0, len(text))], r"\n\n|\n- "
        else:
            spans, ends = [m.span(1) for m in FENCED_BASH.finditer(text)], r"\n"
        script = None
        for begin, end in spans:
            for m in re.compile(token.format(ends=ends)).finditer(joined(text), begin, end):
                if m.group(1):
                    script = m.group(1) if m.group(1) in flags else None
                elif m.group(3):
                    script = None
                elif script and m.group(2) not in flags[script]:
                    wrong.append(f"{doc}:{text.count(chr(10), 0, m.start()) + 1}: {script}.py "
                                 f"{m.group(2)}")
    assert not wrong, "flags the script does not take:\n" + "\n".join(wrong)


def readme_section(heading: str) -> str:
    """The README's text under ``heading`` (a whole heading line), up to the next heading of
    its level or above."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    level = heading.split(" ")[0]
    start = text.index(f"\n{heading}\n") + len(heading) + 2
    ends = [m.start() for m in re.finditer(r"\n(#+) ", text[start:])
            if len(m.group(1)) <= len(level)]
    return text[start:start + ends[0]] if ends else text[start:]


def named(name: str, text: str) -> bool:
    """``name`` stands in ``text`` as a whole key or choice (``normal`` is not named by
    ``normal-analytic``)."""
    return re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text) is not None


def test_scenario_reference_names_every_key_and_choice():
    """README "Scenario files" names every key a scenario file takes and every choice of its
    string keys (a key added to the schema and left out of the table is one a reader never
    hears of), and ``scenarios/asymmetric-topology.toml`` writes every link key, as the README
    says it does."""
    import dataclasses
    import typing

    from duplexsim.config import network, scenario
    from duplexsim.config.reward import RewardConfig

    section = readme_section("### Scenario files (`scenarios/*.toml`)")
    rows = {m.group(1): m.group(2) for m in re.finditer(r"^\| (`\[[^|]*) \| (.*) \|$",
                                                        section, re.M)}
    top = section[:section.index("| table | keys |")]

    def keys(cls: type, *choosing: str) -> list[str]:
        """``cls``'s fields and the choices of its ``choosing`` fields (``Literal``s)."""
        hints = typing.get_type_hints(cls)
        return [f.name for f in dataclasses.fields(cls)] + [
            c for name in choosing for c in typing.get_args(hints[name]) if c is not None]

    tables = ("a", "b", "network", "compute", "buffer", "output", "reward")
    expected = {
        "top-level keys": (top, [k for k in keys(scenario.Scenario) if k not in tables]),
        "[a], [b]": (rows["`[a]`, `[b]`"], keys(scenario.SideConfig, "estimation", "policy")
                     + list(scenario.SIDE_KEYS)),
        "[network]": (rows["`[network]`"], list(network.PRESETS)),
        "[network.topology]": (rows["`[network.topology]`"], keys(network.TopologyConfig)
                               + ["a", "b", "preset", *(f'"{n}"' for n in network.ENDPOINTS)]),
        "[network.a_to_b]": (rows["`[network.a_to_b]`, `[network.b_to_a]`"],
                             [*network.LINK_KEYS, "netem", *network.JITTER_DISTS,
                              *network.LOSS_MODELS, *network.ORDERINGS]),
        "[compute]": (rows["`[compute]`"], keys(scenario.ComputeConfig, "model", "on_miss")),
        "[buffer]": (rows["`[buffer]`"], keys(scenario.BufferConfig)),
        "[output]": (rows["`[output]`"], keys(scenario.OutputConfig)),
        "[reward]": (rows["`[reward]`"], keys(RewardConfig)),
    }
    unnamed = [f"{where}: {name}" for where, (text, names) in expected.items()
               for name in names if not named(name, text)]
    assert not unnamed, "the README's scenario reference does not name:\n" + "\n".join(unnamed)
    example = (ROOT / "scenarios" / "asymmetric-topology.toml").read_text(encoding="utf-8")
    table = example[example.index("[network.a_to_b]"):example.index("[network.b_to_a]")]
    written = set(re.findall(r"^#? *(\w+) =", table, re.M))
    assert set(network.LINK_KEYS) | {"netem"} <= written, set(network.LINK_KEYS) - written


def test_netem_table_is_link_from_netem():
    """The README's netem table (``delay D J [distribution X]`` as ``delay_ms`` and
    ``jitter_ms``) is what ``link_from_netem`` gives, to the digits the table prints."""
    from duplexsim.sim.delay import link_from_netem

    section = readme_section("### Scenario files (`scenarios/*.toml`)")
    row = re.compile(r"^\| `delay D J[^`]*`[^|]* \| `(\w+)` \| D(?: - ([\d.]+) J)? \| "
                     r"([\d.]+) J \|$", re.M)
    rows = row.findall(section)
    assert sorted(dist for dist, _, _ in rows) == ["normal", "pareto", "paretonormal",
                                                   "uniform"]
    wrong = []
    for dist, shift, scale in rows:
        link = link_from_netem(100.0, 10.0, None if dist == "uniform" else dist)
        got_shift, got_scale = (100.0 - link.delay_ms) / 10.0, link.jitter_ms / 10.0
        for printed, got in ((shift or "0", got_shift), (scale, got_scale)):
            digits = len(printed.partition(".")[2])
            if round(got, digits) != float(printed):
                wrong.append(f"{dist}: README {printed}, link_from_netem {got:.6f}")
    assert not wrong, "\n".join(wrong)


def test_tdm_example_is_the_formats_own():
    """README "TDM agents"'s example slice sequence is one the TDM format writes: decoded and
    encoded again, it comes back as printed."""
    import numpy as np

    from duplexsim.tdm_tokens import TdmFormat

    section = readme_section("### TDM agents (time-division multiplexing)")
    example = next(s for s in re.findall(r"`(\[S0\][^`]*)`", section) if "<idle>" in s)
    units = [int(t) for t in example.split() if t.isdigit()]
    pieces = [piece.split() for piece in re.split(r"\[S[01]\]", example)[1:]]
    # a slice's frames: a piece without <eos> or <idle> fills it, one with <eos> is shorter
    whole = [len(p) for p in pieces if p and p[-1] not in ("<eos>", "<idle>")]
    frames = max(whole) if whole else 1 + max(len(p) for p in pieces)
    fmt = TdmFormat(slice_ms=frames * 40, n_units=max(units) + 1)
    names = {"[S0]": fmt.S0, "[S1]": fmt.S1, "<idle>": fmt.idle, "<eos>": fmt.eos}
    ids = [names[t] if t in names else int(t) for t in example.split()]
    own, partner = fmt.decode(np.array(ids))
    assert fmt.render(fmt.encode(own, partner)) == example


def test_vocabulary_sizes_are_the_readmes():
    """"A real Llama": the embedding is cut to ``n_units`` + 5 (7 for TDM) + the BPE's rows."""
    from duplexsim.models.vocab import TdmVocab, Vocab

    section = readme_section("## Plugging in real data and models")
    m = re.search(r"`n_units` \+ (\d+) \((\d+) for TDM\) \+ the BPE's size", section)
    assert m is not None
    assert Vocab(501, 512).size == 501 + int(m.group(1)) + 512
    assert TdmVocab(501, 512).size == 501 + int(m.group(2)) + 512


def test_turn_weight_shares_are_the_shipped_dialogues():
    """README "Agent cards"'s shares for ``turn_weight`` on the shipped dialogue at 200 ms: of
    the targets after a speaker tag, those after ``[S1]`` (a partner unit's identity), and of
    the partner's go-on-or-not tokens (the token after the own piece), those after a
    non-empty own piece (not after a tag: weight 1); both sides pooled, and channel 0's."""
    import numpy as np

    from duplexsim.corpora.default import default_dialogue
    from duplexsim.tokens import SyncFormat

    section = readme_section("### Agent cards (`agents/*.toml`)")
    m = re.search(r"both sides pooled as stage 3 trains them, (\d+)% of the weighted targets\s+"
                  r"are such unit identities and (\d+)% of the partner's decisions keep weight "
                  r"1; from channel 0's\s+side alone (\d+)% and (\d+)%", section)
    assert m is not None
    units = default_dialogue().units
    fmt = SyncFormat(chunk_ms=200, n_units=int(units.max()) + 1)
    counts = []
    for own, partner in ((units[0], units[1]), (units[1], units[0])):
        ids = np.array(fmt.encode(own, partner))
        after_s0, after_s1 = ids[1:][ids[:-1] == fmt.S0], ids[1:][ids[:-1] == fmt.S1]
        counts.append((len(after_s1), len(after_s0) + len(after_s1),
                       int(np.sum(after_s0 < fmt.n_units)), len(after_s0)))
    pooled = [sum(c[i] for c in counts) for i in range(4)]

    def percent(n: int, of: int) -> int:
        return round(100 * n / of)

    assert [int(g) for g in m.groups()] == [
        percent(pooled[0], pooled[1]), percent(pooled[2], pooled[3]),
        percent(counts[0][0], counts[0][1]), percent(counts[0][2], counts[0][3])]


def layout_names() -> tuple[set[str], set[str]]:
    """The paths README "Layout" names: inside ``duplexsim/`` (indented lines: the entry and
    any ``NAME.py`` its description names), and at the repository's top."""
    block = re.search(r"```\n(.*?)```", readme_section("## Layout"), re.S)
    assert block is not None
    library, top = set(), set()
    for line in filter(str.strip, block.group(1).splitlines()):
        entry = line.split()[0]
        if line.startswith(" "):
            library |= {entry.rstrip("/")} | set(re.findall(r"\b\w+\.py\b", line))
        else:
            top.add(entry.rstrip("/"))
    return library, top


def test_layout_names_every_part_of_the_library():
    """README "Layout" names every subpackage and module at the top of ``duplexsim/``, and
    only paths that are there."""
    library, top = layout_names()
    package = ROOT / "duplexsim"
    missing = sorted(p for p in library if not (package / p).exists())
    missing += sorted(p for p in top if not (ROOT / p).exists())
    assert not missing, f"Layout names what is not there: {missing}"
    parts = {p.name for p in package.iterdir()
             if p.is_dir() and (p / "__init__.py").is_file()}
    parts |= {p.name for p in package.glob("*.py")} - {"__init__.py", "__main__.py"}
    assert not sorted(parts - library), f"Layout leaves out: {sorted(parts - library)}"
