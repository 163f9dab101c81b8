"""Bad input through the CLI, class by class, as a new user meets it.

Every case runs ``duplexsim ...`` in a subprocess (one interpreter runs a batch of them
through ``duplexsim.cli.main``, so torch is imported once) and must end with exit status 2
(``validate``: 1, its "problems found"), exactly one line on stderr that names the file
(or the command) and the key (or flag, or position), no traceback, and nothing written:
the whole workspace (tests/cli_workspace.py) is compared file by file before and after.
A disk that fills up while ``audio.wav`` is written is checked too, and that a good run
into a folder of an older run's files leaves only this run's.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_workspace import (  # (tests/ is on the path)
    BUILD,
    CONT,
    SIM,
    SWEEP,
    TRAIN,
    changes,
    drive,
    read_only_dir,
    scenario,
    snapshot,
    with_flag,
)

# (class, argv, fragments the one line must contain: file or command, key or flag, ...)
CASES: list[tuple[str, list[str], list[str]]] = [
    # settings files: cards, scenarios, sweeps, synthesis parameters, jitter traces
    ("card: nan weight decay", ["train", "card_nan.toml", *TRAIN[2:]],
     ["card_nan.toml", "stage1.weight_decay", "nan"]),
    ("card: heads do not divide", ["train", "card_heads.toml", *TRAIN[2:]],
     ["card_heads.toml", "model.n_heads"]),
    ("card: odd head dimension", ["train", "card_oddhead.toml", *TRAIN[2:]],
     ["card_oddhead.toml", "model.hidden_size", "17 is odd"]),
    ("card: context too short for the chunks", ["train", "card_ctx.toml", *TRAIN[2:]],
     ["card_ctx.toml", "model.context_tokens", "32 is too short"]),
    ("card: warmup past the stage", ["train", "card_warmup.toml", *TRAIN[2:]],
     ["card_warmup.toml", "stage1.warmup_steps", "50 > the stage's 5 steps"]),
    ("card: batch not whole sequences", ["train", "card_batch.toml", *TRAIN[2:]],
     ["card_batch.toml", "stage1.batch_tokens", "not a multiple of"]),
    ("card: unknown table", ["train", "card_key.toml", *TRAIN[2:]],
     ["card_key.toml", "train2", "unknown key"]),
    ("card: units differ from the corpus", ["train", "card_units.toml", *TRAIN[2:]],
     ["card_units.toml", "model.n_units", "corpus"]),
    ("scenario: duration past a day", ["simulate", "long.toml", "--out", "new_sim"],
     ["long.toml", "duration_s"]),
    ("scenario: an empty file (ran as the defaults)", ["simulate", "blank.toml", "--out",
                                                        "new_sim"], ["blank.toml", "no settings"]),
    ("card: only comments (trained the defaults)", ["train", "comments.toml", *TRAIN[2:]],
     ["comments.toml", "no settings"]),
    ("scenario: TOML syntax", ["simulate", "syntax.toml", "--out", "new_sim"],
     ["syntax.toml", "line 2", "not valid TOML"]),
    ("scenario: not UTF-8", ["simulate", "latin1.toml", "--out", "new_sim"],
     ["latin1.toml", "byte", "UTF-8"]),
    ("scenario: missing file", ["simulate", "nope.toml", "--out", "new_sim"],
     ["nope.toml", "not found"]),
    ("scenario: a folder", ["simulate", "empty", "--out", "new_sim"],
     ["empty", "is a folder"]),
    ("scenario: clock offset of days", ["simulate", "offset.toml", "--out", "new_sim"],
     ["offset.toml", "a.clock_offset_ms"]),
    ("scenario: delay of years", ["simulate", "delay.toml", "--out", "new_sim"],
     ["delay.toml", "network.a_to_b.delay_ms"]),
    ("trace: nan sample", ["simulate", "trace_nan.toml", "--out", "new_sim"],
     ["trace_nan.txt", "line 2", "trace_nan.toml"]),
    ("trace: negative delay", ["simulate", "trace_neg.toml", "--out", "new_sim"],
     ["trace_neg.txt", "line 2"]),
    ("trace: one sample", ["simulate", "trace_one.toml", "--out", "new_sim"],
     ["trace_one.txt", "1 samples"]),
    ("trace: not a number", ["simulate", "trace_word.toml", "--out", "new_sim"],
     ["trace_word.txt", "line 2", "'fast'"]),
    ("trace: a folder", ["simulate", "trace_dir.toml", "--out", "new_sim"],
     ["trace_dir.toml", "network.a_to_b.jitter_trace", "'empty' is a folder, not a file"]),
    ("sweep: negative workers in the file", ["sweep", "sweep_workers.toml", "--out", "ns"],
     ["sweep_workers.toml", "sweep.workers"]),
    ("sweep: a grid value out of range", ["sweep", "sweep_grid.toml", "--out", "ns"],
     ["sweep_grid.toml", "network.a_to_b.loss", "in cell"]),
    ("sweep: no [sweep] table", ["sweep", "sweep_table.toml", "--out", "ns"],
     ["sweep_table.toml", "sweep", "missing [sweep] table"]),
    ("sweep: base scenario missing", ["sweep", "sweep_base.toml", "--out", "ns"],
     ["sweep_base.toml", "sweep.base"]),
    ("sweep: a cell's agent missing", ["sweep", "sweep_agent.toml", "--out", "ns"],
     ["sweep_agent.toml", "a.agent", "no_such_agent"]),
    ("sweep: cell function not importable", ["sweep", "sweep_cell.toml", "--out", "ns"],
     ["sweep.cell", "no_such:cell"]),
    ("synthesis: nan parameter", [*BUILD, "--config", "synth_nan.toml"],
     ["synth_nan.toml", "fto_mean_ms"]),
    ("synthesis: unknown parameter", [*BUILD, "--config", "synth_key.toml"],
     ["synth_key.toml", "ipu_median", "unknown key"]),
    # the flag's value was reported under the config key: "conversation_s: 10.01 s is ..."
    ("flag: a conversation of part of a frame", with_flag(BUILD, "--conversation-s", "10.01"),
     ["duplexsim corpus build: --conversation-s: 10.01 s is not a whole number of 40 ms",
      "a multiple of 0.04 s, e.g. 10"]),
    ("synthesis: a conversation of part of a frame", [*BUILD, "--config", "synth_frames.toml"],
     ["synth_frames.toml: conversation_s: 10.01 s is not a whole number of 40 ms"]),
    # command-line values
    ("flag: negative duration", with_flag(SIM, "--duration-s", "-5"),
     ["duplexsim simulate", "--duration-s", "-5"]),
    ("flag: nan duration", with_flag(SIM, "--duration-s", "nan"), ["--duration-s", "nan"]),
    ("flag: duration under a chunk", with_flag(SIM, "--duration-s", "0.01"),
     ["duplexsim simulate: --duration-s: 0.01 s is shorter than one chunk (allowed: >= 0.16 s)"]),
    ("flag: negative seed", with_flag(SIM, "--seed", "-1"), ["--seed", "-1"]),
    ("flag: not a number", with_flag(SIM, "--seed", "four"), ["--seed", "'four'"]),
    ("flag: negative workers", [*SWEEP, "--workers", "-1"], ["duplexsim sweep", "--workers"]),
    ("flag: zero batch", [*SWEEP, "--batch", "0"], ["--batch"]),
    ("flag: negative limit", [*SWEEP, "--limit", "-3"], ["--limit"]),
    ("flag: negative seconds", with_flag(CONT, "--seconds", "-5"),
     ["duplexsim continue", "--seconds"]),
    ("flag: seconds under a chunk", with_flag(CONT, "--seconds", "0.05"),
     ["--seconds", "shorter than one chunk"]),
    ("flag: prompt longer than a day", with_flag(CONT, "--prompt-s", "1e9"), ["--prompt-s"]),
    ("flag: prompt longer than the dialogue", with_flag(CONT, "--prompt-s", "100"),
     ["--prompt-s", "dialogue"]),
    ("flag: chunk the agent was not trained for", [*CONT, "--chunk-ms", "240"],
     ["--chunk-ms", "160, 200"]),
    ("flag: negative temperature", [*CONT, "--temperature", "-1"], ["--temperature"]),
    ("flag: negative hours", with_flag(BUILD, "--hours", "-1"),
     ["duplexsim corpus build", "--hours"]),
    ("flag: infinite hours", with_flag(BUILD, "--hours", "inf"), ["--hours", "inf"]),
    ("flag: negative build workers", with_flag(BUILD, "--workers", "-1"), ["--workers"]),
    ("flag: conversation of a second", with_flag(BUILD, "--conversation-s", "1"),
     ["--conversation-s"]),
    ("flag: one unit", with_flag(BUILD, "--n-units", "1"), ["--n-units"]),
    ("output: a corpus into a sweep's folder (its files were mixed in)",
     with_flag(BUILD, "--out", "run"), ["run", "--out", "holds other files (results.parquet)",
                                        "no corpus"]),
    # its tokenizer/ made an agent's folder pass for a corpus's: 'holds a partial corpus
    # without build.json ... (allowed: ... --rebuild to delete it and build anew)'
    ("output: a corpus build into an agent's folder", with_flag(BUILD, "--out", "agent"),
     ["agent", "--out", "holds other files (agent.json", "no corpus"]),
    ("flag: units train with one unit", ["units", "train", "--corpus", "corpus", "--out",
                                         "new_units", "--n-units", "1"], ["--n-units"]),
    ("flag: no dialogues to train units on", ["units", "train", "--corpus", "corpus",
                                              "--out", "new_units", "--max-dialogues", "0"],
     ["--max-dialogues"]),
    ("flag: negative training budget", [*TRAIN, "--max-minutes", "-1"], ["--max-minutes"]),
    ("flag: negative demo corpus", ["demo", "--corpus-hours", "-1"], ["--corpus-hours"]),
    ("flag: empty --out (the current folder to Python)", with_flag(SIM, "--out", ""),
     ["duplexsim simulate", "--out", "'' is an empty path"]),
    ("flag: blank --out (train)", with_flag(TRAIN, "--out", " "),
     ["duplexsim train", "--out", "empty path"]),
    ("flag: missing required", ["simulate", "ok.toml"], ["duplexsim simulate", "--out"]),
    ("flag: unknown", [*SIM, "--fast"], ["duplexsim simulate", "--fast"]),
    ("command: unknown", ["simulat"], ["duplexsim", "simulat", "allowed"]),
    # agent folders
    ("agent.json: a JSON list", ["continue", "a_list", *CONT[2:]],
     ["a_list/agent.json", "JSON list"]),
    ("agent.json: a JSON list (simulate)", ["simulate", "-"], []),  # filled in below
    ("agent.json: negative context", ["continue", "a_ctx", *CONT[2:]],
     ["a_ctx/agent.json", "context_tokens", "-5"]),
    ("agent.json: context too short for a chunk", ["continue", "a_ctx16", *CONT[2:]],
     ["a_ctx16/agent.json", "context_tokens", "16", ">= "]),
    ("agent.json: context beyond the model's positions", ["continue", "a_ctxbig", *CONT[2:]],
     ["a_ctxbig/agent.json", "context_tokens", "1048576", "max_position_embeddings"]),
    ("agent.json: corrupt JSON", ["continue", "a_json", *CONT[2:]],
     ["a_json/agent.json", "line 1", "corrupt"]),
    ("agent.json: key missing", ["continue", "a_nokey", *CONT[2:]],
     ["a_nokey/agent.json", "silence_unit", "missing"]),
    ("agent.json: silence unit out of range", ["continue", "a_sil", *CONT[2:]],
     ["a_sil/agent.json", "silence_unit", "99"]),
    ("agent: no such folder (continue)", ["continue", "no_agent", *CONT[2:]],
     ["no_agent", "agent.json missing"]),
    ("agent: no such folder (scenario)", ["simulate", "noagent.toml", "--out", "new_sim"],
     ["noagent.toml", "a.agent", "no_such_agent"]),
    ("agent: corrupt model", ["continue", "a_model", *CONT[2:]],
     ["a_model/model/config.json", "line 1", "corrupt config.json"]),
    ("agent: model folder missing", ["continue", "a_nomodel", *CONT[2:]],
     ["a_nomodel/model", "no model here"]),
    # unit tokenizers
    ("tokenizer: corrupt config.json", ["continue", "a_tokcfg", *CONT[2:]],
     ["a_tokcfg/tokenizer/config.json", "corrupt"]),
    ("tokenizer: truncated arrays", ["continue", "a_tokarr", *CONT[2:]],
     ["a_tokarr/tokenizer/arrays.safetensors", "truncated"]),
    ("tokenizer: nan threshold", ["continue", "a_tokthr", *CONT[2:]],
     ["a_tokthr/tokenizer/config.json", "threshold_db"]),
    ("tokenizer: broken one given to a build", [*BUILD, "--tokenizer", "a_tokarr/tokenizer"],
     ["a_tokarr/tokenizer/arrays.safetensors"]),
    ("tokenizer: a corpus given as the tokenizer to train", [*BUILD, "--tokenizer", "corpus"],
     ["corpus", "--tokenizer", "no unit tokenizer here", "manifest.json"]),
    # corpora: manifests and unit arrays
    ("manifest: a JSON list", ["corpus", "stats", "c_list"], ["c_list/manifest.json", "list"]),
    ("manifest: no dialogues", ["corpus", "stats", "c_empty"],
     ["c_empty/manifest.json", "dialogues", "empty corpus"]),
    ("manifest: nan duration", ["corpus", "stats", "c_dur"],
     ["c_dur/manifest.json", "dialogues[1].duration_s", "nan"]),
    ("manifest: a duration as a string", ["corpus", "stats", "c_durstr"],
     ["c_durstr/manifest.json", "dialogues[1].duration_s", "'120' is not a number"]),
    ("manifest: unknown split", ["corpus", "stats", "c_split"],
     ["c_split/manifest.json", "dialogues[0].split", "'dev'"]),
    ("manifest: none", ["corpus", "stats", "empty"], ["empty", "unknown layout", "manifest.json"]),
    ("units: float32", ["corpus", "stats", "c_float"],
     ["c_float/units/d0.npy", "dtype", "float32"]),
    ("units: out of range", ["corpus", "stats", "c_range"], ["c_range/units/d0.npy", "[1, 7]"]),
    ("units: one channel", ["corpus", "stats", "c_shape"], ["c_shape/units/d0.npy", "shape"]),
    ("units: truncated file", ["corpus", "stats", "c_trunc"], ["c_trunc/units/d0.npy", "npy"]),
    ("units: file missing", ["corpus", "stats", "c_nofile"], ["c_nofile/units/d0.npy"]),
    ("corpus: split with no dialogues", ["corpus", "stats", "noval", "--split", "val"],
     ["noval", "--split", "no val dialogues"]),
    ("corpus: unknown dialogue", [*CONT, "--dialogue", "d9"],
     ["corpus/manifest.json", "--dialogue", "'d9'", "d0"]),
    ("corpus: unknown dialogue (scenario)", ["simulate", "dialogue.toml", "--out", "new_sim"],
     ["dialogue.toml", "b.dialogue", "'d9' is not a dialogue of the corpus", "d0"]),
    ("corpus: none (scenario)", ["simulate", "nocorpus.toml", "--out", "new_sim"],
     ["nocorpus.toml", "b.corpus"]),
    ("scenario: two unit vocabularies", ["simulate", "vocab.toml", "--out", "new_sim"],
     ["vocab.toml", "b.corpus", "501 units", "20"]),
    ("corpus: other unit vocabulary (continue)", ["continue", "agent", "--corpus", "c_nunits",
                                                  *CONT[4:]], ["c_nunits", "n_units"]),
    ("corpus: no training split (train)", ["train", "card_ok.toml", "--corpus", "notrain",
                                           *TRAIN[4:]], ["notrain", "train", "no train"]),
    ("corpus: a file (units train)", ["units", "train", "--corpus", "a_file", "--out", "nu"],
     ["a_file", "is a file, not a corpus folder"]),
    ("corpus: a file (stats)", ["corpus", "stats", "a_file"], ["a_file", "is a file"]),
    # an empty input path is the current folder to Python: read as a corpus or agent there
    ("corpus: empty path (stats)", ["corpus", "stats", ""],
     ["duplexsim corpus stats", "dir", "'' is an empty path"]),
    ("corpus: empty path (train)", ["train", "card_ok.toml", "--corpus", "", *TRAIN[4:]],
     ["duplexsim train", "--corpus", "'' is an empty path"]),
    ("agent: empty path (continue)", ["continue", "", *CONT[2:]],
     ["duplexsim continue", "agent", "'' is an empty path"]),
    # outputs
    ("out: a file", with_flag(SIM, "--out", "a_file"), ["a_file", "--out", "is a file"]),
    ("out: under a file", with_flag(SIM, "--out", "a_file/run"), ["a_file", "--out"]),
    ("output: a simulation into a corpus's folder (its trace was mixed in)",
     with_flag(SIM, "--out", "corpus"), ["corpus", "--out", "holds other files (candor, "
                                         "manifest.json, tokenizer, ...)", "no simulation"]),
    ("output: a simulation into a sweep's folder", with_flag(SIM, "--out", "run"),
     ["run", "--out", "holds other files (results.parquet)", "no simulation"]),
    # its audio.wav made it a simulation's: the trace went in beside units.npy
    ("output: a simulation into a continuation's folder", with_flag(SIM, "--out", "cont"),
     ["cont", "--out", "holds other files (audio.wav, continuation.json, units.npy)",
      "no simulation"]),
    # continue had no such check: its units.npy, audio.wav and continuation.json went into
    # a corpus's folder, or a simulation's (whose audio.wav it replaced)
    ("output: a continuation into a corpus's folder", with_flag(CONT, "--out", "corpus"),
     ["corpus", "--out", "holds other files (candor, manifest.json", "no continuation"]),
    ("output: a continuation into a sweep's folder", with_flag(CONT, "--out", "run"),
     ["run", "--out", "holds other files (results.parquet)", "no continuation"]),
    ("output: a sweep into an agent's folder (its cells were mixed in)",
     with_flag(SWEEP, "--out", "agent"), ["agent", "--out", "holds other files", "no sweep"]),
    ("output: a sweep into a corpus's folder", with_flag(SWEEP, "--out", "corpus"),
     ["corpus", "--out", "holds other files (candor, manifest.json", "no sweep"]),
    ("corpus: rebuilt with another seed", [*BUILD[:-1], "corpus", "--seed", "7"],
     ["corpus", "seed", "--rebuild"]),
    ("corpus: rebuilt as another preset", [*BUILD[:-1], "corpus", "--preset", "candor-like"],
     ["corpus", "preset", "'candor-like'"]),
    ("train: resumed with another card", ["train", "card_changed.toml", "--corpus", "corpus",
                                          "--out", "a_resume"],
     ["a_resume/checkpoints/last.pt", "card", "different agent card"]),
    ("train: corrupt checkpoint", ["train", "card_ok.toml", "--corpus", "corpus", "--out",
                                   "a_ckpt"], ["a_ckpt/checkpoints/last.pt", "corrupt"]),
    ("file: an agent card given to simulate", ["simulate", "card_ok.toml", "--out", "new_sim"],
     ["card_ok.toml", "is an agent card file, not a scenario", "duplexsim train"]),
    ("file: a scenario given to train", ["train", "ok.toml", *TRAIN[2:]],
     ["ok.toml", "is a scenario file, not an agent card"]),
    ("file: a scenario given to sweep", ["sweep", "ok.toml", "--out", "ns"],
     ["ok.toml", "not a sweep"]),
    ("sweep: a damaged finished cell", ["sweep", "sweep_ok.toml", "--out", "swept"],
     ["swept/cells/", ".json", "line 1", "corrupt sweep cell file"]),
    ("report: no sweep there", ["report", "empty"], ["empty/results.parquet", "not found"]),
    ("report: a file, not a sweep folder", ["report", "a_file"],
     ["a_file", "run_dir", "is a file, not a sweep folder", "duplexsim sweep"]),
    ("report: corrupt results", ["report", "run"], ["run/results.parquet", "not a readable"]),
    ("report: bad corpus", ["report", "run", "--corpus", "c_list"], ["run/results.parquet"]),
    ("report: empty path (the current folder to Python)", ["report", ""],
     ["duplexsim report", "run_dir", "'' is an empty path"]),
    ("report: empty --corpus", ["report", "run", "--corpus", ""],
     ["duplexsim report", "--corpus", "'' is an empty path"]),
]
CASES[CASES.index(next(c for c in CASES if c[0] == "agent.json: a JSON list (simulate)"))] = (
    "agent.json: a JSON list (simulate)", ["simulate", "alist.toml", "--out", "new_sim"],
    ["a_list/agent.json", "JSON list", "a.agent"])
VALIDATE_CASES = [  # validate reports problems and exits 1
    ("validate: nan weight decay", ["validate", "card_nan.toml"],
     ["card_nan.toml", "stage1.weight_decay"]),
    ("validate: sweep workers", ["validate", "sweep_workers.toml"], ["sweep.workers"]),
    ("validate: trace values", ["validate", "--check-files", "trace_nan.toml"],
     ["trace_nan.txt", "line 2"]),
]


STALE = ["simulate", "scripted.toml", "--out", "stale", "--no-audio", "--quiet"]


@pytest.fixture(scope="module")
def batch(ws: Path) -> tuple[list, list[dict], list[str]]:
    """Every bad-input case, then one good run into a folder with an older run's files, in
    one interpreter: (cases, results, files that changed, all under ``stale/``)."""
    (ws / "alist.toml").write_text(scenario(agent="a_list"))
    (ws / "scripted.toml").write_text(scenario(a_kind="scripted"))
    (ws / "stale" / "metrics.json").write_text("{}")
    (ws / "stale" / "notes.txt").write_text("mine")
    ro = read_only_dir(ws)
    cases = list(CASES)
    if ro is not None:
        cases.append(("out: read-only", with_flag(SIM, "--out", str(ro / "run")),
                      [str(ro), "--out"]))
        cases.append(("out: read-only (build)", with_flag(BUILD, "--out", str(ro / "c")),
                      [str(ro), "--out"]))
    cases += VALIDATE_CASES
    before = snapshot(ws)
    results = drive(ws, [argv for _, argv, _ in cases] + [STALE])
    return cases, results, changes(before, snapshot(ws))


def test_every_class_of_bad_input(batch: tuple[list, list[dict], list[str]]) -> None:
    cases, results, changed = batch
    failures = []
    for (name, argv, fragments), result in zip(cases, results, strict=False):
        validate = argv[0] == "validate"  # its report of problems is its output (exit 1)
        lines = result["out" if validate else "err"].strip().splitlines()
        expected_rc = 1 if validate else 2
        problems = [f"rc {result['rc']} != {expected_rc}"] if result["rc"] != expected_rc else []
        if "Traceback" in result["err"] or len(lines) != 1 or (validate and result["err"]):
            problems.append(f"{len(lines)} lines of report")
        line = lines[-1] if lines else ""
        problems += [f"no {f!r}" for f in fragments if f not in line]
        if problems:
            failures.append(f"{name}: {'; '.join(problems)}\n  $ duplexsim {' '.join(argv)}\n"
                            f"  {result['err'].strip()[-1500:] or result['out'][-500:]}")
    assert not failures, "\n".join(failures)
    refused = [c for c in changed if not c.startswith("stale")]
    assert not refused, f"refused commands wrote or changed files: {refused}"
    print(f"{len(cases)} bad-input cases: exit status, one line, nothing written")


def test_outputs_hold_only_this_runs_files(ws: Path,
                                           batch: tuple[list, list[dict], list[str]]) -> None:
    """simulate --no-audio into a folder with an older run's audio.wav and metrics.json: both
    go (they described another run); files that are not a run's stay."""
    result = batch[1][-1]
    assert result["rc"] == 0, result["err"]
    assert sorted(p.name for p in (ws / "stale").iterdir()) == [
        "decisions.parquet", "network.parquet", "notes.txt", "scenario.toml", "summary.json",
        "timeline.parquet"]
    assert "sonification" not in result["err"]  # no audio asked for: nothing to say


def test_a_full_disk_leaves_nothing(ws: Path, batch: tuple) -> None:
    """RLIMIT_FSIZE stands in for a full disk: writing audio.wav (libsndfile reports "System
    error.") and the first training checkpoint (torch.save: a RuntimeError) fail."""
    before = snapshot(ws)
    results = drive(ws, [["simulate", "scripted.toml", "--out", "full/run", "--quiet"],
                         [*TRAIN, "--out", "full_agent"]], fsize=40_000)
    for result, file, what in zip(results, ("full/run/audio.wav", "full_agent/checkpoints"),
                                  ("libsndfile", "torch.save"), strict=True):
        lines = result["err"].strip().splitlines()
        assert result["rc"] == 2 and "Traceback" not in result["err"], result["err"]
        assert len(lines) == 1 and lines[0].startswith(file) and what in lines[0], lines
    assert not changes(before, snapshot(ws))  # no half-made folder, no staging left
