"""Batched continuation: prompt i of a batch == prompt i alone (units), rows reused as
prompts finish, and clear errors. Tiny random-init Llama (speed does not need training)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from syncllm_fixtures import N_UNITS, synthetic_dialogues, tiny_card  # noqa: E402

from duplexsim.models.agentdir import AgentFiles  # noqa: E402
from duplexsim.models.continuation import continue_dialogue, continue_dialogues  # noqa: E402
from duplexsim.models.model import build_model  # noqa: E402
from duplexsim.models.sampling import SamplingConfig  # noqa: E402
from duplexsim.models.vocab import Vocab  # noqa: E402
from duplexsim.training.checkpoints import RunState
from duplexsim.training.recipe import agent_info

VOCAB = Vocab(N_UNITS, 300)


@pytest.fixture(scope="module")
def model():
    card = tiny_card().model
    return build_model(card, VOCAB.size, VOCAB.pad, VOCAB.bos, VOCAB.eos, seed=0)


def files_for(model, context_tokens: int) -> AgentFiles:
    """The untrained model as an agent: the agent.json training writes for the tiny card,
    with a shorter context (rows slide sooner)."""
    info = {**agent_info(tiny_card(), VOCAB, RunState(), corpus=""),
            "context_tokens": context_tokens}
    return AgentFiles(Path("tiny-agent"), info, model, VOCAB)


@pytest.mark.parametrize("cfg", [SamplingConfig(), SamplingConfig(0.8, top_k=5, top_p=0.8),
                                 SamplingConfig(temperature=0.0)])
def test_batched_continuation_equals_one_by_one(model, cfg) -> None:
    # context 48 tokens: rows slide (reset + re-prefill) every few chunks, at different
    # times, so decode and prefill forwards mix; max_batch=3: 3 rows for 5 prompts, a row
    # that finishes takes the next prompt
    files = files_for(model, 48)
    d = synthetic_dialogues(2, seconds=20.0)
    prompts = [d[0].units[:, :101], d[1].units[:, :37], d[0].units[:, :3],
               d[1].units[:, 50:250], d[0].units[:, 200:260]]
    seeds = [4, 5, 6, 7, 4]
    batched = continue_dialogues(files, prompts, seconds=6.0, chunk_ms=200, seeds=seeds,
                                 sampling=cfg, max_batch=3)
    for prompt, seed, got in zip(prompts, seeds, batched, strict=True):
        alone = continue_dialogue(files, prompt, 6.0, chunk_ms=200, seed=seed, sampling=cfg)
        assert got.dtype == np.int64 and np.array_equal(got, alone)
        n_prompt = prompt.shape[1] // 5 * 5  # + whole chunks up to frame T + 150, at least
        assert got.shape == (2, n_prompt + -(-(prompt.shape[1] + 150 - n_prompt) // 5) * 5)
        assert np.array_equal(got[:, :n_prompt], prompt[:, :n_prompt])
    if cfg.temperature > 0:  # the seed matters: same prompt, other seed -> other units
        other = continue_dialogues(files, prompts[:1], 6.0, chunk_ms=200, seeds=[5],
                                   sampling=cfg)[0]
        assert not np.array_equal(other, batched[0])


def test_errors(model) -> None:
    files = files_for(model, 48)
    prompt = np.zeros((2, 20), dtype=np.int64)
    with pytest.raises(ValueError, match=r"seeds: 1 given for 2 prompts"):
        continue_dialogues(files, [prompt, prompt], 1.0, chunk_ms=200, seeds=[1])
    with pytest.raises(ValueError, match=r"prompts\[1\]: shape \(20,\)"):
        continue_dialogues(files, [prompt, prompt[0]], 1.0, chunk_ms=200)
    with pytest.raises(ValueError, match="chunk_ms=240"):
        continue_dialogues(files, [prompt], 1.0, chunk_ms=240)
    with pytest.raises(ValueError, match="max_batch=0"):
        continue_dialogues(files, [prompt], 1.0, chunk_ms=200, max_batch=0)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"seconds": -1.0}, r"^seconds=-1.0 \(allowed: a finite number >= 0\)$"),
    ({"seconds": float("nan")}, r"^seconds=nan \(allowed"),  # was: cannot convert NaN
    ({"seconds": float("inf")}, r"^seconds=inf \(allowed"),
    ({"seconds": 10**400}, r"^seconds=10+ \(allowed"),  # was: an OverflowError traceback
    ({"prompt": np.full((2, 20), 0.5)}, r"^prompts\[0\]: dtype float64 \(allowed: integer"),
    ({"seeds": [1.5]}, r"^seeds\[0\]=1.5 \(allowed: an integer\)$"),
    ({"max_batch": 1.5}, r"^max_batch=1.5 \(allowed: a whole number >= 1\)$"),
])
def test_bad_continuation_arguments_are_one_line(model, kwargs, message: str) -> None:  # noqa: ANN001
    """Seconds -1 returned the prompt cut to whole chunks, a float prompt was truncated to
    unit ids and a seed 1.5 ran as seed 1 (each without a word); NaN seconds and a float
    max_batch failed inside (int() of NaN, torch's new_empty)."""
    from duplexsim.models.continuation import interact_dialogues

    files = files_for(model, 48)
    prompt = kwargs.pop("prompt", np.zeros((2, 20), dtype=np.int64))
    args = {"seconds": 1.0, "chunk_ms": 200} | kwargs
    with pytest.raises(ValueError, match=message):
        continue_dialogues(files, [prompt], **args)
    with pytest.raises(ValueError, match=message):
        interact_dialogues(files, files, [prompt], **args)
    with pytest.raises(ValueError, match=r"^lead=True \(allowed: 0 or 1 chunks\)$"):
        interact_dialogues(files, files, [np.zeros((2, 20), np.int64)], 1.0, chunk_ms=200,
                           lead=True)


def test_bench_batched_smoke(tmp_path, capsys) -> None:
    import json

    from duplexsim.bench import bench_batched

    rc = bench_batched.main(["--size", "tiny", "--batch", "1", "3", "--seconds", "0.5",
                             "--prompt-s", "1", "--out", str(tmp_path)])
    assert rc == 0 and "speedup" in capsys.readouterr().out
    rows = json.loads((tmp_path / "bench_batched.json").read_text())["rows"]
    assert [r["batch"] for r in rows] == [1, 3] and all(r["identical_units"] for r in rows)
    assert (tmp_path / "bench_batched.png").stat().st_size > 0
