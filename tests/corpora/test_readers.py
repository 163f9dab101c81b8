"""Real-layout readers (Fisher, CANDOR) on tiny fixtures, and their errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from duplexsim.audio.io import AudioError, write_audio
from duplexsim.corpora import (
    CandorCorpus,
    CorpusFormatError,
    Dialogue,
    FisherCorpus,
    Segment,
    open_corpus,
)
from duplexsim.errors import InputError

FISHER_TXT = """# fe_03_00001.sph

0.50 2.10 A: hello this is john
2.30 3.00 B: hi john
# a comment in the middle
3.20 5.75 A: so what do you think about pets

"""


def _tone(seconds: float, sr: int, channels: int = 2) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return np.stack([0.1 * np.sin(2 * np.pi * (200 + 100 * c) * t) for c in range(channels)])


def _fisher(root, audio=True, sr=8000, channels=2):
    (root / "trans").mkdir(parents=True)
    (root / "trans" / "fe_03_00001.txt").write_text(FISHER_TXT)
    if audio:
        write_audio(root / "audio" / "fe_03_00001.flac", _tone(6, sr, channels), sr)
    return root


def test_fisher_reader(tmp_path) -> None:
    corpus = FisherCorpus(_fisher(tmp_path))
    assert corpus.ids() == ["fe_03_00001"]
    d = corpus.dialogue("fe_03_00001")
    assert [(s.speaker, s.start_s, s.end_s) for s in d.segments] == [
        (0, 0.5, 2.1), (1, 2.3, 3.0), (0, 3.2, 5.75)]
    assert d.segments[2].text == "so what do you think about pets"
    assert d.audio.shape == (2, 48000) and d.sample_rate_hz == 8000 and d.duration_s == 6.0
    assert isinstance(open_corpus(tmp_path), FisherCorpus)
    # without reading the audio (corpus stats), the length is still the recording's, not
    # the last segment's end (5.75 s: the trailing silence dropped, per-minute rates high)
    assert corpus.dialogue("fe_03_00001", audio=False).duration_s == 6.0


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"channels": 1}, "mono audio, but 2 channels are required"),
    ({"sr": 16000}, "sample rate 16000 Hz, expected 8000 Hz"),
    ({"audio": False}, r"fe_03_00001.txt: refers to audio fe_03_00001.flac.*none found"),
])
def test_fisher_audio_errors(tmp_path, kwargs, match) -> None:
    corpus = FisherCorpus(_fisher(tmp_path, **kwargs))
    with pytest.raises(AudioError, match=match):
        corpus.dialogue("fe_03_00001")


def test_fisher_two_different_audio_files_of_one_call_are_an_error(tmp_path) -> None:
    """Two different copies of a call's audio in one format (e.g. converted twice, into two
    folders) were not an error, unlike two transcripts: the later one in path order was
    read, whichever it was. One copy per format, or the same bytes twice, is fine, and a
    FLAC beside the release's SPHERE is read before it."""
    root = _fisher(tmp_path)
    write_audio(root / "again" / "fe_03_00001.flac", _tone(6, 8000) * 0.5, 8000)
    with pytest.raises(CorpusFormatError, match=r"audio/fe_03_00001.flac: a second, different "
                       r".flac file of call fe_03_00001 \(the first: .*again/fe_03_00001.flac"):
        FisherCorpus(root)
    (root / "again" / "fe_03_00001.flac").write_bytes(
        (root / "audio" / "fe_03_00001.flac").read_bytes())
    assert FisherCorpus(root).audio_path("fe_03_00001") == root / "again" / "fe_03_00001.flac"
    (root / "again" / "fe_03_00001.flac").unlink()
    write_audio(root / "fe_03_00001.wav", _tone(6, 8000) * 0.5, 8000)
    assert FisherCorpus(root).audio_path("fe_03_00001") == root / "audio" / "fe_03_00001.flac"


def test_fisher_malformed_line_and_shorten(tmp_path) -> None:
    root = _fisher(tmp_path, audio=False)
    (root / "trans" / "fe_03_00002.txt").write_text("# x\n\n1.0 2.0 A: fine\n1.5 oops C: bad\n")
    with pytest.raises(CorpusFormatError, match=r"fe_03_00002.txt:4: malformed line"):
        FisherCorpus(root).dialogue("fe_03_00002", audio=False)
    head = b"NIST_1A\n   1024\nsample_coding -s26 pcm,embedded-shorten-v2.00\nend_head\n"
    (root / "fe_03_00001.sph").write_bytes(head.ljust(1024, b" ") + b"\0" * 64)
    with pytest.raises(AudioError, match="sph2pipe"):
        FisherCorpus(root).dialogue("fe_03_00001")
    # its header still tells the call's length, for statistics over the transcripts
    head = head.replace(b"end_head", b"sample_count -i 64000\nsample_rate -i 8000\nend_head")
    (root / "fe_03_00001.sph").write_bytes(head.ljust(1024, b" ") + b"\0" * 64)
    assert FisherCorpus(root).dialogue("fe_03_00001", audio=False).duration_s == 8.0


