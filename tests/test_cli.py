"""Bad input through the CLI, class by class, as a new user meets it.

Every case runs ``duplexsim ...`` in a subprocess (one interpreter runs a batch of them
through ``duplexsim.cli.main``, so torch is imported once) and must end with exit status 2
(``validate``: 1, its "problems found"), exactly one line on stderr that names the file
(or the command) and the key (or flag, or position), no traceback, and nothing written:
the whole workspace is compared file by file before and after. Real processes check what
a batch cannot: the installed entry point, ``validate`` without torch, a disk that fills
up while ``audio.wav`` is written, and that a genuine bug still shows its traceback.
Behaviours that keep outputs honest (stale files removed, a rebuilt corpus refused unless
``--rebuild``, tokenizer copies moved in whole) are checked at the end.

The fixtures are tiny and real: a 2-step SyncLLM agent, a hand-written unit tokenizer, a
3-dialogue corpus of 8 s; no audio is synthesised.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent / "models"))

N_UNITS = 20  # the tiny agent's (tests/models/syncllm_fixtures.py)

# One interpreter, many commands: each case's exit status and output, bugs as tracebacks.
DRIVER = r"""
import contextlib, io, json, os, resource, signal, sys, traceback, warnings
request = json.loads(sys.stdin.read())
if request.get("fsize"):  # a small disk: writes past it fail with EFBIG
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (request["fsize"], request["fsize"]))
from duplexsim.cli import main
results = []
for argv in request["cases"]:
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            rc = main(argv)
        except SystemExit as e:
            rc = e.code if isinstance(e.code, int) else 1
        except BaseException:
            traceback.print_exc()
            rc = 1
    results.append({"rc": rc, "err": err.getvalue(), "out": out.getvalue()})
print(json.dumps(results))
"""


def drive(ws: Path, cases: list[list[str]], fsize: int | None = None,
          path: str | None = None) -> list[dict]:
    env = {**os.environ, "TRANSFORMERS_VERBOSITY": "error", "HF_HUB_DISABLE_PROGRESS_BARS": "1",
           "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PATH": path or os.environ["PATH"]}
    proc = subprocess.run([sys.executable, "-c", DRIVER], input=json.dumps(
        {"cases": cases, "fsize": fsize}), capture_output=True, text=True, cwd=ws, env=env,
        timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``root`` with its size and modification time, every folder."""
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
            if p.is_file() else (-1, 0) for p in sorted(root.rglob("*"))}


def changes(before: dict, after: dict) -> list[str]:
    return sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))


