"""pytest's filters make deprecations raised from our own package errors, and only those."""

from __future__ import annotations

import warnings

import pytest


@pytest.mark.parametrize("category", [DeprecationWarning, FutureWarning,
                                      PendingDeprecationWarning])
def test_our_deprecations_are_errors(category: type[Warning]) -> None:
    with pytest.raises(category):
        warnings.warn_explicit("old API", category, "duplexsim/x.py", 1,
                               module="duplexsim.models.x")


def test_third_party_deprecations_stay_warnings() -> None:
    with pytest.warns(FutureWarning):  # e.g. transformers' own, attributed to torch
        warnings.warn_explicit("old API", FutureWarning, "module.py", 1,
                               module="torch.nn.modules.module")
