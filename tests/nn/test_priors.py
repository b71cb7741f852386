"""Topological prior layers: fixed kernels stay fixed, the kernels are the model filters, masks act."""

from __future__ import annotations

import io
import math
import warnings

import numpy as np
import pytest
import torch
from scipy.integrate import dblquad
from torch import nn

from topolens.exceptions import (
    InvalidInputError,
    NonFiniteError,
    ShapeError,
    TopolensError,
    TopolensWarning,
)
from topolens.filters._klein import circle_filters, klein_filter, klein_filters
from topolens.nn import CircleConv2d, CircleLocalConv2d, KleinConv2d, KleinLocalConv2d
from topolens.nn._priors import CIRCLE_TAU, KLEIN_TAU
from topolens.nn.functional import (
    circle_kernels,
    circle_mask,
    klein_grid,
    klein_kernels,
    klein_mask,
)

TWO_PI = 2 * math.pi


def _unit(rows: np.ndarray) -> np.ndarray:
    """Mean-centred unit rows, computed here (not by normalize_filters)."""
    c = rows - rows.mean(axis=1, keepdims=True)
    return c / np.sqrt((c * c).sum(axis=1, keepdims=True))


# --------------------------------------------------------------------------- kernels are the filters
@pytest.mark.parametrize("normalize", ["unit", "dnorm", None])
@pytest.mark.parametrize("in_channels", [1, 3])
def test_kernels_equal_model_filters(normalize, in_channels):
    k = KleinConv2d(in_channels, 16, 3, normalize=normalize, dtype=torch.float64)
    ref = klein_filters(4, 4, 3, normalize=normalize)
    for p in range(in_channels):
        assert torch.allclose(k.weight[:, p].reshape(16, 9), torch.from_numpy(ref) / in_channels, atol=1e-15)
    c = CircleConv2d(in_channels, 12, 5, normalize=normalize, dtype=torch.float64)
    ref = circle_filters(12, 5, normalize=normalize)
    assert torch.allclose(c.weight[:, -1].reshape(12, 25), torch.from_numpy(ref) / in_channels, atol=1e-15)
    # the angle buffers are those of the filters
    (_, (t1, t2)) = klein_filters(4, 4, 3, return_angles=True)
    assert np.allclose(k.theta1.numpy(), t1) and np.allclose(k.theta2.numpy(), t2)
    assert np.allclose(c.theta1.numpy(), TWO_PI * np.arange(12) / 12) and torch.all(c.theta2 == math.pi / 2)


def test_unnormalised_kernel_equals_quadrature():
    """Independent oracle for one channel: scipy's pixel integrals of F on [-1, 1]^2 (row 0 at y = +1)."""
    layer = KleinConv2d(1, 8, 3, grid=(2, 4), normalize=None, dtype=torch.float64)
    q = 5  # (theta1, theta2) = (pi / 2, pi / 2)
    t1, t2 = float(layer.theta1[q]), float(layer.theta2[q])

    def f(y, x):
        u = math.cos(t1) * x + math.sin(t1) * y
        return math.sin(t2) * u + math.cos(t2) * (2 * u * u - 1)

    h = 2 / 3
    ref = np.array([[dblquad(f, -1 + j * h, -1 + (j + 1) * h, 1 - (i + 1) * h, 1 - i * h)[0] for j in range(3)]
                    for i in range(3)])
    assert np.allclose(layer.weight[q, 0].numpy(), ref, atol=1e-12)


def test_orientation_on_images():
    """An image brightening to the right excites the theta1 = 0 edge filter, one brightening upwards theta1 = pi/2."""
    layer = CircleConv2d(1, 8, 3, bias=False)
    ramp = torch.arange(7.0).repeat(7, 1)  # increases with the column
    right = layer(ramp[None, None]).mean(dim=(0, 2, 3))
    up = layer(ramp.T.flip(0)[None, None]).mean(dim=(0, 2, 3))  # increases towards row 0 (the top)
    assert int(right.argmax()) == 0 and int(right.argmin()) == 4
    assert int(up.argmax()) == 2 and int(up.argmin()) == 6


