"""What the real-layout readers (Fisher, CANDOR) share: an empty folder, a tree read by
split, checks that catch silently wrong data, unknown ids, transcripts without segments
or with times that are no plain number; transcripts written and read back; and the
Dialogue they give (swap, crop, VAD)."""

from __future__ import annotations

import numpy as np
import pytest
from test_readers_candor import BACKBITER, CSV, _candor  # (tests/corpora is on the path)
from test_readers_fisher import _fisher, _tone  # (tests/corpora is on the path)

from duplexsim.audio.io import write_audio
from duplexsim.corpora import (
    CandorCorpus,
    CorpusFormatError,
    Dialogue,
    FisherCorpus,
    Segment,
    open_corpus,
)
from duplexsim.errors import InputError


def test_empty_corpus_directory(tmp_path) -> None:
    with pytest.raises(CorpusFormatError, match="empty corpus"):
        FisherCorpus(tmp_path)
    with pytest.raises(CorpusFormatError, match="empty corpus"):
        CandorCorpus(tmp_path)
    with pytest.raises(CorpusFormatError, match="empty corpus directory"):
        open_corpus(tmp_path)


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
