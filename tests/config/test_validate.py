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


SWEEP = '[sweep]\nname = "s"\nbase = "base.toml"\n'
"""The head of a sweep file (its base is read only once the [sweep] table is valid)."""


@pytest.mark.parametrize(("text", "expected"), [
    ('chunk_ms = "200"\nduration_s = 0.1\n', ["chunk_ms: wrong type string"]),
    ('[a]\nkind = "gpt"\nagent = "x"\n', ["a.kind: unknown value 'gpt'"]),
    ('[model]\nhidden_size = "x"\nn_heads = 3\n', ["model.hidden_size: wrong type string"]),
    ('[agent]\nname = "c"\n[stage3]\nseq_len = "x"\nbatch_tokens = 1000\n',
     ["stage3.seq_len: wrong type string"]),
    ('[model]\nn_units = "x"\nsilence_unit = 600\n', ["model.n_units: wrong type string"]),
    # a valid field the check reads: still checked
    ('chunk_ms = 200\nduration_s = 0.1\nseed = "x"\n',
     ["seed: wrong type string", "duration_s: 0.1 s is shorter than one chunk"]),
    # a direction's link beside a bad topology: it reads the preset and itself only, so it
    # is still named (the topology's problem hid it)
    ('[network.a_to_b]\njitter_ms = 5\njitter_dist = "none"\n[network.topology]\n'
     'edges = [{ a = "A", b = "B", netem = "delay 10ms loss gemodel 1%" }]\n',
     ["network.topology.edges[0].netem: loss gemodel without r",
      'network.a_to_b.jitter_dist: "none" with jitter_ms = 5.0']),
    # ... but not beside a bad preset when it read the preset at its default ("ideal")
    ('[network]\npreset = 3\n[network.a_to_b]\njitter_dist = "pareto"\n',
     ["network.preset: wrong type integer"]),
    # a topology edge's link beside a bad node list: it reads the edge only
    ('[network.topology]\nnodes = ["A", "B", 3]\n'
     'edges = [{ a = "A", b = "B", jitter_ms = 5, jitter_dist = "none" }]\n',
     ["network.topology.nodes[2]: wrong type integer",
      'network.topology.edges[0].jitter_dist: "none" with jitter_ms = 5.0']),
    # ... but an edge's node, checked against the node list at its default, is not
    ('[network.topology]\nnodes = ["A", "B", 3]\nedges = [{ a = "A", b = "C" }]\n',
     ["network.topology.nodes[2]: wrong type integer"]),
    # scenario checks of a nested key beside a bad seed: they read their tables only
    ('seed = "x"\n[a]\nkind = "syncllm"\nagent = "x"\nestimation = "wait"\n'
     '[buffer]\ngive_up_ms = -1\n[network.b_to_a]\nloss = 0.01\n',
     ["seed: wrong type string", "buffer.give_up_ms: -1 (never give up) while a.estimation"]),
    ('seed = "x"\nchunk_ms = 200\n[a]\nkind = "tdm"\nagent = "x"\nslice_ms = 1120\n',
     ["seed: wrong type string", "a.slice_ms: 1120 is not a whole number of chunk_ms = 200"]),
    # ... but a slice against a bad chunk_ms (read at its default 160 ms) is not
    ('chunk_ms = "x"\n[a]\nkind = "tdm"\nagent = "x"\nslice_ms = 1000\n',
     ["chunk_ms: wrong type string"]),
    # a card's checks across tables beside a bad table they do not read
    ('[train]\nseed = -1\n[stage1]\nenabled = false\n[stage2]\nenabled = false\n'
     '[stage3]\nenabled = false\n',
     ["train.seed: -1 is out of range", "stage3.enabled: every stage is disabled"]),
    ('[train]\nseed = -1\n[model]\nsize = "tiny"\n[stage1]\nseq_len = 512\n',
     ["train.seed: -1 is out of range", "stage1.seq_len: 512 > the model's context_tokens"]),
    ('[stage2]\nlr = -1\n[model]\nsize = "tiny"\ncontext_tokens = 40\n',
     ["stage2.lr: -1.0 is not", "model.context_tokens: 40 is too short for 240 ms chunks"]),
    ('[agent]\nkind = "tdm"\n[stage2]\nlr = -1\n[model]\nsize = "tiny"\n'
     '[train]\nchunk_ms = [160]\n[tdm]\nslice_ms = [1200]\n',
     ["stage2.lr: -1.0 is not", "tdm.slice_ms: 1200 is not a whole number of chunks"]),
    # ... but not a [tdm] table beside a bad agent.kind (it said "agent.kind = 'syncllm'",
    # the default, of a card that never said so)
    ('[agent]\nkind = "x"\n[tdm]\nslice_ms = [1200]\n', ["agent.kind: unknown value 'x'"]),
    # a sweep's grid and set keys beside a bad [sweep] field: they read their tables only
    (SWEEP + 'workers = "four"\n[sweep.grid]\n"a.x + b.x" = [1]\n',
     ["sweep.workers: wrong type string", "sweep.grid.a.x + b.x: a key with spaces"]),
    (SWEEP + 'workers = "four"\n[sweep.grid]\n"x.y" = [1]\n[sweep.grid.x]\ny = [2]\n',
     ["sweep.workers: wrong type string", "sweep.grid.x.y: is given twice"]),
    (SWEEP + 'workers = "four"\n[sweep.set]\nseed = 3\n',
     ["sweep.workers: wrong type string", "sweep.set.seed: seeds are swept with"]),
    (SWEEP + 'workers = "four"\n[sweep.set]\nduration_s = 3\n[sweep.grid]\n'
     'duration_s = [1, 2]\n',
     ["sweep.workers: wrong type string", "sweep.set.duration_s: grid.duration_s replaces it"]),
    # ... but not one that read the bad field at its default: an unscored key against cell
    # = "" (the default), the cell count against one seed
    (SWEEP + 'cell = 3\n[sweep.grid]\n"output.audio" = [true, false]\n',
     ["sweep.cell: wrong type integer"]),
    (SWEEP + f'seeds = [0, "x"]\n[sweep.grid]\na = {list(range(1000))}\n'
     f'b = {list(range(1000))}\n', ["sweep.seeds[1]: wrong type string"]),
])
def test_a_check_that_read_an_invalid_field_is_not_reported(tmp_path: Path, text: str,
                                                            expected: list[str]) -> None:
    """A check across fields ran on the invalid field's default: chunk_ms = "200" with
    duration_s = 0.1 also said "duration_s: shorter than one chunk" (of 160 ms), an unknown
    side kind "a.agent: not used by kind = 'replay'", hidden_size = "x" with n_heads = 3
    "hidden_size 256 is not divisible by n_heads 3"."""
    (tmp_path / "f.toml").write_text(text)
    problems = [f"{p.key}: {p.message}" for p in validate_file(tmp_path / "f.toml")]
    assert len(problems) == len(expected), problems
    for line, fragment in zip(problems, expected, strict=True):
        assert line.startswith(fragment), problems