def test_circle_kernels_are_klein_kernels_at_half_pi():
    klein, (_, t2) = klein_kernels(12, 2, 3, grid=(3, 4), return_angles=True, dtype=torch.float64)
    circle = circle_kernels(6, 2, 3, dtype=torch.float64)  # angles 2 pi k / 6 = pi k / 3
    for k in range(3):
        assert float(t2[4 * k + 1]) == pytest.approx(math.pi / 2)
        assert torch.allclose(klein[4 * k + 1], circle[k], atol=1e-14)  # (pi k / 3, pi / 2)
        assert torch.allclose(klein[4 * k + 3], circle[k + 3], atol=1e-14)  # (pi k / 3, 3 pi / 2) ~ (. + pi, pi / 2)


def test_channel_mean_scaling():
    """weight[q, p] = filter_q / in_channels: a grey image copied into RGB gives the grey response."""
    torch.manual_seed(0)
    grey = torch.rand(2, 1, 9, 9)
    one, three = KleinConv2d(1, 8, bias=False), KleinConv2d(3, 8, bias=False)
    assert torch.allclose(three(grey.expand(-1, 3, -1, -1)), one(grey), atol=1e-6)


# --------------------------------------------------------------------------- fixed means fixed
def _model(prior: nn.Module) -> nn.Sequential:
    return nn.Sequential(prior, nn.ReLU(), nn.Conv2d(prior.out_channels, 4, 3), nn.Flatten(), nn.Linear(4 * 8 * 8, 3))


def _train(model: nn.Module, opt_name: str, steps: int = 5) -> None:
    torch.manual_seed(1)
    x, y = torch.randn(16, 1, 10, 10), torch.randint(0, 3, (16,))
    if opt_name == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=0.1)
    else:
        opt = torch.optim.Adam(model.parameters(), lr=0.05, weight_decay=0.1)
    for _ in range(steps):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()


@pytest.mark.parametrize("opt_name", ["sgd", "adam"])
@pytest.mark.parametrize("cls", [CircleConv2d, KleinConv2d])
def test_training_leaves_fixed_kernels_bit_identical(cls, opt_name):
    prior = cls(1, 8, 3, padding=1)  # 10x10 inputs stay 10x10, the next conv makes 8x8
    assert [n for n, _ in prior.named_parameters()] == ["bias"] and "weight" in dict(prior.named_buffers())
    model = _model(prior)
    before = {n: t.detach().clone() for n, t in model.state_dict().items()}
    _train(model, opt_name)
    after = model.state_dict()
    assert torch.equal(after["0.weight"], before["0.weight"])
    assert not prior.weight.requires_grad
    assert not torch.equal(after["0.bias"], before["0.bias"])
    assert not torch.equal(after["2.weight"], before["2.weight"])


@pytest.mark.parametrize("cls", [CircleConv2d, KleinConv2d])
def test_trainable_kernels_start_at_filters_and_change(cls):
    fixed, prior = cls(1, 8, 3, padding=1), cls(1, 8, 3, padding=1, trainable=True)
    assert isinstance(prior.weight, nn.Parameter) and torch.equal(prior.weight.detach(), fixed.weight)
    start = prior.weight.detach().clone()
    _train(_model(prior), "adam")
    assert not torch.equal(prior.weight.detach(), start)
    assert torch.equal(prior.theta1, fixed.theta1)  # the angles the filters started from


def test_reset_parameters_restores_the_filters():
    layer = KleinConv2d(2, 8)
    ref = layer.weight.clone()
    layer.apply(lambda m: m.weight.data.zero_() if isinstance(m, nn.Conv2d) else None)
    layer.reset_parameters()
    assert torch.equal(layer.weight, ref)


def test_state_dict_round_trip_and_dtype():
    layer = KleinConv2d(3, 8, 3, padding=1)
    buf = io.BytesIO()
    torch.save(layer.state_dict(), buf)
    buf.seek(0)
    state = torch.load(buf, weights_only=True)
    assert set(state) == {"weight", "bias", "theta1", "theta2"}
    other = KleinConv2d(3, 8, 3, padding=1, trainable=True)
    with torch.no_grad():
        other.weight.add_(1.0)
        other.bias.zero_()
    other.load_state_dict(state)
    x = torch.randn(2, 3, 6, 6)
    assert torch.equal(other(x), layer(x))
    double = layer.to(torch.float64)
    assert double.weight.dtype == torch.float64 and double.bias.dtype == torch.float64
    ref = klein_kernels(8, 3, 3, dtype=torch.float64)
    assert torch.allclose(double.weight, ref, atol=1e-7)
    assert double(x.double()).dtype == torch.float64


