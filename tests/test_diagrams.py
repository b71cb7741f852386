import gudhi
import numpy as np
import pytest
import ripser

from topolens import InvalidInputError, PersistenceDiagrams, ShapeError
from topolens.diagrams import bottleneck_distance
from topolens.homology import rips_persistence

from .conftest import circle
from .diagrams.test_bottleneck import brute


def _example() -> PersistenceDiagrams:
    return PersistenceDiagrams(
        [[[0.0, 0.5], [0.0, 1.0], [0.0, np.inf]], [[0.2, 0.9], [0.3, np.inf]]],
        censored=[[False, False, False], [False, True]],
        pairs=[[[1, 1, 0, 1], [2, 2, 1, 2], [0, 0, -1, -1]], [[0, 1, 2, 3], [1, 2, -1, -1]]],
        metadata={"threshold": 1.2, "dissimilarity": "abs_correlation"},
    )


def test_accessors():
    d = _example()
    assert d.max_dim == 1 and len(d) == 2
    np.testing.assert_array_equal(d.finite(0), [[0, 0.5], [0, 1.0]])
    np.testing.assert_array_equal(d.essential(0), [0.0])
    np.testing.assert_array_equal(d.essential(1), [])  # the inf class of H1 is censored
    np.testing.assert_array_equal(d.censored_births(1), [0.3])
    np.testing.assert_allclose(d.lifetimes(1), [0.7])
    assert d.n_censored == 1 and "censored" in repr(d)


@pytest.mark.parametrize(
    ("dgms", "err"),
    [
        ([[[0.0, 1.0, 2.0]]], ShapeError),
        ([[[1.0, 0.5]]], InvalidInputError),
        ([[[np.nan, 1.0]]], InvalidInputError),
        ([[[np.inf, np.inf]]], InvalidInputError),
        (np.zeros((3, 2)), InvalidInputError),
        ([], InvalidInputError),
    ],
)
def test_rejects_bad_diagrams(dgms, err):
    with pytest.raises(err):
        PersistenceDiagrams(dgms)


def test_censored_must_be_infinite():
    with pytest.raises(InvalidInputError, match="finite death"):
        PersistenceDiagrams([[[0.0, 1.0]]], censored=[[True]])


def test_unknown_dimension_message():
    with pytest.raises(InvalidInputError, match=r"0\.\.1"):
        _example().finite(2)


def test_save_load_roundtrip(tmp_path):
    d = _example()
    path = d.save(tmp_path / "d.npz")
    e = PersistenceDiagrams.load(path)
    assert e.allclose(d)
    for k in d.dims:
        np.testing.assert_array_equal(e.pairs[k], d.pairs[k])
        np.testing.assert_array_equal(e.censored[k], d.censored[k])
    assert e.metadata == d.metadata
    assert not list(tmp_path.glob("*.tmp"))


def test_load_rejects_foreign_file(tmp_path):
    np.savez(tmp_path / "x.npz", a=np.zeros(3))
    with pytest.raises(InvalidInputError, match="not a topolens diagrams file"):
        PersistenceDiagrams.load(tmp_path / "x.npz")


def test_dict_roundtrip():
    d = _example()
    e = PersistenceDiagrams.from_dict(d.to_dict())
    assert e.allclose(d) and e.metadata == d.metadata


def test_gudhi_roundtrip_matches_simplex_tree():
    pts = circle(30, noise=0.05)
    st = gudhi.RipsComplex(points=pts).create_simplex_tree(max_dimension=2)
    pers = st.persistence()
    d = PersistenceDiagrams.from_gudhi(pers)
    assert sorted(d.to_gudhi()) == sorted((k, (float(b), float(x))) for k, (b, x) in pers)
    ours = rips_persistence(pts, 1, metric="euclidean")
    assert ours.allclose(d, atol=1e-5)


def test_ripser_roundtrip():
    pts = circle(30, noise=0.05)
    res = ripser.ripser(pts, maxdim=1)
    d = PersistenceDiagrams.from_ripser(res)
    for a, b in zip(d.to_ripser(), res["dgms"], strict=False):
        np.testing.assert_array_equal(a, b)


def test_allclose_tolerance_and_multiset():
    a = PersistenceDiagrams([[[0, 1.0], [0, 2.0], [0, np.inf]]])
    b = PersistenceDiagrams([[[0, 2.0 + 1e-9], [0, np.inf], [0, 1.0]]])
    c = PersistenceDiagrams([[[0, 1.5], [0, 2.0], [0, np.inf]]])
    assert a.allclose(b) and not a.allclose(c)
    # an essential class is not a censored one
    e = PersistenceDiagrams([[[0, 1.0], [0, 2.0], [0, np.inf]]], censored=[[False, False, True]])
    assert not a.allclose(e)


def test_bottleneck_is_exact_where_gudhi_3_13_is_not():
    a = np.array([[0.5997, 0.6039], [0.6509, 0.7212], [0.8927, 0.9244], [0.951, 1.3772], [1.4791, 1.5281]])
    b = np.array([[0.8538, 1.3623], [1.2293, 1.2794], [1.4409, 1.4947]])
    assert bottleneck_distance(a, b) == pytest.approx(brute(a, b)) == pytest.approx(0.0972)
    g = np.random.default_rng(0)
    for _ in range(25):
        n, m = g.integers(0, 4), g.integers(0, 4)
        x = np.sort(g.uniform(size=(n, 2)), axis=1)
        y = np.sort(g.uniform(size=(m, 2)), axis=1)
        assert bottleneck_distance(x, y) == pytest.approx(brute(x, y) if n + m else 0.0)
    assert bottleneck_distance([[0, np.inf], [1, 2]], [[0.5, np.inf]]) == 0.5
    assert bottleneck_distance([[0, np.inf]], []) == np.inf


def test_distances_against_gudhi():
    a = rips_persistence(circle(30, noise=0.05, seed=1), 1, metric="euclidean")
    b = rips_persistence(circle(30, noise=0.1, seed=2), 1, metric="euclidean")
    ref = gudhi.bottleneck_distance(a[1], b[1], 1e-6)  # gudhi's approximation, within its error
    assert a.bottleneck(b, 1) == pytest.approx(ref, rel=1e-5)
    assert a.bottleneck(b, 1, e=1e-6) == pytest.approx(ref)
    assert a.bottleneck(a, 1) == 0.0
    assert a.wasserstein(b, 1) >= a.bottleneck(b, 1) - 1e-9


def test_allclose_matches_points_that_sort_differently():
    a = PersistenceDiagrams([[[0, 1.0]], [[0.1, 0.5], [0.1 + 1e-9, 0.3]]])
    b = PersistenceDiagrams([[[0, 1.0]], [[0.1 + 1e-9, 0.5], [0.1, 0.3]]])
    assert a.allclose(b)
    c = PersistenceDiagrams([[[0, 1.0]], [[0.1, 0.5], [0.1, 0.4]]])
    assert not a.allclose(c)


def test_describe_counts_essential_and_censored_classes() -> None:
    dg = PersistenceDiagrams([[[0, 0.3], [0, np.inf], [0, np.inf]], [[0.2, np.inf]]],
                             censored=[[False, False, True], [True]])
    assert dg.describe() == ("H0: 3 classes (1 never dies, 1 still alive at the threshold), "
                            "longest finite bar 0.3; H1: 1 class (1 still alive at the threshold).")
