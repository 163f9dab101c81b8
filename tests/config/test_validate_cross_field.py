"""`duplexsim validate` of a file with an invalid field: the checks across fields that read
it are not reported (they ran on its default), every other problem beside it is."""

from __future__ import annotations

from pathlib import Path

import pytest

from duplexsim.config.cli import validate_file

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
