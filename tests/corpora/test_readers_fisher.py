"""The Fisher reader (duplexsim/corpora/fisher.py) on tiny fixtures laid out as LDC
ships them: transcripts and SPHERE audio, BBN's originals, calldata tables, linked
releases, and its errors. Owns the Fisher fixtures the other reader tests use."""

from __future__ import annotations

import numpy as np
import pytest

from duplexsim.audio.io import AudioError, write_audio
from duplexsim.corpora import (
    CorpusFormatError,
    FisherCorpus,
    open_corpus,
)

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
