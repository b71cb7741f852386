import networkx as nx
import numpy as np
import pytest
import torch
from torch import nn

from topolens.exceptions import InvalidInputError, NonFiniteError
from topolens.graphs import max_spanning_lifetimes, neural_persistence


def _brute(a: np.ndarray) -> np.ndarray:
    """Lifetimes from networkx's maximum spanning tree of the bipartite graph."""
    n_out, n_in = a.shape
    g = nx.Graph()
    for j in range(n_out):
        for i in range(n_in):
            g.add_edge(("in", i), ("out", j), weight=a[j, i])
    t = nx.maximum_spanning_tree(g)
    return np.sort([1.0 - d["weight"] for _, _, d in t.edges(data=True)])


@pytest.mark.parametrize(("n_out", "n_in", "seed"), [(1, 1, 0), (3, 5, 1), (7, 4, 2), (12, 9, 3), (1, 6, 4)])
def test_lifetimes_match_networkx(n_out, n_in, seed):
    a = np.random.default_rng(seed).uniform(size=(n_out, n_in))
    np.testing.assert_allclose(np.sort(max_spanning_lifetimes(a)), _brute(a), atol=1e-12)


def test_hand_computed_layer():
    # weights normalised by the global max 4: [[1, .5], [.25, 0]]; max spanning tree keeps 1, .5, .25
    w = np.array([[4.0, -2.0], [1.0, 0.0]])
    res = neural_persistence([w])
    life = np.array([0.0, 0.5, 0.75])
    assert res.values[0] == pytest.approx(np.sqrt((life ** 2).sum()))
    assert res.normalized[0] == pytest.approx(np.sqrt((life ** 2).sum()) / np.sqrt(3))
    assert neural_persistence([w], p=1).values[0] == pytest.approx(1.25)


def test_global_normalisation_and_model_input():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3))
    res = neural_persistence(net)
    assert res.layers == ["0", "2"]
    ws = [net[0].weight.detach().numpy(), net[2].weight.detach().numpy()]
    top = max(np.abs(w).max() for w in ws)
    for k, w in enumerate(ws):
        life = _brute(np.abs(w).astype(np.float64) / top)
        assert res.values[k] == pytest.approx(np.sqrt((life ** 2).sum()), rel=1e-6)
    assert 0 <= res.mean_normalized <= 1
    assert [r["layer"] for r in res.rows()] == ["0", "2"]


def test_bad_inputs():
    with pytest.raises(InvalidInputError, match=r"no nn\.Linear"):
        neural_persistence(nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU()))
    with pytest.raises(InvalidInputError, match="zero"):
        neural_persistence([np.zeros((3, 2))])
    with pytest.raises(NonFiniteError):
        neural_persistence([np.array([[1.0, np.nan]])])
    with pytest.raises(InvalidInputError, match="2-D"):
        neural_persistence([np.ones(3)])
    with pytest.raises(InvalidInputError, match="p must"):
        neural_persistence([np.ones((2, 2))], p=0)


def test_monitor_stopping_rule():
    from topolens.graphs import NeuralPersistenceMonitor

    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 3))
    mon = NeuralPersistenceMonitor(net, patience=2, delta_min=0.0)
    assert mon.step() is False  # first value is the best so far
    assert mon.step() is False  # unchanged weights: 1 step without increase
    assert mon.step() is True and mon.stopped_at_ == 2
    assert len(mon.mean_normalized_) == 3 and len(set(mon.mean_normalized_)) == 1
    # an increase resets the wait
    net2 = nn.Sequential(nn.Linear(4, 3))
    mon2 = NeuralPersistenceMonitor(net2, patience=2)
    mon2.step()
    with torch.no_grad():  # one dominant weight: the others normalise to ~0, lifetimes to ~1
        net2[0].weight[0, 0] = 100.0
    before = mon2.best_
    assert mon2.step() is False and mon2.best_ > before
    with pytest.raises(InvalidInputError, match="patience"):
        NeuralPersistenceMonitor(net, patience=0)