@pytest.mark.parametrize(("text", "expected"), [
    # a key the file left out, whose check names what it read: a syncllm side's agent
    ('[a]\nkind = "syncllm"\ntemperature = "hot"\n',
     ["a.temperature: wrong type string", "a.agent: a syncllm side needs its trained agent"]),
    ('[network.topology]\nedges = [{ a = "A", delay_ms = "x" }]\n',
     ["network.topology.edges[0].delay_ms: wrong type string",
      "network.topology.edges[0].b: edge endpoint missing"]),
    ('[stage1]\nlr = "x"\nsteps = 10\n',
     ["stage1.lr: wrong type string", "stage1.warmup_steps: 20 > the stage's 10 steps"]),
    # a direction's link beside a bad preset: what it says over every preset
    ('[network]\npreset = "moon"\n[network.a_to_b]\nloss_model = "none"\nloss = 0.1\n'
     '[network.b_to_a]\njitter_dist = "trace"\n',
     ["network.preset: unknown preset 'moon'",
      'network.a_to_b.loss_model: "none" with loss = 0.1',
      'network.b_to_a.jitter_trace: jitter_dist = "trace" needs a file']),
    ('[network]\npreset = 3\n[network.a_to_b]\njitter_ms = 5\njitter_dist = "none"\n',
     ["network.preset: wrong type integer",
      'network.a_to_b.jitter_dist: "none" with jitter_ms = 5.0']),
    # ... but not what only the preset's values make a problem
    ('[network]\npreset = "moon"\n[network.a_to_b]\njitter_dist = "pareto"\n',
     ["network.preset: unknown preset 'moon'"]),
    # a grid too large at any number of seeds, beside bad seeds
    (SWEEP + f'seeds = [0, "x"]\n[sweep.grid]\na = {list(range(1001))}\n'
     f'b = {list(range(1000))}\n',
     ["sweep.seeds[1]: wrong type string",
      "sweep.grid: 1001 x 1000 grid values = 1001000 cells for each seed"]),
    (SWEEP + f'seeds = [-1]\n[sweep.grid]\na = {list(range(1001))}\n'
     f'b = {list(range(1000))}\n',
     ["sweep.seeds: -1 is negative", "sweep.grid: 1001 x 1000 grid values = 1001000 cells"]),
    # a stage's checks across its fields beside a bad field they do not read
    ('[stage2]\nlr = -1\nbatch_tokens = 1000\n',
     ["stage2.lr: -1.0 is not", "stage2.batch_tokens: 1000 is not a multiple of seq_len"]),
    ('[stage3]\nmin_lr_ratio = 2.0\nsteps = 10\nwarmup_steps = 50\n',
     ["stage3.min_lr_ratio: 2.0 is not", "stage3.warmup_steps: 50 > the stage's 10 steps"]),
    ('[stage3]\nturn_weight = 0\nsteps = 0\nwarmup_steps = 0\n',
     ["stage3.turn_weight: 0.0 is not", "stage3.steps: 0 (and tokens = 0): an enabled stage"]),
    ('[model]\ntext_vocab_size = 10\nn_heads = 3\n',
     ["model.text_vocab_size: 10 is out of range",
      "model.n_heads: hidden_size 256 is not divisible by n_heads 3"]),
    # ... but not one that reads the bad field (or one it was checked against)
    ('[stage2]\nseq_len = 0\nbatch_tokens = 1000\n', ["stage2.seq_len: 0 is out of range"]),
    ('[stage3]\nsteps = -1\nwarmup_steps = 50\n', ["stage3.steps: -1 is out of range"]),
])
def test_every_problem_beside_an_invalid_field_is_named(tmp_path: Path, text: str,
                                                        expected: list[str]) -> None:
    """Checks that do not read the invalid field were dropped beside it: a left-out key's
    (a syncllm side without its agent beside a bad temperature), a direction's link beside a
    bad preset, a grid too large beside bad seeds, a stage's cross-field checks beside any
    other problem of the stage (the user fixed one line to be told the next)."""
    (tmp_path / "f.toml").write_text(text)
    problems = [f"{p.key}: {p.message}" for p in validate_file(tmp_path / "f.toml")]
    assert len(problems) == len(expected), problems
    for line, fragment in zip(problems, expected, strict=True):
        assert line.startswith(fragment), problems


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


