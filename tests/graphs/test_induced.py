import numpy as np
import pytest
import torch
from torch import nn

from tests.homology.test_graph import _canon, _gudhi_h0
from topolens.exceptions import InvalidInputError, NonFiniteError, ShapeError, TopolensWarning
from topolens.graphs import (
    induced_edge_weights,
    induced_graphs,
    subgraph_features,
    unroll,
)
from topolens.graphs.induced import layer_threshold
from topolens.models import CCFF, SmallCNN


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
    with pytest.raises(InvalidInputError, match="rank"):
        induced_graphs(net, x[:1])[0].subgraph_edges(10_000)
    with pytest.warns(TopolensWarning, match="no edge"):
        g = induced_graphs(net, torch.cat([x[:1], torch.zeros(1, 1, 28, 28)]))[1]
    assert g.edge_ids.size == 0 and len(g.diagram[0]) == 0
    with torch.no_grad():
        model.fc2.weight.zero_()
    with pytest.raises(InvalidInputError, match="only zero weights"):
        induced_graphs(net, x)
    with torch.no_grad():
        model.conv1.weight.fill_(float("inf"))
    with pytest.raises(NonFiniteError, match="conv1"):
        induced_graphs(net, x)


def test_graphs_are_computed_in_eval_mode_and_the_mode_is_restored():
    torch.manual_seed(4)
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Dropout(0.5), nn.Flatten(), nn.Linear(2 * 6 * 6, 3))
    model.train()
    net = unroll(model, (1, 8, 8))
    x = torch.rand(2, 1, 8, 8)
    a, b = induced_graphs(net, x), induced_graphs(net, x)
    for ga, gb in zip(a, b, strict=True):
        np.testing.assert_array_equal(ga.edge_ids, gb.edge_ids)
    assert model.training
