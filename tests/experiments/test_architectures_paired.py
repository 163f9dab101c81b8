"""experiments/architectures.py: CIs from a two-level bootstrap, the conversations (against
a replay the replayed dialogues; corpus rows: the dialogues), then the blocks within each;
TDM - SyncLLM differences resample the clusters, and within them the blocks of the same seed
and position, of both architectures together (paired)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from duplexsim.metrics.intervals import percentile_intervals
from duplexsim.tokens import FRAME_MS

ROOT = Path(__file__).parents[2]
SILENCE = 0


def _experiments() -> None:
    """experiments/ on the path: architectures.py's modules import each other by bare name."""
    sys.path.insert(0, str(ROOT / "experiments"))


def conversation(share: list[float], extra: float, frames: int) -> np.ndarray:
    """Units ``[2, T]``: side A speaks ``share[k] + extra`` of each block ``k`` (its start),
    side B is silent."""
    units = np.full((2, len(share) * frames), SILENCE, np.int64)
    for k, s in enumerate(share):
        units[0, k * frames : k * frames + int(round((s + extra) * frames))] = 1
    return units


TEST_SPLITS = {"fisher": "test split", "candor": "test split"}
"""What each corpus's rows scored, as :func:`architectures_grid.held_out` says it."""


def dialogue_ids(n: int) -> dict[str, list[str]]:
    """``n`` made-up test dialogue ids per corpus (the replays' clusters)."""
    return {c: [f"d{i}" for i in range(n)] for c in ("fisher", "candor")}


def test_differences_are_paired_by_cluster_and_block(tmp_path: Path) -> None:
    """The blocks' speech shares differ a lot from block to block (0.1 to 0.8) and TDM
    speaks 0.05 more in every block than SyncLLM at the same seed and position: paired, the
    difference's CI is 0.05 (it was about +-0.2 wide from two independent resamples)."""
    _experiments()
    from architectures_grid import Plan, grid, scenario
    from architectures_stats import differences, score

    plan = Plan(
        agents=tmp_path,
        corpora=tmp_path,
        out=tmp_path,
        delays=(0,),
        seeds=6,
        duration_s=60.0,
        block_s=15.0,
        n_boot=200,
    )
    frames = int(plan.block_s * 1000 / FRAME_MS)
    rng = np.random.default_rng(0)
    shares = {seed: list(rng.uniform(0.1, 0.8, 4)) for seed in range(plan.seeds)}
    units = {}
    for cell in grid(plan):
        name = scenario(
            plan, cell["corpus"], cell["arch"], cell["partner"], cell["delay_ms"], cell["seed"], ""
        ).name
        units[name] = conversation(
            shares[cell["seed"]], 0.05 if cell["arch"] == "tdm" else 0, frames
        )
    summary, _, labelled = score(plan, units, {SILENCE}, {}, dialogue_ids(plan.seeds))
    diffs = differences(plan, labelled, summary)
    assert len(diffs) == 2 * 3  # corpora x (self, replay, self-offset) at 0 ms
    for stat in ("d_speech_share", "d_speech_share_lo", "d_speech_share_hi"):
        # self-play scores both sides (B silent): half the difference of side A alone
        expected = np.where(diffs["partner"] == "replay", 0.05, 0.025)
        assert diffs[stat].to_numpy() == pytest.approx(expected, abs=2e-3), stat
    # the same twice: the differences' stream is its own, seeded
    assert diffs.equals(differences(plan, labelled, summary))


