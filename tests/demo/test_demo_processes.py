"""The demo's child processes: one agent's training failing stops the other at once, and the
demo killed outright ends its trainers and its simulation workers."""

from __future__ import annotations

from pathlib import Path

import pytest

from duplexsim.demo.plan import DemoPlan


def test_demo_training_failing_stops_the_other_one_now(tmp_path, monkeypatch, capsys):
    """One agent's training fails: the other is stopped (SIGTERM) at once, not trained to its
    end (half an hour) for a demo that has failed; it resumes from its checkpoint later."""
    import stat
    import sys
    import time

    from duplexsim.demo import processes

    trainer = tmp_path / "trainer"  # stands for `python -m duplexsim.cli train ...`
    trainer.write_text('#!/bin/sh\ncase "$*" in *broken*) echo "boom"; exit 2;; esac\n'
                       "trap 'kill $!; exit 143' TERM\nsleep 600 & wait\n")  # 143: as the CLI
    trainer.chmod(trainer.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setattr(sys, "executable", str(trainer))
    plan = DemoPlan(root=tmp_path / "runs", out=tmp_path / "out")
    t0 = time.perf_counter()
    for todo in ([("fisher", ["train", "fine.toml"]), ("broken", ["train", "broken.toml"])],
                 [("broken", ["train", "broken.toml"]), ("fisher", ["train", "fine.toml"])]):
        with pytest.raises(SystemExit, match=r"training broken failed$"):
            processes.train_side_by_side(plan, todo, poll_s=60)
        assert time.perf_counter() - t0 < 30
        out = capsys.readouterr().out
        assert "stopped fisher" in out and "boom" in out
        t0 = time.perf_counter()


def alive(pid: int) -> bool:
    """Is process ``pid`` running (not ended, nor a zombie no one has reaped)?"""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _killed_leaves(demo_proc, started: list[int]) -> list[int]:  # noqa: ANN001
    """SIGKILL ``demo_proc``, wait up to 10 s for the processes ``started`` to end, and
    return those still running (SIGKILLed then, so that none outlives the test)."""
    import os
    import signal
    import time

    demo_proc.kill()
    demo_proc.wait()
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in started) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = [pid for pid in started if alive(pid)]
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    return left


def test_demo_killed_ends_its_trainers(tmp_path):
    """The demo killed outright (SIGKILL, an OOM kill: no handler runs) ends its trainers too;
    they trained on, and a rerun started a second trainer on each agent's folder."""
    import os
    import stat
    import subprocess
    import sys
    import time

    trainer = tmp_path / "trainer"  # stands for `python -m duplexsim.cli train CARD ...`
    trainer.write_text('#!/bin/sh\necho $$ > "$PIDS/$4"\n'
                       "trap 'kill $!; exit 143' TERM\nsleep 600 & wait\n")
    trainer.chmod(trainer.stat().st_mode | stat.S_IEXEC)
    pids = tmp_path / "pids"
    pids.mkdir()
    driver = (
        "import sys\nfrom pathlib import Path\nfrom duplexsim.demo.plan import DemoPlan\n"
        "from duplexsim.demo.processes import train_side_by_side\n"
        f"sys.executable = {str(trainer)!r}\n"
        f"plan = DemoPlan(root=Path({str(tmp_path / 'runs')!r}))\n"
        "train_side_by_side(plan, [('fisher', ['train', 'fisher']), "
        "('candor', ['train', 'candor'])], poll_s=60)\n")
    demo_proc = subprocess.Popen([sys.executable, "-c", driver], env={**os.environ,
                                 "PIDS": str(pids)}, stdout=subprocess.DEVNULL)

    try:
        deadline = time.monotonic() + 60
        while len(list(pids.iterdir())) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.3)  # each pid file is written before its shell's trap is set
        started = [int(p.read_text()) for p in pids.iterdir()]
        assert len(started) == 2 and all(alive(pid) for pid in started)
        assert not _killed_leaves(demo_proc, started)
    finally:
        demo_proc.kill()


def test_demo_killed_ends_its_simulations(tmp_path):
    """The demo killed outright during the simulations ends their worker processes too; a
    worker left behind ran its simulation to the end and wrote it into the folder a rerun
    was writing."""
    import os
    import subprocess
    import sys
    import time

    pids = tmp_path / "pids"
    pids.mkdir()
    (tmp_path / "sleeper.py").write_text(  # stands for one simulation, in a pool worker
        "import os, time\nfrom pathlib import Path\n\n\ndef run(*args):\n"
        f"    (Path({str(pids)!r}) / str(os.getpid())).write_text('')\n    time.sleep(600)\n")
    scenarios = [tmp_path / f"{name}.toml" for name in ("one", "two")]
    for path in scenarios:
        path.write_text("# a scenario\n")
    driver = (
        "import concurrent.futures, sys\nfrom pathlib import Path\n"
        f"sys.path.insert(0, {str(tmp_path)!r})\nimport sleeper\n"
        "from duplexsim import demo, digests\n"
        "digests.directory_digest = lambda *args: 'agent'\n"
        "class Pool(concurrent.futures.ProcessPoolExecutor):\n"
        "    def submit(self, fn, /, *args, **kwargs):\n"
        "        return super().submit(sleeper.run)\n"
        "concurrent.futures.ProcessPoolExecutor = Pool\n"
        f"demo.simulate(demo.DemoPlan(root=Path({str(tmp_path / 'runs')!r}), "
        f"out=Path({str(tmp_path / 'out')!r}), "
        f"scenarios=({str(scenarios[0])!r}, {str(scenarios[1])!r})))\n")
    path = os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])
    demo_proc = subprocess.Popen([sys.executable, "-c", driver], stdout=subprocess.DEVNULL,
                                 env={**os.environ, "PYTHONPATH": path})
    try:
        deadline = time.monotonic() + 60
        while len(list(pids.iterdir())) < 2 and time.monotonic() < deadline:
            assert demo_proc.poll() is None
            time.sleep(0.1)
        started = [int(p.name) for p in pids.iterdir()]
        assert len(started) == 2 and all(alive(pid) for pid in started)
        assert not _killed_leaves(demo_proc, started)
    finally:
        demo_proc.kill()
