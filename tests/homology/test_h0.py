import gudhi
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.sparse.csgraph import connected_components
from scipy.spatial.distance import cdist

from topolens.homology import minimum_spanning_tree, rips_h0


def _gudhi_h0(d: np.ndarray) -> np.ndarray:
    st_ = gudhi.RipsComplex(distance_matrix=d).create_simplex_tree(max_dimension=1)
    st_.compute_persistence(min_persistence=-1)
    return st_.persistence_intervals_in_dimension(0)


def _sym(m: np.ndarray) -> np.ndarray:
    m = np.minimum(m, m.T)
    np.fill_diagonal(m, 0)
    return m


def test_single_point():
    # (gudhi's simplex tree reports no H0 class for a lone vertex; one essential class is right)
    ours, pairs = rips_h0(np.zeros((1, 1)), return_pairs=True)
    np.testing.assert_array_equal(ours, [[0.0, np.inf]])
    np.testing.assert_array_equal(pairs, [[0, 0, -1, -1]])


@pytest.mark.parametrize("n", [2, 3, 17, 300])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_h0_equals_gudhi_exactly(n, dtype, rng):
    d = _sym(rng.random((n, n))).astype(dtype)
    ours, _ = rips_h0(d)
    ref = _gudhi_h0(d.astype(np.float64))
    np.testing.assert_array_equal(np.sort(ours[:, 1]), np.sort(ref[:, 1]))
    assert (ours[:, 0] == 0).all() and np.isinf(ours[:, 1]).sum() == 1


def test_h0_with_ties_equals_gudhi(rng):
    d = _sym(rng.integers(1, 4, size=(60, 60)).astype(np.float64))
    ours, _ = rips_h0(d)
    np.testing.assert_array_equal(np.sort(ours[:, 1]), np.sort(_gudhi_h0(d)[:, 1]))


def test_mst_is_a_spanning_tree_of_minimal_weight(rng):
    x = rng.normal(size=(120, 3))
    d = cdist(x, x)
    u, v, w = minimum_spanning_tree(d)
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import minimum_spanning_tree as scipy_mst

    g = coo_matrix((w, (u, v)), shape=d.shape)
    assert connected_components(g, directed=False)[0] == 1
    assert w.sum() == pytest.approx(scipy_mst(d).sum())
    np.testing.assert_array_equal(d[u, v], w)


def test_pairs_are_critical_edges(rng):
    x = rng.normal(size=(50, 2))
    d = cdist(x, x)
    dgm, pairs = rips_h0(d, return_pairs=True)
    np.testing.assert_array_equal(d[pairs[:-1, 2], pairs[:-1, 3]], dgm[:-1, 1])
    np.testing.assert_array_equal(pairs[-1], [0, 0, -1, -1])
    born = pairs[:-1, 0]
    assert len(set(born.tolist())) == 49 and 0 not in born  # each vertex but the eldest dies once


@settings(max_examples=30, deadline=None)
@given(st.integers(2, 40), st.integers(0, 2**31 - 1))
def test_permutation_invariance(n, seed):
    g = np.random.default_rng(seed)
    d = _sym(g.random((n, n)))
    p = g.permutation(n)
    a, _ = rips_h0(d)
    b, _ = rips_h0(d[np.ix_(p, p)])
    np.testing.assert_array_equal(a, b)
