"""Conversation style, from the simulated timeline alone (no TTS): a 30 s prompt predicts
its next 90 s as much as in the real corpora (SyncLLM paper, Table 7 GT rows), without
style nothing in the process couples the two, every speaker realises the style the manifest
records for it, and bad style parameters are refused with file, key and allowed range."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from duplexsim.cli import main
from duplexsim.corpora import candor
from duplexsim.corpora.calibration import population_centres
from duplexsim.corpora.config import PRESETS, load_config, load_synth_toml
from duplexsim.corpora.stats import PAPER_PROMPT_R, paper_prompt_r, prompt_continuation_r
from duplexsim.corpora.synth import conversation_style, simulate_timeline
from duplexsim.corpora.types import Dialogue
from duplexsim.errors import ConfigError
from duplexsim.metrics.turntaking import detect_events

CONVERSATION_S = 120.0  # a 30 s prompt and its 90 s continuation, as the demo corpora


def _vads(cfg, n: int, seed: int) -> list[np.ndarray]:
    cfg = replace(cfg, conversation_s=CONVERSATION_S)
    return [Dialogue("c", simulate_timeline(cfg, np.random.SeedSequence(seed, spawn_key=(i,))),
                     duration_s=CONVERSATION_S).segment_vad() for i in range(n)]


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_prompt_predicts_its_continuation_as_in_the_real_corpus(preset: str) -> None:
    got = prompt_continuation_r(_vads(PRESETS[preset], 400, seed=101))
    want = paper_prompt_r(preset)
    print(preset, {ev: round(v["r"], 3) for ev, v in got.items()}, "paper", want)
    for ev in ("ipu", "pause", "fto"):
        assert got[ev]["n"] >= 380
        assert abs(got[ev]["r"] - want[ev]) <= 0.15, (ev, got[ev], want[ev])
    # Fisher's prompt predicts more than CANDOR's, event by event, as in the paper
    assert PAPER_PROMPT_R["fisher"]["ipu"] > PAPER_PROMPT_R["candor"]["ipu"]


def test_without_style_the_prompt_predicts_nothing() -> None:
    """The process itself must not couple a prompt to its continuation: with every style
    spread at 0, r is sampling noise around 0 (the old within-conversation stratified draws
    gave ipu -0.59, fto -0.38 here: a prompt of short IPUs forced long ones after it)."""
    flat = replace(PRESETS["fisher-like"], ipu_median_log_sd=0.0, pause_median_log_sd=0.0,
                   fto_mean_sd_ms=0.0, p_yield_logit_sd=0.0, backchannels_log_sd=0.0)
    got = prompt_continuation_r(_vads(flat, 300, seed=7))
    print({ev: round(v["r"], 3) for ev, v in got.items()})
    for ev in ("ipu", "pause", "fto"):
        assert abs(got[ev]["r"]) < 0.2, (ev, got[ev])  # 3.4 standard errors at n = 300


def _speaker_table(preset: str, n: int, conversation_s: float = 600.0) -> pd.DataFrame:
    """Per speaker: recorded style and what the metrics read back from its conversation."""
    cfg = replace(PRESETS[preset], conversation_s=conversation_s)
    centres = population_centres(cfg)
    rows = []
    for i in range(n):
        ss = np.random.SeedSequence(23, spawn_key=(i,))
        record = conversation_style(cfg, ss).record(cfg, centres)
        vad = Dialogue("c", simulate_timeline(cfg, ss), duration_s=conversation_s).segment_vad()
        ev = detect_events(vad, 40)
        for ch in (0, 1):
            own, partner = ev[ev["speaker"] == ch], ev[ev["speaker"] == 1 - ch]
            partner_s = partner.loc[partner["kind"] == "ipu", "duration_ms"].sum() / 1000
            rows.append({**record["speakers"][ch], "tempo": record["tempo"],
                         "ipu_real_s": own.loc[own["kind"] == "ipu", "duration_ms"].median() / 1000,
                         "pause_real_s": own.loc[own["kind"] == "pause", "duration_ms"].median()
                         / 1000,
                         "fto_real_ms": own["fto_ms"].mean(),  # transitions into its turns
                         "bc_real_per_s": (own["kind"] == "backchannel").sum() / partner_s})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def speakers() -> dict[str, pd.DataFrame]:
    return {p: _speaker_table(p, 40) for p in PRESETS}


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_every_speaker_realises_its_recorded_style(speakers, preset: str) -> None:
    t = speakers[preset]

    def fit(recorded: str, realised: str, log: bool = True) -> tuple[float, float, float]:
        x, y = t[recorded].to_numpy(float), t[realised].to_numpy(float)
        if log:
            x, y = np.log(x), np.log(y)
        slope = np.polyfit(x, y, 1)[0]
        bias = float(np.median(y - x))
        return float(np.corrcoef(x, y)[0, 1]), float(slope), bias

    ipu, pause, fto = (fit("ipu_median_s", "ipu_real_s"), fit("pause_median_s", "pause_real_s"),
                       fit("fto_mean_ms", "fto_real_ms", log=False))
    bc = fit("backchannels_per_s", "bc_real_per_s")
    print(preset, "r, slope, median bias:", ipu, pause, fto, bc)
    # a speaker drawn with a long IPU median realises long IPUs, one for one (log scale):
    # 10 min of conversation gives ~100 IPUs a speaker, a median within ~8 %
    assert ipu[0] > 0.85 and 0.8 < ipu[1] < 1.2 and abs(ipu[2]) < 0.06
    assert pause[0] > 0.6 and 0.7 < pause[1] < 1.3 and abs(pause[2]) < 0.08
    # FTO means: ~40 transitions into a speaker's turns, within sd ~430 ms: +-70 ms noise
    assert fto[0] > 0.4 and 0.6 < fto[1] < 1.4 and abs(fto[2]) < 40
    # backchannels: a few dozen per speaker (Poisson); the drawn rate is a propensity that
    # needs room (>= 1 s own silence, inside a partner IPU): frequent candor-like
    # backchannellers realise up to ~15 % less (the pooled rate is held by the centres)
    assert bc[0] > 0.75 and bc[1] > 0.6 and abs(bc[2]) < 0.16
    # long-IPU speakers really are long: the top quarter's realised median IPU is at least
    # 1.5x the bottom quarter's (drawn: exp(2 * 1.15 * sd) = 2.1x candor-, 2.4x fisher-like)
    q = t["ipu_median_s"].quantile([0.25, 0.75])
    long, short = t[t["ipu_median_s"] >= q[0.75]], t[t["ipu_median_s"] <= q[0.25]]
    assert long["ipu_real_s"].median() > 1.5 * short["ipu_real_s"].median()


def test_partners_entrain_and_the_tempo_is_shared() -> None:
    """Partners' parameters correlate by ``entrainment``; a fast tempo shortens both."""
    cfg = PRESETS["fisher-like"]
    centres = population_centres(cfg)
    recs = [conversation_style(cfg, np.random.SeedSequence(5, spawn_key=(i,))).record(cfg, centres)
            for i in range(2000)]
    a = np.log([r["speakers"][0]["ipu_median_s"] for r in recs])
    b = np.log([r["speakers"][1]["ipu_median_s"] for r in recs])
    tempo = np.array([r["tempo"] for r in recs])
    print("partner r", np.corrcoef(a, b)[0, 1], "tempo r", np.corrcoef(tempo, a)[0, 1])
    assert abs(np.corrcoef(a, b)[0, 1] - cfg.entrainment) < 0.06
    assert np.corrcoef(tempo, a)[0, 1] < -0.6  # sqrt(0.5) = 0.71 expected
    assert abs(np.std(a) - cfg.ipu_median_log_sd) < 0.03  # the population spread
    none = replace(cfg, entrainment=0.0)
    c = [conversation_style(none, np.random.SeedSequence(5, spawn_key=(i,))).speaker(
        none, centres, 1).ipu_median_s for i in range(2000)]
    assert abs(np.corrcoef(a, np.log(c))[0, 1]) < 0.1