def _scored(tmp_path: Path, rng: np.random.Generator, seeds: int, tdm_blocks: int,
            syncllm_blocks: int, tdm_cut_off: bool = False, n_dialogues: int = 3):
    """A 0 ms plan of ``seeds`` 60 s seeds (15 s blocks) and ``score`` of made-up
    conversations: each TDM one ``tdm_blocks`` blocks of speech shares (A 5 points higher),
    each SyncLLM one ``syncllm_blocks``; ``n_dialogues`` 4-block test dialogues per corpus
    (the replays': seed ``s`` replays dialogue ``s % n_dialogues``).
    ``tdm_cut_off``: in each TDM conversation B barges in (2 s) on A, who talks on to the
    last frame (a censored recovery)."""
    from architectures_grid import CORPORA, Plan, grid, scenario
    from architectures_stats import score

    from duplexsim.metrics.activity import vad_from_units

    plan = Plan(agents=tmp_path, corpora=tmp_path, out=tmp_path, delays=(0,),
                seeds=seeds, duration_s=60.0, block_s=15.0, n_boot=100)
    frames = int(plan.block_s * 1000 / FRAME_MS)
    units = {}
    for cell in grid(plan):
        name = scenario(plan, cell["corpus"], cell["arch"], cell["partner"],
                        cell["delay_ms"], cell["seed"], "").name
        tdm = cell["arch"] == "tdm"
        units[name] = conversation(list(rng.uniform(0.1, 0.8, tdm_blocks if tdm else
                                                    syncllm_blocks)), 0.05 if tdm else 0,
                                   frames)
        if tdm and tdm_cut_off:
            units[name][0, -150:] = 1
            units[name][1, -100:-50] = 1
    corpus_vads = {c: [vad_from_units(conversation(list(rng.uniform(0.1, 0.8, 4)), 0,
                                                   frames), {SILENCE})
                       for _ in range(n_dialogues)]
                   for c in CORPORA}
    return plan, score(plan, units, {SILENCE}, corpus_vads, dialogue_ids(n_dialogues))


def test_differences_and_nearer_give_no_ci_over_fewer_than_five_clusters(
        tmp_path: Path) -> None:
    """Four 60 s seeds are 16 blocks a side but 4 conversations: too few clusters for a CI,
    so score(), differences() and nearer() give none (NaN; the report shows the value
    alone), though the blocks alone were enough for one; five seeds (and five corpus
    dialogues) give one. Four corpus dialogues leave nearer() without one."""

    _experiments()
    from architectures_report import report
    from architectures_stats import differences, nearer

    rng = np.random.default_rng(0)
    got = {}
    for seeds, n_dialogues in ((4, 5), (5, 5), (5, 4)):
        plan, (summary, draws, labelled) = _scored(tmp_path, rng, seeds, tdm_blocks=4,
                                                   syncllm_blocks=4, n_dialogues=n_dialogues)
        diffs = differences(plan, labelled, summary)
        near = nearer(draws, summary)
        got[seeds, n_dialogues] = (summary, diffs, near,
                                   report(plan, summary, diffs, near, "cmd", TEST_SPLITS))
    summary4, diffs4, near4, report4 = got[4, 5]
    agents4 = summary4[summary4["arch"] != "corpus"]
    assert (agents4["blocks"] == 16).all() and (agents4["clusters"] == 4).all()
    assert agents4["speech_share_lo"].isna().all() and agents4["speech_share"].notna().all()
    assert diffs4["d_speech_share_lo"].isna().all() and diffs4["d_speech_share"].notna().all()
    assert near4["margin_lo"].isna().all() and not near4["ci_excludes_0"].any()
    assert "[nan, nan]" not in report4 and "No CI (the value alone) over fewer than 5" in report4
    summary5, diffs5, near5, _ = got[5, 5]
    assert summary5["speech_share_lo"].notna().all()
    assert diffs5["d_speech_share_lo"].notna().all()
    bc = near5["statistic"] == "bc_per_speaker_min"  # no transitions here: no FTO at all
    assert near5.loc[bc, "margin_lo"].notna().all()
    assert got[5, 4][2]["margin_lo"].isna().all()  # 4 corpus dialogues: no CI