def test_empty_corpus_directory(tmp_path) -> None:
    with pytest.raises(CorpusFormatError, match="empty corpus"):
        FisherCorpus(tmp_path)
    with pytest.raises(CorpusFormatError, match="empty corpus"):
        CandorCorpus(tmp_path)
    with pytest.raises(CorpusFormatError, match="empty corpus directory"):
        open_corpus(tmp_path)


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


def test_a_real_tree_read_by_split_is_an_error_not_every_conversation(tmp_path) -> None:
    """``ids("test")`` and ``dialogues("test")`` of a Fisher or CANDOR tree gave every
    conversation, as if the tree were one split (``corpus stats --split`` refuses it)."""
    for corpus in (FisherCorpus(_fisher(tmp_path / "fisher")),
                   CandorCorpus(_candor(tmp_path / "candor"))):
        assert len(corpus.ids()) == len(list(corpus.dialogues(audio=False))) == 1
        for split in ("test", "train"):
            with pytest.raises(InputError, match=rf"^\S+: split: '{split}': a {corpus.name} "
                               r"tree has no splits \(allowed: None, the whole tree "
                               r"\(`duplexsim corpus import` gives it train/val/test "
                               r"splits\)\)$"):
                corpus.ids(split)
            with pytest.raises(InputError, match="tree has no splits"):
                next(corpus.dialogues(split, audio=False))


def test_reader_checks_that_catch_silently_wrong_data(tmp_path) -> None:
    """An audit found each of these read without a word: one stereo file with no channel
    map (speakers paired with the other's audio in about half the calls), a map naming
    one speaker twice, times past the audio (milliseconds), a Latin-1 Fisher line (turned
    into U+FFFD), two different copies of one call; per-speaker files of different
    lengths were cut to the shorter one."""
    root = _candor(tmp_path / "nomap", per_speaker=False)
    (root / "0a1b2c3d-uuid" / "processed" / "channel_map.json").unlink()
    with pytest.raises(CorpusFormatError, match="channel_map.json: not found"):
        CandorCorpus(root).dialogue("0a1b2c3d-uuid")
    (root / "0a1b2c3d-uuid" / "processed" / "channel_map.json").write_text(
        '{"L": "0c1b", "R": "0c1b"}')
    with pytest.raises(CorpusFormatError, match="L and R are the same speaker"):
        CandorCorpus(root).dialogue("0a1b2c3d-uuid")
    ms = CSV.replace("4.20,5.10", "4200,5100")
    with pytest.raises(InputError, match=r"^\S+/transcription/transcript_audiophile.csv: "
                       "segments run to 5100 s but the audio of 0a1b2c3d-uuid lasts 6.0 s"):
        CandorCorpus(_candor(tmp_path / "ms", csv=ms)).dialogue("0a1b2c3d-uuid")
    fisher_ms = _fisher(tmp_path / "fisher_ms")
    (fisher_ms / "trans" / "fe_03_00001.txt").write_text("500 5750 A: hi\n")
    with pytest.raises(InputError, match=r"^\S+/trans/fe_03_00001.txt: segments run to 5750"):
        FisherCorpus(fisher_ms).dialogue("fe_03_00001")
    uneven = _candor(tmp_path / "uneven")
    write_audio(uneven / "0a1b2c3d-uuid" / "processed" / "5f2a.wav", _tone(3, 16000, 1)[0],
                16000)
    d = CandorCorpus(uneven).dialogue("0a1b2c3d-uuid")
    assert d.audio.shape == (2, 96000) and not d.audio[1, 48000:].any()
    trans = tmp_path / "fisher" / "data" / "trans" / "000"
    trans.mkdir(parents=True)
    (trans / "fe_03_00001.txt").write_bytes(b"# fe_03_00001.sph\n\n0.36 1.60 A: caf\xe9\n")
    with pytest.raises(CorpusFormatError, match=r"fe_03_00001.txt:3: not UTF-8"):
        FisherCorpus(tmp_path / "fisher").dialogue("fe_03_00001", audio=False)
    (trans / "fe_03_00001.txt").write_text("0.36 1.60 A: hi\n")
    copy = tmp_path / "fisher" / "copy" / "000"
    copy.mkdir(parents=True)
    (copy / "fe_03_00001.txt").write_text("0.36 1.90 A: hi\n")
    with pytest.raises(CorpusFormatError, match="a second, different transcript of call"):
        FisherCorpus(tmp_path / "fisher")
    (copy / "fe_03_00001.txt").write_text("0.36 1.60 A: hi\n")  # the same copy twice: fine
    assert FisherCorpus(tmp_path / "fisher").ids() == ["fe_03_00001"]


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


