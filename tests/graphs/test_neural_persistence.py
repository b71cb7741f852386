import time

import networkx as nx
import numpy as np
import pytest
import torch
from torch import nn

from topolens.exceptions import InvalidInputError, NonFiniteError
from topolens.graphs import max_spanning_lifetimes, neural_persistence
from topolens.graphs.neural_persistence import max_spanning_forest_lifetimes


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
    with pytest.raises(InvalidInputError, match=r"no nn\.Linear or nn\.Conv2d"):
        neural_persistence(nn.Sequential(nn.ReLU(), nn.Flatten()))
    with pytest.raises(InvalidInputError, match=r"conv='skip' ignores its 1 nn\.Conv2d"):
        neural_persistence(nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU()), conv="skip")
    with pytest.raises(InvalidInputError, match="zero"):
        neural_persistence([np.zeros((3, 2))])
    with pytest.raises(NonFiniteError):
        neural_persistence([np.array([[1.0, np.nan]])])
    with pytest.raises(InvalidInputError, match="2-D"):
        neural_persistence([np.ones(3)])
    with pytest.raises(InvalidInputError, match="2-D"):
        neural_persistence([np.ones((2, 2, 2))])
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


# --- convolutional layers -------------------------------------------------------------------


def _np_of(life: np.ndarray, p: float = 2.0) -> tuple[float, float]:
    value = float(np.sum(life ** p) ** (1.0 / p))
    return value, value / life.size ** (1.0 / p)


def _brute_unrolled(kernel: np.ndarray, top: float, in_hw: tuple[int, int], stride: int,
                    padding: int) -> np.ndarray:
    """Lifetimes of networkx's maximum spanning forest of the explicitly unrolled conv graph.

    Built with plain loops over output positions and kernel taps (not with conv2d_edges).
    """
    c_out, c_in, kh, kw = kernel.shape
    h, w = in_hw
    oh = (h + 2 * padding - kh) // stride + 1
    ow = (w + 2 * padding - kw) // stride + 1
    g = nx.Graph()
    for o in range(c_out):
        for r in range(oh):
            for c in range(ow):
                for ci in range(c_in):
                    for a in range(kh):
                        for b in range(kw):
                            y, x = r * stride - padding + a, c * stride - padding + b
                            if 0 <= y < h and 0 <= x < w:  # taps on the zero padding: no edge
                                g.add_edge(("in", ci, y, x), ("out", o, r, c),
                                           weight=abs(kernel[o, ci, a, b]) / top)
    forest = nx.maximum_spanning_tree(g)  # a spanning forest when g is not connected
    return np.sort([1.0 - d["weight"] for _, _, d in forest.edges(data=True)])