def test_report_counts_the_censored_recoveries_beside_the_medians(tmp_path: Path) -> None:
    """Every TDM conversation ends with a barge-in whose recovery is cut off (left out of
    the median): summary.csv and both report tables say how many, beside the recovery
    median and its difference (they said nothing, so a median over few seen recoveries
    looked like one over all of them)."""
    _experiments()
    from architectures_report import report
    from architectures_stats import differences, nearer

    plan, (summary, draws, labelled) = _scored(tmp_path, np.random.default_rng(0), 1,
                                               tdm_blocks=4, syncllm_blocks=4, tdm_cut_off=True)
    by_arch = summary.groupby("arch")["recovery_censored"]
    assert (by_arch.min()["tdm"], by_arch.max()["syncllm"], by_arch.max()["corpus"]) == (1, 0, 0)
    assert (summary.loc[summary.arch == "tdm", "barge_ins"] == 1).all()
    text = report(plan, summary, differences(plan, labelled, summary),
                  nearer(draws, summary), "cmd", TEST_SPLITS)
    lines = text.splitlines()
    head = next(line for line in lines if line.startswith("| corpus | arch |")).split(" | ")
    col = head.index("censored")
    assert head[col - 1] == "recovery ms"
    tdm = [line.split(" | ") for line in lines if line.startswith("| fisher | tdm |")]
    assert tdm and all(row[col] == "1" for row in tdm)
    diff = next(line for line in lines if line.startswith("| fisher | self | 0 |"))
    assert " | 1 / 0 | " in diff


def test_seeds_that_replay_one_dialogue_are_one_cluster(tmp_path: Path) -> None:
    """Six seeds but three test dialogues: against a replay seeds 0 and 3 (1 and 4, 2 and
    5) replay one dialogue, so those rows, and their differences, rest on 3 clusters (no
    CI), self-play on 6 (a CI)."""

    _experiments()
    from architectures_stats import differences

    plan, (summary, _, labelled) = _scored(tmp_path, np.random.default_rng(0), 6,
                                           tdm_blocks=4, syncllm_blocks=4, n_dialogues=3)
    agents = summary[summary["arch"] != "corpus"].set_index("partner")
    assert (agents.loc["replay", "clusters"] == 3).all()
    assert (agents.loc["self", "clusters"] == 6).all()
    assert agents.loc["replay", "speech_share_lo"].isna().all()
    assert agents.loc["self", "speech_share_lo"].notna().all()
    diffs = differences(plan, labelled, summary).set_index("partner")
    assert diffs.loc["replay", "d_speech_share_lo"].isna().all()
    assert diffs.loc["self", "d_speech_share_lo"].notna().all()


def test_the_interval_is_over_conversations_not_their_blocks(tmp_path: Path) -> None:
    """Six conversations of four 15 s blocks against a replay; A's speech share differs
    from conversation to conversation (0.1 to 0.8) and hardly within one (+-0.01).
    Resampled as independent blocks (24 units) the interval is far too narrow for a claim
    about other conversations; over the conversations, then their blocks, it is more than
    twice as wide, and the point estimate (pooled over the blocks) is the same."""
    _experiments()
    from architectures_grid import Plan, grid, scenario
    from architectures_stats import STATS, bootstrap, score, statistics

    plan = Plan(agents=tmp_path, corpora=tmp_path, out=tmp_path, delays=(0,), seeds=6,
                duration_s=60.0, block_s=15.0, n_boot=1000)
    frames = int(plan.block_s * 1000 / FRAME_MS)
    rng = np.random.default_rng(1)
    level = dict(enumerate(np.linspace(0.1, 0.8, plan.seeds)))
    units = {}
    for cell in grid(plan):
        name = scenario(plan, cell["corpus"], cell["arch"], cell["partner"],
                        cell["delay_ms"], cell["seed"], "").name
        units[name] = conversation(list(level[cell["seed"]] + rng.uniform(-0.01, 0.01, 4)),
                                   0, frames)
    summary, _, labelled = score(plan, units, {SILENCE}, {}, dialogue_ids(plan.seeds))
    key = ("fisher", "syncllm", "replay", 0)
    parts = labelled[key]
    row = summary.set_index(["corpus", "arch", "partner", "delay_ms"]).loc[key]
    assert (row["clusters"], row["blocks"]) == (6, 24)
    assert row["speech_share"] == statistics(list(parts.values()))["speech_share"]
    assert row["speech_share"] == pytest.approx(np.mean(list(level.values())), abs=0.01)
    # the old resampling: every block its own unit
    one_each = {(label, 0, 0): b for label, b in parts.items()}
    draws = bootstrap(one_each, plan.n_boot, np.random.default_rng(0))
    lo, hi = percentile_intervals(draws, len(one_each))
    i = STATS.index("speech_share")
    assert row["speech_share_hi"] - row["speech_share_lo"] > 2 * (hi[i] - lo[i])


