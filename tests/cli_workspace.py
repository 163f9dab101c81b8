"""The workspace the CLI tests run commands in, and how they run them.

The fixtures are tiny and real: a 2-step SyncLLM agent, a hand-written unit tokenizer, a
3-dialogue corpus of 8 s; no audio is synthesised. ``drive`` runs a batch of ``duplexsim``
commands in one interpreter (torch imported once); ``snapshot`` and ``changes`` compare
the workspace file by file. The ``ws`` fixture that builds it is in tests/conftest.py.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

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
