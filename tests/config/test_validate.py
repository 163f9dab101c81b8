"""`duplexsim validate`: shipped scenarios pass, broken files name every problem."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from duplexsim.config import cli as validate_cli
from duplexsim.config.cli import file_kind, validate_file

ROOT = Path(__file__).parents[2]
SCENARIOS = sorted((ROOT / "scenarios").glob("*.toml"))


def _validate(*files: Path | str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "duplexsim.cli", "validate", *map(str, files)],
        capture_output=True, text=True, cwd=cwd, timeout=120,
    )


def test_shipped_scenarios_validate_ok() -> None:
    assert len(SCENARIOS) >= 5
    names = {p.name for p in SCENARIOS}
    assert {"fisher-candor-200ms.toml", "replay-lan.toml", "asymmetric-topology.toml"} <= names
    out = _validate(*SCENARIOS)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.splitlines() == [f"{p}: OK" for p in SCENARIOS]


BROKEN = {
    "types.toml": ('chunk_ms = "200"\nduration_s = true\n[a]\nkind = "syncllm"\nagent = 3\n', [
        "types.toml: chunk_ms: wrong type string (allowed: integer)",
        "types.toml: duration_s: wrong type boolean (allowed: number)",
        "types.toml: a.agent: wrong type integer (allowed: string)",
    ]),
    "keys.toml": ('chunk = 200\n[a]\nkind = "replay"\nchanel = 1\n[netwrok]\npreset = "lan"\n', [
        "keys.toml: chunk: unknown key (allowed: a, b, buffer, chunk_ms,",
        "keys.toml: a.chanel: unknown key (allowed: agent, channel,",
        "keys.toml: netwrok: unknown key",
    ]),
    "preset.toml": ('[network]\npreset = "moon-base"\n', [
        "preset.toml: network.preset: ",
        "moon-base",
    ]),
    "chunk.toml": ("chunk_ms = 150\n", [
        "chunk.toml: chunk_ms: 150 is not a positive multiple of the 40 ms frame "
        "(allowed: multiples of 40",
    ]),
    "link.toml": ('[network]\npreset = "lan"\n[network.a_to_b]\nloss = 1.5\ndelay_ms = -20.0\n', [
        "link.toml: network.a_to_b.loss: ",
        "link.toml: network.a_to_b.delay_ms: ",
    ]),
    "syntax.toml": ('name = "x"\nchunk_ms = \n', ["syntax.toml: line 2: not valid TOML"]),
    "reward.toml": ('[reward]\ncolour = 1.0\ninterrupt = -0.5\n', [
        "reward.toml: reward.colour: unknown key (allowed: backchannel, bc_context_ms,",
        "reward.toml: reward.interrupt: -0.5 is out of range (allowed: 0 .. 1e+06)",
    ]),
}


def test_broken_files_name_each_problem(tmp_path: Path) -> None:
    for name, (text, _) in BROKEN.items():
        (tmp_path / name).write_text(text)
    out = _validate(*BROKEN, cwd=tmp_path)
    assert out.returncode == 1
    lines = out.stdout.splitlines()
    assert not any(line.endswith(": OK") for line in lines)
    for name, (_, expected) in BROKEN.items():
        mine = [line for line in lines if line.startswith(f"{name}: ")]
        for fragment in expected:
            assert any(fragment in line for line in mine), f"{fragment!r} not in {mine}"
    assert lines[-1] == f"{len(BROKEN)} of {len(BROKEN)} files have problems"


def test_a_reward_table_validates(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text('[reward]\ngap_per_s = 2.0\nbc_min_interval_ms = 5000\n')
    assert validate_file(good) == []


def test_one_bad_file_fails_the_run(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("seed = -1\n")
    problems = validate_file(bad)
    assert [str(p) for p in problems] == [f"{bad}: seed: -1 is negative (allowed: >= 0)"]
    assert validate_file(SCENARIOS[0]) == []
    assert [p.message for p in validate_file(tmp_path / "nope.toml")] == ["file not found"]


def test_a_byte_order_mark_is_named(tmp_path: Path) -> None:
    """A file saved as "UTF-8 with BOM" (Windows Notepad) was "line 1: not valid TOML:
    Invalid statement at column 1": the mark is invisible in an editor."""
    bom = tmp_path / "bom.toml"
    bom.write_bytes(b"\xef\xbb\xbfname = \"x\"\n")
    assert [str(p) for p in validate_file(bom)] == [
        f"{bom}: byte 0: starts with a byte-order mark (BOM), which the TOML reader refuses "
        "(allowed: UTF-8 without a BOM (save as plain UTF-8))"]
    bad = tmp_path / "bad.toml"  # an ordinary syntax error keeps its line and column
    bad.write_bytes(b"name = \n")
    assert validate_file(bad)[0].key == "line 1"