@pytest.mark.parametrize(("text", "expected"), [
    # trained on rows longer than the model's context (or its position table)
    ('[model]\nsize = "tiny"\n[stage3]\nseq_len = 512\nbatch_tokens = 1024\n',
     "stage3.seq_len: 512 > the model's context_tokens = 256"),
    # an enabled stage that trains no step: an untrained agent written as trained
    ('[model]\nsize = "tiny"\n[stage3]\nsteps = 0\nwarmup_steps = 0\nseq_len = 64\n'
     'batch_tokens = 256\n', "stage3.steps: 0 (and tokens = 0): an enabled stage"),
    # a TDM slice the context cannot hold: trained, then refused at load
    ('[agent]\nkind = "tdm"\n[model]\nsize = "tiny"\n[tdm]\nslice_ms = [12000]\n'
     '[stage3]\nseq_len = 64\nbatch_tokens = 256\n',
     "model.context_tokens: 256 is too short for slice_ms = 12000 (300 units a slice"),
    # a slice no chunk size of the card divides: trained, then refused at load
    ('[agent]\nkind = "tdm"\n[model]\nsize = "tiny"\n[train]\nchunk_ms = [160, 200]\n'
     '[tdm]\nslice_ms = [1240]\n[stage3]\nseq_len = 64\nbatch_tokens = 256\n',
     "tdm.slice_ms: 1240 is not a whole number of chunks of any train.chunk_ms [160, 200]"),
    # yields taught before the barge-in was heard (100 ms floored to 80, 20 to 0)
    ('[agent]\nkind = "tdm"\n[model]\nsize = "tiny"\n[tdm]\nmin_heard_ms = 100\n'
     '[stage3]\nseq_len = 64\nbatch_tokens = 256\n', "tdm.min_heard_ms: 100 is out of range"),
    ('[agent]\nkind = "tdm"\n[model]\nsize = "tiny"\n[tdm]\nyield_ms = [0, 30]\n'
     '[stage3]\nseq_len = 64\nbatch_tokens = 256\n',
     "tdm.yield_ms: [0, 30]: not whole 40 ms frames"),
    # stage-2 gaps are laid out in whole frames: [250, 270] was always 200 ms, below it
    ('[model]\nsize = "tiny"\n[train]\nstage2_gap_ms = [250, 270]\n[stage3]\nseq_len = 64\n'
     'batch_tokens = 256\n', "train.stage2_gap_ms: [250, 270]: not whole 40 ms frames"),
])
def test_cards_that_would_train_nonsense_are_refused(tmp_path: Path, text: str,
                                                     expected: str) -> None:
    (tmp_path / "card.toml").write_text(text)
    problems = [f"{p.key}: {p.message}" for p in validate_file(tmp_path / "card.toml")]
    assert any(line.startswith(expected) for line in problems), problems


