"""TOGL: hand-computed pairs, symmetry, batching, the dense form, gradients and a learning check."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch.func import functional_call

from topolens.datasets.synthetic_graphs import make_cycles
from topolens.exceptions import InvalidInputError, NonFiniteError, ShapeError
from topolens.nn.gnn import GCNClassifier, batch_graphs, edge_index_to_dense, to_dense_batch
from topolens.nn.togl import TOGL, TOGLClassifier, togl_pairs


def _graph(seed: int, n: int = 9, p: float = 0.35):
    """A random undirected graph (both directions listed) with float64 features."""
    g = np.random.default_rng(seed)
    a = np.triu(g.random((n, n)) < p, 1)
    u, v = np.nonzero(a)
    ei = torch.as_tensor(np.concatenate([np.stack([u, v]), np.stack([v, u])], 1))
    return torch.as_tensor(g.normal(size=(n, 4))), ei


def _layer(seed: int = 0, **kw) -> TOGL:
    torch.manual_seed(seed)
    layer = TOGL(4, n_filtrations=3, hidden=8, filtration_hidden=6, **kw).double()
    with torch.no_grad():   # non-trivial batch-norm statistics, so eval mode is not the identity
        layer.bn.running_mean.uniform_(-0.5, 0.5)
        layer.bn.running_var.uniform_(0.5, 2.0)
    return layer.eval()


def test_togl_pairs_by_hand():
    # graph 0: triangle 0-1-2 with f = 0, 1, 2; graph 1: the edge 3-4 with f = 5, 3 (k = 1)
    f = torch.tensor([[0.0], [1.0], [2.0], [5.0], [3.0]])
    ei = torch.tensor([[0, 1, 2, 1, 3, 4], [1, 2, 0, 0, 4, 3]])     # repeats and both directions
    p = togl_pairs(f, ei, torch.tensor([0, 0, 0, 1, 1]))
    # infinite deaths become the max of the graph: 2 for graph 0, 5 for graph 1
    assert p.vertex.tolist() == [[0, 2], [1, 1], [2, 2], [5, 5], [3, 5]]
    assert p.f_max.tolist() == [[2.0], [5.0]]
    assert p.edge_index.tolist() == [[0, 0, 1, 3], [1, 2, 2, 4]]
    assert p.edge_batch.tolist() == [0, 0, 0, 1]
    assert p.cycle_mask[:, 0].sum() == 1 and not p.cycle_mask[3, 0]  # the triangle's one cycle
    c = int(torch.nonzero(p.cycle_mask[:, 0])[0, 0])
    assert p.edge[c].tolist() == [[2, 2]]                            # (value 2, inf -> max 2)
    assert (p.edge[torch.arange(4) != c] == 0).all()                 # non-cycle edges are zero
    assert torch.isfinite(p.vertex).all() and torch.isfinite(p.edge).all()


def _rows(a: np.ndarray) -> np.ndarray:
    return a[np.lexsort((a[:, 1], a[:, 0]))]


def test_togl_pairs_match_gudhi_lower_star():
    gudhi = pytest.importorskip("gudhi")
    _, ei = _graph(12, n=14, p=0.3)
    f = torch.as_tensor(np.random.default_rng(0).normal(size=(14, 2)))
    p = togl_pairs(f, ei)
    for j in range(2):
        st = gudhi.SimplexTree()
        for v in range(14):
            st.insert([v], float(f[v, j]))
        for u, v in p.edge_index.t().tolist():
            st.insert([u, v], float(max(f[u, j], f[v, j])))
        st.compute_persistence(persistence_dim_max=True)
        top = float(f[:, j].max())
        for dim, ours in ((0, p.vertex.reshape(14, 2, 2)[:, j]), (1, p.edge[:, j][p.cycle_mask[:, j]])):
            ref = np.array(st.persistence_intervals_in_dimension(dim)).reshape(-1, 2)
            ref[np.isinf(ref[:, 1]), 1] = top
            ours = ours.numpy()
            ours = ours[ours[:, 1] > ours[:, 0]] if dim == 0 else ours
            ref = ref[ref[:, 1] > ref[:, 0]] if dim == 0 else ref
            assert len(ours) == len(ref) > 0
            np.testing.assert_allclose(_rows(ours), _rows(ref), rtol=1e-12)
        assert int(p.cycle_mask[:, j].sum()) == len(st.persistence_intervals_in_dimension(1))


def test_togl_pairs_gradient_reaches_the_graph_maximum():
    f = torch.tensor([[0.0], [1.0], [2.0]], requires_grad=True)
    p = togl_pairs(f, torch.tensor([[0, 1], [1, 2]]))
    p.vertex[0, 1].backward()                                        # death of the essential class
    assert f.grad[:, 0].tolist() == [0.0, 0.0, 1.0]


@pytest.mark.parametrize("aggregation", ["deepset", "mlp"])
@pytest.mark.parametrize("cycles", [True, False])
def test_permutation_equivariance_and_invariance(aggregation, cycles):
    x, ei = _graph(1)
    layer = _layer(aggregation=aggregation, cycles=cycles)
    out = layer(x, ei)
    perm = torch.as_tensor(np.random.default_rng(5).permutation(len(x)))
    inv = torch.argsort(perm)                                        # new id of old vertex i is inv[i]
    out_p = layer(x[perm], inv[ei])
    torch.testing.assert_close(out_p, out[perm], rtol=1e-10, atol=1e-10)
    # graph-level outputs of the classifier are invariant
    torch.manual_seed(1)
    clf = TOGLClassifier(4, 3, 8, n_filtrations=3, togl_hidden=8, aggregation=aggregation,
                         cycles=cycles).double().eval()
    torch.testing.assert_close(clf(x[perm], inv[ei]), clf(x, ei), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("seed", range(6))
def test_edge_order_does_not_matter(seed):
    # the edges of a vertex to lower neighbours enter at the same value: which of them closes a
    # cycle depends on the edge order, the output must not (a per-edge layout would fail here)
    x, ei = _graph(20 + seed, n=12, p=0.4)
    layer = _layer(seed)
    cols = torch.as_tensor(np.random.default_rng(seed).permutation(ei.shape[1]))
    torch.testing.assert_close(layer(x, ei[:, cols]), layer(x, ei), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(layer(x, ei.flip(0)), layer(x, ei), rtol=1e-12, atol=1e-12)


def test_equivariance_holds_in_training_mode_too():
    x, ei = _graph(2)
    layer = _layer().train()
    perm = torch.as_tensor(np.random.default_rng(0).permutation(len(x)))
    torch.testing.assert_close(layer(x[perm], torch.argsort(perm)[ei]), layer(x, ei)[perm])


def test_disjoint_union_equals_graphs_alone():
    (x1, e1), (x2, e2) = _graph(3, n=7), _graph(4, n=10)
    layer = _layer()
    x = torch.cat([x1, x2])
    ei = torch.cat([e1, e2 + len(x1)], 1)
    batch = torch.cat([torch.zeros(len(x1)), torch.ones(len(x2))]).long()
    out = layer(x, ei, batch)
    torch.testing.assert_close(out[:7], layer(x1, e1), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(out[7:], layer(x2, e2), rtol=1e-12, atol=1e-12)
    # without the batch vector the union is one graph: the set and cycle pooling mix them
    assert not torch.allclose(layer(x, ei)[:7], out[:7])


def test_dense_form_equals_edge_index_form():
    graphs = [_graph(s, n=n) for s, n in ((5, 6), (6, 9), (7, 4))]
    x = torch.cat([g[0] for g in graphs])
    offs = np.cumsum([0] + [len(g[0]) for g in graphs])
    ei = torch.cat([g[1] + int(o) for g, o in zip(graphs, offs[:-1], strict=True)], 1)
    batch = torch.repeat_interleave(torch.arange(3), torch.tensor([len(g[0]) for g in graphs]))
    layer = _layer()
    sparse = layer(x, ei, batch)
    xd, mask = to_dense_batch(x, batch)
    xd[~mask] = 7.0                                                  # padding must not matter
    adj, _ = edge_index_to_dense(ei, batch)
    dense = layer(xd, adj=adj, mask=mask)
    assert dense.shape == (3, 9, 4) and (dense[~mask] == 0).all()
    torch.testing.assert_close(dense[mask], sparse, rtol=1e-12, atol=1e-12)
    # a torch_geometric-like object gives the same result
    torch.testing.assert_close(layer(SimpleNamespace(x=x, edge_index=ei, batch=batch)), sparse)


def test_torch_geometric_batches_plug_in():
    pyg = pytest.importorskip("torch_geometric.data", reason="torch-geometric is optional (bench extra)")
    ds = make_cycles(6, seed=3)
    graphs = [pyg.Data(x=torch.as_tensor(g.node_attributes, dtype=torch.float64),
                       edge_index=torch.as_tensor(np.concatenate([g.edges, g.edges[:, ::-1]]).T.copy()))
              for g in ds.graphs]
    data = pyg.Batch.from_data_list(graphs)
    model = TOGLClassifier(3, 2, hidden=8, n_filtrations=2, togl_hidden=8, filtration_hidden=8).double().eval()
    out = model(data)
    assert out.shape == (6, 2)
    torch.testing.assert_close(out, model(data.x, data.edge_index, data.batch))
    for i, g in enumerate(graphs):  # one graph at a time: the same logits
        torch.testing.assert_close(out[i:i + 1], model(g.x, g.edge_index))


@pytest.mark.parametrize("cycles", [True, False])
def test_gradcheck_filtration_parameters_and_features(cycles):
    # two triangles sharing vertex 2 plus a pendant vertex and an isolated edge: H0 and H1 pairs
    ei = torch.tensor([[0, 1, 2, 2, 3, 4, 5, 6], [1, 2, 0, 3, 4, 2, 6, 7]])
    batch = torch.tensor([0, 0, 0, 0, 0, 0, 1, 1])
    x = torch.as_tensor(np.random.default_rng(11).normal(size=(8, 4)), dtype=torch.float64)
    layer = _layer(3, cycles=cycles)
    f = layer.filtrations(x).detach()
    assert (torch.diff(torch.sort(f, 0).values, dim=0) > 1e-3).all()    # distinct values
    names = [n for n, _ in layer.named_parameters() if n.startswith("filtration.")]
    params = tuple(dict(layer.named_parameters())[n].detach().clone().requires_grad_(True) for n in names)

    def fn(x, *ps):
        return functional_call(layer, dict(zip(names, ps, strict=True)), (x, ei, batch))

    assert torch.autograd.gradcheck(fn, (x.clone().requires_grad_(True), *params), eps=1e-6, atol=1e-6)


def test_gradients_reach_the_filtration_mlp():
    x, ei = _graph(8)
    layer = TOGL(4, 3, 8).double().train()
    layer(x.requires_grad_(True), ei).pow(2).sum().backward()
    for p in layer.filtration.parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0
    assert x.grad.abs().sum() > 0


def test_graph_without_edges_and_projection():
    layer = TOGL(4, 2, 5, out_features=6).double().eval()
    out = layer(torch.randn(3, 4, dtype=torch.float64), torch.zeros(2, 0, dtype=torch.long))
    assert out.shape == (3, 6) and torch.isfinite(out).all()


def test_bad_inputs_raise_topolens_errors():
    x, ei = _graph(9)
    layer = TOGL(4, 2, 4).double()
    with pytest.raises(InvalidInputError, match="only 9 nodes"):
        layer(x, torch.tensor([[0, 9], [9, 0]]))
    with pytest.raises(ShapeError, match="expects 4"):
        layer(x[:, :3], ei)
    with pytest.raises(ShapeError, match=r"\(2, n_edges\)"):
        layer(x, ei.t())
    bad = x.clone()
    bad[0, 0] = float("inf")
    with pytest.raises(NonFiniteError):
        layer(bad, ei)
    with pytest.raises(ShapeError):
        layer(x, ei, torch.zeros(3, dtype=torch.long))
    with pytest.raises(ShapeError):
        layer(x[None], adj=torch.zeros(1, 9, 9), mask=torch.ones(1, 8, dtype=torch.bool))
    with pytest.raises(InvalidInputError):
        layer(x[None], ei, adj=torch.zeros(1, 9, 9))
    for kw in ({"aggregation": "sum"}, {"n_filtrations": 0}, {"hidden": 2.0}):
        with pytest.raises(InvalidInputError):
            TOGL(4, **kw)
    with pytest.raises(ShapeError):
        togl_pairs(torch.zeros(4), ei)


def _fit(model, train, y_train, epochs):
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    g = np.random.default_rng(0)
    for _ in range(epochs):
        order = g.permutation(len(train))
        for s in range(0, len(order), 25):
            ids = order[s:s + 25]
            b = batch_graphs([train[i] for i in ids])
            loss = torch.nn.functional.cross_entropy(model(b.x, b.edge_index, b.batch), y_train[ids])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model.eval()


def test_one_togl_layer_learns_cycles_where_a_one_layer_gcn_cannot():
    torch.manual_seed(0)
    d = make_cycles(300, seed=0)
    y = torch.as_tensor(d.y)
    tr, te = d.graphs[:200], d.graphs[200:]
    bt = batch_graphs(te)
    acc = {}
    for name, model in (("togl", TOGLClassifier(3, 2, 16, togl_hidden=16)), ("gcn", GCNClassifier(3, 16, 2, 1))):
        _fit(model, tr, y[:200], 12)
        with torch.no_grad():
            acc[name] = float((model(bt.x, bt.edge_index, bt.batch).argmax(1) == y[200:]).float().mean())
    assert acc["togl"] >= 0.95, acc
    assert acc["gcn"] <= 0.7, acc
