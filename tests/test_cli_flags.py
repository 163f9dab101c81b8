"""The CLI's flags: the commands in the shipped settings files parse, an integer past a
float's range is out of range, and every flag of every command and script says its
default in --help, as it is typed.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest


def test_commands_in_the_shipped_settings_files_parse() -> None:
    """The `duplexsim ...` lines in the comments of scenarios/ and agents/ are what a new
    user copies: each must be accepted by its command's parser (replay-lan.toml's lacked the
    required --out)."""
    import importlib
    import re
    import shlex

    from duplexsim.cli import COMMANDS, ArgumentParser

    root = Path(__file__).parents[1]
    found = 0
    for path in sorted([*root.glob("scenarios/*.toml"), *root.glob("agents/*.toml")]):
        comments = "\n".join(line.lstrip("# ") for line in path.read_text().splitlines()
                             if line.startswith("#")).replace("\\\n", " ")
        for line in re.findall(r"duplexsim ([a-z]+ [^`\n]*)", comments):
            argv = shlex.split(line)
            if argv[0] not in COMMANDS:
                continue
            parser = ArgumentParser(prog=f"duplexsim {argv[0]}")
            importlib.import_module(COMMANDS[argv[0]][0]).add_arguments(parser)
            try:
                parser.parse_args(argv[1:])
            except SystemExit:
                pytest.fail(f"{path.name}: `duplexsim {' '.join(argv)}` does not parse")
            found += 1
    assert found >= 10


@pytest.mark.parametrize("argv", [
    ["simulate", "scenario.toml", "--out", "run", "--seed", "9" * 400],
    ["sweep", "sweep.toml", "--limit", "9" * 400],
])
def test_an_integer_flag_past_a_floats_range_is_out_of_range(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        argv: list[str]) -> None:
    """``--seed 99...9`` (400 digits) was an OverflowError traceback from the range check."""
    from duplexsim.cli import main

    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as info:
        main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert info.value.code == 2 and len(err) == 1, err
    assert err[0].startswith(f"duplexsim {argv[0]}: {argv[-2]}: 999") and "out of range" in err[0]
    assert not (tmp_path / "run").exists()


def _parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """``parser`` and its subcommands' parsers, depth first."""
    found = [parser]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):
                found += _parsers(sub)
    return found


def _as_typed(default: object) -> str:
    """A default as --help should say it: a list as its values are typed on the command
    line (``test val``; an empty one ``none``), anything else as ``str`` gives it."""
    if isinstance(default, (list, tuple)):
        return " ".join(map(str, default)) or "none"
    return str(default)


def _unsaid_defaults(parser: argparse.ArgumentParser) -> tuple[list[str], int]:
    """The flags of ``parser`` (and its subcommands) whose default is a value but whose help
    does not say ``(default: VALUE)`` (a list as typed: :func:`_as_typed`), or says nothing
    else (``--n-boot N_BOOT  (default: 1000)`` tells the default, not what the flag is), and
    how many such flags there are. A default of "not given" (None, False, '', SUPPRESS) is
    left to the help's words, but a flag with no help at all is listed too
    (``rl_turn_policy.py --timesteps TIMESTEPS`` said nothing of what it counts nor that
    400000 or the --policy run's is used). The help is expanded by the parser's own
    formatter, as --help shows it."""
    unsaid: list[str] = []
    checked = 0
    for each in _parsers(parser):
        formatter = each._get_formatter()
        for action in each._actions:
            if isinstance(action, argparse._SubParsersAction):
                continue
            default = action.default
            if action.option_strings and action.help is None:  # not even words
                unsaid.append(f"{each.prog} {action.option_strings[-1]}: no help")
                continue
            if not action.option_strings or any(default is no for no in (
                    None, False, argparse.SUPPRESS)) or default == "":  # (not `in`: 0 == False)
                continue
            checked += 1
            shown = " ".join(formatter._expand_help(action).split()) if action.help else ""
            if f"(default: {_as_typed(default)}" not in shown:
                unsaid.append(f"{each.prog} {action.option_strings[-1]}")
            elif not shown.split("(default:")[0].strip():
                unsaid.append(f"{each.prog} {action.option_strings[-1]}: only its default")
    return unsaid, checked


