"""Experiment scripts refuse bad values with one line naming the flag and what is allowed,
before anything runs, and turn a problem the user can fix into one line, not a traceback."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from experiment_run import run_experiment

ROOT = Path(__file__).resolve().parents[2]


def _fake_agents(tmp_path: Path) -> Path:
    """Agent folders that pass the scripts' "is it trained?" check (an agent.json)."""
    for name in ("fisher", "candor"):
        (tmp_path / "agents" / name).mkdir(parents=True)
        (tmp_path / "agents" / name / "agent.json").write_text(json.dumps({}))
    return tmp_path / "agents"


@pytest.mark.parametrize(("script", "args", "flag"), [
    ("latency_sweep.py", ["--delays", "-160"], "--delays"),
    ("latency_sweep.py", ["--loss", "1.5"], "--loss"),
    ("latency_sweep.py", ["--jitter", "-3"], "--jitter"),
    ("latency_sweep.py", ["--delays", "0", "160", "--contrast-delays", "77"], "--contrast-delays"),
    ("pairing.py", ["--delays", "-1"], "--delays"),
    ("continuation.py", ["--prompt-s", "-5"], "--prompt-s"),
    ("continuation.py", ["--prompts", "-1"], "--prompts"),
    ("continuation.py", ["--seeds", "0", "0"], "--seeds"),
    ("continuation.py", ["--temperature", "-1"], "--temperature"),
    ("continuation.py", ["--splits", "test", "test"], "--splits"),
    ("selfplay.py", ["--conversations", "0"], "--conversations"),
    ("selfplay.py", ["--n-boot", "0"], "--n-boot"),
])
def test_bad_values_are_one_line(tmp_path, script, args, flag):
    """Before: a negative --prompt-s or --prompts ran (cutting prompts from the end, or all
    but the last prompt), a negative delay or a loss above 1 ended in a ConfigError
    traceback, a --contrast-delays value not in the sweep was dropped without a word,
    --splits test test took every test dialogue twice (one prompt scored as two)."""
    agents = _fake_agents(tmp_path)
    proc = run_experiment(script, "--agents", str(agents), "--out", str(tmp_path / "o"),
                          *args, timeout=120)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr and flag in proc.stderr
    assert "allowed" in proc.stderr


def test_a_repeated_grid_value_is_one_line(tmp_path):
    """--delays 0 0 made the same cell twice: one conversation counted as two seeds."""
    agents = _fake_agents(tmp_path)
    proc = run_experiment("latency_sweep.py", "--agents", str(agents), "--out",
                          str(tmp_path / "o"), "--sweeps", "delay", "--delays", "0", "0",
                          timeout=120)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr and "listed twice" in proc.stderr


def test_run_reporting_reports_a_user_error_in_one_line(capsys):
    """What every experiment script ends in, as the ``duplexsim`` commands do."""
    from duplexsim.cli import run_reporting
    from duplexsim.errors import InputError

    def main() -> int:
        raise InputError("runs/agents/fisher", "chunk_ms", "agent 'fisher' was not trained "
                         "for chunk_ms=150", "160, 200, 240")

    assert run_reporting(main, "x.py") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["runs/agents/fisher: chunk_ms: agent 'fisher' was not trained for "
                   "chunk_ms=150 (allowed: 160, 200, 240)"]

    def bug() -> int:
        raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        run_reporting(bug, "x.py")


def _script(name: str):  # noqa: ANN202
    """An experiment script's module, imported as the scripts import each other."""
    import importlib

    if str(ROOT / "experiments") not in sys.path:
        sys.path.insert(0, str(ROOT / "experiments"))
    return importlib.import_module(name)


