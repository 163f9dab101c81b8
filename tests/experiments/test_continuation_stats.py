"""experiments/continuation.py's bootstrap CIs resample prompts, not continuations."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "experiments"))
from continuation_stats import (  # noqa: E402
    AGENTS,
    COMPARED,
    Scored,
    bootstrap_cis,
    compare_to_corpora,
    persistence_table,
    pooled_stats,
)


def _dialogues(n: int, seed: int = 0) -> list[Scored]:
    """``n`` random two-channel conversations of 60 s with their own talkativeness."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        p = rng.uniform(0.05, 0.5)
        vad = np.repeat(rng.random((2, 150)) < p, 10, axis=1)  # 400 ms runs, 1500 frames
        out.append(Scored.of(vad))
    return out


def test_continuations_of_one_prompt_are_drawn_together():
    """Three continuations of each prompt (seeds or chunk sizes) that say the same thing:
    the CI must be that of one continuation per prompt. Drawn one by one (as before) the
    triplicates looked like 3x the evidence and the CI shrank."""
    unique = _dialogues(12)
    tripled = [d for d in unique for _ in range(3)]
    prompts = [f"p{i}" for i in range(12) for _ in range(3)]
    clustered = bootstrap_cis(tripled, n_boot=300, prompts=prompts)
    once = bootstrap_cis(unique, n_boot=300)
    assert clustered.keys() == once.keys()
    for key, ci in clustered.items():
        np.testing.assert_allclose(ci, once[key], rtol=1e-12)
    naive = bootstrap_cis(tripled, n_boot=300)
    width = {k: (hi - lo) for k, (lo, hi) in clustered.items()}
    assert width["overlap_share"] > 1.3 * (naive["overlap_share"][1] - naive["overlap_share"][0])
    assert set(clustered) == set(COMPARED)


def test_prompt_labels_must_match_the_dialogues():
    with pytest.raises(ValueError, match="2 prompt labels for 3 dialogues"):
        bootstrap_cis(_dialogues(3), n_boot=10, prompts=["a", "b"])