def test_fisher_reads_a_real_ldc_tree(tmp_path) -> None:
    """LDC2004T19 ships doc/fe_03_readme.txt beside data/trans/NNN/fe_03_NNNNN.txt: only
    call ids are transcripts. A BOM is not part of the first line."""
    tran = tmp_path / "fe_03_p1_tran"
    (tran / "doc").mkdir(parents=True)
    (tran / "doc" / "fe_03_readme.txt").write_text("   Fisher English Training Speech Part 1\n")
    (tran / "data" / "trans" / "000").mkdir(parents=True)
    (tran / "data" / "trans" / "000" / "fe_03_00001.txt").write_text(FISHER_TXT,
                                                                    encoding="utf-8-sig")
    corpus = open_corpus(tmp_path)
    assert isinstance(corpus, FisherCorpus) and corpus.ids() == ["fe_03_00001"]
    assert len(corpus.dialogue("fe_03_00001", audio=False).segments) == 3


LDC_TXT = "".join(f"{line}\n" for line in [  # LDC's lines end in a blank
    "# fe_03_00001.sph", "# Transcribed at the LDC", "",
    "0.36 1.60 A: (( mm )) and i generally prefer ", "",
    "1.50 2.48 B: hi my name is [laughter] andy ", "",
    "2.50 2.50 A: (( )) "])


def test_fisher_reads_ldc_transcripts_and_u_law_sphere(tmp_path) -> None:
    """LDC2004T19's transcripts (two header lines, a blank line after each utterance, a
    trailing blank, (( )) and [laughter] kept as text) beside LDC2004S13's speech as
    `sph2pipe -f sph` leaves it (the release's is shorten-compressed u-law): 2-channel 8 kHz
    u-law SPHERE, in the release's fe_03_p1_sph1/audio/NNN/ folders; side A on channel 0."""
    import soundfile as sf

    trans = tmp_path / "LDC2004T19" / "fe_03_p1_tran" / "data" / "trans" / "000"
    trans.mkdir(parents=True)
    (trans / "fe_03_00001.txt").write_text(LDC_TXT)
    speech = tmp_path / "LDC2004S13" / "fe_03_p1_sph1"
    (speech / "audio" / "000").mkdir(parents=True)
    (speech / "filetable.txt").write_text("fe_03_p1_sph1 fe_03_00001.sph mf\n")
    wave = _tone(3, 8000) * np.array([[1.0], [4.0]])  # side B 12 dB louder
    sf.write(speech / "audio" / "000" / "fe_03_00001.sph", wave.T, 8000, format="NIST",
             subtype="ULAW")
    corpus = open_corpus(tmp_path)
    assert isinstance(corpus, FisherCorpus) and corpus.ids() == ["fe_03_00001"]
    d = corpus.dialogue("fe_03_00001")
    assert [(s.speaker, s.start_s, s.end_s, s.text) for s in d.segments] == [
        (0, 0.36, 1.6, "(( mm )) and i generally prefer"),
        (1, 1.5, 2.48, "hi my name is [laughter] andy"), (0, 2.5, 2.5, "(( ))")]
    assert d.audio.shape == (2, 24000) and d.sample_rate_hz == 8000
    np.testing.assert_allclose(d.audio, wave, atol=0.02)  # u-law's step near 0.4


