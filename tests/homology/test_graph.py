import gudhi
import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from topolens.exceptions import InvalidInputError, ShapeError
from topolens.homology import lower_star_h0, superlevel_h0
from topolens.homology._graph_kernel import h0_pass, h0_pass_python


def _random_graph(seed: int, n: int = 30, m: int = 80, ties: bool = False):
    g = np.random.default_rng(seed)
    u = g.integers(0, n, m)
    v = g.integers(0, n, m)
    keep = u != v
    u, v = u[keep], v[keep]
    key = np.unique(np.minimum(u, v) * n + np.maximum(u, v))
    u, v = key // n, key % n
    w = (g.integers(1, 6, u.size) if ties else g.uniform(0.01, 1.0, u.size)).astype(np.float64)
    return u, v, w

def _gudhi_h0(u, v, w):
    """gudhi's H0 of the same filtration: vertices at minus their heaviest edge, edges at -w."""
    t = gudhi.SimplexTree()
    birth = {}
    for a, b, x in zip(u.tolist(), v.tolist(), w.tolist(), strict=True):
        birth[a] = max(birth.get(a, x), x)
        birth[b] = max(birth.get(b, x), x)
    for z, bz in birth.items():
        t.insert([z], -bz)
    for a, b, x in zip(u.tolist(), v.tolist(), w.tolist(), strict=True):
        t.insert([a, b], -float(x))
    t.compute_persistence(persistence_dim_max=False)
    return t.persistence_intervals_in_dimension(0)

def _canon(d):
    d = np.asarray(d, dtype=float).reshape(-1, 2)
    return d[np.lexsort((d[:, 1], d[:, 0]))]

@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("seed", range(6))
def test_h0_matches_gudhi(seed, ties):
    u, v, w = _random_graph(seed, ties=ties)
    *_, dgm, pairs = superlevel_h0(u, v, w)
    np.testing.assert_allclose(_canon(-dgm), _canon(_gudhi_h0(u, v, w)))
    # the birth vertex of each class enters at its birth value; killers are real edges
    for (b, d), (bv, _, du, dv) in zip(dgm, pairs, strict=True):
        assert b == pytest.approx(w[(u == bv) | (v == bv)].max())
        if np.isfinite(d):
            assert d == pytest.approx(w[((u == du) & (v == dv)) | ((u == dv) & (v == du))][0])

@pytest.mark.parametrize("seed", range(4))
def test_persistent_subgraphs_partition_the_spanning_forest(seed):
    u, v, w = _random_graph(seed, n=40, m=70)
    sub, sb, sd, sp, dgm, _ = superlevel_h0(u, v, w)
    g = nx.Graph()
    g.add_weighted_edges_from(zip(u.tolist(), v.tolist(), w.tolist(), strict=True))
    forest = sub >= 0
    assert forest.sum() == g.number_of_nodes() - nx.number_connected_components(g)
    f = nx.Graph()
    f.add_edges_from(zip(u[forest].tolist(), v[forest].tolist(), strict=True))
    assert nx.is_forest(f)
    # total forest weight is that of a maximum spanning forest
    assert w[forest].sum() == pytest.approx(
        sum(d["weight"] for *_, d in nx.maximum_spanning_tree(g).edges(data=True)))
    # each subgraph is connected, ranked by persistence, and born on its heaviest edge
    pers = sb - sd
    assert (np.diff(pers[np.isfinite(pers)]) <= 1e-12).all()
    assert np.isinf(pers[: np.isinf(pers).sum()]).all()
    def family(r):
        out = {r}
        for c in np.flatnonzero(sp == r):
            out |= family(int(c))
        return out

    for r in range(sb.size):
        assert sp[r] == -1 or sp[r] < r or pers[sp[r]] >= pers[r]
        e = np.flatnonzero(np.isin(sub, list(family(r))))
        s = nx.Graph()
        s.add_edges_from(zip(u[e].tolist(), v[e].tolist(), strict=True))
        assert nx.is_connected(s)
        assert w[sub == r].max() == pytest.approx(sb[r])
    # classes with positive persistence are exactly the diagram's points
    pos = sb > sd
    np.testing.assert_allclose(_canon(np.c_[sb[pos], sd[pos]]), _canon(dgm))

@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000))
def test_h0_is_invariant_to_edge_order(seed):
    u, v, w = _random_graph(seed, n=25, m=60)
    perm = np.random.default_rng(seed).permutation(u.size)
    a = superlevel_h0(u, v, w)
    b = superlevel_h0(u[perm], v[perm], w[perm])
    np.testing.assert_allclose(_canon(a.dgm), _canon(b.dgm))
    # with distinct weights the subgraphs are the same edge sets
    for r in range(a.sub_birth.size):
        ea = {(x, y) for x, y in zip(u[a.subgraph == r], v[a.subgraph == r], strict=True)}
        eb = {(x, y) for x, y in zip(u[perm][b.subgraph == r], v[perm][b.subgraph == r], strict=True)}
        assert ea == eb

