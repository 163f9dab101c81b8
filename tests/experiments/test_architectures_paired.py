"""experiments/architectures.py: TDM - SyncLLM differences resample the blocks both
architectures played at the same seed and position together (paired)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).parents[2]
SILENCE = 0


def _architectures():  # noqa: ANN202
    sys.path.insert(0, str(ROOT / "experiments"))
    import architectures

    return architectures


def conversation(share: list[float], extra: float, frames: int) -> np.ndarray:
    """Units ``[2, T]``: side A speaks ``share[k] + extra`` of each block ``k`` (its start),
    side B is silent."""
    units = np.full((2, len(share) * frames), SILENCE, np.int64)
    for k, s in enumerate(share):
        units[0, k * frames : k * frames + int(round((s + extra) * frames))] = 1
    return units


def test_differences_are_paired_by_seed_and_block(tmp_path: Path) -> None:
    """The blocks' speech shares differ a lot from block to block (0.1 to 0.8) and TDM
    speaks 0.05 more in every block than SyncLLM at the same seed and position: paired, the
    difference's CI is 0.05 (it was about +-0.2 wide from two independent resamples)."""
    arch = _architectures()
    plan = arch.Plan(
        agents=tmp_path,
        corpora=tmp_path,
        out=tmp_path,
        delays=(0,),
        seeds=4,
        duration_s=60.0,
        block_s=15.0,
        n_boot=200,
    )
    frames = int(plan.block_s * 1000 / arch.FRAME_MS)
    rng = np.random.default_rng(0)
    shares = {seed: list(rng.uniform(0.1, 0.8, 4)) for seed in range(plan.seeds)}
    units = {}
    for cell in arch.grid(plan):
        name = arch.scenario(
            plan, cell["corpus"], cell["arch"], cell["partner"], cell["delay_ms"], cell["seed"], ""
        ).name
        units[name] = conversation(
            shares[cell["seed"]], 0.05 if cell["arch"] == "tdm" else 0, frames
        )
    summary, _, labelled = arch.score(plan, units, {SILENCE}, {})
    diffs = arch.differences(plan, labelled, summary)
    assert len(diffs) == 2 * 3  # corpora x (self, replay, self-offset) at 0 ms
    for stat in ("d_speech_share", "d_speech_share_lo", "d_speech_share_hi"):
        # self-play scores both sides (B silent): half the difference of side A alone
        expected = np.where(diffs["partner"] == "replay", 0.05, 0.025)
        assert diffs[stat].to_numpy() == pytest.approx(expected, abs=2e-3), stat
    # the same twice: the differences' stream is its own, seeded
    assert diffs.equals(arch.differences(plan, labelled, summary))


def _scored(arch, tmp_path: Path, rng: np.random.Generator, seeds: int, tdm_blocks: int,
            syncllm_blocks: int, tdm_cut_off: bool = False):
    """A 0 ms plan of ``seeds`` 60 s seeds (15 s blocks) and ``arch.score`` of made-up
    conversations: each TDM one ``tdm_blocks`` blocks of speech shares (A 5 points higher),
    each SyncLLM one ``syncllm_blocks``; three 4-block conversations per corpus.
    ``tdm_cut_off``: in each TDM conversation B barges in (2 s) on A, who talks on to the
    last frame (a censored recovery)."""
    from duplexsim.metrics.turntaking import vad_from_units

    plan = arch.Plan(agents=tmp_path, corpora=tmp_path, out=tmp_path, delays=(0,),
                     seeds=seeds, duration_s=60.0, block_s=15.0, n_boot=100)
    frames = int(plan.block_s * 1000 / arch.FRAME_MS)
    units = {}
    for cell in arch.grid(plan):
        name = arch.scenario(plan, cell["corpus"], cell["arch"], cell["partner"],
                             cell["delay_ms"], cell["seed"], "").name
        tdm = cell["arch"] == "tdm"
        units[name] = conversation(list(rng.uniform(0.1, 0.8, tdm_blocks if tdm else
                                                    syncllm_blocks)), 0.05 if tdm else 0,
                                   frames)
        if tdm and tdm_cut_off:
            units[name][0, -150:] = 1
            units[name][1, -100:-50] = 1
    corpus_vads = {c: [vad_from_units(conversation(list(rng.uniform(0.1, 0.8, 4)), 0,
                                                   frames), {SILENCE}) for _ in range(3)]
                   for c in arch.CORPORA}
    return plan, arch.score(plan, units, {SILENCE}, corpus_vads)


