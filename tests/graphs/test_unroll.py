import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from torch import nn

from topolens.exceptions import InvalidInputError, MemoryBudgetError, ShapeError
from topolens.graphs import conv2d_edges, induced_edge_weights, linear_edges, pool2d_edges, unroll
from topolens.models import CCFF, SmallCNN

CONVS = [  # (c_in, c_out, kernel, stride, padding, dilation, groups, H, W)
    (1, 3, 5, 1, 0, 1, 1, 28, 28),
    (4, 6, 3, 2, 1, 1, 2, 9, 7),
    (2, 2, (3, 2), (1, 2), (2, 1), (2, 1), 1, 8, 9),
    (3, 3, 1, 1, 0, 1, 3, 4, 4),
]


@pytest.mark.parametrize(("cin", "cout", "k", "s", "p", "d", "g", "h", "w"), CONVS)
def test_conv_unrolled_matrix_times_input_is_the_convolution(cin, cout, k, s, p, d, g, h, w):
    gen = torch.Generator().manual_seed(0)
    kk = (k, k) if isinstance(k, int) else k
    weight = torch.randn(cout, cin // g, *kk, generator=gen, dtype=torch.float64)
    x = torch.randn(2, cin, h, w, generator=gen, dtype=torch.float64)
    e = conv2d_edges(weight.numpy(), (cin, h, w), stride=s, padding=p, dilation=d, groups=g)
    y = F.conv2d(x, weight, stride=s, padding=p, dilation=d, groups=g)
    assert e.out_shape == tuple(y.shape[1:])
    got = (e.matrix() @ x.reshape(2, -1).numpy().T).T
    np.testing.assert_allclose(got, y.reshape(2, -1).numpy(), atol=1e-5)
    # every edge is a distinct (src, dst) pair and no edge touches padding
    assert np.unique(e.src * e.n_out + e.dst).size == e.n_edges
    assert e.src.max() < e.n_in and e.dst.max() < e.n_out


@pytest.mark.parametrize(("cip", "div"), [(True, None), (False, None), (True, 2)])
def test_avgpool_unrolled_matrix(cip, div):
    x = torch.randn(1, 3, 9, 8, dtype=torch.float64)
    e = pool2d_edges("avgpool2d", (3, 9, 8), 3, stride=2, padding=1, count_include_pad=cip, divisor_override=div)
    y = F.avg_pool2d(x, 3, 2, 1, count_include_pad=cip, divisor_override=div)
    np.testing.assert_allclose(e.matrix() @ x.numpy().ravel(), y.numpy().ravel(), atol=1e-6)


def test_maxpool_edges_carry_the_window_maximum():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 2, 3, bias=False), nn.ReLU(), nn.MaxPool2d(2, padding=1), nn.Flatten(),
                          nn.Linear(2 * 6 * 6, 3, bias=False))
    net = unroll(model, (1, 12, 12))
    x = torch.rand(4, 1, 12, 12)
    ws, _ = induced_edge_weights(net, x)
    pool = net.layers[1]
    h = torch.relu(model[0](x)).detach()
    y = F.max_pool2d(h, 2, padding=1).reshape(4, -1).numpy()
    into = np.zeros((4, pool.n_out))
    for b in range(4):
        np.add.at(into[b], pool.dst, ws[1][b])
        assert np.count_nonzero(ws[1][b]) <= pool.n_out  # one edge per window
    np.testing.assert_allclose(into, y, atol=1e-6)


def test_linear_chain_product_is_the_network():
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(5, 4, bias=False), nn.Identity(), nn.Linear(4, 3, bias=False))
    net = unroll(model, (5,))
    assert [lay.kind for lay in net.layers] == ["linear", "linear"]
    x = torch.randn(5)
    m = net.layers[1].matrix() @ net.layers[0].matrix()
    np.testing.assert_allclose(m @ x.numpy(), model(x[None]).detach().numpy()[0], atol=1e-5)
    assert net.n_vertices == 5 + 4 + 3
    assert net.n_edges == 20 + 12
    u, v = net.edge_endpoints()
    assert (net.vertex_layer(u) + 1 == net.vertex_layer(v)).all()
    assert net.edge_layer(np.array([0, 19, 20, 31])).tolist() == [0, 0, 1, 1]


