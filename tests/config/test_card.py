"""Agent cards: the model's unit vocabulary is one a corpus can have; a card built in Python
takes and refuses what a card file does."""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path

import numpy as np
import pytest
from cli_workspace import card_toml

from duplexsim.config.card import (
    AgentCard,
    AgentInfo,
    ModelCard,
    StageCard,
    TdmCard,
    TrainCard,
    load_card,
)
from duplexsim.config.loader import from_dict
from duplexsim.errors import ConfigError
from duplexsim.tokens import MAX_N_UNITS


@pytest.mark.parametrize("n_units", [MAX_N_UNITS + 1, 1 << 20])
def test_n_units_beyond_a_corpus_vocabulary_is_refused(tmp_path: Path, n_units: int) -> None:
    """Up to 2**20 was accepted, though a card's n_units must equal its corpus's, whose
    units are int16 (at most MAX_N_UNITS): such a card loaded and could never train."""
    card = tmp_path / "card.toml"
    card.write_text(card_toml({"model": {"n_units": MAX_N_UNITS}}))
    assert load_card(card).model.n_units == MAX_N_UNITS == 32768
    card.write_text(card_toml({"model": {"n_units": n_units}}))
    with pytest.raises(ConfigError) as caught:
        load_card(card)
    assert str(caught.value) == (f"{card}: model.n_units: {n_units} is out of range "
                                 "(allowed: 2 .. 32768)")


@pytest.mark.parametrize(("cls", "kwargs", "expected"), [
    (AgentInfo, {"name": None}, "name: wrong type null (allowed: string)"),
    (AgentInfo, {"kind": "gpt"}, "kind: unknown value 'gpt' (allowed: syncllm, tdm)"),
    (ModelCard, {"size": "huge"}, "size: unknown value 'huge' (allowed: tiny, small, paper)"),
    (ModelCard, {"hidden_size": "64"}, "hidden_size: wrong type string (allowed: integer)"),
    (ModelCard, {"n_units": 100.0}, "n_units: wrong type float (allowed: integer)"),
    (ModelCard, {"init_from": None}, "init_from: wrong type null (allowed: string)"),
    (StageCard, {"enabled": "no"}, "enabled: wrong type string (allowed: true or false)"),
    (StageCard, {"steps": 10.5}, "steps: wrong type float (allowed: integer)"),
    (StageCard, {"steps": True}, "steps: wrong type boolean (allowed: integer)"),
    (StageCard, {"lr": None}, "lr: wrong type null (allowed: number)"),
    (StageCard, {"schedule": "step"},
     "schedule: unknown value 'step' (allowed: cosine, linear, constant)"),
    (TrainCard, {"chunk_ms": 160}, "chunk_ms: wrong type integer (allowed: list of int)"),
    (TrainCard, {"chunk_ms": (160.0,)}, "chunk_ms[0]: wrong type float (allowed: integer)"),
    (TrainCard, {"seed": 1.5}, "seed: wrong type float (allowed: integer)"),
    (TrainCard, {"bf16": "yes"}, "bf16: wrong type string (allowed: true or false)"),
    (TrainCard, {"stage2_gap_ms": None}, "stage2_gap_ms: wrong type null (allowed: list of int)"),
    (TdmCard, {"window_slices": "16"}, "window_slices: wrong type string (allowed: integer)"),
    (TdmCard, {"min_heard_ms": 160.0}, "min_heard_ms: wrong type float (allowed: integer)"),
    (TdmCard, {"yield_ms": ("0", 200)}, "yield_ms[0]: wrong type string (allowed: integer)"),
    (AgentCard, {"model": {"size": "tiny"}},
     "model: got dict (allowed: ModelCard (the [model] table))"),
    (AgentCard, {"train": None}, "train: got NoneType (allowed: TrainCard (the [train] table))"),
    (AgentCard, {"tdm": {}}, "tdm: got dict (allowed: TdmCard (the [tdm] table) or None)"),
])
def test_built_in_python_a_wrong_type_is_one_line(cls: type, kwargs: dict,
                                                  expected: str) -> None:
    """A card table built in Python takes what a card file takes and refuses what it
    refuses, in one line: hidden_size="64", n_units=None or chunk_ms=160 were TypeErrors
    from a comparison, a dict for [model] an AttributeError; steps=10.5, seed=1.5,
    enabled="no", an unknown size or schedule were accepted (to fail in training, or never),
    and steps=True was "20 > the stage's True steps"."""
    with pytest.raises(ConfigError) as info:
        cls(**kwargs)
    assert [str(p) for p in info.value.problems] == [expected]
    if None not in kwargs.values() and "got " not in expected:  # (a file gives neither)
        with pytest.raises(ConfigError) as info:
            from_dict(cls, kwargs, file="f.toml")
        assert [str(p) for p in info.value.problems] == [f"f.toml: {expected}"]


