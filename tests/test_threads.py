"""Torch threads: one per process by default; --threads / DUPLEXSIM_THREADS override."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from duplexsim import cli
from duplexsim.threads import ENV_VAR, resolve_threads, use_threads


@pytest.fixture
def restore_threads(monkeypatch: pytest.MonkeyPatch):
    before = torch.get_num_threads()
    for var in (ENV_VAR, "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.setenv(var, os.environ.get(var, "1"))
    yield
    torch.set_num_threads(before)


def test_resolution_order_and_bad_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert resolve_threads() == 1
    monkeypatch.setenv(ENV_VAR, "3")
    assert resolve_threads() == 3
    assert resolve_threads(2) == 2  # explicit beats the environment
    assert resolve_threads(0) == 0  # 0 = leave torch alone
    monkeypatch.setenv(ENV_VAR, "two")
    from duplexsim.errors import DuplexsimError  # one line from every entry point

    with pytest.raises(DuplexsimError, match=r"DUPLEXSIM_THREADS='two': not an integer \(allowed"):
        resolve_threads()
    with pytest.raises(ValueError, match=r"threads=-1: out of range \(allowed"):
        resolve_threads(-1)


def test_use_threads_sets_torch_and_exports_for_workers(restore_threads) -> None:
    assert use_threads(2) == 2 and torch.get_num_threads() == 2
    assert os.environ[ENV_VAR] == "2" and os.environ["OMP_NUM_THREADS"] == "2"
    assert use_threads(1) == 1 and torch.get_num_threads() == 1


def test_cli_threads_flag(restore_threads) -> None:
    assert cli.main(["validate", "scenarios/replay-lan.toml", "--threads", "2"]) == 0
    assert os.environ[ENV_VAR] == "2" and torch.get_num_threads() == 2
    with pytest.raises(SystemExit) as e:
        cli.main(["validate", "scenarios/replay-lan.toml", "--threads", "-3"])
    assert e.value.code == 2


@pytest.mark.parametrize("argv", [["corpus", "stats", "no-such-corpus", "--threads", "2"],
                                  ["corpus", "--threads", "2", "stats", "no-such-corpus"],
                                  ["units", "train", "--corpus", "no-such-corpus", "--out",
                                   "unused", "--threads", "2"]])
def test_threads_after_an_action_word_too(restore_threads, tmp_path, monkeypatch, argv) -> None:
    """``corpus`` and ``units`` have actions; ``--threads`` was only accepted before them
    (``duplexsim corpus stats DIR --threads 1``: unrecognized arguments)."""
    monkeypatch.chdir(tmp_path)
    torch.set_num_threads(1)
    assert cli.main(argv) == 2  # parsed; then one line: the corpus does not exist
    assert torch.get_num_threads() == 2 and os.environ[ENV_VAR] == "2"


def test_a_fresh_cli_process_runs_torch_on_one_thread_by_default() -> None:
    # OMP_NUM_THREADS=2 in the environment (as the Makefile used to force) no longer wins
    env = {k: v for k, v in os.environ.items() if k != ENV_VAR}
    env["OMP_NUM_THREADS"] = "2"
    code = ("from duplexsim import cli; cli.main(['validate', 'scenarios/replay-lan.toml']);"
            "import torch; print(torch.get_num_threads())")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True).stdout
    assert out.splitlines()[-1] == "1"


def test_numpys_blas_follows_the_thread_count_though_numpy_loaded_first() -> None:
    """import duplexsim loads numpy (the envs), whose OpenBLAS then starts a thread per core:
    the unit tokenizer's k-means ran on every core and its centroids followed the machine's
    core count (and OMP_NUM_THREADS in the user's shell)."""
    env = {k: v for k, v in os.environ.items()
           if k not in (ENV_VAR, "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
    code = ("import duplexsim, numpy; from threadpoolctl import threadpool_info; "
            "from duplexsim.threads import use_threads; use_threads(1); "
            "print(sorted({i['num_threads'] for i in threadpool_info() "
            "if i['user_api'] == 'blas'}))")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True).stdout
    assert out.splitlines()[-1] == "[1]"


def test_use_threads_pins_mkl_unless_the_user_chose(restore_threads,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from duplexsim.threads import MKL_CBWR

    monkeypatch.delenv("MKL_CBWR", raising=False)
    use_threads(1)
    assert os.environ["MKL_CBWR"] == MKL_CBWR == "AVX2,STRICT"
    monkeypatch.setenv("MKL_CBWR", "AUTO")
    use_threads(1)
    assert os.environ["MKL_CBWR"] == "AUTO"


def _openblas_kernels(env: dict[str, str], first: str) -> list[str]:
    """The kernel families numpy's and scipy's OpenBLAS run in a fresh process that imports
    ``first`` (``duplexsim`` or ``numpy``) first."""
    code = ("import " + first + ", duplexsim, numpy, scipy.linalg\n"
            "from threadpoolctl import threadpool_info\n"
            "print(sorted({i['architecture'] for i in threadpool_info()"
            " if i.get('internal_api') == 'openblas'}))")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True).stdout
    return eval(out.splitlines()[-1])  # noqa: S307 - our own printed list


def _has_avx2() -> bool:
    from pathlib import Path

    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="ascii", errors="replace")
    except OSError:
        return False
    return " avx2" in flags and " fma" in flags


@pytest.mark.skipif(not _has_avx2(), reason="OpenBLAS is pinned only where AVX2 and FMA are")
def test_importing_duplexsim_pins_openblas_unless_the_user_chose() -> None:
    """The unit tokenizer's k-means gave other centroids under OpenBLAS's AVX-512 kernels
    than under its AVX2 ones (docs/results/determinism.md): every process that imports
    duplexsim before numpy runs the AVX2 (Haswell) kernels; a value the user set is kept."""
    from duplexsim.threads import OPENBLAS_CORETYPE

    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_CORETYPE"}
    assert _openblas_kernels(env, "duplexsim") == [OPENBLAS_CORETYPE] == ["Haswell"]
    assert _openblas_kernels(env | {"OPENBLAS_CORETYPE": "SandyBridge"}, "duplexsim") \
        == ["Sandybridge"]


def test_pin_openblas_leaves_a_loaded_numpy_and_a_chosen_value(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from duplexsim.threads import pin_openblas

    monkeypatch.delenv("OPENBLAS_CORETYPE", raising=False)
    assert "numpy" in sys.modules and pin_openblas() is None  # too late: say nothing set
    assert "OPENBLAS_CORETYPE" not in os.environ



def _blas_report(env: dict[str, str], before: str) -> subprocess.CompletedProcess:
    """A fresh process that runs ``before``, then prints :func:`unpinned_openblas` and calls
    :func:`warn_unpinned_openblas` twice (stderr: the warnings, in Python's format)."""
    code = (before + "\nfrom duplexsim.threads import unpinned_openblas, warn_unpinned_openblas"
            "\nprint(unpinned_openblas()); warn_unpinned_openblas(); warn_unpinned_openblas()")
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, check=True)


@pytest.mark.skipif(not _has_avx2(), reason="OpenBLAS is pinned only where AVX2 and FMA are")
def test_openblas_loaded_before_duplexsim_is_reported_once() -> None:
    """A process that imported numpy before duplexsim keeps OpenBLAS's own kernels (a wrapper
    script trained another tokenizer that way, silently): reported, once; a pinned process
    and a kernel family the user chose are not. SandyBridge's kernels, forced and the
    variable then removed, stand for a processor's own choice: they run on every AVX2 one."""
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_CORETYPE"}
    pinned = _blas_report(env, "import duplexsim, numpy, scipy.linalg")
    assert pinned.stdout.splitlines()[-1] == "[]" and "OpenBLAS" not in pinned.stderr
    chose = env | {"OPENBLAS_CORETYPE": "SandyBridge"}
    chosen = _blas_report(chose, "import numpy, scipy.linalg")
    assert chosen.stdout.splitlines()[-1] == "[]" and "OpenBLAS" not in chosen.stderr
    late = _blas_report(chose, "import os, numpy, scipy.linalg\n"
                        "del os.environ['OPENBLAS_CORETYPE']")
    assert late.stdout.splitlines()[-1] == "['Sandybridge']"
    assert late.stderr.count("UserWarning: OpenBLAS runs its Sandybridge kernels, not the "
                             "pinned Haswell ones (numpy was imported before duplexsim") == 1
    assert "import duplexsim before numpy, or start Python with OPENBLAS_CORETYPE=Haswell" \
        in late.stderr


def test_the_test_processes_run_the_pinned_kernels() -> None:
    """conftest imports duplexsim before cli_workspace imports numpy, so the tokenizers and
    corpora the tests build come from the kernels of a user's pinned run, with no warning
    (numpy first had left this process, and every worker, on SkylakeX's here)."""
    from duplexsim.threads import unpinned_openblas

    assert unpinned_openblas() == []


def test_tokenizer_training_and_corpus_builds_warn_when_openblas_is_unpinned(
        monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """Where bytes follow OpenBLAS's kernels: training a unit tokenizer, building a corpus
    (stopped here once it has warned); nothing when the kernels are the pinned ones."""
    import warnings

    import numpy as np

    from duplexsim import threads
    from duplexsim.corpora import build
    from duplexsim.corpora.config import load_config
    from duplexsim.units import TokenizerConfig, train_tokenizer

    rng = np.random.default_rng(0)
    loud = np.where(np.arange(16000 * 4) % 16000 < 8000, 0.3, 0.003)  # 0.5 s on, 0.5 s off
    channels = [((loud * rng.normal(0, 1, loud.shape)).astype(np.float32), 16000, None)]
    config = TokenizerConfig(n_units=6, n_silence_units=2, seed=0)
    message = r"^OpenBLAS runs its SkylakeX kernels, not the pinned Haswell ones \(numpy was"
    monkeypatch.setattr(threads, "unpinned_openblas", lambda: ["SkylakeX"])
    with pytest.warns(UserWarning, match=message):
        train_tokenizer(channels, config)

    class Planned(Exception):
        pass

    def plan(*args: object, **kwargs: object) -> None:
        raise Planned

    monkeypatch.setattr(build, "plan", plan)  # the build's first step after the warning
    with pytest.warns(UserWarning, match=message), pytest.raises(Planned):
        build.build_corpus(tmp_path / "corpus", load_config("fisher-like"), hours=0.01)
    monkeypatch.setattr(threads, "unpinned_openblas", lambda: [])
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="OpenBLAS")
        train_tokenizer(channels, config)


@pytest.mark.parametrize("raw", ["1_0", " 1", "1 ", "+1", "\u0661", "1.0", "0x1", "-1"])
def test_environment_value_must_be_plain_digits(monkeypatch: pytest.MonkeyPatch,
                                                raw: str) -> None:
    """int() takes "1_0" (10 threads), blanks, "+1" and other scripts' digits: a typo or a
    stray character ran with a thread count the user never wrote."""
    monkeypatch.setenv(ENV_VAR, raw)
    from duplexsim.errors import DuplexsimError

    with pytest.raises(DuplexsimError, match=r"^DUPLEXSIM_THREADS=.*: not an integer \(allowed"):
        resolve_threads()


@pytest.mark.parametrize("raw", ["1_0", " 1", "+1", "\u0661", "1.0", "1e1"])
def test_threads_flag_must_be_plain_digits(restore_threads, capsys, raw: str) -> None:
    with pytest.raises(SystemExit) as e:
        cli.main(["validate", "scenarios/replay-lan.toml", f"--threads={raw}"])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--threads: " in err and "is not an integer" in err


def test_plain_number_parses_what_a_user_writes() -> None:
    from duplexsim.errors import plain_number

    assert plain_number("10", integer=True) == 10 and plain_number("007", integer=True) == 7
    assert plain_number("-3", integer=True) == -3
    assert plain_number("1.5") == 1.5 and plain_number(".5") == 0.5
    assert plain_number("1e3") == 1000.0 and plain_number("-2E-1") == -0.2
    assert plain_number("10") == 10.0
    for bad in ("1_0", "1_0.5", " 1", "1 ", "+1", "\u0661", "\uff11", "", "-", ".", "e3",
                "0x10", "1.5.1"):
        assert plain_number(bad) is None and plain_number(bad, integer=True) is None, bad
    assert plain_number("1.5", integer=True) is None
    assert plain_number("9" * 5000, integer=True) is None  # past int()'s digit limit