def _python_lists_in_help(parser: argparse.ArgumentParser) -> list[str]:
    """The flags of ``parser`` (and its subcommands) whose list default --help prints as a
    Python list (``(default: ['test', 'val'])``), not as a user types it (``test val``)."""
    shown: list[str] = []
    for each in _parsers(parser):
        text = " ".join(each.format_help().split())
        for action in each._actions:
            if isinstance(action.default, (list, tuple)) and any(
                    f"{python}" in text for python in (action.default, list(action.default))):
                shown.append(f"{each.prog} {action.option_strings[-1]}: {action.default}")
        if "(default: [" in text or "(default: (" in text:
            shown.append(f"{each.prog}: a Python list or tuple after '(default: '")
    return shown


def _command_parsers() -> list[argparse.ArgumentParser]:
    """The parser of every ``duplexsim`` command, as :func:`duplexsim.cli.main` builds it."""
    import importlib

    from duplexsim.cli import COMMANDS, ArgumentParser

    parsers = []
    for name, (module, _) in COMMANDS.items():
        top = ArgumentParser(prog=f"duplexsim {name}")
        importlib.import_module(module).add_arguments(top)
        parsers.append(top)
    return parsers


def test_every_flag_with_a_default_says_it_in_its_help() -> None:
    """``duplexsim units train --help`` showed ``--max-dialogues MAX_DIALOGUES  per corpus``
    (50 unsaid); so did continue's --prompt-s/--seconds and demo's sizes. Every flag of every
    command (and subcommand) whose default is a value says ``(default: VALUE)`` in --help;
    flags whose default is "not given" (None, False, '') explain themselves in words."""
    unsaid, checked = [], 0
    for top in _command_parsers():
        command_unsaid, command_checked = _unsaid_defaults(top)
        unsaid += command_unsaid
        checked += command_checked
        assert not _python_lists_in_help(top)
    assert checked >= 20
    assert not unsaid, unsaid


class _Built(Exception):
    """Raised from ``parse_args`` with the parser a script built: its flags, nothing run."""

    def __init__(self, parser: argparse.ArgumentParser) -> None:
        super().__init__(parser.prog)
        self.parser = parser


def _script_parsers(monkeypatch: pytest.MonkeyPatch) -> dict[str, argparse.ArgumentParser]:
    """Module -> the parser its ``main`` builds, for every benchmark module, every experiment
    script (a ``__main__`` guard) and ``python -m duplexsim.corpora.default``. ``parse_args``
    hands the parser over instead of parsing, so the scripts' real parsers are read and
    nothing runs."""
    import importlib

    from duplexsim.bench.__main__ import names as bench_names

    root = Path(__file__).resolve().parents[1]
    scripts = sorted(p.stem for p in (root / "experiments").glob("*.py")
                     if 'if __name__ == "__main__":' in p.read_text())
    modules = [f"duplexsim.bench.{name}" for name in bench_names()]
    modules += ["duplexsim.corpora.default", *scripts]
    monkeypatch.syspath_prepend(str(root / "experiments"))  # their bare-name imports

    def hand_over(self: argparse.ArgumentParser, *args: object, **kwargs: object) -> None:
        raise _Built(self)

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", hand_over)
    parsers = {}
    for module in modules:
        with pytest.raises(_Built) as built:
            importlib.import_module(module).main([])
        parsers[module] = built.value.parser
    assert len(scripts) >= 13 and len(modules) >= 20, modules
    return parsers


def test_every_script_flag_with_a_default_says_it_in_its_help(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The parsers outside the ``duplexsim`` command say their defaults as it does:
    ``python -m duplexsim.bench.bench_envs --help`` showed ``--n-envs N_ENVS`` (16 unsaid),
    ``experiments/selfplay.py --help`` ``--conversations CONVERSATIONS`` (12 unsaid)."""
    unsaid, checked = [], 0
    for module, parser in _script_parsers(monkeypatch).items():
        script_unsaid, script_checked = _unsaid_defaults(parser)
        unsaid += [f"{module}: {flag}" for flag in script_unsaid]
        checked += script_checked
    assert checked >= 100, checked
    assert not unsaid, unsaid


def test_no_help_prints_a_default_as_a_python_list(monkeypatch: pytest.MonkeyPatch) -> None:
    """``experiments/continuation.py --help`` said ``(default: ['test', 'val'])`` for
    ``--splits test val``, bench_training ``(default: [])`` for a repeatable --corpus: every
    command's and script's --help shows a list default as it is typed (``test val``,
    ``none``), through :class:`duplexsim.cli.HelpFormatter`."""
    parsers = [*_command_parsers(), *_script_parsers(monkeypatch).values()]
    lists = sum(isinstance(a.default, (list, tuple)) for p in parsers for each in _parsers(p)
                for a in each._actions)
    shown = [flag for parser in parsers for flag in _python_lists_in_help(parser)]
    assert lists >= 20 and not shown, (lists, shown)