def test_built_in_python_cards_of_the_right_types_still_build() -> None:
    """NumPy scalars are their Python values and a path object its string, as before."""
    model = ModelCard(size="tiny", n_units=np.int64(200), init_from=Path("m"))
    assert (model.n_units, type(model.n_units), model.init_from) == (200, int, "m")
    stage = StageCard(lr=1, steps=np.int32(50), warmup_steps=5)
    assert (stage.lr, type(stage.lr), stage.steps) == (1, int, 50)
    card = AgentCard(agent=AgentInfo(kind="tdm"), model=model, tdm=TdmCard(slice_ms=(1280,)),
                     train=TrainCard(chunk_ms=(np.int64(160),)))
    assert card.train.chunk_ms == (160,) and card.tdm_card.slice_ms == (1280,)


def test_a_list_of_chunk_sizes_is_the_tuple_a_card_file_gives() -> None:
    """``TrainCard(chunk_ms=[160, 200])`` kept the list: the frozen card (and an AgentCard
    holding it) could not be hashed, and it differed from the same card read from a file."""
    train = TrainCard(chunk_ms=[160, np.int64(200)], stage2_gap_ms=[200, 800])  # type: ignore[arg-type]
    assert (train.chunk_ms, train.stage2_gap_ms) == ((160, 200), (200, 800))
    assert train == from_dict(TrainCard, {"chunk_ms": [160, 200], "stage2_gap_ms": [200, 800]})
    assert hash(AgentCard(train=train)) == hash(AgentCard(train=TrainCard(chunk_ms=(160, 200))))
    tdm = TdmCard(slice_ms=[1280])  # type: ignore[arg-type]  (every tuple field alike)
    assert tdm.slice_ms == (1280,) and hash(tdm) == hash(TdmCard(slice_ms=(1280,)))


def _tables(cls: type) -> list[type]:
    """``cls`` and every dataclass its fields hold (a card's tables)."""
    found = [cls]
    for tp in typing.get_type_hints(cls).values():
        for t in (tp, *typing.get_args(tp)):
            if dataclasses.is_dataclass(t) and isinstance(t, type) and t not in found:
                found += [u for u in _tables(t) if u not in found]
    return found


def test_a_card_key_left_out_is_checked_beside_the_other_bad_fields() -> None:
    """No card key is required (each table checks a left-out key at its default): a stage
    that leaves out warmup_steps is told its default is too long for its steps, beside a
    bad lr of that stage and a bad key of another table, in one run."""
    assert not [(t.__name__, f.name) for t in _tables(AgentCard)
                for f in dataclasses.fields(t) if f.default is dataclasses.MISSING
                and f.default_factory is dataclasses.MISSING]
    with pytest.raises(ConfigError) as info:
        from_dict(AgentCard, {"stage1": {"steps": 10, "lr": -1.0}, "model": {"n_units": 1}},
                  file="c.toml")
    assert [str(p) for p in info.value.problems] == [
        "c.toml: stage1.lr: -1.0 is not a finite number in range (allowed: > 0 and <= 10)",
        "c.toml: stage1.warmup_steps: 20 > the stage's 10 steps (lr would never reach its "
        "peak) (allowed: <= 10)",
        "c.toml: model.n_units: 1 is out of range (allowed: 2 .. 32768)",
    ]
