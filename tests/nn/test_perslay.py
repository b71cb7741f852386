"""Tests of PersLay and Hofer et al.'s structure-element layer (topolens.nn._perslay / .perslay)."""

import math
from contextlib import contextmanager

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from topolens.exceptions import InvalidInputError, NonFiniteError, ShapeError
from topolens.nn import _perslay as F
from topolens.nn._perslay import (
    gaussian_mixture_weight,
    gaussian_phi,
    grid_weight,
    image_phi,
    landscape_phi,
    line_phi,
    pad_diagrams,
    perslay,
    power_weight,
    rational_hat_phi,
    structure_elements,
)
from topolens.nn.perslay import (
    GaussianMixtureWeight,
    GaussianPhi,
    GridWeight,
    ImagePhi,
    LandscapePhi,
    LinePhi,
    PersLay,
    PowerWeight,
    RationalHatPhi,
    StructureElementLayer,
)

D64 = torch.float64
OPS = [("sum", None), ("mean", None), ("max", None), ("topk", 3)]


@contextmanager
def _default_float64():
    """Build Modules directly in float64 (``.double()`` would keep float32-rounded init values)."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(D64)
    try:
        yield
    finally:
        torch.set_default_dtype(old)


def _diagram(rng, m, lo=0.0, hi=1.0):
    b = rng.uniform(lo, hi, m)
    return np.column_stack([b, b + rng.uniform(0.02, 0.6, m)])


def _ragged(seed=0, sizes=(4, 0, 7, 1)):
    rng = np.random.default_rng(seed)
    return [_diagram(rng, m) for m in sizes]


def _batch(seed=0, sizes=(4, 0, 7, 1), dtype=D64):
    return pad_diagrams(_ragged(seed, sizes), dtype=dtype)


def _layers():
    """One PersLay per phi (double precision), seeded."""
    torch.manual_seed(0)
    phis = [
        ImagePhi(((0, 1.2), (0, 0.7)), (6, 5), bandwidth=0.2),
        LandscapePhi(torch.linspace(0, 1.5, 9)),
        GaussianPhi(4, bounds=((0, 1), (0, 1.5)), bandwidth=0.3),
        LinePhi(5),
        RationalHatPhi(3, bounds=((0, 1), (0, 1.5)), radius=0.5),
    ]
    return phis


# --------------------------------------------------------------------------- pad_diagrams
def test_pad_diagrams_values_mask_and_empty_diagrams():
    d0 = np.array([[0.0, 1.0], [0.5, 0.7]])
    d2 = np.array([[0.1, 0.4]])
    dgms, mask = pad_diagrams([d0, np.empty((0, 2)), d2, []])
    assert dgms.shape == (4, 2, 2) and dgms.dtype == torch.get_default_dtype()
    assert mask.tolist() == [[True, True], [False, False], [True, False], [False, False]]
    np.testing.assert_allclose(dgms[0].numpy(), d0, rtol=1e-6)
    np.testing.assert_allclose(dgms[2, 0].numpy(), d2[0], rtol=1e-6)
    assert (dgms[~mask] == 0).all()
    # a batch of empty diagrams still has one (padding) column
    dgms, mask = pad_diagrams([np.empty((0, 2)), torch.empty(0, 2)])
    assert dgms.shape == (2, 1, 2) and not mask.any()


def test_pad_diagrams_max_points_keeps_the_most_persistent_in_order():
    d = np.array([[0.0, 0.1], [0.0, 0.9], [0.2, 0.3], [0.1, 0.8], [0.5, 0.55], [0.0, 0.9]])
    dgms, mask = pad_diagrams([d, d[:2]], max_points=3, dtype=D64)
    assert dgms.shape == (2, 3, 2)
    # persistences 0.1, 0.9, 0.1, 0.7, 0.05, 0.9 -> rows 1, 3, 5, kept in input order
    np.testing.assert_array_equal(dgms[0].numpy(), d[[1, 3, 5]])
    assert mask.tolist() == [[True, True, True], [True, True, False]]


def test_pad_diagrams_dtype_device_and_autograd():
    t = torch.tensor([[0.0, 1.0], [0.2, 0.3]], dtype=D64, requires_grad=True)
    dgms, mask = pad_diagrams([t, t[:1]])
    assert dgms.dtype == D64 and dgms.device == t.device and mask.dtype == torch.bool
    dgms.sum().backward()
    assert t.grad.tolist() == [[2.0, 2.0], [1.0, 1.0]]  # gradients flow through the padding
    dgms, _ = pad_diagrams([np.zeros((1, 2), dtype=np.float64)], dtype=torch.float32, device="cpu")
    assert dgms.dtype == torch.float32 and dgms.device.type == "cpu"
    # numpy input (even float64) gets the default dtype unless told otherwise
    assert pad_diagrams([np.zeros((1, 2))])[0].dtype == torch.get_default_dtype()
    # mixed tensor dtypes fall back to the default dtype; integer arrays are converted
    mixed = pad_diagrams([torch.zeros(1, 2, dtype=D64), torch.zeros(1, 2, dtype=torch.float32)])[0]
    assert mixed.dtype == torch.get_default_dtype()
    assert pad_diagrams([np.array([[0, 2]])], dtype=D64)[0].tolist() == [[[0.0, 2.0]]]


def test_pad_diagrams_bad_inputs():
    with pytest.raises(InvalidInputError, match="empty list"):
        pad_diagrams([])
    with pytest.raises(InvalidInputError, match="wrap it in a list"):
        pad_diagrams(np.zeros((3, 2)))
    with pytest.raises(ShapeError, match=r"diagram 1 must have shape \(m, 2\)"):
        pad_diagrams([np.zeros((2, 2)), np.zeros((3, 3))])
    with pytest.raises(NonFiniteError, match="essential classes") as exc:
        pad_diagrams([np.zeros((1, 2)), np.array([[0.0, 1.0], [0.5, np.inf]])])
    assert "diagram 1" in str(exc.value) and "row 1" in str(exc.value)
    with pytest.raises(NonFiniteError, match="NaN"):
        pad_diagrams([np.array([[np.nan, 1.0]])])
    with pytest.raises(InvalidInputError, match="max_points"):
        pad_diagrams([np.zeros((1, 2))], max_points=0)
    with pytest.raises(InvalidInputError, match="numeric"):
        pad_diagrams([np.array([["a", "b"]])])
    with pytest.raises(InvalidInputError, match="floating-point"):
        pad_diagrams([np.zeros((1, 2))], dtype=torch.int64)


# --------------------------------------------------------------------------- shapes
@pytest.mark.parametrize(("op", "k"), OPS)
def test_shapes_and_out_features(op, k):
    dgms, mask = _batch(dtype=torch.float32)
    for phi in _layers():
        phi = phi.float()
        layer = PersLay(phi, PowerWeight(), op=op, k=k)
        out = layer(dgms, mask)
        q = phi.out_features
        assert layer.out_features == q * (k or 1)
        assert out.shape == (4, layer.out_features) and torch.isfinite(out).all()
        assert (out[1] == 0).all()  # the empty diagram gives 0 for every op
    assert StructureElementLayer(7)(dgms, mask).shape == (4, 7)


def test_out_features_with_rho():
    rho = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.ReLU())
    assert PersLay(LinePhi(5), rho=rho).out_features == 8
    bn = torch.nn.Sequential(torch.nn.BatchNorm1d(15), torch.nn.Dropout(0.5))
    bn.train()
    layer = PersLay(LinePhi(5), op="topk", k=3, rho=bn)
    assert layer.out_features == 15
    assert bn.training and bn[0].training  # probing restored the training mode
    assert bn[0].num_batches_tracked.item() == 0  # ... and did not update the running stats
    dgms, mask = _batch(dtype=torch.float32)
    assert layer(dgms, mask).shape == (4, 15)


def test_functional_shapes():
    dgms, _ = _batch()
    g = torch.Generator().manual_seed(0)
    c = torch.rand(3, 2, generator=g, dtype=D64)
    assert image_phi(dgms, 0.1, ((0, 1), (0, 1)), (4, 5)).shape == (4, 7, 20)
    assert image_phi(dgms, 0.1, ((0, 1), (0, 1)), 3).shape == (4, 7, 9)
    assert landscape_phi(dgms, [0.1, 0.2]).shape == (4, 7, 2)
    assert gaussian_phi(dgms, c, 0.2).shape == (4, 7, 3)
    assert line_phi(dgms, c).shape == (4, 7, 3)
    assert rational_hat_phi(dgms, c, 1.0, p=2).shape == (4, 7, 3)
    assert power_weight(dgms, 2.0, 0.5).shape == (4, 7)
    assert grid_weight(dgms, torch.ones(3, 4, dtype=D64), ((0, 1), (0, 1))).shape == (4, 7)
    assert gaussian_mixture_weight(dgms, c, 0.3).shape == (4, 7)


# --------------------------------------------------------------------------- oracles
def test_landscape_topk_equals_gudhi_landscape():
    from gudhi.representations import Landscape

    diagrams = _ragged(3, sizes=(6, 2, 0, 9))
    lo, hi, q, k = 0.0, 1.6, 40, 4
    samples = np.linspace(lo, hi, q)
    dgms, mask = pad_diagrams(diagrams, dtype=D64)
    ours = PersLay(LandscapePhi(torch.from_numpy(samples)), op="topk", k=k)(dgms, mask).detach().numpy()
    ref = Landscape(num_landscapes=k, resolution=q, sample_range=[lo, hi]).fit_transform(diagrams)
    # ours is (q, k) per diagram, gudhi (k, q) ravelled and measured in rotated coordinates
    ours_k_major = ours.reshape(len(diagrams), q, k).transpose(0, 2, 1).reshape(len(diagrams), -1)
    np.testing.assert_allclose(ours_k_major, ref / math.sqrt(2), atol=1e-12)
    assert np.abs(ref[0]).max() > 0.1  # not a test of zeros


def test_landscape_topk_equals_brute_force():
    diagrams = _ragged(4, sizes=(5, 1))
    t = np.linspace(-0.1, 1.7, 23)
    k = 3
    dgms, mask = pad_diagrams(diagrams, dtype=D64)
    ours = perslay(landscape_phi(dgms, torch.tensor(t)), mask, op="topk", k=k).numpy().reshape(2, -1, k)
    for i, d in enumerate(diagrams):
        for a, ti in enumerate(t):
            tents = sorted((max(0.0, min(ti - b, de - ti)) for b, de in d), reverse=True)
            tents = (tents + [0.0] * k)[:k]
            np.testing.assert_allclose(ours[i, a], tents, atol=1e-14)


def test_image_sum_equals_gudhi_and_brute_force():
    from gudhi.representations import PersistenceImage

    diagrams = _ragged(5, sizes=(7, 3, 0))
    bounds, res, bw = ((0.0, 1.1), (0.0, 0.7)), (6, 4), 0.15
    dgms, mask = pad_diagrams(diagrams, dtype=D64)
    with _default_float64():
        phi = ImagePhi(bounds, res, bandwidth=bw)
        plain = PersLay(phi, op="sum")(dgms, mask).detach().numpy()
        lin = PersLay(phi, PowerWeight(1.0), op="sum")(dgms, mask).detach().numpy()
    im_range = [bounds[0][0], bounds[0][1], bounds[1][0], bounds[1][1]]
    ref = PersistenceImage(bandwidth=bw, resolution=list(res), im_range=im_range).fit_transform(diagrams)
    ref_lin = PersistenceImage(bandwidth=bw, weight=lambda p: p[1], resolution=list(res),
                               im_range=im_range).fit_transform(diagrams)
    np.testing.assert_allclose(plain, ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(lin, ref_lin, rtol=1e-12, atol=1e-12)
    # brute force, pixel (persistence i, birth j)
    xs, ys = np.linspace(*bounds[0], res[0]), np.linspace(*bounds[1], res[1])
    for n, d in enumerate(diagrams):
        img = np.zeros((res[1], res[0]))
        for b, de in d:
            for i, y in enumerate(ys):
                for j, x in enumerate(xs):
                    img[i, j] += math.exp(-((b - x) ** 2 + (de - b - y) ** 2) / (2 * bw**2)) / (2 * math.pi * bw**2)
        np.testing.assert_allclose(plain[n], img.ravel(), rtol=1e-12, atol=1e-14)
    assert plain[0].max() > 1.0


def _hofer_numpy(diagram, centres, sharpness, nu):
    out = np.zeros(len(centres))
    for b, d in diagram:
        x0, x1 = (b + d) / math.sqrt(2), (d - b) / math.sqrt(2)
        if x1 <= 0:
            continue
        t = x1 if x1 >= nu else nu * math.log(x1 / nu) + nu
        for k, ((m0, m1), (s0, s1)) in enumerate(zip(centres, sharpness, strict=True)):
            out[k] += math.exp(-(s0**2) * (x0 - m0) ** 2 - s1**2 * (t - m1) ** 2)
    return out


def test_structure_elements_equal_numpy_formula():
    rng = np.random.default_rng(7)
    diagrams = [_diagram(rng, 6), np.array([[0.3, 0.3], [0.1, 0.12], [0.0, 0.05], [0.2, 1.0]]),
                np.empty((0, 2))]
    torch.manual_seed(1)
    layer = StructureElementLayer(5, nu=0.1, centre_bounds=((0, 1.5), (-0.3, 0.8)), sharpness=2.0).double()
    with torch.no_grad():
        layer.sharpness.mul_(torch.rand(5, 2, dtype=D64) + 0.5)
    dgms, mask = pad_diagrams(diagrams, dtype=D64)
    out = layer(dgms, mask).detach().numpy()
    c, s = layer.centres.detach().numpy(), layer.sharpness.detach().numpy()
    for i, d in enumerate(diagrams):
        np.testing.assert_allclose(out[i], _hofer_numpy(d, c, s, 0.1), rtol=1e-12, atol=1e-15)
    assert out[2].tolist() == [0.0] * 5 and out[1].max() > 0.1


def test_structure_elements_log_stretch_is_continuous_at_nu_and_zero_on_the_diagonal():
    nu = 0.2
    c = torch.tensor([[0.5, 0.1]], dtype=D64)
    s = torch.tensor([[1.0, 2.0]], dtype=D64)
    mask = torch.ones(1, 3, dtype=torch.bool)
    eps = 1e-9
    # three points with x1 = nu - eps, nu, nu + eps at the same x0
    x1 = torch.tensor([nu - eps, nu, nu + eps], dtype=D64)
    x0 = torch.full((3,), 0.7, dtype=D64)
    b, d = (x0 - x1) / math.sqrt(2), (x0 + x1) / math.sqrt(2)
    pts = torch.stack([b, d], -1)[None]
    vals = [structure_elements(pts[:, i:i + 1], mask[:, :1], c, s, nu).item() for i in range(3)]
    assert abs(vals[0] - vals[1]) < 1e-8 and abs(vals[2] - vals[1]) < 1e-8
    diag = torch.tensor([[[0.4, 0.4]]], dtype=D64)
    assert structure_elements(diag, mask[:, :1], c, s, nu).item() == 0.0


def test_torch_topological_peer_convention():
    """torch-topological's StructureElementLayer: raw (birth, death) columns, no rotation or log
    stretch, rows (birth, death, dim); it equals our Gaussian phi with sigma = 1 / (sqrt 2 |s|)."""
    pytest.importorskip("torch_topological")
    from torch_topological.nn.layers import StructureElementLayer as TTSLayer

    torch.manual_seed(0)
    peer = TTSLayer(4).double()
    diagrams = _ragged(2, sizes=(5, 5))
    dgms, mask = pad_diagrams(diagrams, dtype=D64)
    x = torch.cat([dgms, torch.zeros(2, 5, 1, dtype=D64)], -1)  # dim-0 rows, no padding
    ref = peer(x)
    bw = 1.0 / (math.sqrt(2) * peer.sharpness.abs())
    ours = perslay(gaussian_phi(dgms, peer.centres, bw), mask, op="sum")
    torch.testing.assert_close(ours, ref, rtol=1e-12, atol=1e-12)
    # ... and its NaN padding rows are not masked: each adds exp(0) = 1
    padded = torch.cat([x, torch.full((2, 1, 3), float("nan"), dtype=D64)], 1)
    torch.testing.assert_close(peer(padded), ref + 1.0)


def test_phi_and_weight_formulas_on_single_points():
    p = torch.tensor([[[0.2, 0.9]]], dtype=D64)
    c = torch.tensor([[0.0, 1.0], [0.5, 0.5]], dtype=D64)
    g = gaussian_phi(p, c, torch.tensor([[0.3, 0.4], [0.2, 0.2]], dtype=D64))[0, 0]
    assert g[0].item() == pytest.approx(math.exp(-(0.2**2) / (2 * 0.09) - 0.1**2 / (2 * 0.16)), rel=1e-13)
    assert g[1].item() == pytest.approx(math.exp(-(0.3**2 + 0.4**2) / (2 * 0.04)), rel=1e-13)
    ln = line_phi(p, c, torch.tensor([1.0, -1.0], dtype=D64))[0, 0]
    assert ln.tolist() == pytest.approx([0.9 + 1.0, 0.1 + 0.45 - 1.0], rel=1e-13)
    for pn, norms in ((1, [0.3, 0.7]), (2, [math.hypot(0.2, 0.1), math.hypot(0.3, 0.4)])):
        rh = rational_hat_phi(p, c, torch.tensor([0.5, -0.5], dtype=D64), p=pn)[0, 0]
        exp = [1 / (1 + n) - 1 / (1 + abs(0.5 - n)) for n in norms]
        assert rh.tolist() == pytest.approx(exp, rel=1e-13)
    assert rational_hat_phi(p, torch.tensor([[0.7, 0.9]], dtype=D64), 0.5)[0, 0, 0].item() == pytest.approx(
        1 / 1.5 - 1.0)  # on the boundary of the hat: 1/(1+r) - 1
    assert power_weight(p, 2.0, 2.0).item() == pytest.approx(2 * 0.49, rel=1e-13)
    assert power_weight(p, 3.0, 0.0).item() == 3.0
    gm = gaussian_mixture_weight(p, c, torch.tensor([[0.3, 0.4], [0.2, 0.2]], dtype=D64)).item()
    assert gm == pytest.approx(math.exp(-(0.2**2) / 0.09 - 0.01 / 0.16) + math.exp(-0.25 / 0.04), rel=1e-13)
    assert landscape_phi(p, [0.0, 0.3, 0.55, 0.7, 1.0]).tolist() == [[[0.0, pytest.approx(0.1), pytest.approx(0.35), pytest.approx(0.2), 0.0]]]


def test_grid_weight_cells_bounds_and_outside_modes():
    grid = torch.arange(6, dtype=D64).reshape(2, 3)  # birth cells [0,.5), [.5,1]; death thirds of [0, 3]
    bounds = ((0.0, 1.0), (0.0, 3.0))
    pts = torch.tensor([[[0.1, 0.5], [0.6, 1.5], [1.0, 3.0], [0.49, 2.99], [-1.0, 1.2], [2.0, 10.0]]], dtype=D64)
    assert grid_weight(pts, grid, bounds).tolist() == [[0.0, 4.0, 5.0, 2.0, 1.0, 5.0]]
    assert grid_weight(pts, grid, bounds, outside="zero").tolist() == [[0.0, 4.0, 5.0, 2.0, 0.0, 0.0]]
    # gradient: the number of (real) points per cell
    g = grid.clone().requires_grad_(True)
    dgms, mask = pad_diagrams([pts[0, :4], pts[0, 4:]], dtype=D64)
    layer = torch.ones(2, 4, 1, dtype=D64)
    perslay(layer, mask, grid_weight(dgms, g, bounds), op="sum").sum().backward()
    assert g.grad.tolist() == [[1.0, 1.0, 1.0], [0.0, 1.0, 2.0]]


@pytest.mark.parametrize(("op", "k"), [*OPS, ("topk", 1), ("topk", 10)])  # k > 8 uses torch.topk
def test_ops_equal_per_diagram_numpy(op, k):
    rng = np.random.default_rng(11)
    sizes = (5, 0, 1, 2, 8)
    vals = [rng.normal(size=(m, 3)) for m in sizes]
    w = [rng.uniform(0.5, 2.0, m) for m in sizes]
    n = max(sizes)
    v = torch.zeros(len(sizes), n, 3, dtype=D64)
    wt = torch.zeros(len(sizes), n, dtype=D64)
    mask = torch.zeros(len(sizes), n, dtype=torch.bool)
    for i, m in enumerate(sizes):
        v[i, :m], wt[i, :m], mask[i, :m] = torch.from_numpy(vals[i]), torch.from_numpy(w[i]), True
    out = perslay(v, mask, wt, op=op, k=k).numpy()
    for i, m in enumerate(sizes):
        x = vals[i] * w[i][:, None]
        if m == 0:
            exp = np.zeros(3 * (k or 1))
        elif op == "sum":
            exp = x.sum(0)
        elif op == "mean":
            exp = x.mean(0)
        elif op == "max":
            exp = x.max(0)
        else:
            top = -np.sort(-x, axis=0)[:k]
            top = np.vstack([top, np.zeros((k - len(top), 3))])
            exp = top.T.ravel()
        np.testing.assert_allclose(out[i], exp, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("op", ["sum", "mean"])
def test_fused_weighted_sum_equals_the_generic_path(op):
    """ImagePhi and LinePhi skip the (B, N, q) values for sum/mean; same numbers and gradients."""
    dgms, mask = _batch(seed=12)
    torch.manual_seed(3)
    with _default_float64():
        for phi in (ImagePhi(((0, 1.2), (0, 0.7)), (5, 4), 0.2), LinePhi(4)):
            for weight in (None, PowerWeight(1.5)):
                layer = PersLay(phi, weight, op=op)
                layer.zero_grad()
                x = dgms.clone().requires_grad_(True)
                fused = layer(x, mask)
                fused.square().sum().backward()
                g_fused = [x.grad.clone(), *(p.grad.clone() for p in layer.parameters())]
                layer.zero_grad()
                x.grad = None
                w = weight(x) if weight is not None else None
                generic = perslay(phi(torch.where(mask[..., None], x, 0)), mask, w, op=op)
                generic.square().sum().backward()
                g_generic = [x.grad, *(p.grad for p in layer.parameters())]
                torch.testing.assert_close(fused, generic, rtol=1e-13, atol=1e-14)
                for a, b in zip(g_fused, g_generic, strict=True):
                    torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-13)


# --------------------------------------------------------------------------- masking and permutations
def _garbage(dgms, mask, extra=3, value=None, seed=0):
    """Append ``extra`` padding rows of garbage (and scramble the existing padding rows)."""
    g = torch.Generator().manual_seed(seed)
    junk = (torch.randn(dgms.shape[0], extra, 2, generator=g, dtype=dgms.dtype) * 50
            if value is None else torch.full((dgms.shape[0], extra, 2), value, dtype=dgms.dtype))
    scrambled = torch.where(mask[..., None], dgms, torch.randn(dgms.shape, generator=g, dtype=dgms.dtype) * 30)
    return (torch.cat([scrambled, junk], 1),
            torch.cat([mask, torch.zeros(mask.shape[0], extra, dtype=torch.bool)], 1))


@pytest.mark.parametrize(("op", "k"), OPS)
def test_padding_never_changes_the_result(op, k):
    dgms, mask = _batch(seed=2)
    weights = [None, PowerWeight(1.5).double(), GaussianMixtureWeight(2, bandwidth=0.5).double(),
               GridWeight(((0, 1), (0, 1.6)), (3, 3)).double()]
    for phi, weight in zip(_layers(), [*weights, None], strict=True):
        layer = PersLay(phi.double(), weight, op=op, k=k)
        ref = layer(dgms, mask)
        for value in (None, 1e6, -1e6, float("nan"), float("inf")):
            d2, m2 = _garbage(dgms, mask, value=value)
            out = layer(d2, m2)
            torch.testing.assert_close(out, ref, rtol=1e-13, atol=1e-13)
            # gradients too: none reaches the padding, and parameter gradients are unchanged
            layer.zero_grad()
            dd = d2.clone().requires_grad_(True)
            layer(dd, m2).sum().backward()
            assert torch.isfinite(dd.grad).all() and (dd.grad[~m2] == 0).all()
            grads = [p.grad.clone() for p in layer.parameters() if p.grad is not None]
            layer.zero_grad()
            layer(dgms, mask).sum().backward()
            grads_ref = [p.grad.clone() for p in layer.parameters() if p.grad is not None]
            for a, b in zip(grads, grads_ref, strict=True):
                torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    slayer = StructureElementLayer(4).double()
    ref = slayer(dgms, mask)
    for value in (None, float("nan")):
        torch.testing.assert_close(slayer(*_garbage(dgms, mask, value=value)), ref, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize(("op", "k"), OPS)
def test_functional_op_ignores_padding_values(op, k):
    g = torch.Generator().manual_seed(3)
    v = torch.randn(3, 6, 4, generator=g, dtype=D64)
    mask = torch.tensor([[1, 1, 1, 0, 0, 0], [0, 0, 0, 0, 0, 0], [1, 0, 1, 0, 1, 1]], dtype=torch.bool)
    ref = perslay(v, mask, op=op, k=k)
    v2 = torch.where(mask[..., None], v, torch.full_like(v, 1e30))
    torch.testing.assert_close(perslay(v2, mask, op=op, k=k), ref, rtol=0, atol=0)
    v3 = torch.cat([v, torch.full((3, 2, 4), -7.0, dtype=D64)], 1)
    m3 = torch.cat([mask, torch.zeros(3, 2, dtype=torch.bool)], 1)
    torch.testing.assert_close(perslay(v3, m3, op=op, k=k), ref, rtol=1e-14, atol=1e-14)
    # no points at all (N = 0)
    assert perslay(v[:, :0], mask[:, :0], op=op, k=k).abs().sum() == 0
    # non-finite padding values and weights: same result, finite gradients, none at the padding
    w = torch.rand(3, 6, generator=g, dtype=D64) + 0.5
    ref = perslay(v, mask, w, op=op, k=k)
    for bad in (float("nan"), float("inf"), -float("inf")):
        vb = torch.where(mask[..., None], v, torch.full_like(v, bad)).requires_grad_(True)
        wb = torch.where(mask, w, torch.full_like(w, bad)).requires_grad_(True)
        out = perslay(vb, mask, wb, op=op, k=k)
        torch.testing.assert_close(out, ref, rtol=1e-14, atol=1e-14)
        out.sum().backward()
        for grad in (vb.grad, wb.grad):
            assert torch.isfinite(grad).all() and (grad[~mask] == 0).all()


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), sizes=st.lists(st.integers(0, 6), min_size=1, max_size=4),
       extra=st.integers(0, 3))
def test_permutation_invariance(seed, sizes, extra):
    rng = np.random.default_rng(seed)
    diagrams = [_diagram(rng, m) for m in sizes]
    dgms, mask = pad_diagrams(diagrams, dtype=D64)
    dgms, mask = _garbage(dgms, mask, extra=extra, seed=seed % 1000)
    # permute every row of the batch independently: real points and padding interleave
    perm = torch.stack([torch.from_numpy(rng.permutation(dgms.shape[1])) for _ in sizes])
    pd = torch.gather(dgms, 1, perm[..., None].expand(-1, -1, 2))
    pm = torch.gather(mask, 1, perm)
    torch.manual_seed(seed % 1000)
    for phi in _layers():
        for op, k in OPS:
            layer = PersLay(phi.double(), PowerWeight(0.5).double(), op=op, k=k)
            torch.testing.assert_close(layer(pd, pm), layer(dgms, mask), rtol=1e-12, atol=1e-12)
    slayer = StructureElementLayer(3).double()
    torch.testing.assert_close(slayer(pd, pm), slayer(dgms, mask), rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------- gradcheck (float64)
def _points(seed=0, b=2, n=4):
    g = torch.Generator().manual_seed(seed)
    birth = torch.rand(b, n, generator=g, dtype=D64)
    return torch.stack([birth, birth + 0.05 + 0.6 * torch.rand(b, n, generator=g, dtype=D64)], -1)


def test_gradcheck_phis():
    g = torch.Generator().manual_seed(5)
    x = _points().requires_grad_(True)
    bw = torch.tensor(0.3, dtype=D64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda d, s: image_phi(d, s, ((0, 1), (0, 0.7)), (3, 2)), (x, bw))
    t = (torch.rand(6, generator=g, dtype=D64) * 1.4).requires_grad_(True)
    assert torch.autograd.gradcheck(landscape_phi, (x, t))
    c = torch.rand(3, 2, generator=g, dtype=D64).requires_grad_(True)
    s = (0.2 + torch.rand(3, 2, generator=g, dtype=D64)).requires_grad_(True)
    assert torch.autograd.gradcheck(gaussian_phi, (x, c, s))
    beta = torch.randn(3, generator=g, dtype=D64).requires_grad_(True)
    assert torch.autograd.gradcheck(line_phi, (x, c, beta))
    r = torch.tensor([0.4, 0.7, 1.2], dtype=D64, requires_grad=True)
    for p in (1.0, 2.0):
        assert torch.autograd.gradcheck(lambda d, cc, rr, p=p: rational_hat_phi(d, cc, rr, p), (x, c, r))


def test_gradcheck_weights():
    g = torch.Generator().manual_seed(6)
    x = _points(1).requires_grad_(True)
    cst = torch.tensor(1.5, dtype=D64, requires_grad=True)
    for power in (0.5, 1.0, 2.5):
        assert torch.autograd.gradcheck(lambda d, cc, pw=power: power_weight(d, cc, pw), (x, cst))
    m = torch.rand(2, 2, generator=g, dtype=D64).requires_grad_(True)
    s = (0.3 + torch.rand(2, 2, generator=g, dtype=D64)).requires_grad_(True)
    assert torch.autograd.gradcheck(gaussian_mixture_weight, (x, m, s))
    grid = torch.randn(4, 3, generator=g, dtype=D64).requires_grad_(True)
    for outside in ("clamp", "zero"):
        assert torch.autograd.gradcheck(
            lambda d, gr, o=outside: grid_weight(d, gr, ((0, 0.8), (0, 1.2)), o), (x, grid))


@pytest.mark.parametrize(("op", "k"), [*OPS, ("topk", 6), ("topk", 9)])
def test_gradcheck_ops(op, k):
    g = torch.Generator().manual_seed(7)
    v = torch.randn(3, 5, 2, generator=g, dtype=D64).requires_grad_(True)  # distinct values: no ties
    w = (0.5 + torch.rand(3, 5, generator=g, dtype=D64)).requires_grad_(True)
    mask = torch.tensor([[1, 1, 0, 1, 0], [0, 0, 0, 0, 0], [1, 1, 1, 1, 1]], dtype=torch.bool)
    assert torch.autograd.gradcheck(lambda a, b: perslay(a, mask, b, op=op, k=k), (v, w))


@pytest.mark.parametrize(("op", "k"), OPS)
def test_gradcheck_full_layers(op, k):
    x = _points(2, b=2, n=3).requires_grad_(True)
    mask = torch.tensor([[1, 1, 0], [1, 1, 1]], dtype=torch.bool)
    torch.manual_seed(2)
    phis = [ImagePhi(((0, 1), (0, 0.7)), (3, 2), 0.3), GaussianPhi(2, bandwidth=0.4), LinePhi(3),
            RationalHatPhi(2, radius=0.6)]
    for phi, weight in zip(phis, [PowerWeight(1.0), GaussianMixtureWeight(2, bandwidth=0.5),
                                  PowerWeight(2.0), None], strict=True):
        layer = PersLay(phi, weight, op=op, k=k).double()
        names = [n for n, _ in layer.named_parameters()]

        def f(d, *ps, layer=layer, names=names):
            return torch.func.functional_call(layer, dict(zip(names, ps, strict=True)), (d, mask))

        params = (p.detach().clone().requires_grad_(True) for p in layer.parameters())
        assert torch.autograd.gradcheck(f, (x, *params))


def test_gradcheck_structure_elements():
    # points on both sides of nu (the log-stretched part and the plain part), none on the diagonal
    b = torch.tensor([[0.1, 0.3, 0.5, 0.2], [0.05, 0.7, 0.4, 0.0]], dtype=D64)
    life = torch.tensor([[0.05, 0.12, 0.6, 0.9], [0.02, 0.3, 0.08, 1.1]], dtype=D64)
    x = torch.stack([b, b + life], -1).requires_grad_(True)
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0]], dtype=torch.bool)
    g = torch.Generator().manual_seed(8)
    c = torch.rand(3, 2, generator=g, dtype=D64).requires_grad_(True)
    s = (1.0 + torch.rand(3, 2, generator=g, dtype=D64)).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda d, cc, ss: structure_elements(d, mask, cc, ss, 0.1), (x, c, s))
    # points on the diagonal and padding give finite (zero) gradients
    x0 = torch.tensor([[[0.3, 0.3], [0.2, 0.5]]], dtype=D64, requires_grad=True)
    structure_elements(x0, torch.tensor([[True, False]]), c, s, 0.1).sum().backward()
    assert x0.grad.abs().sum() == 0


def test_layers_train():
    """A few Adam steps move every parameter and lower a regression loss."""
    torch.manual_seed(0)
    dgms, mask = _batch(seed=9, sizes=(5, 6, 3, 8), dtype=torch.float32)
    target = torch.randn(4, 1)
    for phi in _layers():
        model = PersLay(phi.float(), GaussianMixtureWeight(2, bandwidth=0.5), rho=torch.nn.Linear(phi.out_features, 1))
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
        before = [p.detach().clone() for p in model.parameters()]
        losses = []
        for _ in range(15):
            opt.zero_grad()
            loss = torch.nn.functional.mse_loss(model(dgms, mask), target)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        assert losses[-1] < losses[0]
        moved = [not torch.equal(a, p) for a, p in zip(before, model.parameters(), strict=True)
                 if p.requires_grad]
        assert all(moved), type(phi).__name__


# --------------------------------------------------------------------------- bad inputs
def test_bad_batch_inputs():
    layer = PersLay(LinePhi(2))
    dgms, mask = _batch(dtype=torch.float32)
    with pytest.raises(ShapeError, match=r"\(B, N, 2\)"):
        layer(dgms[0], mask)
    with pytest.raises(ShapeError, match=r"\(B, N, 2\)"):
        layer(torch.zeros(2, 3, 3), mask)
    with pytest.raises(ShapeError, match="mask must have shape"):
        layer(dgms, mask[:, :-1])
    with pytest.raises(InvalidInputError, match="bool"):
        layer(dgms, mask.long())
    with pytest.raises(InvalidInputError, match="Tensor"):
        layer(dgms.numpy(), mask)
    with pytest.raises(InvalidInputError, match="floating-point"):
        layer(dgms.long(), mask)
    bad = dgms.clone()
    bad[2, 3, 1] = float("inf")
    with pytest.raises(NonFiniteError, match="essential classes") as exc:
        layer(bad, mask)
    assert "diagram 2, point 3" in str(exc.value)
    bad[2, 3, 1] = float("nan")
    with pytest.raises(NonFiniteError, match="NaN"):
        StructureElementLayer(2)(bad, mask)


def test_bad_op_and_k():
    with pytest.raises(InvalidInputError, match="op must be one of"):
        PersLay(LinePhi(2), op="median")
    with pytest.raises(InvalidInputError, match="needs k"):
        PersLay(LinePhi(2), op="topk")
    with pytest.raises(InvalidInputError, match="k must be >= 1"):
        PersLay(LinePhi(2), op="topk", k=0)
    with pytest.raises(InvalidInputError, match="k must be an integer"):
        PersLay(LinePhi(2), op="topk", k=2.5)
    with pytest.raises(InvalidInputError, match="only used by op='topk'"):
        PersLay(LinePhi(2), op="sum", k=3)
    v, mask = torch.zeros(2, 3, 4), torch.ones(2, 3, dtype=torch.bool)
    with pytest.raises(InvalidInputError, match="op must be one of"):
        perslay(v, mask, op="min")
    with pytest.raises(InvalidInputError, match="needs k"):
        perslay(v, mask, op="topk")
    with pytest.raises(InvalidInputError, match="k must be >= 1"):
        perslay(v, mask, op="topk", k=-1)
    with pytest.raises(ShapeError, match="values"):
        perslay(v[0], mask)
    with pytest.raises(ShapeError, match="weights"):
        perslay(v, mask, torch.ones(2, 4))
    with pytest.raises(ShapeError, match="mask"):
        perslay(v, mask[:1])


def test_bad_module_arguments():
    with pytest.raises(InvalidInputError, match="out_features"):
        PersLay(torch.nn.Identity())
    with pytest.raises(InvalidInputError, match=r"nn\.Module"):
        PersLay(lambda d: d)
    with pytest.raises(InvalidInputError, match="weight must be"):
        PersLay(LinePhi(2), weight=lambda d: d[..., 0])
    with pytest.raises(InvalidInputError, match="min < max"):
        ImagePhi(((1, 0), (0, 1)))
    with pytest.raises(ShapeError, match="bounds"):
        GridWeight((0, 1))
    with pytest.raises(InvalidInputError, match="resolution"):
        ImagePhi(((0, 1), (0, 1)), resolution=(0, 3))
    with pytest.raises(InvalidInputError, match="bandwidth must be a finite number > 0"):
        ImagePhi(((0, 1), (0, 1)), bandwidth=-0.1)
    with pytest.raises(InvalidInputError, match="n_elements"):
        GaussianPhi(0)
    with pytest.raises(InvalidInputError, match="p must be"):
        RationalHatPhi(2, p=0.5)
    with pytest.raises(InvalidInputError, match="power"):
        PowerWeight(-1.0)
    with pytest.raises(InvalidInputError, match="outside"):
        GridWeight(((0, 1), (0, 1)), outside="wrap")
    with pytest.raises(ShapeError, match="samples"):
        LandscapePhi([[0.1, 0.2]])
    with pytest.raises(InvalidInputError, match="nu must be"):
        StructureElementLayer(3, nu=0.0)
    with pytest.raises(InvalidInputError, match="rho could not be applied"):
        PersLay(LinePhi(2), rho=torch.nn.Sequential(torch.nn.Linear(5, 1)))
    dgms = torch.zeros(1, 2, 2)
    with pytest.raises(ShapeError, match="centres"):
        gaussian_phi(dgms, torch.zeros(3), 0.1)
    with pytest.raises(ShapeError, match="sharpness"):
        structure_elements(dgms, torch.ones(1, 2, dtype=torch.bool), torch.zeros(3, 2), torch.zeros(2, 2), 0.1)
    with pytest.raises(ShapeError, match="grid"):
        grid_weight(dgms, torch.zeros(3), ((0, 1), (0, 1)))
    with pytest.raises(ShapeError, match="bandwidth must be a scalar"):
        image_phi(dgms, torch.ones(2), ((0, 1), (0, 1)), 2)


def test_check_batch_is_exported_for_other_layers():
    dgms, mask = _batch()
    assert F.check_batch(dgms, mask)[0] is dgms


def test_per_centre_parameters_broadcast():
    dgms, _ = _batch(seed=13)
    c = torch.tensor([[0.1, 0.5], [0.6, 0.9], [0.3, 0.3]], dtype=D64)
    s = torch.tensor([0.2, 0.3, 0.4], dtype=D64)
    full = gaussian_phi(dgms, c, s[:, None].expand(3, 2))
    torch.testing.assert_close(gaussian_phi(dgms, c, s), full, rtol=0, atol=0)
    torch.testing.assert_close(gaussian_phi(dgms, c, s[:, None]), full, rtol=0, atol=0)
    torch.testing.assert_close(gaussian_mixture_weight(dgms, c, s),
                               gaussian_mixture_weight(dgms, c, s[:, None].expand(3, 2)), rtol=0, atol=0)
    torch.testing.assert_close(rational_hat_phi(dgms, c, 0.7),
                               rational_hat_phi(dgms, c, torch.full((3,), 0.7, dtype=D64)), rtol=0, atol=0)
    with pytest.raises(ShapeError, match=r"bandwidth must be a scalar or have shape \(3,\)"):
        gaussian_phi(dgms, c, torch.ones(4, dtype=D64))
    with pytest.raises(ShapeError, match="radius"):
        rational_hat_phi(dgms, c, torch.ones(2, dtype=D64))