def test_fisher_11487s_known_transcript_error_is_corrected_as_lhotse_corrects_it(
        tmp_path) -> None:
    """LDC's fe_03_11487.txt has a line "31.09 234.06" that starts at 231.09 (lhotse's
    recipe patches it): it was read as a 203 s segment, a turn gap statistics and units
    took for speech. Only that call's line is corrected."""
    trans = tmp_path / "fe_03_p2_tran" / "data" / "trans" / "114"
    trans.mkdir(parents=True)
    lines = ["# fe_03_11487.sph", "# Transcribed at the LDC", "",
             "228.40 230.88 B: yeah i i think so ", "",
             "31.09 234.06 A: and then we moved out to the coast ", "",
             "234.51 235.30 B: oh ", ""]
    (trans / "fe_03_11487.txt").write_text("".join(f"{line}\n" for line in lines))
    (trans / "fe_03_11488.txt").write_text(  # the same times in another call: as written
        "".join(f"{line}\n" for line in lines).replace("11487", "11488"))
    corpus = FisherCorpus(tmp_path)
    fixed = corpus.dialogue("fe_03_11487", audio=False).segments
    assert [(s.speaker, s.start_s, s.end_s) for s in fixed] == [
        (1, 228.4, 230.88), (0, 231.09, 234.06), (1, 234.51, 235.3)]
    other = corpus.dialogue("fe_03_11488", audio=False).segments
    assert (other[1].start_s, other[1].end_s) == (31.09, 234.06)


def test_a_fisher_transcript_whose_header_names_another_call_is_an_error(tmp_path) -> None:
    """fe_03_00002.txt holding call 00001's transcript (copied or renamed) was read with
    call 00002's audio: another conversation's times and speakers, silently. LDC's first
    line names the call; other headers (a duplexsim corpus's "# <id>.flac") are no call."""
    root = _fisher(tmp_path, audio=False)
    (root / "trans" / "fe_03_00002.txt").write_text(LDC_TXT)
    with pytest.raises(CorpusFormatError, match=r"fe_03_00002.txt:1: the header names call "
                       r"fe_03_00001, not fe_03_00002 \(allowed: the call the file is named"):
        FisherCorpus(root).dialogue("fe_03_00002", audio=False)
    (root / "trans" / "fe_03_00002.txt").write_text(LDC_TXT.replace("00001", "00002"))
    assert len(FisherCorpus(root).dialogue("fe_03_00002", audio=False).segments) == 3


def test_fisher_calls_are_in_call_order_whatever_folders_hold_them(tmp_path) -> None:
    """The ids came in path order: the same calls unpacked under other folder names (an
    import's split is drawn over this order) came in another order."""
    for root, folders in ((tmp_path / "flat", ("", "")), (tmp_path / "nested", ("b", "a"))):
        for folder, call in zip(folders, ("fe_03_00001", "fe_03_00002"), strict=True):
            (root / folder).mkdir(parents=True, exist_ok=True)
            (root / folder / f"{call}.txt").write_text("0.5 1.0 A: hi\n")
        assert FisherCorpus(root).ids() == ["fe_03_00001", "fe_03_00002"]


def test_fisher_releases_linked_under_one_root_are_read(tmp_path) -> None:
    """LDC ships the transcripts (LDC2004T19) and the speech (LDC2004S13) apart; a root
    holding a link to each read as an empty corpus (rglob does not enter linked folders).
    A link back up the tree is walked once."""
    _fisher(tmp_path / "ldc")
    root = tmp_path / "fisher"
    root.mkdir()
    (root / "LDC2004T19").symlink_to(tmp_path / "ldc" / "trans")
    (root / "LDC2004S13").symlink_to(tmp_path / "ldc" / "audio")
    (root / "LDC2004T19" / "loop").symlink_to(root)
    corpus = open_corpus(root)
    assert isinstance(corpus, FisherCorpus) and corpus.ids() == ["fe_03_00001"]
    assert corpus.source_files("fe_03_00001") == [
        root / "LDC2004T19" / "fe_03_00001.txt", root / "LDC2004S13" / "fe_03_00001.flac"]
    assert corpus.dialogue("fe_03_00001").audio.shape == (2, 48000)


@pytest.mark.parametrize(("line", "match"), [
    ("1.0 inf A: hi", "finite"), ("1.0 1e10 A: hi", "<= 86400"), ("-5.0 2.0 A: hi", "0 <= start_s"),
    ("nan 3.0 B: hi", "finite")])
def test_fisher_times_must_be_finite_and_in_a_day(tmp_path, line, match) -> None:
    root = _fisher(tmp_path, audio=False)
    (root / "trans" / "fe_03_00002.txt").write_text(f"# x\n\n{line}\n")
    with pytest.raises(CorpusFormatError, match=rf"fe_03_00002.txt:3: malformed line.*{match}"):
        FisherCorpus(root).dialogue("fe_03_00002", audio=False)


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