def test_check_files_reports_untrained_agents(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text(f'[a]\nkind = "syncllm"\nagent = "{tmp_path / "untrained"}"\n')
    assert validate_file(path) == []  # validate alone does not need trained agents
    (problem,) = validate_file(path, check_files=True)
    assert problem.key == "a.agent" and "agent.json missing" in problem.message
    assert "duplexsim train" in str(problem)


def test_check_files_reports_sides_of_two_unit_tokenizers(tmp_path: Path) -> None:
    """validate --check-files said OK for two corpora (or agents) of as many units from two
    tokenizers, which simulate refuses; copies of one tokenizer are fine."""
    from cli_workspace import write_corpus, write_tokenizer

    for name in ("one", "two"):
        write_corpus(tmp_path / name)
    path = tmp_path / "s.toml"
    path.write_text("".join(f'[{k}]\nkind = "replay"\ncorpus = "{tmp_path / n}"\n'
                            for k, n in (("a", "one"), ("b", "two"))))
    assert validate_file(path, check_files=True) == []
    write_tokenizer(tmp_path / "two" / "tokenizer", n_silence_units=2)
    (problem,) = validate_file(path, check_files=True)
    assert str(problem).startswith(f"{path}: b.corpus: its unit tokenizer {tmp_path}/two/"
                                   f"tokenizer is not a.corpus's ({tmp_path}/one/tokenizer)")


def test_check_files_reports_a_cards_missing_init_from(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A card's ``model.init_from`` was first looked at when the model was built, after the
    corpus was read and the vocabulary trained, and the error did not name the card (review).
    A relative path is the current directory's, as in scenario files."""
    card = tmp_path / "cards" / "c.toml"
    card.parent.mkdir()
    card.write_text('[model]\ninit_from = "llama"\n')
    assert validate_file(card) == []
    (problem,) = validate_file(card, check_files=True)
    assert (problem.file, problem.key) == (str(card), "model.init_from")
    assert f"relative to the current directory {Path.cwd()}, not to the card" in problem.message
    (tmp_path / "llama").mkdir()
    (tmp_path / "llama" / "config.json").write_text("{}")
    monkeypatch.chdir(tmp_path)
    assert validate_file(card, check_files=True) == []


def test_check_files_checks_a_sweeps_cells_and_cell_function(tmp_path: Path) -> None:
    """validate --check-files said OK for a sweep whose cells named a missing corpus, or
    whose cell function did not import, where `duplexsim sweep` refuses both at once."""
    (tmp_path / "base.toml").write_text('name = "b"\nduration_s = 2.0\n')
    path = tmp_path / "s.toml"
    path.write_text(f'[sweep]\nname = "x"\nbase = "{tmp_path / "base.toml"}"\n[sweep.grid]\n'
                    f'"a.corpus" = ["", "{tmp_path / "nocorpus"}"]\n')
    assert validate_file(path) == []
    (problem,) = validate_file(path, check_files=True)
    assert problem.file == str(path) and problem.key == "a.corpus"
    assert "manifest.json missing" in problem.message
    path.write_text(path.read_text().replace('name = "x"', 'name = "x"\ncell = "no_such:fn"'))
    assert validate_file(path) == []
    (problem,) = validate_file(path, check_files=True)
    assert problem.key == "sweep.cell" and "cannot be imported" in problem.message


def test_dispatch_on_content(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert file_kind({"sweep": {}}) == "sweep"
    assert file_kind({"agent": {}, "model": {}}) == "agent card"
    assert file_kind({"model": {}}) == "agent card"
    # a card of only [train] / [stageN] (every key has a default; `train` reads it): it was
    # taken for a scenario and every table reported as an unknown scenario key
    assert file_kind({"train": {"seed": 3}}) == "agent card"
    assert file_kind({"stage3": {"steps": 10}}) == "agent card"
    only_train = tmp_path / "seed3.toml"
    only_train.write_text("[train]\nseed = 3\n")
    assert validate_file(only_train) == []
    assert file_kind({"chunk_ms": 200, "network": {}}) == "scenario"
    assert file_kind({"name": "x", "entrainment": 0.5}) == "corpus config"
    assert file_kind({"name": "x", "chunk_ms": 200}) == "scenario"  # no SynthConfig key
    # named after a corpus preset with its one other key misspelt: the corpus keys are the
    # allowed ones, not a scenario's (audit)
    assert file_kind({"name": "fisher-like", "ipu_median_ss": 1.0}) == "corpus config"
    assert file_kind({"name": "fisher-like", "chunk_ms": 160}) == "scenario"
    # a corpus config with a stray table is still one: its own keys are named, not every
    # key as unknown to a scenario
    assert file_kind({"entrainment": 0.5, "style": {"p_yield": 0.4}}) == "corpus config"
    card = tmp_path / "card.toml"
    card.write_text('[agent]\nname = "x"\n')
    # a loader module that is not there is a clear problem, not a crash
    monkeypatch.setitem(validate_cli.LOADERS, "agent card", ("duplexsim.no_such_module", "load"))
    (problem,) = validate_file(card)
    assert problem.message.startswith(
        "checking agent card files needs duplexsim.no_such_module.load, which is not available"
    )


@pytest.mark.parametrize("name", ["[1]", "{ x = 1 }"])
def test_a_name_that_is_a_list_or_table_is_one_problem(tmp_path: Path, name: str) -> None:
    """A top-level name that is a list or table was a TypeError traceback from `duplexsim
    validate` (unhashable, looked up among the corpus presets); simulate said it in one line."""
    path = tmp_path / "s.toml"
    path.write_text(f'name = {name}\n[a]\nkind = "scripted"\n')
    out = _validate(path)
    assert out.returncode == 1 and out.stderr == "", out.stderr
    wrong = "array" if name == "[1]" else "table"
    assert out.stdout.splitlines() == [f"{path}: name: wrong type {wrong} (allowed: string)"]

TDM_BROKEN = {
    "tdm-side.toml": ('chunk_ms = 160\n[a]\nkind = "tdm"\nagent = "runs/agents/fisher-tdm"\n'
                      'estimation = "silence"\n[b]\nkind = "syncllm"\nagent = "x"\n'
                      'slice_ms = 1280\n', [
                          "tdm-side.toml: a.estimation: not used by kind = 'tdm' (only by kind "
                          "= 'syncllm') (allowed: agent, clock_drift_ppm, clock_offset_ms, kind, "
                          "slice_ms, temperature, top_k, top_p)",
                          "tdm-side.toml: b.slice_ms: not used by kind = 'syncllm' (only by "
                          "kind = 'tdm')",
                      ]),
    "tdm-slice.toml": ('chunk_ms = 240\n[a]\nkind = "tdm"\nagent = "a"\nslice_ms = 1010\n'
                       '[b]\nkind = "tdm"\nagent = "b"\nslice_ms = 1280\n', [
                           "tdm-slice.toml: a.slice_ms: 1010 is not a multiple of the "
                           "40 ms frame",
                       ]),
    "tdm-chunks.toml": ('chunk_ms = 240\n[a]\nkind = "tdm"\nagent = "a"\n'
                        '[b]\nkind = "tdm"\nagent = "b"\nslice_ms = 1280\n', [
                            "tdm-chunks.toml: b.slice_ms: 1280 is not a whole number of chunk_ms"
                            " = 240 chunks (allowed: multiples of 240, e.g. 1200 or 1440)",
                        ]),
    "tdm-card.toml": ('[agent]\nname = "t"\nkind = "tdm"\n[tdm]\nslice_ms = [1200, 1210]\n'
                      'interruption_prob = 1.5\nbarge_in_ms = [4000, 1000]\nwindow_slices = 0\n'
                      'colour = 1\n', [
                          "tdm-card.toml: tdm.colour: unknown key (allowed: barge_in_ms, ",
                      ]),
    "tdm-card-values.toml": ('[agent]\nname = "t"\nkind = "tdm"\n[tdm]\nslice_ms = [1200, 1210]\n'
                             'interruption_prob = 1.5\nbarge_in_ms = [4000, 1000]\n'
                             'window_slices = 0\n', [
                                 "tdm-card-values.toml: tdm.slice_ms: [1200, 1210] (allowed: "
                                 "non-empty list of positive multiples of 40",
                                 "tdm-card-values.toml: tdm.interruption_prob: 1.5 (allowed: 0..1)",
                                 "tdm-card-values.toml: tdm.barge_in_ms: [4000, 1000] (allowed: "
                                 "[low, high] with 40 <= low <= high)",
                                 "tdm-card-values.toml: tdm.window_slices: 0 is not positive",
                             ]),
    # upper bounds: these validated OK and trained on slices no dialogue holds
    "tdm-card-huge.toml": ('[agent]\nname = "t"\nkind = "tdm"\n[tdm]\n'
                           'slice_ms = [1000000000000]\nwindow_slices = 1000000000000000\n'
                           'barge_in_ms = [1000, 1000000000]\nmin_heard_ms = 1000000000\n', [
                               "tdm-card-huge.toml: tdm.slice_ms: [1000000000000] (allowed: "
                               "non-empty list of positive multiples of 40 up to 600000",
                               "tdm-card-huge.toml: tdm.window_slices: 1000000000000000 is out "
                               "of range (allowed: 1 .. 1000000000)",
                               "tdm-card-huge.toml: tdm.barge_in_ms: [1000, 1000000000]",
                               "tdm-card-huge.toml: tdm.min_heard_ms: 1000000000 is out of range",
                           ]),
    "tdm-kind.toml": ('[agent]\nname = "s"\nkind = "tdn"\n[tdm]\nslice_ms = [1200]\n', [
        "tdm-kind.toml: agent.kind: unknown value 'tdn' (allowed: syncllm, tdm)",
    ]),
    "sync-with-tdm.toml": ('[agent]\nname = "s"\n[tdm]\nslice_ms = [1200]\n', [
        "sync-with-tdm.toml: tdm: a [tdm] table in a card with agent.kind = 'syncllm' (allowed: "
        'agent.kind = "tdm", or no [tdm] table)',
    ]),
}


def test_tdm_keys_are_checked_with_named_errors(tmp_path: Path) -> None:
    for name, (text, _) in TDM_BROKEN.items():
        (tmp_path / name).write_text(text)
    out = _validate(*TDM_BROKEN, cwd=tmp_path)
    assert out.returncode == 1
    lines = out.stdout.splitlines()
    for name, (_, expected) in TDM_BROKEN.items():
        mine = [line for line in lines if line.startswith(f"{name}: ")]
        assert mine, f"no problem reported for {name}: {lines}"
        for fragment in expected:
            assert any(fragment in line for line in mine), f"{fragment!r} not in {mine}"


def test_shipped_tdm_cards_validate_ok() -> None:
    cards = sorted((ROOT / "agents").glob("*-tdm.toml"))
    assert [p.name for p in cards] == ["candor-tdm.toml", "fisher-tdm.toml"]
    out = _validate(*cards)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize(("command", "settings", "found", "wanted"), [
    (["corpus", "build", "--out", "c", "--config"], "scenario", "a scenario",
     "not a corpus config"),
    (["corpus", "build", "--out", "c", "--config"], "card", "an agent card",
     "not a corpus config"),
    (["simulate", "--out", "s"], "corpus", "a corpus config", "not a scenario"),
    (["train", "--corpus", "c", "--out", "t"], "corpus", "a corpus config", "not an agent card"),
    (["sweep", "--out", "w"], "corpus", "a corpus config", "not a sweep"),
])
def test_a_corpus_config_and_another_kind_are_told_apart(tmp_path: Path, capsys, command,
                                                         settings, found, wanted) -> None:
    """`corpus build --config` given a scenario or card, or a corpus config given to
    simulate, train or sweep, listed every key of the file as unknown (7 lines for the
    shipped replay-lan scenario) instead of saying which kind of file it is."""
    from duplexsim.cli import main

    path = {"scenario": ROOT / "scenarios" / "replay-lan.toml",
            "card": ROOT / "agents" / "fisher.toml", "corpus": tmp_path / "corpus.toml"}[settings]
    (tmp_path / "corpus.toml").write_text('name = "fisher-like"\nipu_median_s = 1.2\n')
    argv = [command[0], str(path), *command[1:]] if command[0] != "corpus" else [
        *command, str(path)]
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(tmp_path)
        assert main(argv) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith(f"{path}: is {found} file, {wanted}"), err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corpus.toml"]


def test_wrong_types_are_named_as_toml_names_them(tmp_path: Path) -> None:
    """"wrong type str", "dict", "list": Python's words for TOML's string, table and array."""
    path = tmp_path / "t.toml"
    path.write_text('name = "t"\nchunk_ms = 2.5\nduration_s = [1]\nseed = 1979-05-27\n'
                    '[a]\nkind = "scripted"\ntemperature = { x = 1 }\n')
    out = _validate(path)
    assert sorted(out.stdout.splitlines()) == sorted([
        f"{path}: chunk_ms: wrong type float (allowed: integer)",
        f"{path}: duration_s: wrong type array (allowed: number)",
        f"{path}: seed: wrong type datetime (allowed: integer)",
        f"{path}: a.temperature: wrong type table (allowed: number)"]), out.stdout
