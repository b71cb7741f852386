"""Field validation shared by the constructor, the converters and the distances' parameters."""

from __future__ import annotations

import numpy as np
import pytest

from topolens import InvalidInputError, PersistenceDiagrams, ShapeError
from topolens.exceptions import NonFiniteError


@pytest.mark.parametrize(
    ("kwargs", "err", "match"),
    [
        ({"dgms": [np.array([[0, 1 + 1j]])]}, InvalidInputError, "complex"),
        ({"dgms": [np.array([[True, True]])]}, InvalidInputError, "boolean"),
        ({"dgms": [[[0, 1], [0]]]}, InvalidInputError, "rows all have the same length"),
        ({"dgms": [np.zeros((0, 3))]}, ShapeError, "shape"),
        ({"dgms": [np.zeros((1, 2, 2))]}, ShapeError, "shape"),
        ({"dgms": "abc"}, InvalidInputError, "sequence"),
        ({"dgms": [[[0, 1]]], "censored": [[[True]]]}, ShapeError, "1-D"),
        ({"dgms": [[[0, np.inf]]], "censored": [[0.5]]}, InvalidInputError, "0/1"),
        ({"dgms": [[[0, np.inf]]], "censored": [[np.nan]]}, InvalidInputError, "0/1"),
        ({"dgms": [[[0, 1]]], "censored": [[True, False]]}, ShapeError, "2 entries for 1"),
        ({"dgms": [[[0, 1]]], "pairs": [[[0, 0, 0, np.nan]]]}, NonFiniteError, "NaN"),
        ({"dgms": [[[0, 1]]], "pairs": [[[0, 0, 0, 1e30]]]}, InvalidInputError, "int64"),
        ({"dgms": [[[0, 1]]], "pairs": [[0, 0, 0, 1]]}, ShapeError, "shape"),
        ({"dgms": [[[0, 1]]], "pairs": [[[-1, 0, 0, 1]]]}, InvalidInputError, "birth edges"),
        ({"dgms": [[[0, np.inf]]], "pairs": [[[0, 0, 1, 2]]]}, InvalidInputError, r"\(-1, -1\)"),
        ({"dgms": [[[0, 1]]], "pairs": [[[True, True, True, True]]]}, InvalidInputError, "boolean"),
        ({"dgms": [[[0, 1]]], "metadata": [("a", 1)]}, InvalidInputError, "dict"),
    ],
)
def test_constructor_validates_every_field(kwargs, err, match):
    with pytest.raises(err, match=match):
        PersistenceDiagrams(kwargs.pop("dgms"), **kwargs)


def test_constructor_accepts_the_usual_forms():
    d = PersistenceDiagrams([[], np.empty((0, 2)), [[0, 1]]], censored=[[], np.zeros(0, bool), [0]],
                            pairs=[[], np.empty((0, 4)), [[0.0, 0.0, 0.0, 1.0]]])
    assert d.max_dim == 2 and d.pairs[2].dtype == np.int64 and d.censored[2].dtype == bool
    e = PersistenceDiagrams([np.array([[0, 2]], dtype=np.int32), np.array([[0.5, np.inf]], np.float32)],
                            censored=[[False], [1]])
    assert e.censored_births(1).tolist() == [0.5]


def test_from_gudhi_validates():
    d = PersistenceDiagrams.from_gudhi([(0, (0.0, np.inf)), (1, (0.2, 0.5)), (2, (0.1, 0.3))], max_dim=1)
    assert d.max_dim == 1 and d.n_classes(1) == 1
    assert PersistenceDiagrams.from_gudhi([]).max_dim == 0
    for bad, match in [([(0, 1.0)], "not \\(dim"), ([(-1, (0, 1))], "integer in"), ([(10**9, (0, 1))], "integer in"),
                       ([(0, ("a", 1))], "real numbers"), ([(0, (1.0, 0.5))], "death < birth"), ("abc", "list")]:
        with pytest.raises(InvalidInputError, match=match):
            PersistenceDiagrams.from_gudhi(bad)
    with pytest.raises(InvalidInputError, match="max_dim"):
        PersistenceDiagrams.from_gudhi([(0, (0, 1))], max_dim=-2)


def test_from_ripser_validates():
    d = PersistenceDiagrams.from_ripser({"dgms": [np.array([[0, np.inf]], np.float32), np.empty((0, 2))]})
    assert d.max_dim == 1
    with pytest.raises(InvalidInputError, match="no 'dgms'"):
        PersistenceDiagrams.from_ripser({"cocycles": []})
    with pytest.raises(ShapeError, match="shape"):
        PersistenceDiagrams.from_ripser([np.zeros((3, 3))])
    with pytest.raises(InvalidInputError, match="NaN"):
        PersistenceDiagrams.from_ripser([np.array([[0, np.nan]])])


A = PersistenceDiagrams([[[0.0, 1.0], [0.2, 0.5], [0.0, np.inf]]])
B = PersistenceDiagrams([[[0.0, 0.9], [0.3, np.inf]]])


@pytest.mark.parametrize("order", [0, -1, 0.5, np.nan, 101, 1e300, -np.inf, "1", None, True])
def test_wasserstein_refuses_bad_orders(order):
    with pytest.raises(InvalidInputError, match="order"):
        A.wasserstein(B, 0, order=order)


@pytest.mark.parametrize("p", [0, -1, 0.5, np.nan, 1000, "inf"])
def test_wasserstein_refuses_bad_internal_p(p):
    with pytest.raises(InvalidInputError, match="internal_p"):
        A.wasserstein(B, 0, internal_p=p)


@pytest.mark.parametrize("delta", [0, -1, 2, np.nan, np.inf])
def test_wasserstein_refuses_bad_delta(delta):
    with pytest.raises(InvalidInputError, match="delta"):
        A.wasserstein(B, 0, delta=delta)


def test_wasserstein_values():
    from gudhi.wasserstein import wasserstein_distance as pot  # exact, optimal transport

    a, b = A[0][:2], B[0][:1]
    for order, p in [(1, np.inf), (2, 2), (1, 1), (3, np.inf)]:
        w = PersistenceDiagrams([a]).wasserstein(PersistenceDiagrams([b]), 0, order=order, internal_p=p)
        assert w == pytest.approx(pot(a, b, order=order, internal_p=p), rel=0.011)
    # order inf is the exact bottleneck distance (hera hangs on it)
    assert A.wasserstein(B, 0, order=np.inf) == A.bottleneck(B, 0) == 0.3
    with pytest.raises(InvalidInputError, match="internal_p=inf"):
        A.wasserstein(B, 0, order=np.inf, internal_p=2)
    # essential classes: matched by birth, inf when their numbers differ
    assert A.wasserstein(B, 0) == pytest.approx(0.1 + 0.15 + 0.3, rel=0.011)
    assert A.wasserstein(PersistenceDiagrams([[[0.0, 0.9]]]), 0) == np.inf
