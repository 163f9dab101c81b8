"""Smoke run of experiments/rl_turn_policy.py in a subprocess (CleanRL style): a tiny world
(two 4 x 12 s corpora, tiny agents), 256 PPO steps, every evaluation cell of the protocol."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from experiment_run import run_experiment
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]


def test_rl_turn_policy_smoke(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    proc = run_experiment("rl_turn_policy.py", "--smoke", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    df = pd.read_csv(tmp_path / "episodes.csv")
    assert set(df["set"]) == {"train-dialogues", "test-dialogues", "agent-candor"}
    assert set(df["delay_ms"]) == {0, 240}
    policies = {"ppo", "rule", "random", "always-speak", "silent"}
    assert set(df.loc[df["set"] == "agent-candor", "policy"]) == policies
    assert set(df.loc[df["set"] == "test-dialogues", "policy"]) == policies | {
        "corpus-reference"}
    assert (df.groupby(["set", "delay_ms", "policy"]).size() == 2).all()  # episodes per cell
    assert df["reward"].notna().all()
    # paired design: every policy of a cell meets the same partners on the same seeds
    partners = df.groupby(["set", "delay_ms", "seed"])["partner"].nunique()
    assert (partners == 1).all()
    test_partners = df.loc[df["set"] == "test-dialogues", "partner"]
    assert test_partners.str.startswith("replay:fisher-like:").all()
    # the resampling unit: the replayed dialogue (both channels), the learner's lines' one
    assert (df.loc[test_partners.index, "dialogue"]
            == "fisher-like:" + test_partners.str.split(":").str[2]).all()
    assert df.loc[df["set"] == "agent-candor", "dialogue"].str.startswith("fisher-like:").all()
    g = df.groupby("policy")["overlap_ms"].mean()
    assert g["always-speak"] > g["silent"] == 0
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert {"reward_lo", "reward_hi", "learner_fto_median_ms", "dialogues",
            "reward_dialogues"} <= set(summary.columns)
    farming = pd.read_csv(tmp_path / "farming.csv")
    assert farming["policy"].nunique() >= 10
    report = (tmp_path / "REPORT.md").read_text()
    for section in ("Does PPO beat every baseline", "Generalisation", "Reward farming",
                    "| test-dialogues | 240 | ppo |", "ppo - random", "paired_beats_all",
                    "gap_lo", "ci_within_1_5",
                    "Command: `python experiments/rl_turn_policy.py --smoke", "(commit "):
        assert section in report
    assert (tmp_path / "rl.png").stat().st_size > 1000
    assert Image.open(tmp_path / "rl.png").info["Description"].startswith(
        "Command: `python experiments/rl_turn_policy.py --smoke")  # the figure names it too
    assert (tmp_path / "ppo.zip").is_file()
    tuning = pd.read_csv(tmp_path / "rule_tuning.csv")  # every setting, with its intervals
    assert len(tuning) == 2 * 2 and (tuning["episodes"] == 1).all()
    assert {"reward_lo", "reward_hi", "dialogues", "minus_best", "minus_best_lo",
            "minus_best_hi"} <= set(tuning.columns)
    assert (tuning.groupby("delay_ms")["minus_best"].max() == 0).all()
    assert "on 1 episodes of train dialogues per setting" in report

    # --policy: the saved policy, evaluated again, plays exactly the same episodes
    first = (tmp_path / "episodes.csv").read_bytes()
    again = ["--smoke", "--out", str(tmp_path), "--policy", str(tmp_path)]
    proc = run_experiment("rl_turn_policy.py", *again)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "episodes.csv").read_bytes() == first
    assert "evaluated here" in (tmp_path / "REPORT.md").read_text()
    proc = run_experiment("rl_turn_policy.py", *again, "--timesteps", "5")
    assert proc.returncode == 2 and "--timesteps come from" in proc.stderr, proc.stderr[-3000:]
    # ... and at a latency it was not trained at, the rule tuned on --tune-episodes (the
    # flag's, not the earlier run's config.json)
    proc = run_experiment("rl_turn_policy.py", *again, "--eval-latencies", "160",
                          "--tune-episodes", "2")
    assert proc.returncode == 0, proc.stderr[-3000:]
    df = pd.read_csv(tmp_path / "episodes.csv")
    assert set(df["delay_ms"]) == {160} and set(df["policy"]) >= {"ppo", "rule"}
    assert (pd.read_csv(tmp_path / "rule_tuning.csv")["episodes"] == 2).all()
    assert json.loads((tmp_path / "config.json").read_text())["tune_episodes"] == 2
    # a normaliser that does not go with the policy is one line, not numpy's traceback
    sys.path.insert(0, str(ROOT / "experiments"))
    from rl_train import load_policy
    from rl_turn_policy import parse

    from duplexsim.errors import InputError

    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "ppo.zip").write_bytes((tmp_path / "ppo.zip").read_bytes())
    with np.load(tmp_path / "obs_norm.npz") as saved:
        norm = dict(saved)
    for damaged, match in (({k: v for k, v in norm.items() if k != "epsilon"}, "epsilon"),
                           ({**norm, "mean": norm["mean"][:-1]}, "shape")):
        np.savez(bad / "obs_norm.npz", **damaged)
        try:
            load_policy(bad, tmp_path / "copy")
        except InputError as err:
            assert "obs_norm.npz" in str(err) and match in str(err), err
        else:
            raise AssertionError("a damaged normaliser was accepted")
    assert "Evaluated at [160] ms one way" in (tmp_path / "REPORT.md").read_text()
    # another corpus of the same units as a held-out set of its own (--sets: that one only)
    other = tmp_path / "world" / "corpora" / "candor-like"
    proc = run_experiment("rl_turn_policy.py", *again, "--eval-latencies", "0",
                          "--test-corpus", str(other), "--sets", "test-corpus")
    assert proc.returncode == 0, proc.stderr[-3000:]
    df = pd.read_csv(tmp_path / "episodes.csv")
    assert set(df["set"]) == {"test-corpus"} and set(df["delay_ms"]) == {0}
    assert df["dialogue"].str.startswith("candor-like:").all()
    # the held-out agent hears the other corpus's lines too (its train split)
    proc = run_experiment("rl_turn_policy.py", *again, "--eval-latencies", "0",
                          "--test-corpus", str(other), "--sets", "agent-candor")
    assert proc.returncode == 0, proc.stderr[-3000:]
    df = pd.read_csv(tmp_path / "episodes.csv")
    assert set(df["set"]) == {"agent-candor"}
    assert df["dialogue"].str.startswith("candor-like:").all()
    assert "Set `test-corpus`: every dialogue of" in (tmp_path / "REPORT.md").read_text()
    for flags, message in ((["--test-corpus", str(tmp_path)], "is not a corpus"),
                           (["--test-corpus", str(tmp_path / "world" / "corpora" /
                                                  "fisher-like")], "is --corpus"),
                           (["--sets", "test-corpus"], "--sets: test-corpus (allowed: "),
                           (["--sets", "test-dialogues", "test-dialogues"], "repeats")):
        with pytest.raises(SystemExit) as exit_:  # (in process: the parser refuses first)
            parse([*again, *flags])
        err = capsys.readouterr().err
        assert exit_.value.code == 2 and message in err, err
        assert len(err.strip().splitlines()) <= 2, err  # usage + one line
    proc = run_experiment("rl_turn_policy.py", *again, "--eval-latencies", "0,fast")
    assert proc.returncode == 2 and "--eval-latencies: '0,fast'" in proc.stderr


def test_test_corpus_shares_no_dialogue_with_the_training_split(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``--test-corpus`` is held out only if none of its dialogues trained the policy: a
    corpus built with --corpus's seed (the default, 0) holds the same dialogues under the
    same ids and was accepted, its 'held-out' cells scoring the train split. Another seed's
    corpus is."""
    sys.path.insert(0, str(ROOT / "experiments"))
    from rl_turn_policy import parse

    from duplexsim.corpora.build import build_corpus
    from duplexsim.corpora.config import load_config

    def build(name: str, seed: int) -> Path:
        out = tmp_path / name
        build_corpus(out, load_config("fisher-like", conversation_s=12.0), hours=4 * 12 / 3600,
                     seed=seed, preset="fisher-like", tokenizer_dir=tmp_path / "units",
                     cache_dir=tmp_path / "tts", workers=1, n_units=24, train_hours=0.05)
        return out

    corpus, again, other = build("fisher-like", 0), build("rebuilt", 0), build("seed1", 1)
    capsys.readouterr()  # the builds' progress
    with pytest.raises(SystemExit) as exit_:
        parse(["--corpus", str(corpus), "--test-corpus", str(again)])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and f"--test-corpus: {again}: 3 of its 4 dialogues" in err, err
    assert "train split" in err and len(err.strip().splitlines()) <= 2, err
    _, cfg = parse(["--corpus", str(corpus), "--test-corpus", str(other)])
    assert cfg.test_corpus == str(other)
