"""Where a pool's replay partners start: late starts keep their silence units, random
starts drawn per dialogue in whole ms and never past the units, the start room read from
each units file's header."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from test_partner_pools import make, scenario  # (tests/envs is on the path: rootdir-less import)

import duplexsim  # noqa: F401  (registers the envs)
from duplexsim.corpora import load_corpus
from duplexsim.envs.world import default_scenario


def test_a_replay_started_late_keeps_its_silence_units() -> None:
    """The late-start copy of a replay partner was built without its tokenizer's silence
    units: only the one it plays past the end counted as silence."""
    from duplexsim.agents.replay import ReplayAgent
    from duplexsim.config.scenario import SideConfig
    from duplexsim.envs.partner_pool import PartnerMember, PartnerPool

    side = SideConfig(kind="replay", corpus="X")
    member = PartnerMember(side=side, speech=(), label="replay", spec=0)
    pool = PartnerPool([member], [1.0], scenario=scenario(), side="b")
    pool._agents[side] = ReplayAgent(np.array([1, 5, 5, 0, 1] * 20), 5, silence_unit=0,
                                     silence_units=[0, 1], n_units=8)  # as from a corpus
    late = pool.agent(member, start_chunks=2)
    assert late.silence_units == {0, 1} and late.units.tolist() == [1, 5, 5, 0, 1] * 18
    assert late.n_units == 8  # its inventory too, checked against the learner's speech


def test_random_starts_are_drawn_per_dialogue(tiny_corpus: Path, tmp_path: Path) -> None:
    """start_s="random": each dialogue's start is drawn so that the episode fits in that
    dialogue (a short one caps only itself); a dialogue shorter than the episode is
    refused, naming it."""
    import json
    import shutil

    corpus = tmp_path / "mixed"
    shutil.copytree(tiny_corpus, corpus)
    manifest = json.loads((corpus / "manifest.json").read_text())
    short = next(d for d in manifest["dialogues"] if d["split"] == "train")
    short["duration_s"] = 10.0  # of 20 s: its first 250 frames
    units = np.load(corpus / short["units"])
    np.save(corpus / short["units"], units[:, :250])
    (corpus / "manifest.json").write_text(json.dumps(manifest))
    spec = {"kind": "replay", "corpus": str(corpus), "split": "train", "start_s": "random"}
    env = make(spec, 3.2)
    latest: dict[str, float] = {}
    for seed in range(80):
        env.reset(seed=seed)
        p = env.unwrapped.partner_info
        room = (10.0 if p["dialogue"] == short["id"] else 20.0) - 3.2
        assert 0 <= p["start_s"] <= room + 1e-9
        latest[p["dialogue"]] = max(latest.get(p["dialogue"], 0.0), p["start_s"])
    assert len(latest) == 3 and max(latest.values()) > 10.0 - 3.2  # not capped by the short
    with pytest.raises(ValueError, match=rf"^partner\[0\]\.start_s: \"random\" but dialogue "
                                         rf"'{short['id']}' is 10 s, shorter than the 12 s "
                                         r"episode \(1 of 3\) \(allowed: "):
        make(spec, 12.0)


def test_start_s_is_counted_in_whole_ms(tmp_path: Path) -> None:
    """8.04 s dialogues (201 frames; 8.04 * 1000 = 8039.999... as a float) and an 8 s
    episode of 40 ms chunks: one chunk of room. The float floor made it none: a random
    start was always chunk 0 and start_s = 0.04 was refused. A fixed start of half a chunk
    (0.02 s) rounds up, as the simulator's times do (round() went to even: chunk 0)."""
    from duplexsim.corpora.build import build_corpus
    from duplexsim.corpora.config import load_config
    from duplexsim.envs.partners import parse_pool
    from duplexsim.errors import ConfigError

    corpus = tmp_path / "fl"
    build_corpus(corpus, load_config("fisher-like", conversation_s=8.04), hours=8.04 / 3600,
                 seed=0, preset="fisher-like", cache_dir=tmp_path / "tts", workers=1,
                 n_units=32)
    assert load_corpus(corpus).manifest["dialogues"][0]["duration_s"] * 1000 < 8040
    s = dataclasses.replace(default_scenario(), chunk_ms=40, duration_s=8.0)

    def members(start_s: object) -> set[tuple[int, int]]:
        pool = parse_pool({"kind": "replay", "corpus": str(corpus), "start_s": start_s}, s, "b")
        return {(m.start_chunks, m.max_start_chunks) for m in pool.members}

    assert members("random") == {(0, 1)}
    assert members(0.04) == {(1, 0)} and members(0.02) == {(1, 0)}
    with pytest.raises(ConfigError,
                       match=r"start_s: 0\.06 \(allowed: \"random\" or 0 \.\. 0\.04 s,"):
        members(0.06)