def test_ccff_and_small_cnn_unroll():
    net = unroll(CCFF(), (1, 28, 28))
    assert [r["edges"] for r in net.describe()] == [3 * 25 * 576, 3 * 3 * 9 * 484, 1452 * 256, 2560]
    assert net.n_vertices == 784 + 1728 + 1452 + 256 + 10
    net2 = unroll(SmallCNN(), (1, 28, 28))
    assert [lay.kind for lay in net2.layers] == ["conv2d", "maxpool2d", "conv2d", "maxpool2d", "linear", "linear"]


def test_linear_edges_order_matches_weight():
    w = np.arange(6, dtype=np.float32).reshape(2, 3)
    e = linear_edges(w)
    assert e.coef.tolist() == w.ravel().tolist()
    assert (e.dst * 3 + e.src).tolist() == list(range(6))


class _Skip(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(4, 4)
        self.b = nn.Linear(8, 2)

    def forward(self, x):
        return self.b(torch.cat([x, self.a(x)], dim=1))


class _Twice(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(4, 4)

    def forward(self, x):
        return self.a(self.a(x))


def test_bad_models_are_refused_with_reasons():
    with pytest.raises(InvalidInputError, match="BatchNorm1d"):
        unroll(nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4)), (4,))
    with pytest.raises(InvalidInputError, match="chains of layers"):
        unroll(_Skip(), (4,))
    with pytest.raises(InvalidInputError, match="more than once"):
        unroll(_Twice(), (4,))
    with pytest.raises(InvalidInputError, match="no Linear"):
        unroll(nn.Sequential(nn.ReLU()), (4,))
    with pytest.raises(InvalidInputError, match="ceil_mode"):
        unroll(nn.Sequential(nn.MaxPool2d(2, ceil_mode=True)), (1, 5, 5))
    with pytest.raises(InvalidInputError, match=r"torch\.nn\.Module"):
        unroll(np.eye(3), (3,))
    with pytest.raises(ShapeError):
        unroll(nn.Linear(3, 2), ())
    with pytest.raises(MemoryBudgetError, match="max_edges"):
        unroll(nn.Sequential(nn.Flatten(), nn.Linear(100, 100)), (100,), max_edges=1000)
    with pytest.raises(ShapeError):
        conv2d_edges(np.zeros((2, 2, 3)), (2, 5, 5))
    with pytest.raises(ShapeError, match="expects inputs"):
        conv2d_edges(np.zeros((2, 2, 3, 3)), (3, 5, 5))
    with pytest.raises(ShapeError, match="does not fit"):
        conv2d_edges(np.zeros((2, 2, 7, 7)), (2, 5, 5))


def test_wrong_input_shape_is_a_shape_error():
    with pytest.raises(ShapeError, match="without the batch axis"):
        unroll(CCFF(), (1, 1, 28, 28))


@settings(max_examples=30, deadline=None)
@given(cin_g=st.integers(1, 3), cout_g=st.integers(1, 3), groups=st.integers(1, 2), kh=st.integers(1, 4),
       kw=st.integers(1, 4), stride=st.integers(1, 3), pad=st.integers(0, 2), dil=st.integers(1, 2),
       h=st.integers(1, 9), w=st.integers(1, 9), seed=st.integers(0, 1000))
def test_conv_unrolling_property(cin_g, cout_g, groups, kh, kw, stride, pad, dil, h, w, seed):
    span_h, span_w = dil * (kh - 1) + 1, dil * (kw - 1) + 1
    assume(h + 2 * pad >= span_h and w + 2 * pad >= span_w)
    gen = torch.Generator().manual_seed(seed)
    weight = torch.randn(cout_g * groups, cin_g, kh, kw, generator=gen, dtype=torch.float64)
    x = torch.randn(1, cin_g * groups, h, w, generator=gen, dtype=torch.float64)
    e = conv2d_edges(weight.numpy(), (cin_g * groups, h, w), stride=stride, padding=pad, dilation=dil, groups=groups)
    y = F.conv2d(x, weight, stride=stride, padding=pad, dilation=dil, groups=groups)
    np.testing.assert_allclose(e.matrix() @ x.numpy().ravel(), y.numpy().ravel(), rtol=1e-5, atol=1e-5)  # float32 coefficients


def test_normalisation_layers_are_refused_even_without_parameters():
    with pytest.raises(InvalidInputError, match="BatchNorm2d"):
        unroll(nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2, affine=False)), (1, 5, 5))
