"""The CANDOR reader (duplexsim/corpora/candor.py) on tiny fixtures and a release folder
as BetterUp ships it: channel maps, backbiter transcripts, and its
errors. Owns the CANDOR fixtures the other reader tests use."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_readers_fisher import _tone  # (tests/corpora is on the path)

from duplexsim.audio.io import AudioError, write_audio
from duplexsim.corpora import (
    CandorCorpus,
    CorpusFormatError,
    open_corpus,
)

CSV = """turn_id,speaker,start,stop,utterance,delta,questions
0,5f2a,0.40,2.50,"hi, how are you",0.0,1
1,0c1b,2.60,4.00,good thanks,0.1,0
2,5f2a,4.20,5.10,great,0.2,0
"""


def _candor(root, style="audiophile", per_speaker=True, rates=(16000, 16000), csv=CSV):
    conv = root / "0a1b2c3d-uuid"
    (conv / "transcription").mkdir(parents=True)
    (conv / "transcription" / f"transcript_{style}.csv").write_text(csv)
    if per_speaker:
        for spk, sr in zip(("0c1b", "5f2a"), rates, strict=True):
            write_audio(conv / "processed" / f"{spk}.wav", _tone(6, sr, 1)[0], sr)
    else:  # one stereo file: the release's channel map says which speaker is left
        write_audio(conv / "processed" / "mixed.flac", _tone(6, 16000), 16000)
        (conv / "processed" / "channel_map.json").write_text('{"L": "0c1b", "R": "5f2a"}')
    return root


@pytest.mark.parametrize("per_speaker", [True, False])
def test_candor_reader(tmp_path, per_speaker) -> None:
    corpus = CandorCorpus(_candor(tmp_path, per_speaker=per_speaker))
    d = corpus.dialogue(corpus.ids()[0])
    # speakers sorted by id: "0c1b" is channel 0
    assert [(s.speaker, s.start_s, s.end_s, s.text) for s in d.segments] == [
        (1, 0.4, 2.5, "hi, how are you"), (0, 2.6, 4.0, "good thanks"), (1, 4.2, 5.1, "great")]
    assert d.audio.shape == (2, 96000) and d.sample_rate_hz == 16000
    assert isinstance(open_corpus(tmp_path), CandorCorpus)
    assert corpus.dialogue(corpus.ids()[0], audio=False).duration_s == 6.0  # not 5.1


def test_candor_errors(tmp_path) -> None:
    bad = CSV + "3,0c1b,5.5,not-a-time,oops,0,0\n"
    corpus = CandorCorpus(_candor(tmp_path / "a", csv=bad))
    with pytest.raises(CorpusFormatError, match=r"transcript_audiophile.csv:5: malformed row"):
        corpus.dialogue(corpus.ids()[0])
    corpus = CandorCorpus(_candor(tmp_path / "b", rates=(16000, 8000)))
    with pytest.raises(AudioError, match="sample rate 8000 Hz, expected 16000 Hz"):
        corpus.dialogue(corpus.ids()[0])
    root = _candor(tmp_path / "c")
    for f in (root / "0a1b2c3d-uuid" / "processed").iterdir():
        f.unlink()
    with pytest.raises(AudioError, match=r"refers to speakers \['0c1b', '5f2a'\]"):
        CandorCorpus(root).dialogue("0a1b2c3d-uuid")
    assert len(CandorCorpus(root).dialogue("0a1b2c3d-uuid", audio=False).segments) == 3


def test_candor_channel_map_puts_l_on_channel_0(tmp_path) -> None:
    """CANDOR's processed/channel_map.json says which speaker is on which channel of its
    stereo <uuid>.mp3; sorted ids would put 0c1b first."""
    root = _candor(tmp_path, per_speaker=False)
    proc = root / "0a1b2c3d-uuid" / "processed"
    (proc / "channel_map.json").write_text('{"L": "5f2a", "R": "0c1b"}')
    d = CandorCorpus(root).dialogue("0a1b2c3d-uuid")
    assert [(s.speaker, s.text) for s in d.segments] == [
        (0, "hi, how are you"), (1, "good thanks"), (0, "great")]
    (proc / "channel_map.json").write_text('{"L": "5f2a", "R": "someone else"}')
    with pytest.raises(CorpusFormatError, match=r"transcript_audiophile.csv:3: speaker '0c1b' "
                       r"is not in its channel map \(allowed: 5f2a, someone else"):
        CandorCorpus(root).dialogue("0a1b2c3d-uuid", audio=False)
    (proc / "channel_map.json").write_text('{"left": "5f2a"}')
    with pytest.raises(CorpusFormatError, match=r"channel_map.json: L: missing required key"):
        CandorCorpus(root).dialogue("0a1b2c3d-uuid", audio=False)


def _channel_map_error(tmp_path, content: str | bytes) -> tuple[Path, str]:
    """The channel_map.json of a one-dialogue CANDOR tree holding ``content``, and the
    one-line error reading that dialogue gives."""
    root = _candor(tmp_path, per_speaker=False)
    path = root / "0a1b2c3d-uuid" / "processed" / "channel_map.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    with pytest.raises(CorpusFormatError) as caught:
        CandorCorpus(root).dialogue("0a1b2c3d-uuid", audio=False)
    return path, str(caught.value)


@pytest.mark.parametrize(("content", "side"), [
    ('{"left": "5f2a", "right": "0c1b"}', "L"),
    ('{"L": "5f2a"}', "R"),
    ('{}', "L"),
])
def test_candor_channel_map_without_l_or_r_names_the_key(tmp_path, content, side) -> None:
    """A map lacking L or R ended "(KeyError: 'R')"; now the one line names the file and
    the key, and says what is allowed, as for a value that is no speaker id."""
    path, error = _channel_map_error(tmp_path, content)
    assert error == (f'{path}: {side}: missing required key of the channel map '
                                 '{"L": speaker, "R": speaker} (allowed: a speaker id '
                                 "string, as the transcript's speaker column holds)")


@pytest.mark.parametrize(("content", "message"), [
    (b"[" * 100_000 + b"]" * 100_000, "corrupt channel map: nested too deeply"),
    (b'{"L": "5f2a", "R": "caf\xe9"}', "byte 23: not UTF-8 text"),
    (b'["5f2a", "0c1b"]', "channel map holds a JSON list"),
    (b'{"L": "5f2a",', "line 1: corrupt channel map: Expecting"),
])
def test_candor_channel_map_that_is_no_json_object_is_one_line(tmp_path, content,
                                                                message) -> None:
    """A channel_map.json nested too deeply was a raw RecursionError traceback; one that
    is not UTF-8 or holds a list said "TypeError: list indices must be integers"; now
    each is the one line read_json gives any JSON file, naming the file."""
    path, error = _channel_map_error(tmp_path, content)
    assert error.startswith(f"{path}: {message}")
    assert "\n" not in error


@pytest.mark.parametrize(("content", "side", "shown"), [
    ('{"L": 5, "R": "0c1b"}', "L", "5"),
    ('{"L": "5f2a", "R": ["0c1b"]}', "R", '["0c1b"]'),
    ('{"L": null, "R": "0c1b"}', "L", "null"),
    ('{"L": "5f2a", "R": {"id": "0c1b"}}', "R", '{"id": "0c1b"}'),
    ('{"L": " ", "R": "0c1b"}', "L", '" "'),
])
def test_candor_channel_map_values_are_speaker_id_strings(tmp_path, content, side,
                                                          shown) -> None:
    """A number, list, null or object as L or R was str()-ed ("5", "['0c1b']", "None") and
    failed later, as a transcript speaker "not in its channel map"; now the map's own key
    is named."""
    path, error = _channel_map_error(tmp_path, content)
    assert error == (f"{path}: {side}: {shown} is not a speaker id (allowed: a "
                                 "speaker id string, as the transcript's speaker column "
                                 "holds)")


def test_candor_channel_map_with_a_byte_order_mark_is_read(tmp_path) -> None:
    """A map saved "UTF-8 with BOM" (a Windows editor) reads as the same map."""
    root = _candor(tmp_path, per_speaker=False)
    path = root / "0a1b2c3d-uuid" / "processed" / "channel_map.json"
    path.write_text('{"L": "5f2a", "R": "0c1b"}', encoding="utf-8-sig")
    assert CandorCorpus(root).channel_order("0a1b2c3d-uuid") == ["5f2a", "0c1b"]


RELEASE_UUID, RELEASE_L, RELEASE_R = ("0020a0c5-1658-4747-99c1-2839e736b481",
                                      "5fa072f4f4aa580b63834357", "5a73899f9cdd1800017786f0")


def _candor_release(root):
    """One conversation as BetterUp ships it, in ``root/<uuid>/``; its stereo audio, the
    right speaker 12 dB louder."""
    import soundfile as sf

    uuid, left, right = RELEASE_UUID, RELEASE_L, RELEASE_R
    conv = root / uuid
    for folder in ("processed", "transcription", "raw"):
        (conv / folder).mkdir(parents=True)
    wave = _tone(3, 48000) * np.array([[1.0], [4.0]])
    sf.write(conv / "processed" / f"{uuid}.mp3", wave.T, 48000, format="MP3")
    for video in (uuid, left, right):
        (conv / "processed" / f"{video}.mp4").write_bytes(b"\0\0\0\x18ftypmp42")
    (conv / "processed" / "thumbnail.png").write_bytes(b"\x89PNG\r\n")
    (conv / "processed" / "channel_map.json").write_text(f'{{"L": "{left}", "R": "{right}"}}')
    (conv / "metadata.json").write_text("{}")
    (conv / "survey.csv").write_text("user_id\n")
    (conv / "transcription" / "transcript_audiophile.csv").write_text(
        "turn_id,speaker,start,stop,utterance,interval,delta,questions,end_question,overlap,"
        f"n_words\n0,{right},0.34,1.20,\"Hi. How are you?\",,0.86,1,True,False,4\n"
        f"1,{left},1.00,2.10,hey I'm good.,-0.2,1.1,0,False,True,3\n"
        f"2,{right},2.30,2.90,,0.2,0.6,0,False,False,0\n")
    return conv


def test_candor_reads_a_release_folder_as_shipped(tmp_path) -> None:
    """A conversation as BetterUp ships it: processed/ holds the stereo 48 kHz <uuid>.mp3,
    channel_map.json, the videos <uuid>.mp4 and <user id>.mp4 (a speaker's name with a
    video's extension: not their audio) and thumbnail.png; the transcript's columns are
    pandas' (interval empty on the first row, booleans as True/False, an empty
    utterance); metadata.json, survey.csv and raw/ lie beside transcription/."""
    conv, uuid = _candor_release(tmp_path), RELEASE_UUID
    corpus = open_corpus(tmp_path)
    assert isinstance(corpus, CandorCorpus) and corpus.ids() == [uuid]
    d = corpus.dialogue(uuid)
    assert [(s.speaker, s.start_s, s.text) for s in d.segments] == [
        (1, 0.34, "Hi. How are you?"), (0, 1.0, "hey I'm good."), (1, 2.3, "")]
    assert d.sample_rate_hz == 48000 and abs(d.audio.shape[1] / 48000 - 3) < 0.1
    rms = np.sqrt(np.mean(d.audio ** 2, axis=1))
    assert 3 < rms[1] / rms[0] < 5  # L on channel 0
    assert corpus.source_files(uuid) == [
        conv / "transcription" / "transcript_audiophile.csv",
        conv / "processed" / "channel_map.json", conv / "processed" / f"{uuid}.mp3"]


def test_candor_ignores_macos_dot_files_beside_the_audio(tmp_path) -> None:
    """A release copied from a Mac holds an AppleDouble ``._<name>`` beside each file and a
    .DS_Store: ``._<uuid>.mp3`` counted as a second sound file ("found 2 sound files")."""
    conv = _candor_release(tmp_path)
    processed = conv / "processed"
    for name in [p.name for p in processed.iterdir()]:
        (processed / f"._{name}").write_bytes(b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X")
    (processed / ".DS_Store").write_bytes(b"\0\0\0\x01Bud1")
    corpus = CandorCorpus(tmp_path)
    assert corpus.audio_files(RELEASE_UUID) == [processed / f"{RELEASE_UUID}.mp3"]
    assert corpus.dialogue(RELEASE_UUID).audio.shape[0] == 2


def test_the_candor_release_top_folder_names_the_folder_to_point_at(tmp_path, capsys) -> None:
    """Pointed at the release's top folder (``CANDOR/``, the conversations in
    ``CANDOR/files/<uuid>/``), the readers said "unknown layout"."""
    from duplexsim.cli import main

    top = tmp_path / "CANDOR"
    _candor_release(top / "files")
    (top / "README.md").write_text("CANDOR corpus\n")
    line = (rf"^{top}: no CANDOR conversations \(<uuid>/transcription/\) here, but one folder "
            rf"down: point the reader at {top}/files$")
    with pytest.raises(CorpusFormatError, match=line):
        open_corpus(top)
    with pytest.raises(CorpusFormatError, match=line):
        CandorCorpus(top)
    assert main(["corpus", "stats", str(top)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"point the reader at {top}/files" in err, err
    _candor_release(top / "files2")
    with pytest.raises(CorpusFormatError, match=rf"point the reader at one of {top}/files, "
                       rf"{top}/files2 \(or move their <uuid>/ folders into one\)$"):
        open_corpus(top)
    assert isinstance(open_corpus(top / "files"), CandorCorpus)


def test_one_candor_conversation_folder_names_the_folder_to_point_at(tmp_path, capsys,
                                                                     monkeypatch) -> None:
    """Pointed one level too deep, at ``CANDOR/files/<uuid>/`` (it holds transcription/),
    the readers said "empty corpus"."""
    from duplexsim.cli import main

    files = tmp_path / "CANDOR" / "files"
    conv = _candor_release(files)
    line = (rf"^{conv}: is one CANDOR conversation \(transcription/ here\), not the folder "
            rf"of conversations: point the reader at {files}$")
    with pytest.raises(CorpusFormatError, match=line):
        CandorCorpus(conv)
    with pytest.raises(CorpusFormatError, match=line):
        open_corpus(conv)
    assert main(["corpus", "stats", str(conv)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"point the reader at {files}\n" in err, err
    monkeypatch.chdir(conv)  # "." names its parent, not "."
    with pytest.raises(CorpusFormatError, match=rf"point the reader at {files}$"):
        CandorCorpus(".")


BACKBITER = """turn_id,speaker,start,stop,utterance,backchannel,backchannel_count,\
backchannel_speaker,backchannel_start,backchannel_stop
0,5f2a,0.40,6.50,"hi, how are you doing today",Yeah,1,0c1b,2.00,2.40
1,0c1b,7.00,8.00,good thanks,,0,,,
"""


def test_candor_backbiter_backchannels_and_no_silent_fall_back(tmp_path, capsys) -> None:
    root = _candor(tmp_path, style="backbiter", csv=BACKBITER)
    with pytest.raises(CorpusFormatError,
                       match=r"transcript_audiophile.csv: not found.*style='backbiter'"):
        CandorCorpus(root).dialogue("0a1b2c3d-uuid", audio=False)
    # a command has no style to ask for: the error said "read it with style='backbiter'",
    # a keyword of the Python reader that no `duplexsim` flag sets
    from duplexsim.cli import main

    assert main(["corpus", "stats", str(root)]) == 2
    assert capsys.readouterr().err.endswith(
        "found transcript_backbiter.csv: read it in Python with CandorCorpus(root, "
        "style='backbiter'); the duplexsim commands read the utterance-level audiophile "
        "transcripts only)\n")
    d = CandorCorpus(root, style="backbiter").dialogue("0a1b2c3d-uuid", audio=False)
    assert [(s.speaker, s.start_s, s.end_s, s.kind, s.count) for s in d.segments] == [
        (1, 0.4, 6.5, "ipu", 1), (0, 2.0, 2.4, "backchannel", 1), (0, 7.0, 8.0, "ipu", 1)]


def test_a_backbiter_row_of_two_backchannels_keeps_their_count(tmp_path) -> None:
    """A backbiter row with backchannel_count 2 gives one start and stop: it was read as one
    backchannel. It is one segment at the row's times with count 2 (no times made up for the
    second); pandas' ``2.0`` is 2; a count that is no whole number >= 1 is an error."""
    two = BACKBITER.replace("Yeah,1,0c1b,2.00,2.40", "Yeah. Mhm.,2.0,0c1b,2.00,3.90")
    root = _candor(tmp_path / "two", style="backbiter", csv=two)
    d = CandorCorpus(root, style="backbiter").dialogue("0a1b2c3d-uuid", audio=False)
    assert [(s.start_s, s.end_s, s.text, s.kind, s.count) for s in d.segments] == [
        (0.4, 6.5, "hi, how are you doing today", "ipu", 1),
        (2.0, 3.9, "Yeah. Mhm.", "backchannel", 2), (7.0, 8.0, "good thanks", "ipu", 1)]
    assert d.crop(1.0, 7.5).segments[1].count == 2 and d.swapped().segments[1].count == 2
    for bad in ("0", "1.5", "two", "inf"):
        root = _candor(tmp_path / f"bad{bad}", style="backbiter",
                       csv=BACKBITER.replace("Yeah,1,", f"Yeah,{bad},"))
        with pytest.raises(CorpusFormatError, match=rf"transcript_backbiter.csv:2: malformed "
                           rf"row: backchannel_count '{bad}' where backchannel_start is set "
                           r"\(allowed: a whole number >= 1\)$"):
            CandorCorpus(root, style="backbiter").dialogue("0a1b2c3d-uuid", audio=False)