@pytest.mark.parametrize("over_samples", ["half a ms", "a frame less a sample"])
def test_a_random_start_never_runs_past_the_units(tiny_corpus: Path, tmp_path: Path,
                                                  over_samples: str) -> None:
    """The start room is counted in the units' whole frames, not the manifest's
    ``duration_s``: an imported dialogue's is its audio's, samples / rate, which its units
    (``T = samples * 25 // rate``) undershoot by up to a frame less a sample. 103 frames
    (4.12 s) against a 4 s episode of 160 ms chunks leave no chunk of room; a duration_s
    319 samples at 8 kHz (39.875 ms) over them rounded to 4160 ms and gave one, so a replay
    started at chunk 1 ran 40 ms past its units (silence the dialogue never had). Half a ms
    over (4121 ms) gave none either way."""
    import json
    import shutil

    from duplexsim.envs.partners import parse_pool

    corpus = tmp_path / "imported"
    shutil.copytree(tiny_corpus, corpus)
    manifest = json.loads((corpus / "manifest.json").read_text())
    rate = manifest["sample_rate_hz"]
    extra = {"half a ms": rate // 2000, "a frame less a sample": rate // 25 - 1}[over_samples]
    for d in manifest["dialogues"]:
        np.save(corpus / d["units"], np.load(corpus / d["units"])[:, :103])
        d["duration_s"] = (103 * rate // 25 + extra) / rate  # samples / rate, as imported
    (corpus / "manifest.json").write_text(json.dumps(manifest))
    s = scenario(4.0)
    pool = parse_pool({"kind": "replay", "corpus": str(corpus), "start_s": "random"}, s, "b")
    assert {m.max_start_chunks for m in pool.members} == {0}
    frames = s.n_chunks * s.frames_per_chunk
    for member in pool.members:
        start = member.max_start_chunks * s.frames_per_chunk
        assert start + frames <= len(pool.agent(member).units)
    with pytest.raises(ValueError, match=r"start_s: 0\.16 \(allowed: \"random\" or 0 \.\. 0 s"):
        parse_pool({"kind": "replay", "corpus": str(corpus), "start_s": 0.16}, s, "b")


def test_a_replay_pool_with_a_misshapen_units_file_is_one_line(tiny_corpus: Path,
                                                                tmp_path: Path) -> None:
    """The start room reads each dialogue's frames from its units file's header when the
    pool is parsed: a units file of one channel is one line naming the spec and the file
    (its header only: a file's values are checked when the replay loads them)."""
    import shutil

    from duplexsim.envs.partners import parse_pool

    corpus = tmp_path / "broken"
    shutil.copytree(tiny_corpus, corpus)
    d = load_corpus(corpus).manifest["dialogues"][0]
    assert load_corpus(corpus).n_frames(d["id"]) == load_corpus(corpus).units(d["id"]).shape[1]
    np.save(corpus / d["units"], np.load(corpus / d["units"])[0])
    with pytest.raises(ValueError, match=rf"^partner\[0\]\.corpus: .*{d['units']}.*shape.*\[500\]"
                                         r".*allowed: an integer array \[2, T\]") as e:
        parse_pool({"kind": "replay", "corpus": str(corpus), "start_s": "random"}, scenario(),
                   "b")
    assert "\n" not in str(e.value)