def test_drift_lowers_what_a_prompt_predicts() -> None:
    """With a tempo drift (correlation time 30 s) the prompt predicts less."""
    cfg = PRESETS["fisher-like"]
    still = prompt_continuation_r(_vads(cfg, 200, seed=3))
    drift = prompt_continuation_r(_vads(replace(cfg, tempo_drift_s=30.0), 200, seed=3))
    print({ev: (round(still[ev]["r"], 2), round(drift[ev]["r"], 2)) for ev in still})
    assert drift["ipu"]["r"] < still["ipu"]["r"] - 0.1


def test_prompt_continuation_r_is_pearson_with_a_deterministic_ci() -> None:
    vads = _vads(PRESETS["candor-like"], 40, seed=9)
    got = prompt_continuation_r(vads)
    again = prompt_continuation_r(vads[:20])
    assert again == prompt_continuation_r(vads[:20])  # same resamples every time
    from duplexsim.metrics.protocol import mean_durations, split_prompt

    pairs = [[mean_durations(w)["ipu"] for w in split_prompt(v)] for v in vads]
    x, y = np.array(pairs).T
    assert got["ipu"]["r"] == pytest.approx(np.corrcoef(x, y)[0, 1], abs=1e-12)
    for ev in ("ipu", "pause", "fto"):
        assert got[ev]["ci_low"] < got[ev]["r"] < got[ev]["ci_high"]
    # dialogues shorter than prompt + continuation are left out
    short = prompt_continuation_r([v[:, :2000] for v in vads[:10]] + vads[:5])
    assert short["ipu"]["n"] == 5


