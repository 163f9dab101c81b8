"""`duplexsim corpus import --split-by speaker`: Fisher calls sharing a speaker (PIN, from
LDC's calldata tables) go into one split; recorded in import.json for a resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_importer import N_UNITS, _tokenizer, candor_tree, fisher_tree

from duplexsim.cli import main

CALLDATA_HEADER = ("CALL_ID,DATE_TIME,TOPICID,SIG_GRADE,CNV_GRADE,APIN,ASX.DL,APHNUM,APHSET,"
                   "APHTYP,BPIN,BSX.DL,BPHNUM,BPHSET,BPHTYP")


def calldata(path: Path, pins: dict[int, tuple[int, int]]) -> None:
    """LDC's doc/fe_03_p1_calldata.tbl: its header, one row a call (CALL_ID 00001 is
    fe_03_00001; APIN/BPIN the speakers' PINs), the other columns as LDC fills them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [f"{call:05d},2003-01-01 00:00:00,ENG01,4,4,{a},f.a,x,4,3,{b},m.a,y,4,3"
            for call, (a, b) in pins.items()]
    path.write_text("\n".join([CALLDATA_HEADER, *rows]) + "\n")


def test_split_by_speaker_keeps_every_pin_in_one_split(tmp_path: Path, capsys) -> None:
    """By call, PIN 100 of calls 1-3 was in train and test (seed 0 put call 1 in test, 2
    and 3 in train); --split-by speaker keeps calls sharing a PIN together, held-out splits
    within split_counts' call counts (6 calls, 0.34 / 0.17: 2 test, 1 val), so the group of
    three stays in train. Recorded in import.json: a resume by call is refused."""
    tree = tmp_path / "tree"
    fisher_tree(tree, n=6)
    pins = {1: (100, 101), 2: (102, 100), 3: (100, 103), 4: (104, 105), 5: (106, 107),
            6: (108, 109)}
    calldata(tree / "doc" / "fe_03_p1_calldata.tbl", pins)
    _tokenizer(tmp_path / "units")
    shares = ["--test-share", "0.34", "--val-share", "0.17"]
    by_call, out = tmp_path / "by_call", tmp_path / "out"
    assert main(["corpus", "import", str(tree), "--tokenizer", str(tmp_path / "units"),
                 "--out", str(by_call), *shares]) == 0
    split = {d["id"]: d["split"] for d in json.loads((by_call / "manifest.json").read_text())
             ["dialogues"]}
    assert {split[f"fe_03_{i:05d}"] for i in (1, 2, 3)} == {"train", "test"}
    assert "split_by" not in json.loads((by_call / "import.json").read_text())  # as before
    capsys.readouterr()
    argv = ["corpus", "import", str(tree), "--tokenizer", str(tmp_path / "units"), "--out",
            str(out), *shares, "--split-by", "speaker"]
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-2:] == [
        "split by speaker: 10 speakers (PINs) in 4 groups of calls sharing one (largest 3 "
        "calls); no PIN in two splits",
        f"{out}: 6 fisher conversations (3 train, 1 val, 2 test), {N_UNITS} units at 8000 Hz"]
    split = {d["id"]: d["split"] for d in json.loads((out / "manifest.json").read_text())
             ["dialogues"]}
    assert {split[f"fe_03_{i:05d}"] for i in (1, 2, 3)} == {"train"}
    assert json.loads((out / "import.json").read_text())["split_by"] == "speaker"
    assert main(argv) == 0  # a resume with the same choice
    capsys.readouterr()
    assert main(argv[:-2]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith(f"{out}: split_by: holds an import made with "
                                               '"speaker", not "call"'), err
    assert main(["corpus", "import", str(tree), "--tokenizer", str(tmp_path / "units"),
                 "--out", str(by_call), *shares, "--split-by", "speaker"]) == 2
    assert 'split_by: holds an import made with "call", not "speaker"' in capsys.readouterr().err


def test_a_speaker_split_resume_refuses_calldata_tables_edited_since(tmp_path: Path,
                                                                      capsys) -> None:
    """import.json recorded --split-by speaker but not the calldata tables the grouping came
    from: a rerun after a table was edited silently rewrote the manifest with other splits
    (an agent trained on the old train split found its training calls in test). The
    tables' sha256 are recorded; a rerun whose tables differ is refused in one line naming
    the table; a table rewritten with the same bytes resumes."""
    tree = tmp_path / "tree"
    fisher_tree(tree, n=6)
    table = tree / "doc" / "fe_03_p1_calldata.tbl"
    pins = {i: (100 + 2 * i, 101 + 2 * i) for i in range(1, 7)}
    calldata(table, pins)
    _tokenizer(tmp_path / "units")
    out = tmp_path / "out"
    argv = ["corpus", "import", str(tree), "--tokenizer", str(tmp_path / "units"), "--out",
            str(out), "--test-share", "0.34", "--val-share", "0.17", "--split-by", "speaker"]
    assert main(argv) == 0
    record = json.loads((out / "import.json").read_text())
    assert list(record["calldata_sha256"]) == ["doc/fe_03_p1_calldata.tbl"]
    manifest = (out / "manifest.json").read_bytes()
    calldata(table, pins)  # the same bytes written again: no change
    assert main(argv) == 0
    calldata(table, {**pins, 4: (102, 100)})  # call 4 now shares a speaker with call 1
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith(
        f"{out}: calldata_sha256: holds an import split by speaker from calldata tables that "
        f"have changed since ({table} changed)"), err
    assert "an empty folder" in err[0]
    assert (out / "manifest.json").read_bytes() == manifest
    calldata(table, pins)
    del record["calldata_sha256"]  # a speaker import made before the tables were recorded
    (out / "import.json").write_text(json.dumps(record))
    assert main(argv) == 0  # nothing to compare: resumed, the tables now recorded
    assert "calldata_sha256" in json.loads((out / "import.json").read_text())
    assert (out / "manifest.json").read_bytes() == manifest


def test_split_by_speaker_walks_the_tree_no_more_than_split_by_call(tmp_path: Path,
                                                                     monkeypatch) -> None:
    """The speakers' PINs came from two more walks of the tree for each of the split and
    the summary line (one a calldata table name): 4 more walks of a full Fisher unpack.
    The reader finds the tables in its one walk and reads them once."""
    import os

    tree = tmp_path / "tree"
    fisher_tree(tree, n=3)
    calldata(tree / "doc" / "fe_03_p1_calldata.tbl", {1: (1, 2), 2: (3, 4), 3: (5, 6)})
    _tokenizer(tmp_path / "units")
    listed: dict[str, list[str]] = {"call": [], "speaker": []}
    real_scandir = os.scandir
    for split_by, folders in listed.items():
        def counting_scandir(path=".", folders=folders):
            if not isinstance(path, int) and Path(path).is_relative_to(tree):  # (an fd too)
                folders.append(os.fspath(path))
            return real_scandir(path)

        monkeypatch.setattr(os, "scandir", counting_scandir)
        assert main(["corpus", "import", str(tree), "--tokenizer", str(tmp_path / "units"),
                     "--out", str(tmp_path / split_by), "--split-by", split_by]) == 0
    assert sorted(listed["speaker"]) == sorted(listed["call"])
    assert sorted(listed["call"]) == sorted(str(tree / f) for f in (
        ".", "audio", "data", "data/trans", "data/trans/000", "doc",  # the reader
        ".", "audio", "data", "data/trans", "data/trans/000"))  # the tree's kind (open_corpus)


@pytest.mark.parametrize("case", ["no calldata", "call not in calldata", "candor"])
def test_split_by_speaker_without_the_speakers_is_refused_before_anything_is_written(
        tmp_path: Path, capsys, case) -> None:
    tree = tmp_path / "tree"
    if case == "candor":
        candor_tree(tree)
        message = f"{tree}: --split-by speaker: a candor tree: speakers are known for Fisher"
    else:
        fisher_tree(tree, n=3)
        message = (f"{tree}: --split-by speaker: no fe_03_p1_calldata.tbl or "
                   "fe_03_p2_calldata.tbl under the tree")
        if case == "call not in calldata":  # Part 2's calls without LDC2005T19's table
            calldata(tree / "doc" / "fe_03_p1_calldata.tbl", {1: (1, 2)})
            message = (f"{tree}: --split-by speaker: 2 of 3 calls (fe_03_00002, fe_03_00003) "
                       "are in no calldata table")
    _tokenizer(tmp_path / "units")
    assert main(["corpus", "import", str(tree), "--tokenizer", str(tmp_path / "units"),
                 "--out", str(tmp_path / "out"), "--split-by", "speaker"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith(message), err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("shared", [True, False])
def test_split_by_speaker_warns_when_a_held_out_split_is_left_empty(tmp_path: Path, capsys,
                                                                   shared: bool) -> None:
    """Three calls sharing PIN 100 are one group, and a group goes whole into one split: the
    test call the shares ask for (split_counts: 1 of 3) was silently not there (0 test).
    Now one warning line names the split, the counts and the largest group; calls with
    distinct PINs fill the split and give none."""
    tree = tmp_path / "tree"
    fisher_tree(tree, n=3)
    pins = ({1: (100, 101), 2: (102, 100), 3: (100, 103)} if shared
            else {1: (100, 101), 2: (102, 103), 3: (104, 105)})
    calldata(tree / "doc" / "fe_03_p1_calldata.tbl", pins)
    _tokenizer(tmp_path / "units")
    out = tmp_path / "out"
    assert main(["corpus", "import", str(tree), "--tokenizer", str(tmp_path / "units"),
                 "--out", str(out), "--split-by", "speaker"]) == 0
    warned = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    splits = [d["split"] for d in json.loads((out / "manifest.json").read_text())["dialogues"]]
    assert splits.count("test") == (0 if shared else 1)
    assert warned == ([
        "duplexsim corpus: warning: split by speaker: test holds 0 of the 1 calls "
        "--test-share 0.1 asks for: calls sharing a speaker (PIN) go into one split "
        "together, and the 3 calls are 1 group (largest 3 calls; a group too big for "
        "test or val stays in train); --split-by call splits by call"] if shared else [])
