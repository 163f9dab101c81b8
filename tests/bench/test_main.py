"""``python -m duplexsim.bench NAME ARGS``: one benchmark with its own arguments; an unknown
name is one clear line."""

from __future__ import annotations

import pytest

from duplexsim.bench.__main__ import main, names


def test_one_benchmark_gets_its_arguments(capsys) -> None:
    assert "bench_envs" in names()
    with pytest.raises(SystemExit) as done:  # argparse's --help: the benchmark's own flags
        main(["envs", "--help"])
    assert done.value.code == 0 and "--agent" in capsys.readouterr().out


def test_an_unknown_benchmark_is_named_with_the_allowed_ones(capsys) -> None:
    assert main(["bench_nothing"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'bench_nothing'" in err and "bench_envs" in err


def test_the_corpus_benchmark_runs_both_pairs(capsys) -> None:
    import shutil

    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng not installed")
    assert main(["corpus", "--utterances", "3", "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    assert "utterances: fork server vs espeak-ng command" in out
    assert "one conversation rendered: server vs command" in out


def test_the_training_worker_times_steps_of_a_card() -> None:
    """The per-stage worker every training measurement runs (it indexed its stage's data
    twice: a TypeError, so the training benchmark printed nothing)."""
    from pathlib import Path

    from duplexsim.bench.bench_training import worker

    card = Path(__file__).resolve().parents[2] / "agents" / "fisher.toml"
    row = worker(str(card), "", "stage3", 1)
    assert row["steps"] == 1 and row["steps_per_s"] > 0 and row["wall_s"] > 0
    assert row["end_s"] - row["start_s"] == row["wall_s"]


def test_side_by_side_training_counts_from_the_first_timed_step_to_the_last() -> None:
    """Two workers' timed windows overlap only in part when one builds its data faster; the
    slower worker's own wall time (10 s here) made the pair look 2x parallel."""
    from duplexsim.bench.bench_training import _span

    rows = [{"start_s": 100.0, "end_s": 110.0, "wall_s": 10.0},
            {"start_s": 108.0, "end_s": 118.0, "wall_s": 10.0}]
    assert _span(rows) == 18.0


def test_the_env_phase_breakdown_nests_and_leaves_the_envs_as_they_were() -> None:
    """``bench_envs --phases``: each indented phase within its parent, every method back."""
    import gymnasium as gym

    from duplexsim.bench.bench_envs import env_kwargs
    from duplexsim.bench.env_costs import PHASES, phase_costs
    from duplexsim.envs.registration import TURN_TAKING_ID
    from duplexsim.envs.side import LearnerSide
    from duplexsim.envs.vector import TurnTakingVectorEnv

    before = (TurnTakingVectorEnv._step, LearnerSide.score)
    env = gym.make_vec(TURN_TAKING_ID, num_envs=2, vectorization_mode="vector_entry_point",
                       **env_kwargs(4.0))
    costs = dict(phase_costs(env, 40, 2))  # 4 s episodes of 25 steps: resets included
    env.close()
    assert list(costs) == [label for label, *_ in PHASES]
    assert all(us > 0 for us in costs.values())
    total, outcome = costs["vector step, all of it"], costs["  step results (reward, info)"]
    observe = costs["  observations (built together)"]
    assert costs["  simulation (worlds advanced)"] + outcome + observe < total
    assert costs["    reward"] + costs["    episode summary"] < outcome
    assert costs["    what each learner was told"] < observe
    assert (TurnTakingVectorEnv._step, LearnerSide.score) == before


def test_one_env_and_a_vector_env_are_timed_over_the_same_whole_episode() -> None:
    """The SyncLLM ratio compares like with like: each side steps one episode from reset (a
    fixed step count timed a vector env's first chunks against one env's whole episode)."""
    import gymnasium as gym

    from duplexsim.bench.bench_envs import env_kwargs, episode_steps_per_s
    from duplexsim.envs.registration import TURN_TAKING_ID

    kwargs = env_kwargs(4.0)  # 4 s of 160 ms chunks: 25 steps
    one = gym.make(TURN_TAKING_ID, **kwargs)
    native = gym.make_vec(TURN_TAKING_ID, num_envs=3, vectorization_mode="vector_entry_point",
                          **kwargs)
    for env, n in ((one, 1), (native, 3)):
        calls = []
        step = env.step
        env.step = lambda action, step=step, calls=calls: calls.append(1) or step(action)
        assert episode_steps_per_s(env, n) > 0 and len(calls) == 25
        env.close()


def test_help_lists_the_benchmarks_instead_of_naming_an_unknown_one(capsys) -> None:
    """``python -m duplexsim.bench --help`` answered 'unknown benchmark' with status 2."""
    for flag in ("--help", "-h"):
        assert main([flag]) == 0
        out = capsys.readouterr().out
        assert "usage:" in out and "bench_envs" in out and "envs" in out


@pytest.mark.parametrize(("bench", "argv"), [
    ("sim", ["--seconds", "-5"]), ("sim", ["--threads", "1_0"]), ("envs", ["--n-envs", "0"]),
    ("training", ["--steps", "0"]), ("models", ["--steps", "x"]),
    ("batched", ["--batch", "0"]), ("corpus", ["--utterances", "0"]),
    ("training", ["--cards", "agents/fisher.toml", "nowhere.toml"]),
    ("training", ["--corpus", "runs/corpora/fisher-like"]),
    ("training", ["--corpus", "agents/candr.toml=duplexsim"]),
    ("envs", ["--agent", "runs/agents/fisher", "--replay-only"]),
])
def test_a_bad_benchmark_argument_is_one_line_before_anything_runs(capsys, bench, argv) -> None:
    """Benchmark flags were plain int/float: --steps 0 ended in a ZeroDivisionError after
    training, --seconds -5 in a FieldError traceback, --threads 1_0 ran 10 threads;
    bench_training dropped a missing card without a word (no side-by-side run), --corpus
    without '=' was a ValueError traceback and one naming no given card was ignored."""
    with pytest.raises(SystemExit) as done:
        main([bench, *argv])
    err = capsys.readouterr().err.strip().splitlines()
    assert done.value.code == 2 and argv[0] in err[-1] and "allowed" in err[-1], err
    # the benchmark named ('__main__.py: error: ...' under python -m duplexsim.bench NAME)
    assert err[-1].startswith(f"python -m duplexsim.bench.bench_{bench}: error: "), err


def test_envs_replay_only_measures_the_replay_partners_without_an_agent(capsys) -> None:
    """``bench_envs --replay-only``: the replay rows, no SyncLLM part (no agent is looked up
    or trained: measuring the replay path needs none)."""
    assert main(["envs", "--replay-only", "--steps", "8", "--n-envs", "2", "--repeats", "1",
                 "--workers", "1"]) == 0
    out = capsys.readouterr().out
    assert "replay partner, native vector x2" in out and "SyncLLM" not in out


def test_a_missing_agent_is_one_line(tmp_path, capsys) -> None:
    """A bad --agent is one line and status 2, through ``python -m duplexsim.bench NAME`` and
    ``python -m duplexsim.bench.NAME`` (it was a traceback)."""
    import subprocess
    import sys

    missing = str(tmp_path / "nowhere")
    line = f"{missing}: not a trained agent (agent.json missing)"
    assert main(["sim", "--agent", missing]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith(line)
    done = subprocess.run([sys.executable, "-m", "duplexsim.bench.bench_sim", "--agent", missing],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert len(done.stderr.splitlines()) == 1 and done.stderr.startswith(line)


def test_the_env_benchmark_checks_its_agent_before_measuring(tmp_path, capsys) -> None:
    """bench_envs --agent with no agent there: one line before anything is measured (the
    replay measurements ran first, a minute by default, then it failed)."""
    missing = str(tmp_path / "nowhere")
    assert main(["envs", "--agent", missing, "--steps", "16", "--repeats", "1"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith(f"{missing}: not a trained agent")


def test_bench_sim_processes_0_skips_as_its_help_says(tmp_path, capsys) -> None:
    """``--processes 0`` ("0 = skip" in its help) was refused: 'out of range (allowed: an
    integer >= 1...)'; now it passes the flags and fails only on the missing agent."""
    missing = str(tmp_path / "nowhere")
    assert main(["sim", "--processes", "0", "--agent", missing]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"{missing}: not a trained agent") and "--processes" not in err


def test_the_env_variants_take_turns_going_first() -> None:
    """bench_envs measured one env first in every repeat (then the vector envs in a fixed
    order); each variant's rates still come back under its own name."""
    from duplexsim.bench.bench_envs import _rates

    order: list[int] = []
    rates = _rates([lambda i=i: order.append(i) or float(i) for i in range(3)], 3)
    assert order == [0, 1, 2, 1, 2, 0, 2, 0, 1]
    assert rates == [[0.0] * 3, [1.0] * 3, [2.0] * 3]