def _styled(n: int, talk: float, run_frames: int, seed: int) -> list[Scored]:
    """``n`` 60 s conversations of one corpus style: each speaker active in a share
    ``talk`` of its runs of ``run_frames`` frames."""
    rng = np.random.default_rng(seed)
    return [Scored.of(np.repeat(rng.random((2, 1500 // run_frames)) < talk, run_frames, axis=1))
            for _ in range(n)]


def test_each_agent_is_held_against_the_corpora_on_its_own_prompts():
    """A perfect continuer (every prompt continued by its own ground truth) on both corpora's
    prompts: pooled over all prompts (as before) each agent sat half-way between the corpora
    and failed 4 of 8 "nearer own corpus" checks; on its own corpus's prompts it passes every
    check of a statistic the two styles separate and equals the same prompts' ground truth
    through the format. (Backchannels they do not separate: these random timelines give
    both styles 2-3 per minute, and which corpus 8 conversations land nearer is chance; the
    right-censoring and partner-goes-on rules of 2026-12-06 moved it.)"""
    corpora = {"fisher-like": (0.25, 25), "candor-like": (0.6, 5)}
    truth = {c: _styled(8, *style, seed=i) for i, (c, style) in enumerate(corpora.items())}
    refs_format = {(c, 200): _styled(16, *style, seed=10 + i)
                   for i, (c, style) in enumerate(corpora.items())}
    refs = {c: pooled_stats(refs_format[c, 200]) for c in corpora}
    rows, scored_by = [], {}
    for source in ("syncllm-f-200", "syncllm-c-200", "format-200"):
        for c in corpora:
            rows += [{"source": source, "corpus": c, "prompt": f"{c}/{i}"} for i in range(8)]
            scored_by.setdefault(source, []).extend(truth[c])
    comp = compare_to_corpora([200], scored_by, pd.DataFrame(rows), refs, refs_format)
    pooled = comp[comp["source"].str.endswith("-all")]
    assert len(pooled) == 8 and set(pooled["prompts"]) == set(corpora)
    separated = pooled[pooled["metric"] != "backchannels_per_min"]
    assert len(separated) == 6
    assert separated["nearer_own_format"].all() and separated["nearer_own"].all()
    assert (pooled["n_continuations"] == 8).all()
    np.testing.assert_allclose(pooled["value"], pooled["truth_format"])


def test_one_prompt_has_no_bootstrap_ci():
    """Its three continuations drawn together every time: every resample is the same pool,
    and the CI was the zero-width [value, value]."""
    one = _dialogues(3)
    cis = bootstrap_cis(one, n_boot=50, prompts=["p0"] * 3)
    assert all(np.isnan(lo) and np.isnan(hi) for lo, hi in cis.values())
    # five prompts of one continuation each: a CI (three: none, under MIN_BOOT_UNITS)
    assert all(lo < hi for lo, hi in bootstrap_cis(_dialogues(5), n_boot=200).values()
               if np.isfinite(lo))
    assert all(np.isnan(lo) for lo, _ in bootstrap_cis(one, n_boot=200).values())


def _test_split_corpus(monkeypatch, folder: Path, dialogues: dict[str, tuple[float, int]]
                       ) -> None:
    """Every corpus ``load_corpus`` opens is one of test-split dialogues ``id -> (the
    manifest's duration_s, frames of silent units)``."""

    class Corpus:
        root = folder
        manifest = {"dialogues": [{"id": i, "duration_s": d} for i, (d, _) in dialogues.items()]}

        def ids(self, split):
            return list(dialogues) if split == "test" else []

        def units(self, i):
            return np.zeros((2, dialogues[i][1]), np.int64)

    monkeypatch.setattr("duplexsim.corpora.load_corpus", lambda _: Corpus())


def test_prompts_need_the_windows_in_whole_frames(monkeypatch, tmp_path):
    """Each window is rounded to frames on its own: 29.99 s + 89.99 s is 750 + 2250 frames,
    one more than a 119.98 s dialogue holds (2999). The dialogue passed the filter in
    seconds and split_prompt then failed with a traceback; it is now left out as too short."""
    import continuation_plan

    _test_split_corpus(monkeypatch, tmp_path, {"short": (119.98, 2999), "long": (121.0, 3025)})
    plan = continuation_plan.Plan(agents=tmp_path, corpora=tmp_path, out=tmp_path,
                                  prompt_s=29.99, continuation_s=89.99, splits=("test",))
    prompts = continuation_plan.load_prompts(plan)
    assert [p.id.split("/")[1] for p in prompts] == ["long", "long"]  # once per corpus
    assert prompts[0].prompt.shape[-1] + prompts[0].truth.shape[-1] == 3000


def test_prompts_no_dialogue_can_hold_is_a_one_line_error(monkeypatch, tmp_path):
    """Windows longer than every dialogue of the chosen splits (or one of less than half a
    frame) are the user's flags: a plain ValueError, which ``run_reporting`` prints as a
    bug with its traceback; now an InputError naming the flags, one line."""
    import continuation_plan

    from duplexsim.cli import EXIT_BAD_INPUT, report
    from duplexsim.errors import InputError

    _test_split_corpus(monkeypatch, tmp_path, {"d": (60.0, 1500)})
    for prompt_s, continuation_s, flag in ((30.0, 90.0, "--prompt-s, --continuation-s"),
                                           (30.0, 0.01, "--continuation-s")):
        plan = continuation_plan.Plan(agents=tmp_path, corpora=tmp_path, out=tmp_path,
                                      prompt_s=prompt_s, continuation_s=continuation_s,
                                      splits=("test",))
        with pytest.raises(InputError, match=flag) as err:
            continuation_plan.load_prompts(plan)
        assert report(err.value) == EXIT_BAD_INPUT and "\n" not in str(err.value)


def test_prompts_are_chosen_by_their_units_not_the_manifest(tmp_path):
    """Real corpora of 8 s dialogues (200 frames of units) whose manifest says otherwise: one
    dialogue's ``duration_s`` 20 s, another's 5 s. Chosen by the manifest, 3 + 6 s windows
    took the first and split_prompt raised a ValueError (a traceback), and 3 + 4 s windows
    left the second out; the units decide now."""
    import continuation_plan
    from cli_workspace import write_corpus

    from duplexsim.cli import EXIT_BAD_INPUT, report
    from duplexsim.errors import InputError

    for preset in AGENTS.values():
        write_corpus(tmp_path / preset)
        manifest = tmp_path / preset / "manifest.json"
        data = json.loads(manifest.read_text())
        data["dialogues"][0]["duration_s"] = 20.0
        data["dialogues"][1]["duration_s"] = 5.0
        manifest.write_text(json.dumps(data))
    plan = continuation_plan.Plan(agents=tmp_path, corpora=tmp_path, out=tmp_path, prompt_s=3.0,
                                  continuation_s=4.0)
    prompts = continuation_plan.load_prompts(replace(plan, splits=("train", "val", "test")))
    assert len(prompts) == 6  # every dialogue of both corpora, the 5 s one too
    assert all(p.prompt.shape == (2, 75) and p.truth.shape == (2, 100) for p in prompts)
    with pytest.raises(InputError, match="no dialogue of at least 9 s of units") as err:
        continuation_plan.load_prompts(replace(plan, continuation_s=6.0))
    assert report(err.value) == EXIT_BAD_INPUT and "\n" not in str(err.value)


def test_the_asr_span_is_the_scored_frames(monkeypatch, tmp_path):
    """The ground truth's audio and transcript for ASR were cut at prompt_s and prompt_s +
    continuation_s as given, the units at whole frames: with 29.99 + 89.99 s the audio
    was [29.99, 119.98) s against units of [30.0, 120.0) s (frames 750 to 3000)."""
    import continuation_asr
    import continuation_plan

    from duplexsim.tokens import FRAME_MS

    _test_split_corpus(monkeypatch, tmp_path, {"d": (121.0, 3025)})
    plan = continuation_plan.Plan(agents=tmp_path, corpora=tmp_path, out=tmp_path,
                                  prompt_s=29.99, continuation_s=89.99, splits=("test",))
    p = continuation_plan.load_prompts(plan)[0]
    start, end = (n * FRAME_MS / 1000
                  for n in (p.prompt.shape[1], p.prompt.shape[1] + p.truth.shape[1]))
    assert continuation_asr.scored_span_s(plan) == (start, end) == (30.0, 120.0)


def test_persistence_windows_round_to_frames_as_the_windows_do(tmp_path):
    """--windows edges went through round(): 0.1 s (2.5 frames) became 2 frames, 0.08 s,
    where the prompt and continuation (frames_from_s, half up) make it 3, 0.12 s."""
    import continuation_plan

    rng = np.random.default_rng(0)
    prompts = [continuation_plan.Prompt(f"fisher-like/d{i}", "fisher-like",
                                        rng.integers(0, 3, (2, 25)), rng.integers(0, 3, (2, 50)))
               for i in range(3)]
    plan = continuation_plan.Plan(agents=tmp_path, corpora=tmp_path, out=tmp_path,
                                  windows_s=(0.0, 0.1, 1.0))
    table = persistence_table(plan, prompts, {}, {0})
    assert list(dict.fromkeys(table["window"])) == ["0-0.12 s", "0.12-1 s"]
