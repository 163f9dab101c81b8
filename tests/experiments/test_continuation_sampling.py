"""experiments/continuation.py samples each prompt's continuation from a stream of its own."""

from __future__ import annotations

import shutil
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "experiments"))
sys.path.insert(0, str(ROOT / "tests" / "models"))


def test_prompts_are_sampled_apart_and_agents_on_one_prompt_together(tmp_path: Path) -> None:
    """Two prompts of the same units: every prompt was sampled from the seed itself, so the
    two continuations came out the same (and continuations of any prompts drew the same
    uniforms: r across prompts over shared sampling noise). Now each prompt has its own
    stream; two agents of the same weights on one prompt still draw the same (paired)."""
    from continuation_plan import Plan, Prompt
    from continuation_sources import generate_all
    from syncllm_fixtures import synthetic_dialogues, train_tiny_agent

    agents = tmp_path / "agents"
    train_tiny_agent(agents / "fisher", steps=2)
    shutil.copytree(agents / "fisher", agents / "candor")  # the same weights
    (tmp_path / "corpora").mkdir()
    units = synthetic_dialogues(1)[0].units
    prompt, truth = units[:, :75], units[:, 75:125]  # 3 s, then 2 s
    prompts = [Prompt(f"fisher-like/d{i}", "fisher-like", prompt, truth) for i in range(2)]
    plan = Plan(agents, tmp_path / "corpora", tmp_path / "out", chunk_ms=(160,), seeds=(0,),
                prompt_s=3.0, continuation_s=2.0, pairs=("ff",), resynth=False)
    got = generate_all(plan, prompts)
    for source in ("syncllm-f-160", "inter-ff-160"):
        a, b = (got[(p.id, source, 0)] for p in prompts)
        assert a.shape == b.shape == truth.shape
        assert not np.array_equal(a, b), source
    assert np.array_equal(got[(prompts[0].id, "syncllm-f-160", 0)],
                          got[(prompts[0].id, "syncllm-c-160", 0)])
    # the same prompt alone (a fresh cache) draws the same stream
    alone = generate_all(replace(plan, out=tmp_path / "alone"), prompts[1:])
    assert np.array_equal(alone[(prompts[1].id, "syncllm-f-160", 0)],
                          got[(prompts[1].id, "syncllm-f-160", 0)])