def test_compiled_and_python_kernels_agree():
    u, v, w = _random_graph(3, n=50, m=200, ties=True)
    order = np.lexsort((np.arange(w.size), -w))
    a = h0_pass(u[order], v[order], w[order], 50)
    b = h0_pass_python(u[order], v[order], w[order], 50)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)


def test_bad_graphs():
    with pytest.raises(InvalidInputError, match="finite"):
        superlevel_h0(np.array([0]), np.array([1]), np.array([0.0]))
    with pytest.raises(ShapeError):
        superlevel_h0(np.array([0, 1]), np.array([1]), np.array([1.0]))
    with pytest.raises(InvalidInputError, match="vertex ids"):
        superlevel_h0(np.array([0]), np.array([5]), np.array([1.0]), n_vertices=3)
    empty = superlevel_h0(np.array([], int), np.array([], int), np.array([]))
    assert empty.dgm.shape == (0, 2) and empty.subgraph.size == 0


# --- lower-star (vertex) filtrations -------------------------------------------------------

def _gudhi_lower_star(f, u, v):
    """H0 and H1 of the lower-star filtration by gudhi's simplex tree (the oracle)."""
    st = gudhi.SimplexTree()
    for i, x in enumerate(f):
        st.insert([i], filtration=float(x))
    for a, b in zip(u, v, strict=True):
        st.insert([int(a), int(b)], filtration=float(max(f[a], f[b])))
    st.compute_persistence(persistence_dim_max=True)
    return [np.array(sorted(map(tuple, st.persistence_intervals_in_dimension(k)))) .reshape(-1, 2) for k in (0, 1)]


def _ours_lower_star(f, u, v):
    res = lower_star_h0(f, u, v)
    fe = np.maximum(f[u], f[v])
    d = np.where(res.killer[:, 0] >= 0, fe[np.maximum(res.killer[:, 0], 0)], np.inf)
    h0 = np.column_stack([f, d])
    h0 = h0[h0[:, 1] > h0[:, 0]]
    h1 = np.column_stack([fe[res.cycle[:, 0]], np.full(res.cycle[:, 0].sum(), np.inf)])
    return [np.array(sorted(map(tuple, h))).reshape(-1, 2) for h in (h0, h1)]


@pytest.mark.parametrize("seed", range(6))
def test_lower_star_matches_gudhi(seed):
    rng = np.random.default_rng(seed)
    g = nx.gnm_random_graph(25, 30 + 5 * seed, seed=seed)  # several components, cycles, isolated vertices
    u, v = (np.array(a, dtype=np.int64) for a in zip(*g.edges, strict=True))
    f = rng.integers(0, 6, 25).astype(float) if seed % 2 else rng.random(25)  # ties on odd seeds
    ours, ref = _ours_lower_star(f, u, v), _gudhi_lower_star(f, u, v)
    for k in (0, 1):
        np.testing.assert_allclose(ours[k], ref[k])


def test_lower_star_columns_are_independent_filtrations_and_kernels_agree():
    from topolens.homology._graph_kernel import lower_star_pass, lower_star_pass_python

    rng = np.random.default_rng(3)
    g = nx.gnm_random_graph(40, 70, seed=3)
    u, v = (np.array(a, dtype=np.int64) for a in zip(*g.edges, strict=True))
    f = rng.random((40, 3))
    both = lower_star_h0(f, u, v)
    for j in range(3):
        one = lower_star_h0(f[:, j], u, v)
        np.testing.assert_array_equal(both.killer[:, j], one.killer[:, 0])
        np.testing.assert_array_equal(both.cycle[:, j], one.cycle[:, 0])
        order = np.argsort(np.maximum(f[u, j], f[v, j]), kind="stable")
        a, b = lower_star_pass(u, v, f[:, j].copy(), order), lower_star_pass_python(u, v, f[:, j].copy(), order)
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])
    # one cycle edge per independent cycle, one essential class per component
    assert both.cycle.sum(0).tolist() == [70 - 40 + nx.number_connected_components(g)] * 3
    assert (both.killer < 0).sum(0).tolist() == [nx.number_connected_components(g)] * 3


def test_lower_star_bad_inputs():
    f = np.zeros(3)
    with pytest.raises(InvalidInputError, match="self-loop"):
        lower_star_h0(f, [0, 1], [1, 1])
    with pytest.raises(InvalidInputError, match=r"\[0, 3\)"):
        lower_star_h0(f, [0], [3])
    with pytest.raises(InvalidInputError, match="NaN"):
        lower_star_h0(np.array([0.0, np.nan, 1.0]), [0], [1])
    with pytest.raises(ShapeError):
        lower_star_h0(np.zeros((3, 1, 1)), [0], [1])
    with pytest.raises(ShapeError):
        lower_star_h0(f, [0, 1], [1])
