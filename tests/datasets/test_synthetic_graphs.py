"""TOGL's synthetic CYCLES and NECKLACES sets: sizes, balance, determinism and the graph structure."""

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from topolens.datasets.synthetic_graphs import make_cycles, make_necklaces
from topolens.exceptions import InvalidInputError

MAKERS = [make_cycles, make_necklaces]


def _components(g):
    a = sp.csr_matrix(g.adjacency())
    return connected_components(a, directed=False)


def _triangles(g) -> int:
    a = g.adjacency().astype(np.int64)
    return int(np.trace(a @ a @ a)) // 6


@pytest.mark.parametrize("make", MAKERS)
def test_sizes_features_and_edge_format(make):
    d = make(200, seed=3)
    assert len(d) == 200 and d.y.shape == (200,) and set(d.y.tolist()) == {0, 1}
    for g in d.graphs:
        assert 10 <= g.n_nodes <= 19
        assert g.node_attributes.shape == (g.n_nodes, 3) and np.isfinite(g.node_attributes).all()
        e = g.edges
        assert e.dtype == np.int64 and e.shape[1] == 2
        assert (e[:, 0] < e[:, 1]).all() and e.min() >= 0 and e.max() < g.n_nodes
        assert len(np.unique(e, axis=0)) == len(e)                       # deduplicated
        assert (np.lexsort((e[:, 1], e[:, 0])) == np.arange(len(e))).all()  # sorted
    sizes = np.array([g.n_nodes for g in d.graphs])
    assert sizes.min() == 10 and sizes.max() == 19                       # the whole range is drawn


@pytest.mark.parametrize("make", MAKERS)
@pytest.mark.parametrize("n", [100, 101])
def test_labels_exactly_balanced(make, n):
    y = make(n, seed=1).y
    assert np.bincount(y).tolist() == [n // 2, n - n // 2]
    assert not (np.diff(y) >= 0).all()                                   # shuffled, not sorted


@pytest.mark.parametrize("make", MAKERS)
def test_deterministic_from_the_seed(make):
    a, b, c = make(50, seed=7), make(50, seed=7), make(50, seed=8)
    assert np.array_equal(a.y, b.y)
    for ga, gb in zip(a.graphs, b.graphs, strict=True):
        assert ga.n_nodes == gb.n_nodes and np.array_equal(ga.edges, gb.edges)
        assert np.array_equal(ga.node_attributes, gb.node_attributes)
    assert not np.array_equal(a.y, c.y) or any(
        not np.array_equal(ga.edges, gc.edges) for ga, gc in zip(a.graphs, c.graphs, strict=True))
    assert a.info["seed"] == 7 and "TOGL" in a.info["reference"]


def test_cycles_structure():
    d = make_cycles(300, seed=0)
    for g, y in zip(d.graphs, d.y, strict=True):
        n = g.n_nodes
        deg = g.adjacency().sum(1)
        assert (deg == 2).all() and g.n_edges == n                       # 2-regular in both classes
        n_comp, lab = _components(g)
        if y == 0:
            assert n_comp == 1                                           # one n-cycle
        else:
            n_small = (n - 3) // 3
            assert n_comp == n_small + 1 >= 3                            # disjoint cycles
            sizes = sorted(np.bincount(lab).tolist())
            assert sizes[:-1] == [3] * n_small and 3 <= sizes[-1] <= 5


def test_cycles_unpermuted_class0_is_the_ring():
    d = make_cycles(20, seed=2, permute_nodes=False)
    g = next(g for g, y in zip(d.graphs, d.y, strict=True) if y == 0)
    n = g.n_nodes
    ring = sorted([min(i, (i + 1) % n), max(i, (i + 1) % n)] for i in range(n))
    assert g.edges.tolist() == ring


def test_necklaces_structure():
    d = make_necklaces(300, seed=0)
    by_n: dict[int, dict[int, list[int]]] = {}
    for g, y in zip(d.graphs, d.y, strict=True):
        n = g.n_nodes
        n_comp, _ = _components(g)
        assert n_comp == 1 and g.n_edges == n + 1                        # connected, two cycles
        assert _triangles(g) == (2 if y == 1 else 0)                     # separate vs merged
        deg = sorted(g.adjacency().sum(1).astype(int).tolist())
        assert deg.count(4) == 2 and deg.count(1) == 2
        by_n.setdefault(n, {}).setdefault(int(y), deg)
    for n, degs in by_n.items():                                         # same degree sequence
        if len(degs) == 2:
            assert degs[0] == degs[1], n


@pytest.mark.parametrize(("make", "kwargs"), [
    (make_cycles, {"n_graphs": 1}), (make_cycles, {"min_nodes": 5}), (make_cycles, {"min_cycle": 2}),
    (make_cycles, {"min_nodes": 12, "max_nodes": 11}), (make_cycles, {"n_features": 0}),
    (make_necklaces, {"min_nodes": 9}), (make_necklaces, {"n_graphs": 2.5}),
])
def test_bad_arguments(make, kwargs):
    with pytest.raises(InvalidInputError):
        make(**kwargs)


def test_other_sizes_and_features():
    d = make_cycles(10, seed=0, min_nodes=8, max_nodes=8, min_cycle=4, n_features=5)
    for g, y in zip(d.graphs, d.y, strict=True):
        assert g.n_nodes == 8 and g.node_attributes.shape == (8, 5)
        assert _components(g)[0] == (1 if y == 0 else 2)
