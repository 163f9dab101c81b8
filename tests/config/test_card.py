"""Agent cards: the model's unit vocabulary is one a corpus can have."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_cli import card_toml

from duplexsim.config.card import load_card
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