@pytest.mark.parametrize(("data", "match"), [
    (CSV.replace('"hi, how are you"', '"hi, how are you').encode(), "malformed"),
    (CSV.replace("great", "caf\xe9").encode("latin-1"), "not UTF-8 text"),
    # the empty id sorted first: channel 0 (with the other speaker's audio), not an error
    (CSV.replace("1,0c1b,", "1,,").encode(), r"csv:3: malformed row: empty speaker"),
])
def test_candor_broken_csv_is_an_error_not_a_wrong_transcript(tmp_path, data, match) -> None:
    """A quote never closed would swallow the rest of the file into one utterance."""
    root = _candor(tmp_path)
    (root / "0a1b2c3d-uuid" / "transcription" / "transcript_audiophile.csv").write_bytes(data)
    with pytest.raises(CorpusFormatError, match=match):
        CandorCorpus(root).dialogue("0a1b2c3d-uuid", audio=False)


def test_a_third_candor_speaker_is_an_error_naming_the_row_where_it_first_speaks(
        tmp_path) -> None:
    """The error named the file and the speakers, not the row to look at (nor did one
    outside the channel map, above): a third speaker first heard on line 5; in backbiter,
    a backchannel speaker counts (9z9z on line 2: 0c1b, on line 3, is the third)."""
    root = _candor(tmp_path, csv=CSV + "3,9z9z,5.20,5.60,hm,0.1,0\n4,0c1b,5.70,5.90,ok,0.1,0\n")
    with pytest.raises(CorpusFormatError, match=r"transcript_audiophile.csv:5: a third speaker "
                       r"'9z9z' \(allowed: 2 speakers; 3 found: 0c1b, 5f2a, 9z9z\)"):
        CandorCorpus(root).dialogue("0a1b2c3d-uuid", audio=False)
    root = _candor(tmp_path / "b", style="backbiter",
                   csv=BACKBITER.replace(",Yeah,1,0c1b,", ",Yeah,1,9z9z,"))
    with pytest.raises(CorpusFormatError, match=r"transcript_backbiter.csv:3: a third speaker "
                       r"'0c1b'"):
        CandorCorpus(root, style="backbiter").dialogue("0a1b2c3d-uuid", audio=False)