def _conv_net(stride: int = 1, padding: int = 0, seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    conv = nn.Conv2d(2, 3, 3, stride=stride, padding=padding)
    side = (6 + 2 * padding - 3) // stride + 1
    return nn.Sequential(conv, nn.ReLU(), nn.Flatten(), nn.Linear(3 * side * side, 4))


def test_kernel_mode_equals_reshaped_linear():
    net = _conv_net()
    k = net[0].weight.detach().numpy()
    lin = net[3].weight.detach().numpy()
    res = neural_persistence(net)  # conv="kernel" is the default
    ref = neural_persistence([k.reshape(3, -1), lin])
    assert res.layers == ["0", "3"] and res.kinds == ["conv2d-kernel", "linear"]
    np.testing.assert_allclose(res.values, ref.values, rtol=1e-12)
    np.testing.assert_allclose(res.normalized, ref.normalized, rtol=1e-12)
    # 4-D arrays are read as kernels; the global max covers the conv and the linear weights
    np.testing.assert_allclose(neural_persistence([k, lin]).values, ref.values, rtol=1e-12)
    assert [r["kind"] for r in res.rows()] == ["conv2d-kernel", "linear"]
    # conv="skip" keeps only the Linear layer, normalised by its own max
    skip = neural_persistence(net, conv="skip")
    assert skip.layers == ["3"]
    assert skip.values[0] == pytest.approx(neural_persistence([lin]).values[0], rel=1e-12)


@pytest.mark.parametrize(("stride", "padding"), [(1, 0), (2, 1)])
def test_unrolled_mode_matches_networkx(stride, padding):
    net = _conv_net(stride, padding, seed=stride)
    k = net[0].weight.detach().double().numpy()
    lin = net[3].weight.detach().double().numpy()
    top = max(np.abs(k).max(), np.abs(lin).max())
    res = neural_persistence(net, conv="unrolled", input_shape=(2, 6, 6))
    assert res.kinds == ["conv2d-unrolled", "linear"]
    life = _brute_unrolled(k, top, (6, 6), stride, padding)
    value, norm = _np_of(life)
    assert res.values[0] == pytest.approx(value, rel=1e-9)
    assert res.normalized[0] == pytest.approx(norm, rel=1e-9)
    assert neural_persistence(net, p=1, conv="unrolled", input_shape=(2, 6, 6)).values[0] == \
        pytest.approx(life.sum(), rel=1e-9)
    # the Linear layer is unchanged by the conv mode, given the same global max
    assert res.values[1] == pytest.approx(neural_persistence(net).values[1], rel=1e-12)


def test_unrolled_forest_when_not_connected():
    # stride 3 with a 2x2 kernel on a 7x7 input: the 2x2 windows are disjoint and 33 of the 49
    # pixels are never read, so the graph has 4 components (4 pixels + 2 outputs each)
    torch.manual_seed(3)
    net = nn.Sequential(nn.Conv2d(1, 2, 2, stride=3))
    k = net[0].weight.detach().double().numpy()
    res = neural_persistence(net, conv="unrolled", input_shape=(1, 7, 7))
    life = _brute_unrolled(k, np.abs(k).max(), (7, 7), 3, 0)
    assert life.size == (4 * 4 + 2 * 4) - 4  # vertices with an edge minus components
    value, norm = _np_of(life)
    assert res.values[0] == pytest.approx(value, rel=1e-9)
    assert res.normalized[0] == pytest.approx(norm, rel=1e-9)


def test_forest_lifetimes_function():
    # a path in0 - out0 - in1 plus an isolated edge in2 - out1, and a duplicated edge
    life = max_spanning_forest_lifetimes(np.array([0, 1, 2, 1]), np.array([0, 0, 1, 0]),
                                         np.array([0.5, 0.0, 1.0, 0.25]), 4, 3)
    np.testing.assert_allclose(np.sort(life), [0.0, 0.5, 0.75])
    with pytest.raises(InvalidInputError, match=r"\[0, 1\]"):
        max_spanning_forest_lifetimes(np.array([0]), np.array([0]), np.array([1.5]), 1, 1)
    with pytest.raises(InvalidInputError, match="out of range"):
        max_spanning_forest_lifetimes(np.array([3]), np.array([0]), np.array([0.5]), 1, 1)


def test_pointwise_conv_on_one_pixel_equals_linear():
    torch.manual_seed(4)
    conv = nn.Conv2d(4, 3, 1, bias=False)
    lin = nn.Linear(4, 3, bias=False)
    with torch.no_grad():
        lin.weight.copy_(conv.weight[:, :, 0, 0])
    ref = neural_persistence(nn.Sequential(lin))
    for mode in ("kernel", "unrolled"):
        res = neural_persistence(nn.Sequential(conv), conv=mode, input_shape=(4, 1, 1))
        np.testing.assert_allclose(res.values, ref.values, rtol=1e-12)
        np.testing.assert_allclose(res.normalized, ref.normalized, rtol=1e-12)


def test_conv_bad_inputs():
    grouped = nn.Sequential(nn.Conv2d(4, 4, 3, groups=2))
    with pytest.raises(InvalidInputError, match=r"groups=2.*conv='unrolled'"):
        neural_persistence(grouped)
    # the unrolled graph of a grouped conv is fine
    assert neural_persistence(grouped, conv="unrolled", input_shape=(4, 5, 5)).values[0] > 0
    with pytest.raises(InvalidInputError, match="needs input_shape"):
        neural_persistence(_conv_net(), conv="unrolled")
    with pytest.raises(InvalidInputError, match="conv must be one of"):
        neural_persistence(_conv_net(), conv="exact")
    with pytest.raises(InvalidInputError, match="conv must be one of"):
        from topolens.graphs import NeuralPersistenceMonitor

        NeuralPersistenceMonitor(_conv_net(), conv="full")
    with pytest.raises(InvalidInputError, match=r"conv='kernel'"):
        neural_persistence([np.ones((2, 1, 3, 3))], conv="unrolled")
    with pytest.raises(InvalidInputError, match="could not unroll"):  # wrong channel count
        neural_persistence(_conv_net(), conv="unrolled", input_shape=(3, 6, 6))
    # an MLP needs no input_shape in unrolled mode
    assert neural_persistence(nn.Sequential(nn.Linear(3, 2)), conv="unrolled").layers == ["0"]


def test_monitor_passes_conv_mode():
    from topolens.graphs import NeuralPersistenceMonitor

    net = _conv_net()
    mon = NeuralPersistenceMonitor(net, conv="unrolled", input_shape=(2, 6, 6))
    mon.step()
    exact = neural_persistence(net, conv="unrolled", input_shape=(2, 6, 6))
    assert mon.history_[0].kinds == ["conv2d-unrolled", "linear"]
    np.testing.assert_allclose(mon.history_[0].values, exact.values)
    skip = NeuralPersistenceMonitor(net, conv="skip")
    skip.step()
    assert skip.history_[0].layers == ["3"]


def test_unrolled_small_cnn_is_fast():
    from topolens.models import SmallCNN

    torch.manual_seed(0)
    net = SmallCNN()
    t = time.perf_counter()
    res = neural_persistence(net, conv="unrolled", input_shape=(1, 28, 28))
    assert time.perf_counter() - t < 2.0
    assert res.layers == ["conv1", "conv2", "fc1", "fc2"]
    assert np.all((res.normalized > 0) & (res.normalized <= 1))