# --------------------------------------------------------------------------- masks
def test_circle_mask_matches_double_loop():
    rng = np.random.default_rng(0)
    a, b, tau = rng.uniform(-10, 10, 13), rng.uniform(-10, 10, 9), 1.1
    ref = np.zeros((9, 13), dtype=bool)
    for q in range(9):
        for p in range(13):
            d = abs(b[q] - a[p]) % TWO_PI
            ref[q, p] = min(d, TWO_PI - d) <= tau
    m = circle_mask(torch.from_numpy(a), list(b), tau)
    assert m.dtype == torch.bool and m.shape == (9, 13) and np.array_equal(m.numpy(), ref)


def test_klein_mask_matches_double_loop():
    rng = np.random.default_rng(1)
    a = (rng.uniform(0, 7, 11), rng.uniform(-3, 9, 11))
    b = np.stack([rng.uniform(0, 7, 6), rng.uniform(0, 7, 6)], axis=1)
    ref = np.zeros((6, 11), dtype=bool)
    for q in range(6):
        fq = _unit(klein_filter(b[q, 0], b[q, 1], 3))[0]
        for p in range(11):
            fp = _unit(klein_filter(a[0][p], a[1][p], 3))[0]
            ref[q, p] = np.linalg.norm(fq - fp) <= 0.9
    assert np.array_equal(klein_mask(a, b, 0.9).numpy(), ref)


def test_klein_mask_is_a_function_of_the_bottle():
    """Either representative of (t1, t2) ~ (t1 + pi, 2 pi - t2), shifted by 2 pi or not, gives the same mask."""
    rng = np.random.default_rng(2)
    t1, t2 = rng.uniform(0, math.pi, 20), rng.uniform(0, TWO_PI, 20)
    o1, o2 = rng.uniform(0, math.pi, 7), rng.uniform(0, TWO_PI, 7)
    ref = klein_mask((t1, t2), (o1, o2), 1.2)
    flip = rng.random(20) < 0.5
    s1 = np.where(flip, t1 + math.pi, t1) + TWO_PI * rng.integers(-2, 3, 20)
    s2 = np.where(flip, TWO_PI - t2, t2) - TWO_PI * rng.integers(-2, 3, 20)
    assert torch.equal(klein_mask((s1, s2), (o1 + math.pi, TWO_PI - o2), 1.2), ref)
    assert 0 < int(ref.sum()) < ref.numel()


def test_klein_mask_on_the_circle_is_the_circle_mask():
    """Unit circle filters are evenly spaced chords: d = 2 sin(delta / 2); the defaults agree (cosine 1/2)."""
    rng = np.random.default_rng(3)
    a, b = rng.uniform(0, TWO_PI, 30), rng.uniform(0, TWO_PI, 12)
    for tau in (0.4, CIRCLE_TAU, 2.0):
        k = klein_mask((a, np.full(30, math.pi / 2)), (b, np.full(12, math.pi / 2)), 2 * math.sin(tau / 2))
        assert torch.equal(k, circle_mask(a, b, tau))
    assert KLEIN_TAU == pytest.approx(2 * math.sin(CIRCLE_TAU / 2))


@pytest.mark.parametrize("cls", [CircleLocalConv2d, KleinLocalConv2d])
def test_mask_really_acts(cls):
    torch.manual_seed(0)
    layer = cls(16, 8, 3, dtype=torch.float64)
    mask = layer.mask
    assert mask.dtype == torch.bool and mask.shape == (8, 16) and 0 < layer.density < 1
    assert torch.all(layer.weight[~mask] == 0)  # masked weights start at zero
    x = torch.randn(2, 16, 6, 6, dtype=torch.float64)
    layer(x).square().sum().backward()
    assert torch.all(layer.weight.grad[~mask] == 0) and torch.any(layer.weight.grad[mask] != 0)
    before = layer(x)
    with torch.no_grad():
        layer.weight[~mask] = torch.randn(int((~mask).sum()), 3, 3, dtype=torch.float64) * 100
        layer.weight[0, 0][~mask[0, 0].expand(3, 3)] = float("inf")  # even inf never acts
    assert torch.equal(layer(x), before)
    with torch.no_grad():  # a kept weight does act
        layer.weight[mask] += 1.0
    assert not torch.allclose(layer(x), before)