def test_corpus_stats_on_a_real_layout(tmp_path, capsys) -> None:
    """``corpus stats`` on a CANDOR tree (real-reader path, annotations only), with the
    windows given on the command line: the r of the prompt_continuation_r definition."""
    cfg = replace(PRESETS["candor-like"], conversation_s=70.0)
    vads = []
    for i in range(24):
        path = tmp_path / f"conv{i:02d}" / "transcription" / "transcript_audiophile.csv"
        candor.write_transcript(path, simulate_timeline(
            cfg, np.random.SeedSequence(4, spawn_key=(i,))))
        # read back (times as written); duration from the segments, as the reader without audio
        vads.append(Dialogue("c", candor.read_transcript(path)[0]).segment_vad())
    assert main(["corpus", "stats", str(tmp_path), "--json", "--prompt-s", "20",
                 "--continuation-s", "40"]) == 0
    import json

    out = json.loads(capsys.readouterr().out)["prompt_continuation"]
    want = prompt_continuation_r(vads, 20.0, 40.0)
    assert out["prompt_s"] == 20.0 and out["continuation_s"] == 40.0
    assert out["paper"] == PAPER_PROMPT_R["candor"] and "units" not in out
    assert out["annotations"]["ipu"] == pytest.approx(want["ipu"])
    assert main(["corpus", "stats", str(tmp_path), "--prompt-s", "20"]) == 0
    table = capsys.readouterr().out
    assert "prompt -> continuation" in table and "paper GT" in table
    # a real tree has no splits: refused, not the whole corpus under the split's name
    assert main(["corpus", "stats", str(tmp_path), "--split", "test"]) == 2
    assert "--split: test: a candor tree has no splits" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["corpus", "stats", str(tmp_path), "--prompt-s", "-5"])
    assert "--prompt-s" in capsys.readouterr().err


