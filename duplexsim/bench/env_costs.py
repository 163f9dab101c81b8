"""Where a replay vector env's step time goes, for ``bench_envs``: each measured in a separate
run of random turn actions (seed 0) with the env instrumented while it lasts (SimPy events
counted, the garbage collector's full passes timed, the step's methods wrapped in timers),
then put back as it was.
"""

from __future__ import annotations

import time
from typing import Any

import gymnasium as gym
import numpy as np


def random_steps(env: gym.vector.VectorEnv, steps: int, n: int) -> None:
    """``steps`` vector steps of random turn actions (seed 0), the rollout of every separate,
    instrumented run below (each resets the env with seed 0 first)."""
    rng = np.random.default_rng(0)
    for _ in range(steps):
        env.step(rng.integers(0, 4, n))


def events_per_step(env: gym.vector.VectorEnv, steps: int, n: int) -> float:
    """SimPy events processed per env step over ``steps`` vector steps (a separate, untimed
    run: ``simpy.Environment.step`` is counted while it lasts)."""
    import simpy

    count = 0
    step = simpy.Environment.step

    def counted(self: simpy.Environment) -> None:
        nonlocal count
        count += 1
        step(self)

    env.reset(seed=0)
    simpy.Environment.step = counted  # type: ignore[method-assign]
    try:
        random_steps(env, steps, n)
    finally:
        simpy.Environment.step = step  # type: ignore[method-assign]
    return count / (steps * n)


def full_collections(env: gym.vector.VectorEnv, steps: int, n: int) -> tuple[int, float]:
    """The garbage collector's full (generation 2) passes over ``steps`` vector steps, in a
    separate run: how many, and their share of its wall time. Each walks every object of
    the process, so a few are a visible share of a step."""
    import gc

    passes, spent, started = 0, 0.0, 0.0

    def timed(phase: str, info: dict[str, int]) -> None:
        nonlocal passes, spent, started
        if info["generation"] != 2:
            return
        if phase == "start":
            started = time.perf_counter()
        else:
            passes, spent = passes + 1, spent + time.perf_counter() - started

    env.reset(seed=0)
    gc.callbacks.append(timed)
    try:
        t0 = time.perf_counter()
        random_steps(env, steps, n)
        total = time.perf_counter() - t0
    finally:
        gc.callbacks.remove(timed)
    return passes, spent / total


PHASES = (  # (label, module, class, method): inclusive wall time of each, per env step
    ("vector step, all of it", "duplexsim.envs.vector", "TurnTakingVectorEnv", "_step"),
    ("  simulation (worlds advanced)", "duplexsim.envs.vector", "TurnTakingVectorEnv",
     "_advance"),
    ("  step results (reward, info)", "duplexsim.envs.turntaking", "TurnTakingEnv",
     "outcome"),
    ("    reward", "duplexsim.envs.side", "LearnerSide", "score"),
    ("    timeline alignment", "duplexsim.envs.world", "DuplexWorld", "scorable"),
    ("    episode summary", "duplexsim.envs.side", "LearnerSide", "summary"),
    ("  observations (built together)", "duplexsim.envs.vector", "TurnTakingVectorEnv",
     "_observe_batch"),
    ("    what each learner was told", "duplexsim.envs.side", "LearnerSide",
     "observation_input"),
    ("  infos merged", "duplexsim.envs.vector", "TurnTakingVectorEnv", "_merge_infos"),
    ("  resets (autoreset)", "duplexsim.envs.turntaking", "TurnTakingEnv", "reset"),
    ("  actions queued (once checked)", "duplexsim.envs.turntaking", "TurnTakingEnv",
     "act_checked"),
    ("  reset observations batched", "duplexsim.envs.vector", "TurnTakingVectorEnv",
     "_batch"),
)


def phase_costs(env: gym.vector.VectorEnv, steps: int, n: int) -> list[tuple[str, float]]:
    """Microseconds per env step spent in each of :data:`PHASES` (inclusive: a phase's time
    holds the indented ones below it) over ``steps`` vector steps, in a separate run: the
    methods are wrapped in timers while it lasts (about 0.3 us a call more)."""
    import importlib

    env.reset(seed=0)  # before the timers: the first reset is no step's work
    spent = [0.0] * len(PHASES)
    originals = []
    for i, (_, module, cls_name, method) in enumerate(PHASES):
        cls = getattr(importlib.import_module(module), cls_name)
        original = getattr(cls, method)
        originals.append((cls, method, original))

        def timed(*args: Any, _i: int = i, _f: Any = original, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return _f(*args, **kwargs)
            finally:
                spent[_i] += time.perf_counter() - t0

        setattr(cls, method, timed)
    try:
        random_steps(env, steps, n)
    finally:
        for cls, method, original in originals:
            setattr(cls, method, original)
    return [(label, spent[i] / (steps * n) * 1e6) for i, (label, *_) in enumerate(PHASES)]
