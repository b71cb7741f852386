"""Shared validation helpers refuse what numpy would silently mangle."""

from __future__ import annotations

import numpy as np
import pytest

from topolens.exceptions import InvalidInputError
from topolens.vectorize import functional as F


def test_complex_diagrams_are_refused_not_cast() -> None:
    with pytest.raises(InvalidInputError, match="complex"):
        F.persistent_entropy(np.array([[0.0, 1.0 + 1e-3j]]))


def test_ragged_lists_are_an_invalid_input() -> None:
    with pytest.raises(InvalidInputError, match="same length"):
        F.persistent_entropy([[0.0, 1.0], [0.5]])


def test_complex32_tensors_are_refused_as_complex() -> None:
    import warnings

    import torch

    from topolens import Activations

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torch: ComplexHalf is experimental
        t = torch.zeros(3, 2, dtype=torch.complex32)
    with pytest.raises(InvalidInputError, match="complex"):
        Activations({"a": t})


@pytest.mark.parametrize("check, name", [("check_points", "points"), ("check_distance_matrix", "distance matrix")])
def test_ragged_input_is_named_once(check: str, name: str) -> None:
    from topolens import _validation

    with pytest.raises(InvalidInputError) as err:
        getattr(_validation, check)([[0.0, 1.0], [1.0]])
    msg = str(err.value)
    assert msg.startswith(f"{name} could not be turned into an array")
    assert msg.count("could not") == 1 and msg.count("pass a numpy array") == 1