def test_candor_bom(tmp_path) -> None:
    root = _candor(tmp_path)
    (root / "0a1b2c3d-uuid" / "transcription" / "transcript_audiophile.csv").write_text(
        CSV, encoding="utf-8-sig")
    assert len(CandorCorpus(root).dialogue("0a1b2c3d-uuid", audio=False).segments) == 3


def test_one_speaker_with_two_sound_files_asks_for_the_channel_map(tmp_path) -> None:
    """A conversation whose transcript names one speaker but whose processed/ holds both
    speakers' files said "found 2 sound files" beside "expected one per speaker"."""
    root = _candor(tmp_path, csv="turn_id,speaker,start,stop,utterance\n0,5f2a,0.4,2.5,hi\n")
    with pytest.raises(CorpusFormatError, match=r"transcript_audiophile.csv: names one speaker "
                       r"\['5f2a'\], but \S+ holds two sound files \(0c1b.wav, 5f2a.wav\): "
                       r"which channel the silent partner is on is unknown.*channel_map.json"):
        CandorCorpus(root).dialogue("0a1b2c3d-uuid")
    (root / "0a1b2c3d-uuid" / "processed" / "channel_map.json").write_text(
        '{"L": "0c1b", "R": "5f2a"}')
    d = CandorCorpus(root).dialogue("0a1b2c3d-uuid")
    assert [s.speaker for s in d.segments] == [1] and d.audio.shape == (2, 96000)


def test_one_speaker_with_only_their_own_mono_file_says_the_partner_is_missing(
        tmp_path) -> None:
    """A one-speaker transcript beside that speaker's mono file alone was asked which
    speaker is "on the left channel" of it, as if it were a 2-channel file."""
    root = _candor(tmp_path, csv="turn_id,speaker,start,stop,utterance\n0,5f2a,0.4,2.5,hi\n")
    (root / "0a1b2c3d-uuid" / "processed" / "0c1b.wav").unlink()
    with pytest.raises(AudioError, match=r"transcript_audiophile.csv: names one speaker "
                       r"\['5f2a'\], and \S+ holds only that speaker's file 5f2a.wav: the "
                       r"silent partner's channel is missing"):
        CandorCorpus(root).dialogue("0a1b2c3d-uuid")
    (root / "0a1b2c3d-uuid" / "processed" / "5f2a.wav").unlink()  # no sound file at all
    with pytest.raises(AudioError, match=r"found 0 sound files"):
        CandorCorpus(root).dialogue("0a1b2c3d-uuid")
