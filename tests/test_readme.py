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