def test_a_written_transcript_where_only_b_speaks_stays_on_channel_1(tmp_path) -> None:
    """A short built conversation can have speaker B alone: read with the ids the writer
    uses (A = channel 0), not the sorted ids found (B would become channel 0)."""
    from duplexsim.corpora import candor

    path = tmp_path / "t.csv"
    candor.write_transcript(path, [Segment(1, 0.5, 1.5, "hi")])
    assert candor.read_transcript(path)[0][0].speaker == 0  # a real tree: sorted ids
    segs, speakers = candor.read_transcript(path, list(candor.WRITTEN_SPEAKERS))
    assert speakers == ["A", "B"] and segs[0].speaker == 1


def test_a_fisher_transcript_read_back_has_speakers_times_and_texts_only(tmp_path) -> None:
    """Fisher's format has no kind or count: written and read back, segments keep speaker,
    times to the ms and text, in start order, and read as IPUs counting 1 (a corpus reads
    its CANDOR CSV for those). A text's line break is a space: written as is, it made a
    line of its own, which the reader refused as malformed."""
    from duplexsim.corpora import fisher

    segs = [Segment(1, 2.0, 3.9, "Yeah. Mhm.", "backchannel", 2),
            Segment(0, 0.4, 6.5004, "hi\nthere")]
    path = tmp_path / "fe_03_00001.txt"
    fisher.write_transcript(path, segs)
    assert fisher.read_transcript(path) == [Segment(0, 0.4, 6.5, "hi there"),
                                            Segment(1, 2.0, 3.9, "Yeah. Mhm.")]


def test_a_written_transcript_keeps_each_segments_count(tmp_path) -> None:
    """write_transcript dropped Segment.count (a backbiter row's backchannel_count 2 read
    back as 1). A ``count`` column is written where some count is not 1 and read back; with
    every count 1 the file has no such column (the bytes written before it existed); a bad
    cell is a malformed row, as backchannel_count is."""
    from duplexsim.corpora import candor

    segs = [Segment(0, 0.4, 6.5, "hi there"), Segment(1, 2.0, 3.9, "Yeah. Mhm.",
                                                      "backchannel", 2)]
    path = tmp_path / "t.csv"
    candor.write_transcript(path, segs)
    assert path.read_text().splitlines()[0] == "turn_id,speaker,start,stop,utterance,kind,count"
    assert candor.read_transcript(path, list(candor.WRITTEN_SPEAKERS))[0] == segs
    ones = [Segment(0, 0.4, 6.5, "hi there"), Segment(1, 2.0, 3.9, "Yeah", "backchannel")]
    candor.write_transcript(path, ones)
    assert path.read_text() == ("turn_id,speaker,start,stop,utterance,kind\n"
                                "0,A,0.400,6.500,hi there,ipu\n1,B,2.000,3.900,Yeah,backchannel\n")
    assert candor.read_transcript(path, list(candor.WRITTEN_SPEAKERS))[0] == ones
    path.write_text("turn_id,speaker,start,stop,utterance,kind,count\n"
                    "0,A,0.400,6.500,hi there,ipu,\n1,B,2.000,3.900,Yeah,backchannel,0\n")
    with pytest.raises(CorpusFormatError, match=r"t.csv:3: malformed row: count '0' "
                       r"\(allowed: a whole number >= 1\)$"):
        candor.read_transcript(path)


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


def test_dialogue_swap_crop_vad() -> None:
    segs = [Segment(0, 0.0, 1.0, "a"), Segment(1, 0.8, 2.0, "yeah", "backchannel")]
    units = np.zeros((2, 75), dtype=np.int64)
    units[0, :25] = 5
    d = Dialogue("x", segs, units)
    assert d.duration_s == 3.0
    s = d.swapped()
    assert s.segments[0].speaker == 1 and np.array_equal(s.units[1], d.units[0])
    c = d.crop(0.5, 1.5)
    assert c.units.shape == (2, 25) and c.duration_s == 1.0
    assert [(x.start_s, x.end_s) for x in c.segments] == [(0.0, 0.5), (0.30000000000000004, 1.0)]
    vad = d.segment_vad()
    assert vad.shape == (2, 75) and vad[0, :25].all() and not vad[0, 25:].any()
    assert vad[1, 20:50].all() and not vad[1, :20].any()
    with pytest.raises(ValueError, match="kind"):
        Segment(0, 0, 1, kind="laugh")