def test_mask_survives_optimiser_and_weight_decay():
    prior = KleinConv2d(1, 8, 3, padding=1)
    local = KleinLocalConv2d.after(prior, 8, 3)
    model = nn.Sequential(prior, nn.ReLU(), local, nn.Flatten(), nn.Linear(8 * 8 * 8, 3))
    start = local.weight.detach().clone()
    _train(model, "sgd")
    assert torch.all(local.weight[~local.mask] == 0)
    assert not torch.equal(local.weight.detach(), start)


def test_after_takes_the_prior_angles():
    circ = CircleConv2d(1, 12)
    local = CircleLocalConv2d.after(circ, 6, 3, padding=1)
    assert local.in_channels == 12 and torch.equal(local.in_theta1, circ.theta1.double())
    assert torch.equal(local.mask, circle_mask(circ.theta1, TWO_PI * np.arange(6) / 6, CIRCLE_TAU))
    klein = KleinConv2d(3, 16)
    kl = KleinLocalConv2d.after(klein, 32)
    assert torch.equal(kl.mask, klein_mask((klein.theta1, klein.theta2), (kl.theta1, kl.theta2), KLEIN_TAU))
    again = KleinLocalConv2d.after(kl, 8, tau=1.3)  # local layers chain
    assert again.in_channels == 32 and torch.equal(again.in_theta1, kl.theta1)
    off_circle = KleinConv2d(1, 8, grid=(2, 4))  # theta2 = 0 and pi are not on the primary circle
    with pytest.raises(InvalidInputError, match=r"KleinLocalConv2d\.after"):
        CircleLocalConv2d.after(off_circle, 4)
    with pytest.raises(InvalidInputError, match="theta1/theta2"):
        KleinLocalConv2d.after(nn.Conv2d(1, 8, 3), 4)


def test_circle_after_klein_on_the_circle():
    layer = KleinConv2d(1, 4, grid=(2, 2))  # theta2 in {0, pi}: off the circle
    with pytest.raises(InvalidInputError):
        CircleLocalConv2d.after(layer, 4)
    circ = CircleConv2d(1, 8)
    as_klein = KleinLocalConv2d.after(circ, 8, tau=2 * math.sin(0.5), out_angles=(circ.theta1, circ.theta2))
    assert torch.equal(as_klein.mask, CircleLocalConv2d.after(circ, 8, tau=1.0).mask)


def test_circle_after_local_klein_layer_on_the_circle():
    """(t1, 3 pi / 2) is the circle point t1 + pi: after() converts it."""
    t1 = np.array([0.3, 0.3, 1.0, 2.0])
    klein = KleinLocalConv2d(16, 4, tau=1.5, out_angles=(t1, np.array([0.5, 1.5, 0.5, 1.5]) * math.pi))
    circ = CircleLocalConv2d.after(klein, 6, tau=math.pi)
    assert np.allclose(circ.in_theta1.numpy(), [0.3, 0.3 + math.pi, 1.0, 2.0 + math.pi])


def test_refuses_disconnected_outputs_and_names_tau():
    with pytest.raises(InvalidInputError, match=r"tau >= (\d\.\d+)") as info:
        CircleLocalConv2d(3, 8, 3, tau=0.3)
    need = float(info.value.args[0].split("tau >= ")[1].split(" ")[0])
    assert need == pytest.approx(math.pi / 3, abs=2e-4)  # outputs halfway between inputs 2 pi / 3 apart
    CircleLocalConv2d(3, 8, 3, tau=need)  # the tau it names connects every output channel
    with pytest.raises(InvalidInputError, match="no input channel within tau"):
        klein_mask((np.zeros(1), np.zeros(1)), (np.zeros(2), np.array([0.0, math.pi])), 1.0)


