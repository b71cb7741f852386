"""The closed-form circle / Klein filters against scipy quadrature, the identification, coordinates."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import dblquad

from topolens.exceptions import InvalidInputError, ShapeError
from topolens.filters import (
    circle_filters,
    klein_canonical,
    klein_coordinates,
    klein_filter,
    klein_filters,
    normalize_filters,
    three_circle_filters,
)
from topolens.filters._basis import grid_laplacian


def _quadrature(t1: float, t2: float, size: int) -> np.ndarray:
    """Pixel integrals of F(t1, t2) on [-1, 1]^2 by scipy (x right, y up, row 0 at the top)."""
    def f(y, x):
        u = np.cos(t1) * x + np.sin(t1) * y
        return np.sin(t2) * u + np.cos(t2) * (2 * u * u - 1)

    h = 2.0 / size
    out = np.empty((size, size))
    for i in range(size):
        for j in range(size):
            x0, y1 = -1 + j * h, 1 - i * h
            out[i, j] = dblquad(f, x0, x0 + h, y1 - h, y1, epsabs=1e-12, epsrel=1e-12)[0]
    return out.ravel()


@pytest.mark.parametrize("size", [2, 3, 5])
@pytest.mark.parametrize("t1, t2", [(0.0, 0.0), (0.7, 2.1), (2.9, 4.4), (-1.3, 7.5)])
def test_closed_form_equals_quadrature(size, t1, t2):
    assert np.allclose(klein_filter(t1, t2, size)[0], _quadrature(t1, t2, size), atol=1e-10)


def test_orientation_convention():
    # theta1 = 0, theta2 = pi/2: u = x, increasing to the right; theta1 = pi/2: u = y, increasing upwards
    fx = klein_filter(0.0, np.pi / 2).reshape(3, 3)
    fy = klein_filter(np.pi / 2, np.pi / 2).reshape(3, 3)
    assert np.all(np.diff(fx, axis=1) > 0) and np.allclose(np.diff(fx, axis=0), 0)
    assert np.all(np.diff(fy, axis=0) < 0) and np.allclose(np.diff(fy, axis=1), 0)


def test_klein_identification_and_periodicity():
    rng = np.random.default_rng(0)
    t1, t2 = rng.uniform(-10, 10, 100), rng.uniform(-10, 10, 100)
    assert np.allclose(klein_filter(t1 + np.pi, t2), klein_filter(t1, 2 * np.pi - t2), atol=1e-12)
    assert np.allclose(klein_filter(t1 + 2 * np.pi, t2 - 2 * np.pi), klein_filter(t1, t2), atol=1e-12)
    c1, c2 = klein_canonical(t1, t2)
    assert np.all((c1 >= 0) & (c1 < np.pi) & (c2 >= 0) & (c2 < 2 * np.pi))
    assert np.allclose(klein_filter(c1, c2), klein_filter(t1, t2), atol=1e-12)


def test_grid_covers_the_fundamental_domain_without_repeats():
    f, (t1, t2) = klein_filters(6, 12, normalize="dnorm", return_angles=True)
    assert f.shape == (72, 9)
    assert np.all(t1 < np.pi) and np.all(t2 < 2 * np.pi)
    assert np.allclose(f[1 * 12 + 5], klein_filter(np.pi / 6, 2 * np.pi * 5 / 12, normalize="dnorm")[0])
    gram = f @ f.T
    np.fill_diagonal(gram, -np.inf)
    assert gram.max() < 0.999     # no two grid points give the same filter


def test_circle_filters_are_klein_filters_at_half_pi():
    f, t = circle_filters(16, 3, return_angles=True)
    assert np.allclose(f, klein_filter(t, np.pi / 2, 3))
    # and they are linear: the quadratic part is absent, so they are exact ramps
    assert np.allclose(f.reshape(16, 3, 3).sum(axis=(1, 2)), 0)


def test_three_circle_model():
    f, (t1, _) = three_circle_filters(8, 6, return_angles=True)
    assert np.array_equal(t1[8:], np.r_[np.zeros(6), np.full(6, np.pi / 2)])
    assert f.shape == (20, 9)
    assert three_circle_filters(8, 8).shape == (8 + 2 * 6, 9)     # the meeting points are not repeated
    sec_x, sec_y = f[8:14].reshape(6, 3, 3), f[14:].reshape(6, 3, 3)
    assert np.allclose(np.diff(sec_x, axis=1), 0)       # constant down each column: x alone
    assert np.allclose(np.diff(sec_y, axis=2), 0)       # constant along each row: y alone
    n = normalize_filters(three_circle_filters(8, 8), "unit")[0]
    gram = n @ n.T
    np.fill_diagonal(gram, 0)
    assert gram.max() < 0.9999                           # no repeated filter


def _klein_angle_distance(a1, a2, b1, b2):
    """Distance on the flat Klein bottle: minimum over the representatives of (b1, b2)."""
    best = np.full(np.shape(a1), np.inf)
    for k in (-1, 0, 1):
        c1 = b1 + k * np.pi
        c2 = 2 * np.pi - b2 if k % 2 else b2
        d2 = np.abs(np.mod(a2 - c2 + np.pi, 2 * np.pi) - np.pi)
        best = np.minimum(best, np.hypot(a1 - c1, d2))
    return best


@pytest.mark.parametrize("normalize", ["dnorm", "unit"])
def test_klein_coordinates_recover_angles(normalize):
    rng = np.random.default_rng(3)
    t1, t2 = rng.uniform(0, 2 * np.pi, 400), rng.uniform(0, 2 * np.pi, 400)
    exact = klein_filter(t1, t2, normalize=normalize)
    kc = klein_coordinates(exact, normalize=normalize)
    assert np.all((kc.theta1 >= 0) & (kc.theta1 < np.pi))
    # exact filters: on the bottle, at the right place up to the identification
    assert kc.residual.max() < 1e-3
    assert np.allclose(kc.cosine, 1 - kc.residual**2 / 2)
    # angles: equal up to the identification, except where the map is nearly flat (measured in filters)
    assert np.allclose(klein_filter(kc.theta1, kc.theta2, normalize=normalize), exact, atol=2e-3)
    assert np.median(_klein_angle_distance(kc.theta1, kc.theta2, t1, t2)) < 1e-3
    noisy = exact + rng.normal(0, 0.02, exact.shape)
    kn = klein_coordinates(noisy, normalize=normalize)
    err = _klein_angle_distance(kn.theta1, kn.theta2, t1, t2)
    assert np.median(err) < 0.05 and np.quantile(err, 0.95) < 0.2
    assert 0.0 < np.median(kn.residual) < 0.2


def test_klein_coordinates_of_random_filters_are_far_and_scale_free():
    x = np.random.default_rng(4).normal(size=(300, 9))
    kc = klein_coordinates(x)
    assert np.median(kc.residual) > 0.3
    k2 = klein_coordinates(5.0 * x - 2.0)
    assert np.allclose(k2.residual, kc.residual) and np.allclose(k2.theta1, kc.theta1)


def test_klein_coordinates_5x5_and_constant_rows(caplog):
    f = klein_filters(4, 8, 5)
    x = np.vstack([f, np.full((1, 25), 3.0)])
    kc = klein_coordinates(x.reshape(-1, 5, 5))
    assert kc.residual[:-1].max() < 1e-3
    assert np.isnan(kc.theta1[-1]) and np.isnan(kc.residual[-1])
    assert "constant" in caplog.text
    assert len(kc) == 33


def test_bad_inputs():
    with pytest.raises(InvalidInputError, match="normalize"):
        klein_coordinates(np.ones((2, 9)), normalize=None)
    with pytest.raises(ShapeError, match="0 rows"):
        klein_coordinates(np.zeros((0, 9)))
    with pytest.raises(ShapeError, match="1x1"):
        klein_coordinates(np.zeros((3, 1)))
    with pytest.raises(InvalidInputError, match="finite"):
        klein_filter(np.nan, 0.0)
    with pytest.raises(InvalidInputError):
        klein_filters(0, 4)
    with pytest.raises(InvalidInputError):
        circle_filters(8, size=1)


def _brute_force_best(x, size, normalize, n1=120, n2=240):
    """The largest cosine of each row with a dense grid of Klein filters (an independent oracle)."""
    bank = klein_filters(n1, n2, size, normalize=normalize)
    rows = normalize_filters(x, normalize, size=size)[0]
    if normalize == "dnorm":  # the D inner product: sum over adjacent pixel pairs
        def inner(a, b):
            a3, b3 = a.reshape(-1, size, size), b.reshape(-1, size, size)
            dv = np.diff(a3, axis=1).reshape(len(a), -1) @ np.diff(b3, axis=1).reshape(len(b), -1).T
            dh = np.diff(a3, axis=2).reshape(len(a), -1) @ np.diff(b3, axis=2).reshape(len(b), -1).T
            return dv + dh
        return inner(rows, bank).max(axis=1)
    return (rows @ bank.T).max(axis=1)


@pytest.mark.parametrize("normalize", ["dnorm", "unit"])
@pytest.mark.parametrize("size", [2, 3, 4])
def test_klein_coordinates_at_least_as_close_as_a_dense_grid(normalize, size):
    # regression: the grid + 7x7 local search stopped ~1e-4 short of the nearest point (residual of
    # exact filters up to 1e-3) and took 32 s for 50,000 filters; the closed form in theta2 is exact
    rng = np.random.default_rng(11)
    x = rng.normal(size=(60, size * size))
    x[:20] = klein_filter(rng.uniform(0, 7, 20), rng.uniform(0, 7, 20), size) + rng.normal(0, 0.05, (20, size**2))
    kc = klein_coordinates(x, normalize=normalize)
    best = _brute_force_best(x, size, normalize)
    assert np.all(kc.cosine >= best - 1e-9)
    assert np.all(kc.cosine <= best + 3e-3)  # the dense grid is within ~1e-3 of the optimum
    model = klein_filter(kc.theta1, kc.theta2, size, normalize=normalize)
    rows = normalize_filters(x, normalize, size=size)[0]
    if normalize == "unit":
        assert np.allclose(np.einsum("nd,nd->n", model, rows), kc.cosine, atol=1e-12)
    exact = klein_filter(rng.uniform(0, 7, 200), rng.uniform(0, 7, 200), size)
    assert klein_coordinates(exact, normalize=normalize).residual.max() < 1e-6


def test_linear_and_quadratic_parts_are_orthogonal():
    # the closed form in theta2 rests on <L, Q> = 0 in both embeddings, for every theta1 and size
    t1 = np.linspace(0, np.pi, 13)
    for size in (2, 3, 5):
        lin = klein_filter(t1, np.pi / 2, size, normalize=None)
        quad = klein_filter(t1, 0.0, size, normalize=None)
        quad = quad - quad.mean(axis=1, keepdims=True)
        assert np.abs(np.einsum("nd,nd->n", lin, quad)).max() < 1e-12
        lap = grid_laplacian(size)
        assert np.abs(np.einsum("nd,de,ne->n", lin, lap, quad)).max() < 1e-12


def test_angles_must_be_real_and_banks_fit_in_memory():
    # regression: string angles gave numpy's ValueError, complex ones lost their imaginary part
    # silently, and klein_filters(10**6, 10**6) / circle_filters(10**12) numpy's MemoryError
    from topolens.exceptions import MemoryBudgetError

    with pytest.raises(InvalidInputError, match="theta1 must be a real numeric"):
        klein_filter("a", 0.3)
    with pytest.raises(InvalidInputError, match="complex"):
        klein_filter(0.1, 1j)
    with pytest.raises(ShapeError, match="broadcast"):
        klein_filter(np.zeros(3), np.zeros(4))
    for make in (lambda: klein_filters(10**6, 10**6), lambda: circle_filters(10**12),
                 lambda: three_circle_filters(10**12, 4), lambda: klein_filter(np.zeros(10**6), 0.0, 3, memory_limit=1000)):
        with pytest.raises(MemoryBudgetError, match="filters of"):
            make()
    with pytest.raises(MemoryBudgetError, match="Klein coordinates"):
        klein_coordinates(np.ones((1000, 9)), memory_limit=1000)
    assert klein_filter(np.zeros(10), 0.0, memory_limit=None).shape == (10, 9)


def test_klein_coordinates_take_the_inputs_users_pass():
    import torch

    f = klein_filters(6, 12)
    ref = klein_coordinates(f)
    half = klein_coordinates(torch.from_numpy(f).half())  # e.g. conv1.weight of a half model
    assert np.allclose(half.cosine, 1.0, atol=1e-3)
    u8 = np.round(127 + 100 * f / np.abs(f).max()).astype(np.uint8)  # filters saved as images
    kc8 = klein_coordinates(u8)
    assert np.median(kc8.residual) < 0.05
    listed = klein_coordinates(f[:3].tolist())
    assert np.allclose(listed.theta1, ref.theta1[:3]) and np.allclose(listed.theta2, ref.theta2[:3])