def test_crop_and_vad_round_frame_edges_half_up_as_computed() -> None:
    """Edges go half up (duplexsim.timebase.round_half_up): 0.62 s is frame 15.5 -> 16
    (round() gave 16 but 0.66 s, 16.5, gave 16 too); 0.58 s * 25 = 14.499999999999998 stays
    frame 14, as every corpus built so far has it (not snapped like a user's seconds)."""
    segs = [Segment(0, 0.58, 0.66, "a"), Segment(1, 0.62, 1.0, "b")]
    d = Dialogue("x", segs, np.arange(2 * 50, dtype=np.int64).reshape(2, 50))
    vad = d.segment_vad()
    assert np.flatnonzero(vad[0]).tolist() == [14, 15, 16]
    assert np.flatnonzero(vad[1])[0] == 16
    assert d.crop(0.66, 1.5).units[0, 0] == 17 and d.crop(0.58, 1.5).units[0, 0] == 14


def test_vad_length_rounds_half_up_as_its_edges_do() -> None:
    """A transcript read without audio lasts to its last segment's end; at a half-frame
    (0.66 s, frame 16.5) the VAD is 17 frames long and keeps the segment's last frame, 16,
    which its edge, rounded half up, includes (round() made it 16 frames and dropped it:
    3 of the 240 dialogues of the demo corpora's Fisher and CANDOR exports)."""
    vad = Dialogue("x", [Segment(0, 0.0, 0.66, "a")]).segment_vad()
    assert vad.shape == (2, 17) and vad[0].all()


def test_an_unknown_conversation_id_is_an_error_naming_the_ids(tmp_path) -> None:
    """FisherCorpus / CandorCorpus .dialogue and .source_files of an id they lack (a typo)
    raised a bare KeyError."""
    fisher_corpus = FisherCorpus(_fisher(tmp_path / "f"))
    candor_corpus = CandorCorpus(_candor(tmp_path / "c"))
    for corpus, known in ((fisher_corpus, "fe_03_00001"), (candor_corpus, "0a1b2c3d-uuid")):
        for method in (corpus.dialogue, corpus.source_files):
            with pytest.raises(InputError, match=rf"no conversation 'x' \(allowed: {known}\)"):
                method("x")


def test_a_crop_past_the_end_is_an_error_not_a_negative_duration() -> None:
    """crop(12, 20) of a 10 s dialogue gave duration -2 s and no units, without a word."""
    d = Dialogue("x", [Segment(0, 1.0, 2.0)], units=np.zeros((2, 250), np.int64))
    for start in (10.0, 12.0):
        with pytest.raises(ValueError, match=rf"Dialogue x: crop from {start:g} s .*10 s"):
            d.crop(start, 20.0)
    assert d.crop(9.0, 20.0).duration_s == 1.0


def test_a_truncated_sphere_file_is_an_error_naming_it(tmp_path) -> None:
    """libsndfile reads as many samples as a cut-off copy holds: a Fisher .sph truncated in
    its trailing silence was read short without a word, and one truncated mid-call blamed
    the transcript ("segments run to 5.75 s but the audio lasts 1.9 s ... times in
    seconds"). The SPHERE header's sample_count tells the real length."""
    import soundfile as sf

    root = _fisher(tmp_path, audio=False)
    sph = root / "audio" / "fe_03_00001.sph"
    sph.parent.mkdir()
    sf.write(sph, _tone(6, 8000).T, 8000, format="NIST", subtype="PCM_16")
    assert FisherCorpus(root).dialogue("fe_03_00001").audio.shape == (2, 48000)
    sph.write_bytes(sph.read_bytes()[:1024 + 4 * 47000])  # the last 1000 samples missing
    with pytest.raises(AudioError, match=r"fe_03_00001.sph: truncated: its SPHERE header "
                       r"gives 48000 samples per channel \(6.0 s\), the file holds 47000"):
        FisherCorpus(root).dialogue("fe_03_00001")


@pytest.mark.parametrize("kind", ["fisher", "candor"])
def test_a_transcript_without_segments_is_an_error_not_a_silent_call(tmp_path, kind) -> None:
    """A cut-off copy (0 bytes, or the header only) was read as a conversation in which
    nobody speaks: `corpus import` imported it and `corpus stats` counted its minutes."""
    if kind == "fisher":
        root = _fisher(tmp_path)
        path = root / "trans" / "fe_03_00001.txt"
        path.write_text("# fe_03_00001.sph\n# Transcribed at the LDC\n\n")
        corpus, id = FisherCorpus(root), "fe_03_00001"
    else:
        root = _candor(tmp_path)
        (id,) = CandorCorpus(root).ids()
        path = root / id / "transcription" / "transcript_audiophile.csv"
        path.write_text(CSV.splitlines()[0] + "\n")
        corpus = CandorCorpus(root)
    for audio in (False, True):
        with pytest.raises(CorpusFormatError, match=rf"^{path}: no segments \(allowed: at least"):
            corpus.dialogue(id, audio=audio)