def test_differences_and_nearer_give_no_ci_over_fewer_than_five_blocks(tmp_path: Path) -> None:
    """One 60 s seed is 4 blocks a side: every resample of 4 blocks stays within their
    range, so differences() and nearer() give no CI (NaN), as score() does, and the report
    shows the value alone; two seeds (8 blocks) give one. They passed no unit count and
    gave a CI over any number of blocks."""

    arch = _architectures()
    rng = np.random.default_rng(0)
    got = {}
    for seeds in (1, 2):
        plan, (summary, draws, labelled) = _scored(arch, tmp_path, rng, seeds, tdm_blocks=4,
                                                   syncllm_blocks=4)
        diffs = arch.differences(plan, labelled, summary)
        near = arch.nearer(draws, summary)
        got[seeds] = (diffs, near, arch.report(plan, summary, diffs, near, "cmd"))
    (diffs1, near1, report1), (diffs2, near2, _) = got[1], got[2]
    assert diffs1["d_speech_share_lo"].isna().all() and diffs1["d_speech_share"].notna().all()
    assert diffs2["d_speech_share_lo"].notna().all()
    assert near1["margin_lo"].isna().all() and not near1["ci_excludes_0"].any()
    bc = near2["statistic"] == "bc_per_speaker_min"  # no transitions here: no FTO at all
    assert near2.loc[bc, "margin_lo"].notna().all()
    assert "[nan, nan]" not in report1


def test_report_counts_the_censored_recoveries_beside_the_medians(tmp_path: Path) -> None:
    """Every TDM conversation ends with a barge-in whose recovery is cut off (left out of
    the median): summary.csv and both report tables say how many, beside the recovery
    median and its difference (they said nothing, so a median over few seen recoveries
    looked like one over all of them)."""
    arch = _architectures()
    plan, (summary, draws, labelled) = _scored(arch, tmp_path, np.random.default_rng(0), 1,
                                               tdm_blocks=4, syncllm_blocks=4, tdm_cut_off=True)
    by_arch = summary.groupby("arch")["recovery_censored"]
    assert (by_arch.min()["tdm"], by_arch.max()["syncllm"], by_arch.max()["corpus"]) == (1, 0, 0)
    assert (summary.loc[summary.arch == "tdm", "barge_ins"] == 1).all()
    text = arch.report(plan, summary, arch.differences(plan, labelled, summary),
                       arch.nearer(draws, summary), "cmd")
    lines = text.splitlines()
    head = next(line for line in lines if line.startswith("| corpus | arch |")).split(" | ")
    col = head.index("censored")
    assert head[col - 1] == "recovery ms"
    tdm = [line.split(" | ") for line in lines if line.startswith("| fisher | tdm |")]
    assert tdm and all(row[col] == "1" for row in tdm)
    diff = next(line for line in lines if line.startswith("| fisher | self | 0 |"))
    assert " | 1 / 0 | " in diff


def test_a_difference_is_over_the_blocks_of_the_side_with_fewer(tmp_path: Path) -> None:
    """Two seeds: TDM's conversations 4 blocks each (8), SyncLLM's 2 (4): the difference's
    resampled units are the 4 of the side with fewer, too few for a CI; counted by the
    side with more (8), it had one."""

    arch = _architectures()
    rng = np.random.default_rng(0)
    plan, (summary, _, labelled) = _scored(arch, tmp_path, rng, 2, tdm_blocks=4,
                                           syncllm_blocks=2)
    diffs = arch.differences(plan, labelled, summary)
    assert diffs["d_speech_share"].notna().all() and diffs["d_speech_share_lo"].isna().all()