# ---------------------------------------------------------------------- fixtures
def write_tokenizer(path: Path, n_units: int = N_UNITS, n_silence_units: int = 1) -> None:
    """A valid unit tokenizer with random centroids (no training needed to test errors)."""
    from duplexsim.units import features
    from duplexsim.units.kmeans import KMeansTokenizer, TokenizerConfig

    rng = np.random.default_rng(0)
    KMeansTokenizer(TokenizerConfig(n_units=n_units, n_mels=8, n_silence_units=n_silence_units),
                    rng.normal(size=(n_units, 8)).astype(np.float32),
                    rng.random((n_units, features.N_FFT // 2 + 1)).astype(np.float32),
                    -40.0).save(path)


def write_corpus(root: Path, splits: tuple[str, ...] = ("train", "val", "test")) -> None:
    """A built-corpus folder: manifest, units, transcripts, tokenizer (audio files absent)."""
    from syncllm_fixtures import synthetic_dialogues

    from duplexsim.atomic import write_json
    from duplexsim.corpora import candor

    entries = []
    for d, split in zip(synthetic_dialogues(n=len(splits), seconds=8.0), splits, strict=True):
        (root / "units").mkdir(parents=True, exist_ok=True)
        np.save(root / "units" / f"{d.id}.npy", d.units.astype(np.int16))
        candor.write_transcript(root / "candor" / d.id / "transcription" /
                                "transcript_audiophile.csv", d.segments)
        entries.append({"id": d.id, "duration_s": 8.0, "split": split,
                        "audio": f"audio/{d.id}.flac", "units": f"units/{d.id}.npy"})
    write_tokenizer(root / "tokenizer")
    write_json(root / "manifest.json", {
        "format": "duplexsim-corpus/1", "name": root.name, "preset": "fisher-like", "seed": 0,
        "sample_rate_hz": 8000, "n_units": N_UNITS, "tokenizer": "tokenizer",
        "silence_units": [0], "params": {}, "dialogues": entries})


def edit_json(path: Path, **changes: object) -> None:
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


def card_toml(changes: dict[str, dict[str, object]] | None = None) -> str:
    """The tiny agent's card as TOML, with ``changes`` (table -> key -> value) applied."""
    from syncllm_fixtures import tiny_card

    card = tiny_card(steps=2).to_dict()
    for table, values in (changes or {}).items():
        card[table].update(values)
    lines = []
    for table, values in card.items():
        lines.append(f"[{table}]")
        for key, value in values.items():
            lines.append(f"{key} = {toml_value(value)}")
    return "\n".join(lines) + "\n"


def toml_value(value: object) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value != value:
        return "nan"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return json.dumps(value)


SCENARIO = """name = "s"
chunk_ms = 160
duration_s = 2.0
[a]
kind = "{a_kind}"
{a_line}
[b]
kind = "replay"
corpus = "{corpus}"
{b_line}
[network]
preset = "continental"
{network}
"""


def scenario(agent: str = "agent", corpus: str = "corpus", network: str = "",
             b_line: str = "", a_kind: str = "syncllm") -> str:
    a_line = f'agent = "{agent}"' if a_kind == "syncllm" else 'policy = "fixed-turns"'
    return SCENARIO.format(a_kind=a_kind, a_line=a_line, corpus=corpus, b_line=b_line,
                           network=network)


def trace_network(path: str) -> str:
    return f'[network.a_to_b]\njitter_dist = "trace"\njitter_ms = 5.0\njitter_trace = "{path}"'


SETTINGS = {  # file name -> text (cards and scenarios are built in settings_files)
    "syntax.toml": 'name = "x"\nchunk_ms = \n',
    "blank.toml": "",
    "comments.toml": "# a card to be written\n\n",
    "trace_nan.txt": "12.0\nnan\n14.0\n",
    "trace_neg.txt": "12.0\n-5\n14.0\n",
    "trace_one.txt": "# one sample\n12.0\n",
    "trace_word.txt": "12.0\nfast\n",
    "sweep_workers.toml": '[sweep]\nname = "w"\nbase = "ok.toml"\nworkers = -1\n',
    "sweep_grid.toml": ('[sweep]\nname = "g"\nbase = "ok.toml"\n[sweep.grid]\n'
                        '"network.a_to_b.loss" = [0.0, 2.0]\n'),
    "sweep_table.toml": 'name = "no sweep table"\n',
    "sweep_base.toml": '[sweep]\nname = "b"\nbase = "no_such.toml"\n',
    "sweep_cell.toml": '[sweep]\nname = "c"\nbase = "ok.toml"\ncell = "no_such:cell"\n',
    "sweep_ok.toml": '[sweep]\nname = "ok"\nbase = "ok.toml"\n',
    "sweep_agent.toml": '[sweep]\nname = "a"\nbase = "noagent.toml"\n',
    "synth_nan.toml": "fto_mean_ms = nan\n",
    "synth_key.toml": "ipu_median = 1.0\n",
    "synth_frames.toml": "conversation_s = 10.01\n",
    "stale/audio.wav": "RIFF old run",
    "a_file": "not a folder\n",
}


def settings_files(ws: Path) -> None:
    """Cards, scenarios, sweeps, traces and synthesis parameters, good and bad."""
    files = {
        **SETTINGS,
        "card_nan.toml": card_toml({"stage1": {"weight_decay": float("nan")}}),
        "card_heads.toml": card_toml({"model": {"hidden_size": 30, "n_heads": 4}}),
        "card_oddhead.toml": card_toml({"model": {"hidden_size": 34, "n_heads": 2}}),
        # (stages that fit the short context: each over-long stage is a problem of its own)
        "card_ctx.toml": card_toml({"model": {"context_tokens": 32},
                                    **{s: {"seq_len": 32} for s in ("stage1", "stage2",
                                                                   "stage3")}}),
        "card_warmup.toml": card_toml({"stage1": {"steps": 5, "warmup_steps": 50}}),
        "card_batch.toml": card_toml({"stage1": {"batch_tokens": 100, "seq_len": 64}}),
        "card_key.toml": card_toml() + "[train2]\nseed = 1\n",
        "card_units.toml": card_toml({"model": {"n_units": 32}}),
        "card_changed.toml": card_toml({"train": {"seed": 5}}),
        "card_ok.toml": card_toml(),
        "ok.toml": scenario(),
        "long.toml": scenario().replace("duration_s = 2.0", "duration_s = 1e9"),
        "offset.toml": scenario().replace('agent = "agent"',
                                          'agent = "agent"\nclock_offset_ms = 100000000'),
        "delay.toml": scenario(network='[network.a_to_b]\ndelay_ms = 1e12'),
        **{f"trace_{k}.toml": scenario(network=trace_network(f"trace_{k}.txt"))
           for k in ("nan", "neg", "one", "word")},
        "trace_dir.toml": scenario(network=trace_network("empty")),  # a folder
        "noagent.toml": scenario(agent="no_such_agent"),
        "vocab.toml": scenario(corpus=""),  # the shipped 501-unit dialogue vs a 20-unit agent
        "dialogue.toml": scenario(b_line='dialogue = "d9"'),
        "nocorpus.toml": scenario(corpus="no_such_corpus"),
    }
    for name, text in files.items():
        (ws / name).parent.mkdir(parents=True, exist_ok=True)
        (ws / name).write_text(text)
    (ws / "latin1.toml").write_bytes('name = "caf\xe9"\n'.encode("latin-1"))


def broken_agents(ws: Path) -> None:
    """Copies of the tiny agent, each broken in one way."""
    def copy(name: str) -> Path:
        shutil.copytree(ws / "agent", ws / name)
        return ws / name

    (copy("a_list") / "agent.json").write_text("[1, 2]")
    edit_json(copy("a_ctx") / "agent.json", context_tokens=-5)
    edit_json(copy("a_ctx16") / "agent.json", context_tokens=16)
    edit_json(copy("a_ctxbig") / "agent.json", context_tokens=1 << 20)
    (copy("a_json") / "agent.json").write_text('{"format": "duplexsim-agent/1", ')
    info = json.loads((ws / "agent" / "agent.json").read_text())
    del info["silence_unit"]
    (copy("a_nokey") / "agent.json").write_text(json.dumps(info))
    edit_json(copy("a_sil") / "agent.json", silence_unit=99)
    (copy("a_model") / "model" / "config.json").write_text("{not json")
    shutil.rmtree(copy("a_nomodel") / "model")
    (copy("a_tokcfg") / "tokenizer" / "config.json").write_text('{"format": ')
    arrays = copy("a_tokarr") / "tokenizer" / "arrays.safetensors"
    arrays.write_bytes(arrays.read_bytes()[:300])
    edit_json(copy("a_tokthr") / "tokenizer" / "config.json", threshold_db=float("nan"))
    checkpoint = copy("a_ckpt") / "checkpoints" / "last.pt"
    checkpoint.write_bytes(checkpoint.read_bytes()[:1000])
    copy("a_resume")


def broken_corpora(ws: Path) -> None:
    """Copies of the corpus, each broken in one way (manifest or one units array)."""
    def copy(name: str) -> Path:
        shutil.copytree(ws / "corpus", ws / name)
        return ws / name

    (copy("c_list") / "manifest.json").write_text("[]")
    edit_json(copy("c_empty") / "manifest.json", dialogues=[])
    manifest = json.loads((ws / "corpus" / "manifest.json").read_text())
    manifest["dialogues"][0]["split"] = "dev"
    (copy("c_split") / "manifest.json").write_text(json.dumps(manifest))
    edit_json(copy("c_nunits") / "manifest.json", n_units=32)
    manifest["dialogues"][0]["split"] = "train"
    manifest["dialogues"][1]["duration_s"] = float("nan")
    (copy("c_dur") / "manifest.json").write_text(json.dumps(manifest))
    manifest["dialogues"][1]["duration_s"] = "120"
    (copy("c_durstr") / "manifest.json").write_text(json.dumps(manifest))
    units = np.load(ws / "corpus" / "units" / "d0.npy")
    np.save(copy("c_float") / "units" / "d0.npy", units.astype(np.float32) + 0.4)
    bad = units.copy()
    bad[1, 7] = 99
    np.save(copy("c_range") / "units" / "d0.npy", bad)
    np.save(copy("c_shape") / "units" / "d0.npy", units[0])
    truncated = copy("c_trunc") / "units" / "d0.npy"
    truncated.write_bytes(truncated.read_bytes()[:100])
    (copy("c_nofile") / "units" / "d0.npy").unlink()


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The workspace every case runs in (cwd): a tiny agent, a corpus, and broken copies."""
    from syncllm_fixtures import train_tiny_agent

    ws = tmp_path_factory.mktemp("ws")
    train_tiny_agent(ws / "agent", steps=2)
    write_tokenizer(ws / "agent" / "tokenizer")
    write_corpus(ws / "corpus")
    write_corpus(ws / "noval", splits=("train", "test"))
    write_corpus(ws / "notrain", splits=("val", "test"))
    broken_agents(ws)
    broken_corpora(ws)
    settings_files(ws)
    (ws / "empty").mkdir()
    with contextlib.chdir(ws):  # a finished sweep whose first cell file was damaged
        from duplexsim.sweeps.config import load_sweep
        from duplexsim.sweeps.runner import cell_path

        cell = cell_path(ws / "swept", load_sweep("sweep_ok.toml").cells()[0])
    cell.parent.mkdir(parents=True)
    cell.write_text('{"key": ')
    (ws / "run").mkdir()
    (ws / "run" / "results.parquet").write_bytes(b"PAR1 not really")
    (ws / "cont").mkdir()  # what duplexsim continue writes
    for name, data in (("units.npy", b"\x93NUMPY"), ("audio.wav", b"RIFF"),
                       ("continuation.json", b"{}")):
        (ws / "cont" / name).write_bytes(data)
    return ws


def read_only_dir(ws: Path) -> Path | None:
    """A folder nothing can be written into: chmod 555, or as root (which ignores modes)
    a system folder that refuses new files; None if neither exists here."""
    if os.geteuid() != 0:
        ro = ws / "ro"
        ro.mkdir(exist_ok=True)
        ro.chmod(0o555)
        return ro
    for candidate in (Path("/sys/fs"), Path("/sys")):
        if not candidate.is_dir():
            continue
        try:
            (candidate / ".duplexsim-probe").touch()
        except OSError:
            return candidate
        (candidate / ".duplexsim-probe").unlink()
    return None


# ---------------------------------------------------------------------- the cases
SIM = ["simulate", "ok.toml", "--out", "new_sim", "--quiet"]
CONT = ["continue", "agent", "--corpus", "corpus", "--out", "new_cont", "--prompt-s", "2",
        "--seconds", "1"]
BUILD = ["corpus", "build", "--hours", "0.01", "--conversation-s", "20", "--n-units", "20",
         "--workers", "1", "--out", "new_corpus"]
TRAIN = ["train", "card_ok.toml", "--corpus", "corpus", "--out", "new_agent", "--no-progress"]
SWEEP = ["sweep", "sweep_ok.toml", "--out", "new_sweep", "--quiet"]


def with_flag(argv: list[str], flag: str, value: str) -> list[str]:
    """``argv`` with ``flag`` set to ``value`` (replaced if present)."""
    out = list(argv)
    if flag in out:
        out[out.index(flag) + 1] = value
        return out
    return [*out, flag, value]


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


def test_a_missing_speech_synthesiser_is_named_before_anything_is_written(ws: Path) -> None:
    before = snapshot(ws)
    (result,) = drive(ws, [[*BUILD, "--seed", "3"]], path=str(Path(sys.executable).parent))
    assert result["rc"] == 2 and result["err"].startswith("espeak-ng: not found on PATH")
    assert result["err"].count("\n") == 1
    assert not changes(before, snapshot(ws))


def test_entry_point_validate_without_torch_and_exit_codes(ws: Path) -> None:
    code = ("import sys; from duplexsim.cli import main; rc = main(sys.argv[1:]); "
            "assert 'torch' not in sys.modules, 'validate imported torch'; sys.exit(rc)")
    proc = subprocess.run([sys.executable, "-c", code, "validate", "ok.toml", "card_ok.toml",
                           "sweep_ok.toml"], cwd=ws, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    bin_dir = Path(sys.executable).parent
    entry = str(bin_dir / "duplexsim") if (bin_dir / "duplexsim").exists() else None
    argv = [entry] if entry else [sys.executable, "-m", "duplexsim.cli"]
    proc = subprocess.run([*argv, "corpus", "stats", "c_float"], cwd=ws, capture_output=True,
                          text=True)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith("c_float/units/d0.npy: dtype: float32 units")


def test_python_dash_m_duplexsim_is_the_command(ws: Path) -> None:
    """``python -m duplexsim`` runs the same ``main`` as the entry point (it was "No module
    named duplexsim.__main__")."""
    ok = subprocess.run([sys.executable, "-m", "duplexsim", "--help"], cwd=ws,
                        capture_output=True, text=True)
    assert ok.returncode == 0 and "simulate" in ok.stdout, ok.stderr
    bad = subprocess.run([sys.executable, "-m", "duplexsim", "simulat"], cwd=ws,
                         capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1, bad.stderr
    assert bad.stderr.startswith("duplexsim: unknown command 'simulat'")


def test_our_warnings_are_one_line_in_a_command_and_its_sweep_workers(tmp_path: Path) -> None:
    """A replayed dialogue shorter than the scenario is a warning; it was Python's two lines
    per side, a path into duplexsim/sim/build.py and a line of our code, from ``simulate``
    and from every sweep worker process."""
    (tmp_path / "long.toml").write_text(  # the shipped dialogue lasts 60 s
        'name = "long"\nchunk_ms = 160\nduration_s = 61.0\n[a]\nkind = "replay"\n'
        '[b]\nkind = "replay"\n[output]\naudio = false\n')
    (tmp_path / "sweep.toml").write_text(
        '[sweep]\nname = "long"\nbase = "long.toml"\nseeds = [0, 1]\nworkers = 2\n')
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    for argv, prefix in ((["simulate", "long.toml", "--out", "sim"], "duplexsim simulate"),
                         (["sweep", "sweep.toml", "--out", "sweep"], "sweep worker")):
        proc = subprocess.run([sys.executable, "-m", "duplexsim", *argv, "--quiet"],
                              cwd=tmp_path, capture_output=True, text=True, env=env)
        assert proc.returncode == 0, proc.stderr
        lines = proc.stderr.splitlines()
        assert lines and all(line.startswith(f"{prefix}: warning: scenario ") for line in lines), \
            proc.stderr
        assert "side a is silent after the dialogue ends" in proc.stderr
        assert "side b is silent after the dialogue ends" in proc.stderr


def test_a_genuine_bug_keeps_its_traceback_and_ctrl_c_is_one_line(ws: Path) -> None:
    (ws / "buggy_command.py").write_text(
        "def add_arguments(parser):\n    parser.add_argument('--stop', action='store_true')\n\n"
        "def run(args):\n    if args.stop:\n        raise KeyboardInterrupt\n"
        "    return {}['a bug, not bad input']\n")
    code = ("import sys; sys.path.insert(0, '.'); import duplexsim.cli as cli; "
            "cli.COMMANDS['buggy'] = ('buggy_command', 'raises a KeyError'); "
            "sys.exit(cli.main(['buggy', *sys.argv[1:]]))")
    bug, stop = (subprocess.run([sys.executable, "-c", code, *flags], cwd=ws,
                                capture_output=True, text=True) for flags in ([], ["--stop"]))
    (ws / "buggy_command.py").unlink()
    shutil.rmtree(ws / "__pycache__", ignore_errors=True)
    assert bug.returncode == 1
    assert "Traceback" in bug.stderr and "KeyError" in bug.stderr
    assert stop.returncode == 130 and stop.stderr == "duplexsim buggy: interrupted\n"


def test_ctrl_c_while_a_command_loads_is_one_line(monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """simulate's module imports torch (about 3 s): Ctrl-C then was a KeyboardInterrupt
    traceback through importlib, not the one line a Ctrl-C gives later."""
    def interrupted(name: str) -> None:
        raise KeyboardInterrupt

    from duplexsim import cli

    monkeypatch.setattr(cli.importlib, "import_module", interrupted)
    assert cli.main(["simulate", "x.toml"]) == cli.EXIT_INTERRUPTED
    assert capsys.readouterr().err == "duplexsim simulate: interrupted\n"


def test_sigterm_cleans_up_as_ctrl_c_does(tmp_path: Path) -> None:
    """`timeout`, a CI cancel or `kill` send SIGTERM: a command's cleanup runs (here a child
    process is killed, as the demo's trainers are) and the status is 143. Without it the
    interpreter died at once and the demo's two trainers ran on, orphaned."""
    import signal
    import time

    (tmp_path / "child_command.py").write_text(
        "import subprocess, sys\n\ndef add_arguments(parser):\n    pass\n\n"
        "def run(args):\n    child = subprocess.Popen([sys.executable, '-c', "
        "'import time; time.sleep(120)'])\n"
        "    try:\n        print(child.pid, flush=True)\n        child.wait()\n"
        "    finally:\n        child.kill()\n")  # the pid inside the try: a SIGTERM
    # right after it (a loaded machine) still reaches the finally
    code = ("import sys; sys.path.insert(0, '.'); import duplexsim.cli as cli; "
            "cli.COMMANDS['child'] = ('child_command', 'waits on a child'); "
            "sys.exit(cli.main(['child']))")
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=tmp_path, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    child = int(proc.stdout.readline())
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=20)  # the child, if alive, holds the pipes open
    assert proc.returncode == 143 and err == "duplexsim child: terminated\n"
    for _ in range(100):  # the child is gone (killed, and reaped by its parent's Popen)
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        raise AssertionError(f"child {child} still runs")


def test_a_corpus_is_rebuilt_only_when_asked(ws: Path) -> None:
    from duplexsim.corpora.config import load_config
    from duplexsim.corpora.rebuild import CORPUS_PARTS, build_record, check_rebuild
    from duplexsim.errors import OutputError

    corpus = ws / "rebuilt"
    shutil.copytree(ws / "corpus", corpus)
    (corpus / "mine.txt").write_text("not the corpus's")
    cfg = load_config("fisher-like", conversation_s=20.0)
    check_rebuild(corpus, build_record(cfg, 0, "fisher-like", N_UNITS, None), rebuild=False)
    other = build_record(cfg, 1, "fisher-like", N_UNITS, None)
    with pytest.raises(OutputError, match=r"rebuilt: seed: holds a corpus built with 0, not 1"):
        check_rebuild(corpus, other, rebuild=False)
    assert (corpus / "manifest.json").is_file()
    check_rebuild(corpus, other, rebuild=True)
    assert not any((corpus / part).exists() for part in CORPUS_PARTS)
    assert (corpus / "mine.txt").is_file()
    # asked for with the same parameters (e.g. after the generator changed): rebuilt too
    shutil.copytree(ws / "corpus", corpus, dirs_exist_ok=True)
    check_rebuild(corpus, build_record(cfg, 0, "fisher-like", N_UNITS, None), rebuild=True)
    assert not any((corpus / part).exists() for part in CORPUS_PARTS)


def test_a_corpus_built_with_a_tokenizer_now_elsewhere_resumes(tmp_path: Path) -> None:
    """runs/ moved or copied: the tokenizer is the same bytes in another folder, and the
    corpus resumes (it was refused: 'holds a corpus built with .../root/units'); other
    bytes are still refused."""
    from duplexsim.atomic import write_json
    from duplexsim.corpora.config import load_config
    from duplexsim.corpora.rebuild import build_record, check_rebuild
    from duplexsim.errors import OutputError

    cfg = load_config("fisher-like", conversation_s=20.0)
    for root in ("root", "root2"):
        (tmp_path / root / "units").mkdir(parents=True)
        (tmp_path / root / "units" / "config.json").write_text('{"k": 1}')
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    write_json(corpus / "build.json",
               build_record(cfg, 0, "fisher-like", N_UNITS, tmp_path / "root" / "units"))
    check_rebuild(corpus, build_record(cfg, 0, "fisher-like", N_UNITS,
                                       tmp_path / "root2" / "units"), rebuild=False)
    (tmp_path / "root2" / "units" / "config.json").write_text('{"k": 2}')
    with pytest.raises(OutputError, match="tokenizer: holds a corpus built with"):
        check_rebuild(corpus, build_record(cfg, 0, "fisher-like", N_UNITS,
                                           tmp_path / "root2" / "units"), rebuild=False)


def test_a_corpus_from_before_a_parameter_existed_keeps_its_old_value(ws: Path) -> None:
    from dataclasses import replace

    from duplexsim.corpora.config import load_config
    from duplexsim.corpora.rebuild import build_record, check_rebuild
    from duplexsim.errors import OutputError

    corpus = ws / "corpus"  # its manifest records no synthesis parameters, as an old one
    cfg = load_config("fisher-like", conversation_s=20.0)
    check_rebuild(corpus, build_record(replace(cfg, yield_cue=False), 0, "fisher-like",
                                       N_UNITS, None), rebuild=False)
    with pytest.raises(OutputError, match=r"params.yield_cue: holds a corpus built with False"):
        check_rebuild(corpus, build_record(replace(cfg, yield_cue=True), 0, "fisher-like",
                                           N_UNITS, None), rebuild=False)


def test_tokenizer_copies_are_moved_in_whole(ws: Path, tmp_path: Path) -> None:
    from duplexsim.units import copy_tokenizer, load_tokenizer

    dst = tmp_path / "agent" / "tokenizer"
    dst.mkdir(parents=True)
    (dst / "config.json").write_text("old")
    (dst / "arrays.safetensors").write_text("old")
    copy_tokenizer(ws / "corpus" / "tokenizer", dst)
    assert sorted(p.name for p in dst.iterdir()) == ["arrays.safetensors", "config.json"]
    assert load_tokenizer(dst).n_units == N_UNITS
    before = snapshot(tmp_path)
    with pytest.raises(FileNotFoundError):
        copy_tokenizer(ws / "no_tokenizer", dst)
    assert not changes(before, snapshot(tmp_path))


def test_train_marks_the_agent_complete_only_with_its_tokenizer(
        ws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``agent.json`` (what makes a folder an agent) is written after the unit tokenizer is
    copied in: an interrupt during the copy used to leave an agent that loaded and simulated
    but could not vocode its audio; now it leaves no agent, and the same command resumes."""
    import duplexsim.units
    from duplexsim.cli import main

    copy = duplexsim.units.copy_tokenizer

    def interrupted(*args: object) -> None:
        raise KeyboardInterrupt

    out = ["--out", "agent_tok"]
    with contextlib.chdir(ws):
        monkeypatch.setattr(duplexsim.units, "copy_tokenizer", interrupted)
        assert main([*TRAIN[:4], *out, "--no-progress"]) == 130
        assert (ws / "agent_tok" / "model").is_dir()
        assert not (ws / "agent_tok" / "agent.json").exists()
        monkeypatch.setattr(duplexsim.units, "copy_tokenizer", copy)
        assert main([*TRAIN[:4], *out, "--no-progress"]) == 0
    assert (ws / "agent_tok" / "agent.json").is_file()
    assert (ws / "agent_tok" / "tokenizer" / "config.json").is_file()


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


def test_the_speech_cache_from_the_environment_is_checked_before_anything_is_written(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
        ) -> None:
    """Only --cache was checked: a $DUPLEXSIM_TTS_CACHE that is a file failed after
    build.json was written, and later builds into the folder were refused (audit)."""
    from duplexsim.cli import main

    blocker = tmp_path / "a_file"
    blocker.write_text("")
    monkeypatch.setenv("DUPLEXSIM_TTS_CACHE", str(blocker))
    out = tmp_path / "corpus"
    assert main(["corpus", "build", "--hours", "0.001", "--conversation-s", "5", "--out",
                 str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "DUPLEXSIM_TTS_CACHE" in err[0] and "is a file" in err[0]
    assert not out.exists()


def test_a_reader_that_goes_away_ends_the_command_quietly() -> None:
    """`duplexsim corpus stats DIR | head` ended in a BrokenPipeError traceback."""
    import subprocess
    import sys

    code = ("import sys\nfrom duplexsim.cli import run_reporting\n"
            "def run():\n    raise BrokenPipeError(32, 'Broken pipe')\n"
            "sys.exit(run_reporting(run, 'x'))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 141 and out.stderr == ""


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