def test_a_cells_interval_does_not_depend_on_the_other_cells(tmp_path: Path) -> None:
    """Each grid point's resamples (summary and TDM - SyncLLM) come from its own stream:
    with one stream for all, running delays 0 and 160 instead of 0 alone moved the 0 ms
    cells' intervals (candor SyncLLM self-play speech share [0.162, 0.282] became
    [0.152, 0.287])."""
    _experiments()
    from architectures_grid import Plan, grid, scenario
    from architectures_stats import differences, score

    def scored(delays: tuple[int, ...]):  # noqa: ANN202
        plan = Plan(agents=tmp_path, corpora=tmp_path, out=tmp_path, delays=delays,
                    seeds=5, duration_s=60.0, block_s=15.0, n_boot=100)
        frames = int(plan.block_s * 1000 / FRAME_MS)
        units = {}
        for cell in grid(plan):
            name = scenario(plan, cell["corpus"], cell["arch"], cell["partner"],
                            cell["delay_ms"], cell["seed"], "").name
            # a conversation's speech depends on its cell and seed only
            rng = np.random.default_rng([cell["seed"], cell["delay_ms"], len(cell["corpus"]),
                                         len(cell["arch"])])
            units[name] = conversation(list(rng.uniform(0.1, 0.8, 4)), 0, frames)
        summary, _, labelled = score(plan, units, {SILENCE}, {}, dialogue_ids(5))
        diffs = differences(plan, labelled, summary)
        return (summary.set_index(["corpus", "arch", "partner", "delay_ms"]),
                diffs.set_index(["corpus", "partner", "delay_ms"]))

    (alone, alone_d), (both, both_d) = scored((0,)), scored((0, 160))
    cols = ["speech_share", "speech_share_lo", "speech_share_hi"]
    for key in alone.index:
        assert alone.loc[key, cols].tolist() == both.loc[key, cols].tolist(), key
    assert np.isfinite(alone[cols[1]]).all()
    for key in alone_d.index:
        assert (alone_d.loc[key, [f"d_{c}" for c in cols]].tolist()
                == both_d.loc[key, [f"d_{c}" for c in cols]].tolist()), key


def test_the_corpus_rows_say_which_dialogues_they_scored(tmp_path: Path) -> None:
    """A corpus without a test split is scored on all its dialogues; its rows said "corpus
    (test split)" all the same. Each corpus's rows now name what they scored."""
    _experiments()
    from architectures_report import report
    from architectures_stats import differences, nearer

    plan, (summary, draws, labelled) = _scored(tmp_path, np.random.default_rng(0), 1,
                                               tdm_blocks=4, syncllm_blocks=4)
    held = {"fisher": "test split", "candor": "all 3 dialogues: no test split"}
    text = report(plan, summary, differences(plan, labelled, summary),
                  nearer(draws, summary), "cmd", held)
    rows = [line.split(" | ")[:2] for line in text.splitlines() if " | corpus (" in line]
    assert rows and {tuple(r) for r in rows} == {
        ("| fisher", "corpus (test split)"), ("| candor", "corpus (all 3 dialogues: no test "
                                              "split)")}