def test_windows_are_counted_as_the_cut_counts_them() -> None:
    """Prompt and continuation frames are each rounded (30.06 s -> 752, 39.98 s -> 1000):
    a 1751-frame dialogue is too short for them and is skipped, not cut (a traceback), and
    one of 1752 frames is used."""
    rng = np.random.default_rng(0)
    for n, used in ((1751, 0), (1752, 3)):
        vads = [rng.random((2, n)) < 0.4 for _ in range(3)]
        got = prompt_continuation_r(vads, 30.06, 39.98, n_boot=10)
        assert got["ipu"]["n"] == used


def test_corpus_stats_without_any_segment_is_one_line(tmp_path, capsys) -> None:
    path = tmp_path / "conv" / "transcription" / "transcript_audiophile.csv"
    path.parent.mkdir(parents=True)
    path.write_text("turn_id,speaker,start,stop,utterance\n")
    assert main(["corpus", "stats", str(tmp_path)]) == 2
    err = capsys.readouterr().err  # the reader names the empty transcript (f8f9f86)
    assert err.count("\n") == 1 and f"{path}: no segments (allowed: " in err


@pytest.mark.parametrize(("line", "key", "allowed"), [
    ("ipu_median_log_sd = -0.2", "ipu_median_log_sd", "0 .. 5"),
    ("entrainment = 1.2", "entrainment", "[0, 1]"),
    ("entrainment = -0.1", "entrainment", "[0, 1]"),
    ("fto_mean_sd_ms = 600.0", "fto_mean_sd_ms", "[0, 450.0)"),
    ("tempo_drift_s = -1.0", "tempo_drift_s", "0 .. 86400"),
    ("backchannels_log_sd = 1e200", "backchannels_log_sd", "0 .. 5"),
    ('name = "../../evil"', "name",
     "letters, digits, '.', '_', '-', starting with a letter or digit"),
    # values the generator cannot realise: validated, then the corpus missed them quietly
    # (every pause 0.25 s, a centre of 6e-11 s, no backchannels) or a traceback (-60000)
    ("pause_median_s = 600.0", "pause_median_s", "> 0.25 and <= 60"),
    ("pause_median_s = 0.1", "pause_median_s", "> 0.25 and <= 60"),
    ("ipu_median_s = 0.001", "ipu_median_s", "0.5 .. 12"),
    ("fto_mean_ms = -60000.0", "fto_mean_ms", "-750 .. 60000"),
    ("fto_mean_ms = -3000.0", "fto_mean_ms", "-750 .. 60000"),
    ("fto_sd_ms = 60000.0", "fto_sd_ms", "> 0 and <= 1500"),
])
def test_bad_style_parameters_are_refused(tmp_path, capsys, line: str, key: str,
                                          allowed: str) -> None:
    path = tmp_path / "style.toml"
    path.write_text(f"p_yield = 0.5\n{line}\n")
    expected = f"{path}: {key}: "
    with pytest.raises(ConfigError) as e:
        load_config("fisher-like", path)
    assert expected in str(e.value) and f"(allowed: {allowed})" in str(e.value)
    assert main(["validate", str(path)]) == 1
    out = capsys.readouterr().out
    assert expected in out and f"(allowed: {allowed})" in out
    assert main(["corpus", "build", "--config", str(path), "--out", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err
    assert not (tmp_path / "c").exists()  # refused before anything is built


def test_a_good_corpus_config_validates(tmp_path, capsys) -> None:
    path = tmp_path / "style.toml"
    path.write_text('name = "candor-like"\nentrainment = 0.8\ntempo_drift_s = 120.0\n')
    assert main(["validate", str(path)]) == 0
    assert "OK" in capsys.readouterr().out


def test_a_config_named_after_a_preset_builds_over_that_preset(tmp_path, capsys) -> None:
    """`validate` reads a corpus config over the preset its name names; `corpus build` does
    the same when --preset is left out, and refuses a --preset that contradicts it (the
    build would write fisher-like conversations under candorlike ids)."""
    from duplexsim.corpora.cli import _base_preset

    path = tmp_path / "c.toml"
    path.write_text('name = "candor-like"\nipu_median_log_sd = 0.3\n')
    assert _base_preset(None, str(path)) == "candor-like"
    assert _base_preset("candor-like", str(path)) == "candor-like"
    assert _base_preset(None, None) == "fisher-like"
    assert main(["corpus", "build", "--config", str(path), "--preset", "fisher-like",
                 "--out", str(tmp_path / "out")]) == 2
    assert "name: 'candor-like' over --preset fisher-like" in capsys.readouterr().err


def test_a_corpus_config_name_of_the_wrong_type_is_one_line(tmp_path, capsys) -> None:
    """``name = [1]`` was looked up among the presets before its type was checked: a
    TypeError traceback from both `validate` and `corpus build`."""
    path = tmp_path / "c.toml"
    path.write_text('name = ["candor-like"]\nconversation_s = 60.0\n')
    assert main(["validate", str(path)]) == 1
    assert capsys.readouterr().out == f"{path}: name: wrong type array (allowed: string)\n"
    assert main(["corpus", "build", "--config", str(path), "--out", str(tmp_path / "c")]) == 2
    assert capsys.readouterr().err == f"{path}: name: wrong type array (allowed: string)\n"
    assert not (tmp_path / "c").exists()


def test_an_empty_corpus_config_name_is_refused(tmp_path, capsys) -> None:
    """Dialogue ids are made from the name: ``name = ""`` gave ids ``_00000``."""
    path = tmp_path / "c.toml"
    path.write_text('name = ""\nconversation_s = 60.0\n')
    assert main(["validate", str(path)]) == 1
    out = capsys.readouterr().out
    assert out.startswith(f"{path}: name: ''") and out.count("\n") == 1, out


def test_a_config_file_named_after_a_preset_starts_from_that_preset(tmp_path) -> None:
    """load_config without a preset started every file from fisher-like: a file named
    candor-like gave 600 s at 8 kHz with fisher-like's turn-taking, named candor-like."""
    path = tmp_path / "c.toml"
    path.write_text('name = "candor-like"\np_yield = 0.4\n')
    cfg = load_config(toml_path=path)
    assert cfg == replace(PRESETS["candor-like"], p_yield=0.4)
    assert load_config(toml_path=path) == load_synth_toml(path)
    path.write_text('name = "my-corpus"\np_yield = 0.4\n')
    assert load_config(toml_path=path) == replace(PRESETS["fisher-like"], name="my-corpus",
                                                  p_yield=0.4)


def test_a_p_yield_too_small_to_calibrate_is_refused() -> None:
    """At 1e-6 the calibration met no floor transfer: the FTO centre was nan, and a build's
    first hand-over raised "Segment: start_s nan" after rendering everything before it."""
    with pytest.raises(ConfigError, match=r"p_yield: must be a probability >= 0.01, got 1e-06 "
                                          r"\(allowed: \[0.01, 1\]\)"):
        replace(PRESETS["fisher-like"], p_yield=1e-6)
    assert replace(PRESETS["fisher-like"], p_yield=0.01).p_yield == 0.01


def test_p_yield_1_is_every_speaker_yielding_after_every_ipu() -> None:
    """p_yield is allowed in [0.01, 1]; at 1 the speakers' logit spread clipped it to
    1 - 1e-6, and every speaker's came out 0.999999 (a hand-over not quite always)."""
    from duplexsim.corpora.style import Centres

    cfg = load_config("fisher-like", p_yield=1.0)
    assert cfg.p_yield_logit_sd > 0
    for seed in range(20):
        style = conversation_style(cfg, seed)
        assert [style.speaker(cfg, Centres.of(cfg), w).p_yield for w in (0, 1)] == [1.0, 1.0]
    almost = load_config("fisher-like", p_yield=0.99)  # below 1 the spread stays
    drawn = {conversation_style(almost, s).speaker(almost, Centres.of(almost), 0).p_yield
             for s in range(5)}
    assert len(drawn) == 5 and all(0.9 < p < 1 for p in drawn)


def test_an_event_the_process_never_makes_keeps_its_centre() -> None:
    """p_yield 1 with a 60 s FTO never pauses (every IPU hands over, none reads as a
    backchannel): the calibration's pause median was nan, with numpy's "Mean of empty slice"
    warnings, and every speaker's recorded pause_median_s a null in the manifest."""
    import warnings

    cfg = load_config("fisher-like", p_yield=1.0, fto_mean_ms=60_000.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        centres = population_centres(cfg)
    assert centres.pause_median_s == PRESETS["fisher-like"].pause_median_s  # uncalibrated
    record = conversation_style(cfg, 0).record(cfg, centres)
    assert all(np.isfinite(s["pause_median_s"]) for s in record["speakers"])


def test_a_config_the_process_cannot_realise_is_refused(tmp_path, capsys) -> None:
    """Each key in its range, pause_sigma 10 made pauses of 0.25 s (the shortest) for a
    median of 0.45 s: the calibration moved the centre to 2.6 s and the corpus was built
    without a word. The build is refused, naming the file and the key it misses."""
    with pytest.raises(ConfigError, match=r"pause_median_s: the process makes 0.25 s for "
                                          r"0.45 with the other parameters \(allowed: "):
        population_centres(load_config("fisher-like", pause_sigma=10.0))
    path = tmp_path / "wide.toml"
    path.write_text("pause_sigma = 10.0\n")
    assert main(["corpus", "build", "--config", str(path), "--out", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err
    assert f"{path}: pause_median_s: the process makes" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "c").exists()
    # `duplexsim validate` said "OK" for the file the build refuses: the same line now
    assert main(["validate", str(path)]) == 1
    assert capsys.readouterr().out == err
    path.write_text("pause_sigma = 0.6\n")
    assert main(["validate", str(path)]) == 0
    assert capsys.readouterr().out == f"{path}: OK\n"


def test_pairs_given_as_lists_are_the_tuples_of_the_preset() -> None:
    """rate_wpm=[150, 190] (a keyword, or a manifest's JSON) validated but stayed a list:
    the build's calibration, cached by config, then raised "unhashable type: 'list'"."""
    cfg = load_config("fisher-like", rate_wpm=[150, 190], pitch=[25, 75])
    assert cfg == PRESETS["fisher-like"] and hash(cfg) == hash(PRESETS["fisher-like"])


@pytest.mark.parametrize(("key", "value", "allowed"), [
    ("ipu_median_s", "1.3", "0.5 .. 12"), ("p_yield", "0.5", r"\[0.01, 1\]"),
    ("fto_sd_ms", "3", "> 0 and <= 1500"), ("tempo_drift_s", "1", "0 .. 86400"),
    ("ipu_median_log_sd", True, "0 .. 5"), ("val_share", "0.1", "0 .. 1")])
def test_a_number_given_as_a_string_is_no_number(key: str, value: object, allowed: str) -> None:
    """A keyword ipu_median_s="1.3" was "1.3 is out of range", and fto_sd_ms="3" or
    tempo_drift_s="1" a TypeError traceback from a comparison: one line, no number."""
    with pytest.raises(ConfigError, match=rf"^{key}: must be a number, got {value!r} "
                                          rf"\(allowed: {allowed}\)$"):
        load_config("fisher-like", **{key: value})


@pytest.mark.parametrize(("key", "value"), [("yield_cue", "no"), ("telephone_band", 1),
                                            ("sample_rate_hz", 8000.0),
                                            ("sample_rate_hz", True),
                                            ("entrainment", "0.5"), ("entrainment", True)])
def test_keywords_of_the_wrong_type_are_refused(key: str, value: object) -> None:
    """A TOML file's types are checked by its reader, keywords were not: yield_cue="no"
    switched the cue on, sample_rate_hz=8000.0 went into the manifest as 8000.0."""
    with pytest.raises(ConfigError, match=rf"{key}: "):
        load_config("fisher-like", **{key: value})
