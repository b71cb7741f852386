"""The contrast norm and the DCT basis against analytic values and brute force."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from topolens.exceptions import InvalidInputError, NonFiniteError, ShapeError
from topolens.filters import (
    check_square_size,
    dct_basis,
    dnorm,
    grid_laplacian,
    normalize_filters,
    to_dct,
)


def _brute_laplacian(size: int) -> np.ndarray:
    d = np.zeros((size * size, size * size))
    for i in range(size):
        for j in range(size):
            for di, dj in ((0, 1), (1, 0), (0, -1), (-1, 0)):
                a, b = i + di, j + dj
                if 0 <= a < size and 0 <= b < size:
                    d[i * size + j, i * size + j] += 1
                    d[i * size + j, a * size + b] -= 1
    return d


@pytest.mark.parametrize("size", [2, 3, 4, 5, 7])
def test_laplacian_is_the_grid_graph_laplacian(size):
    assert np.array_equal(grid_laplacian(size), _brute_laplacian(size))


def test_laplacian_eigenvalues_3x3():
    assert np.allclose(np.linalg.eigvalsh(grid_laplacian(3)), [0, 1, 1, 2, 3, 3, 4, 4, 6])


@pytest.mark.parametrize("size", [2, 3, 4, 5])
def test_dct_basis_is_orthonormal_and_d_orthogonal(size):
    basis, lam = dct_basis(size)
    d = grid_laplacian(size)
    assert basis.shape == (size * size - 1, size * size)
    assert np.allclose(basis @ basis.T, np.eye(size * size - 1), atol=1e-12)
    assert np.allclose(basis.sum(axis=1), 0, atol=1e-12)          # orthogonal to the constant patch
    assert np.allclose(basis @ d @ basis.T, np.diag(lam), atol=1e-12)
    assert np.allclose(np.sort(np.linalg.eigvalsh(d))[1:], lam)
    assert np.all(np.diff(lam) >= -1e-12)


def test_dct_basis_3x3_named_vectors():
    basis, lam = dct_basis(3)
    assert np.allclose(lam, [1, 1, 2, 3, 3, 4, 4, 6])
    ramp = np.array([-1.0, 0.0, 1.0])
    assert np.allclose(basis[0].reshape(3, 3), np.tile(ramp, (3, 1)) / np.sqrt(6))   # increases to the right
    assert np.allclose(basis[1].reshape(3, 3), np.tile(-ramp[:, None], (1, 3)) / np.sqrt(6))  # increases upwards
    quad = np.array([1.0, -2.0, 1.0])
    assert np.allclose(np.abs(basis[3].reshape(3, 3)), np.abs(np.tile(quad, (3, 1))) / np.sqrt(18))


def test_dnorm_matches_quadratic_form_and_pixel_differences():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 9))
    d = grid_laplacian(3)
    assert np.allclose(dnorm(x), np.sqrt(np.einsum("ij,jk,ik->i", x, d, x)))
    p = x[0].reshape(3, 3)
    brute = sum((p[i, j] - p[i, j + 1]) ** 2 for i in range(3) for j in range(2))
    brute += sum((p[i, j] - p[i + 1, j]) ** 2 for i in range(2) for j in range(3))
    assert dnorm(x[0]) == pytest.approx(np.sqrt(brute))
    assert np.allclose(dnorm(x.reshape(50, 3, 3)), dnorm(x))
    assert np.allclose(dnorm(torch.tensor(x, dtype=torch.float16)), dnorm(x.astype(np.float16)), rtol=1e-3)
    assert dnorm(np.full(9, 7.0)) == 0.0


def test_dnorm_uint8_does_not_wrap():
    x = np.array([[0, 255, 0, 255, 0, 255, 0, 255, 0]], dtype=np.uint8)
    assert dnorm(x)[0] == pytest.approx(255 * np.sqrt(12))


def test_to_dct_is_on_the_sphere_and_isometric_to_the_d_metric():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 9)) + 5.0
    v = to_dct(x)
    assert v.shape == (200, 8)
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0)
    y, _ = normalize_filters(x, "dnorm")
    assert np.allclose(dnorm(y), 1.0)
    # the Euclidean distance of DCT coordinates is the D-distance of the normalised patches
    assert np.allclose(np.linalg.norm(v[0] - v[1]), dnorm(y[0] - y[1]))
    # invariant to brightness and contrast changes
    assert np.allclose(to_dct(3.0 * x + 10.0), v)
    basis, _ = dct_basis(3)
    assert np.allclose(to_dct(basis[4] * 2.5), np.eye(8)[4])


def test_to_dct_refuses_constant_patches():
    x = np.random.default_rng(0).normal(size=(4, 9))
    x[2] = 0.3
    with pytest.raises(InvalidInputError, match=r"1 of 4 patches have zero contrast.*rows \[2\]"):
        to_dct(x)


def test_normalize_filters_modes():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(10, 9))
    x[3] = 4.0
    x[4] = 0.0
    y, n = normalize_filters(x, "unit")
    assert np.allclose(np.linalg.norm(y[[0, 1, 2, 5]], axis=1), 1.0)
    assert np.allclose(y.mean(axis=1), 0.0)
    assert n[3] == 0 and n[4] == 0 and not y[3].any() and not y[4].any()
    y, n = normalize_filters(x, "dnorm")
    assert np.allclose(dnorm(y[[0, 1, 2]]), 1.0) and n[3] == 0
    raw, ones = normalize_filters(x, None)
    assert np.array_equal(raw, x) and raw is not x and np.all(ones == 1)
    # tiny but real filters are not mistaken for constant ones
    y, n = normalize_filters(1e-20 * x[:3], "unit")
    assert np.all(n > 0) and np.allclose(np.linalg.norm(y, axis=1), 1.0)
    with pytest.raises(InvalidInputError, match="normalize"):
        normalize_filters(x, "l2")


@pytest.mark.parametrize("bad, err, match", [
    (np.zeros((3, 8)), ShapeError, "size \\* size"),
    (np.zeros((3, 1)), ShapeError, "1x1 kernel"),
    (np.zeros((3, 3, 4)), ShapeError, "not square"),
    (np.zeros((2, 2, 3, 3)), ShapeError, "must be"),
    (np.array([[np.nan] * 9]), NonFiniteError, "NaN"),
    (np.zeros((2, 9), dtype=complex), InvalidInputError, "complex"),
])
def test_bad_patches(bad, err, match):
    with pytest.raises(err, match=match):
        dnorm(bad)


def test_size_mismatch_and_square_size():
    with pytest.raises(ShapeError, match="pass size=3"):
        dnorm(np.zeros((2, 9)), size=4)
    assert check_square_size(25) == 5
    with pytest.raises(ShapeError):
        check_square_size(0)


def test_huge_sizes_are_refused_before_allocation():
    # regression: dct_basis(10**5) and grid_laplacian(10**4) died with numpy's MemoryError
    from topolens.exceptions import MemoryBudgetError

    with pytest.raises(MemoryBudgetError, match="DCT basis"):
        dct_basis(10**5)
    with pytest.raises(MemoryBudgetError, match=r"grid Laplacian.*dnorm"):
        grid_laplacian(10**4)


def test_nonfinite_message_names_the_input():
    with pytest.raises(NonFiniteError, match=r"filters contain.*filters must be finite"):
        normalize_filters(np.full((2, 9), np.nan))