# --------------------------------------------------------------------------- grid rule
def test_klein_grid_rule():
    assert [klein_grid(n) for n in (8, 16, 32, 64, 12)] == [(2, 4), (4, 4), (4, 8), (8, 8), (3, 4)]
    for n in range(1, 61):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            n1, n2 = klein_grid(n)
        assert n1 * n2 == n
        best = min(abs(math.log(2 * a / (n // a))) for a in range(1, n + 1) if n % a == 0)
        assert abs(math.log(2 * n1 / n2)) == pytest.approx(best)


def test_prime_channels_give_the_secondary_circle_with_a_warning():
    with pytest.warns(TopolensWarning, match="prime"):
        layer = KleinConv2d(1, 7)
    assert layer.grid == (1, 7) and torch.all(layer.theta1 == 0)


# --------------------------------------------------------------------------- errors and inputs
@pytest.mark.parametrize("make, match", [
    (lambda: CircleConv2d(1, 8, 1), "no spatial"),
    (lambda: KleinConv2d(1, 8, (3, 5)), "square"),
    (lambda: CircleConv2d(1.0, 8), "in_channels must be an integer"),
    (lambda: KleinConv2d(1, "8"), "out_channels must be an integer"),
    (lambda: KleinConv2d(True, 8), "in_channels must be an integer"),
    (lambda: KleinConv2d(1, 0), "out_channels must be >= 1"),
    (lambda: KleinConv2d(1, 12, grid=(3, 3)), r"n_theta1 \* n_theta2 == 12, e.g. \(3, 4\)"),
    (lambda: KleinConv2d(1, 12, grid=12), "pair"),
    (lambda: CircleConv2d(1, 8, normalize="l2"), "normalize"),
    (lambda: CircleConv2d(1, 8, trainable="yes"), "trainable"),
    (lambda: CircleConv2d(1, 8, bias=None), "bias"),
    (lambda: CircleConv2d(1, 8, stride=0), "stride"),
    (lambda: CircleConv2d(1, 8, padding="full"), "padding"),
    (lambda: CircleConv2d(1, 8, padding="same", stride=2), "stride 1"),
    (lambda: CircleConv2d(1, 8, dtype=torch.int64), "dtype"),
    (lambda: KleinConv2d(1, 8, 2), "constant"),  # the 2x2 filter at (0, 0) has equal pixels
    (lambda: CircleLocalConv2d(8, 8, tau=0), "tau must be a finite number > 0"),
    (lambda: CircleLocalConv2d(8, 8, tau=-1.0), "tau"),
    (lambda: KleinLocalConv2d(8, 8, tau=float("nan")), "tau"),
    (lambda: KleinLocalConv2d(8, 8, tau="1"), "tau must be a number"),
    (lambda: CircleLocalConv2d(8, 8, in_theta=np.zeros(7)), "in_theta has 7 angles but in_channels is 8"),
    (lambda: CircleLocalConv2d(8, 4, out_theta=[0.0, 1.0]), "out_theta has 2 angles"),
    (lambda: KleinLocalConv2d(8, 4, in_angles=(np.zeros(8), np.zeros(7))), "equal lengths"),
    (lambda: KleinLocalConv2d(8, 4, in_angles=np.zeros((8, 3))), r"\(n, 2\)"),
    (lambda: KleinLocalConv2d(4, 4, out_angles=np.zeros((3, 2))), "out_angles has 3 angles"),
    (lambda: CircleLocalConv2d(2, 2, in_theta=[0.0, float("nan")]), "NaN"),
    (lambda: KleinLocalConv2d(4, 4, filter_size=1), "filter_size"),
])
def test_argument_errors(make, match):
    with pytest.raises(TopolensError, match=match):
        make()


def test_nonfinite_angles_are_nonfinite_error():
    with pytest.raises(NonFiniteError):
        circle_mask([0.0, float("inf")], [0.0], 1.0)


def test_forward_refuses_what_conv2d_would_crash_on():
    layer = KleinConv2d(3, 8, 3)
    with pytest.raises(InvalidInputError, match="uint8"):
        layer(torch.zeros(1, 3, 8, 8, dtype=torch.uint8))
    with pytest.raises(ShapeError, match=r"\(N, 3, H, W\)"):
        layer(torch.zeros(1, 1, 8, 8))
    with pytest.raises(ShapeError, match=r"\(N, 3, H, W\)"):
        layer(torch.zeros(1, 8, 8, 3))  # channels last
    with pytest.raises(InvalidInputError, match=r"torch\.Tensor"):
        layer(np.zeros((1, 3, 8, 8), dtype=np.float32))
    with pytest.raises(InvalidInputError, match="float64"):
        layer(torch.zeros(1, 3, 8, 8, dtype=torch.float64))
    with pytest.raises(ShapeError, match="kernel reach"):
        layer(torch.zeros(1, 3, 2, 2))
    with pytest.raises(ShapeError, match="kernel reach"):
        KleinLocalConv2d(8, 8, padding="valid", dilation=2)(torch.zeros(1, 8, 4, 4))
    assert KleinConv2d(3, 8, padding="same")(torch.zeros(1, 3, 2, 2)).shape == (1, 8, 2, 2)
    assert layer(torch.zeros(3, 8, 8)).shape == (8, 6, 6)  # unbatched, as nn.Conv2d
    u8 = torch.randint(0, 256, (2, 3, 8, 8), dtype=torch.uint8)
    assert torch.isfinite(layer(u8.float() / 255)).all()


def test_float16_layer():
    layer = CircleConv2d(1, 8, 3, dtype=torch.float16)
    assert layer.weight.dtype == torch.float16
    ref = circle_kernels(8, 1, 3, dtype=torch.float64)
    assert torch.allclose(layer.weight.double(), ref, atol=2e-3)



def test_half_model_keeps_float64_angles_and_after_still_works():
    # regression: model.half() turned the angle buffers into float16 (pi / 2 -> 1.5703), so
    # CircleLocalConv2d.after refused a CircleConv2d as "off the primary circle"
    conv1 = CircleConv2d(1, 16, 3, padding=1)
    model = nn.Sequential(conv1, CircleLocalConv2d.after(conv1, 16, 3, padding=1),
                          KleinLocalConv2d(16, 8, 3)).half()
    for layer in model:
        assert layer.weight.dtype == torch.float16
        assert {b.dtype for n, b in layer.named_buffers() if "theta" in n} == {torch.float64}
    ref = circle_kernels(16, 1, 3, return_angles=True)[1][0]
    assert torch.equal(model[0].theta1, ref)
    local = CircleLocalConv2d.after(model[0], 16, 3, padding=1)
    assert torch.equal(local.mask, model[1].mask)
    x = torch.rand(2, 1, 10, 10, dtype=torch.float16)
    assert model(x).dtype == torch.float16
    model.float()
    assert model[0].weight.dtype == torch.float32 and model[0].theta2.dtype == torch.float64

# --------------------------------------------------------------------------- gradients
def test_gradcheck():
    torch.manual_seed(0)
    x = torch.randn(1, 2, 5, 5, dtype=torch.float64, requires_grad=True)
    fixed = KleinConv2d(2, 4, 3, padding=1, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda inp, b: torch.nn.functional.conv2d(inp, fixed.weight, b, padding=1),
                                    (x, fixed.bias))
    assert torch.autograd.gradcheck(fixed, (x,))
    trainable = CircleConv2d(2, 4, 3, trainable=True, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda w: torch.nn.functional.conv2d(x, w), (trainable.weight,))
    local = KleinLocalConv2d(2, 4, 3, tau=1.5, dtype=torch.float64)

    def run(w, inp):
        with torch.no_grad():
            local.weight.copy_(w)
        return torch.nn.functional.conv2d(inp, torch.where(local.mask[:, :, None, None], w, 0.0))

    assert torch.autograd.gradcheck(run, (local.weight.detach().clone().requires_grad_(), x))
    assert torch.autograd.gradcheck(local, (x,))


def test_extra_repr():
    assert "trainable=False, normalize='unit', grid=(4, 4)" in repr(KleinConv2d(1, 16))
    assert "tau=1.047" in repr(CircleLocalConv2d(8, 8)) and "connections=" in repr(CircleLocalConv2d(8, 8))


# --------------------------------------------------------------------------- extract_filters
def test_extract_filters_recovers_the_prior():
    extract = pytest.importorskip("topolens.filters._extract", reason="helper C's _extract has not landed")
    prior = KleinConv2d(2, 16, 3)
    model = nn.Sequential(prior, nn.ReLU(), nn.Conv2d(16, 4, 3))
    fs = extract.extract_filters(model, layer="0", normalize="unit")
    assert len(fs) == 32 and set(fs.layer) == {"0"}
    ref = klein_filters(4, 4, 3, normalize="unit")
    assert np.allclose(fs.points, ref[fs.out_channel], atol=1e-6)
    from topolens.filters._klein import klein_coordinates

    from_state = extract.extract_filters(model.state_dict(), layer="0", normalize="unit")
    assert np.allclose(from_state.points, fs.points)
    kc = klein_coordinates(fs.points[fs.in_channel == 0], normalize="unit")
    assert np.all(kc.residual < 1e-3)
    assert np.allclose(np.cos(2 * kc.theta1), np.cos(2 * prior.theta1.numpy()), atol=1e-3)
