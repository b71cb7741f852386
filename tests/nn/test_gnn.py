"""Plain-torch GNN blocks against dense numpy references."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from topolens.datasets.synthetic_graphs import make_necklaces
from topolens.datasets.tu import Graph
from topolens.exceptions import InvalidInputError, NonFiniteError, ShapeError
from topolens.nn.gnn import (
    GCNClassifier,
    GCNConv,
    batch_graphs,
    dense_gcn_conv,
    dense_to_edge_index,
    edge_index_to_dense,
    gcn_conv,
    global_add_pool,
    global_max_pool,
    global_mean_pool,
    to_dense_batch,
    to_undirected,
)


def _random_graph(n: int, p: float, rng: np.random.Generator) -> np.ndarray:
    a = np.triu(rng.random((n, n)) < p, 1)
    return (a | a.T).astype(np.float64)


def _reference(a: np.ndarray, x: np.ndarray, w: np.ndarray, b: np.ndarray, loops: bool = True) -> np.ndarray:
    """D^-1/2 (A + I) D^-1/2 X W + b, with 0 for isolated nodes when loops=False."""
    ah = a + np.eye(len(a)) if loops else a
    deg = ah.sum(1)
    inv = np.where(deg > 0, 1 / np.sqrt(np.where(deg > 0, deg, 1)), 0.0)
    return (inv[:, None] * ah * inv[None, :]) @ x @ w + b


def _edge_index(a: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(np.array(np.nonzero(a)))


@pytest.mark.parametrize("loops", [True, False])
def test_gcn_edge_index_form_equals_dense_reference(loops):
    rng = np.random.default_rng(0)
    a = _random_graph(12, 0.3, rng)
    a[3, :] = a[:, 3] = 0                                                # an isolated node
    x, w, b = rng.normal(size=(12, 5)), rng.normal(size=(5, 4)), rng.normal(size=4)
    ref = _reference(a, x, w, b, loops)
    out = gcn_conv(torch.as_tensor(x), _edge_index(a), torch.as_tensor(w), torch.as_tensor(b),
                   add_self_loops=loops)
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-12, atol=1e-12)
    # self-loops already in the input are replaced, not doubled
    ei = torch.cat([_edge_index(a), torch.tensor([[0, 5], [0, 5]])], 1)
    out2 = gcn_conv(torch.as_tensor(x), ei, torch.as_tensor(w), torch.as_tensor(b), add_self_loops=loops)
    np.testing.assert_allclose(out2.numpy(), ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("loops", [True, False])
def test_gcn_dense_form_equals_reference_and_ignores_padding(loops):
    rng = np.random.default_rng(1)
    sizes, n_max, d = [7, 4, 9], 9, 3
    w, b = rng.normal(size=(d, 2)), rng.normal(size=2)
    x = rng.normal(size=(3, n_max, d)) * 50                              # padding holds garbage
    adj = np.zeros((3, n_max, n_max))
    mask = np.zeros((3, n_max), dtype=bool)
    for i, n in enumerate(sizes):
        adj[i, :n, :n] = _random_graph(n, 0.4, rng)
        mask[i, :n] = True
    out = dense_gcn_conv(torch.as_tensor(x), torch.as_tensor(adj), torch.as_tensor(w), torch.as_tensor(b),
                         torch.as_tensor(mask), add_self_loops=loops).numpy()
    for i, n in enumerate(sizes):
        np.testing.assert_allclose(out[i, :n], _reference(adj[i, :n, :n], x[i, :n], w, b, loops),
                                   rtol=1e-12, atol=1e-12)
        assert (out[i, n:] == 0).all()
    # the module gives the same in both forms with the same weights
    conv = GCNConv(d, 2, add_self_loops=loops).double()
    xt, at, mt = torch.as_tensor(x), torch.as_tensor(adj), torch.as_tensor(mask)
    ei, _ = dense_to_edge_index(at, mt)
    dense = conv(xt, adj=at, mask=mt)
    sparse = conv(xt[mt], ei)
    torch.testing.assert_close(dense[mt], sparse, rtol=1e-12, atol=1e-12)


def test_gcn_gradcheck():
    rng = np.random.default_rng(2)
    a = _random_graph(6, 0.5, rng)
    x = torch.tensor(rng.normal(size=(6, 3)), requires_grad=True)
    w = torch.tensor(rng.normal(size=(3, 2)), requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, w: gcn_conv(x, _edge_index(a), w), (x, w))
    at = torch.as_tensor(a)[None]
    assert torch.autograd.gradcheck(lambda x, w: dense_gcn_conv(x[None], at, w), (x, w))


def test_dense_edge_index_round_trip():
    rng = np.random.default_rng(3)
    sizes, n_max = [5, 1, 8, 3], 8
    adj = torch.zeros(4, n_max, n_max)
    mask = torch.zeros(4, n_max, dtype=torch.bool)
    for i, n in enumerate(sizes):
        adj[i, :n, :n] = torch.as_tensor(_random_graph(n, 0.5, rng))
        mask[i, :n] = True
    ei, batch = dense_to_edge_index(adj, mask)
    assert batch.tolist() == [i for i, n in enumerate(sizes) for _ in range(n)]
    assert ei.shape[1] == int(adj.sum())
    adj2, mask2 = edge_index_to_dense(ei, batch)
    assert torch.equal(adj2, adj) and torch.equal(mask2, mask)
    # and the other way round, starting from an edge list (sorted by source, then target)
    ei3, _ = dense_to_edge_index(*edge_index_to_dense(ei, batch))
    assert torch.equal(ei3, ei)
    # one graph given as a plain (n, n) matrix
    ei1, b1 = dense_to_edge_index(adj[2, :8, :8])
    assert torch.equal(edge_index_to_dense(ei1, b1)[0][0], adj[2])


def test_dense_helpers_reject_bad_input():
    adj = torch.zeros(1, 3, 3)
    adj[0, 0, 2] = adj[0, 2, 0] = 1
    with pytest.raises(InvalidInputError, match="padded"):
        dense_to_edge_index(adj, torch.tensor([[True, True, False]]))
    with pytest.raises(InvalidInputError, match="different graphs"):
        edge_index_to_dense(torch.tensor([[0], [2]]), torch.tensor([0, 0, 1]))
    with pytest.raises(InvalidInputError, match="non-decreasing"):
        to_dense_batch(torch.ones(3, 1), torch.tensor([1, 0, 1]))
    with pytest.raises(ShapeError):
        dense_to_edge_index(torch.zeros(2, 3, 4))


def test_to_dense_batch_and_pooling_against_numpy():
    rng = np.random.default_rng(4)
    x = torch.as_tensor(rng.normal(size=(9, 3)))
    batch = torch.tensor([0, 0, 0, 2, 2, 3, 3, 3, 3])                   # graph 1 is empty
    xd, mask = to_dense_batch(x, batch)
    assert xd.shape == (4, 4, 3) and mask.sum(1).tolist() == [3, 0, 2, 4]
    assert torch.equal(xd[mask], x) and (xd[~mask] == 0).all()
    for pool, ref in ((global_mean_pool, np.mean), (global_add_pool, np.sum), (global_max_pool, np.max)):
        out = pool(x, batch).numpy()
        assert out.shape == (4, 3)
        for g in (0, 2, 3):
            np.testing.assert_allclose(out[g], ref(x.numpy()[batch.numpy() == g], axis=0), rtol=1e-12)
        assert (out[1] == 0).all()
    assert global_mean_pool(x, batch, n_graphs=6).shape == (6, 3)
    with pytest.raises(InvalidInputError, match="n_graphs"):
        global_mean_pool(x, batch, n_graphs=2)  # the batch refers to 4 graphs
    # max pooling is invariant to the order of the nodes
    perm = torch.as_tensor(rng.permutation(9))
    torch.testing.assert_close(global_max_pool(x[perm], batch[perm]), global_max_pool(x, batch))


def test_to_undirected():
    ei = torch.tensor([[0, 1, 2, 2, 3], [1, 0, 1, 2, 0]])
    out = to_undirected(ei, 4)
    assert out.tolist() == [[0, 0, 1, 1, 2, 3], [1, 3, 0, 2, 1, 0]]
    assert to_undirected(ei, 4, self_loops=True).shape[1] == 7


def test_batch_graphs_layout():
    g0 = Graph(3, np.array([[0, 1], [1, 2]]), node_labels=np.array([5, 7, 5]),
               node_attributes=np.arange(6.0).reshape(3, 2))
    g1 = Graph(2, np.array([[0, 1]]), node_labels=np.array([7, 9]), node_attributes=np.ones((2, 2)))
    b = batch_graphs([g0, g1])
    assert b.n_graphs == 2 and b.batch.tolist() == [0, 0, 0, 1, 1] and b.ptr.tolist() == [0, 3, 5]
    assert sorted(map(tuple, b.edge_index.t().tolist())) == [(0, 1), (1, 0), (1, 2), (2, 1), (3, 4), (4, 3)]
    assert b.x.dtype == torch.float32 and b.x[:3].tolist() == [[0, 1], [2, 3], [4, 5]]
    lab = batch_graphs([g0, g1], features="labels").x
    assert lab.tolist() == [[1, 0, 0], [0, 1, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]]
    assert batch_graphs([g0, Graph(1, np.zeros((0, 2), dtype=np.int64))]).x.shape == (4, 1)   # ones
    with pytest.raises(InvalidInputError):
        batch_graphs([])


def test_classifier_accepts_graph_objects_and_batches_independently():
    d = make_necklaces(6, seed=0)
    torch.manual_seed(0)
    model = GCNClassifier(3, 16, 2, n_layers=2).eval()
    b = batch_graphs(d.graphs)
    out = model(b.x, b.edge_index, b.batch)
    assert out.shape == (6, 2)
    data = SimpleNamespace(x=b.x, edge_index=b.edge_index, batch=b.batch)   # torch_geometric-like
    torch.testing.assert_close(model(data), out)
    for i, g in enumerate(d.graphs):
        s = batch_graphs([g])
        torch.testing.assert_close(model(s.x, s.edge_index), out[i:i + 1], rtol=1e-5, atol=1e-5)
    # training reaches the embedding through the convolutions
    model.train()
    model(b.x, b.edge_index, b.batch).sum().backward()
    assert model.embedding.weight.grad.abs().sum() > 0


def test_bad_inputs_raise_topolens_errors():
    x = torch.randn(4, 3)
    w = torch.randn(3, 2)
    ei = torch.tensor([[0, 1], [1, 2]])
    with pytest.raises(InvalidInputError, match="only 4 nodes"):
        gcn_conv(x, torch.tensor([[0, 4], [4, 0]]), w)
    with pytest.raises(InvalidInputError, match="only 4 nodes"):
        gcn_conv(x, torch.tensor([[0, -1], [1, 0]]), w)
    with pytest.raises(ShapeError, match=r"\(2, n_edges\)"):
        gcn_conv(x, ei.t().contiguous().reshape(1, 4), w)
    with pytest.raises(InvalidInputError, match="integer"):
        gcn_conv(x, ei.float(), w)
    with pytest.raises(ShapeError):
        gcn_conv(x, ei, torch.randn(2, 2))
    with pytest.raises(ShapeError):
        gcn_conv(x[0], ei, w)
    bad = x.clone()
    bad[1, 2] = float("nan")
    with pytest.raises(NonFiniteError, match="NaN"):
        gcn_conv(bad, ei, w)
    model = GCNClassifier(3, 8, 2)
    with pytest.raises(ShapeError, match="expects 3"):
        model(torch.randn(4, 5), ei)
    with pytest.raises(ShapeError):
        model(x, ei, torch.zeros(3, dtype=torch.long))
    with pytest.raises(InvalidInputError):
        GCNClassifier(3, 8, 1)
    with pytest.raises(InvalidInputError):
        GCNConv(3, 2)(x)
    with pytest.raises(ShapeError):
        dense_gcn_conv(torch.randn(1, 4, 3), torch.zeros(1, 3, 3), w)