@pytest.mark.parametrize(("text", "expected"), [
    ('[model]\nsize = "tiny"\ncontext_tokens = 40\n[stage1]\nenabled = false\n'
     '[stage2]\nenabled = false\n[stage3]\nenabled = false\n',
     ["stage3.enabled: every stage is disabled",
      "model.context_tokens: 40 is too short for 240 ms chunks"]),
    ('[agent]\nkind = "tdm"\n[model]\nsize = "tiny"\n[train]\nchunk_ms = [160]\n'
     '[tdm]\nslice_ms = [1200, 1000]\n[stage1]\nseq_len = 512\n[stage3]\nseq_len = 512\n',
     ["tdm.slice_ms: 1200 is not a whole number", "tdm.slice_ms: 1000 is not a whole number",
      "stage1.seq_len: 512 > the model's context_tokens = 256",
      "stage3.seq_len: 512 > the model's context_tokens = 256"]),
])
def test_every_problem_across_a_cards_tables_is_named(tmp_path: Path, text: str,
                                                      expected: list[str]) -> None:
    """A card's checks across its tables stopped at the first: every stage disabled hid a
    context too short for its chunks, a slice no chunk size divides hid the next one and
    both stages longer than the context."""
    (tmp_path / "card.toml").write_text(text)
    problems = [f"{p.key}: {p.message}" for p in validate_file(tmp_path / "card.toml")]
    assert len(problems) == len(expected), problems
    for line, fragment in zip(problems, expected, strict=True):
        assert line.startswith(fragment), problems


@pytest.mark.parametrize(("text", "expected"), [
    ('[agent]\nname = "c"\n[train]\nchunk_ms = [160, 200, 160]\n',
     "train.chunk_ms: [160, 200, 160] lists a size twice (drawn twice as often) "
     "(allowed: distinct chunk sizes)"),
    ('[agent]\nkind = "tdm"\n[tdm]\nslice_ms = [1200, 1200]\n',
     "tdm.slice_ms: [1200, 1200] lists a slice twice (drawn twice as often) "
     "(allowed: distinct slice lengths)"),
])
def test_a_chunk_size_or_slice_listed_twice_is_refused(tmp_path: Path, text: str,
                                                       expected: str) -> None:
    """Each training window draws one of the card's chunk sizes (TDM: slices) with equal
    odds: one listed twice was silently drawn twice as often, and agent.json listed it
    twice."""
    (tmp_path / "card.toml").write_text(text)
    assert [f"{p.key}: {p.message} (allowed: {p.allowed})"
            for p in validate_file(tmp_path / "card.toml")] == [expected]


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