@pytest.mark.parametrize("time", ["1_000", "\u0661\u0660", "nan", "-inf", "0x10"])
def test_a_time_that_is_no_plain_number_is_an_error_naming_file_line_and_column(
        tmp_path, time) -> None:
    """float() read '1_000' as 1000 s and Arabic-Indic digits as digits: a transcript of
    wrong times read without a word."""
    root = _fisher(tmp_path / "f", audio=False)
    (root / "trans" / "fe_03_00002.txt").write_text(f"# x\n\n0.5 {time} A: hi\n")
    with pytest.raises(CorpusFormatError, match=rf"fe_03_00002.txt:3: malformed line.*: end "
                       rf"'{time}' is not a time in seconds"):
        FisherCorpus(root).dialogue("fe_03_00002", audio=False)
    root = _candor(tmp_path / "c", csv=CSV + f"3,0c1b,{time},6.0,oops,0,0\n")
    with pytest.raises(CorpusFormatError, match=rf"transcript_audiophile.csv:5: malformed row: "
                       rf"start '{time}' is not a time in seconds"):
        CandorCorpus(root).dialogue("0a1b2c3d-uuid", audio=False)
    bc = BACKBITER.replace("2.00,2.40", f"2.00,{time}")
    root = _candor(tmp_path / "b", style="backbiter", csv=bc)
    with pytest.raises(CorpusFormatError, match=rf"transcript_backbiter.csv:2: malformed row: "
                       rf"backchannel_stop '{time}' is not a time in seconds"):
        CandorCorpus(root, style="backbiter").dialogue("0a1b2c3d-uuid", audio=False)


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


def test_fisher_release_folder_with_bbn_orig_reads_data_trans_and_says_so(tmp_path) -> None:
    """LDC2004T19's top folder holds data/bbn_orig/NNN/{auto-segmented,reject,originals}/
    (BBN's own transcripts of its calls) beside data/trans/: data/trans is read, bbn_orig
    skipped in one line; pointed at bbn_orig itself, the error names data/trans."""
    tran = tmp_path / "fe_03_p1_tran"
    (tran / "data" / "trans" / "000").mkdir(parents=True)
    (tran / "data" / "trans" / "000" / "fe_03_00001.txt").write_text(FISHER_TXT)
    bbn = tran / "data" / "bbn_orig" / "000"
    for folder, name, text in [("originals", "fe_03_00001.txo", "L:  Hi.\n"),
                               ("auto-segmented", "fe_03_00001.txt", "0.0 1.0 A: hi\n")]:
        (bbn / folder).mkdir(parents=True)
        (bbn / folder / name).write_text(text)
    corpus = open_corpus(tran)
    assert isinstance(corpus, FisherCorpus) and corpus.ids() == ["fe_03_00001"]
    assert corpus.transcript_path("fe_03_00001") == tran / "data/trans/000/fe_03_00001.txt"
    assert corpus.read_summary() == (
        "read 1 call transcripts (fe_03_NNNNN.txt); skipped 2 files of BBN's original "
        f"transcripts in bbn_orig/ (data/trans holds the same calls) (e.g. "
        f"{bbn / 'auto-segmented' / 'fe_03_00001.txt'})")
    with pytest.raises(CorpusFormatError, match=r"bbn_orig: BBN's original transcripts "
                       r"\(bbn_orig/\), which duplexsim does not read \(allowed: the "
                       r"release's folder holding data/trans/"):
        open_corpus(tran / "data" / "bbn_orig")


