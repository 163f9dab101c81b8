"""duplexsim.config.field_values: a config dataclass's field values as a file gives them."""

from __future__ import annotations


def test_the_loader_still_hands_out_the_field_value_helpers() -> None:
    """plain_fields and check_field_types moved here from duplexsim.config.loader, which
    re-exports them: code that imports them from there gets the same functions."""
    from duplexsim.config import field_values, loader
    from duplexsim.config.loader import check_field_types, plain_fields

    assert plain_fields is field_values.plain_fields
    assert check_field_types is field_values.check_field_types
    assert {"plain_fields", "check_field_types"} <= set(loader.__all__)