@pytest.mark.parametrize(("script", "args", "flag"), [
    ("architectures", ["--seeds", "0"], "--seeds"),
    ("architectures", ["--seeds", "4"], "--seeds"),  # no interval below MIN_BOOT_UNITS (5)
    ("architectures", ["--block-s", "-15"], "--block-s"),
    ("architectures", ["--n-boot", "0"], "--n-boot"),
    ("architectures", ["--delays", "-160"], "--delays"),
    ("architectures", ["--delays", "0", "160", "0"], "--delays"),
    ("architectures", ["--temperature", "-1"], "--temperature"),
    ("architectures", ["--duration-s", "0"], "--duration-s"),
    ("architectures", ["--threads", "-1"], "--threads"),
    ("handover", ["--context-chunks", "0"], "--context-chunks"),
    ("handover", ["--n-boot", "0"], "--n-boot"),
    ("handover", ["--chunk-ms", "-200"], "--chunk-ms"),
    ("handover", ["--threads", "-1"], "--threads"),
    ("handover", ["--pair", "a", "c", "--pair", "a", "c"], "--pair"),
    ("style_probe", ["--short-chunks", "0"], "--short-chunks"),
    ("style_probe", ["--max-dialogues", "-1"], "--max-dialogues"),
    ("style_probe", ["--start-s", "-5"], "--start-s"),
    ("style_probe", ["--n-boot", "0"], "--n-boot"),
    ("selfplay_finetune", ["--first-seed", "-1"], "--first-seed"),
    ("selfplay_finetune", ["--duration-s", "-1"], "--duration-s"),
    ("selfplay_finetune", ["--chunk-ms", "0"], "--chunk-ms"),
    ("selfplay_finetune", ["--lr", "inf"], "--lr"),
    ("selfplay_rl", ["--lr", "inf"], "--lr"),
    ("selfplay_rl", ["--first-seed", "-1"], "--first-seed"),
    ("selfplay_rl", ["--overlap-cost", "nan"], "--overlap-cost"),
    ("selfplay_rl", ["--gamma", "1"], "--gamma"),
    ("selfplay_rl", ["--duration-s", "0"], "--duration-s"),
    ("rl_turn_policy", ["--timesteps", "0"], "--timesteps"),
    ("rl_turn_policy", ["--episodes", "0"], "--episodes"),
    ("rl_turn_policy", ["--tune-episodes", "0"], "--tune-episodes"),
    ("rl_turn_policy", ["--seed", "-1"], "--seed"),
    ("rl_turn_policy", ["--duration-s", "-1"], "--duration-s"),
    ("rl_turn_policy", ["--latencies=-5"], "--latencies"),
    ("rl_turn_policy", ["--latencies", "0,160,0"], "--latencies"),
    ("rl_turn_policy", ["--eval-latencies", "700000"], "--eval-latencies"),
    ("rl_turn_policy", ["--threads", "-1"], "--threads"),
    ("selfplay_rl_frontier", ["r", "--baseline", "r", "--corpus-overlap", "0",
                              "--corpus-onsets", "0.3"], "--corpus-overlap"),
    ("selfplay_rl_frontier", ["r", "--baseline", "r", "--corpus-overlap", "0.1",
                              "--corpus-onsets", "-1"], "--corpus-onsets"),
    ("continuation", ["--threads", "-1"], "--threads"),
    ("selfplay", ["--threads", "-1"], "--threads"),
    # not a multiple of the 40 ms frame: a SyncFormat traceback after loading (audit)
    ("selfplay", ["--chunk-ms", "50"], "--chunk-ms"),
    ("selfplay_finetune", ["--chunk-ms", "50"], "--chunk-ms"),
    ("continuation", ["--chunk-ms", "100"], "--chunk-ms"),
    ("rl_turn_policy", ["--latencies", ""], "--latencies"),  # was: the defaults
    ("latency_sweep", ["--smoke", "--corpus", "no/such/corpus"], "--corpus"),  # was: ignored
    ("continuation", ["--smoke", "--prompt-s", "10"], "--prompt-s"),  # was: ignored
    ("continuation", ["--smoke", "--splits", "test"], "--splits"),
    # were replaced without a word (--smoke --chunk-ms 240 scored 160 ms chunks; --decisions
    # took the file's settings and no agent whatever --pair and --chunk-ms said)
    ("handover", ["--smoke", "--chunk-ms", "240"], "--chunk-ms"),
    ("handover", ["--smoke", "--pair", "a", "c"], "--pair"),
    ("style_probe", ["--smoke", "--n-boot", "10"], "--n-boot"),
    ("style_probe", ["--smoke", "--decisions", "d.csv"], "--decisions"),
    ("style_probe", ["--decisions", "d.csv", "--chunk-ms", "240"], "--chunk-ms"),
    # the network sweep alone (delays 160 320): no effects_vs_delay240 and no word
    ("latency_sweep", ["--sweeps", "network", "--contrast-delays", "240"], "--contrast-delays"),
    ("presets", ["--corpus", "no/such/corpus"], "--corpus"),
    # the network sweep's pairing not run: no network sweep (--sweeps network: nothing) and
    # exit 0, without a word
    ("latency_sweep", ["--partners", "fisher", "--sweeps", "network"], "--network-partners"),
    ("latency_sweep", ["--partners", "fisher"], "--network-partners"),
    # smoke mode fixes these: they went unread without a word (--smoke --delays 500 ran 0
    # and 320 ms, --smoke --partners candor the fisher pairing, --smoke --seeds 5 one seed)
    ("latency_sweep", ["--smoke", "--delays", "500"], "--delays"),
    ("latency_sweep", ["--smoke", "--estimation", "wait"], "--estimation"),
    ("latency_sweep", ["--smoke", "--partners", "candor"], "--partners"),
    ("latency_sweep", ["--smoke", "--factorial"], "--factorial"),
    # not among the smoke run's delays (0, 320): no effects_vs_delay160, exit 0, no word
    ("latency_sweep", ["--smoke", "--contrast-delays", "160"], "--contrast-delays"),
    ("pairing", ["--smoke", "--delays", "500"], "--delays"),
    ("pairing", ["--smoke", "--agents", "elsewhere"], "--agents"),
    ("presets", ["--smoke", "--seeds", "5"], "--seeds"),
    ("presets", ["--smoke", "--duration-s", "30"], "--duration-s"),
])
def test_bad_values_are_one_line_before_any_work(tmp_path, capsys, script, args, flag):
    """Before: architectures --block-s -15 scored each conversation as one block and --delays
    0 160 0 counted a cell's blocks twice, --n-boot 0 (architectures, handover, style_probe)
    gave NaN CIs, style_probe --max-dialogues -1 dropped the last dialogue and --short-chunks
    0 scored an empty short context, handover --context-chunks 0 an empty one;
    selfplay_rl --lr inf trained NaN weights; a negative seed, delay or duration (and
    --threads -1 anywhere) ended in a traceback, mostly after loading the agents;
    selfplay_rl_frontier --corpus-overlap 0 in a ZeroDivisionError."""
    with pytest.raises(SystemExit) as e:
        _script(script).main([*args, "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip().splitlines()
    assert e.value.code == 2 and len(err) == 1, err
    assert "Traceback" not in err[0] and flag in err[0] and "allowed" in err[0], err


@pytest.mark.parametrize("script", ["presets", "continuation", "selfplay_rl", "handover"])
def test_an_empty_out_is_one_line(capsys, script):
    """--out "" was the current folder: a run's files (and its stale-file clean-up) landed
    wherever the script was started."""
    with pytest.raises(SystemExit) as e:
        _script(script).main(["--out", ""])
    err = capsys.readouterr().err.strip().splitlines()
    assert e.value.code == 2 and len(err) == 1, err
    assert "--out: '' is an empty path" in err[0] and "allowed" in err[0], err


@pytest.mark.parametrize(("script", "args", "flag"), [
    ("architectures", ["--agents", "{agents}"], "--agents"),
    ("continuation", ["--agents", "{agents}"], "--agents"),
    ("latency_sweep", ["--agents", "{agents}"], "--agents"),
    ("pairing", ["--agents", "{agents}"], "--agents"),
    ("presets", ["--agents", "{agents}"], "--agents"),
    ("selfplay", ["--agents", "{agents}"], "--agents"),
    ("selfplay_finetune", ["--agents", "{agents}"], "--agents"),
    ("rl_turn_policy", ["--train-agents", "{agents}/fisher"], "--train-agents"),
    ("rl_turn_policy", ["--eval-agents", "c={agents}/candor"], "--eval-agents"),
    ("handover", ["--pair", "{agents}/fisher", "runs/corpora/fisher-like"], "--pair"),
    ("style_probe", ["--pair", "{agents}/fisher", "runs/corpora/fisher-like"], "--pair"),
])
def test_an_untrained_agent_folder_is_one_line_before_any_work(tmp_path, capsys, script, args,
                                                                flag):
    """One check for every script (``ArgumentParser.require_trained``): it names the folders
    without an agent.json and writes nothing. Before: six wordings, and rl_turn_policy wrote
    its config.json, then ended in a PoolError traceback."""
    agents = tmp_path / "agents"
    (agents / "fisher").mkdir(parents=True)  # a folder, but no agent in it
    out = tmp_path / "o"
    with pytest.raises(SystemExit) as e:
        _script(script).main([*(a.format(agents=agents) for a in args), "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert e.value.code == 2 and len(err) == 1, err
    assert f"{flag}: no trained agent at {agents}" in err[0] and "agent.json" in err[0], err
    assert not out.exists()


def test_frontier_runs_with_one_folder_name_are_one_line(tmp_path, capsys):
    """Before: two runs in folders of the same name pooled as one run (rows named by folder)."""
    runs = []
    for parent in ("a", "b"):
        (tmp_path / parent / "flat").mkdir(parents=True)
        (tmp_path / parent / "flat" / "iterations.csv").write_text(
            "iteration,listener_onsets_per_s,overlap_share\n0,0.1,0.05\n1,0.2,0.09\n2,0.3,0.13\n")
        runs.append(str(tmp_path / parent / "flat"))
    with pytest.raises(SystemExit) as e:
        _script("selfplay_rl_frontier").main([*runs, "--baseline", "flat", "--out",
                                              str(tmp_path / "o")])
    err = capsys.readouterr().err.strip().splitlines()
    assert e.value.code == 2 and len(err) == 1 and "a folder name repeats" in err[0], err


def test_rl_latencies_are_one_line_each_way(capsys):
    """--latencies parses its comma list itself: a word, a gap, a negative or repeated value
    is one line naming the flag and what is allowed."""
    rl = _script("rl_config")
    from duplexsim.cli import ArgumentParser

    parser = ArgumentParser(prog="rl_turn_policy.py")
    assert rl.parse_latencies(parser, "--latencies", "0,160,240") == [0, 160, 240]
    for text in ("0,,160", "abc", "-1", "160,160", "600001"):
        with pytest.raises(SystemExit):
            rl.parse_latencies(parser, "--latencies", text)
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("rl_turn_policy.py: --latencies: ")
        assert "allowed: one-way ms as distinct integers 0..600000" in err[0]


def _trained_config() -> dict:
    return {"corpus": "runs/corpora/fisher-like", "train_agents": ["runs/agents/fisher"],
            "latencies_ms": [0, 240], "timesteps": 256, "duration_s": 3.2, "window": 12,
            "agent_weight": 1.0, "envs_per_latency": 2, "seed": 0,
            "scenario": "scenarios/rl-turntaking.toml", "episodes": 2}


def test_rl_policy_config_is_read_back(tmp_path):
    rl = _script("rl_config")
    from duplexsim.cli import ArgumentParser

    path = tmp_path / "config.json"
    path.write_text(json.dumps(_trained_config()))
    got = rl.read_trained(ArgumentParser(prog="rl_turn_policy.py"), path)
    assert set(got) == set(rl.TRAINING) and got["latencies_ms"] == [0, 240]
    assert got["timesteps"] == 256 and got["duration_s"] == 3.2


@pytest.mark.parametrize(("change", "expected"), [
    ({"timesteps": "many"}, "timesteps: 'many' is not a number"),
    ({"timesteps": 0}, "timesteps: 0 is out of range"),
    ({"duration_s": True}, "duration_s: True is not a number"),
    ({"seed": 1.5}, "seed: '1.5' is not an integer"),
    ({"latencies_ms": [0, -160]}, "latencies_ms: '0,-160'"),
    ({"latencies_ms": "0,160"}, "latencies_ms: '0,160' (allowed: a list"),
    ({"train_agents": "runs/agents/fisher"}, "train_agents: 'runs/agents/fisher' (allowed"),
    ({"scenario": 3}, "scenario: 3 (allowed: a path)"),
])
def test_rl_policy_config_values_are_checked(tmp_path, capsys, change, expected):
    """``--policy RUN`` took RUN/config.json's training settings unchecked: a string
    timesteps or a negative delay was a traceback once evaluation had started."""
    rl = _script("rl_config")
    from duplexsim.cli import ArgumentParser

    path = tmp_path / "config.json"
    path.write_text(json.dumps({**_trained_config(), **change}))
    with pytest.raises(SystemExit) as e:
        rl.read_trained(ArgumentParser(prog="rl_turn_policy.py"), path)
    err = capsys.readouterr().err.strip().splitlines()
    assert e.value.code == 2 and len(err) == 1, err
    assert err[0].startswith(f"rl_turn_policy.py: --policy: {path}: ") and expected in err[0], err


def test_rl_policy_config_must_be_an_object(tmp_path, capsys):
    rl = _script("rl_config")
    from duplexsim.cli import ArgumentParser

    path = tmp_path / "config.json"
    for text, expected in (("[1, 2]", "a JSON list"), ("{", "Expecting property name")):
        path.write_text(text)
        with pytest.raises(SystemExit):
            rl.read_trained(ArgumentParser(prog="rl_turn_policy.py"), path)
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and expected in err[0], err


def test_rl_saved_policy_that_is_not_one_is_one_line(tmp_path):
    """A damaged ppo.zip or obs_norm.npz was SB3's or numpy's traceback."""
    rl = _script("rl_train")
    from duplexsim.errors import InputError

    run = tmp_path / "run"
    run.mkdir()
    (run / "ppo.zip").write_bytes(b"not a zip")
    with pytest.raises(InputError, match=r"ppo\.zip: not a saved PPO policy"):
        rl.load_policy(run, tmp_path / "out")


@pytest.mark.parametrize("modes", [["silence", "model"], ["model", "silence"],
                                   ["model", "wait", "silence"]])
def test_latency_estimation_off_is_never_the_model(tmp_path, monkeypatch, modes):
    """``effects_vs_estimation_off`` contrasts with ``wait``, else ``silence``, whatever the
    order of ``--estimation`` (``silence model`` made ``model`` the baseline before)."""
    from types import SimpleNamespace

    from duplexsim.sweeps.config import SweepConfig

    latency = _script("latency_sweep")
    config = SweepConfig(name="x", base="base.toml", seeds=(0,),
                         grid={latency.BOTH_DELAYS: [0], latency.ESTIMATION: modes})
    written = []
    monkeypatch.setattr(latency, "load_sweep", lambda path: SimpleNamespace(config=config))
    monkeypatch.setattr(latency, "run_sweep", lambda *a, **k: [])
    monkeypatch.setattr(latency, "write_report", lambda *a, **k: tmp_path / "REPORT.md")
    monkeypatch.setattr(latency, "write_effects",
                        lambda out, keys, contrast, base, **k: written.append((contrast, base)))
    latency.run_one(tmp_path, config, SimpleNamespace(corpus=None, provenance="Command: x",
                                                      contrast_delays=[]))
    assert written == [(latency.ESTIMATION, "wait" if "wait" in modes else "silence")]


@pytest.mark.parametrize(("args", "expected"), [
    (["--train-agents", "{agents}/fisher", "--eval-agents", "f={agents}/fisher/"],
     "--eval-agents: f={agents}/fisher/ is also a training partner (--train-agents"),
    (["--eval-agents", "c={agents}/fisher", "c={agents}/candor"],
     "--eval-agents c c: a NAME repeats"),
    (["--train-agents", "{agents}/fisher", "{agents}/candor", "{agents}/fisher/"],
     "an agent folder repeats"),
])
def test_rl_held_out_agents_are_held_out(tmp_path, capsys, args, expected):
    """Before: an --eval-agents folder that was also one of --train-agents was evaluated as
    a held-out partner (in-sample reward reported as generalisation), a NAME given twice
    kept the last folder only (the first agent was never evaluated), and a --train-agents
    folder given twice was drawn twice as often as the others, all without a word."""
    agents = _fake_agents(tmp_path)
    with pytest.raises(SystemExit) as e:
        _script("rl_turn_policy").parse([*(a.format(agents=agents) for a in args),
                                         "--corpus", str(tmp_path / "none"),
                                         "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip().splitlines()
    assert e.value.code == 2 and len(err) == 1, err
    assert expected.format(agents=agents) in err[0] and "allowed" in err[0], err


def test_handover_split_is_checked_before_any_work(tmp_path, capsys):
    """Before: --split tset was taken as given and failed only once the agent was loaded
    and the corpus read, naming 'split' rather than the flag."""
    agents = _fake_agents(tmp_path)
    with pytest.raises(SystemExit) as e:
        _script("handover").main(["--pair", str(agents / "fisher"), str(tmp_path / "corpus"),
                                  "--split", "tset", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip().splitlines()
    assert e.value.code == 2 and len(err) == 1, err
    assert "--split: invalid choice: 'tset'" in err[0] and "'all'" in err[0], err
    assert not (tmp_path / "o").exists()