@pytest.mark.parametrize("table, match", [
    ("CALL_ID,APIN\n00001,1\n", r"fe_03_p1_calldata.tbl:1: no column BPIN in the header"),
    ("CALL_ID,APIN,BPIN\n1,1,2\n", r"fe_03_p1_calldata.tbl:2: CALL_ID '1', APIN '1', BPIN "
     r"'2' \(allowed: a five-digit call id"),
    ("CALL_ID,APIN,BPIN\n00001,1,2\n00001,1,3\n", r"fe_03_p1_calldata.tbl:3: call 00001 "
     r"with PINs 1, 3; an earlier row gives 1, 2"),
    # not UTF-8 (a hand-edited table saved as Latin-1) and a quote never closed: these were
    # a raw UnicodeDecodeError / csv.Error traceback
    (b"CALL_ID,APIN,BPIN,NOTE\n00001,1,2,ok\n00002,3,4,caf\xe9\n",
     r"fe_03_p1_calldata.tbl:3: not UTF-8 text \(invalid continuation byte at byte 49\)"),
    (b'CALL_ID,APIN,BPIN\n00001,1,"2\n' + b"x" * 140_000,
     r"fe_03_p1_calldata.tbl:\d+: malformed CSV: field larger than field limit"),
])
def test_a_malformed_calldata_table_is_an_error_naming_file_and_line(tmp_path, table,
                                                                     match) -> None:
    from duplexsim.corpora.fisher import call_pins

    (tmp_path / "doc").mkdir()
    (tmp_path / "doc" / "fe_03_p1_calldata.tbl").write_bytes(
        table if isinstance(table, bytes) else table.encode())
    with pytest.raises(CorpusFormatError, match=match) as info:
        call_pins([tmp_path / "doc" / "fe_03_p1_calldata.tbl"])
    assert "\n" not in str(info.value)


def test_a_calldata_table_with_spaced_header_names_or_blank_lines_is_read(tmp_path) -> None:
    """A header written ``CALL_ID, APIN, BPIN`` was refused as "no column APIN, BPIN", and a
    whitespace-only line (a hand-edited table's last) as a row with CALL_ID ''."""
    from duplexsim.corpora.fisher import call_pins

    table = tmp_path / "fe_03_p1_calldata.tbl"
    table.write_text("CALL_ID, APIN ,BPIN\n00001, 1, 2\n  \n00002,3,4\n , ,\n \t\n,,,,\n")
    assert call_pins([table]) == {"fe_03_00001": ("1", "2"), "fe_03_00002": ("3", "4")}


def _count_listings(monkeypatch) -> list[str]:
    """The folders os.scandir lists from now on (os.walk lists each folder with it)."""
    import os

    listed: list[str] = []
    real_scandir = os.scandir

    def counting_scandir(path="."):
        listed.append(os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", counting_scandir)
    return listed


def test_fisher_reader_lists_each_folder_of_the_tree_once(tmp_path, monkeypatch) -> None:
    """The reader walked the tree six times (transcripts, BBN's originals, each audio
    extension, other .txt), and an import by speaker four more for LDC's calldata tables:
    ~30,000 folder listings of a full Fisher unpack instead of ~3,000. Now one walk gives
    the transcripts, audio, skipped files and tables, in the same order."""
    tran, speech = tmp_path / "fe_03_p1_tran", tmp_path / "fe_03_p1_sph1"
    (tran / "doc").mkdir(parents=True)
    (tran / "doc" / "fe_03_readme.txt").write_text("Fisher English Training Part 1\n")
    (tran / "doc" / "fe_03_p1_calldata.tbl").write_text(
        "CALL_ID,APIN,BPIN\n00001,100,101\n00002,102,100\n")
    for call, folder in (("fe_03_00002", "001"), ("fe_03_00001", "000")):
        (tran / "data" / "trans" / folder).mkdir(parents=True)
        (tran / "data" / "trans" / folder / f"{call}.txt").write_text(FISHER_TXT.replace(
            "fe_03_00001", call))
        write_audio(speech / "audio" / folder / f"{call}.flac", _tone(6, 8000), 8000)
    (tran / "data" / "bbn_orig" / "000" / "originals").mkdir(parents=True)
    (tran / "data" / "bbn_orig" / "000" / "originals" / "fe_03_00001.txo").write_text("L: hi\n")
    (speech / "audio" / "000" / "fe_03_00003.wav").write_bytes(b"")  # no transcript
    folders = sorted([str(tmp_path), *(str(p) for p in tmp_path.rglob("*") if p.is_dir())])
    listed = _count_listings(monkeypatch)
    corpus = FisherCorpus(tmp_path)
    assert sorted(listed) == folders  # 15 folders, each listed once
    assert corpus.ids() == ["fe_03_00001", "fe_03_00002"]
    assert corpus.source_files("fe_03_00002") == [tran / "data/trans/001/fe_03_00002.txt",
                                                  speech / "audio/001/fe_03_00002.flac"]
    assert corpus.read_counts() == {"transcripts": 2, "second_copies": 0, "other_txt": 1,
                                    "audio_without_transcript": 1, "bbn_orig": 1}
    assert corpus.calldata_tables == [tran / "doc" / "fe_03_p1_calldata.tbl"]
    assert corpus.call_pins() == {"fe_03_00001": ("100", "101"), "fe_03_00002": ("102", "100")}
    assert sorted(listed) == folders  # the PINs come from the walk's tables
