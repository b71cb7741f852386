import gudhi
import networkx as nx
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from topolens.exceptions import InvalidInputError, NonFiniteError, ShapeError
from topolens.graphs import (
    induced_edge_weights,
    induced_graphs,
    subgraph_features,
    superlevel_h0,
    unroll,
)
from topolens.graphs._h0_kernel import h0_pass, h0_pass_python
from topolens.graphs.induced import layer_threshold
from topolens.models import CCFF, SmallCNN


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


def test_layer_threshold_is_numpy_percentile():
    g = np.random.default_rng(0)
    for n, zeros, q in [(1000, 0.0, 90), (1000, 0.95, 90), (7, 0.5, 50), (2, 0.0, 90), (1, 0.0, 10), (500, 0.899, 90)]:
        w = g.uniform(size=n).astype(np.float32)
        w[g.uniform(size=n) < zeros] = 0
        assert layer_threshold(w, q) == pytest.approx(float(np.percentile(w, q)), rel=1e-6, abs=0)
        nz = w[w > 0]
        assert layer_threshold(nz, q, n_total=n) == pytest.approx(float(np.percentile(w, q)), rel=1e-6)


@pytest.fixture(scope="module")
def small_cnn():
    torch.manual_seed(0)
    return SmallCNN(c1=4, c2=4, hidden=16).eval()


@pytest.mark.parametrize("model_name", ["ccff", "small_cnn"])
@pytest.mark.parametrize("percentile", [90.0, None])
def test_sparse_graphs_equal_the_dense_reference(model_name, percentile, small_cnn):
    torch.manual_seed(1)
    model = CCFF().eval() if model_name == "ccff" else small_cnn
    x = torch.rand(5, 1, 28, 28) * (torch.rand(5, 1, 28, 28) > 0.7)
    net = unroll(model, (1, 28, 28))
    ws, out = induced_edge_weights(net, x)
    graphs, out2 = induced_graphs(net, x, percentile=percentile, return_outputs=True, batch_size=len(x))
    np.testing.assert_allclose(out, out2, atol=1e-6)
    np.testing.assert_allclose(out, model(x).detach().numpy(), atol=1e-6)
    for i, g in enumerate(graphs):
        want_ids, want_w = [], []
        for k in range(len(net.layers)):
            t = np.percentile(ws[k][i], percentile) if percentile is not None else 0.0
            sel = np.flatnonzero(ws[k][i] > t)
            want_ids.append(sel + net.edge_offsets[k])
            want_w.append(ws[k][i][sel])
        np.testing.assert_array_equal(g.edge_ids, np.concatenate(want_ids))
        np.testing.assert_array_equal(g.weights, np.concatenate(want_w))
        eu, ev = net.edge_endpoints()
        np.testing.assert_array_equal(g.u, eu[g.edge_ids])
        np.testing.assert_array_equal(g.v, ev[g.edge_ids])
        # the diagram is gudhi's on the same weighted graph
        np.testing.assert_allclose(_canon(g.diagram[0]), _canon(_gudhi_h0(g.u, g.v, g.weights.astype(float))),
                                   rtol=1e-6)
        assert g.diagram.metadata["negated"] is True


def test_graphs_follow_the_current_weights_and_threads_do_not_matter():
    torch.manual_seed(2)
    model = CCFF().eval()
    net = unroll(model, (1, 28, 28))
    x = torch.rand(6, 1, 28, 28)
    a = induced_graphs(net, x, n_jobs=1)
    b = induced_graphs(net, x, n_jobs=2, batch_size=4)
    for ga, gb in zip(a, b, strict=True):
        np.testing.assert_array_equal(ga.edge_ids, gb.edge_ids)
        np.testing.assert_array_equal(ga.subgraph, gb.subgraph)
    with torch.no_grad():
        model.fc2.weight.mul_(3.0)
    c = induced_graphs(net, x[:1])[0]
    fc2 = net.edge_offsets[3]
    np.testing.assert_allclose(c.weights[c.edge_ids >= fc2], 3 * a[0].weights[a[0].edge_ids >= fc2], rtol=1e-5)


def test_subgraph_features():
    torch.manual_seed(3)
    net = unroll(CCFF().eval(), (1, 28, 28))
    graphs = induced_graphs(net, torch.rand(4, 1, 28, 28))
    f_all = subgraph_features(graphs, net.n_edges)
    f_one = subgraph_features(graphs, net.n_edges, top=1)
    assert f_all.shape == (4, net.n_edges)
    for i, g in enumerate(graphs):
        assert f_all[i].nnz == (g.subgraph >= 0).sum()
        assert f_one[i].nnz == (g.subgraph == 0).sum() > 0
        assert set(f_one[i].indices) <= set(f_all[i].indices)
        np.testing.assert_array_equal(np.sort(g.edge_ids[g.subgraph_edges(0)]), f_one[i].indices)
    with pytest.raises(InvalidInputError, match="top"):
        subgraph_features(graphs, net.n_edges, top=0)
    with pytest.raises(InvalidInputError, match="n_edges"):
        subgraph_features(graphs, 10)


def test_bad_inputs():
    model = CCFF().eval()
    net = unroll(model, (1, 28, 28))
    x = torch.rand(2, 1, 28, 28)
    with pytest.raises(NonFiniteError):
        induced_graphs(net, x * float("nan"))
    with pytest.raises(ShapeError):
        induced_graphs(net, torch.rand(2, 28, 28))
    with pytest.raises(InvalidInputError, match="percentile"):
        induced_graphs(net, x, percentile=100)
    with pytest.raises(InvalidInputError, match="n_jobs"):
        induced_graphs(net, x, n_jobs=0)
    with pytest.raises(InvalidInputError, match="no inputs"):
        induced_graphs(net, x[:0])
    with pytest.raises(InvalidInputError, match="finite"):
        superlevel_h0(np.array([0]), np.array([1]), np.array([0.0]))
    with pytest.raises(ShapeError):
        superlevel_h0(np.array([0, 1]), np.array([1]), np.array([1.0]))
    with pytest.raises(InvalidInputError, match="rank"):
        induced_graphs(net, x[:1])[0].subgraph_edges(10_000)
    with torch.no_grad():
        model.conv1.weight.fill_(float("inf"))
    with pytest.raises(NonFiniteError, match="conv2"):
        induced_graphs(net, x)
    assert isinstance(nn.Module(), nn.Module)
